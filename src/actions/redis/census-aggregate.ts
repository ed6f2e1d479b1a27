/**
 * Pure aggregation for `redis.key-census`: key families (prefix by a separator and a depth, with
 * numbers, UUIDs and hex ids collapsed to `*`), per-family sums, calibration of byte estimates from
 * the keys actually measured with MEMORY USAGE, top keys, and the state-like families an
 * `allkeys-*` policy would evict. Also the Redis glob matcher the batch actions re-check keys with.
 */

/** Key types as TYPE answers them (`other` for module types and anything unknown). */
export type KeyType = 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'other';

/** Collection types: the size of a key of these types is its element count. */
export const COLLECTIONS: readonly KeyType[] = ['list', 'set', 'zset', 'hash', 'stream'];

/** Longest key or family name kept in findings. */
export const NAME_MAX = 200;

/** How key names are cut into families. */
export interface FamilyOptions {
  /** Segment separator, e.g. `:`. */
  separator: string;
  /** Segments kept (1 = `session:*`, 2 = `cache:page:*`). */
  depth: number;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEX_ID = /^(?=.*\d)[0-9a-f]{12,}$/i;
const NUMBERISH = /^[-+]?\d+([._-]\d+)*$/;
/** Segments mixing letters and 3+ digits (`u12345`, `order-2024-09`) or long base64-ish tokens. */
const MIXED_ID = /^(?=(?:.*\d){3})[A-Za-z0-9_-]{6,}$/;

/** True when a key segment is an identifier (number, UUID, hex or mixed id) rather than a name. */
export function isIdSegment(seg: string): boolean {
  return seg.length > 0 && (NUMBERISH.test(seg) || UUID.test(seg) || HEX_ID.test(seg) || MIXED_ID.test(seg));
}

/** Name segments seen (not ids): most keys share a few, so the regexes run once per name. */
const NAME_SEGMENTS = new Set<string>();

function segmentGlob(seg: string): string {
  if (NAME_SEGMENTS.has(seg)) return globEscape(seg);
  if (isIdSegment(seg)) return '*';
  if (NAME_SEGMENTS.size < 100_000) NAME_SEGMENTS.add(seg);
  return globEscape(seg);
}

/** Escapes Redis glob metacharacters (`* ? [ ] \`) so a literal text matches only itself. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * The family of `key` as a Redis glob pattern: the first `depth` segments, id-like segments as `*`,
 * and `<sep>*` when the key has more segments. Keys without the separator are their own family
 * (`*` when the whole name is an id).
 */
export function familyOf(key: string, opts: FamilyOptions): string {
  const parts = opts.separator === '' ? [key] : key.split(opts.separator);
  const kept = parts.slice(0, Math.max(1, opts.depth)).map(segmentGlob);
  let fam = kept.join(opts.separator);
  if (parts.length > kept.length) fam += `${opts.separator}*`;
  // `a:*:*` is `a:*` as a glob (`*` crosses separators): keep the shorter, equivalent name.
  while (fam.endsWith(`${opts.separator}*${opts.separator}*`)) fam = fam.slice(0, -(opts.separator.length + 1));
  return fam.length > NAME_MAX ? `${fam.slice(0, NAME_MAX)}*` : fam;
}

/** Compiles a Redis glob (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`) into an anchored RegExp. */
export function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i] ?? '');
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const neg = body.startsWith('^');
      if (neg) body = body.slice(1);
      const cls = body.replace(/\\(.)/g, '$1').replace(/[\\\]^]/g, (x) => `\\${x}`);
      re += `[${neg ? '^' : ''}${cls}]`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`);
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, (x) => `\\${x}`);
}

/** One key as the census saw it. */
export interface KeyObservation {
  key: string;
  type: KeyType;
  /** Element count (collections) or STRLEN (strings); 0 when unknown. */
  size: number;
  /** PTTL: -1 no TTL. */
  ttlMs: number;
  /** MEMORY USAGE, when this key was measured. */
  bytes?: number;
}

/** Units a key's bytes are estimated from: string length + name length, or element count. */
export function unitsOf(o: Pick<KeyObservation, 'key' | 'type' | 'size'>): number {
  return o.type === 'string' ? o.size + o.key.length + 16 : o.size + 1;
}

interface TypeAcc {
  keys: number;
  units: number;
  elements: number;
  measuredBytes: number;
  measuredUnits: number;
  measured: number;
}

interface FamilyAcc {
  keys: number;
  noTtl: number;
  types: Map<KeyType, TypeAcc>;
  /** Reservoir sample of key names (for idle time and for showing examples). */
  sample: string[];
  seen: number;
}

/** A key kept as a top candidate. */
export interface TopKey {
  key: string;
  family: string;
  type: KeyType;
  /** Element count (collections) or string length. */
  size: number;
  ttlMs: number;
  /** MEMORY USAGE when measured, else the estimate. */
  bytes: number;
  measured: boolean;
}

/** Idle time (seconds, OBJECT IDLETIME) or access frequency (OBJECT FREQ) of sampled keys. */
export interface AccessStat {
  metric: 'idle_seconds' | 'lfu_freq';
  sampled: number;
  min: number;
  median: number;
  max: number;
}

/** One key family in the findings. */
export interface FamilyStat {
  family: string;
  keys: number;
  /** Estimated bytes (MEMORY USAGE of measured keys, calibrated estimate for the rest). */
  bytes: number;
  /** bytes / all estimated bytes. */
  share: number;
  noTtlKeys: number;
  noTtlShare: number;
  /** Type → number of keys. */
  types: Partial<Record<KeyType, number>>;
  /** The type most of its keys have. */
  mainType: KeyType;
  /** Sum of element counts of its collection keys. */
  elements: number;
  /** Keys actually measured with MEMORY USAGE (the rest are estimated from them). */
  measuredKeys: number;
  access: AccessStat | null;
  /** Keys without TTL that hold state (queues, sessions, locks, jobs; lists, streams, hashes). */
  stateLike: boolean;
  /** Why it looks like state (empty when not). */
  stateReason: string;
  /** A few of its keys. */
  sampleKeys: string[];
}

/** What {@link CensusAggregator.report} returns. */
export interface CensusReport {
  scannedKeys: number;
  bytes: number;
  noTtlKeys: number;
  noTtlShare: number;
  types: Partial<Record<KeyType, number>>;
  families: FamilyStat[];
  familiesTotal: number;
  topKeysByBytes: TopKey[];
  topKeysByElements: TopKey[];
}

const STATE_NAME = /(^|[^a-z])(queues?|q|sessions?|sess|locks?|mutex|jobs?|bull|tasks?|workers?|outbox|inbox|dlq|dead|deadletter|state|orders?|carts?|streams?|events?)([^a-z]|$)/i;

/** Whether a family without TTL looks like state an eviction would lose, and why. */
export function stateLikeReason(family: string, types: Partial<Record<KeyType, number>>, keys: number, noTtl: number): string {
  if (noTtl === 0) return '';
  const name = STATE_NAME.exec(family)?.[2];
  const holding = (['list', 'stream', 'hash'] as const).filter((t) => (types[t] ?? 0) > 0);
  const parts: string[] = [];
  if (name) parts.push(`named like state ('${name}')`);
  if (holding.length > 0 && noTtl / Math.max(1, keys) >= 0.5) parts.push(`${holding.join('/')} keys without TTL`);
  return parts.join(', ');
}

/** Streaming aggregation of key observations. Memory is bounded by `maxFamilies` and `top`. */
export class CensusAggregator {
  readonly #fams = new Map<string, FamilyAcc>();
  readonly #topUnits = new Map<KeyType, TopKey[]>();
  readonly #measured = new Map<string, number>();
  readonly #typeTotals = new Map<KeyType, TypeAcc>();
  readonly #wanted = new Map<string, number>();
  #scanned = 0;
  #noTtl = 0;
  #rand: () => number;

  constructor(
    private readonly opts: FamilyOptions & {
      /** Entries in each top list. */
      top: number;
      /** Distinct families tracked; new ones beyond are counted under `(other)`. */
      maxFamilies: number;
      /** Keys measured per family for calibration. */
      calibratePerFamily: number;
      /** Key names kept per family. */
      samplePerFamily: number;
    },
    rand: () => number = Math.random,
  ) {
    this.#rand = rand;
  }

  /** Keys added so far. */
  get scanned(): number {
    return this.#scanned;
  }

  /** The family `key` belongs to (or `(other)` once `maxFamilies` are tracked). */
  familyFor(key: string): string {
    const fam = familyOf(key, this.opts);
    return this.#fams.has(fam) || this.#fams.size < this.opts.maxFamilies ? fam : '(other)';
  }

  /**
   * Whether a key of this family should be measured with MEMORY USAGE (to calibrate the estimates):
   * the first few of each family, then about one in 256.
   */
  wantsMeasure(family: string): boolean {
    const n = this.#wanted.get(family) ?? 0;
    if (n < this.opts.calibratePerFamily) {
      this.#wanted.set(family, n + 1);
      return true;
    }
    return this.#rand() < 1 / 256;
  }

  /** Adds one observed key. */
  add(o: KeyObservation, family = this.familyFor(o.key)): void {
    this.#scanned++;
    if (o.ttlMs === -1) this.#noTtl++;
    let f = this.#fams.get(family);
    if (!f) {
      f = { keys: 0, noTtl: 0, types: new Map(), sample: [], seen: 0 };
      this.#fams.set(family, f);
    }
    f.keys++;
    if (o.ttlMs === -1) f.noTtl++;
    f.seen++;
    if (f.sample.length < this.opts.samplePerFamily) f.sample.push(o.key);
    else {
      const j = Math.floor(this.#rand() * f.seen);
      if (j < f.sample.length) f.sample[j] = o.key;
    }
    const units = unitsOf(o);
    for (const acc of [typeAcc(f.types, o.type), typeAcc(this.#typeTotals, o.type)]) {
      acc.keys++;
      acc.units += units;
      if (o.type !== 'string') acc.elements += o.size;
      if (o.bytes !== undefined) {
        acc.measured++;
        acc.measuredBytes += o.bytes;
        acc.measuredUnits += units;
      }
    }
    if (o.bytes !== undefined) this.#measured.set(o.key, o.bytes);
    const list = this.#topUnits.get(o.type) ?? [];
    this.#topUnits.set(o.type, list);
    offer(list, { key: o.key, family, type: o.type, size: o.size, ttlMs: o.ttlMs, bytes: o.bytes ?? 0, measured: o.bytes !== undefined }, this.opts.top * 2, (k) => unitsOf(k));
  }

  /** Bytes per unit for a family and type (calibrated from measured keys; type-wide as fallback). */
  ratio(family: string, type: KeyType): number {
    const t = this.#fams.get(family)?.types.get(type);
    if (t && t.measuredUnits > 0) return t.measuredBytes / t.measuredUnits;
    const g = this.#typeTotals.get(type);
    if (g && g.measuredUnits > 0) return g.measuredBytes / g.measuredUnits;
    return type === 'string' ? 1.2 : 64;
  }

  /** Estimated bytes of one key. */
  estimate(k: Pick<TopKey, 'key' | 'family' | 'type' | 'size'>): number {
    const m = this.#measured.get(k.key);
    return m ?? Math.round(this.ratio(k.family, k.type) * unitsOf(k));
  }

  /** Keys worth an exact MEMORY USAGE: the top of each type by size, not measured yet. */
  candidates(): TopKey[] {
    return [...this.#topUnits.values()].flat().filter((k) => !this.#measured.has(k.key));
  }

  /** Records an exact MEMORY USAGE of a candidate (null: the key is gone). */
  setMeasured(key: string, bytes: number | null): void {
    if (bytes === null) return;
    for (const list of this.#topUnits.values()) {
      for (const k of list) {
        if (k.key !== key) continue;
        // counted exactly in its family's bytes; not used for the rate (outliers would skew it)
        k.bytes = bytes;
        k.measured = true;
      }
    }
    this.#measured.set(key, bytes);
  }

  /** Families by estimated bytes, with their sampled key names (for idle-time sampling). */
  familyNames(limit: number): Array<{ family: string; sample: string[] }> {
    return this.#familyBytes()
      .slice(0, limit)
      .map(([family]) => ({ family, sample: [...(this.#fams.get(family)?.sample ?? [])] }));
  }

  #familyBytes(): Array<[string, number]> {
    return [...this.#fams.entries()]
      .map(([name, f]): [string, number] => [name, this.#bytesOf(name, f)])
      .sort((a, b) => b[1] - a[1]);
  }

  /**
   * Bytes of a family: measured keys count exactly; the others at the family's calibrated rate.
   * Large outliers (top candidates measured exactly) would skew the rate, so the rate comes from
   * the calibration sample, and measured outliers replace their estimated share.
   */
  #bytesOf(name: string, f: FamilyAcc): number {
    let total = 0;
    for (const [type, t] of f.types) {
      const rate = this.ratio(name, type);
      let units = t.units;
      let exact = 0;
      for (const k of this.#topUnits.get(type) ?? []) {
        if (k.family !== name || !k.measured) continue;
        exact += k.bytes;
        units -= unitsOf(k);
      }
      total += exact + Math.max(0, units) * rate;
    }
    return Math.round(total);
  }

  /** The findings, with `access` stats per family when given. */
  report(limitFamilies: number, access: ReadonlyMap<string, AccessStat> = new Map()): CensusReport {
    const fb = this.#familyBytes();
    const bytes = fb.reduce((s, [, b]) => s + b, 0);
    const families = fb.slice(0, limitFamilies).map(([name, b]): FamilyStat => {
      const f = this.#fams.get(name);
      const types: Partial<Record<KeyType, number>> = {};
      let elements = 0;
      let measuredKeys = 0;
      let mainType: KeyType = 'other';
      let mainCount = -1;
      for (const [t, acc] of f?.types ?? []) {
        types[t] = acc.keys;
        elements += acc.elements;
        measuredKeys += acc.measured;
        if (acc.keys > mainCount) {
          mainCount = acc.keys;
          mainType = t;
        }
      }
      const keys = f?.keys ?? 0;
      const noTtl = f?.noTtl ?? 0;
      const reason = stateLikeReason(name, types, keys, noTtl);
      return {
        family: name,
        keys,
        bytes: b,
        share: bytes > 0 ? b / bytes : 0,
        noTtlKeys: noTtl,
        noTtlShare: keys > 0 ? noTtl / keys : 0,
        types,
        mainType,
        elements,
        measuredKeys,
        access: access.get(name) ?? null,
        stateLike: reason !== '',
        stateReason: reason,
        sampleKeys: (f?.sample ?? []).slice(0, 5),
      };
    });
    const all = [...this.#topUnits.values()].flat().map((k) => ({ ...k, bytes: this.estimate(k) }));
    const topKeysByBytes = [...all].sort((a, b) => b.bytes - a.bytes).slice(0, this.opts.top);
    const topKeysByElements = all
      .filter((k) => k.type !== 'string' && k.type !== 'other')
      .sort((a, b) => b.size - a.size)
      .slice(0, this.opts.top);
    const types: Partial<Record<KeyType, number>> = {};
    for (const [t, acc] of this.#typeTotals) types[t] = acc.keys;
    return {
      scannedKeys: this.#scanned,
      bytes,
      noTtlKeys: this.#noTtl,
      noTtlShare: this.#scanned > 0 ? this.#noTtl / this.#scanned : 0,
      types,
      families,
      familiesTotal: this.#fams.size,
      topKeysByBytes,
      topKeysByElements,
    };
  }
}

function typeAcc(m: Map<KeyType, TypeAcc>, t: KeyType): TypeAcc {
  let acc = m.get(t);
  if (!acc) {
    acc = { keys: 0, units: 0, elements: 0, measuredBytes: 0, measuredUnits: 0, measured: 0 };
    m.set(t, acc);
  }
  return acc;
}

/** Keeps the `size` largest by `score`, largest first. */
function offer<T>(list: T[], item: T, size: number, score: (t: T) => number): void {
  const s = score(item);
  const last = list[list.length - 1];
  if (list.length >= size && last !== undefined && s <= score(last)) return;
  let i = list.findIndex((e) => s > score(e));
  if (i < 0) i = list.length;
  list.splice(i, 0, item);
  if (list.length > size) list.pop();
}

/** Median/min/max of numbers (null when empty). */
export function accessStat(metric: AccessStat['metric'], values: number[]): AccessStat | null {
  if (values.length === 0) return null;
  const v = [...values].sort((a, b) => a - b);
  return { metric, sampled: v.length, min: v[0] ?? 0, median: v[Math.floor(v.length / 2)] ?? 0, max: v[v.length - 1] ?? 0 };
}

/** Bytes as `1.2 MB` (decimal-free MiB/KiB style used in findings). */
export function fmtBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
