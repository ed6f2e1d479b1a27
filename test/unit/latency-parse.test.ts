/**
 * Issue 10, redis-latency-spike: SLOWLOG, LATENCY LATEST/DOCTOR and commandstats read from replies
 * captured on redis-server 7.0.15 (`report-job` running DEBUG SLEEP 0.3 five times, `adhoc`
 * running KEYS and a Lua busy loop with a secret argument, a client blocked in BLPOP, 200k SETs).
 * Arguments never leave the parser.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInfo } from '../../src/actions/redis/info.js';
import { parseClientList } from '../../src/actions/redis/client-list.js';
import { describeGroup, fmtUs, groupSlow, parseCommandstats, parseLatencyDoctor, parseLatencyHistory, parseLatencyLatest, parseSlowlog, redactArgv, topCommands } from '../../src/actions/redis/latency-parse.js';

const FIX = join(import.meta.dirname, '..', 'fixtures');
const read = (f: string): string => readFileSync(join(FIX, f), 'utf8');
const cap = JSON.parse(read('latency-capture.json')) as { slowlog: unknown; slowlogLen: number; latencyLatest: unknown; latencyHistory: unknown; config: string[] };

describe('latency evidence from captured replies', () => {
  const entries = parseSlowlog(cap.slowlog);

  it('SLOWLOG GET: command names, argument counts, durations, client address and name — never an argument', () => {
    expect(entries.length).toBe(cap.slowlogLen);
    expect(entries[0]).toEqual({ id: 23, ts: 1796297220, durationUs: 300134, command: 'DEBUG SLEEP', args: 2, addr: '127.0.0.1:36026', name: 'report-job' });
    expect(entries.find((e) => e.command === 'EVAL')).toMatchObject({ args: 3, name: 'adhoc' });
    expect(entries.find((e) => e.command === 'KEYS')).toMatchObject({ args: 1, durationUs: 114461, name: 'adhoc' });
    expect(entries.find((e) => e.command === 'SET')).toMatchObject({ args: 2, name: '' });
    const all = JSON.stringify(entries);
    for (const secret of ['top-secret-value', 'item:secret', 'x=x+1', '0.3', 'item:1']) expect(all).not.toContain(secret);
  });

  it('redaction: subcommands only for container commands; truncated argv counts every argument', () => {
    expect(redactArgv(['config', 'set', 'maxmemory', '1gb'])).toEqual({ command: 'CONFIG SET', args: 3 });
    expect(redactArgv(['GET', 'user:42'])).toEqual({ command: 'GET', args: 1 });
    expect(redactArgv(['OBJECT', 'encoding', 'k'])).toEqual({ command: 'OBJECT ENCODING', args: 2 });
    // a container whose "subcommand" is not a word is not shown
    expect(redactArgv(['CLIENT', 'sécret value'])).toEqual({ command: 'CLIENT', args: 1 });
    const argv = ['SADD', 'k', ...Array.from({ length: 29 }, (_, i) => `m${i}`), '... (70 more arguments)'];
    expect(redactArgv(argv)).toEqual({ command: 'SADD', args: 100 });
  });

  it('groups the window by command and client, worst total first, and says it in one line', () => {
    const now = 1796297221;
    const groups = groupSlow(entries, now, 300);
    expect(groups[0]).toMatchObject({ command: 'DEBUG SLEEP', addr: '127.0.0.1:36026', name: 'report-job', count: 5, args: [2], maxUs: 300764 });
    expect(groups[0]?.share).toBeGreaterThan(0.5);
    expect(describeGroup(groups[0]!, 300)).toMatch(/^DEBUG SLEEP \(2 args\) from 127\.0\.0\.1:36026 name=report-job took up to 301 ms, 5 times in 300 s \(1\.50 s in total, \d+% of the slow time\)$/);
    // entries older than the window are history
    expect(groupSlow(entries, now + 3600, 300)).toEqual([]);
    // the engine's own slow reads are not the spike
    expect(groupSlow(entries, now, 300, ['report-job'])[0]?.name).not.toBe('report-job');
  });

  it('LATENCY LATEST and DOCTOR: the command event, and monitoring off or no spike', () => {
    expect(parseLatencyLatest(cap.latencyLatest)).toEqual([{ event: 'command', ts: expect.any(Number), latestMs: 300, maxMs: 300 }]);
    const hist = parseLatencyHistory(cap.latencyHistory);
    expect(hist.map((h) => h.ms)).toEqual([300, 300]);
    expect(hist[1]?.ts).toBeGreaterThanOrEqual(hist[0]?.ts ?? Infinity);
    const doc = parseLatencyDoctor(read('latency-doctor-spikes.txt'));
    expect(doc).toEqual({ disabled: false, noSpikes: false, events: [{ event: 'command', spikes: 2, avgMs: 300, worstMs: 300 }], thp: false, fork: false });
    expect(parseLatencyDoctor(read('latency-doctor-disabled.txt'))).toMatchObject({ disabled: true, events: [] });
    expect(parseLatencyDoctor(read('latency-doctor-none.txt'))).toMatchObject({ disabled: false, noSpikes: true, events: [] });
  });

  it('commandstats between two reads: DEBUG took the time', () => {
    const a = parseCommandstats(parseInfo(read('latency-commandstats-before.txt'))['commandstats']);
    const b = parseCommandstats(parseInfo(read('latency-commandstats-after.txt'))['commandstats']);
    const top = topCommands(a, b, 1500);
    expect(top[0]).toMatchObject({ command: 'debug', calls: 5 });
    expect(top[0]?.usecPerCall).toBeGreaterThan(299_000);
    expect(top[0]?.busyShare).toBeGreaterThan(0.99);
    expect(fmtUs(300_134)).toBe('300 ms');
    expect(fmtUs(1_800_000)).toBe('1.80 s');
    expect(fmtUs(42_000)).toBe('42 ms');
  });

  it('CLIENT LIST of the capture: the slow client is there by address, the BLPOP one is blocked', () => {
    const clients = parseClientList(read('latency-client-list.txt'));
    expect(clients.find((c) => c.addr === '127.0.0.1:36026')).toMatchObject({ id: '8', name: 'report-job', kind: 'normal' });
    expect(clients.filter((c) => c.flags.includes('b')).map((c) => c.name)).toEqual(['waiter']);
  });
});
