/**
 * CLUSTER NODES / CLUSTER INFO parsing and the cluster analysis, on output captured from real
 * 7.0 clusters started by test/helpers/cluster.ts (see test/fixtures/README.md): a slot opened by
 * hand (source `[13513->-…]`, destination `[13513-<-…]`), and a primary killed while its replica
 * had `cluster-replica-no-failover yes`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inRanges, keyHashSlot, parseClusterInfo, parseClusterNodesFull, parseSlotField, rangesText, toRanges } from '../../src/actions/redis/cluster-parse.js';
import type { NodeView } from '../../src/actions/redis/cluster-views.js';
import { consensusOwners, findOpenSlot, openSlots, primaries, uncoveredSlots } from '../../src/actions/redis/cluster-views.js';
import { analyse } from '../../src/actions/redis/cluster-view.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');

const SRC = '18c08ef2eda695f47e6228c485f8f7956b51f7ba'; // 127.0.0.1:40119, owner of 10923-16383
const DST = '468d71ce374b93aeb107508168eee15bba67eadb'; // 127.0.0.1:39703
const FAILED = '8658b3702a10c8c9c06d2450bf1c8a68e432c8f5'; // 127.0.0.1:38955, 0-5460

function view(node: string, nodesFile: string, infoFile = 'cluster-info-ok.txt'): NodeView {
  const entries = parseClusterNodesFull(fixture(nodesFile));
  return { node, ok: true, entries, info: parseClusterInfo(fixture(infoFile)), self: entries.find((e) => e.myself) ?? null };
}

const down = (node: string): NodeView => ({ node, ok: false, error: { code: 'target_unreachable', message: 'connect ECONNREFUSED' }, entries: [], info: null, self: null });

describe('CLUSTER NODES', () => {
  it('parses every field of a migrating source line, marker included', () => {
    const nodes = parseClusterNodesFull(fixture('cluster-nodes-migrating-source.txt'));
    expect(nodes).toHaveLength(6);
    const self = nodes.find((n) => n.myself);
    expect(self).toMatchObject({
      id: SRC,
      addr: '127.0.0.1:40119',
      host: '127.0.0.1',
      port: 40119,
      busPort: 38337,
      hostname: null,
      master: true,
      replica: false,
      masterId: null,
      pingSent: 0,
      pongRecv: 1796293720000,
      configEpoch: 3,
      linkState: 'connected',
      slots: [{ start: 10923, end: 16383 }],
      slotCount: 5461,
      markers: [{ slot: 13513, state: 'migrating', peerId: DST }],
    });
    const rep = nodes.find((n) => n.id === '7a4e534ad3f33e2285d46ff404b0c06c8b164b62');
    expect(rep).toMatchObject({ replica: true, master: false, masterId: SRC, slots: [], markers: [], configEpoch: 3 });
    // markers only ever appear on the node's own line
    expect(nodes.filter((n) => !n.myself).every((n) => n.markers.length === 0)).toBe(true);
  });

  it('parses the importing marker on the destination', () => {
    const self = parseClusterNodesFull(fixture('cluster-nodes-importing-destination.txt')).find((n) => n.myself);
    expect(self?.id).toBe(DST);
    expect(self?.markers).toEqual([{ slot: 13513, state: 'importing', peerId: SRC }]);
    expect(rangesText(self?.slots ?? [])).toBe('5461-10922');
  });

  it('parses fail, disconnected, nofailover and the pending ping of a killed primary', () => {
    const nodes = parseClusterNodesFull(fixture('cluster-nodes-master-fail-nofailover.txt'));
    const dead = nodes.find((n) => n.id === FAILED);
    expect(dead).toMatchObject({ fail: true, pfail: false, master: true, linkState: 'disconnected', pingSent: 1796293720687, slotCount: 5461 });
    const self = nodes.find((n) => n.myself);
    expect(self).toMatchObject({ replica: true, nofailover: true, masterId: FAILED, flags: ['myself', 'slave', 'nofailover'] });
  });

  it('parses slot fields, fail? flags, hostnames and CRLF', () => {
    expect(parseSlotField('5461')).toEqual({ start: 5461, end: 5461 });
    expect(parseSlotField('0-5460')).toEqual({ start: 0, end: 5460 });
    expect(parseSlotField('[3300->-461152d73ea5b79aa7ca1879f9881f6ca56010c0]')).toEqual({ slot: 3300, state: 'migrating', peerId: '461152d73ea5b79aa7ca1879f9881f6ca56010c0' });
    expect(parseSlotField('16384')).toBeNull();
    const line = 'abc 10.0.0.1:6379@16379,redis-0.example master,fail? - 1700000000000 1699999999000 4 connected 0-10 12\r\n';
    const [n] = parseClusterNodesFull(line);
    expect(n).toMatchObject({ hostname: 'redis-0.example', pfail: true, fail: false, slotCount: 12, configEpoch: 4 });
    expect(toRanges([5, 3, 4, 9, 10, 1])).toEqual([{ start: 1, end: 1 }, { start: 3, end: 5 }, { start: 9, end: 10 }]);
    expect(inRanges([{ start: 3, end: 5 }], 5)).toBe(true);
  });
});

describe('CLUSTER INFO', () => {
  it('parses a healthy and a failed cluster', () => {
    expect(parseClusterInfo(fixture('cluster-info-ok.txt'))).toMatchObject({ state: 'ok', slotsAssigned: 16384, slotsOk: 16384, slotsFail: 0, knownNodes: 6, size: 3, currentEpoch: 6, myEpoch: 3 });
    const fail = parseClusterInfo(fixture('cluster-info-fail.txt'));
    expect(fail).toMatchObject({ state: 'fail', slotsOk: 10923, slotsFail: 5461, slotsPfail: 0 });
    expect(fail.raw['cluster_stats_messages_fail_received']).toBe('1');
  });
});

describe('cluster analysis', () => {
  const migration = [
    view('127.0.0.1:40119', 'cluster-nodes-migrating-source.txt'),
    view('127.0.0.1:39703', 'cluster-nodes-importing-destination.txt'),
    view('127.0.0.1:38955', 'cluster-nodes-migration-other.txt'),
  ];

  it('finds the open slot with both ends, their ids and the agreed owner', () => {
    const open = openSlots(migration);
    expect(open).toEqual([
      {
        slot: 13513,
        source: '127.0.0.1:40119',
        sourceId: SRC,
        destination: '127.0.0.1:39703',
        destinationId: DST,
        migrating: true,
        importing: true,
        ownerId: SRC,
        owner: '127.0.0.1:40119',
        markers: ['127.0.0.1:40119 MIGRATING → 127.0.0.1:39703', '127.0.0.1:39703 IMPORTING ← 127.0.0.1:40119'],
      },
    ]);
    // only the destination's marker left (the source was made STABLE): both ends still known
    const half = findOpenSlot([migration[1]!, view('127.0.0.1:38955', 'cluster-nodes-migration-other.txt')]);
    expect(half).toMatchObject({ slot: 13513, source: '127.0.0.1:40119', destination: '127.0.0.1:39703', migrating: false, importing: true });
    expect(findOpenSlot(migration, 1)).toBeUndefined();
  });

  it('summarises a healthy cluster with one open slot', () => {
    const a = analyse(migration);
    expect(a.openSlotCount).toBe(1);
    expect(a.ownersAgree).toBe(true);
    expect(a.epochsAgree).toBe(true);
    expect(a.statesOk).toBe(true);
    expect(a.uncoveredSlotCount).toBe(0);
    expect(a.failedNodes).toEqual([]);
    expect(a.primaries.map((p) => [p.node, p.slots, p.replicas.length])).toEqual([
      ['127.0.0.1:38955', '0-5460', 1],
      ['127.0.0.1:39703', '5461-10922', 1],
      ['127.0.0.1:40119', '10923-16383', 1],
    ]);
    expect(a.nodes.find((n) => n.node === '127.0.0.1:40119')?.markers).toEqual(['13513 MIGRATING → 127.0.0.1:39703']);
  });

  it('sees the failed primary, its uncovered slots and the states of the survivors', () => {
    const views = [
      view('127.0.0.1:43925', 'cluster-nodes-master-fail-nofailover.txt', 'cluster-info-fail.txt'),
      down('127.0.0.1:38955'),
    ];
    expect(primaries(views).find((p) => p.id === FAILED)).toMatchObject({ failed: true, reachable: false, slots: '0-5460', replicas: ['127.0.0.1:43925'] });
    expect(rangesText(uncoveredSlots(views))).toBe('0-5460');
    const a = analyse(views);
    expect(a.statesOk).toBe(false);
    expect(a.minSlotsOk).toBe(10923);
    expect(a.unreachable).toEqual(['127.0.0.1:38955']);
    expect(a.failedNodes).toEqual([{ node: '127.0.0.1:38955', id: FAILED, flags: 'master,fail', role: 'master', slots: '0-5460', seenBy: ['127.0.0.1:43925'] }]);
  });

  it('notices nodes that disagree on an owner', () => {
    const before = view('127.0.0.1:38955', 'cluster-nodes-migration-other.txt');
    const moved = parseClusterNodesFull(fixture('cluster-nodes-migration-other.txt').replace('10923-16383', '10923-13512 13514-16383').replace('5461-10922', '5461-10922 13513'));
    const after: NodeView = { ...before, node: '127.0.0.1:41697', entries: moved };
    expect(consensusOwners([before, after])[13513]).toBeUndefined();
    const a = analyse([before, after]);
    expect(a.ownersAgree).toBe(false);
    expect(a.disagreements).toEqual([{ slots: '13513', views: { '127.0.0.1:38955': '127.0.0.1:40119', '127.0.0.1:41697': '127.0.0.1:39703' } }]);
  });
});

describe('key hash slot', () => {
  it('matches CLUSTER KEYSLOT (hash tags included)', () => {
    expect(keyHashSlot('{mig}')).toBe(13513); // captured with the fixtures
    expect(keyHashSlot('{mig}:7')).toBe(13513);
    expect(keyHashSlot('foo')).toBe(12182);
    expect(keyHashSlot('{}foo')).toBe(keyHashSlot('{}foo'));
    expect(keyHashSlot('bar')).toBe(5061);
  });
});
