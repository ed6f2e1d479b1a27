/**
 * `redis.cluster-replica-eligibility`: why a failed primary's replica did not take over, for
 * `cluster_state:fail`. For every failed (or unreachable) slot-owning primary: its replicas, each
 * with `cluster-replica-no-failover` (flag and config), its data age against
 * `repl-ping-replica-period·1000 + cluster-node-timeout·cluster-replica-validity-factor` (the
 * check Redis itself makes, after subtracting one node-timeout), its link, its replication offset;
 * and whether a majority of slot-owning primaries is reachable to vote. It names the replica to
 * promote and how (FORCE needs a majority, TAKEOVER does not), or says that a human is needed.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { parseNodeKey, readInfo, sendCommand } from './connection.js';
import { num, optNum, str } from './info.js';
import type { NodeView } from './cluster-views.js';
import { addressBook, collectViews, primaries } from './cluster-views.js';

const input = z.object({}).strict().prefault({});

/** One replica of a failed primary. */
export interface ReplicaCheck {
  node: string;
  id: string;
  reachable: boolean;
  /** `nofailover` in CLUSTER NODES flags or `cluster-replica-no-failover yes`. */
  noFailover: boolean;
  validityFactor: number | null;
  nodeTimeoutMs: number | null;
  replPingPeriodS: number | null;
  linkStatus: string | null;
  /** Data age as Redis computes it for an election (ms), null when unknown. */
  dataAgeMs: number | null;
  /** Above it the replica refuses an automatic failover; null = no limit (factor 0) or unknown. */
  maxDataAgeMs: number | null;
  stale: boolean;
  replOffset: number | null;
  /** Why an automatic failover does not happen through this replica. */
  blockers: string[];
}

/** One failed slot-owning primary. */
export interface FailedPrimary {
  node: string;
  id: string;
  /** `fail` (agreed), `pfail` (suspected only) or `unreachable` (not flagged but not answering). */
  state: 'fail' | 'pfail' | 'unreachable';
  slots: string;
  slotCount: number;
  replicas: ReplicaCheck[];
  /** The replica to promote (reachable, highest offset), null when none. */
  candidate: string | null;
}

/** Findings of `redis.cluster-replica-eligibility`. */
export interface ReplicaEligibilityResult {
  failedPrimaries: FailedPrimary[];
  mastersTotal: number;
  mastersReachable: number;
  votesNeeded: number;
  majority: boolean;
  failedPrimary: string | null;
  candidate: string | null;
  candidateId: string | null;
  mode: 'force' | 'takeover' | null;
  humanNeeded: boolean;
  lostSlots: string;
  lostSlotCount: number;
  why: string;
}

async function checkReplica(ctx: ActionContext, views: readonly NodeView[], id: string, addr: string, flags: string[], majority: boolean, masterState: FailedPrimary['state']): Promise<ReplicaCheck> {
  const v = views.find((x) => x.node === addr);
  const r: ReplicaCheck = {
    node: addr, id, reachable: v?.ok ?? false, noFailover: flags.includes('nofailover'), validityFactor: null, nodeTimeoutMs: null,
    replPingPeriodS: null, linkStatus: null, dataAgeMs: null, maxDataAgeMs: null, stale: false, replOffset: null, blockers: [],
  };
  if (r.reachable) {
    const ref = parseNodeKey(addr);
    const cfg = (await sendCommand(ctx, ref, ['CONFIG', 'GET', 'cluster-replica-no-failover', 'cluster-replica-validity-factor', 'cluster-node-timeout', 'repl-ping-replica-period']).catch(() => [])) as unknown;
    const c: Record<string, string> = {};
    if (Array.isArray(cfg)) for (let i = 0; i + 1 < cfg.length; i += 2) c[String(cfg[i])] = String(cfg[i + 1]);
    else if (cfg && typeof cfg === 'object') for (const [k, val] of Object.entries(cfg)) c[k] = String(val);
    if (c['cluster-replica-no-failover'] === 'yes') r.noFailover = true;
    r.validityFactor = c['cluster-replica-validity-factor'] !== undefined ? Number(c['cluster-replica-validity-factor']) : null;
    r.nodeTimeoutMs = c['cluster-node-timeout'] !== undefined ? Number(c['cluster-node-timeout']) : null;
    r.replPingPeriodS = c['repl-ping-replica-period'] !== undefined ? Number(c['repl-ping-replica-period']) : null;
    const repl = (await readInfo(ctx, ref, 'replication').catch(() => ({}) as Record<string, Record<string, string>>))['replication'];
    r.linkStatus = str(repl, 'master_link_status');
    r.replOffset = optNum(repl, 'slave_repl_offset');
    const downS = optNum(repl, 'master_link_down_since_seconds');
    const ioS = optNum(repl, 'master_last_io_seconds_ago');
    const ageS = r.linkStatus === 'up' ? ioS : downS;
    if (ageS !== null && ageS >= 0 && r.nodeTimeoutMs !== null) {
      const raw = ageS * 1000;
      r.dataAgeMs = raw > r.nodeTimeoutMs ? raw - r.nodeTimeoutMs : raw;
    }
    if (r.validityFactor !== null && r.validityFactor > 0 && r.nodeTimeoutMs !== null && r.replPingPeriodS !== null) {
      r.maxDataAgeMs = r.replPingPeriodS * 1000 + r.nodeTimeoutMs * r.validityFactor;
      r.stale = r.dataAgeMs !== null && r.dataAgeMs > r.maxDataAgeMs;
    }
    if (num(repl, 'master_sync_in_progress') === 1) r.blockers.push(`${addr} is still syncing from its master`);
  } else {
    r.blockers.push(`${addr} does not answer (${v?.error?.code ?? 'not reached'})`);
  }
  if (r.noFailover) r.blockers.push(`${addr} has cluster-replica-no-failover yes`);
  if (r.stale) r.blockers.push(`${addr} data age ${r.dataAgeMs} ms exceeds ${r.maxDataAgeMs} ms (repl-ping-replica-period ${r.replPingPeriodS}s + cluster-node-timeout ${r.nodeTimeoutMs} ms × cluster-replica-validity-factor ${r.validityFactor})`);
  if (masterState !== 'fail') r.blockers.push(`the master is only ${masterState === 'pfail' ? 'suspected (PFAIL)' : 'unreachable'}, not agreed FAIL`);
  if (!majority) r.blockers.push('no majority of slot-owning primaries is reachable to vote');
  return r;
}

