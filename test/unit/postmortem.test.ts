/**
 * Postmortem draft rendering: sections, UTC times, actors, escaped table cells, commands in code
 * spans, approvals and generated follow-ups.
 */
import { describe, expect, it } from 'vitest';
import { renderPostmortem } from '../../src/engine/postmortem.js';
import type { IncidentDetail, TimelineEntry } from '../../src/engine/types.js';

const labels = {
  alertname: 'RedisMemoryHigh',
  instance: 'redis://10.0.0.7:6379',
  redis_cluster: 'cache-prod',
  severity: 'warning',
};

function incident(over: Partial<IncidentDetail> = {}): IncidentDetail {
  return {
    id: 'inc-20261125-0007',
    runbook: 'memory-high',
    target: 'cache-prod',
    state: 'resolved',
    outcome: 'remediated',
    title: 'Memory above 85% of maxmemory on cache-prod',
    severity: 'warning',
    fingerprints: ['5f2c9d1e0a7b3c44'],
    dryRun: false,
    createdAt: '2026-11-25T14:11:20.250Z',
    updatedAt: '2026-11-25T14:19:31.000Z',
    findings: {
      memory: { used_memory: 7_301_234_688, maxmemory: 8_589_934_592, ratio: 0.85, maxmemory_policy: 'noeviction' },
    },
    labels,
    version: 12,
    ...over,
  };
}

