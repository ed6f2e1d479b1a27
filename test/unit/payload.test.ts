/**
 * Alertmanager webhook v4 body: validation errors name the JSON path; alerts map to AlertInput.
 */
import { describe, expect, it } from 'vitest';
import { fingerprintLabels, formatPath, LIMITS, MAX_ALERTS_PER_BODY, parseWebhook } from '../../src/triggers/alertmanager/payload.js';

/** A notification as Alertmanager 0.27+ sends it (nanosecond timestamps, routeLabels from 0.34). */
function realisticBody(): Record<string, unknown> & { alerts: Record<string, unknown>[] } {
  return {
    receiver: 'runbook-engine',
    status: 'firing',
    alerts: [
      {
        status: 'firing',
        labels: {
          alertname: 'RedisReplicaLinkDown',
          instance: 'redis://10.0.0.8:6379',
          job: 'redis',
          master_host: '10.0.0.7',
          master_port: '6379',
          redis_cluster: 'cache-prod',
          severity: 'critical',
        },
        annotations: {
          summary: 'Replica 10.0.0.8:6379 lost its link to the master',
          description: 'redis_master_link_up == 0 for 2m',
          runbook_url: 'https://runbooks.example.com/redis/replication',
        },
        startsAt: '2026-11-25T14:11:03.512913841Z',
        endsAt: '2026-11-25T14:15:03.512913841Z',
        generatorURL: 'http://prom:9090/graph?g0.expr=redis_master_link_up+%3D%3D+0&g0.tab=1',
        fingerprint: '5f2c9d1e0a7b3c44',
      },
      {
        status: 'resolved',
        labels: { alertname: 'RedisReplicaLinkDown', instance: 'redis://10.0.0.9:6379', job: 'redis', severity: 'critical' },
        annotations: { summary: 'Replica 10.0.0.9:6379 lost its link to the master' },
        startsAt: '2026-11-25T13:58:33.101Z',
        endsAt: '2026-11-25T14:10:48.101+00:00',
        generatorURL: 'http://prom:9090/graph?g0.expr=redis_master_link_up+%3D%3D+0&g0.tab=1',
        fingerprint: '0a9b8c7d6e5f4a3b',
      },
    ],
    groupLabels: { alertname: 'RedisReplicaLinkDown' },
    commonLabels: { alertname: 'RedisReplicaLinkDown', job: 'redis', severity: 'critical' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.monitoring:9093',
    version: '4',
    groupKey: '{}/{severity="critical"}:{alertname="RedisReplicaLinkDown"}',
    truncatedAlerts: 0,
    notification_reason: 'new alerts added',
    routeLabels: { severity: 'critical' },
  };
}

describe('parseWebhook', () => {
  it('accepts a realistic v4 body and maps its alerts', () => {
    const r = parseWebhook(realisticBody());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({
      groupKey: '{}/{severity="critical"}:{alertname="RedisReplicaLinkDown"}',
      status: 'firing',
      receiver: 'runbook-engine',
      truncatedAlerts: 0,
      notificationReason: 'new alerts added',
    });
    expect(r.value.alerts).toHaveLength(2);
    expect(r.value.alerts[0]).toEqual({
      status: 'firing',
      labels: expect.objectContaining({ alertname: 'RedisReplicaLinkDown', master_host: '10.0.0.7' }),
      annotations: expect.objectContaining({ summary: 'Replica 10.0.0.8:6379 lost its link to the master' }),
      startsAt: '2026-11-25T14:11:03.512913841Z',
      endsAt: '2026-11-25T14:15:03.512913841Z',
      generatorURL: 'http://prom:9090/graph?g0.expr=redis_master_link_up+%3D%3D+0&g0.tab=1',
      fingerprint: '5f2c9d1e0a7b3c44',
    });
    expect(r.value.alerts[1]?.status).toBe('resolved');
  });

  it('allows unknown top-level and alert keys (Alertmanager adds fields over versions)', () => {
    const b = realisticBody();
    b['someFutureField'] = { x: 1 };
    b.alerts[0]!['silencedBy'] = [];
    expect(parseWebhook(b).ok).toBe(true);
  });

  it('computes a fingerprint from the sorted label set when the sender omits it', () => {
    const b = realisticBody();
    delete b.alerts[0]!['fingerprint'];
    const r = parseWebhook(b);
    if (!r.ok) throw new Error(r.error);
    const fp = r.value.alerts[0]?.fingerprint;
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    expect(fp).toBe(fingerprintLabels(r.value.alerts[0]!.labels));
    expect(fingerprintLabels({ b: '2', a: '1' })).toBe(fingerprintLabels({ a: '1', b: '2' }));
    expect(fingerprintLabels({ a: '1', b: '2' })).not.toBe(fingerprintLabels({ a: '12', b: '' }));
  });

  it("drops Go's zero time in endsAt", () => {
    const b = realisticBody();
    b.alerts[0]!['endsAt'] = '0001-01-01T00:00:00Z';
    const r = parseWebhook(b);
    if (!r.ok) throw new Error(r.error);
    expect(r.value.alerts[0]).not.toHaveProperty('endsAt');
  });

  it.each([
    ['a missing alertname', (b: ReturnType<typeof realisticBody>) => delete (b.alerts[0]!['labels'] as Record<string, unknown>)['alertname'], 'alerts[0].labels.alertname: required'],
    ['a non-string label value', (b: ReturnType<typeof realisticBody>) => ((b.alerts[1]!['labels'] as Record<string, unknown>)['master_port'] = 6379), 'alerts[1].labels.master_port: expected string, received number'],
    ['a wrong version', (b: ReturnType<typeof realisticBody>) => (b['version'] = '3'), 'version: '],
    ['a bad alert status', (b: ReturnType<typeof realisticBody>) => (b.alerts[0]!['status'] = 'pending'), 'alerts[0].status: '],
    ['a bad startsAt', (b: ReturnType<typeof realisticBody>) => (b.alerts[1]!['startsAt'] = 'yesterday'), 'alerts[1].startsAt: '],
    ['a missing groupKey', (b: ReturnType<typeof realisticBody>) => delete b['groupKey'], 'groupKey: required'],
    ['a label with a dotted name', (b: ReturnType<typeof realisticBody>) => ((b.alerts[0]!['labels'] as Record<string, unknown>)['k8s.pod'] = null), 'alerts[0].labels["k8s.pod"]: expected string, received null'],
  ])('names the JSON path for %s', (_name, mutate, expected) => {
    const b = realisticBody();
    mutate(b);
    const r = parseWebhook(b);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.startsWith(expected)).toBe(true);
  });

  it('rejects non-objects at the root', () => {
    expect(parseWebhook([])).toEqual({ ok: false, error: 'body: expected object, received array' });
    expect(parseWebhook(null).ok).toBe(false);
  });

  it(`rejects more than ${MAX_ALERTS_PER_BODY} alerts`, () => {
    const b = realisticBody();
    const one = b.alerts[0]!;
    b.alerts = Array.from({ length: MAX_ALERTS_PER_BODY + 1 }, () => one);
    const r = parseWebhook(b);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/^alerts: /);
    b.alerts = b.alerts.slice(0, MAX_ALERTS_PER_BODY);
    expect(parseWebhook(b).ok).toBe(true);
  });
});

