/**
 * Pure reading of a node's persistence state: INFO persistence/stats/errorstats/memory/server and
 * CONFIG GET of the save-related parameters, as redis-server 7.0 answers them. No I/O here;
 * unit-tested on captured replies (test/fixtures/persistence-*).
 *
 * What the server tells us about a failing save, over the protocol (its log is not readable):
 * `rdb_last_bgsave_status:err` (set by a failed fork too), `rdb_last_save_time` (the last
 * SUCCESSFUL save; it does not move on a failure), `errorstat_MISCONF` (writes refused), and
 * `CONFIG GET dir` answering an empty string when the working directory was removed (Redis
 * answers `getcwd()`, which then fails): the save cannot even create its temp file.
 */
import { fmtBytes } from './census-aggregate.js';
import { errorCount, num, optNum, str, type Info } from './info.js';

/** The CONFIG parameters {@link readPersistence} needs (one CONFIG GET). */
export const PERSISTENCE_CONFIG = [
  'dir',
  'dbfilename',
  'appendonly',
  'appenddirname',
  'appendfilename',
  'stop-writes-on-bgsave-error',
  'save',
  'logfile',
  'enable-protected-configs',
] as const;

/** A save point of `save`: snapshot after `seconds` when at least `changes` writes happened. */
export interface SavePoint {
  seconds: number;
  changes: number;
}

/** Why persistence is failing, in the order the runbook cares about. */
export type PersistenceCause = 'rdb-failing' | 'aof-write-failing' | 'aof-rewrite-failing' | 'save-overdue' | 'healthy';

/** One node's persistence, read once. */
export interface PersistenceState {
  rdbStatus: 'ok' | 'err';
  /** rdb_last_save_time: the last successful save (unix seconds). */
  lastSaveTime: number;
  /** Server time minus lastSaveTime (seconds). */
  lastSaveAgeSec: number;
  changesSinceLastSave: number;
  bgsaveInProgress: boolean;
  /** Duration of the last bgsave (s), -1 when none ran. */
  lastBgsaveTimeSec: number;
  aofEnabled: boolean;
  aofWriteStatus: 'ok' | 'err';
  aofRewriteStatus: 'ok' | 'err';
  aofRewriteInProgress: boolean;
  aofRewriteFailures: number;
  /** errorstat_MISCONF: writes refused because persistence failed (since start or CONFIG RESETSTAT). */
  misconf: number;
  /** `dir` as the server answers it; '' when its working directory no longer exists. */
  dir: string;
  dirGone: boolean;
  dbfilename: string;
  appenddirname: string;
  stopWritesOnBgsaveError: boolean;
  savePoints: SavePoint[];
  /** `logfile`: where the save's error text is ('' = standard output). */
  logfile: string;
  protectedConfigs: 'yes' | 'no' | 'local';
  usedMemory: number;
  totalSystemMemory: number;
  /** used_memory / total_system_memory (null when the host size is unknown). */
  memoryShare: number | null;
  latestForkUsec: number;
  lastCowBytes: number;
  /** Redis's own rule (server.c writeCommandsDeniedByDiskError): writes are refused with MISCONF now. */
  writesRefused: boolean;
  /** Any of the three statuses is `err`. */
  failing: boolean;
  cause: PersistenceCause;
  /** Server time (unix seconds) of the read. */
  serverTime: number;
  /** CONFIG GET answered (false: renamed or denied; save points and stop-writes assumed at Redis 7 defaults). */
  configKnown: boolean;
}

/** Redis 7's default `save` when CONFIG GET cannot tell (redis.conf / config.c). */
export const DEFAULT_SAVE = '3600 1 300 100 60 10000';

/** CONFIG GET reply (flat array, or a map under RESP3) → name → value. */
export function configPairs(reply: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const text = (v: unknown): string => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? ''));
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out[text(reply[i])] = text(reply[i + 1]);
  } else if (reply && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply as Record<string, unknown>)) out[k] = text(v);
  }
  return out;
}

