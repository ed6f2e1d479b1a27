/**
 * Sentinel hygiene (sentinel-mode targets): every configured Sentinel asked through
 * `redis.sentinel-view`: CKQUORUM (a failover could not be authorised), Sentinels down or not
 * answering, fewer Sentinels than configured known to each other, Sentinels naming different
 * primaries, TILT, and fewer replicas than expected. Other targets yield nothing.
 */
import { z } from 'zod';
import { sentinelViewAction } from '../../actions/redis/sentinel-view.js';
import type { SentinelViewResult } from '../../actions/redis/sentinel-view.js';
import type { CheckDefinition, FindingDraft } from './types.js';

const sev = z.enum(['info', 'warning', 'critical']);

const sentinelParams = z
  .object({
    /** Fewer Sentinels configured than this is a warning (3 survive one loss). */
    minSentinels: z.number().int().min(1).max(15).default(3),
    /** Fewer replicas known to Sentinel than this is a warning. */
    minReplicas: z.number().int().min(0).max(50).default(1),
    noQuorum: sev.default('critical'),
    sentinelDown: sev.default('warning'),
    splitViews: sev.default('critical'),
  })
  .strict();

export const sentinelHealth: CheckDefinition<z.infer<typeof sentinelParams>> = {
  type: 'sentinel',
  description: 'Sentinel CKQUORUM on every configured Sentinel, Sentinels down, peers each one knows, agreement on the primary, TILT and the replica count.',
  params: sentinelParams,
  async run(ctx) {
    const p = ctx.params;
    const findings: FindingDraft[] = [];
    const first = ctx.nodes[0];
    if (ctx.target.mode !== 'sentinel' || ctx.target.sentinels.length === 0 || !first) return { findings };
    const v: SentinelViewResult = await ctx.action(sentinelViewAction, first, {});
    const master = v.masterName ?? '?';
    const answers = Object.values(v.sentinels);
    const answering = answers.filter((a) => a.reachable);
    const noquorum = answering.filter((a) => a.ckquorum && !a.ckquorum.ok);
    if (noquorum.length > 0 || !v.canAuthorize) {
      findings.push({
        severity: p.noQuorum,
        key: `ckquorum:${master}`,
        summary: `Sentinel cannot fail over ${master}: ${v.reachable} of ${v.total} Sentinels answer (${v.majorityNeeded} needed to authorise, quorum ${v.quorum})${noquorum.length > 0 ? `; CKQUORUM on ${noquorum.map((a) => `${a.node}: ${a.ckquorum?.message ?? '?'}`).join('; ')}` : ''}`,
        data: { master, total: v.total, reachable: v.reachable, majorityNeeded: v.majorityNeeded, quorum: v.quorum, down: v.down, ckquorum: Object.fromEntries(answering.map((a) => [a.node, a.ckquorum?.message ?? null])) },
      });
    }
    for (const d of v.down) {
      const a = v.sentinels[d];
      const why = a && !a.reachable ? `does not answer (${a.error?.code ?? 'error'})` : 'is flagged s_down by its peers';
      findings.push({ severity: p.sentinelDown, key: `sentinel-down:${d}`, node: d, summary: `Sentinel ${d} of ${master} ${why}: ${v.reachable} of ${v.total} answer, ${v.majorityNeeded} needed to authorise a failover`, data: { sentinel: d, error: a?.error ?? null, total: v.total, reachable: v.reachable } });
    }
    if (v.total < p.minSentinels) {
      findings.push({ severity: 'warning', key: `count:${master}`, summary: `${master} is watched by ${v.total} Sentinel${v.total === 1 ? '' : 's'} (at least ${p.minSentinels} survive the loss of one)`, data: { total: v.total, minSentinels: p.minSentinels } });
    }
    for (const a of answering) {
      const known = a.master?.numOtherSentinels;
      if (known !== undefined && known + 1 < v.total) {
        findings.push({ severity: 'warning', key: `peers:${a.node}`, node: a.node, summary: `Sentinel ${a.node} knows ${known} other Sentinel${known === 1 ? '' : 's'} of ${master}, ${v.total - 1} are configured (it cannot count their votes)`, data: { sentinel: a.node, numOtherSentinels: known, configured: v.total } });
      }
    }
    if (!v.agree && answering.length > 1) {
      findings.push({ severity: p.splitViews, key: `split-views:${master}`, summary: `Sentinels of ${master} name different primaries: ${Object.entries(v.namedBy).map(([n, c]) => `${n} by ${c}`).join(', ')}`, data: { namedBy: v.namedBy } });
    }
    for (const t of v.tilt) findings.push({ severity: 'warning', key: `tilt:${t}`, node: t, summary: `Sentinel ${t} of ${master} is in TILT mode (it acts on nothing until it leaves it)`, data: { sentinel: t } });
    const replicas = answering.reduce((m, a) => Math.max(m, a.master?.numReplicas ?? 0), 0);
    if (answering.length > 0 && replicas < p.minReplicas) {
      findings.push({ severity: 'warning', key: `replicas:${master}`, summary: `Sentinel knows ${replicas} replica${replicas === 1 ? '' : 's'} of ${master} (${v.primary ?? '?'}), fewer than ${p.minReplicas}: a failover has nothing to promote`, data: { replicas, minReplicas: p.minReplicas, primary: v.primary } });
    }
    if (v.unreachableReplicas.length > 0) {
      findings.push({ severity: 'warning', key: `replicas-down:${master}`, summary: `replicas of ${master} Sentinel lists that do not answer: ${v.unreachableReplicas.join(', ')}`, data: { unreachable: v.unreachableReplicas } });
    }
    return { findings };
  },
};
