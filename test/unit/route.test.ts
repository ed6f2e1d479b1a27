import { describe, expect, it } from 'vitest';
import type { RouteConfig, TargetConfig } from '../../src/config-types.js';
import type { AlertInput } from '../../src/engine/types.js';
import { parseInstance, routeAlert } from '../../src/triggers/alertmanager/route.js';
import type { RouteContext } from '../../src/triggers/alertmanager/route.js';

function alert(labels: Record<string, string>): AlertInput {
  return { status: 'firing', labels, annotations: {}, startsAt: '2026-11-25T14:11:03Z', fingerprint: '5f2c9d1e0a7b3c44' };
}

function target(name: string, t: Partial<TargetConfig>): TargetConfig {
  return { name, mode: 'standalone', endpoints: [], role: 'cache', labels: {}, allowAutomatic: false, ...t };
}

const targets: Record<string, TargetConfig> = {
  'cache-prod': target('cache-prod', {
    mode: 'sentinel',
    endpoints: [
      { host: '10.0.0.7', port: 6379 },
      { host: '10.0.0.8', port: 6379 },
    ],
    sentinel: { masterName: 'cache-prod', endpoints: [{ host: '10.0.0.7', port: 26379 }] },
    labels: { redis_cluster: 'cache-prod' },
  }),
  sessions: target('sessions', {
    role: 'store',
    endpoints: [
      { host: 'Redis-Sessions.internal', port: 6380 },
      { host: '127.0.0.1', port: 6379 },
      { host: '::1', port: 6390 },
    ],
  }),
  'cache-eu': target('cache-eu', { mode: 'cluster', endpoints: [{ host: '10.1.0.1', port: 7000 }] }),
};

const runbooks: RouteContext['runbooks'] = [
  { name: 'memory-pressure', match: [{ alertname: 'RedisMemoryHigh' }] },
  { name: 'replica-link-down', match: [{ alertname: 'RedisReplicaLinkDown' }, { labels: { kind: 'replication' } }] },
  { name: 'cache-memory', match: [] },
];

const routes: RouteConfig[] = [{ alertname: 'RedisMemoryHigh', labels: { role_hint: 'cache' }, runbook: 'cache-memory' }];
const ctx: RouteContext = { routes, runbooks, targets };

describe('routeAlert: runbook choice', () => {
  it('uses the runbook’s own match when no config route matches', () => {
    const r = routeAlert(alert({ alertname: 'RedisMemoryHigh', instance: '10.1.0.1:7000' }), ctx);
    expect(r).toEqual({ ok: true, routed: expect.objectContaining({ runbook: 'memory-pressure', target: 'cache-eu' }) });
  });

  it('a config route overrides the runbook’s own match', () => {
    const r = routeAlert(alert({ alertname: 'RedisMemoryHigh', role_hint: 'cache', instance: '10.1.0.1:7000' }), ctx);
    expect(r.ok && r.routed.runbook).toBe('cache-memory');
  });

  it('config routes are tried in order and need every label to match', () => {
    const two: RouteConfig[] = [
      { labels: { team: 'a', env: 'prod' }, runbook: 'memory-pressure' },
      { labels: { team: 'a' }, runbook: 'replica-link-down' },
    ];
    const a = alert({ alertname: 'X', team: 'a', instance: '10.1.0.1:7000' });
    expect(routeAlert(a, { ...ctx, routes: two })).toMatchObject({ ok: true, routed: { runbook: 'replica-link-down' } });
    const b = alert({ alertname: 'X', team: 'a', env: 'prod', instance: '10.1.0.1:7000' });
    expect(routeAlert(b, { ...ctx, routes: two })).toMatchObject({ ok: true, routed: { runbook: 'memory-pressure' } });
  });

  it('any entry of a runbook’s match list may match', () => {
    const r = routeAlert(alert({ alertname: 'Other', kind: 'replication', instance: '10.1.0.1:7000' }), ctx);
    expect(r.ok && r.routed.runbook).toBe('replica-link-down');
  });

  it('no_runbook when nothing matches; empty matchers match nothing', () => {
    const r = routeAlert(alert({ alertname: 'RedisUnknown', instance: '10.1.0.1:7000' }), {
      ...ctx,
      routes: [{ labels: {}, runbook: 'memory-pressure' }],
      runbooks: [...runbooks, { name: 'catch-all', match: [{}] }],
    });
    expect(r).toEqual({ ok: false, reason: 'no_runbook', detail: expect.stringContaining('RedisUnknown') });
  });

  it('no_runbook when a matching route names a runbook that is not loaded', () => {
    const r = routeAlert(alert({ alertname: 'X', instance: '10.1.0.1:7000' }), {
      ...ctx,
      routes: [{ alertname: 'X', labels: {}, runbook: 'gone' }],
    });
    expect(r).toEqual({ ok: false, reason: 'no_runbook', detail: 'routes[0] names unknown runbook "gone"' });
  });
});

