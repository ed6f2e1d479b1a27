/**
 * `redis-runbooks test [runbook…]`: rehearse runbooks on their recorded cases
 * (`<runbooks dir>/rehearsals/<runbook>.rehearsal.yaml`) and report the path coverage of their
 * machines; exit 1 when a case does not match, a rehearsal file is invalid, or a machine has an
 * unreachable state or a state no final state can be reached from.
 * `redis-runbooks test --record <incident>` prints a case recorded from a real incident.
 */
import { dirname } from 'node:path';
import { stringify } from 'yaml';
import type { App } from '../app.js';
import { loadDeps } from '../app.js';
import type { CompiledRunbook, LoadDeps } from '../engine/runbook/load.js';
import { loadRunbookDirs } from '../engine/runbook/load.js';
import type { CoverageReport } from '../engine/rehearsal/coverage.js';
import { recordCase } from '../engine/rehearsal/record.js';
import { rehearsalPath, runSuite, suitePassed } from '../engine/rehearsal/suite.js';
import type { SuiteResult } from '../engine/rehearsal/suite.js';

export interface RehearseOptions {
  /** Runbook directories; a later runbook with the same name replaces an earlier one. */
  dirs: readonly string[];
  /** Runbook names to rehearse (default: every runbook found). */
  names: readonly string[];
  deps: LoadDeps;
  coverage: boolean;
  /** Print every note of every case, and the states rehearsals never reached. */
  verbose: boolean;
  write(line: string): void;
}

function coverageLine(c: CoverageReport): string {
  const structure = c.unreachable.length === 0 && c.deadEnds.length === 0 ? 'every state reachable, every state can end in a final state' : `UNREACHABLE [${c.unreachable.join(', ')}] DEAD ENDS [${c.deadEnds.join(', ')}]`;
  const stuck = c.stuck.length > 0 ? `; STUCK (no final state reachable) in [${c.stuck.join(', ')}]` : '';
  const rehearsed = c.states - 1 - c.unexercised.length;
  return `paths: ${c.states} states, ${c.paths} paths to a final state; ${structure}${stuck}; driven with the rehearsals' data: ${c.snapshots} snapshots, ${rehearsed}/${c.states - 1} resting states reached${c.truncated ? ' (traversal truncated)' : ''}`;
}

/** Load the runbooks of `dirs` (later directories override earlier ones by name). */
export function loadForRehearsal(dirs: readonly string[], deps: LoadDeps): { runbooks: CompiledRunbook[]; errors: string[] } {
  // As the engine loads them: a directory listed twice is read once, handovers resolve across directories.
  const { runbooks, errors } = loadRunbookDirs(dirs.map((dir) => ({ dir })), deps);
  return { runbooks: [...runbooks].sort((a, b) => a.def.name.localeCompare(b.def.name)), errors };
}

/** Rehearse; returns the exit code (0: every case passed and every machine is sound). */
export async function rehearse(o: RehearseOptions): Promise<number> {
  const { runbooks, errors } = loadForRehearsal(o.dirs, o.deps);
  for (const e of errors) o.write(`FAIL ${e}`);
  const unknown = o.names.filter((n) => !runbooks.some((rb) => rb.def.name === n));
  for (const n of unknown) o.write(`FAIL unknown runbook '${n}' (known: ${runbooks.map((r) => r.def.name).join(', ')})`);
  const chosen = o.names.length > 0 ? runbooks.filter((rb) => o.names.includes(rb.def.name)) : runbooks;
  let cases = 0;
  let failedCases = 0;
  let failedSuites = 0;
  let without = 0;
  const results: SuiteResult[] = [];
  for (const rb of chosen) {
    const s = await runSuite(rb, rehearsalPath(dirname(rb.file), rb.def.name), { actions: o.deps.actions }, { coverage: o.coverage });
    results.push(s);
    o.write(`${rb.def.name}  (${s.file ?? `no rehearsals: ${rehearsalPath(dirname(rb.file), rb.def.name)} does not exist`})`);
    for (const e of s.errors) o.write(`  FAIL ${e.replace(/\n/g, '\n       ')}`);
    for (const c of s.cases) {
      cases++;
      const what = `${c.state}${c.proposes.length > 0 ? ` → ${c.proposes.join(' | ')}` : ''}`;
      if (c.mismatches.length === 0) o.write(`  ok   ${c.name}  (${what})`);
      else {
        failedCases++;
        o.write(`  FAIL ${c.name}  (${what})`);
        for (const m of c.mismatches) o.write(`       ${m.replace(/\n/g, '\n       ')}`);
      }
      if (o.verbose) for (const n of c.notes) o.write(`         note: ${n}`);
    }
    if (s.file === undefined) without++;
    if (s.coverage) {
      o.write(`  ${coverageLine(s.coverage)}`);
      if (o.verbose && s.coverage.unexercised.length > 0) o.write(`  not reached by the rehearsals' data: ${s.coverage.unexercised.join(', ')}`);
    }
    if (!suitePassed(s)) failedSuites++;
  }
  o.write(`${chosen.length} runbook(s), ${cases} case(s): ${cases - failedCases} passed, ${failedCases} failed${without > 0 ? `; ${without} runbook(s) without rehearsals` : ''}`);
  return errors.length > 0 || unknown.length > 0 || failedSuites > 0 ? 1 : 0;
}

/** A rehearsal case (YAML) recorded from a real incident of this engine. */
export async function recordFromIncident(app: App, id: string, name: string | undefined): Promise<{ ok: true; text: string } | { ok: false; message: string }> {
  const inc = await app.engine.getIncident(id);
  const timeline = await app.engine.getTimeline(id);
  if (!inc || !timeline) return { ok: false, message: `no incident ${id}` };
  const rb = app.catalog.get(inc.runbook);
  if (!rb) return { ok: false, message: `incident ${id} ran runbook ${inc.runbook}, which is not loaded` };
  const t = app.config.targets[inc.target];
  const target = { name: inc.target, role: t?.role ?? 'cache', mode: t?.mode ?? 'standalone', allowAutomatic: t?.allowAutomatic ?? false } as const;
  const { case: c, disagreements } = recordCase(rb, { name: name ?? `${inc.runbook} on ${inc.target} (${id})`, source: `incident ${id} (${inc.createdAt})`, incident: inc, timeline, target }, { actions: loadDeps(app.config).actions });
  const warn = disagreements.length > 0 ? `# WARNING: the rehearsal does not replay this incident faithfully:\n${disagreements.map((d) => `#   ${d}`).join('\n')}\n` : '';
  return { ok: true, text: `${warn}# add under cases: in ${rb.def.name}.rehearsal.yaml\n${stringify([c], { lineWidth: 0, aliasDuplicateObjects: false })}` };
}

