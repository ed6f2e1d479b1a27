import { defineConfig } from 'vitest/config';

// Issue 12: the suite-wide secrets scan, run after the main run (`npm test`) over what it captured.
export default defineConfig({
  test: {
    include: ['test/secrets-scan/suite-scan.test.ts'],
    testTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
