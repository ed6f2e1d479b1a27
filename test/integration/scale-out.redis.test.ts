/**
 * Issue 12, scale-out: three worker processes and two HTTP processes on one store; 200 incidents
 * over 20 targets, approved through both HTTP doors; one worker is killed with SIGKILL midway.
 * Everything completes, each incident has exactly one Slack root message, and the per-target lock
 * never lets two remediations of one target overlap (from the timelines' timestamps).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScannedApp, post, testConfigText, testPrefix } from '../helpers/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import type { TimelineEntry } from '../../src/engine/types.js';
import type { TestTarget } from '../helpers/app.js';
import { startFakeSlack } from '../helpers/fake-slack.js';
import type { FakeSlack } from '../helpers/fake-slack.js';
import { stopChild, track, waitExit } from '../helpers/processes.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'redis-runbooks.js');
const RUNBOOKS = resolve(import.meta.dirname, '..', 'fixtures', 'runbooks-scale');
const TARGETS = 20;
const PER_TARGET = 10;
const SECRET = 'scale-signing-secret-0123456789';

let store: RedisProcess;
let target: RedisProcess;
let fake: FakeSlack;
const doors: App[] = [];
const workers: ChildProcess[] = [];
let configText = '';
const dir = mkdtempSync(join(tmpdir(), 'rr-scale-'));

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startRedis({});
  await target.client().config('SET', 'slowlog-log-slower-than', '10000');
  fake = await startFakeSlack();
  const targets: Record<string, TestTarget> = {};
  for (let t = 0; t < TARGETS; t++) targets[`t${t}`] = { endpoints: [`${target.host}:${target.port}`], role: 'store' };
  configText = `${testConfigText({ storeUrl: store.url, prefix: testPrefix(), targets, runbooksDir: RUNBOOKS, token: 'tok', engineYaml: '  circuitBreaker: { max: 1000, window: 1h }' })}
slack:
  botToken: \${SLACK_BOT_TOKEN}
  signingSecret: \${SLACK_SIGNING_SECRET}
  defaultChannel: C0SCALE
  apiUrl: ${fake.apiUrl}
`;
  const env = { SLACK_BOT_TOKEN: fake.token, SLACK_SIGNING_SECRET: SECRET };
  const cfgFile = join(dir, 'scale.yaml');
  writeFileSync(cfgFile, configText);
  for (let i = 0; i < 3; i++) {
    workers.push(track(spawn(process.execPath, [BIN, 'worker', '--config', cfgFile], { stdio: 'ignore', env: { ...process.env, ...env, LOG_LEVEL: 'silent' } })));
  }
  for (let i = 0; i < 2; i++) {
    const config = parseConfig(configText, '<scale>', env, { baseDir: process.cwd() });
    doors.push(await createScannedApp(config, { http: true, worker: false }));
  }
}, 90_000);

afterAll(async () => {
  for (const w of workers) await stopChild(w);
  for (const d of doors) await d.close().catch(() => undefined);
  await fake?.close();
  await target?.stop();
  await store?.stop();
});

describe('issue 12: scale-out', () => {
  it('3 workers + 2 HTTP doors, 200 incidents over 20 targets, a worker killed midway: all complete, one root message each, no overlapping remediations per target', async () => {
    const [d0, d1] = doors as [App, App];
    const url = (i: number): string => (i % 2 === 0 ? d0 : d1).http?.url ?? '';
    const ids: string[] = [];
    for (let k = 0; k < TARGETS * PER_TARGET; k++) {
      const r = await post(`${url(k)}/api/runs`, { runbook: 'scale-bump', target: `t${k % TARGETS}`, dryRun: false, by: 'alice' }, 'tok');
      expect(r.status).toBe(202);
      ids.push((r.json as { incidentId: string }).incidentId);
    }
    const approved = new Set<string>();
    let killed = false;
    const deadline = Date.now() + 240_000;
    for (;;) {
      const list = await d0.engine.listIncidents({ limit: 500 });
      const mine = list.filter((i) => ids.includes(i.id));
      for (const i of mine.filter((x) => x.state === 'awaiting_approval' && !approved.has(x.id))) {
        const r = await post(`${url(approved.size)}/api/incidents/${i.id}/approve`, { by: 'alice' }, 'tok');
        if (r.status === 200) approved.add(i.id);
      }
      const done = mine.filter((i) => ['resolved', 'escalated', 'cancelled', 'completed'].includes(i.state)).length;
      if (!killed && done >= ids.length / 2) {
        workers[0]?.kill('SIGKILL');
        expect(await waitExit(workers[0] as ChildProcess, 10_000)).toBe(true);
        killed = true;
      }
      if (done === ids.length) break;
      if (Date.now() > deadline) throw new Error(`only ${done} of ${ids.length} incidents done: ${JSON.stringify(mine.filter((i) => !['resolved', 'escalated'].includes(i.state)).slice(0, 3))}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(killed).toBe(true);
    const final = (await d0.engine.listIncidents({ limit: 500 })).filter((i) => ids.includes(i.id));
    expect(final.filter((i) => i.state !== 'resolved').map((i) => `${i.id} ${i.state} ${i.outcome ?? ''}`)).toEqual([]);

    // One Slack root message per incident (the notify jobs ran in all three workers).
    const stop = Date.now() + 60_000;
    const rootsFor = (id: string) => fake.roots().filter((m) => m.metadata?.event_payload?.['incident_id'] === id);
    while (Date.now() < stop && ids.some((id) => rootsFor(id).length === 0)) await new Promise((r) => setTimeout(r, 200));
    for (const id of ids) expect({ id, roots: rootsFor(id).length }).toEqual({ id, roots: 1 });

    // The per-target lock: remediations of one target never overlap in time.
    const timelines = new Map<string, TimelineEntry[]>();
    for (const id of ids) timelines.set(id, (await d0.engine.getTimeline(id)) ?? []);
    const overlaps: string[] = [];
    for (let t = 0; t < TARGETS; t++) {
      const spans = final
        .filter((i) => i.target === `t${t}`)
        .map((i) => {
          const tl = timelines.get(i.id) ?? [];
          const from = tl.find((e) => e.kind === 'command.intent')?.at;
          // The end: the final state, written (with the verification) before the lock is released.
          // ('lock.released' is written just after the release, so the next holder may precede it.)
          const to = tl.find((e) => e.kind === 'incident.resolved')?.at;
          return { id: i.id, from: Date.parse(from ?? ''), to: Date.parse(to ?? '') };
        })
        .sort((a, b) => a.from - b.from);
      expect(spans.filter((s) => !Number.isFinite(s.from) || !Number.isFinite(s.to)).map((s) => `${s.id}: ${(timelines.get(s.id) ?? []).map((e) => e.kind).join(' ')}`)).toEqual([]);
      for (let k = 1; k < spans.length; k++) {
        const [a, b] = [spans[k - 1], spans[k]];
        if (a && b && b.from < a.to) overlaps.push(`t${t}: ${b.id} started ${new Date(b.from).toISOString()} before ${a.id} ended ${new Date(a.to).toISOString()}`);
      }
    }
    expect(overlaps).toEqual([]);
  }, 300_000);
});
