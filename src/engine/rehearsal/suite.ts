/**
 * Rehearsal suites: find the rehearsal file of each runbook (`<dir>/rehearsals/<runbook>.rehearsal.yaml`),
 * parse and validate it (errors name the file, the line and the path), rehearse every case, and
 * compute the runbook machine's path coverage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, isNode, parseDocument } from 'yaml';
import { issueLines } from '../../util/issue-format.js';
import type { CompiledRunbook } from '../runbook/load.js';
import { coverageOf } from './coverage.js';
import type { CoverageReport } from './coverage.js';
import { caseInput, rehearseCase } from './rehearse.js';
import { findingsFromRaw } from './raw.js';
import type { CaseResult, RehearsalDeps } from './rehearse.js';
import { rehearsalFileSchema } from './schema.js';
import type { RehearsalCase, RehearsalFile } from './schema.js';

export interface SuiteResult {
  runbook: string;
  /** The rehearsal file, or undefined when the runbook has none. */
  file?: string;
  /** Problems with the file itself (unreadable, invalid, for another runbook). */
  errors: string[];
  cases: CaseResult[];
  coverage?: CoverageReport;
}

/** Where a runbook's rehearsals live. */
export function rehearsalPath(runbooksDir: string, runbook: string): string {
  return join(runbooksDir, 'rehearsals', `${runbook}.rehearsal.yaml`);
}


/** Parse and validate a rehearsal file's text. Throws an Error naming file:line: path: problem. */
export function parseRehearsalText(text: string, file: string): RehearsalFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new Error(doc.errors.map((e) => `${file}:${lc.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`).join('\n'));
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 50 });
  const parsed = rehearsalFileSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lineOf = (path: readonly PropertyKey[]): string => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as unknown[], true);
      if (isNode(node) && node.range) return `:${lc.linePos(node.range[0]).line}`;
    }
    return '';
  };
  throw new Error(issueLines(file, parsed.error.issues.map((i) => ({ path: i.path as PropertyKey[], message: i.message })), lineOf));
}

/** The case with its `raw:` replies turned into findings by the steps' own actions. */
export async function materialize(rb: CompiledRunbook, c: RehearsalCase, deps: RehearsalDeps): Promise<RehearsalCase> {
  if (Object.keys(c.raw).length === 0) return c;
  const fromRaw = await findingsFromRaw(rb, c.raw, caseInput(rb, c), c.findings, deps);
  return { ...c, findings: { ...c.findings, ...fromRaw }, raw: {} };
}

/** Rehearse one runbook with the cases of `file` (and compute its coverage with them). */
export async function runSuite(rb: CompiledRunbook, file: string | undefined, deps: RehearsalDeps, opts: { coverage?: boolean } = {}): Promise<SuiteResult> {
  const res: SuiteResult = { runbook: rb.def.name, errors: [], cases: [] };
  if (file === undefined || !existsSync(file)) {
    if (opts.coverage !== false) res.coverage = coverageOf(rb, []);
    return res;
  }
  res.file = file;
  let parsed: RehearsalFile;
  try {
    parsed = parseRehearsalText(readFileSync(file, 'utf8'), file);
  } catch (e) {
    res.errors.push((e as Error).message);
    return res;
  }
  if (parsed.runbook !== rb.def.name) {
    res.errors.push(`${file}: runbook: '${parsed.runbook}' but this file rehearses '${rb.def.name}'`);
    return res;
  }
  const names = new Set<string>();
  const cases: RehearsalCase[] = [];
  for (const c of parsed.cases) {
    if (names.has(c.name)) res.errors.push(`${file}: case '${c.name}' appears twice`);
    names.add(c.name);
    let ready: RehearsalCase;
    try {
      ready = await materialize(rb, c, deps);
    } catch (e) {
      res.errors.push(`${file}: case '${c.name}': raw: ${(e as Error).message}`);
      continue;
    }
    cases.push(ready);
    res.cases.push(rehearseCase(rb, ready, deps));
  }
  if (opts.coverage !== false) res.coverage = coverageOf(rb, cases);
  return res;
}

/** Did the suite pass? (Every case matched, the file is valid, and the machine's structure is sound.) */
export function suitePassed(s: SuiteResult): boolean {
  const cov = s.coverage;
  const structureOk = !cov || (cov.unreachable.length === 0 && cov.deadEnds.length === 0 && cov.stuck.length === 0);
  return s.errors.length === 0 && s.cases.every((c) => c.mismatches.length === 0) && structureOk;
}
