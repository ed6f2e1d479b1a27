/**
 * Waiting on incidents and preparing targets, shared by the integration tests: poll the engine's
 * public API (never its keys), and put a throwaway target under real memory pressure.
 */
import type { Redis } from 'ioredis';
import type { App } from '../../src/app.js';
import type { IncidentDetail, TimelineEntry } from '../../src/engine/types.js';
import { fillMemory } from './redis-server.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until the incident is in one of `states`; the error says where it is instead. */
export async function waitState(a: App, id: string, states: readonly string[], ms = 30_000): Promise<IncidentDetail> {
  const stop = Date.now() + ms;
  for (;;) {
    const inc = await a.engine.getIncident(id).catch(() => undefined);
    if (inc && states.includes(inc.state)) return inc;
    if (Date.now() > stop) throw new Error(`incident ${id} is ${inc?.state} (${inc?.outcome ?? ''}), expected ${states.join('|')}`);
    await sleep(50);
  }
}

/** Wait for the incident an alert fingerprint opened (or joined). */
export async function waitIncidentFor(a: App, fp: string, ms = 15_000): Promise<string> {
  const stop = Date.now() + ms;
  for (;;) {
    const hit = (await a.engine.listIncidents({ limit: 200 })).find((i) => i.fingerprints.includes(fp));
    if (hit) return hit.id;
    if (Date.now() > stop) throw new Error(`no incident for ${fp}`);
    await sleep(50);
  }
}

/** The timeline once its closing entry (`incident.<final state>`) is there. */
export async function closedTimeline(a: App, id: string, ms = 10_000): Promise<TimelineEntry[]> {
  const stop = Date.now() + ms;
  for (;;) {
    const tl = (await a.engine.getTimeline(id)) ?? [];
    if (tl.some((e) => /^incident\.(resolved|completed|escalated|cancelled)$/.test(e.kind))) return tl;
    if (Date.now() > stop) throw new Error(`incident ${id}: no closing timeline entry in ${tl.map((e) => e.kind).join(', ')}`);
    await sleep(50);
  }
}

/** Reset a throwaway target to `maxmemory` bytes, noeviction, ~90% full (mostly keys without TTL). */
export async function pressure(c: Redis, maxmemory: number): Promise<void> {
  await c.flushall(); // only ever a test's own throwaway server
  await c.config('SET', 'maxmemory', String(maxmemory));
  await c.config('SET', 'maxmemory-policy', 'noeviction');
  let used = 0;
  let i = 0;
  while (used < maxmemory * 0.88) {
    await fillMemory(c, { keys: 2000, valueBytes: 1000, prefix: `session:${i++}`, ttlShare: 0.05 });
    used = Number(/used_memory:(\d+)/.exec(await c.info('memory'))?.[1] ?? 0);
  }
}
