/**
 * `redis.persistence-view`: one node's persistence, read-only. INFO persistence/stats/errorstats/
 * memory/server twice `gapMs` apart (MISCONF rejections between the reads), CONFIG GET of the
 * save-related parameters, and whether this engine may move `dir` at runtime (`dir` is a protected
 * config: `enable-protected-configs yes`, or `local` from a loopback connection). Never BGSAVE: a
 * save is a write. The save's error text is only in the server log, which is not readable here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo, replyText } from './connection.js';
import { optionalCommand } from './optional-command.js';
import {
  clientAddr,
  configPairs,
  isLocalAddr,
  PERSISTENCE_CONFIG,
  persistenceHints,
  persistenceSummary,
  readPersistence,
  type PersistenceState,
} from './persistence-parse.js';

const input = z
  .object({
    /** Time between the two reads (ms). */
    gapMs: z.number().int().min(0).max(60_000).default(1000),
    /** A snapshot older than this (s) with unsaved changes is overdue (RedisMissingBackup: 48 h). */
    maxAgeSec: z.number().int().positive().default(172_800),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.persistence-view`. */
export type PersistenceViewInput = z.infer<typeof input>;

/** Findings of `redis.persistence-view`. */
export type PersistenceViewResult = PersistenceState & {
  node: string;
  summary: string;
  hints: string[];
  logNote: string;
  misconfDelta: number;
  gapMs: number;
  dirSettable: boolean;
  dirSettableWhy: string;
  unavailable: string[];
};

async function readOnce(ctx: ActionContext, maxAgeSec: number, unavailable: string[]): Promise<PersistenceState> {
  const info = await readInfo(ctx, ctx.node, 'persistence', 'stats', 'errorstats', 'memory', 'server');
  const config = configPairs(await optionalCommand(ctx, ctx.node, ['CONFIG', 'GET', ...PERSISTENCE_CONFIG], unavailable));
  return readPersistence(info, config, { maxAgeSec });
}

/** Reads the persistence state of `ctx.node` twice, `gapMs` apart. */
export const persistenceView: ActionDefinition<PersistenceViewInput, PersistenceViewResult> = {
  name: 'redis.persistence-view',
  description: 'Persistence of one node, read-only: last bgsave/AOF status, last good save and its age, unsaved changes, MISCONF rejections between two reads, dir/dbfilename/appenddirname, save points, stop-writes-on-bgsave-error, fork headroom, and whether dir can be moved at runtime.',
  risk: 'read',
  input,
  timeoutMs: 75_000,
  output: {
    node: 'host:port read',
    summary: 'one line: what fails, the dir and file, age of the last good save, unsaved changes, MISCONF count and growth',
    hints: 'what the server says about the cause (removed dir, tight fork headroom, slow fork, where the error text is)',
    logNote: "where the failed operation's error text is (the server log, not readable over the protocol)",
    cause: 'rdb-failing | aof-write-failing | aof-rewrite-failing | save-overdue | healthy',
    failing: 'rdb_last_bgsave_status, aof_last_write_status (AOF on) or aof_last_bgrewrite_status is err',
    writesRefused: "Redis's own rule: writes are refused with MISCONF now (stop-writes-on-bgsave-error yes + save points + last bgsave err, or AOF write err)",
    rdbStatus: 'rdb_last_bgsave_status: ok | err (a failed fork is err too)',
    lastSaveTime: 'rdb_last_save_time: the last SUCCESSFUL save, unix seconds (a failed save does not move it)',
    lastSaveAgeSec: 'server time minus lastSaveTime, seconds',
    changesSinceLastSave: 'rdb_changes_since_last_save: writes not in any snapshot',
    bgsaveInProgress: 'rdb_bgsave_in_progress is 1',
    lastBgsaveTimeSec: 'rdb_last_bgsave_time_sec: duration of the last bgsave, seconds (-1 none)',
    aofEnabled: 'aof_enabled is 1',
    aofWriteStatus: 'aof_last_write_status: ok | err',
    aofRewriteStatus: 'aof_last_bgrewrite_status: ok | err',
    aofRewriteInProgress: 'aof_rewrite_in_progress is 1',
    aofRewriteFailures: 'aof_rewrites_consecutive_failures',
    misconf: 'errorstat_MISCONF count at the second read (writes refused since start or CONFIG RESETSTAT)',
    misconfDelta: 'MISCONF rejections between the two reads',
    gapMs: 'time between the two reads (ms)',
    dir: "CONFIG GET dir: the server's working directory ('' when it was removed)",
    dirGone: 'CONFIG GET dir answered an empty string: the working directory no longer exists',
    dbfilename: 'CONFIG GET dbfilename',
    appenddirname: 'CONFIG GET appenddirname (AOF files, under dir)',
    stopWritesOnBgsaveError: 'CONFIG GET stop-writes-on-bgsave-error is yes',
    'savePoints[]': 'CONFIG GET save as save points (empty: no automatic snapshots)',
    'savePoints[].seconds': 'snapshot after this many seconds …',
    'savePoints[].changes': '… when at least this many writes happened',
    logfile: "CONFIG GET logfile: where the save's error text is ('' = standard output)",
    protectedConfigs: 'CONFIG GET enable-protected-configs: yes | no | local',
    dirSettable: 'this engine may CONFIG SET dir (protected configs yes, or local and our connection is loopback)',
    dirSettableWhy: 'why dirSettable is what it is',
    usedMemory: 'used_memory, bytes',
    totalSystemMemory: 'total_system_memory, bytes (0 unknown)',
    memoryShare: 'used_memory / total_system_memory (null unknown): above 0.5 a fork may not fit',
    latestForkUsec: 'latest_fork_usec: duration of the last fork, microseconds',
    lastCowBytes: 'rdb_last_cow_size: copy-on-write memory of the last save, bytes',
    serverTime: 'server time of the second read, unix seconds',
    configKnown: 'CONFIG GET answered (false: renamed or denied; save points and stop-writes assumed at the Redis 7 defaults)',
    unavailable: 'commands this engine may not run here (renamed, disabled, denied by ACL): the rest is still read',
  },
  async run(inp, ctx) {
    const node = nodeKey(ctx.node);
    const unavailable: string[] = [];
    const a = await readOnce(ctx, inp.maxAgeSec, unavailable);
    if (inp.gapMs > 0) await sleep(inp.gapMs, undefined, { signal: ctx.signal }).catch(() => undefined);
    const b = await readOnce(ctx, inp.maxAgeSec, []);
    const misconfDelta = Math.max(0, b.misconf - a.misconf);
    let dirSettable = b.protectedConfigs === 'yes';
    let dirSettableWhy = `enable-protected-configs ${b.protectedConfigs}`;
    if (b.protectedConfigs === 'local') {
      const reply = await optionalCommand(ctx, ctx.node, ['CLIENT', 'INFO'], unavailable);
      const addr = reply === undefined ? '?' : clientAddr(replyText(reply));
      dirSettable = isLocalAddr(addr);
      dirSettableWhy = `enable-protected-configs local and this engine connects from ${addr || 'a unix socket'}${dirSettable ? '' : ' (not loopback)'}`;
    } else if (!b.configKnown) {
      dirSettableWhy = 'CONFIG GET is refused for this engine: dir cannot be read or set';
    } else if (!dirSettable) {
      dirSettableWhy = 'enable-protected-configs no: dir can only change in the config file, with a restart';
    }
    return {
      ...b,
      node,
      summary: persistenceSummary(b, node, misconfDelta, inp.gapMs),
      hints: persistenceHints(b, node),
      logNote: `the error text of a failed save or AOF write is only in the server log (${b.logfile === '' ? 'standard output' : b.logfile} on the host of ${node}): not readable over the protocol`,
      misconfDelta,
      gapMs: inp.gapMs,
      dirSettable,
      dirSettableWhy,
      unavailable,
    };
  },
};
