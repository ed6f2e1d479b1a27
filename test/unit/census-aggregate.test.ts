/**
 * Pure parts of the memory actions (issue 13): key families, the Redis glob the batch actions
 * re-check keys with, the census aggregation, state-like families, and CLIENT LIST /
 * client-output-buffer-limit parsing on output captured from a real redis-server 7.0 (a pub/sub
 * subscriber that stopped reading, and a pattern subscriber).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CensusAggregator, familyOf, globEscape, globToRegExp, isIdSegment, stateLikeReason } from '../../src/actions/redis/census-aggregate.js';
import { memBytes, parseBufferLimits, parseClientList } from '../../src/actions/redis/client-list.js';
import { proposeLimit } from '../../src/actions/redis/client-buffers.js';
import { familyPattern } from '../../src/actions/redis/family-scan.js';

const fixture = (name: string): string => readFileSync(resolve(import.meta.dirname, '..', 'fixtures', name), 'utf8');
const MiB = 1024 * 1024;

describe('key families', () => {
  it('cuts by separator and depth, collapsing numbers, UUIDs and hex or mixed ids to *', () => {
    const colon1 = { separator: ':', depth: 1 };
    const colon2 = { separator: ':', depth: 2 };
    const colon3 = { separator: ':', depth: 3 };
    expect(familyOf('session:123', colon1)).toBe('session:*');
    expect(familyOf('session:123:data', colon1)).toBe('session:*');
    expect(familyOf('cache:page:/home', colon2)).toBe('cache:page:*');
    expect(familyOf('user:42:profile', colon2)).toBe('user:*');
    expect(familyOf('user:42:profile', colon3)).toBe('user:*:profile');
    expect(familyOf('order:3f2a9c1e-8b7d-4e6f-a1b2-c3d4e5f60789:items', colon3)).toBe('order:*:items');
    expect(familyOf('blob:5f4dcc3b5aa765d61d8327deb882cf99', colon2)).toBe('blob:*');
    expect(familyOf('counter', colon1)).toBe('counter');
    expect(familyOf('12345', colon1)).toBe('*');
    expect(familyOf('app.v2.cache.17', { separator: '.', depth: 3 })).toBe('app.v2.cache.*');
    expect(familyOf('weird[1]*:x', colon1)).toBe('weird\\[1\\]\\*:*');
    expect(isIdSegment('profile')).toBe(false);
    expect(isIdSegment('u1234567')).toBe(true);
  });

  it('a family name is a glob that matches its own keys and nothing else', () => {
    const re = globToRegExp('session:*');
    expect(re.test('session:1')).toBe(true);
    expect(re.test('session:1:data')).toBe(true);
    expect(re.test('session')).toBe(false);
    expect(re.test('sessionx:1')).toBe(false);
    expect(re.test('xsession:1')).toBe(false);
    expect(globToRegExp('user:*:profile').test('user:7:profile')).toBe(true);
    expect(globToRegExp('user:*:profile').test('user:7:profiles')).toBe(false);
    expect(globToRegExp('k?y[0-9][^a]').test('key5b')).toBe(true);
    expect(globToRegExp('k?y[0-9][^a]').test('key5a')).toBe(false);
    const literal = `big:${globEscape('a*b[c]')}`;
    expect(globToRegExp(literal).test('big:a*b[c]')).toBe(true);
    expect(globToRegExp(literal).test('big:aXb[c]')).toBe(false);
  });

  it('refuses family patterns that would cover the whole keyspace', () => {
    for (const p of ['*', '*:*', '??', '[a-z]*', '\\**']) expect(familyPattern.safeParse(p).success, p).toBe(false);
    for (const p of ['session:*', 'user:*:profile', 'queue:dead']) expect(familyPattern.safeParse(p).success, p).toBe(true);
  });
});

describe('census aggregation', () => {
  it('estimates family bytes from measured keys, keeps the biggest keys, and flags state without TTL', () => {
    let seed = 1;
    const rand = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const agg = new CensusAggregator({ separator: ':', depth: 1, top: 3, maxFamilies: 100, calibratePerFamily: 8, samplePerFamily: 5 }, rand);
    for (let i = 0; i < 1000; i++) {
      const key = `session:${i}`;
      const fam = agg.familyFor(key);
      const measure = agg.wantsMeasure(fam);
      agg.add({ key, type: 'string', size: 100, ttlMs: -1, ...(measure ? { bytes: 180 } : {}) }, fam);
    }
    for (let i = 0; i < 500; i++) agg.add({ key: `cache:${i}`, type: 'string', size: 50, ttlMs: 60_000, bytes: 120 });
    agg.add({ key: 'queue:jobs', type: 'list', size: 100_000, ttlMs: -1 });
    agg.setMeasured('queue:jobs', 5 * MiB);
    const r = agg.report(10);
    expect(r.scannedKeys).toBe(1501);
    const fam = Object.fromEntries(r.families.map((f) => [f.family, f]));
    // calibrated on the first 8 (and ~1/256 of the rest): within 2% of the 180,000 bytes there are
    expect(Math.abs((fam['session:*']?.bytes ?? 0) - 180_000) / 180_000).toBeLessThan(0.02);
    expect(fam['session:*']?.noTtlShare).toBe(1);
    expect(fam['cache:*']?.bytes).toBe(60_000);
    expect(fam['queue:*']?.bytes).toBe(5 * MiB);
    expect(r.topKeysByBytes[0]).toMatchObject({ key: 'queue:jobs', bytes: 5 * MiB, measured: true });
    expect(r.topKeysByElements.map((k) => k.key)).toEqual(['queue:jobs']);
    expect(fam['queue:*']?.stateReason).toBe("named like state ('queue'), list keys without TTL");
    expect(fam['session:*']?.stateLike).toBe(true);
    expect(fam['cache:*']?.stateLike).toBe(false);
  });

  it('state-like: names and holding types count only for keys without TTL', () => {
    expect(stateLikeReason('locks:*', { string: 10 }, 10, 10)).toBe("named like state ('locks')");
    expect(stateLikeReason('profile:*', { hash: 10 }, 10, 8)).toBe('hash keys without TTL');
    expect(stateLikeReason('profile:*', { hash: 10 }, 10, 2)).toBe('');
    expect(stateLikeReason('session:*', { string: 10 }, 10, 0)).toBe('');
    expect(stateLikeReason('page:*', { string: 10 }, 10, 10)).toBe('');
  });
});

describe('CLIENT LIST and output buffer limits (captured from redis-server 7.0)', () => {
  it('finds the subscriber that stopped reading, with id, addr, name, cmd and omem', () => {
    const clients = parseClientList(fixture('client-list-pubsub-hog.txt'));
    expect(clients).toHaveLength(3);
    const worst = [...clients].sort((a, b) => b.omem - a.omem)[0];
    expect(worst).toMatchObject({ id: '24', addr: '127.0.0.1:33200', name: 'price-feed', cmd: 'subscribe', flags: 'P', sub: 1, oll: 132, omem: 8_645_728, kind: 'pubsub' });
    expect(clients.find((c) => c.name === 'pattern-sub')).toMatchObject({ psub: 1, kind: 'pubsub', omem: 0 });
    expect(clients.find((c) => c.id === '23')).toMatchObject({ kind: 'normal', cmd: 'client|list', name: '' });
  });

  it('parses client-output-buffer-limit and proposes a bounded pubsub limit when there is none', () => {
    const limits = parseBufferLimits(fixture('config-client-output-buffer-limit.txt'));
    expect(limits).toEqual({
      normal: { hard: 0, soft: 0, softSeconds: 0 },
      replica: { hard: 268_435_456, soft: 67_108_864, softSeconds: 60 },
      pubsub: { hard: 0, soft: 0, softSeconds: 0 },
    });
    expect(proposeLimit('pubsub', limits.pubsub, 1024 * MiB)).toMatchObject({ class: 'pubsub', value: `pubsub ${51 * MiB} ${Math.floor((51 * MiB) / 4)} 60` });
    expect(proposeLimit('pubsub', limits.pubsub, 32 * MiB)?.value).toBe(`pubsub ${8 * MiB} ${2 * MiB} 60`);
    expect(proposeLimit('pubsub', { hard: 4 * MiB, soft: MiB, softSeconds: 60 }, 1024 * MiB)).toBeNull();
    expect(memBytes('32mb')).toBe(32 * MiB);
    expect(memBytes('1gb')).toBe(1024 * MiB);
    expect(memBytes('1k')).toBe(1000);
  });
});
