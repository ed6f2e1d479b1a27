/**
 * Parsers on real output captured from redis-server / redis-sentinel 7.0.15 (test/fixtures/README.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  errorCount,
  infoRole,
  listedReplicas,
  num,
  optNum,
  parseInfo,
  parseKeyspace,
  parseKeyspaceLine,
  parseKv,
  parseMemoryDoctor,
  str,
} from '../../src/actions/redis/info.js';
import { isHealthyClusterNode, parseClusterNodes, parseSentinelReplicas } from '../../src/actions/redis/topology.js';
import { configReplyToRecord } from '../../src/actions/redis/config-get.js';
import { computeNewMaxmemory } from '../../src/actions/redis/maxmemory-raise.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');
const MiB = 1024 * 1024;

describe('parseInfo on a full INFO reply', () => {
  const info = parseInfo(fixture('info-full.txt'));

  it('splits CRLF lines into lower-cased sections', () => {
    expect(fixture('info-full.txt')).toContain('\r\n');
    expect(Object.keys(info)).toEqual(
      expect.arrayContaining(['server', 'clients', 'memory', 'persistence', 'stats', 'replication', 'cpu', 'errorstats', 'keyspace']),
    );
    expect(info['server']?.['redis_version']).toBe('7.0.15');
    for (const section of Object.values(info)) for (const v of Object.values(section)) expect(v).not.toMatch(/\r/);
  });

  it('keeps values that contain colons whole', () => {
    expect(info['server']?.['executable']).toMatch(/^\//);
  });

  it('reads numbers, ratios and empty values', () => {
    const mem = info['memory'];
    expect(num(mem, 'used_memory')).toBe(18641992);
    expect(num(mem, 'maxmemory')).toBe(18640254);
    expect(num(mem, 'mem_fragmentation_ratio')).toBe(1.58);
    expect(num(mem, 'used_memory_peak_perc')).toBeGreaterThan(90);
    expect(num(mem, 'no_such_field')).toBe(0);
    expect(num(mem, 'no_such_field', -1)).toBe(-1);
    expect(optNum(mem, 'mem_allocator')).toBeNull();
    expect(str(mem, 'maxmemory_policy')).toBe('allkeys-lru');
    expect(str(info['server'], 'config_file')).toBeNull();
  });

  it('reads errorstats counts (OOM after writes above maxmemory with noeviction)', () => {
    expect(errorCount(info['errorstats'], 'OOM')).toBe(7);
    expect(errorCount(info['errorstats'], 'NOAUTH')).toBe(0);
    expect(num(info['stats'], 'evicted_keys')).toBeGreaterThan(0);
  });

  it('reads keyspace lines of several databases', () => {
    expect(parseKeyspace(info['keyspace'])).toEqual({
      db0: { keys: 59538, expires: 2730, avgTtl: 3599645 },
      db2: { keys: 500, expires: 500, avgTtl: 3599950 },
    });
  });
});

describe('section replies', () => {
  it('INFO memory alone', () => {
    const mem = parseInfo(fixture('info-memory.txt'))['memory'];
    expect(num(mem, 'used_memory')).toBe(18640384);
    expect(num(mem, 'total_system_memory')).toBeGreaterThan(0);
    expect(num(mem, 'allocator_frag_ratio')).toBe(1.02);
    expect(num(mem, 'mem_clients_normal')).toBe(22272);
  });

  it('INFO keyspace alone, and the line parser', () => {
    expect(Object.keys(parseKeyspace(parseInfo(fixture('info-keyspace.txt'))['keyspace']))).toEqual(['db0', 'db2']);
    expect(parseKeyspaceLine('db0:keys=63001,expires=3000,avg_ttl=3599900')).toEqual({
      db: 'db0',
      stats: { keys: 63001, expires: 3000, avgTtl: 3599900 },
    });
    expect(parseKeyspaceLine('nonsense')).toBeNull();
  });

  it('parseKv', () => {
    expect(parseKv('ip=127.0.0.1,port=6380,state=online,offset=0,lag=0')).toEqual({
      ip: '127.0.0.1',
      port: '6380',
      state: 'online',
      offset: '0',
      lag: '0',
    });
    expect(parseKv('')).toEqual({});
  });

  it("INFO replication: a primary's slaveN lines and a replica's link", () => {
    const primary = parseInfo(fixture('info-replication-primary.txt'))['replication'];
    expect(infoRole(primary)).toBe('primary');
    const listed = listedReplicas(primary);
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatchObject({ host: '127.0.0.1', state: 'online', lag: 0 });
    expect(listed[0]?.port).toBeGreaterThan(0);
    const replica = parseInfo(fixture('info-replication-replica.txt'))['replication'];
    expect(infoRole(replica)).toBe('replica');
    expect(str(replica, 'master_link_status')).toBe('up');
    expect(listedReplicas(replica)).toEqual([]);
  });
});

describe('parseMemoryDoctor', () => {
  it('empty instance: no judgement, no issues', () => {
    expect(parseMemoryDoctor(fixture('memory-doctor-empty.txt'))).toEqual({ healthy: true, issues: [], empty: true });
  });

  it('healthy instance', () => {
    const text = fixture('memory-doctor-healthy.txt');
    expect(text).toMatch(/^Hi Sam, I can't find any memory issue/);
    expect(parseMemoryDoctor(text)).toEqual({ healthy: true, issues: [], empty: false });
  });

  it('after deleting 75% of 400k keys: peak, RSS and allocator fragmentation', () => {
    expect(parseMemoryDoctor(fixture('memory-doctor-issues.txt'))).toEqual({
      healthy: false,
      issues: ['Peak memory', 'High total RSS', 'High allocator fragmentation'],
      empty: false,
    });
  });
});

describe('CLUSTER NODES', () => {
  it('parses a healthy 3+3 cluster', () => {
    const nodes = parseClusterNodes(fixture('cluster-nodes.txt'));
    expect(nodes).toHaveLength(6);
    const masters = nodes.filter((n) => n.flags.includes('master'));
    expect(masters).toHaveLength(3);
    expect(masters.every((m) => m.masterId === null && m.slots.length === 1)).toBe(true);
    const replicas = nodes.filter((n) => n.flags.includes('slave'));
    expect(replicas.every((r) => masters.some((m) => m.id === r.masterId))).toBe(true);
    expect(nodes.filter((n) => n.flags.includes('myself'))).toHaveLength(1);
    expect(nodes.every((n) => n.host === '127.0.0.1' && n.port > 0 && n.linkState === 'connected')).toBe(true);
  });

  it('a failed master is not healthy; after FAILOVER FORCE its replica is a master', () => {
    const failed = parseClusterNodes(fixture('cluster-nodes-master-fail.txt'));
    const dead = failed.find((n) => n.flags.includes('fail'));
    expect(dead).toMatchObject({ linkState: 'disconnected' });
    expect(dead && isHealthyClusterNode(dead)).toBe(false);
    expect(failed.filter(isHealthyClusterNode)).toHaveLength(5);
    const after = parseClusterNodes(fixture('cluster-nodes-after-failover.txt'));
    const masters = after.filter((n) => isHealthyClusterNode(n) && n.flags.includes('master'));
    expect(masters).toHaveLength(3);
    expect(after.find((n) => n.id === dead?.id)?.slots).toEqual([]);
  });
});

describe('Sentinel and CONFIG GET replies (as ioredis 6 returns them over RESP3)', () => {
  it('SENTINEL replicas', () => {
    const recs = parseSentinelReplicas(JSON.parse(fixture('sentinel-replicas.json')));
    expect(recs).toHaveLength(2);
    expect(recs[0]).toMatchObject({ ip: '127.0.0.1', flags: 'slave', 'master-link-status': 'ok' });
    expect(Number(recs[0]?.['port'])).toBeGreaterThan(0);
    expect(parseSentinelReplicas(null)).toEqual([]);
  });

  it('SENTINEL get-master-addr-by-name', () => {
    const addr = JSON.parse(fixture('sentinel-get-master-addr.json')) as string[];
    expect(addr).toHaveLength(2);
    expect(JSON.parse(fixture('sentinel-get-master-addr-unknown.json'))).toBeNull();
  });

  it('CONFIG GET with several parameters', () => {
    expect(configReplyToRecord(JSON.parse(fixture('config-get.json')))).toEqual({
      'maxmemory-policy': 'allkeys-lru',
      maxmemory: '18640254',
      'replica-ignore-maxmemory': 'yes',
      'maxmemory-clients': '0',
    });
  });
});

describe('computeNewMaxmemory', () => {
  const GiB = 1024 * MiB;
  it('grows by the step, rounded up to whole MiB', () => {
    expect(computeNewMaxmemory(100 * MiB, 16 * GiB, 0.25, 0.3)).toBe(125 * MiB);
    expect(computeNewMaxmemory(100 * MiB + 1, 16 * GiB, 0.25, 0.3)).toBe(126 * MiB);
  });
  it('is capped by host headroom (rounded down)', () => {
    expect(computeNewMaxmemory(10 * GiB, 16 * GiB, 0.25, 0.3)).toBe(Math.floor((16 * GiB * 0.7) / MiB) * MiB);
  });
  it('returns null when no raise fits, or there is no limit', () => {
    expect(computeNewMaxmemory(12 * GiB, 16 * GiB, 0.25, 0.3)).toBeNull();
    expect(computeNewMaxmemory(0, 16 * GiB, 0.25, 0.3)).toBeNull();
    expect(computeNewMaxmemory(100 * MiB, 0, 0.25, 0.3)).toBeNull();
  });
});