/** `3600 1 300 100` → save points; '' → none. */
export function parseSavePoints(value: string): SavePoint[] {
  const t = value.trim().split(/\s+/).filter(Boolean).map(Number);
  const out: SavePoint[] = [];
  for (let i = 0; i + 1 < t.length; i += 2) {
    const seconds = t[i];
    const changes = t[i + 1];
    if (seconds !== undefined && changes !== undefined && Number.isFinite(seconds) && Number.isFinite(changes)) out.push({ seconds, changes });
  }
  return out;
}

const status = (v: string | null): 'ok' | 'err' => (v === 'err' ? 'err' : 'ok');

/** Reads one node's persistence from INFO (persistence, stats, errorstats, memory, server) and CONFIG GET. */
export function readPersistence(info: Info, config: Record<string, string>, opts: { maxAgeSec: number }): PersistenceState {
  const p = info['persistence'];
  const server = info['server'];
  const serverUsec = optNum(server, 'server_time_usec');
  const serverTime = serverUsec !== null ? Math.floor(serverUsec / 1e6) : Math.floor(Date.now() / 1000);
  const lastSaveTime = num(p, 'rdb_last_save_time');
  const rdbStatus = status(str(p, 'rdb_last_bgsave_status'));
  const aofEnabled = num(p, 'aof_enabled') === 1;
  const aofWriteStatus = status(str(p, 'aof_last_write_status'));
  const aofRewriteStatus = status(str(p, 'aof_last_bgrewrite_status'));
  const configKnown = config['save'] !== undefined || config['dir'] !== undefined;
  const savePoints = parseSavePoints(config['save'] ?? (configKnown ? '' : DEFAULT_SAVE));
  const stopWrites = (config['stop-writes-on-bgsave-error'] ?? 'yes') === 'yes';
  const used = num(info['memory'], 'used_memory');
  const total = num(info['memory'], 'total_system_memory');
  const dir = config['dir'] ?? '';
  const changes = num(p, 'rdb_changes_since_last_save');
  const age = Math.max(0, serverTime - lastSaveTime);
  const writesRefused = (stopWrites && savePoints.length > 0 && rdbStatus === 'err') || (aofEnabled && aofWriteStatus === 'err');
  const failing = rdbStatus === 'err' || (aofEnabled && aofWriteStatus === 'err') || aofRewriteStatus === 'err';
  const cause: PersistenceCause =
    rdbStatus === 'err'
      ? 'rdb-failing'
      : aofEnabled && aofWriteStatus === 'err'
        ? 'aof-write-failing'
        : aofRewriteStatus === 'err'
          ? 'aof-rewrite-failing'
          : savePoints.length > 0 && changes > 0 && age > opts.maxAgeSec
            ? 'save-overdue'
            : 'healthy';
  const prot = config['enable-protected-configs'];
  return {
    rdbStatus,
    lastSaveTime,
    lastSaveAgeSec: age,
    changesSinceLastSave: changes,
    bgsaveInProgress: num(p, 'rdb_bgsave_in_progress') === 1,
    lastBgsaveTimeSec: num(p, 'rdb_last_bgsave_time_sec', -1),
    aofEnabled,
    aofWriteStatus,
    aofRewriteStatus,
    aofRewriteInProgress: num(p, 'aof_rewrite_in_progress') === 1,
    aofRewriteFailures: num(p, 'aof_rewrites_consecutive_failures'),
    misconf: errorCount(info['errorstats'], 'MISCONF'),
    dir,
    dirGone: config['dir'] !== undefined && dir === '',
    dbfilename: config['dbfilename'] ?? 'dump.rdb',
    appenddirname: config['appenddirname'] ?? '',
    stopWritesOnBgsaveError: stopWrites,
    savePoints,
    logfile: config['logfile'] ?? '',
    protectedConfigs: prot === 'yes' || prot === 'local' ? prot : 'no',
    usedMemory: used,
    totalSystemMemory: total,
    memoryShare: total > 0 ? used / total : null,
    latestForkUsec: num(info['stats'], 'latest_fork_usec'),
    lastCowBytes: num(p, 'rdb_last_cow_size'),
    writesRefused,
    failing,
    cause,
    serverTime,
    configKnown,
  };
}