describe('formatPath', () => {
  it('writes JavaScript-style paths', () => {
    expect(formatPath(['alerts', 3, 'labels', 'alertname'])).toBe('alerts[3].labels.alertname');
    expect(formatPath([])).toBe('body');
    expect(formatPath(['labels', 'a b'])).toBe('labels["a b"]');
  });
});

describe('issue 12 #5: what an alert may carry into the store is bounded', () => {
  function withAlert(patch: (a: Record<string, unknown> & { labels: Record<string, string>; annotations: Record<string, string> }) => void): unknown {
    const body = realisticBody();
    const a = body.alerts[0] as Record<string, unknown> & { labels: Record<string, string>; annotations: Record<string, string> };
    patch(a);
    return body;
  }
  const errorOf = (raw: unknown): string => {
    const r = parseWebhook(raw);
    return r.ok ? 'accepted' : r.error;
  };

  it('label values are counted in UTF-8 bytes, up to 4 KiB', () => {
    expect(errorOf(withAlert((a) => void (a.labels['team'] = 'é'.repeat(LIMITS.labelValueBytes / 2))))).toBe('accepted');
    expect(errorOf(withAlert((a) => void (a.labels['team'] = 'é'.repeat(LIMITS.labelValueBytes / 2 + 1))))).toBe('alerts[0].labels.team: label value of 4098 bytes (at most 4096)');
  });

  it('label names up to 256 bytes, at most 64 labels, generatorURL up to 4 KiB', () => {
    expect(errorOf(withAlert((a) => void (a.labels['n'.repeat(257)] = 'v')))).toBe(`alerts[0].labels.${'n'.repeat(257)}: label name of 257 bytes (at most 256)`);
    expect(
      errorOf(
        withAlert((a) => {
          for (let i = Object.keys(a.labels).length; i < LIMITS.labels; i++) a.labels[`l${i}`] = 'v';
        }),
      ),
    ).toBe('accepted');
    expect(
      errorOf(
        withAlert((a) => {
          for (let i = Object.keys(a.labels).length; i <= LIMITS.labels; i++) a.labels[`l${i}`] = 'v';
        }),
      ),
    ).toBe('alerts[0].labels: 65 labels (at most 64)');
    expect(errorOf(withAlert((a) => void (a['generatorURL'] = `http://p/${'g'.repeat(LIMITS.urlBytes)}`)))).toBe('alerts[0].generatorURL: longer than 4096 bytes');
  });

  it('annotations up to 16 KiB in total (names and values)', () => {
    expect(
      errorOf(
        withAlert((a) => {
          a.annotations = { a: 'x'.repeat(8000), b: 'y'.repeat(8000) };
        }),
      ),
    ).toBe('accepted');
    expect(
      errorOf(
        withAlert((a) => {
          a.annotations = { a: 'x'.repeat(8000), b: 'y'.repeat(8000), c: 'z'.repeat(400) };
        }),
      ),
    ).toBe('alerts[0].annotations: annotations of 16403 bytes in total (at most 16384)');
  });
});
