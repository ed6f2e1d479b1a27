/**
 * `npm run demo`: a throwaway Redis with a realistic memory problem (90% of maxmemory, most keys
 * without TTL, one key family dominating), the alert sent through the real HTTP door, the
 * memory-pressure runbook, an approval on the console, and the timeline — then every process it
 * started is stopped.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createApp } from '../app.js';
import { parseConfig } from '../config.js';
import { freePort, spawnRedisServer } from '../util/redis-server.js';
import { renderPostmortem } from '../engine/postmortem.js';
import type { Cleanup } from './cleanup.js';
import { formatPending, formatTimeline } from './format.js';
import { waitForStop } from './wait.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function say(s: string): void {
  process.stdout.write(`${s}\n`);
}

/**
 * Run the demo. Everything it starts (the throwaway Redis, the app with its embedded store, the
 * temp dir) is registered on `cleanup` as soon as it starts, so the caller can stop it all on a
 * signal too (issue 12 #6); a normal end runs the same cleanup.
 */
export async function runDemo(opts: { yes: boolean; cleanup: Cleanup }): Promise<number> {
  const { cleanup } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'redis-runbooks-demo-'));
  cleanup.add(() => {
    rmSync(dir, { recursive: true, force: true });
    say('▶ cleaned up: throwaway Redis, embedded store and temp files removed');
  });
  const port = await freePort();
  const conf = join(dir, 'redis.conf');
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsave ""\nappendonly no\nmaxmemory 64mb\nmaxmemory-policy noeviction\n`);
  await cleanup.starting(spawnRedisServer('redis-server', [conf], port), (child) => child.stop());
  try {
    const target = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 3 });
    cleanup.add(() => target.disconnect());
    say(`▶ throwaway Redis on 127.0.0.1:${port}: maxmemory 64 MiB, policy noeviction`);
    // Realistic pressure: a dominant "session:" family without TTLs, some cache keys with TTLs.
    const value = 'x'.repeat(900);
    for (let b = 0; b < 60; b++) {
      const p = target.pipeline();
      for (let i = 0; i < 1000; i++) {
        const n = b * 1000 + i;
        if (n % 10 === 0) p.set(`cache:item:${n}`, value, 'EX', 3600);
        else p.set(`session:${n}`, value);
      }
      await p.exec();
      const info = await target.info('memory');
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
      if (used > 64 * 1024 * 1024 * 0.9) break;
    }
    const info = await target.info('memory');
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
    say(`▶ filled: used_memory ${(used / 1048576).toFixed(1)} MiB = ${((used / (64 * 1048576)) * 100).toFixed(1)}% of maxmemory`);
    target.disconnect();

    const cfgText = `
http: { host: 127.0.0.1, port: 0, token: demo-token }
embedded: { dataDir: ${join(dir, 'engine')} }
runbooksDir: ${join(ROOT, 'runbooks')}
engine: { approvalTimeout: 10m }
logLevel: warn
targets:
  demo-redis:
    mode: standalone
    endpoints: ["127.0.0.1:${port}"]
    role: store
approvers:
  - { id: demo-operator, roles: [redis.dba-operator] }
`;
    const config = parseConfig(cfgText, '<demo>', {}, { baseDir: dir });
    const app = await cleanup.starting(createApp(config, { http: true, worker: true }), (a) => a.close());
    const url = app.http?.url ?? '';
    const body = {
      version: '4',
      groupKey: '{}:{alertname="RedisMemoryHigh"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'redis-runbooks',
      groupLabels: { alertname: 'RedisMemoryHigh' },
      commonLabels: { alertname: 'RedisMemoryHigh', severity: 'warning' },
      commonAnnotations: {},
      externalURL: 'http://alertmanager.demo:9093',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'RedisMemoryHigh', instance: `127.0.0.1:${port}`, job: 'redis', severity: 'warning' },
          annotations: { summary: `Redis 127.0.0.1:${port} uses ${((used / (64 * 1048576)) * 100).toFixed(0)}% of maxmemory` },
          startsAt: new Date().toISOString(),
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'http://prometheus.demo:9090/graph',
          fingerprint: 'd3m0d3m0d3m0d3m0',
        },
      ],
    };
    const res = await fetch(`${url}/webhooks/alertmanager`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer demo-token' }, body: JSON.stringify(body) });
    say(`▶ alert RedisMemoryHigh POSTed to ${url}/webhooks/alertmanager → ${res.status} ${await res.text()}`);
    let id: string | undefined;
    for (let i = 0; i < 100 && !id; i++) {
      id = (await app.engine.listIncidents({ open: true }))[0]?.id;
      if (!id) await new Promise((r) => setTimeout(r, 100));
    }
    if (!id) throw new Error('no incident opened');
    let inc = await waitForStop(app.engine, id, { timeoutMs: 120_000 });
    say(`▶ incident ${id}: ${inc?.state}\n`);
    say(formatTimeline((await app.engine.getTimeline(id)) ?? []));
    while (inc?.state === 'awaiting_approval') {
      say(`\n${formatPending(inc)}`);
      let approve = true;
      if (!opts.yes && process.stdin.isTTY) {
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const a = await rl.question('Approve? [y/N] ');
        rl.close();
        approve = /^y(es)?$/i.test(a.trim());
      } else {
        say('Approve? [y/N] y   (no terminal or --yes: approving as demo-operator)');
      }
      // alternatives offered side by side: the demo takes the bounded raise (one approver, reversible)
      const option = inc.pendingApproval?.options?.find((o) => o.remediation === 'raise-maxmemory')?.option;
      const r = approve ? await app.engine.approve(id, 'demo-operator', 'cli', { option }) : await app.engine.reject(id, 'demo-operator', 'cli', 'declined in demo');
      say(`▶ ${r.ok ? r.message : r.message}`);
      inc = await waitForStop(app.engine, id, { timeoutMs: 300_000 });
    }
    const tl = (await app.engine.getTimeline(id)) ?? [];
    say(`\n▶ final state: ${inc?.state} — ${inc?.outcome ?? ''}\n`);
    say(formatTimeline(tl));
    if (inc) {
      const md = join(ROOT, '.data', `demo-postmortem-${id}.md`);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dirname(md), { recursive: true });
      writeFileSync(md, renderPostmortem(inc, tl));
      say(`\n▶ postmortem draft written to ${md}`);
    }
    return inc?.state === 'resolved' ? 0 : 1;
  } finally {
    await cleanup.run();
  }
}
