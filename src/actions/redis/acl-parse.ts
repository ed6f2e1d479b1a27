/**
 * Pure parsing of `ACL LOG`, `ACL LIST` and the unauthenticated clients of `CLIENT LIST`, as Redis
 * 7.0 replies through ioredis (ACL LOG entries as flat `[field, value, …]` arrays or maps). ACL LIST
 * lines carry password hashes: they are counted here and never copied out.
 */
import { parseClientLine } from './client-list.js';

/** One ACL LOG entry (7.0 fields; `entryId`/`createdMs`/`updatedMs` only from 7.2). */
export interface AclLogEntry {
  /** Repeats folded into this entry (within 60 s). */
  count: number;
  /** `auth` | `command` | `key` | `channel`. */
  reason: string;
  context: string;
  /** The command (`flushall`, `config|get`), key, channel, or `AUTH`/`hello` for auth failures. */
  object: string;
  /** The user the client tried (auth) or ran as. */
  username: string;
  /** Seconds since the entry was last updated. */
  ageSeconds: number;
  /** Client address `ip:port` from client-info. */
  addr: string;
  /** Client IP alone. */
  ip: string;
  clientName: string;
  /** The command the client ran when logged. */
  cmd: string;
  entryId: number | null;
  createdMs: number | null;
  updatedMs: number | null;
}

function fields(raw: unknown): Map<string, unknown> {
  const f = new Map<string, unknown>();
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) f.set(String(raw[i]), raw[i + 1]);
  } else if (raw instanceof Map) {
    for (const [k, v] of raw) f.set(String(k), v);
  } else if (raw && typeof raw === 'object') {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) f.set(k, v);
  }
  return f;
}

function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'number') return String(v);
  return '';
}

function optNumber(v: unknown): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = Number(text(v));
  return Number.isFinite(n) ? n : null;
}

/** Parses the `ACL LOG [count]` reply (newest first, as Redis returns it). */
export function parseAclLog(reply: unknown): AclLogEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((raw) => {
    const f = fields(raw);
    const client = parseClientLine(`id=0 ${text(f.get('client-info'))}`);
    const addr = client?.addr ?? '';
    return {
      count: optNumber(f.get('count')) ?? 1,
      reason: text(f.get('reason')),
      context: text(f.get('context')),
      object: text(f.get('object')),
      username: text(f.get('username')),
      ageSeconds: Math.round((optNumber(f.get('age-seconds')) ?? 0) * 1000) / 1000,
      addr,
      ip: addr.slice(0, Math.max(0, addr.lastIndexOf(':'))).replace(/^\[|\]$/g, ''),
      clientName: client?.name ?? '',
      cmd: client?.cmd ?? '',
      entryId: optNumber(f.get('entry-id')),
      createdMs: optNumber(f.get('timestamp-created')),
      updatedMs: optNumber(f.get('timestamp-last-updated')),
    };
  });
}

/** ACL LOG entries of one (reason, user, client IP). */
export interface AclLogGroup {
  reason: string;
  username: string;
  ip: string;
  /** Every client address (`ip:port`) seen for this group. */
  addrs: string[];
  /** Failures in the group (sum of the entries' counts). */
  count: number;
  entries: number;
  /** Age (s) of the oldest entry: failing since at least this long ago. */
  firstSeenAgeSeconds: number;
  /** Age (s) of the newest entry: how recently it failed. */
  lastSeenAgeSeconds: number;
  /** Commands, keys or channels refused (`flushall`, `config|get`, `other:1`); `hello`/`auth` for auth. */
  objects: string[];
  /** Client names seen (CLIENT SETNAME), when set. */
  clientNames: string[];
}

/** Groups ACL LOG entries by (reason, username, client IP), most failures first. */
export function groupAclLog(entries: readonly AclLogEntry[]): AclLogGroup[] {
  const groups = new Map<string, AclLogGroup>();
  for (const e of entries) {
    const key = `${e.reason}\u0000${e.username}\u0000${e.ip}`;
    let g = groups.get(key);
    if (!g) {
      g = { reason: e.reason, username: e.username, ip: e.ip, addrs: [], count: 0, entries: 0, firstSeenAgeSeconds: e.ageSeconds, lastSeenAgeSeconds: e.ageSeconds, objects: [], clientNames: [] };
      groups.set(key, g);
    }
    g.count += e.count;
    g.entries += 1;
    g.firstSeenAgeSeconds = Math.max(g.firstSeenAgeSeconds, e.ageSeconds);
    g.lastSeenAgeSeconds = Math.min(g.lastSeenAgeSeconds, e.ageSeconds);
    if (e.addr && !g.addrs.includes(e.addr)) g.addrs.push(e.addr);
    if (e.object && !g.objects.includes(e.object)) g.objects.push(e.object);
    if (e.clientName && !g.clientNames.includes(e.clientName)) g.clientNames.push(e.clientName);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || a.lastSeenAgeSeconds - b.lastSeenAgeSeconds);
}

