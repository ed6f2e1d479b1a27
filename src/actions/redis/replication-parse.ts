/**
 * Pure parsers for replication readings: INFO replication/stats/persistence of a primary or a
 * replica, CLIENT LIST (replica clients, `flags=S`, their `omem`), the `client-output-buffer-limit`
 * config value, and ACL LOG entries. No I/O; unit-tested on output captured from redis-server 7.0.15
 * (test/fixtures/replication-*).
 */
import { infoRole, listedReplicas, num, optNum, parseKv, str, type Info, type ListedReplica } from './info.js';

/** What one node says about replication (INFO replication, stats, persistence). */
export interface ReplicationState {
  role: 'primary' | 'replica' | 'unknown';
  /** Replica: the primary it replicates (`host:port`), else null. */
  master: string | null;
  /** Replica: `master_link_status` (`up` / `down`), else null. */
  linkStatus: string | null;
  /** Replica: seconds since the last byte from the primary; -1 while there is no link. */
  lastIoSecondsAgo: number | null;
  /** Replica: `master_sync_in_progress` (a bulk transfer is running). */
  syncInProgress: boolean;
  /** Replica: seconds the link has been down (`master_link_down_since_seconds`), null when up. */
  linkDownSinceSeconds: number | null;
  /** Replica: bytes of the transfer read so far / total, when syncing. */
  syncReadBytes: number | null;
  syncTotalBytes: number | null;
  /** Replica: `slave_repl_offset`. Primary: `master_repl_offset`. */
  offset: number;
  /** Replica: `slave_priority` (0 = never promoted by Sentinel). */
  priority: number | null;
  /** Primary: the `slaveN` lines. */
  replicas: ListedReplica[];
  connectedReplicas: number;
  backlog: { active: boolean; size: number; firstByteOffset: number; histlen: number };
  failoverState: string | null;
  replid: string | null;
  /** INFO stats counters (meaningful on a primary). */
  syncFull: number;
  syncPartialOk: number;
  syncPartialErr: number;
  /** INFO persistence. */
  rdbBgsaveInProgress: boolean;
  loading: boolean;
  aofEnabled: boolean;
  totalForks: number;
  latestForkUsec: number;
}

/** Reads a node's replication state from a parsed INFO reply (sections replication, stats, persistence). */
export function parseReplicationState(info: Info): ReplicationState {
  const r = info['replication'];
  const stats = info['stats'];
  const pers = info['persistence'];
  const role = infoRole(r);
  const host = str(r, 'master_host');
  const port = optNum(r, 'master_port');
  const down = optNum(r, 'master_link_down_since_seconds');
  return {
    role,
    master: role === 'replica' && host && port ? `${host}:${port}` : null,
    linkStatus: role === 'replica' ? str(r, 'master_link_status') : null,
    lastIoSecondsAgo: role === 'replica' ? optNum(r, 'master_last_io_seconds_ago') : null,
    syncInProgress: num(r, 'master_sync_in_progress') === 1,
    linkDownSinceSeconds: down !== null && down >= 0 ? down : null,
    syncReadBytes: optNum(r, 'master_sync_read_bytes'),
    syncTotalBytes: optNum(r, 'master_sync_total_bytes'),
    offset: role === 'replica' ? num(r, 'slave_repl_offset') : num(r, 'master_repl_offset'),
    priority: optNum(r, 'slave_priority'),
    replicas: listedReplicas(r),
    connectedReplicas: num(r, 'connected_slaves'),
    backlog: {
      active: num(r, 'repl_backlog_active') === 1,
      size: num(r, 'repl_backlog_size'),
      firstByteOffset: num(r, 'repl_backlog_first_byte_offset'),
      histlen: num(r, 'repl_backlog_histlen'),
    },
    failoverState: str(r, 'master_failover_state'),
    replid: str(r, 'master_replid'),
    syncFull: num(stats, 'sync_full'),
    syncPartialOk: num(stats, 'sync_partial_ok'),
    syncPartialErr: num(stats, 'sync_partial_err'),
    rdbBgsaveInProgress: num(pers, 'rdb_bgsave_in_progress') === 1,
    loading: num(pers, 'loading') === 1,
    aofEnabled: num(pers, 'aof_enabled') === 1,
    totalForks: num(stats, 'total_forks'),
    latestForkUsec: num(stats, 'latest_fork_usec'),
  };
}