const timeline: TimelineEntry[] = [
  {
    at: '2026-11-25T14:11:19.900Z',
    kind: 'alert.firing',
    actor: { kind: 'alertmanager' },
    summary: 'RedisMemoryHigh firing on redis://10.0.0.7:6379',
    data: { alert: { labels, annotations: { summary: 'Memory at 85% of maxmemory', description: 'used_memory / maxmemory > 0.85 for 5m' } } },
  },
  { at: '2026-11-25T14:11:20.250Z', kind: 'incident.opened', actor: { kind: 'engine' }, summary: 'opened with runbook memory-high' },
  {
    at: '2026-11-25T14:11:21.004Z',
    kind: 'finding',
    actor: { kind: 'engine' },
    summary: 'used_memory 6.8GiB of 8GiB | policy noeviction\nfragmentation 1.08',
  },
  { at: '2026-11-25T14:11:21.500Z', kind: 'decision', actor: { kind: 'engine' }, summary: 'cache with noeviction: switch to allkeys-lru' },
  { at: '2026-11-25T14:11:22.000Z', kind: 'approval.requested', actor: { kind: 'engine' }, summary: 'set-eviction-policy#1 needs 1 approval' },
  { at: '2026-11-25T14:13:05.000Z', kind: 'approval.granted', actor: { kind: 'user', id: 'alice', via: 'slack' }, summary: 'approved' },
  {
    at: '2026-11-25T14:13:05.400Z',
    kind: 'command.intent',
    actor: { kind: 'engine' },
    summary: 'about to set maxmemory-policy',
    data: { node: '10.0.0.7:6379', argv: ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'] },
  },
  {
    at: '2026-11-25T14:13:05.410Z',
    kind: 'command.executed',
    actor: { kind: 'engine' },
    summary: 'CONFIG SET maxmemory-policy allkeys-lru: OK; CONFIG REWRITE failed',
    data: {
      commands: [
        { node: '10.0.0.7:6379', argv: ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'], ok: true, reply: 'OK' },
        { node: '10.0.0.7:6379', argv: ['CONFIG', 'REWRITE'], ok: false, error: 'ERR The server is running without a config file' },
      ],
      node: '10.0.0.7:6379',
      persisted: false,
    },
  },
  { at: '2026-11-25T14:19:31.000Z', kind: 'incident.resolved', actor: { kind: 'engine' }, summary: 'memory ratio 0.71 < 0.80' },
];

describe('renderPostmortem', () => {
  const md = renderPostmortem(incident(), timeline);

  it('starts with a title and a summary in UTC with the duration', () => {
    expect(md.startsWith('# Postmortem (draft): Memory above 85% of maxmemory on cache-prod\n')).toBe(true);
    expect(md).toContain('| Runbook | `memory-high` |');
    expect(md).toContain('| Target | `cache-prod` |');
    expect(md).toContain('| State / outcome | resolved (remediated) |');
    expect(md).toContain('| Opened (UTC) | 2026-11-25 14:11:20 |');
    expect(md).toContain('| Closed (UTC) | 2026-11-25 14:19:31 |');
    expect(md).toContain('| Duration | 8m 10s |');
  });

  it('describes the impact from the alert and the key findings', () => {
    const impact = section(md, 'Impact');
    expect(impact).toContain('**Alert** `RedisMemoryHigh` on `redis://10.0.0.7:6379` (severity: warning)');
    expect(impact).toContain('Summary: Memory at 85% of maxmemory');
    expect(impact).toContain('cache with noeviction: switch to allkeys-lru');
  });

  it('renders a timeline table with UTC times, actors and escaped cells', () => {
    const t = section(md, 'Timeline');
    expect(t).toContain('| Time (UTC) | Actor | Event | Detail |');
    expect(t).toContain('| 2026-11-25 14:11:19 | alertmanager | alert.firing | RedisMemoryHigh firing on redis://10.0.0.7:6379 |');
    expect(t).toContain('| 2026-11-25 14:13:05 | alice (slack) | approval.granted | approved |');
    expect(t).toContain('| used_memory 6.8GiB of 8GiB \\| policy noeviction<br>fragmentation 1.08 |');
    const rows = t.split('\n').filter((l) => l.startsWith('| 2026'));
    expect(rows).toHaveLength(timeline.length);
  });

  it('lists findings, including findings by step', () => {
    const f = section(md, 'Findings');
    expect(f).toContain('2026-11-25 14:11:21 — used_memory 6.8GiB of 8GiB | policy noeviction fragmentation 1.08');
    expect(f).toContain('- `memory`: `{"used_memory":7301234688,');
  });

  it('lists commands with node and argv in code spans, and their result', () => {
    const a = section(md, 'Actions');
    expect(a).toContain('- 2026-11-25 14:13:05 — about to send to `10.0.0.7:6379`: `CONFIG SET maxmemory-policy allkeys-lru`');
    expect(a).toContain('sent to `10.0.0.7:6379`: `CONFIG SET maxmemory-policy allkeys-lru` — ok');
    expect(a).toContain('sent to `10.0.0.7:6379`: `CONFIG REWRITE` — failed: ERR The server is running without a config file');
  });

  it('lists approvals with who and when', () => {
    const a = section(md, 'Approvals');
    expect(a).toContain('- 2026-11-25 14:11:22 — **requested** by engine: set-eviction-policy#1 needs 1 approval');
    expect(a).toContain('- 2026-11-25 14:13:05 — **granted** by alice (slack): approved');
  });

  it('generates follow-ups from `persisted: false` plus a default list', () => {
    const f = section(md, 'Follow-ups');
    expect(f).toContain('- [ ] Make the runtime config change on `10.0.0.7:6379` permanent');
    expect(f).toContain('- [ ] Confirm the root cause and record it here.');
    expect(f).toContain("- [ ] Review the alert's threshold and routing for `RedisMemoryHigh`.");
  });

  it('adds follow-ups for escalations and failed preconditions', () => {
    const escalated: TimelineEntry[] = [
      ...timeline.slice(0, 4),
      { at: '2026-11-25T14:12:00Z', kind: 'precondition.failed', actor: { kind: 'engine' }, summary: 'replica 10.0.0.8 is not in sync' },
      { at: '2026-11-25T14:12:01Z', kind: 'incident.escalated', actor: { kind: 'engine' }, summary: 'no safe remediation' },
    ];
    const out = renderPostmortem(incident({ state: 'escalated', outcome: 'escalated' }), escalated);
    const f = section(out, 'Follow-ups');
    expect(f).toContain('Review the failed precondition: replica 10.0.0.8 is not in sync');
    expect(f).toContain('Investigate the escalation and decide how the runbook should handle it next time: no safe remediation');
    expect(out).toContain('| Closed (UTC) | 2026-11-25 14:12:01 |');
  });

  it('redacts secrets that follow AUTH-like arguments', () => {
    const out = renderPostmortem(incident(), [
      {
        at: '2026-11-25T14:13:05Z',
        kind: 'command.dry-run',
        actor: { kind: 'engine' },
        summary: 'would set masterauth',
        data: { node: '10.0.0.8:6379', argv: ['CONFIG', 'SET', 'masterauth', 'hunter2'] },
      },
    ]);
    expect(out).toContain('dry run, not sent to `10.0.0.8:6379`: `CONFIG SET masterauth ***`');
    expect(out).not.toContain('hunter2');
  });

  it('handles an open incident with an empty timeline', () => {
    const out = renderPostmortem(incident({ state: 'awaiting_approval', findings: {}, outcome: undefined, dryRun: true }), []);
    expect(out).toContain('| Closed (UTC) | still open |');
    expect(out).toContain('| Open for (so far) | 8m 10s |');
    expect(out).toContain('_No timeline entries._');
    expect(out).toContain('_No commands were planned or sent._');
    expect(out).toContain('This was a dry run');
  });

  it('is pure: same input, same text, input untouched', () => {
    const copy = structuredClone(timeline);
    expect(renderPostmortem(incident(), timeline)).toBe(md);
    expect(timeline).toEqual(copy);
  });
});

/** The body of `## name` up to the next `## `. */
function section(md: string, name: string): string {
  const start = md.indexOf(`\n## ${name}\n`);
  if (start < 0) throw new Error(`no section ${name}`);
  const end = md.indexOf('\n## ', start + 4);
  return md.slice(start, end < 0 ? undefined : end);
}