/** Is the client address loopback (what Redis's `enable-protected-configs local` accepts)? */
export function isLocalAddr(addr: string): boolean {
  const host = addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === '127.0.0.1' || host === '::1' || host.startsWith('/') || addr === '';
}

/** `addr=` of a CLIENT INFO line. */
export function clientAddr(clientInfo: string): string {
  return /(?:^|\s)addr=(\S*)/.exec(clientInfo)?.[1] ?? '';
}

/** Human duration: `412 s`, `3.2 h`, `2.1 d`. */
export function fmtAge(sec: number): string {
  if (sec < 120) return `${Math.round(sec)} s`;
  if (sec < 7200) return `${(sec / 60).toFixed(1)} min`;
  if (sec < 172_800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86_400).toFixed(1)} d`;
}

/** Hints a human needs, derived from what the server says (never from its disk, which we cannot see). */
export function persistenceHints(s: PersistenceState, node: string): string[] {
  const hints: string[] = [];
  // first: the runbook notes hints[0] when the config is unknown or dir was removed (never both)
  if (!s.configKnown) hints.push(`CONFIG GET is refused on ${node} (renamed or denied): dir, dbfilename and save are unknown; Redis 7 defaults assumed for save and stop-writes-on-bgsave-error`);
  if (s.dirGone) hints.push(`CONFIG GET dir answers an empty string on ${node}: the server's working directory was removed (getcwd fails), so a save cannot create its temp file there — even once the path exists again`);
  if (s.rdbStatus === 'err' && s.memoryShare !== null && s.memoryShare > 0.5) {
    hints.push(`fork headroom is tight: used_memory ${fmtBytes(s.usedMemory)} is ${Math.round(s.memoryShare * 100)}% of host RAM ${fmtBytes(s.totalSystemMemory)}; a failed fork also reads as rdb_last_bgsave_status:err`);
  }
  if (s.latestForkUsec > 500_000) hints.push(`the last fork took ${(s.latestForkUsec / 1000).toFixed(0)} ms (latest_fork_usec ${s.latestForkUsec})`);
  if (s.failing) hints.push(`the error text of the failed ${s.rdbStatus === 'err' ? 'save' : 'AOF operation'} is only in the server log (${s.logfile === '' ? 'standard output' : s.logfile}): not readable over the protocol`);
  return hints;
}

/** One line naming the node, the status, the dir, the age and the MISCONF count. */
export function persistenceSummary(s: PersistenceState, node: string, misconfDelta: number, gapMs: number): string {
  const where = !s.configKnown ? 'dir unknown (CONFIG GET refused)' : s.dirGone ? 'dir <removed> (CONFIG GET dir is empty)' : `dir ${s.dir}`;
  const what =
    s.cause === 'rdb-failing'
      ? `RDB snapshot failing on ${node} (rdb_last_bgsave_status:err)`
      : s.cause === 'aof-write-failing'
        ? `AOF writes failing on ${node} (aof_last_write_status:err)`
        : s.cause === 'aof-rewrite-failing'
          ? `AOF rewrite failing on ${node} (aof_last_bgrewrite_status:err, ${s.aofRewriteFailures} consecutive failures)`
          : s.cause === 'save-overdue'
            ? `no successful snapshot on ${node} for ${fmtAge(s.lastSaveAgeSec)}`
            : `persistence healthy on ${node}`;
  const files = s.aofEnabled ? `${where}, ${s.dbfilename}, AOF in ${s.appenddirname}` : `${where}, ${s.dbfilename}`;
  const age = `last good save ${fmtAge(s.lastSaveAgeSec)} ago, ${s.changesSinceLastSave} changes not on disk`;
  const refused = s.writesRefused ? `writes refused with MISCONF (${s.misconf} so far, +${misconfDelta} in ${(gapMs / 1000).toFixed(0)} s)` : `writes accepted (MISCONF ${s.misconf} so far, +${misconfDelta} in ${(gapMs / 1000).toFixed(0)} s)`;
  return `${what}: ${files}; ${age}; ${refused}`;
}
