import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aclLogGrowth, commandCategories, groupAclLog, parseAclList, parseAclLog, unauthenticatedClients } from '../../src/actions/redis/acl-parse.js';

/** ACL LOG / ACL LIST / CLIENT LIST / INFO errorstats captured from redis-server 7.0 (see test/fixtures/README.md). */
const cap = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'acl-auth-capture.json'), 'utf8')) as { aclLog: unknown; aclList: unknown; clientList: string; errorstats: string; commandInfo: unknown };

describe('ACL LOG', () => {
  const entries = parseAclLog(cap.aclLog);

  it('parses every entry with its client address', () => {
    expect(entries).toHaveLength(6);
    const ghost = entries.find((e) => e.username === 'ghost');
    expect(ghost).toMatchObject({ reason: 'auth', object: 'hello', count: 1, context: 'toplevel', cmd: 'hello', ip: '127.0.0.1', entryId: null });
    expect(ghost?.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(ghost?.ageSeconds).toBeGreaterThan(0);
  });

  it('groups by reason, user and client IP: three failed AUTHs of app in one entry, NOPERM apart', () => {
    const groups = groupAclLog(entries);
    const appAuth = groups.find((g) => g.reason === 'auth' && g.username === 'app');
    expect(appAuth).toMatchObject({ count: 3, entries: 1, ip: '127.0.0.1', objects: ['hello'] });
    expect(appAuth?.addrs).toHaveLength(1);
    expect(groups.map((g) => g.count)).toEqual([3, 3, 1, 1]); // most failures first
    const cmd = groups.find((g) => g.reason === 'command' && g.username === 'app');
    expect(cmd?.count).toBe(3);
    expect(cmd?.objects.sort()).toEqual(['client|setname', 'config|get', 'flushall']);
    expect(groups.find((g) => g.reason === 'key')?.objects).toEqual(['other:1']);
    expect(cmd!.firstSeenAgeSeconds).toBeGreaterThanOrEqual(cmd!.lastSeenAgeSeconds);
  });

  it('growth between two reads: only groups whose count rose, by how much', () => {
    const before = groupAclLog(entries);
    // a later read: app failed twice more from the same address (folded into its entry), ghost did not
    const later = parseAclLog(cap.aclLog).map((e) => (e.username === 'app' && e.reason === 'auth' ? { ...e, count: e.count + 2 } : e));
    expect(aclLogGrowth(before, groupAclLog(later))).toEqual([{ reason: 'auth', username: 'app', ip: '127.0.0.1', addrs: expect.any(Array), newFailures: 2 }]);
    expect(aclLogGrowth(before, before)).toEqual([]);
    // entries evicted from the log never count as negative growth
    expect(aclLogGrowth(before, [])).toEqual([]);
  });

  it('reads map-shaped entries too (RESP3 without legacy mapping)', () => {
    const [e] = parseAclLog([{ count: 2, reason: 'auth', context: 'toplevel', object: 'AUTH', username: 'app', 'age-seconds': '1.5', 'client-info': 'id=3 addr=10.0.0.7:5120 name=billing cmd=auth user=default', 'entry-id': 4, 'timestamp-created': 1700000000000 }]);
    expect(e).toMatchObject({ count: 2, ip: '10.0.0.7', addr: '10.0.0.7:5120', clientName: 'billing', ageSeconds: 1.5, entryId: 4, createdMs: 1700000000000 });
  });
});

describe('ACL LIST', () => {
  const users = parseAclList(cap.aclList);

  it('summarises users without their hashes', () => {
    expect(users.map((u) => u.name)).toEqual(['admin', 'app', 'default', 'reporting', 'retired', 'rr-ops']);
    expect(users.find((u) => u.name === 'app')).toMatchObject({ enabled: true, passwords: 1, nopass: false, keyPatterns: ['~app:*'] });
    expect(users.find((u) => u.name === 'reporting')).toMatchObject({ enabled: true, passwords: 0, nopass: true });
    expect(users.find((u) => u.name === 'retired')).toMatchObject({ enabled: false, passwords: 1 });
    expect(users.find((u) => u.name === 'default')).toMatchObject({ enabled: false });
    expect(users.find((u) => u.name === 'app')?.commandRules).toContain('-flushall');
    const dumped = JSON.stringify(users);
    for (const line of cap.aclList as string[]) {
      const hash = /#([0-9a-f]{64})/.exec(line)?.[1];
      if (hash) expect(dumped).not.toContain(hash);
    }
  });
});

describe('COMMAND INFO', () => {
  it('gives the ACL categories of refused commands (subcommands too; unknown ones left out)', () => {
    expect(commandCategories(cap.commandInfo)).toEqual({
      flushall: ['@keyspace', '@write', '@slow', '@dangerous'],
      'config|get': ['@admin', '@slow', '@dangerous'],
      'client|setname': ['@slow', '@connection'],
    });
  });
});

describe('unauthenticated clients', () => {
  it('are the clients running as the disabled default user', () => {
    const users = parseAclList(cap.aclList);
    const list = unauthenticatedClients(cap.clientList, users);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ cmd: 'get' });
    expect(list[0]?.addr).toMatch(/^127\.0\.0\.1:\d+$/);
    // with default enabled they cannot be told apart: none reported
    expect(unauthenticatedClients(cap.clientList, users.map((u) => (u.name === 'default' ? { ...u, enabled: true } : u)))).toEqual([]);
  });
});
