/**
 * Replication parsers on output captured from a real primary, two replicas and three Sentinels
 * (redis-server 7.0.15; test/fixtures/replication-*, see the README there).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInfo } from '../../src/actions/redis/info.js';
import {
  addrHost,
  parseAclLog,
  parseClientList,
  parseMemorySize,
  parseReplicationState,
  replicaBufferLimit,
  replicaClients,
} from '../../src/actions/redis/replication-parse.js';

const text = (name: string): string => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');
const json = (name: string): unknown => JSON.parse(text(name));
const state = (name: string) => parseReplicationState(parseInfo(text(name)));

describe('INFO replication of a primary', () => {
  it('reads the slaveN lines, offsets, backlog and sync counters of a healthy primary', () => {
    const s = state('replication-info-primary.txt');
    expect(s.role).toBe('primary');
    expect(s.master).toBeNull();
    expect(s.connectedReplicas).toBe(2);
    expect(s.replicas.map((r) => `${r.host}:${r.port} ${r.state}`)).toEqual(['127.0.0.1:36095 online', '127.0.0.1:40345 online']);
    expect(s.offset).toBeGreaterThan(0);
    for (const r of s.replicas) expect(s.offset - r.offset).toBeGreaterThanOrEqual(0);
    expect(s.backlog).toMatchObject({ active: true, size: 1048576 });
    expect(s.aofEnabled).toBe(true);
    expect(s.rdbBgsaveInProgress).toBe(false);
  });

  it('shows a full-sync loop: replicas in wait_bgsave, sync_full far above the replica count, a fork running', () => {
    const s = state('replication-info-primary-sync-loop.txt');
    expect(s.replicas.map((r) => r.state)).toEqual(['wait_bgsave', 'wait_bgsave']);
    expect(s.syncFull).toBe(99);
    expect(s.syncPartialErr).toBe(49);
    expect(s.rdbBgsaveInProgress).toBe(true);
    expect(s.totalForks).toBe(52);
  });
});

describe('INFO replication of a replica', () => {
  it('a healthy replica: link up, offsets, priority', () => {
    const s = state('replication-info-replica.txt');
    expect(s.role).toBe('replica');
    expect(s.master).toBe('127.0.0.1:45789');
    expect(s.linkStatus).toBe('up');
    expect(s.lastIoSecondsAgo).toBeGreaterThanOrEqual(0);
    expect(s.linkDownSinceSeconds).toBeNull();
    expect(s.priority).toBe(100);
  });

  it('pointed at a wrong port: link down for 2 s, master port 1', () => {
    const s = state('replication-info-replica-wrong-port.txt');
    expect(s.master).toBe('127.0.0.1:1');
    expect(s.linkStatus).toBe('down');
    expect(s.lastIoSecondsAgo).toBe(-1);
    expect(s.linkDownSinceSeconds).toBe(2);
    expect(s.syncInProgress).toBe(false);
  });

  it('wrong masterauth: right primary, link down, no sync in progress', () => {
    const s = state('replication-info-replica-auth-fail.txt');
    expect(s.master).toBe('127.0.0.1:45789');
    expect(s.linkStatus).toBe('down');
    expect(s.linkDownSinceSeconds).toBe(3);
  });

  it('in the sync loop: link down, offset reset, never linked (-1 → null)', () => {
    const s = state('replication-info-replica-sync-loop.txt');
    expect(s.linkStatus).toBe('down');
    expect(s.offset).toBe(1);
    expect(s.linkDownSinceSeconds).toBeNull();
    expect(s.backlog.active).toBe(false);
  });
});

describe('CLIENT LIST', () => {
  it('finds the replica clients (flags=S) and their output buffers during the loop', () => {
    const all = parseClientList(text('replication-client-list-sync-loop.txt'));
    expect(all.length).toBe(15);
    const reps = replicaClients(all);
    expect(reps).toHaveLength(2);
    expect(reps.map((r) => r.omem)).toEqual([328064, 328064]);
    expect(reps[0]).toMatchObject({ cmd: 'psync', user: 'default', oll: 16 });
    expect(addrHost(reps[0]?.addr ?? '')).toBe('127.0.0.1');
  });

  it('a healthy primary lists both replicas with empty output buffers', () => {
    const reps = replicaClients(parseClientList(text('replication-client-list-primary.txt')));
    expect(reps).toHaveLength(2);
    for (const r of reps) expect(r.omem).toBeLessThan(64 * 1024);
  });
});

describe('client-output-buffer-limit', () => {
  it('reads the replica class (Redis writes it as "slave") from CONFIG GET', () => {
    const reply = json('replication-config-primary.json') as string[];
    expect(replicaBufferLimit(reply[1] ?? '')).toEqual({ hard: 262144, soft: 131072, softSeconds: 1 });
  });
  it('understands units and the replica alias', () => {
    expect(replicaBufferLimit('replica 256mb 64mb 60')).toEqual({ hard: 256 * 1024 * 1024, soft: 64 * 1024 * 1024, softSeconds: 60 });
    expect(parseMemorySize('1k')).toBe(1000);
    expect(parseMemorySize('1kb')).toBe(1024);
    expect(parseMemorySize('nope')).toBeNull();
    expect(replicaBufferLimit('normal 0 0 0')).toBeNull();
  });
});

describe('ACL LOG', () => {
  it('shows the failed AUTH of the replica with the wrong masterauth', () => {
    const log = parseAclLog(json('replication-acl-log-primary.json'));
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ count: 3, reason: 'auth', object: 'AUTH', username: 'default', clientAddr: '127.0.0.1:50492' });
    expect(log[0]?.ageSeconds).toBeLessThan(5);
  });
});
