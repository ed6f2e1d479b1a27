/**
 * Slowlog hygiene: what went into each node's SLOWLOG since the last run (an id watermark kept in
 * the check's state; SLOWLOG RESET is never sent): the top command families by slow time, `KEYS`
 * calls and unpaginated reads of whole collections (HGETALL, SMEMBERS, HKEYS, HVALS, LRANGE/ZRANGE
 * 0 -1), each with the clients (address and name) that sent them. Argument values never leave
 * here: only command names, argument counts and, for LRANGE/ZRANGE, whether the range was 0 -1.
 */
import { z } from 'zod';
import { describeGroup, fmtUs, groupSlow, parseSlowlog } from '../../actions/redis/latency-parse.js';
import type { SlowEntry } from '../../actions/redis/latency-parse.js';
import { nodeKey } from '../../actions/types.js';
import type { CheckDefinition, FindingDraft, Severity } from './types.js';

const sev = z.enum(['info', 'warning', 'critical']);

const slowParams = z
  .object({
    /** SLOWLOG GET count (the server keeps slowlog-max-len entries). */
    entries: z.number().int().min(1).max(10_000).default(512),
    /** On the first run (no watermark yet) only entries of this many seconds back count. */
    firstRunWindowSec: z.number().int().min(1).max(7 * 86_400).default(3600),
    /** Families reported as `info` (the top ones by slow time). */
    top: z.number().int().min(0).max(20).default(3),
    /** A family whose slow time since the last run reaches this (ms) is a warning / critical. */
    warningTotalMs: z.number().min(0).default(1000),
    criticalTotalMs: z.number().min(0).default(30_000),
    keys: sev.default('warning'),
    unpaginated: sev.default('warning'),
    /** Client names whose entries are ignored (prefixes; the engine's own connections by default). */
    ignoreNames: z.array(z.string()).default(['redis-runbooks']),
  })
  .strict();

/** Reads of a whole collection in one call. */
const WHOLE = new Set(['HGETALL', 'SMEMBERS', 'HKEYS', 'HVALS', 'SINTER', 'SUNION', 'SDIFF']);
const RANGED = new Set(['LRANGE', 'ZRANGE', 'ZREVRANGE']);

const text = (v: unknown): string => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? ''));

/** Ids of LRANGE/ZRANGE entries asking for the whole range (start 0, stop -1): only the two indices are read. */
function wholeRangeIds(reply: unknown): Set<number> {
  const out = new Set<number>();
  if (!Array.isArray(reply)) return out;
  for (const e of reply) {
    if (!Array.isArray(e) || !Array.isArray(e[3])) continue;
    const argv = e[3] as unknown[];
    if (RANGED.has(text(argv[0]).toUpperCase()) && text(argv[2]) === '0' && text(argv[3]) === '-1') out.add(Number(text(e[0])));
  }
  return out;
}

type Watermarks = Record<string, { lastId: number; at: number }>;

function clientsOf(entries: readonly SlowEntry[]): Array<{ addr: string; name: string; count: number }> {
  const m = new Map<string, { addr: string; name: string; count: number }>();
  for (const e of entries) {
    const k = `${e.addr}\u0000${e.name}`;
    const c = m.get(k) ?? { addr: e.addr, name: e.name, count: 0 };
    c.count += 1;
    m.set(k, c);
  }
  return [...m.values()].sort((a, b) => b.count - a.count);
}

const who = (cs: ReturnType<typeof clientsOf>): string =>
  cs
    .slice(0, 5)
    .map((c) => `${c.addr || 'an unknown client'}${c.name ? ` name=${c.name}` : ' (no name)'} ×${c.count}`)
    .join(', ') + (cs.length > 5 ? ` and ${cs.length - 5} more clients` : '');

