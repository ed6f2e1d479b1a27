/**
 * Proves the Alertmanager test harness end to end against the real binary:
 * API v2 alert in -> webhook (payload version 4) out, with bearer auth, firing then resolved.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAlertmanager, type AlertmanagerHandle } from '../helpers/alertmanager.js';
import { freePort, waitFor } from '../helpers/ports.js';

interface WebhookAlert {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
}
interface WebhookPayload {
  version: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupKey: string;
  truncatedAlerts: number;
  groupLabels: Record<string, string>;
  alerts: WebhookAlert[];
}
interface Received {
  method: string | undefined;
  path: string | undefined;
  headers: IncomingHttpHeaders;
  payload: WebhookPayload;
}

const TOKEN = 'harness-secret-token';
const DELIVERY_TIMEOUT_MS = 15_000;

describe('alertmanager harness (real prometheus-alertmanager)', () => {
  const received: Received[] = [];
  let receiver: Server | undefined;
  let am: AlertmanagerHandle | undefined;

  const labels = { alertname: 'RedisHarnessDown', instance: 'redis-harness:6379', severity: 'critical' };
  const startsAt = new Date(Date.now() - 60_000);

  beforeAll(async () => {
    const port = await freePort();
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          received.push({
            method: req.method,
            path: req.url,
            headers: req.headers,
            payload: JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload,
          });
          res.writeHead(200).end('ok');
        } catch {
          res.writeHead(400).end('bad json');
        }
      });
    });
    const srv = receiver;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve());
    });

    am = await startAlertmanager({
      webhookUrl: `http://127.0.0.1:${port}/hooks/alertmanager`,
      bearerToken: TOKEN,
    });
  });

  afterAll(async () => {
    await am?.stop();
    const srv = receiver;
    if (srv) {
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });

  async function waitForNotification(status: 'firing' | 'resolved'): Promise<Received> {
    let found: Received | undefined;
    await waitFor(
      async () => {
        found = received.find((r) => r.payload.status === status);
        return found !== undefined;
      },
      {
        what: `a ${status} webhook from alertmanager (got ${received.length} so far)`,
        timeoutMs: DELIVERY_TIMEOUT_MS,
        intervalMs: 100,
      },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n--- alertmanager output ---\n${am?.logs() ?? ''}`);
    });
    return found!;
  }

  it('delivers a firing alert as a v4 webhook with the bearer token', async () => {
    await am!.postAlerts([
      { labels, annotations: { summary: 'harness: redis is down' }, startsAt },
    ]);
    const got = await waitForNotification('firing');

    expect(got.method).toBe('POST');
    expect(got.path).toBe('/hooks/alertmanager');
    expect(got.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(got.headers['content-type']).toMatch(/application\/json/);

    const p = got.payload;
    expect(p.version).toBe('4');
    expect(p.receiver).toBe('webhook');
    expect(p.truncatedAlerts).toBe(0);
    expect(p.groupLabels).toEqual({ alertname: labels.alertname, instance: labels.instance });
    expect(p.alerts).toHaveLength(1);
    const a = p.alerts[0]!;
    expect(a.status).toBe('firing');
    expect(a.labels.alertname).toBe('RedisHarnessDown');
    expect(a.labels).toEqual(labels);
    expect(a.annotations.summary).toBe('harness: redis is down');
    expect(a.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(new Date(a.startsAt).getTime()).toBe(startsAt.getTime());
  });

  it('delivers the resolved notification once the alert is posted with endsAt in the past', async () => {
    const firing = received.find((r) => r.payload.status === 'firing');
    expect(firing, 'firing notification from the previous test').toBeDefined();

    const endsAt = new Date(Date.now() - 1_000);
    await am!.postAlerts([{ labels, annotations: { summary: 'harness: redis is down' }, startsAt, endsAt }]);
    const got = await waitForNotification('resolved');

    expect(got.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    const p = got.payload;
    expect(p.version).toBe('4');
    expect(p.groupKey).toBe(firing!.payload.groupKey);
    expect(p.alerts).toHaveLength(1);
    const a = p.alerts[0]!;
    expect(a.status).toBe('resolved');
    expect(a.labels).toEqual(labels);
    expect(a.fingerprint).toBe(firing!.payload.alerts[0]!.fingerprint);
    expect(new Date(a.endsAt).getTime()).toBe(endsAt.getTime());
  });
});
