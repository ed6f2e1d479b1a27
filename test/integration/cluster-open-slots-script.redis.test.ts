/**
 * deploy/prometheus/cluster-open-slots.lua, the redis_exporter `--script` behind the
 * RedisClusterOpenSlots alert, run the way the exporter runs it (EVAL_RO with no keys, the reply
 * read as key/value pairs of numbers) on a real two-master cluster with a slot left open, then
 * closed, and on a node without cluster support.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort, startRedis, waitFor } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const DIR = resolve(import.meta.dirname, '..', '..', 'deploy', 'prometheus');
const SCRIPT = readFileSync(join(DIR, 'cluster-open-slots.lua'), 'utf8');

let a: RedisProcess;
let b: RedisProcess;
let plain: RedisProcess;

/** What redis_exporter does with the script: EVAL_RO <script> 0, pairs → numbers. */
async function scrape(node: RedisProcess): Promise<Record<string, number>> {
  const reply = (await node.client().call('EVAL_RO', SCRIPT, '0')) as string[];
  expect(reply.length % 2).toBe(0);
  const out: Record<string, number> = {};
  for (let i = 0; i < reply.length; i += 2) {
    const v = Number(reply[i + 1]);
    expect(Number.isFinite(v), `value of ${reply[i]}`).toBe(true);
    out[String(reply[i])] = v;
  }
  return out;
}

/** The `key=~"…"` selector of the RedisClusterOpenSlots rule, as an anchored RegExp. */
function ruleKeyPattern(): RegExp {
  const doc = parse(readFileSync(join(DIR, 'redis-rules.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  const rule = doc.groups.flatMap((g) => g.rules).find((r) => r.alert === 'RedisClusterOpenSlots');
  const m = /key=~"([^"]+)"/.exec(rule?.expr ?? '');
  if (m?.[1] === undefined) throw new Error('RedisClusterOpenSlots has no key=~ selector');
  return new RegExp(`^(?:${m[1]})$`);
}

const busPorts = new Map<RedisProcess, number>();

async function clusterNode(): Promise<RedisProcess> {
  // An explicit bus port (port + 10000 overflows for ephemeral ports); MEET must then name it.
  const bus = await freePort();
  const node = await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(bus), '--cluster-node-timeout', '3000'] });
  busPorts.set(node, bus);
  return node;
}

/** A hash tag whose slot is owned by `a` (0-8191). */
async function tagInA(): Promise<{ tag: string; slot: number }> {
  for (let i = 0; ; i++) {
    const slot = Number(await a.client().call('CLUSTER', 'KEYSLOT', `{t${i}}`));
    if (slot <= 8191) return { tag: `{t${i}}`, slot };
  }
}

beforeAll(async () => {
  [a, b, plain] = await Promise.all([clusterNode(), clusterNode(), startRedis()]);
  await a.client().call('CLUSTER', 'ADDSLOTSRANGE', '0', '8191');
  await b.client().call('CLUSTER', 'ADDSLOTSRANGE', '8192', '16383');
  await a.client().call('CLUSTER', 'MEET', b.host, String(b.port), String(busPorts.get(b)));
  for (const n of [a, b]) {
    await waitFor(async () => /cluster_state:ok/.test(String(await n.client().call('CLUSTER', 'INFO'))), 20_000, `cluster_state:ok on ${n.port}`);
  }
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), plain?.stop()]);
});

describe('cluster-open-slots.lua (redis_exporter --script)', () => {
  it('reports a clean cluster node as 0 open slots and no per-slot series', async () => {
    const m = await scrape(a);
    expect(m).toEqual({ cluster_enabled: 1, cluster_open_slots: 0, cluster_migrating_slots: 0, cluster_importing_slots: 0 });
  });

  it('names the open slot on both sides with the keys each side holds, and the rule selects those series', async () => {
    const { tag, slot } = await tagInA();
    const idA = String(await a.client().call('CLUSTER', 'MYID'));
    const idB = String(await b.client().call('CLUSTER', 'MYID'));
    for (let i = 0; i < 3; i++) await a.client().set(`${tag}:k${i}`, 'v');
    await b.client().call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', idA);
    await a.client().call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', idB);
    // one key moved, two left: a half-done reshard
    expect(await a.client().call('MIGRATE', b.host, String(b.port), '', '0', '5000', 'KEYS', `${tag}:k0`)).toBe('OK');

    const ma = await scrape(a);
    const mb = await scrape(b);
    expect(ma).toEqual({ cluster_enabled: 1, cluster_open_slots: 1, cluster_migrating_slots: 1, cluster_importing_slots: 0, [`slot_${slot}_migrating`]: 2 });
    expect(mb).toEqual({ cluster_enabled: 1, cluster_open_slots: 1, cluster_migrating_slots: 0, cluster_importing_slots: 1, [`slot_${slot}_importing`]: 1 });

    const selected = ruleKeyPattern();
    expect(selected.test(`slot_${slot}_migrating`)).toBe(true);
    expect(selected.test(`slot_${slot}_importing`)).toBe(true);
    for (const k of ['cluster_open_slots', 'cluster_enabled', 'cluster_migrating_slots']) expect(selected.test(k), k).toBe(false);

    // closed again: the per-slot series disappear (so the alert resolves)
    await a.client().call('CLUSTER', 'SETSLOT', String(slot), 'STABLE');
    await b.client().call('CLUSTER', 'SETSLOT', String(slot), 'STABLE');
    expect(await scrape(a)).toEqual({ cluster_enabled: 1, cluster_open_slots: 0, cluster_migrating_slots: 0, cluster_importing_slots: 0 });
    expect(await scrape(b)).toEqual({ cluster_enabled: 1, cluster_open_slots: 0, cluster_migrating_slots: 0, cluster_importing_slots: 0 });
  });

  it('on a node without cluster support it returns cluster_enabled 0 instead of failing the scrape', async () => {
    expect(await scrape(plain)).toEqual({ cluster_enabled: 0 });
  });
});
