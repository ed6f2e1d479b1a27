/** Issue 10: hygiene check files are validated with errors naming file, line and path; findings merge across runs. */
import { describe, expect, it } from 'vitest';
import { validateCheckParams } from '../../src/engine/hygiene/checks.js';
import { mergeFindings } from '../../src/engine/hygiene/digest.js';
import { assignments, loadHygieneDirs, parseHygieneText } from '../../src/engine/hygiene/schema.js';
import { jitterMs, schedulerId } from '../../src/engine/hygiene/scheduler.js';
import { RUNBOOKS_DIR } from '../helpers/app.js';

const ok = `apiVersion: redis-runbooks/v1
kind: HygieneCheck
name: ttl
schedule: "0 3 * * *"
targets: [cache-prod]
check: keys-without-ttl
params: { warningKeys: 10 }
overrides:
  cache-prod: { schedule: "*/5 * * * *", params: { warningKeys: 50 } }
openIncident: { runbook: redis-memory-pressure }
`;

describe('HygieneCheck files', () => {
  it('a valid file resolves to one assignment per target with overrides applied', () => {
    const def = parseHygieneText(ok, 'h.yaml', validateCheckParams);
    const r = assignments([def], new Map([['cache-prod', { role: 'cache' as const }]]), { runbooks: ['redis-memory-pressure'] });
    expect(r.errors).toEqual([]);
    expect(r.assignments.map((a) => [a.target, a.schedule, a.params['warningKeys']])).toEqual([['cache-prod', '*/5 * * * *', 50]]);
    expect(def.openIncident).toEqual({ severity: 'critical', runbook: 'redis-memory-pressure' });
  });

  it('errors name the file, the line and the path: bad cron, unknown check, params of the check type', () => {
    expect(() => parseHygieneText(ok.replace('"0 3 * * *"', '"61 3 * * *"'), 'h.yaml', validateCheckParams)).toThrow(/h\.yaml:4: schedule: invalid cron pattern/);
    expect(() => parseHygieneText(ok.replace('check: keys-without-ttl', 'check: nope'), 'h.yaml', validateCheckParams)).toThrow(/h\.yaml:6: check: /);
    expect(() => parseHygieneText(ok.replace('warningKeys: 10 }', 'warningKeys: -1 }'), 'h.yaml', validateCheckParams)).toThrow(/h\.yaml:7: params\.warningKeys: /);
    expect(() => parseHygieneText(ok.replace('{ warningKeys: 50 }', '{ bogus: 1 }'), 'h.yaml', validateCheckParams)).toThrow(/h\.yaml:9: overrides\.cache-prod\.params: Unrecognized key/);
  });

  it('unknown targets and runbooks are errors naming the file', () => {
    const def = parseHygieneText(ok, 'h.yaml', validateCheckParams);
    const r = assignments([def], new Map([['other', { role: 'store' as const }]]), { runbooks: [] });
    expect(r.errors).toEqual([
      "h.yaml: targets: unknown target 'cache-prod' (known: other)",
      "h.yaml: overrides.cache-prod: unknown target 'cache-prod'",
      "h.yaml: openIncident.runbook: unknown runbook 'redis-memory-pressure' (known: )",
    ]);
  });

  it('the shipped checks load without errors', () => {
    const r = loadHygieneDirs([RUNBOOKS_DIR], validateCheckParams);
    expect(r.errors).toEqual([]);
    expect(r.checks.map((c) => c.check).sort()).toEqual(['acl', 'big-keys', 'cluster', 'dangerous-commands', 'eviction-policy', 'fragmentation', 'keys-without-ttl', 'maxmemory-unset', 'memory-headroom', 'persistence', 'sentinel', 'slowlog', 'tls-certificate']);
  });

  it('scheduler ids carry our prefix and no colon; jitter is deterministic and bounded', () => {
    expect(schedulerId('ttl', 'cache:prod')).toBe('hyg-ttl--cache_prod');
    expect(jitterMs('ttl', 'a', 30_000)).toBe(jitterMs('ttl', 'a', 30_000));
    expect(jitterMs('ttl', 'a', 30_000)).toBeLessThan(30_000);
    expect(new Set(['a', 'b', 'c', 'd'].map((t) => jitterMs('ttl', t, 30_000))).size).toBeGreaterThan(1);
    expect(jitterMs('ttl', 'a', 0)).toBe(0);
  });
});

describe('mergeFindings', () => {
  const d = (key: string) => ({ severity: 'warning' as const, key, summary: key, data: {} });
  it('new, persisting (runs count, first seen kept), cleared (cleared at), reappearing after clearing (new again)', () => {
    const r1 = mergeFindings('c', 't', [], [d('a'), d('b')], 1000);
    expect(r1.opened.map((f) => f.key)).toEqual(['a', 'b']);
    const r2 = mergeFindings('c', 't', [...r1.write.values()], [d('a')], 2000);
    expect(r2.opened).toEqual([]);
    expect(r2.persisting.map((f) => [f.key, f.runs, f.firstSeen])).toEqual([['a', 2, new Date(1000).toISOString()]]);
    expect(r2.cleared.map((f) => [f.key, f.clearedAt])).toEqual([['b', new Date(2000).toISOString()]]);
    const r3 = mergeFindings('c', 't', [...r2.write.values(), ...r1.write.values()].filter((f, i, all) => all.findIndex((x) => x.key === f.key) === i), [d('a'), d('b')], 3000);
    expect(r3.opened.map((f) => [f.key, f.runs, f.firstSeen])).toEqual([['b', 1, new Date(3000).toISOString()]]);
    expect(r3.opened[0]?.clearedAt).toBeUndefined();
    const old = mergeFindings('c', 't', [...r2.write.values()].filter((f) => f.key === 'b'), [], 2000 + 8 * 24 * 3600_000);
    expect(old.drop).toEqual(['c|b']);
  });
});
