import { configDefaults, defineConfig } from 'vitest/config';

// Integration tests start real redis-server processes; on 2 cores they run one file at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the suite-wide secrets scan runs after this run, with vitest.secrets.config.ts
    exclude: [...configDefaults.exclude, 'test/secrets-scan/**'],
    // empties the secrets-scan capture directory (test/helpers/secrets-capture.ts)
    globalSetup: ['test/helpers/capture-global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
