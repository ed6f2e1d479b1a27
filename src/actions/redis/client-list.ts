/**
 * Pure parsing of `CLIENT LIST` (one client per line, `key=value` fields separated by spaces) and of
 * the `client-output-buffer-limit` config value, as Redis 7.0 prints them.
 */

/** One client of CLIENT LIST, the fields the runbooks use (numbers as numbers). */
export interface ClientInfo {
  id: string;
  addr: string;
  laddr: string;
  name: string;
  /** Seconds since the connection was made. */
  age: number;
  /** Seconds since its last command. */
  idle: number;
  flags: string;
  db: number;
  sub: number;
  psub: number;
  ssub: number;
  /** Query buffer bytes. */
  qbuf: number;
  /** Output list length (replies queued beyond the fixed buffer). */
  oll: number;
  /** Output buffer bytes (the list). */
  omem: number;
  /** Total memory the client uses (buffers and query buffer). */
  totMem: number;
  cmd: string;
  user: string;
  /** Output buffer class the limits apply to. */
  kind: 'normal' | 'replica' | 'pubsub' | 'master';
}

function int(v: string | undefined): number {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

/** Output buffer class of a client from its flags and subscriptions (as Redis's getClientType). */
export function clientKind(flags: string, subs: number): ClientInfo['kind'] {
  if (flags.includes('M')) return 'master';
  if (flags.includes('S') && !flags.includes('M')) return 'replica';
  if (flags.includes('P') || subs > 0) return 'pubsub';
  return 'normal';
}

/** Parses one CLIENT LIST line (null for an empty or unparsable line). */
export function parseClientLine(line: string): ClientInfo | null {
  const f = new Map<string, string>();
  for (const part of line.trim().split(' ')) {
    const eq = part.indexOf('=');
    if (eq > 0) f.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const id = f.get('id');
  if (!id) return null;
  const flags = f.get('flags') ?? '';
  const sub = int(f.get('sub'));
  const psub = int(f.get('psub'));
  const ssub = int(f.get('ssub'));
  return {
    id,
    addr: f.get('addr') ?? '',
    laddr: f.get('laddr') ?? '',
    name: f.get('name') ?? '',
    age: int(f.get('age')),
    idle: int(f.get('idle')),
    flags,
    db: int(f.get('db')),
    sub,
    psub,
    ssub,
    qbuf: int(f.get('qbuf')),
    oll: int(f.get('oll')),
    omem: int(f.get('omem')),
    totMem: int(f.get('tot-mem')),
    cmd: f.get('cmd') ?? '',
    user: f.get('user') ?? '',
    kind: clientKind(flags, sub + psub + ssub),
  };
}

/** Parses the whole CLIENT LIST reply. */
export function parseClientList(text: string): ClientInfo[] {
  return text
    .split(/\r?\n/)
    .map(parseClientLine)
    .filter((c): c is ClientInfo => c !== null);
}

/** One class of `client-output-buffer-limit`. 0 means no limit. */
export interface BufferLimit {
  hard: number;
  soft: number;
  softSeconds: number;
}

/** Parses `normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60`. */
export function parseBufferLimits(value: string): Partial<Record<'normal' | 'replica' | 'pubsub', BufferLimit>> {
  const out: Partial<Record<'normal' | 'replica' | 'pubsub', BufferLimit>> = {};
  const t = value.trim().split(/\s+/);
  for (let i = 0; i + 3 < t.length; i += 4) {
    const cls = t[i]?.toLowerCase();
    const name = cls === 'slave' ? 'replica' : cls;
    if (name !== 'normal' && name !== 'replica' && name !== 'pubsub') continue;
    out[name] = { hard: memBytes(t[i + 1]), soft: memBytes(t[i + 2]), softSeconds: int(t[i + 3]) };
  }
  return out;
}

/** `64mb` / `1gb` / `1024` → bytes (Redis memory units: k/kb/m/mb/g/gb are powers of 1024 for `b` forms). */
export function memBytes(v: string | undefined): number {
  const m = /^(\d+)(k|kb|m|mb|g|gb)?$/i.exec((v ?? '').trim());
  if (!m) return 0;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const mult: Record<string, number> = { '': 1, k: 1000, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };
  return n * (mult[unit] ?? 1);
}
