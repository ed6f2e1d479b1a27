#!/usr/bin/env node
// Two ways to run, decided by what is next to this file:
// - installed from the packed tarball (`npm pack`; no src/ in it): the compiled JavaScript in
//   dist/ runs. No TypeScript toolchain at run time (tsx is a devDependency, not installed).
// - a checkout (src/main.ts present): the TypeScript sources run through tsx, so `npm ci` is the
//   only build step and an old dist/ left by `npm pack` is never what runs. To try the compiled
//   build from a checkout: `npm run build && node dist/main.js …`. A checkout installed without
//   devDependencies (no tsx) runs dist/ if it was built, else says what to do.
import { existsSync } from 'node:fs';

const sources = new URL('../src/main.ts', import.meta.url);
const compiled = new URL('../dist/main.js', import.meta.url);

async function tsx() {
  try {
    return await import('tsx/esm/api');
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return undefined;
  }
}

const api = existsSync(sources) ? await tsx() : undefined;
if (api) {
  api.register();
  await import(sources.href);
} else if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  process.stderr.write('redis-runbooks: neither tsx (run `npm ci`) nor a compiled build (run `npm run build`) is available\n');
  process.exitCode = 1;
}