export const slowlog: CheckDefinition<z.infer<typeof slowParams>> = {
  type: 'slowlog',
  description: 'SLOWLOG since the last run (id watermark, never reset): top command families by slow time, KEYS calls and unpaginated whole-collection reads, with client addresses and names; argument values never read out.',
  params: slowParams,
  async run(ctx) {
    const p = ctx.params;
    const prev = (ctx.previous ?? {}) as Watermarks;
    const state: Watermarks = {};
    const findings: FindingDraft[] = [];
    const nowSec = Math.floor(ctx.now() / 1000);
    for (const node of ctx.nodes) {
      const n = nodeKey(node);
      const reply = await ctx.command(node, ['SLOWLOG', 'GET', String(p.entries)]);
      const all = parseSlowlog(reply);
      const maxId = all.reduce((m, e) => Math.max(m, e.id), -1);
      const mark = prev[n];
      // A watermark above every id left means the node restarted (ids start again at 0; SLOWLOG RESET keeps counting): all entries are new.
      const fresh = mark !== undefined && maxId >= mark.lastId ? all.filter((e) => e.id > mark.lastId) : mark !== undefined ? all : all.filter((e) => e.ts >= nowSec - p.firstRunWindowSec);
      state[n] = { lastId: Math.max(maxId, mark !== undefined && maxId >= mark.lastId ? mark.lastId : -1), at: ctx.now() };
      const entries = fresh.filter((e) => !p.ignoreNames.some((x) => e.name.startsWith(x)));
      if (entries.length === 0) continue;
      const minFresh = fresh.reduce((m, e) => Math.min(m, e.id), Number.POSITIVE_INFINITY);
      // Entries between the watermark and the oldest one read were pushed out (slowlog-max-len or `entries`): counts are lower bounds.
      const lost = mark !== undefined && maxId >= mark.lastId && minFresh > mark.lastId + 1 ? ' (at least: older entries rolled out of the slowlog before this run)' : '';
      const since = (mark ? `since the last run (${new Date(mark.at).toISOString()})` : `in the last ${p.firstRunWindowSec} s`) + lost;
      const window = Math.max(1, nowSec - (mark ? Math.floor(mark.at / 1000) : nowSec - p.firstRunWindowSec));
      // Top families by slow time.
      const byFamily = new Map<string, SlowEntry[]>();
      for (const e of entries) byFamily.set(e.command, [...(byFamily.get(e.command) ?? []), e]);
      const totalAll = entries.reduce((s, e) => s + e.durationUs, 0);
      const families = [...byFamily.entries()].map(([command, es]) => ({ command, es, totalUs: es.reduce((s, e) => s + e.durationUs, 0), maxUs: es.reduce((m, e) => Math.max(m, e.durationUs), 0) })).sort((a, b) => b.totalUs - a.totalUs);
      for (const [rank, f] of families.entries()) {
        const s: Severity | null = f.totalUs >= p.criticalTotalMs * 1000 ? 'critical' : f.totalUs >= p.warningTotalMs * 1000 ? 'warning' : rank < p.top ? 'info' : null;
        if (!s) continue;
        const cs = clientsOf(f.es);
        findings.push({
          severity: s,
          key: `family:${f.command}:${n}`,
          node: n,
          summary: `${f.command} logged ${f.es.length} slow times on ${n} ${since}: ${fmtUs(f.totalUs)} in total (${Math.round((f.totalUs / Math.max(1, totalAll)) * 100)}% of the slow time), up to ${fmtUs(f.maxUs)}; from ${who(cs)}`,
          data: { command: f.command, count: f.es.length, totalUs: f.totalUs, maxUs: f.maxUs, share: f.totalUs / Math.max(1, totalAll), clients: cs, groups: groupSlow(f.es, nowSec, window + 1).map((g) => describeGroup(g, window)).slice(0, 5) },
        });
      }
      const keys = entries.filter((e) => e.command === 'KEYS');
      if (keys.length > 0) {
        const cs = clientsOf(keys);
        const maxUs = keys.reduce((m, e) => Math.max(m, e.durationUs), 0);
        findings.push({ severity: p.keys, key: `keys:${n}`, node: n, summary: `KEYS ran ${keys.length} times on ${n} ${since} (up to ${fmtUs(maxUs)}; it blocks the server while it walks every key: use SCAN) from ${who(cs)}`, data: { count: keys.length, maxUs, clients: cs } });
      }
      const ranged = wholeRangeIds(reply);
      const whole = entries.filter((e) => WHOLE.has(e.command) || (RANGED.has(e.command) && ranged.has(e.id)));
      const byCmd = new Map<string, SlowEntry[]>();
      for (const e of whole) {
        const label = RANGED.has(e.command) ? `${e.command} 0 -1` : e.command;
        byCmd.set(label, [...(byCmd.get(label) ?? []), e]);
      }
      for (const [label, es] of byCmd) {
        const cs = clientsOf(es);
        const maxUs = es.reduce((m, e) => Math.max(m, e.durationUs), 0);
        const paged = label.startsWith('H') ? 'HSCAN' : label.startsWith('S') ? 'SSCAN' : label.startsWith('Z') ? 'ZSCAN or ZRANGE with LIMIT' : 'LRANGE in pages';
        findings.push({ severity: p.unpaginated, key: `unpaginated:${label.split(' ')[0] ?? label}:${n}`, node: n, summary: `${label} (a whole collection in one call) was slow ${es.length} times on ${n} ${since}, up to ${fmtUs(maxUs)}: a big collection read unpaginated (use ${paged}) from ${who(cs)}`, data: { command: label, count: es.length, maxUs, clients: cs } });
      }
    }
    return { findings, state };
  },
};
