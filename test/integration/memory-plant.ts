/**
 * Planting memory situations on a test's own redis-server, shared by the memory tests: mixed key
 * families (with and without TTL) with a big list and a 4 MB hash placed late in SCAN order, a
 * pub/sub subscriber that never reads, and per-family key counts to compare before and after.
 */
import { createConnection, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

/** What {@link plantMixed} wrote. */
export interface Planted {
  /** The 4 MB hash, named so that SCAN returns it late. */
  bigHash: string;
  /** Its position in a full SCAN, as a share of all keys (close to 1 = late). */
  bigHashScanPos: number;
  bigList: string;
  total: number;
}

/** Options: how many keys of each family. */
export interface MixedOptions {
  sessions?: number;
  cachePages?: number;
  profiles?: number;
  listLen?: number;
  /** Fields of the big hash (100 bytes each: 40k ≈ 4 MB). */
  hashFields?: number;
  /** Value size of session strings. */
  sessionBytes?: number;
}

async function pipe(c: Redis, n: number, add: (p: ReturnType<Redis['pipeline']>, i: number) => void, batch = 2000): Promise<void> {
  for (let s = 0; s < n; s += batch) {
    const p = c.pipeline();
    for (let i = s; i < Math.min(n, s + batch); i++) add(p, i);
    const res = (await p.exec()) ?? [];
    for (const [err] of res) if (err) throw err;
  }
}

/**
 * Families: `session:<n>` strings without TTL (state-like by name), `cache:page:<n>` strings with a
 * 1 h TTL, `user:<n>:profile` small hashes without TTL, a list `queue:dead` (jobs nobody trims), and
 * a 4 MB hash `big:profiles:<n>` whose name SCAN returns among the last keys.
 */
export async function plantMixed(c: Redis, o: MixedOptions = {}): Promise<Planted> {
  const sessionBytes = o.sessionBytes ?? 300;
  const sv = 's'.repeat(sessionBytes);
  await pipe(c, o.sessions ?? 24_000, (p, i) => p.set(`session:${i}`, sv));
  await pipe(c, o.cachePages ?? 18_000, (p, i) => p.set(`cache:page:${i}`, 'c'.repeat(200), 'EX', 3600));
  await pipe(c, o.profiles ?? 8000, (p, i) => p.hset(`user:${i}:profile`, 'name', `n${i}`, 'mail', `m${i}@x`));
  const bigList = 'queue:dead';
  await pipe(c, o.listLen ?? 120_000, (p, i) => p.rpush(bigList, `{"job":${i},"error":"timeout"}`), 5000);
  // probes: which name does SCAN return last? (bucket = hash & mask; the table does not resize here)
  const probes = Array.from({ length: 300 }, (_, i) => `big:profiles:${i}`);
  await pipe(c, probes.length, (p, i) => p.set(probes[i] ?? '', '1'));
  const order = await scanAll(c);
  const pos = new Map(order.map((k, i) => [k, i]));
  const last = [...probes].sort((a, b) => (pos.get(b) ?? 0) - (pos.get(a) ?? 0))[0] ?? probes[0] ?? '';
  await c.del(...probes);
  const fv = 'h'.repeat(100);
  await pipe(c, o.hashFields ?? 40_000, (p, i) => p.hset(last, `field:${i}`, fv), 5000);
  const total = await c.dbsize();
  const after = await scanAll(c);
  return { bigHash: last, bigHashScanPos: after.indexOf(last) / Math.max(1, after.length), bigList, total };
}

/** Every key, in SCAN order. */
export async function scanAll(c: Redis, match = '*'): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await c.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** First segment (before `:`) → keys and keys with a TTL. */
export async function familyCounts(c: Redis): Promise<Record<string, { keys: number; withTtl: number }>> {
  const keys = await scanAll(c);
  const out: Record<string, { keys: number; withTtl: number }> = {};
  for (let s = 0; s < keys.length; s += 2000) {
    const part = keys.slice(s, s + 2000);
    const p = c.pipeline();
    for (const k of part) p.pttl(k);
    const res = (await p.exec()) ?? [];
    part.forEach((k, i) => {
      const fam = k.includes(':') ? k.slice(0, k.indexOf(':')) : k;
      const e = (out[fam] ??= { keys: 0, withTtl: 0 });
      e.keys++;
      if (Number(res[i]?.[1]) >= 0) e.withTtl++;
    });
  }
  return out;
}

/** A pub/sub client that subscribes and then never reads (a raw socket, paused). */
export interface SlowSubscriber {
  socket: Socket;
  /** `127.0.0.1:<port>` as CLIENT LIST shows its addr. */
  addr: string;
  close(): void;
}

/** Connects, names itself `name`, subscribes to `channel`, then stops reading. */
export async function slowSubscriber(port: number, channel: string, name = 'slow-consumer'): Promise<SlowSubscriber> {
  const socket = createConnection({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  // shrink the kernel buffers so the server's output buffer fills soon
  socket.setNoDelay(true);
  const enc = (...a: string[]): string => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`;
  socket.write(enc('CLIENT', 'SETNAME', name) + enc('SUBSCRIBE', channel));
  let got = '';
  await new Promise<void>((resolve) => {
    const on = (d: Buffer): void => {
      got += d.toString();
      if (got.includes('subscribe')) {
        socket.off('data', on);
        resolve();
      }
    };
    socket.on('data', on);
  });
  socket.pause();
  return { socket, addr: `127.0.0.1:${socket.localPort ?? 0}`, close: () => socket.destroy() };
}

/** Publishes `bytes` of messages to `channel` in 64 KB messages (the slow subscriber's buffer grows). */
export async function publishBytes(c: Redis, channel: string, bytes: number): Promise<void> {
  const msg = 'p'.repeat(64 * 1024);
  for (let sent = 0; sent < bytes; sent += msg.length * 32) {
    const p = c.pipeline();
    for (let i = 0; i < 32; i++) p.publish(channel, msg);
    await p.exec();
  }
  await sleep(100);
}
