/**
 * Issue 10, redis-persistence-failing: the persistence state read from replies captured on
 * redis-server 7.0.15 (test/fixtures/README.md): a healthy save, a save whose rename target is a
 * directory (EISDIR), and a save whose `dir` was removed (ENOENT on the temp file; CONFIG GET dir
 * then answers an empty string).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInfo } from '../../src/actions/redis/info.js';
import { clientAddr, configPairs, fmtAge, isLocalAddr, parseSavePoints, persistenceHints, persistenceSummary, readPersistence } from '../../src/actions/redis/persistence-parse.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');
function load(name: string) {
  const info = parseInfo(readFileSync(join(FIX, `persistence-info-${name}.txt`), 'utf8'));
  const cap = JSON.parse(readFileSync(join(FIX, `persistence-config-${name}.json`), 'utf8')) as { config: string[]; lastsave: number; clientInfo: string };
  return { info, cap, state: readPersistence(info, configPairs(cap.config), { maxAgeSec: 172_800 }) };
}

describe('persistence state from captured replies', () => {
  it('healthy: last save ok, writes accepted, dir named, LASTSAVE agrees with rdb_last_save_time', () => {
    const { state: s, cap } = load('ok');
    expect(s.cause).toBe('healthy');
    expect(s.failing).toBe(false);
    expect(s.writesRefused).toBe(false);
    expect(s.rdbStatus).toBe('ok');
    expect(s.lastSaveTime).toBe(cap.lastsave);
    expect(s.dir).toBe('/tmp/h8cap/data');
    expect(s.dirGone).toBe(false);
    expect(s.savePoints).toEqual([{ seconds: 3600, changes: 1 }]);
    expect(s.misconf).toBe(0);
    expect(s.changesSinceLastSave).toBe(1);
    expect(s.lastSaveAgeSec).toBeGreaterThanOrEqual(0);
    expect(s.lastSaveAgeSec).toBeLessThan(5);
    expect(s.totalSystemMemory).toBeGreaterThan(0);
    expect(s.protectedConfigs).toBe('local');
  });

  it('rename target is a directory: rdb err, MISCONF counted, writes refused, dir still readable', () => {
    const { state: s } = load('rename-blocked');
    expect(s.cause).toBe('rdb-failing');
    expect(s.rdbStatus).toBe('err');
    expect(s.writesRefused).toBe(true);
    expect(s.misconf).toBe(2);
    expect(s.dir).toBe('/tmp/h8cap/data');
    expect(s.dirGone).toBe(false);
    expect(s.changesSinceLastSave).toBe(201); // 1 after the good save + 2 × 100 SETs (the capture ran its SETs twice)
    const summary = persistenceSummary(s, '127.0.0.1:17931', 1, 1000);
    expect(summary).toBe(`RDB snapshot failing on 127.0.0.1:17931 (rdb_last_bgsave_status:err): dir /tmp/h8cap/data, dump.rdb; last good save ${fmtAge(s.lastSaveAgeSec)} ago, 201 changes not on disk; writes refused with MISCONF (2 so far, +1 in 1 s)`);
    expect(persistenceHints(s, '127.0.0.1:17931')).toEqual(['the error text of the failed save is only in the server log (/tmp/h8cap/redis.log): not readable over the protocol']);
  });

  it('dir removed: CONFIG GET dir is empty, which the hints name', () => {
    const { state: s } = load('dir-gone');
    expect(s.cause).toBe('rdb-failing');
    expect(s.dirGone).toBe(true);
    expect(s.misconf).toBe(3);
    expect(persistenceSummary(s, 'n:1', 0, 2000)).toContain('dir <removed> (CONFIG GET dir is empty), dump.rdb');
    expect(persistenceHints(s, 'n:1')[0]).toMatch(/^CONFIG GET dir answers an empty string on n:1: the server's working directory was removed/);
  });

  it("writes are refused only under Redis's own rule: no save points or stop-writes-on-bgsave-error no → accepted", () => {
    const { info, cap } = load('rename-blocked');
    const cfg = configPairs(cap.config);
    expect(readPersistence(info, { ...cfg, save: '' }, { maxAgeSec: 1 }).writesRefused).toBe(false);
    expect(readPersistence(info, { ...cfg, 'stop-writes-on-bgsave-error': 'no' }, { maxAgeSec: 1 }).writesRefused).toBe(false);
    // a healthy node whose last good save is older than maxAgeSec, with changes: overdue
    const ok = load('ok');
    expect(readPersistence(ok.info, configPairs(ok.cap.config), { maxAgeSec: 0 }).cause).toBe(ok.state.lastSaveAgeSec > 0 ? 'save-overdue' : 'healthy');
  });

  it('AOF write error (the captured healthy reply with AOF on and aof_last_write_status:err): refused writes even without save points', () => {
    const { info, cap } = load('ok');
    const p = { ...info['persistence'], aof_enabled: '1', aof_last_write_status: 'err' };
    const s = readPersistence({ ...info, persistence: p }, { ...configPairs(cap.config), save: '', appendonly: 'yes' }, { maxAgeSec: 172_800 });
    expect(s).toMatchObject({ cause: 'aof-write-failing', failing: true, writesRefused: true, aofEnabled: true });
    expect(persistenceSummary(s, 'n:1', 4, 1000)).toMatch(/^AOF writes failing on n:1 \(aof_last_write_status:err\): dir \/tmp\/h8cap\/data, dump\.rdb, AOF in appendonlydir; .*; writes refused with MISCONF \(0 so far, \+4 in 1 s\)$/);
  });

  it('small pieces: save points, CONFIG GET as a map, loopback addresses, ages', () => {
    expect(parseSavePoints('3600 1 300 100 60 10000')).toEqual([{ seconds: 3600, changes: 1 }, { seconds: 300, changes: 100 }, { seconds: 60, changes: 10000 }]);
    expect(parseSavePoints('')).toEqual([]);
    expect(configPairs({ dir: '/data', save: '' })).toEqual({ dir: '/data', save: '' });
    expect(clientAddr(load('ok').cap.clientInfo)).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(isLocalAddr('127.0.0.1:5000')).toBe(true);
    expect(isLocalAddr('[::1]:5000')).toBe(true);
    expect(isLocalAddr('10.0.0.5:5000')).toBe(false);
    expect([fmtAge(30), fmtAge(600), fmtAge(7200), fmtAge(259_200)]).toEqual(['30 s', '10.0 min', '2.0 h', '3.0 d']);
  });
});
