#!/usr/bin/env node
// Two ways to run, decided by what is next to this file:
// - installed from the packed tarball (`npm pack`; no src/ in it): the compiled JavaScript in
//   dist/ runs. No TypeScript toolchain at run time (tsx is a devDependency, not installed).
// - a checkout (src/main.ts present): the TypeScript sources run through tsx, so `npm ci` is the
//   only build step and an old dist/ left by `npm pack` is never what runs. To try the compiled
//   build from a checkout: `npm run build && node dist/main.js …`.
import { existsSync } from 'node:fs';

const sources = new URL('../src/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/main.js');
}
