/**
 * Sentinel parsers on replies captured from three redis-sentinel 7.0.15 processes watching a
 * primary and two replicas (test/fixtures/sentinel-*): healthy, two Sentinels stopped and the
 * primary killed, every replica at priority 0 and the primary killed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInfo } from '../../src/actions/redis/info.js';
import {
  ineligibility,
  parseCkquorum,
  parseSentinelInfo,
  parseSentinelMaster,
  parseSentinelPeers,
  parseSentinelReplicaList,
  rankEligible,
  sentinelRecord,
} from '../../src/actions/redis/sentinel-parse.js';

const text = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');
const json = (name: string): unknown => JSON.parse(text(name));

describe('SENTINEL MASTER', () => {
  it('healthy: flags master, quorum 2 of 3, no down times', () => {
    const m = parseSentinelMaster(json('sentinel-master.json'));
    expect(m).toMatchObject({ name: 'rrmaster', primary: '127.0.0.1:45789', sDown: false, oDown: false, quorum: 2, numOtherSentinels: 2, numReplicas: 2, downAfterMs: 1000, failoverTimeoutMs: 60000 });
    expect(m.sDownTimeMs).toBeNull();
    expect(m.failoverState).toBeNull();
  });
  it('alone (two peers stopped): s_down only, never o_down', () => {
    const m = parseSentinelMaster(json('sentinel-master-sdown-alone.json'));
    expect(m.flags).toEqual(['s_down', 'master', 'disconnected']);
    expect(m.sDown && !m.oDown).toBe(true);
    expect(m.sDownTimeMs).toBe(2942);
  });
  it('odown with every replica at priority 0', () => {
    const m = parseSentinelMaster(json('sentinel-master-odown.json'));
    expect(m.oDown).toBe(true);
    expect(m.oDownTimeMs).toBe(3881);
  });
  it('accepts a map reply as well as a flat array', () => {
    expect(sentinelRecord(new Map([['ip', '10.0.0.1'], ['port', '6379']]))).toEqual({ ip: '10.0.0.1', port: '6379' });
    expect(parseSentinelMaster({ ip: '10.0.0.1', port: '6379', flags: 'master' }).primary).toBe('10.0.0.1:6379');
  });
});

describe('SENTINEL REPLICAS and eligibility', () => {
  it('priority 0 on every replica: none eligible, each says why', () => {
    const m = parseSentinelMaster(json('sentinel-master-odown.json'));
    const reps = parseSentinelReplicaList(json('sentinel-replicas-priority0.json'));
    expect(reps.map((r) => `${r.node} p${r.priority} ${r.linkStatus}`)).toEqual(['127.0.0.1:40345 p0 err', '127.0.0.1:36095 p0 err']);
    expect(rankEligible(reps, m)).toEqual([]);
    expect(ineligibility(reps[0]!, m)).toEqual(['replica-priority 0']);
  });
  it('primary down, replicas fine: both eligible, ranked by offset then runid', () => {
    const m = parseSentinelMaster(json('sentinel-master-sdown-alone.json'));
    const reps = parseSentinelReplicaList(json('sentinel-replicas-master-down.json'));
    const ranked = rankEligible(reps, m);
    expect(ranked).toHaveLength(2);
    expect(ranked[0]?.offset).toBe(718442270);
  });
  it('a replica whose link has been down longer than s-down-time + 10 × down-after is too stale', () => {
    const m = parseSentinelMaster(json('sentinel-master-sdown-alone.json'));
    const [r] = parseSentinelReplicaList(json('sentinel-replicas-master-down.json'));
    expect(ineligibility({ ...r!, linkDownTimeMs: 60_000 }, m)[0]).toMatch(/too stale to elect/);
  });
  it('Sentinel still reports the old master of a replica it has not refreshed yet (INFO every 10 s)', () => {
    const reps = parseSentinelReplicaList(json('sentinel-replicas-wrong-port.json'));
    expect(reps.every((r) => r.master === '127.0.0.1:45789')).toBe(true);
  });
});

describe('SENTINEL SENTINELS, CKQUORUM, INFO sentinel', () => {
  it('stopped peers are s_down and disconnected', () => {
    const peers = parseSentinelPeers(json('sentinel-sentinels-down.json'));
    expect(peers.map((p) => [p.node, p.down, p.disconnected])).toEqual([
      ['127.0.0.1:41897', true, true],
      ['127.0.0.1:43295', true, true],
    ]);
    expect(peers[0]?.votedLeader).toBeNull();
    expect(parseSentinelPeers(json('sentinel-sentinels.json')).every((p) => !p.down)).toBe(true);
  });
  it('CKQUORUM OK and NOQUORUM', () => {
    expect(parseCkquorum(text('sentinel-ckquorum-ok.txt'))).toMatchObject({ ok: true, usable: 3, quorumReachable: true, majorityReachable: true });
    expect(parseCkquorum(text('sentinel-ckquorum-noquorum.txt'))).toMatchObject({ ok: false, usable: 1, quorumReachable: false, majorityReachable: false });
  });
  it('INFO sentinel: status per master and tilt', () => {
    expect(parseSentinelInfo(parseInfo(text('sentinel-info.txt'))['sentinel'])).toEqual({
      tilt: false,
      tiltSinceSeconds: null,
      masters: { rrmaster: { status: 'ok', address: '127.0.0.1:45789', replicas: 2, sentinels: 3 } },
    });
    expect(parseSentinelInfo(parseInfo(text('sentinel-info-odown.txt'))['sentinel']).masters['rrmaster']?.status).toBe('odown');
  });
});
