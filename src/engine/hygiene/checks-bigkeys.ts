/**
 * Big keys and growing collections: the bounded key census (`redis.key-census`, SCAN with COUNT,
 * key/time budgets and busy-share pauses, on a replica when there is one) names the collections
 * above a size, and compares each top collection's element count with the previous run's (kept in
 * the check's state) to find the ones that keep growing (a list nobody trims, a set that only
 * gets added to). Key names are reported (truncated), never values.
 */
import { z } from 'zod';
import { COLLECTIONS, fmtBytes } from '../../actions/redis/census-aggregate.js';
import type { TopKey } from '../../actions/redis/census-aggregate.js';
import { keyCensus } from '../../actions/redis/key-census.js';
import type { KeyCensusResult } from '../../actions/redis/key-census.js';
import { nodeKey } from '../../actions/types.js';
import type { CheckDefinition, FindingDraft, Severity } from './types.js';

const bigParams = z
  .object({
    /** A collection of at least this many bytes (MEMORY USAGE) is a warning / critical. */
    warningBytes: z.number().int().positive().default(10 * 1024 * 1024),
    criticalBytes: z.number().int().positive().default(256 * 1024 * 1024),
    /** A collection of at least this many elements is a warning (commands on all of it block). */
    warningElements: z.number().int().positive().default(1_000_000),
    /** Growth since the last run that counts: at least this many elements and this share of the earlier size. */
    growthElements: z.number().int().min(1).default(10_000),
    growthShare: z.number().min(0).default(0.1),
    /** Top keys the census keeps (and the state remembers) by bytes and by elements. */
    top: z.number().int().min(1).max(100).default(20),
    count: z.number().int().positive().max(10_000).default(1000),
    maxKeys: z.number().int().positive().max(50_000_000).default(1_000_000),
    maxMillis: z.number().int().positive().max(300_000).default(20_000),
    maxBusy: z.number().gt(0).max(1).default(0.3),
  })
  .strict();

type Sizes = { at: number; node: string; keys: Record<string, { size: number; bytes: number; type: string }> };

export const bigKeys: CheckDefinition<z.infer<typeof bigParams>> = {
  type: 'big-keys',
  description: 'Big collections (bytes, elements) and collections that grew since the last run, from the bounded key census on a replica when there is one.',
  params: bigParams,
  async run(ctx) {
    const p = ctx.params;
    const n = nodeKey(ctx.scanNode);
    const c: KeyCensusResult = await ctx.action(keyCensus, ctx.scanNode, { count: p.count, maxKeys: p.maxKeys, maxMillis: p.maxMillis, maxBusy: p.maxBusy, top: p.top, bigKeyBytes: p.warningBytes });
    const prev = ctx.previous as Sizes | undefined;
    const at = ctx.now();
    const byKey = new Map<string, TopKey>();
    for (const k of [...c.topKeysByBytes, ...c.topKeysByElements]) if (COLLECTIONS.includes(k.type)) byKey.set(k.key, k);
    const state: Sizes = { at, node: n, keys: {} };
    for (const k of byKey.values()) state.keys[k.key] = { size: k.size, bytes: k.bytes, type: k.type };
    const findings: FindingDraft[] = [];
    const sampled = c.complete ? '' : ` (census sampled ${(c.coverage * 100).toFixed(0)}% of ${c.dbKeys} keys)`;
    const ttl = (k: TopKey): string => (k.ttlMs < 0 ? 'no TTL' : `TTL ${Math.round(k.ttlMs / 1000)} s`);
    for (const k of byKey.values()) {
      const s: Severity | null = k.bytes >= p.criticalBytes ? 'critical' : k.bytes >= p.warningBytes || k.size >= p.warningElements ? 'warning' : null;
      if (s) {
        findings.push({ severity: s, key: `big:${k.key}`, node: n, summary: `${k.type} ${k.key} on ${n}: ${k.size} elements, ${k.measured ? '' : '~'}${fmtBytes(k.bytes)} (${ttl(k)}; ${s} from ${s === 'critical' ? fmtBytes(p.criticalBytes) : k.bytes >= p.warningBytes ? fmtBytes(p.warningBytes) : `${p.warningElements} elements`})${sampled}`, data: { key: k.key, family: k.family, type: k.type, elements: k.size, bytes: k.bytes, measured: k.measured, ttlMs: k.ttlMs } });
      }
      const before = prev && prev.node === n ? prev.keys[k.key] : undefined;
      if (!before || !prev) continue;
      const grew = k.size - before.size;
      if (grew >= p.growthElements && grew >= p.growthShare * before.size) {
        const hours = Math.max(1e-6, (at - prev.at) / 3_600_000);
        findings.push({ severity: 'warning', key: `growing:${k.key}`, node: n, summary: `${k.type} ${k.key} on ${n} grew from ${before.size} to ${k.size} elements (+${grew}, ${fmtBytes(before.bytes)} → ${fmtBytes(k.bytes)}) since the last run (${new Date(prev.at).toISOString()}), ~${Math.round(grew / hours)} elements/h; ${ttl(k)}: is anything trimming it?`, data: { key: k.key, type: k.type, before: before.size, after: k.size, grew, bytesBefore: before.bytes, bytesAfter: k.bytes, perHour: grew / hours, ttlMs: k.ttlMs } });
      }
    }
    return { findings, state };
  },
};
