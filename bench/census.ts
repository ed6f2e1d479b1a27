/**
 * §5 key census (issue 13): `redis.key-census` against `redis-cli --bigkeys` and `--memkeys` on the
 * same 1M-key instance (a throwaway redis-server filled by a Lua script: sessions and cache pages
 * as strings, profile hashes, tag sets, a 200k-element list and a 4 MB hash). For each: wall time,
 * keys covered, and the target's main-thread CPU (INFO cpu delta). The census runs twice: with no
 * load budget (maxBusy 1) for the speed figure, and with the default budget (maxBusy 0.5) to show
 * the busy share it keeps.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { ConnectionPool } from '../src/actions/redis/connection.js';
import { keyCensus } from '../src/actions/redis/key-census.js';
import type { ActionContext, NodeRef } from '../src/actions/types.js';
import { startRedis } from '../test/helpers/redis-server.js';
import type { RedisProcess } from '../test/helpers/redis-server.js';
import { progress, row } from './stats.js';
import type { Row } from './stats.js';

const run = promisify(execFile);

/** Fills keys [base, base+n) of four families; one call per 100k keys. */
const FILL = `
local base = tonumber(ARGV[1]); local n = tonumber(ARGV[2])
for i = base, base + n - 1 do
  local m = i % 10
  if m < 5 then redis.call('SET', 'session:' .. i, string.rep('s', 100))
  elseif m < 8 then redis.call('SET', 'cache:page:' .. i, string.rep('c', 150), 'EX', 86400)
  elseif m < 9 then redis.call('HSET', 'user:' .. i .. ':profile', 'name', 'n' .. i, 'mail', 'm' .. i)
  else redis.call('SADD', 'tags:' .. i, 'a', 'b', 'c') end
end
return n`;

const BIG = `
for i = 1, 200000 do redis.call('RPUSH', 'queue:dead', 'job-' .. i) end
for i = 1, 40000 do redis.call('HSET', 'big:profiles', 'f' .. i, string.rep('h', 100)) end
return 1`;

async function mainCpu(srv: RedisProcess): Promise<number> {
  const info = await srv.client().info('cpu');
  const v = (k: string): number => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return v('used_cpu_sys_main_thread') + v('used_cpu_user_main_thread');
}

interface Measured {
  ms: number;
  cpu: number;
  keys: number;
}

async function cli(srv: RedisProcess, mode: '--bigkeys' | '--memkeys'): Promise<Measured> {
  const c0 = await mainCpu(srv);
  const t0 = Date.now();
  const { stdout } = await run('redis-cli', ['-h', srv.host, '-p', String(srv.port), mode], { maxBuffer: 16 * 1024 * 1024 });
  const ms = Date.now() - t0;
  const keys = Number(/Sampled (\d+) keys/.exec(stdout)?.[1] ?? Number.NaN);
  return { ms, cpu: (await mainCpu(srv)) - c0, keys };
}

/** Runs §5; `keys` keys (rounded to 100k). */
export async function benchCensus(sizes: { keys: number }): Promise<{ rows: Row[]; raw: Record<string, unknown>; details: string[] }> {
  const srv = await startRedis();
  const pool = new ConnectionPool({ commandTimeoutMs: 60_000 });
  try {
    const c = srv.client();
    const t0 = Date.now();
    for (let b = 0; b < sizes.keys; b += 100_000) await c.eval(FILL, 0, String(b), String(Math.min(100_000, sizes.keys - b)));
    await c.eval(BIG, 0);
    const dbsize = await c.dbsize();
    progress(`§5 ${dbsize} keys written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const node: NodeRef = { host: srv.host, port: srv.port };
    const ctx: ActionContext = {
      target: { name: 'bench', mode: 'standalone', role: 'cache', endpoints: [node], sentinels: [], allowAutomatic: false, connect: async (n) => pool.get(n) },
      node,
      findings: {},
      params: {},
      dryRun: false,
      log: pino({ level: 'silent' }),
      signal: new AbortController().signal,
      now: () => Date.now(),
    };
    const census = async (maxBusy: number): Promise<Measured & { peak: number; busy: number; complete: boolean; top: string }> => {
      const c0 = await mainCpu(srv);
      const s0 = Date.now();
      const r = await keyCensus.run(keyCensus.input.parse({ maxBusy, maxMillis: 120_000 }), ctx);
      const ms = Date.now() - s0;
      return { ms, cpu: (await mainCpu(srv)) - c0, keys: r.scannedKeys, peak: r.load.peakBusyShare, busy: r.load.busyShare, complete: r.complete, top: r.summary };
    };

    const bigkeys = await cli(srv, '--bigkeys');
    progress(`§5 redis-cli --bigkeys: ${(bigkeys.ms / 1000).toFixed(1)} s`);
    const memkeys = await cli(srv, '--memkeys');
    progress(`§5 redis-cli --memkeys: ${(memkeys.ms / 1000).toFixed(1)} s`);
    const fast = await census(1);
    progress(`§5 census (no load budget): ${(fast.ms / 1000).toFixed(1)} s`);
    const paced = await census(0.5);
    progress(`§5 census (maxBusy 0.5): ${(paced.ms / 1000).toFixed(1)} s`);

    const s = (ms: number): number => ms / 1000;
    const rows: Row[] = [
      row('5', 'census time, 1M keys, no load budget', 's', s(fast.ms), s(bigkeys.ms), 'redis-cli --bigkeys', { op: '<=', limit: 0.2 * s(bigkeys.ms) }, 'goal ≤ 0.2× --bigkeys'),
      row('5', 'census time vs --memkeys', 's', s(fast.ms), s(memkeys.ms), 'redis-cli --memkeys', { op: 'info' }),
      row('5', 'census time vs --bigkeys + --memkeys (what it reports needs both)', 's', s(fast.ms), s(bigkeys.ms + memkeys.ms), 'both redis-cli runs', { op: 'info' }),
      row('5', 'census keys covered', 'keys', fast.keys, dbsize, 'DBSIZE', { op: '>=', limit: dbsize }),
      row('5', 'census target main-thread CPU', 's', fast.cpu, bigkeys.cpu, 'CPU of --bigkeys', { op: 'info' }),
      row('5', '--memkeys target main-thread CPU', 's', memkeys.cpu, bigkeys.cpu, 'CPU of --bigkeys', { op: 'info' }),
      row('5', 'census busy share, no budget (CPU ÷ wall)', 'share', fast.busy, bigkeys.cpu / s(bigkeys.ms), '--bigkeys CPU ÷ wall', { op: 'info' }),
      row('5', 'census with maxBusy 0.5: peak busy share (~200 ms windows)', 'share', paced.peak, 0.5, 'the budget', { op: '<=', limit: 0.5 }),
      row('5', 'census with maxBusy 0.5: time', 's', s(paced.ms), s(fast.ms), 'census, no budget', { op: 'info' }),
    ];
    const details = [`§5 census finding: ${fast.top}`];
    return { rows, raw: { dbsize, bigkeys, memkeys, fast, paced }, details };
  } finally {
    await pool.closeAll();
    await srv.stop();
  }
}
