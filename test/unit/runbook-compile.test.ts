/**
 * Runbook loading and compiling (pure): the shipped runbooks compile; every class of mistake is a
 * compile error naming the file, the YAML path and the line.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { actions } from '../../src/actions/registry.js';
import { NODE_SELECTORS } from '../../src/actions/redis/topology.js';
import type { ActionDefinition } from '../../src/actions/types.js';
import { compileRunbookText, loadRunbookDir } from '../../src/engine/runbook/load.js';
import { runbookJsonSchema } from '../../src/engine/runbook/json-schema.js';
import { RUNBOOKS_DIR } from '../helpers/app.js';

const deps = { actions: actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>>, selectors: NODE_SELECTORS, defaultApprovalTimeoutMs: 60_000 };
// Compile errors are shown on a fixed runbook (the shipped one evolves with its own tests).
const MEMORY = readFileSync(join(RUNBOOKS_DIR, '..', 'test', 'fixtures', 'runbooks-machine', 'redis-memory-pressure.yaml'), 'utf8');

function compileError(text: string): string {
  try {
    compileRunbookText(text, 'rb.yaml', deps);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a compile error');
}

describe('shipped runbooks', () => {
  it('all compile, with unique names', () => {
    const { runbooks, errors } = loadRunbookDir(RUNBOOKS_DIR, deps);
    expect(errors).toEqual([]);
    expect(runbooks.map((r) => r.def.name)).toContain('redis-memory-pressure');
  });

  it('the checked-in JSON Schema is the one generated from the format', () => {
    const onDisk = JSON.parse(readFileSync(join(RUNBOOKS_DIR, 'runbook.schema.json'), 'utf8')) as unknown;
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(runbookJsonSchema(actions as ReadonlyMap<string, ActionDefinition<unknown, unknown>>))));
  });

  it('the memory runbook answers the alert names of our rules and of community rule sets', () => {
    const rb = compileRunbookText(readFileSync(join(RUNBOOKS_DIR, 'redis-memory-pressure.yaml'), 'utf8'), 'm.yaml', deps);
    const names = rb.def.match.map((m) => m.alertname);
    expect(names).toEqual(expect.arrayContaining(['RedisMemoryHigh', 'RedisOOMRejections', 'RedisOutOfConfiguredMaxmemory']));
  });
});

describe('compile errors name the file, the YAML path and the line', () => {
  it('unknown action', () => {
    const msg = compileError(MEMORY.replace('action: redis.info-stats', 'action: redis.info-statz'));
    expect(msg).toMatch(/^rb\.yaml:\d+: diagnose\[1\]\.action: unknown action 'redis\.info-statz' \(known: .*redis\.info-stats/m);
  });

  it('a mutating action among the diagnostics (it would run without approval)', () => {
    const msg = compileError(MEMORY.replace('action: redis.memory-doctor', 'action: redis.memory-purge'));
    expect(msg).toContain('diagnose[3].action: redis.memory-purge is a write action: diagnose steps (they run without approval) may only use read actions');
  });

  it('a mutating remediation without an approval gate', () => {
    const msg = compileError(MEMORY.replace('    approval: { role: redis.dba-operator }\n    precondition: mem.fragmentationRatio', '    precondition: mem.fragmentationRatio'));
    expect(msg).toMatch(/remediations\.purge: mutating step without an approval gate/);
  });

  it('declared risk lower than the steps', () => {
    const msg = compileError(MEMORY.replace("title: Return allocator dirty pages (MEMORY PURGE)\n    description: Safe; may not help when fragmentation is internal. Verified, never repeated.\n    risk: write", "title: Return allocator dirty pages (MEMORY PURGE)\n    description: x\n    risk: read"));
    expect(msg).toContain("remediations.purge.risk: declared risk 'read' is lower than its steps' risk 'write'");
  });

  it('a decision proposing an unknown remediation', () => {
    expect(compileError(MEMORY.replace('propose: purge', 'propose: purgee'))).toContain("decide[4].propose: unknown remediation 'purgee'");
  });

  it('an expression naming an unknown finding, and a malformed one', () => {
    expect(compileError(MEMORY.replace("when: target.role == 'cache' and mem.policy == 'noeviction'", "when: target.role == 'cache' and memx.policy == 'noeviction'"))).toContain("decide[5].when: unknown name 'memx'");
    expect(compileError(MEMORY.replace("when: target.role == 'cache' and mem.policy == 'noeviction'", "when: target.role == 'cache' and (mem.policy"))).toMatch(/decide\[5\]\.when: bad expression: .*column/);
  });

  it('bad action input and bad node selector', () => {
    expect(compileError(MEMORY.replace('with: { maxKeys: 20000, maxMillis: 2000, top: 10 }', 'with: { maxKeys: -5 }'))).toMatch(/diagnose\[4\]\.with\.maxKeys: invalid input for redis\.bigkeys-sample/);
    expect(compileError(MEMORY.replace('on: preferred-replica', 'on: a-replica-please'))).toContain("diagnose[4].on: unknown node selector 'a-replica-please'");
  });

  it('a disruptive remediation can never be automatic', () => {
    const msg = compileError(MEMORY.replace("    risk: write\n    approval: { role: redis.dba-operator }\n    precondition: mem.usage", "    risk: disruptive\n    automatic: true\n    approval: { role: redis.dba-operator }\n    precondition: mem.usage"));
    expect(msg).toContain('remediations.raise-maxmemory.automatic: a disruptive remediation can never be automatic');
  });

  it('YAML problems: duplicate keys, unknown keys, wrong types', () => {
    expect(compileError(MEMORY.replace('severity: warning\n', 'severity: warning\nseverity: critical\n'))).toMatch(/rb\.yaml:\d+:\d+: Map keys must be unique/);
    expect(compileError(MEMORY.replace('severity: warning\n', 'severity: warning\nseverty: x\n'))).toMatch(/\(root\): Unrecognized key: "severty"|severty/);
    expect(compileError(MEMORY.replace('kind: Runbook', 'kind: Playbook'))).toMatch(/^rb\.yaml:\d+: kind: /);
  });

  it('a hand-over to a runbook that does not exist (checked across the directory)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-'));
    writeFileSync(join(dir, 'm.yaml'), MEMORY.replace('    onFailure: escalate\n', '    onFailure: { handover: redis-nonexistent }\n'));
    const { errors } = loadRunbookDir(dir, deps);
    expect(errors.join('\n')).toContain("remediations.raise-maxmemory.onFailure.handover: unknown runbook 'redis-nonexistent'");
  });
});

describe('the JSON Schema checks each step`s with: against its action (for editors)', () => {
  it('every shipped runbook validates; a wrong parameter for an action is flagged; an {expr} is accepted anywhere', async () => {
    const { Ajv2020 } = await import('ajv/dist/2020.js');
    const schema = JSON.parse(readFileSync(join(RUNBOOKS_DIR, 'runbook.schema.json'), 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    const { readdirSync } = await import('node:fs');
    const { parse } = await import('yaml');
    for (const f of readdirSync(RUNBOOKS_DIR).filter((x) => x.endsWith('.yaml'))) {
      const ok = validate(parse(readFileSync(join(RUNBOOKS_DIR, f), 'utf8')));
      expect({ f, errors: ok ? [] : validate.errors }).toEqual({ f, errors: [] });
    }
    const bad = parse(MEMORY.replace('    with: { maxKeys: 20000, maxMillis: 2000, top: 10 }', '    with: { maxKeys: "lots", maxMillis: 2000, top: 10 }')) as unknown;
    expect(validate(bad)).toBe(false);
    const expr = parse(MEMORY.replace('    with: { maxKeys: 20000, maxMillis: 2000, top: 10 }', '    with: { maxKeys: "{params.threshold}", maxMillis: 2000, top: 10 }')) as unknown;
    expect(validate(expr)).toBe(true);
  });
});

describe('errors stay one line per issue', () => {
  it('a complex YAML key (`? - a`) in a runbook gives one line naming the file, line and path', async () => {
    const { compileRunbookText } = await import('../../src/engine/runbook/load.js');
    const { RunbookError } = await import('../../src/errors.js');
    const { actions } = await import('../../src/actions/registry.js');
    const { NODE_SELECTORS } = await import('../../src/actions/redis/topology.js');
    const text = 'apiVersion: redis-runbooks/v1\nkind: Runbook\nname: x\ntitle: x\nmatch:\n?   - alertname: A\n  - alertname: B\ndiagnose: []\ndecide: []\nremediations: {}\n';
    let err: unknown;
    try {
      compileRunbookText(text, 'bad.yaml', { actions: actions as never, selectors: NODE_SELECTORS, defaultApprovalTimeoutMs: 60_000 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RunbookError);
    for (const line of (err as Error).message.split('\n')) expect(line).toMatch(/^bad\.yaml(:\d+)?: \S/);
  });
});