/** One line of CLIENT LIST, the fields the runbooks use. */
export interface ClientEntry {
  id: string;
  /** Client address `ip:port` (for a replica: its outgoing socket, not its listening port). */
  addr: string;
  flags: string;
  /** Output buffer memory, bytes. */
  omem: number;
  /** Output list length (reply blocks queued). */
  oll: number;
  /** Seconds since the connection opened. */
  age: number;
  cmd: string;
  user: string;
}

/** Parses CLIENT LIST (one client a line, `k=v` separated by spaces). */
export function parseClientList(text: string): ClientEntry[] {
  const out: ClientEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const kv: Record<string, string> = {};
    for (const part of line.trim().split(' ')) {
      const i = part.indexOf('=');
      if (i > 0) kv[part.slice(0, i)] = part.slice(i + 1);
    }
    if (kv['id'] === undefined) continue;
    out.push({
      id: kv['id'],
      addr: kv['addr'] ?? '',
      flags: kv['flags'] ?? '',
      omem: Number(kv['omem'] ?? 0) || 0,
      oll: Number(kv['oll'] ?? 0) || 0,
      age: Number(kv['age'] ?? 0) || 0,
      cmd: kv['cmd'] ?? '',
      user: kv['user'] ?? '',
    });
  }
  return out;
}

/** The clients that are replicas of this node (`flags` contains `S`). */
export function replicaClients(clients: readonly ClientEntry[]): ClientEntry[] {
  return clients.filter((c) => c.flags.includes('S'));
}

/** One class of `client-output-buffer-limit`, in bytes and seconds (0 = no limit). */
export interface BufferLimit {
  hard: number;
  soft: number;
  softSeconds: number;
}

/** Parses a memory size as Redis writes it in configs (`256mb`, `64m`, `1gb`, `262144`). */
export function parseMemorySize(v: string): number | null {
  const m = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'b').toLowerCase();
  const mult: Record<string, number> = { b: 1, k: 1000, kb: 1024, m: 1000 ** 2, mb: 1024 ** 2, g: 1000 ** 3, gb: 1024 ** 3 };
  return n * (mult[unit] ?? 1);
}

/**
 * The `replica` (alias `slave`) class of a `client-output-buffer-limit` value such as
 * `normal 0 0 0 slave 262144 131072 1 pubsub 33554432 8388608 60`; null when absent or malformed.
 */
export function replicaBufferLimit(value: string): BufferLimit | null {
  const f = value.trim().split(/\s+/);
  for (let i = 0; i + 3 < f.length; i += 4) {
    const cls = f[i]?.toLowerCase();
    if (cls !== 'slave' && cls !== 'replica') continue;
    const hard = parseMemorySize(f[i + 1] ?? '');
    const soft = parseMemorySize(f[i + 2] ?? '');
    const secs = Number(f[i + 3]);
    if (hard === null || soft === null || !Number.isFinite(secs)) return null;
    return { hard, soft, softSeconds: secs };
  }
  return null;
}

/** One ACL LOG entry (Redis 7.0 fields). */
export interface AclLogEntry {
  count: number;
  /** `auth`, `command`, `key`, `channel`. */
  reason: string;
  context: string;
  object: string;
  username: string;
  ageSeconds: number;
  /** `addr` of the client that failed (`ip:port`). */
  clientAddr: string;
}

function record(entry: unknown): Record<string, unknown> {
  const rec: Record<string, unknown> = {};
  if (Array.isArray(entry)) {
    for (let i = 0; i + 1 < entry.length; i += 2) rec[String(entry[i])] = entry[i + 1];
  } else if (entry && typeof entry === 'object') {
    Object.assign(rec, entry);
  }
  return rec;
}

/** Parses an `ACL LOG [n]` reply (a list of flat field/value arrays, or of maps). */
export function parseAclLog(reply: unknown): AclLogEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((e) => {
    const r = record(e);
    const client = parseKv(String(r['client-info'] ?? '').split(' ').join(','));
    return {
      count: Number(r['count'] ?? 0) || 0,
      reason: String(r['reason'] ?? ''),
      context: String(r['context'] ?? ''),
      object: String(r['object'] ?? ''),
      username: String(r['username'] ?? ''),
      ageSeconds: Number(r['age-seconds'] ?? 0) || 0,
      clientAddr: client['addr'] ?? '',
    };
  });
}

/** Host part of `ip:port` (IPv6 aware). */
export function addrHost(addr: string): string {
  const i = addr.lastIndexOf(':');
  return (i < 0 ? addr : addr.slice(0, i)).replace(/^\[|\]$/g, '');
}
