/**
 * Memory hygiene checks: headroom (and growth between runs), `maxmemory` unset, eviction policy vs
 * the target's role, fragmentation, and keys without TTL per family (the bounded key census).
 */
import { z } from 'zod';
import { fmtBytes } from '../../actions/redis/census-aggregate.js';
import { configReplyToRecord } from '../../actions/redis/config-get.js';
import { infoMemory } from '../../actions/redis/info-memory.js';
import type { InfoMemoryResult } from '../../actions/redis/info-memory.js';
import { keyCensus } from '../../actions/redis/key-census.js';
import type { KeyCensusResult } from '../../actions/redis/key-census.js';
import { nodeKey } from '../../actions/types.js';
import type { CheckDefinition, FindingDraft } from './types.js';

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

const headroomParams = z
  .object({
    /** used_memory / maxmemory at which a node is a warning / critical. */
    warning: z.number().gt(0).max(2).default(0.8),
    critical: z.number().gt(0).max(2).default(0.9),
    /** Growth between two runs that would reach maxmemory within this many hours is a warning. */
    fullWithinHours: z.number().positive().max(24 * 365).default(24),
  })
  .strict();

type Readings = Record<string, { used: number; at: number }>;

export const memoryHeadroom: CheckDefinition<z.infer<typeof headroomParams>> = {
  type: 'memory-headroom',
  description: 'used_memory against maxmemory on every data node, and its growth since the last run projected to the limit.',
  params: headroomParams,
  async run(ctx) {
    const findings: FindingDraft[] = [];
    const prev = (ctx.previous ?? {}) as Readings;
    const state: Readings = {};
    const at = ctx.now();
    for (const node of ctx.nodes) {
      const m = await ctx.action(infoMemory, node, {});
      const n = nodeKey(node);
      state[n] = { used: m.usedMemory, at };
      if (m.maxmemory <= 0 || m.usage === null) continue; // maxmemory-unset reports it
      const before = prev[n];
      const ratePerHour = before && at > before.at ? ((m.usedMemory - before.used) / (at - before.at)) * 3_600_000 : null;
      const hoursToFull = ratePerHour !== null && ratePerHour > 0 ? Math.max(0, m.maxmemory - m.usedMemory) / ratePerHour : null;
      const data = { usedMemory: m.usedMemory, maxmemory: m.maxmemory, usage: m.usage, policy: m.policy, growthBytesPerHour: ratePerHour, hoursToFull, previousUsedMemory: before?.used ?? null };
      const sev = m.usage >= ctx.params.critical ? 'critical' : m.usage >= ctx.params.warning ? 'warning' : null;
      if (sev) findings.push({ severity: sev, key: `usage:${n}`, node: n, summary: `${n} uses ${fmtBytes(m.usedMemory)} of ${fmtBytes(m.maxmemory)} maxmemory (${pct(m.usage)}, ${sev} from ${pct(sev === 'critical' ? ctx.params.critical : ctx.params.warning)}), policy ${m.policy ?? '?'}`, data });
      if (hoursToFull !== null && ratePerHour !== null && hoursToFull <= ctx.params.fullWithinHours) {
        findings.push({ severity: 'warning', key: `growth:${n}`, node: n, summary: `${n} grew ${fmtBytes(m.usedMemory - (before?.used ?? 0))} since the last run (${fmtBytes(ratePerHour)}/h): maxmemory ${fmtBytes(m.maxmemory)} reached in ~${hoursToFull.toFixed(1)} h`, data });
      }
    }
    return { findings, state };
  },
};

const unsetParams = z
  .object({
    cache: z.enum(['info', 'warning', 'critical']).default('critical'),
    store: z.enum(['info', 'warning', 'critical']).default('warning'),
  })
  .strict();

export const maxmemoryUnset: CheckDefinition<z.infer<typeof unsetParams>> = {
  type: 'maxmemory-unset',
  description: 'maxmemory 0 (no limit): the node grows until the host runs out of memory.',
  params: unsetParams,
  async run(ctx) {
    const findings: FindingDraft[] = [];
    for (const node of ctx.nodes) {
      const m: InfoMemoryResult = await ctx.action(infoMemory, node, {});
      if (m.maxmemory > 0) continue;
      const n = nodeKey(node);
      const share = m.totalSystemMemory > 0 ? ` (${pct(m.usedMemory / m.totalSystemMemory)} of the host's ${fmtBytes(m.totalSystemMemory)})` : '';
      findings.push({ severity: ctx.params[ctx.target.role], key: `unset:${n}`, node: n, summary: `maxmemory unset (0) on ${n}, a ${ctx.target.role} target: ${fmtBytes(m.usedMemory)} used${share}, nothing bounds growth`, data: { usedMemory: m.usedMemory, totalSystemMemory: m.totalSystemMemory, policy: m.policy, role: ctx.target.role } });
    }
    return { findings };
  },
};

const policyParams = z
  .object({
    /** `noeviction` on a cache: writes fail with OOM instead of evicting. */
    noevictionOnCache: z.enum(['info', 'warning', 'critical']).default('warning'),
    /** `allkeys-*` on a store: data without TTL is evicted, i.e. lost. */
    allkeysOnStore: z.enum(['info', 'warning', 'critical']).default('critical'),
    /** `volatile-*` on a store: only keys with a TTL go; noted. */
    volatileOnStore: z.enum(['info', 'warning', 'critical']).default('info'),
  })
  .strict();

