/**
 * The incident store: one hash per incident (metadata + the machine snapshot + a version), a
 * list per incident for its timeline, and indexes. Snapshot writes are a compare-and-set on the
 * version (Lua), so events apply one at a time per incident across any number of workers; the
 * machine's own timeline entries are appended in the same atomic step. The timeline is an
 * append-only list.
 */
import type { Cluster, Redis } from 'ioredis';
import type { IncidentState, TimelineEntry } from '../types.js';
import type { Keys } from '../keys.js';

export type StoreClient = Redis | Cluster;

/** The store client with our compare-and-set script defined on it. */
interface CasClient {
  rrCas(incidentKey: string, timelineKey: string, ...args: string[]): Promise<number>;
}

/** What is stored per incident. */
export interface IncidentRecord {
  id: string;
  runbook: string;
  hash: string;
  target: string;
  node?: string;
  title: string;
  severity?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  fingerprints: string[];
  dryRun: boolean;
  createdAt: string;
  updatedAt: string;
  state: IncidentState;
  outcome?: string;
  version: number;
  snapshot: unknown;
}

const CAS = `
local v = redis.call('HGET', KEYS[1], 'version')
if (v or '') ~= ARGV[1] then return 0 end
local nf = tonumber(ARGV[2])
local i = 3
for j = 1, nf do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
local nt = tonumber(ARGV[i]); i = i + 1
for j = 1, nt do redis.call('RPUSH', KEYS[2], ARGV[i]); i = i + 1 end
return 1
`;

function encode(r: Partial<IncidentRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined) continue;
    out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out;
}

const JSON_FIELDS = new Set(['labels', 'annotations', 'fingerprints', 'dryRun', 'version', 'snapshot']);

function decode(h: Record<string, string>): IncidentRecord | undefined {
  if (!h['id']) return undefined;
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) o[k] = JSON_FIELDS.has(k) ? JSON.parse(v) : v;
  return o as unknown as IncidentRecord;
}

export class IncidentStore {
  /** Called after every successful write to an incident (timeline or snapshot). */
  onChange: ((id: string) => void) | undefined;

  constructor(
    private readonly redis: StoreClient,
    private readonly keys: Keys,
  ) {
    // EVALSHA with a cached script instead of sending the Lua text on every write.
    if (typeof (redis as unknown as CasClient).rrCas !== 'function') redis.defineCommand('rrCas', { numberOfKeys: 2, lua: CAS });
  }

  /** Compare-and-set: write `fields` (and bump the version) only if the stored version is `expected` (0 = create). */
  async cas(id: string, expected: number, fields: Partial<IncidentRecord>, notes: TimelineEntry[]): Promise<boolean> {
    const enc = encode({ ...fields, version: expected + 1 });
    const args: string[] = [expected === 0 ? '' : String(expected), String(Object.keys(enc).length)];
    for (const [k, v] of Object.entries(enc)) args.push(k, v);
    args.push(String(notes.length), ...notes.map((n) => JSON.stringify(n)));
    const r = await (this.redis as unknown as CasClient).rrCas(this.keys.incident(id), this.keys.timeline(id), ...args);
    if (r === 1) this.onChange?.(id);
    return r === 1;
  }

  async get(id: string): Promise<IncidentRecord | undefined> {
    return decode(await this.redis.hgetall(this.keys.incident(id)));
  }

  async append(id: string, entry: TimelineEntry): Promise<void> {
    await this.redis.rpush(this.keys.timeline(id), JSON.stringify(entry));
    this.onChange?.(id);
  }

  async timeline(id: string): Promise<TimelineEntry[]> {
    // An append-only list (smaller than a stream); an entry's id is its position, `<n>-0`, which
    // orders like a stream id (the Slack thread cursor compares them).
    const rows = await this.redis.lrange(this.keys.timeline(id), 0, -1);
    return rows.map((row, i) => ({ ...(JSON.parse(row) as TimelineEntry), id: `${i + 1}-0` }));
  }

  async index(id: string, createdAtMs: number): Promise<void> {
    await this.redis.zadd(this.keys.incidents, createdAtMs, id);
    await this.redis.zadd(this.keys.open, createdAtMs, id);
  }

  async unindexOpen(rec: IncidentRecord): Promise<void> {
    await this.redis.zrem(this.keys.open, rec.id);
    for (const fp of rec.fingerprints) await this.delIfEquals(this.keys.fingerprint(fp), rec.id);
    await this.delIfEquals(this.keys.openFor(rec.runbook, rec.target), rec.id);
  }

  /** Claim a key for an incident (SET NX); returns the owner (ours or the existing one). */
  async claim(key: string, id: string, ttlMs = 7 * 24 * 3600_000): Promise<string> {
    const ok = await this.redis.set(key, id, 'PX', ttlMs, 'NX');
    if (ok === 'OK') return id;
    return (await this.redis.get(key)) ?? id;
  }

  async lookup(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async delIfEquals(key: string, value: string): Promise<void> {
    await this.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, key, value);
  }

  async list(opts: { open?: boolean; limit?: number } = {}): Promise<IncidentRecord[]> {
    const ids = await this.redis.zrevrange(opts.open ? this.keys.open : this.keys.incidents, 0, (opts.limit ?? 100) - 1);
    const recs = await Promise.all(ids.map((id) => this.get(id)));
    return recs.filter((r): r is IncidentRecord => r !== undefined);
  }

  async openIds(): Promise<string[]> {
    return this.redis.zrange(this.keys.open, '0', '-1');
  }

  async saveRunbookDef(hash: string, def: unknown): Promise<void> {
    await this.redis.set(this.keys.runbookDef(hash), JSON.stringify(def), 'NX');
  }

  async loadRunbookDef(hash: string): Promise<unknown> {
    const s = await this.redis.get(this.keys.runbookDef(hash));
    return s ? JSON.parse(s) : undefined;
  }
}