/** Explains why replicas of failed primaries did not take over, and which one to promote. */
export const clusterReplicaEligibility: ActionDefinition<z.infer<typeof input>, ReplicaEligibilityResult> = {
  name: 'redis.cluster-replica-eligibility',
  description: "Why a failed cluster primary's replica did not take over (no-failover, data age vs validity factor, link, no majority) and which replica to promote how.",
  risk: 'read',
  input,
  timeoutMs: 20_000,
  output: {
    'failedPrimaries[]': 'failed or unreachable slot-owning primaries: node, id, state (fail|pfail|unreachable), slots, slotCount, candidate, replicas[]',
    'failedPrimaries[].replicas[]': 'node, id, reachable, noFailover, validityFactor, nodeTimeoutMs, replPingPeriodS, linkStatus, dataAgeMs, maxDataAgeMs, stale, replOffset, blockers[] (why no automatic failover)',
    mastersTotal: 'slot-owning primaries',
    mastersReachable: 'of them, answering and not flagged failed',
    votesNeeded: 'majority needed to elect a replica (total/2+1)',
    majority: 'a majority can vote (CLUSTER FAILOVER FORCE can work)',
    failedPrimary: 'host:port of the first failed primary',
    candidate: 'host:port of the replica to promote (reachable, highest offset), null when none',
    candidateId: 'its node id',
    mode: "'force' (majority reachable), 'takeover' (no majority: needs two approvers), null (no candidate)",
    humanNeeded: 'a failed primary has no reachable replica: its slots are lost until it returns',
    lostSlots: 'slots of failed primaries without a reachable replica (ranges text)',
    lostSlotCount: 'how many',
    why: 'one line: what failed and why no replica took over',
  },
  async run(_inp, ctx) {
    const views = await collectViews(ctx);
    const book = addressBook(views);
    const prim = primaries(views);
    const mastersTotal = prim.length;
    const mastersReachable = prim.filter((p) => !p.failed && p.reachable).length;
    const votesNeeded = Math.floor(mastersTotal / 2) + 1;
    const majority = mastersReachable >= votesNeeded;
    const failedPrimaries: FailedPrimary[] = [];
    for (const p of prim.filter((x) => x.failed)) {
      const flagged = views.filter((v) => v.ok).flatMap((v) => v.entries.filter((e) => e.id === p.id));
      const state: FailedPrimary['state'] = flagged.some((e) => e.fail) ? 'fail' : flagged.some((e) => e.pfail) ? 'pfail' : 'unreachable';
      const reps = [...book.values()].filter((e) => e.masterId === p.id);
      const replicas: ReplicaCheck[] = [];
      for (const e of reps) replicas.push(await checkReplica(ctx, views, e.id, e.addr, e.flags, majority, state));
      const usable = replicas.filter((r) => r.reachable).sort((a, b) => (b.replOffset ?? -1) - (a.replOffset ?? -1));
      failedPrimaries.push({ node: p.node, id: p.id, state, slots: p.slots, slotCount: p.slotCount, replicas, candidate: usable[0]?.node ?? null });
    }
    const first = failedPrimaries.find((f) => f.candidate !== null) ?? failedPrimaries[0];
    const candidate = first?.candidate ?? null;
    const lost = failedPrimaries.filter((f) => f.candidate === null);
    const lostRanges = lost.flatMap((f) => f.slots.split(' ').filter((x) => x !== ''));
    const why =
      failedPrimaries.length === 0
        ? 'no failed primary'
        : failedPrimaries
            .map((f) =>
              f.replicas.length === 0
                ? `primary ${f.node} (${f.state}, slots ${f.slots}) has no replica`
                : `primary ${f.node} (${f.state}, slots ${f.slots}): ${f.replicas.map((r) => `${r.node}: ${r.blockers.join('; ') || 'eligible'}`).join(' | ')}`,
            )
            .join(' || ');
    return {
      failedPrimaries,
      mastersTotal,
      mastersReachable,
      votesNeeded,
      majority,
      failedPrimary: first?.node ?? null,
      candidate,
      candidateId: first?.replicas.find((r) => r.node === candidate)?.id ?? null,
      mode: candidate === null ? null : majority ? 'force' : 'takeover',
      humanNeeded: lost.length > 0,
      lostSlots: lostRanges.join(' '),
      lostSlotCount: lost.reduce((n, f) => n + f.slotCount, 0),
      why,
    };
  },
};