describe('routeAlert: target choice', () => {
  it('by target labels, setting node when instance is one of its data nodes', () => {
    const r = routeAlert(alert({ alertname: 'RedisReplicaLinkDown', redis_cluster: 'cache-prod', instance: 'redis://10.0.0.8:6379' }), ctx);
    expect(r).toEqual({
      ok: true,
      routed: {
        alert: expect.objectContaining({ fingerprint: '5f2c9d1e0a7b3c44' }),
        runbook: 'replica-link-down',
        target: 'cache-prod',
        node: '10.0.0.8:6379',
      },
    });
  });

  it('by target labels without instance: no node', () => {
    const r = routeAlert(alert({ alertname: 'RedisReplicaLinkDown', redis_cluster: 'cache-prod' }), ctx);
    expect(r.ok && r.routed).toEqual(expect.objectContaining({ target: 'cache-prod' }));
    expect(r.ok && 'node' in r.routed).toBe(false);
  });

  it('labels win over instance', () => {
    const r = routeAlert(alert({ alertname: 'RedisMemoryHigh', redis_cluster: 'cache-prod', instance: '10.1.0.1:7000' }), ctx);
    expect(r).toMatchObject({ ok: true, routed: { target: 'cache-prod' } });
    expect(r.ok && r.routed.node).toBeUndefined();
  });

  it('the most specific label match wins; equal specificity is ambiguous', () => {
    const ts = {
      broad: target('broad', { endpoints: [{ host: 'a', port: 1 }], labels: { env: 'prod' } }),
      narrow: target('narrow', { endpoints: [{ host: 'b', port: 1 }], labels: { env: 'prod', team: 'x' } }),
      twin: target('twin', { endpoints: [{ host: 'c', port: 1 }], labels: { env: 'prod', team: 'x' } }),
    };
    const a = alert({ alertname: 'RedisMemoryHigh', env: 'prod', team: 'x' });
    expect(routeAlert(a, { ...ctx, targets: { broad: ts.broad, narrow: ts.narrow } })).toMatchObject({ ok: true, routed: { target: 'narrow' } });
    expect(routeAlert(a, { ...ctx, targets: ts })).toEqual({ ok: false, reason: 'no_target', detail: 'ambiguous target by labels: narrow, twin' });
  });

  it.each([
    ['redis://Redis-Sessions.internal:6380', 'Redis-Sessions.internal:6380'],
    ['rediss://runbooks:s3cret@redis-sessions.INTERNAL:6380/0', 'Redis-Sessions.internal:6380'],
    ['redis-sessions.internal:6380', 'Redis-Sessions.internal:6380'],
    ['localhost:6379', '127.0.0.1:6379'],
    ['localhost', '127.0.0.1:6379'],
    ['redis://127.0.0.1', '127.0.0.1:6379'],
    ['[::1]:6390', '::1:6390'],
  ])('by instance %s', (instance, node) => {
    const r = routeAlert(alert({ alertname: 'RedisMemoryHigh', instance }), ctx);
    expect(r).toEqual({ ok: true, routed: expect.objectContaining({ runbook: 'memory-pressure', target: 'sessions', node }) });
  });

  it('by sentinel instance: the target, but no data node', () => {
    const r = routeAlert(alert({ alertname: 'RedisMemoryHigh', instance: 'redis://10.0.0.7:26379' }), { ...ctx, targets: { 'cache-prod': { ...targets['cache-prod']!, labels: {} } } });
    expect(r).toMatchObject({ ok: true, routed: { target: 'cache-prod' } });
    expect(r.ok && r.routed.node).toBeUndefined();
  });

  it('unmatched: exporter address, unknown host, wrong port, no instance', () => {
    for (const instance of ['10.0.0.9:9121', 'redis://unknown:6379', 'redis-sessions.internal:6379', 'http://10.0.0.7:6379']) {
      const r = routeAlert(alert({ alertname: 'RedisMemoryHigh', instance }), ctx);
      expect(r).toMatchObject({ ok: false, reason: 'no_target' });
    }
    expect(routeAlert(alert({ alertname: 'RedisMemoryHigh' }), ctx)).toEqual({
      ok: false,
      reason: 'no_target',
      detail: 'no target labels match and alert has no instance label',
    });
  });

  it('partial label matches do not select a target', () => {
    const ts = { t: target('t', { endpoints: [{ host: 'a', port: 1 }], labels: { env: 'prod', team: 'x' } }) };
    expect(routeAlert(alert({ alertname: 'RedisMemoryHigh', env: 'prod' }), { ...ctx, targets: ts })).toMatchObject({ ok: false, reason: 'no_target' });
  });

  it('two targets listing the same instance is ambiguous', () => {
    const ts = {
      a: target('a', { endpoints: [{ host: 'h', port: 6379 }] }),
      b: target('b', { endpoints: [{ host: 'H', port: 6379 }] }),
    };
    expect(routeAlert(alert({ alertname: 'RedisMemoryHigh', instance: 'h' }), { ...ctx, targets: ts })).toEqual({
      ok: false,
      reason: 'no_target',
      detail: 'ambiguous target by instance h:6379: a, b',
    });
  });

  it('never echoes credentials from instance in the detail', () => {
    const r = routeAlert(alert({ alertname: 'RedisMemoryHigh', instance: 'redis://user:topsecret@nowhere:6379' }), ctx);
    expect(r).toMatchObject({ ok: false, reason: 'no_target' });
    expect(!r.ok && r.detail).toContain('nowhere:6379');
    expect(!r.ok && r.detail).not.toContain('topsecret');
  });
});

describe('parseInstance', () => {
  it.each([
    ['redis://10.0.0.8:6379', { host: '10.0.0.8', port: 6379 }],
    ['rediss://user@h:6380', { host: 'h', port: 6380 }],
    ['rediss://:p@ss@h:6380?x=1', { host: 'h', port: 6380 }],
    ['redis://h', { host: 'h', port: 6379 }],
    ['h:6379', { host: 'h', port: 6379 }],
    ['h', { host: 'h', port: 6379 }],
    ['[::1]:6380', { host: '::1', port: 6380 }],
    ['redis://[fe80::1]:7000', { host: 'fe80::1', port: 7000 }],
    ['::1', { host: '::1', port: 6379 }],
    [' h:1 ', { host: 'h', port: 1 }],
  ])('%s', (s, want) => {
    expect(parseInstance(s)).toEqual(want);
  });

  it.each(['', 'http://h:9121', 'unix:///tmp/redis.sock', 'h:0', 'h:70000', 'h:port', 'a b:1', 'redis://', 'redis://user@'])(
    'rejects %j',
    (s) => {
      expect(parseInstance(s)).toBeUndefined();
    },
  );
});