/** One ACL user, without its hashes. */
export interface AclUserSummary {
  name: string;
  enabled: boolean;
  /** How many passwords (hashes) the user holds: 2 during a rotation window. */
  passwords: number;
  nopass: boolean;
  /** Command rules (`+@read`, `-flushall`, …), for NOPERM reports. Hashes are never included. */
  commandRules: string[];
  /** Key patterns (`~app:*`), `allkeys` as `~*`. */
  keyPatterns: string[];
}

/** Parses `ACL LIST` lines (`user app on #<sha256> ~app:* +@read`). Hashes are counted, never kept. */
export function parseAclList(reply: unknown): AclUserSummary[] {
  const lines = Array.isArray(reply) ? reply.map(text) : text(reply).split(/\r?\n/);
  const out: AclUserSummary[] = [];
  for (const line of lines) {
    const tokens = line.trim().split(/\s+/);
    if (tokens[0] !== 'user' || tokens[1] === undefined) continue;
    const u: AclUserSummary = { name: tokens[1], enabled: false, passwords: 0, nopass: false, commandRules: [], keyPatterns: [] };
    for (const t of tokens.slice(2)) {
      if (t === 'on') u.enabled = true;
      else if (t === 'off') u.enabled = false;
      else if (t === 'nopass') u.nopass = true;
      else if (t.startsWith('#') || t.startsWith('>')) u.passwords += 1;
      else if (t.startsWith('~') || t === 'allkeys') u.keyPatterns.push(t === 'allkeys' ? '~*' : t);
      else if (t.startsWith('%')) u.keyPatterns.push(t);
      else if (/^[+-]/.test(t) || t === 'allcommands' || t === 'nocommands') u.commandRules.push(t);
    }
    out.push(u);
  }
  return out;
}

/** A client connected without authenticating (it runs as `default`, and `default` is off). */
export interface UnauthenticatedClient {
  addr: string;
  name: string;
  /** The last command it tried. */
  cmd: string;
  ageSeconds: number;
  idleSeconds: number;
}

/**
 * Clients that never authenticated, from CLIENT LIST: those running as `default` while the
 * default user is off (nobody can be authenticated as a disabled user). Empty when `default` is
 * enabled (then such clients cannot be told apart from legitimate default-user clients).
 */
export function unauthenticatedClients(clientList: string, users: readonly AclUserSummary[]): UnauthenticatedClient[] {
  const def = users.find((u) => u.name === 'default');
  if (!def || def.enabled) return [];
  return clientList
    .split(/\r?\n/)
    .map(parseClientLine)
    .filter((c) => c !== null && c.user === 'default' && !c.flags.includes('M') && !c.flags.includes('S'))
    .map((c) => ({ addr: c!.addr, name: c!.name, cmd: c!.cmd, ageSeconds: c!.age, idleSeconds: c!.idle }));
}

/** New failures of one (reason, user, client IP) group between two ACL LOG reads. */
export interface AclLogGrowth {
  reason: string;
  username: string;
  ip: string;
  addrs: string[];
  /** Failures added between the reads (count growth; entries evicted from the log count as 0). */
  newFailures: number;
}

/** Groups whose failure count grew from `before` to `after` (two reads of ACL LOG), most first. */
export function aclLogGrowth(before: readonly AclLogGroup[], after: readonly AclLogGroup[]): AclLogGrowth[] {
  const key = (g: AclLogGroup): string => `${g.reason}\u0000${g.username}\u0000${g.ip}`;
  const prior = new Map(before.map((g) => [key(g), g.count]));
  return after
    .map((g) => ({ reason: g.reason, username: g.username, ip: g.ip, addrs: g.addrs, newFailures: Math.max(0, g.count - (prior.get(key(g)) ?? 0)) }))
    .filter((g) => g.newFailures > 0)
    .sort((a, b) => b.newFailures - a.newFailures);
}

/** ACL categories of each command in a `COMMAND INFO <name…>` reply (`flushall` → `@keyspace @write @slow @dangerous`). Unknown commands are left out. */
export function commandCategories(reply: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (!Array.isArray(reply)) return out;
  for (const c of reply) {
    if (!Array.isArray(c) || c.length < 7) continue;
    const name = text(c[0]).toLowerCase();
    const cats = Array.isArray(c[6]) ? c[6].map(text).filter((x) => x.startsWith('@')) : [];
    if (name) out[name] = cats;
  }
  return out;
}
