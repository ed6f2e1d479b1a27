/**
 * Pure parsers for Redis text replies: INFO, its `k=v,k=v` list values, keyspace lines and
 * MEMORY DOCTOR. No I/O here; unit-tested on output captured from redis-server 7.0.15.
 */

/** One INFO section: field name → raw value. */
export type InfoSection = Readonly<Record<string, string>>;

/** A parsed INFO reply: lower-cased section name (`memory`, `server`, `errorstats`…) → fields. */
export type Info = Record<string, Record<string, string>>;

/**
 * Parses an INFO reply. Sections start at `# Name` (stored under the lower-cased name); fields are
 * `key:value` split on the first `:`; CRLF or LF line ends; blank lines ignored. Fields that come
 * before any header go to the section `''`.
 */
export function parseInfo(text: string): Info {
  const out: Info = {};
  let current: Record<string, string> = {};
  let name = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      name = line.slice(1).trim().toLowerCase();
      current = out[name] ?? {};
      out[name] = current;
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    if (out[name] === undefined) out[name] = current;
    current[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/**
 * A numeric field of a section, or `fallback` (default 0) when the field or section is absent or
 * not a number. Accepts integers and decimals (`1.35`); a trailing `%` is ignored.
 */
export function num(section: InfoSection | undefined, key: string, fallback = 0): number {
  const v = optNum(section, key);
  return v ?? fallback;
}

/** Like {@link num} but `null` when the field is absent or not a number. */
export function optNum(section: InfoSection | undefined, key: string): number | null {
  const raw = section?.[key];
  if (raw === undefined) return null;
  const n = Number(raw.endsWith('%') ? raw.slice(0, -1) : raw);
  return raw.trim() === '' || !Number.isFinite(n) ? null : n;
}

/** A string field, or `null` when absent or empty. */
export function str(section: InfoSection | undefined, key: string): string | null {
  const v = section?.[key];
  return v === undefined || v === '' ? null : v;
}

/** Splits a list value such as `ip=127.0.0.1,port=6380,state=online` into a record. */
export function parseKv(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/** One database of INFO keyspace. */
export interface KeyspaceDb {
  keys: number;
  expires: number;
  /** Average TTL in ms of the keys that have one (0 when none). */
  avgTtl: number;
}

/** Parses one keyspace line, `db0:keys=63001,expires=3000,avg_ttl=3599900` (or just its value). */
export function parseKeyspaceLine(line: string): { db: string; stats: KeyspaceDb } | null {
  const m = /^\s*(db\d+):(.*)$/.exec(line);
  const db = m?.[1] ?? null;
  const kv = parseKv(m?.[2] ?? line);
  if (kv['keys'] === undefined) return null;
  const toNum = (s: string | undefined): number => (s !== undefined && Number.isFinite(Number(s)) ? Number(s) : 0);
  return { db: db ?? '', stats: { keys: toNum(kv['keys']), expires: toNum(kv['expires']), avgTtl: toNum(kv['avg_ttl']) } };
}

/** Parses a whole INFO keyspace section (from {@link parseInfo}) into `db name → stats`. */
export function parseKeyspace(section: InfoSection | undefined): Record<string, KeyspaceDb> {
  const out: Record<string, KeyspaceDb> = {};
  for (const [key, value] of Object.entries(section ?? {})) {
    if (!/^db\d+$/.test(key)) continue;
    const parsed = parseKeyspaceLine(value);
    if (parsed) out[key] = parsed.stats;
  }
  return out;
}

/** Count of an INFO errorstats entry (`errorstat_OOM:count=7` → 7), 0 when absent. */
export function errorCount(errorstats: InfoSection | undefined, prefix: string): number {
  const v = errorstats?.[`errorstat_${prefix}`];
  if (v === undefined) return 0;
  const n = Number(parseKv(v)['count']);
  return Number.isFinite(n) ? n : 0;
}

/** A replica as its primary lists it in INFO replication (`slaveN:ip=…,port=…,state=…`). */
export interface ListedReplica {
  host: string;
  port: number;
  state: string;
  offset: number;
  lag: number;
}

/** The `slaveN` lines of a primary's INFO replication section, in order. */
export function listedReplicas(replication: InfoSection | undefined): ListedReplica[] {
  const out: Array<ListedReplica & { n: number }> = [];
  for (const [key, value] of Object.entries(replication ?? {})) {
    const m = /^slave(\d+)$/.exec(key);
    if (!m) continue;
    const kv = parseKv(value);
    const port = Number(kv['port']);
    if (kv['ip'] === undefined || !Number.isInteger(port) || port <= 0) continue;
    out.push({ n: Number(m[1]), host: kv['ip'], port, state: kv['state'] ?? '', offset: Number(kv['offset'] ?? 0), lag: Number(kv['lag'] ?? 0) });
  }
  return out.sort((a, b) => a.n - b.n).map(({ n: _n, ...r }) => r);
}

/** `role` of INFO replication mapped to our vocabulary: `master` → primary, `slave` → replica. */
export function infoRole(replication: InfoSection | undefined): 'primary' | 'replica' | 'unknown' {
  const role = replication?.['role'];
  return role === 'master' ? 'primary' : role === 'slave' ? 'replica' : 'unknown';
}

/** MEMORY DOCTOR, interpreted. */
export interface MemoryDoctorReport {
  /** No issue bullet found (an empty instance also counts as healthy, see `empty`). */
  healthy: boolean;
  /** Bullet titles, e.g. `High allocator fragmentation`. */
  issues: string[];
  /** The doctor refused to judge: the instance is empty or uses very little memory. */
  empty: boolean;
}

/** Bullet titles Redis 7.0 can report (object.c `getMemoryDoctorReport`). */
export const MEMORY_DOCTOR_TITLES = [
  'Peak memory',
  'High total RSS',
  'High allocator fragmentation',
  'High allocator RSS overhead',
  'High process RSS overhead',
  'Big replica buffers',
  'Big client buffers',
  'Many scripts',
] as const;

/**
 * Reads MEMORY DOCTOR text. Issues are the ` * Title: …` bullets: known titles are matched, and
 * any other bullet title is reported as is, so a newer server's bullets are not lost.
 */
export function parseMemoryDoctor(text: string): MemoryDoctorReport {
  const issues: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*\*\s+([^:]{1,80}):/.exec(line);
    const title = m?.[1]?.trim();
    if (title && !issues.includes(title)) issues.push(title);
  }
  const empty = /instance is empty or is using very little memory/.test(text);
  return { healthy: issues.length === 0, issues, empty };
}
