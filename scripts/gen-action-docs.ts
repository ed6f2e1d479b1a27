/**
 * Writes runbooks/ACTIONS.md from the action registry (`npm run docs`). A unit test
 * (test/unit/action-docs.test.ts) fails when the file differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { actions } from '../src/actions/registry.js';
import { actionDocsMarkdown } from '../src/engine/runbook/action-docs.js';

const out = fileURLToPath(new URL('../runbooks/ACTIONS.md', import.meta.url));
writeFileSync(out, actionDocsMarkdown(actions));
process.stdout.write(`wrote ${out} (${actions.size} actions)\n`);