export const evictionPolicy: CheckDefinition<z.infer<typeof policyParams>> = {
  type: 'eviction-policy',
  description: 'maxmemory-policy against the target role: noeviction on a cache, allkeys-* (or volatile-*) on a store.',
  params: policyParams,
  async run(ctx) {
    const findings: FindingDraft[] = [];
    for (const node of ctx.nodes) {
      const n = nodeKey(node);
      const policy = configReplyToRecord(await ctx.command(node, ['CONFIG', 'GET', 'maxmemory-policy']))['maxmemory-policy'] ?? '';
      const data = { policy, role: ctx.target.role };
      if (ctx.target.role === 'cache' && policy === 'noeviction') {
        findings.push({ severity: ctx.params.noevictionOnCache, key: `policy:${n}`, node: n, summary: `${n} (cache target) runs maxmemory-policy noeviction: at maxmemory writes fail with OOM instead of evicting`, data });
      } else if (ctx.target.role === 'store' && policy.startsWith('allkeys-')) {
        findings.push({ severity: ctx.params.allkeysOnStore, key: `policy:${n}`, node: n, summary: `${n} (store target) runs maxmemory-policy ${policy}: at maxmemory keys without TTL are evicted (data lost)`, data });
      } else if (ctx.target.role === 'store' && policy.startsWith('volatile-')) {
        findings.push({ severity: ctx.params.volatileOnStore, key: `policy:${n}`, node: n, summary: `${n} (store target) runs maxmemory-policy ${policy}: keys with a TTL are evicted before they expire`, data });
      }
    }
    return { findings };
  },
};

const fragParams = z
  .object({
    warning: z.number().gt(1).default(1.5),
    critical: z.number().gt(1).default(2.5),
    /** Below this used_memory the ratio is noise (a small heap's RSS is mostly fixed overhead). */
    minUsedBytes: z.number().int().min(0).default(64 * 1024 * 1024),
  })
  .strict();

export const fragmentation: CheckDefinition<z.infer<typeof fragParams>> = {
  type: 'fragmentation',
  description: 'mem_fragmentation_ratio (RSS / used) above a threshold on nodes big enough for it to matter.',
  params: fragParams,
  async run(ctx) {
    const findings: FindingDraft[] = [];
    for (const node of ctx.nodes) {
      const m = await ctx.action(infoMemory, node, {});
      const r = m.fragmentationRatio;
      if (r === null || m.usedMemory < ctx.params.minUsedBytes || r < ctx.params.warning) continue;
      const n = nodeKey(node);
      const sev = r >= ctx.params.critical ? 'critical' : 'warning';
      findings.push({ severity: sev, key: `frag:${n}`, node: n, summary: `${n} fragmentation ratio ${r.toFixed(2)} (RSS ${fmtBytes(m.usedMemoryRss)} for ${fmtBytes(m.usedMemory)} used, ${fmtBytes(m.fragmentationBytes ?? 0)} wasted; ${sev} from ${sev === 'critical' ? ctx.params.critical : ctx.params.warning})`, data: { ratio: r, usedMemory: m.usedMemory, usedMemoryRss: m.usedMemoryRss, fragmentationBytes: m.fragmentationBytes, allocatorFragRatio: m.allocatorFragRatio } });
    }
    return { findings };
  },
};

const ttlParams = z
  .object({
    /** A family with at least this many keys without TTL is a warning / critical. */
    warningKeys: z.number().int().min(1).default(1000),
    criticalKeys: z.number().int().min(1).default(1_000_000),
    /** Census bounds (see redis.key-census). */
    separator: z.string().max(4).default(':'),
    depth: z.number().int().min(1).max(8).default(1),
    count: z.number().int().positive().max(10_000).default(1000),
    maxKeys: z.number().int().positive().max(50_000_000).default(1_000_000),
    maxMillis: z.number().int().positive().max(300_000).default(20_000),
    maxBusy: z.number().gt(0).max(1).default(0.3),
  })
  .strict();

export const keysWithoutTtl: CheckDefinition<z.infer<typeof ttlParams>> = {
  type: 'keys-without-ttl',
  description: 'Key families without TTL (bounded SCAN census on a replica when there is one).',
  params: ttlParams,
  async run(ctx) {
    const p = ctx.params;
    const c: KeyCensusResult = await ctx.action(keyCensus, ctx.scanNode, { separator: p.separator, depth: p.depth, count: p.count, maxKeys: p.maxKeys, maxMillis: p.maxMillis, maxBusy: p.maxBusy, families: 50 });
    const n = nodeKey(ctx.scanNode);
    const findings: FindingDraft[] = [];
    const sampled = c.complete ? '' : ` (sampled: ${(c.coverage * 100).toFixed(0)}% of ${c.dbKeys} keys, stopped by ${c.stoppedBy})`;
    for (const f of c.families) {
      if (f.noTtlKeys < p.warningKeys) continue;
      const sev = f.noTtlKeys >= p.criticalKeys ? 'critical' : 'warning';
      findings.push({
        severity: sev,
        key: `family:${f.family}`,
        node: n,
        summary: `family ${f.family} on ${n}: ${f.noTtlKeys} of ${f.keys} keys without TTL (~${fmtBytes(f.bytes)}, ${(f.share * 100).toFixed(1)}% of key bytes${f.stateLike ? `; looks like state: ${f.stateReason}` : ''})${sampled}`,
        data: { family: f.family, keys: f.keys, noTtlKeys: f.noTtlKeys, bytes: f.bytes, share: f.share, mainType: f.mainType, stateLike: f.stateLike, sampleKeys: f.sampleKeys.slice(0, 3), complete: c.complete, coverage: c.coverage, scannedNode: n },
      });
    }
    return { findings };
  },
};
