/**
 * `redis.sentinel-view`: asks every configured Sentinel, reachable or not (an unreachable one is a
 * classified finding), SENTINEL MASTER, CKQUORUM, REPLICAS, SENTINELS and INFO sentinel; compares
 * the answers (which primary the majority names, who judges it down, who is down), reads the named
 * primary and each replica's own view (role, whom it follows, priority, offset, last I/O), ranks
 * the replicas Sentinel could promote, and names why a failover does or does not happen.
 */
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo, replyText, sendCommand } from './connection.js';
import { parseInfo } from './info.js';
import { parseReplicationState } from './replication-parse.js';
import {
  ineligibility,
  parseCkquorum,
  parseSentinelInfo,
  parseSentinelMaster,
  parseSentinelPeers,
  parseSentinelReplicaList,
  rankEligible,
  type CkquorumResult,
  type SentinelMasterView,
  type SentinelPeerView,
  type SentinelReplicaView,
} from './sentinel-parse.js';
import { classifyError, ref, type NodeError } from './replication-nodes.js';

const input = z.object({}).strict().prefault({});

/** One Sentinel's answers. */
export interface SentinelAnswer {
  node: string;
  reachable: boolean;
  error?: NodeError;
  master?: SentinelMasterView;
  ckquorum?: CkquorumResult;
  tilt?: boolean;
  peers?: SentinelPeerView[];
  replicas?: SentinelReplicaView[];
}

/** A replica: what Sentinel says about it and what it says itself. */
export interface ReplicaAssessment {
  node: string;
  priority: number;
  offset: number;
  flags: string[];
  linkDownTimeMs: number;
  /** Why Sentinel would not promote it (empty: eligible). */
  ineligible: string[];
  own: { reachable: boolean; error?: NodeError; role?: string; master?: string | null; linkStatus?: string | null; priority?: number | null; offset?: number; lastIoSecondsAgo?: number | null; keys?: number };
}

/** Findings of `redis.sentinel-view`. */
export interface SentinelViewResult {
  masterName: string | null;
  sentinels: Record<string, SentinelAnswer>;
  total: number;
  reachable: number;
  /** Sentinels that did not answer, or that the answering ones flag s_down. */
  down: string[];
  /** Votes needed to authorise a failover: floor(total/2)+1. */
  majorityNeeded: number;
  /** Enough Sentinels answer to authorise a failover. */
  canAuthorize: boolean;
  quorum: number;
  /** Primary named by a strict majority of the configured Sentinels, else null. */
  majorityPrimary: string | null;
  /** Primary named by the most answering Sentinels (even without a majority), else null. */
  primary: string | null;
  /** host:port → how many Sentinels name it. */
  namedBy: Record<string, number>;
  /** Every answering Sentinel names the same primary. */
  agree: boolean;
  /** Sentinels judging the primary s_down / o_down. */
  sDownCount: number;
  oDownCount: number;
  failoverInProgress: boolean;
  failoverStates: string[];
  tilt: string[];
  /** The named primary answers and says role:master. */
  primaryUp: boolean;
  primaryRole: string | null;
  primaryError: NodeError | null;
  downAfterMs: number;
  failoverTimeoutMs: number;
  /** Highest config-epoch reported. */
  configEpoch: number;
  replicas: ReplicaAssessment[];
  /** Replicas Sentinel could promote, best first. */
  eligible: string[];
  /** The replica expected to be promoted (best eligible), else the best reachable replica by priority/offset ignoring priority 0. */
  best: string | null;
  bestReason: string;
  /** Reachable replicas with replica-priority 0 (the only thing that blocks them). */
  priorityZero: string[];
  /** Replicas that say role:master while another node is named primary (split brain risk). */
  otherMasters: string[];
  /** Replicas Sentinel lists that do not answer (after a failover: the old primary until it is back). */
  unreachableReplicas: string[];
  cause: 'healthy' | 'false-alarm' | 'failover-in-progress' | 'failover-pending' | 'too-few-sentinels' | 'no-odown' | 'no-eligible-replica' | 'tilt' | 'split-views' | 'no-sentinel';
  summary: string;
  /** What Sentinel's own state says happened, oldest first (down, ODOWN, election, promotion). */
  timeline: string[];
}

async function askSentinel(ctx: ActionContext, node: string, name: string): Promise<SentinelAnswer> {
  const n = ref(node);
  try {
    const master = parseSentinelMaster(await sendCommand(ctx, n, ['SENTINEL', 'MASTER', name]));
    const [ck, info, peers, replicas] = await Promise.all([
      sendCommand(ctx, n, ['SENTINEL', 'CKQUORUM', name]).then(replyText, (e: unknown) => (e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e))),
      sendCommand(ctx, n, ['INFO', 'sentinel']).then(replyText, () => ''),
      sendCommand(ctx, n, ['SENTINEL', 'SENTINELS', name]).then(parseSentinelPeers, () => []),
      sendCommand(ctx, n, ['SENTINEL', 'REPLICAS', name]).then(parseSentinelReplicaList, () => []),
    ]);
    return { node, reachable: true, master, ckquorum: parseCkquorum(ck.replace(/^.*?(OK|NOQUORUM)/s, '$1')), tilt: parseSentinelInfo(parseInfo(info)['sentinel']).tilt, peers, replicas };
  } catch (err) {
    return { node, reachable: false, error: classifyError(err) };
  }
}

/** Reads every Sentinel and compares. */
export async function sentinelView(ctx: ActionContext): Promise<SentinelViewResult> {
  const name = ctx.target.sentinelMasterName ?? null;
  const keys = ctx.target.sentinels.map(nodeKey);
  const answers = name ? await Promise.all(keys.map((k) => askSentinel(ctx, k, name))) : [];
  const sentinels: Record<string, SentinelAnswer> = {};
  for (const a of answers) sentinels[a.node] = a;
  const ok = answers.filter((a) => a.reachable && a.master);
  const namedBy: Record<string, number> = {};
  for (const a of ok) if (a.master) namedBy[a.master.primary] = (namedBy[a.master.primary] ?? 0) + 1;
  const ranked = Object.entries(namedBy).sort((a, b) => b[1] - a[1]);
  const top = ranked[0];
  const majorityPrimary = top && top[1] > keys.length / 2 ? top[0] : null;
  const named = majorityPrimary ?? top?.[0] ?? null;
  const downSet = new Set(answers.filter((a) => !a.reachable).map((a) => a.node));
  for (const a of ok) for (const p of a.peers ?? []) if (p.down) downSet.add(p.node);
  const masters = ok.map((a) => a.master).filter((m): m is SentinelMasterView => m !== undefined);
  const ref0 = masters.find((m) => m.primary === named) ?? masters[0];
  const quorum = ref0?.quorum ?? 0;
  const majorityNeeded = Math.floor(keys.length / 2) + 1;
  // The replicas, from the Sentinel with the freshest view (the first answering one naming the primary).
  const src = ok.find((a) => a.master?.primary === named) ?? ok[0];
  let primaryUp = false;
  let primaryRole: string | null = null;
  let primaryError: NodeError | null = null;
  if (named) {
    try {
      const s = parseReplicationState(await readInfo(ctx, ref(named), 'replication'));
      primaryRole = s.role;
      primaryUp = s.role === 'primary';
    } catch (err) {
      primaryError = classifyError(err);
    }
  }
  // The replicas Sentinel lists; with no Sentinel answering, every configured data node.
  const candidates: SentinelReplicaView[] =
    src?.replicas ??
    ctx.target.endpoints.map((e) => ({ node: nodeKey(e), runid: '', flags: ['slave'], down: false, disconnected: false, priority: 100, offset: 0, linkStatus: '', linkDownTimeMs: 0, master: '', lastOkPingReplyMs: null, infoRefreshMs: null, roleReported: null }));
  const replicas: ReplicaAssessment[] = await Promise.all(
    candidates.map(async (r) => {
      const own: ReplicaAssessment['own'] = { reachable: false };
      try {
        const info = await readInfo(ctx, ref(r.node), 'replication', 'persistence', 'keyspace');
        const s = parseReplicationState(info);
        Object.assign(own, { reachable: true, role: s.role, master: s.master, linkStatus: s.linkStatus, priority: s.priority, offset: s.offset, lastIoSecondsAgo: s.lastIoSecondsAgo, keys: Object.values(info['keyspace'] ?? {}).reduce((a, v) => a + (Number(/keys=(\d+)/.exec(v)?.[1]) || 0), 0) });
      } catch (err) {
        own.error = classifyError(err);
      }
      if (!src?.master) {
        // No Sentinel answers: judge the node by what it says itself.
        const why = own.reachable ? (own.role === 'replica' ? ['no Sentinel answers'] : [`role ${own.role ?? '?'}`]) : ['unreachable'];
        return { node: r.node, priority: own.priority ?? r.priority, offset: own.offset ?? r.offset, flags: own.role === 'primary' ? ['master'] : r.flags, linkDownTimeMs: 0, ineligible: why, own };
      }
      return { node: r.node, priority: r.priority, offset: r.offset, flags: r.flags, linkDownTimeMs: r.linkDownTimeMs, ineligible: ineligibility(r, src.master), own };
    }),
  );
  const eligibleViews = src?.master ? rankEligible(src.replicas ?? [], src.master) : [];
  const eligible = eligibleViews.map((r) => r.node);
  const priorityZero = replicas.filter((r) => r.own.reachable && r.ineligible.length === 1 && r.ineligible[0] === 'replica-priority 0').map((r) => r.node);
  const reachableReplicas = replicas.filter((r) => r.own.reachable && r.own.role === 'replica' && !r.flags.includes('s_down')).sort((a, b) => (b.own.offset ?? b.offset) - (a.own.offset ?? a.offset) || a.node.localeCompare(b.node));
  const best = eligible[0] ?? reachableReplicas[0]?.node ?? null;
  const bestView = replicas.find((r) => r.node === best);
  const bestReason = best
    ? eligible[0] === best
      ? `eligible for Sentinel: priority ${bestView?.priority}, offset ${bestView?.own.offset ?? bestView?.offset} (highest among ${eligible.length} eligible)`
      : `highest offset ${bestView?.own.offset ?? bestView?.offset} among ${reachableReplicas.length} reachable replica(s); Sentinel would not pick it: ${bestView?.ineligible.join(', ')}`
    : 'no reachable replica';
  const otherMasters = replicas.filter((r) => r.own.reachable && r.own.role === 'primary' && r.node !== named).map((r) => r.node);
  const sDownCount = masters.filter((m) => m.sDown).length;
  const oDownCount = masters.filter((m) => m.oDown).length;
  const failoverStates = masters.map((m) => m.failoverState).filter((s): s is string => s !== null);
  const failoverInProgress = masters.some((m) => m.failoverInProgress) || failoverStates.length > 0;
  const tilt = ok.filter((a) => a.tilt).map((a) => a.node);
  const agree = Object.keys(namedBy).length === 1;
  const canAuthorize = ok.length >= majorityNeeded;
  let cause: SentinelViewResult['cause'];
  if (!name || ok.length === 0) cause = 'no-sentinel';
  else if (!agree || otherMasters.length > 0) cause = 'split-views';
  else if (primaryUp) cause = sDownCount > 0 ? 'false-alarm' : downSet.size > 0 ? 'too-few-sentinels' : 'healthy';
  else if (tilt.length > 0) cause = 'tilt';
  else if (!canAuthorize) cause = 'too-few-sentinels';
  else if (eligible.length === 0) cause = 'no-eligible-replica'; // an attempt in progress would abort (-failover-abort-no-good-slave)
  else if (failoverInProgress) cause = 'failover-in-progress';
  else if (oDownCount === 0) cause = 'no-odown';
  else cause = 'failover-pending'; // ODOWN, a majority and an eligible replica: Sentinel is about to act (or in its back-off)
  const downList = [...downSet].sort();
  const summary = [
    `${ok.length}/${keys.length} Sentinels answer${downList.length ? ` (down: ${downList.join(', ')})` : ''}`,
    `primary ${named ?? '?'} named by ${top?.[1] ?? 0}${agree ? '' : ` (split: ${ranked.map(([k, v]) => `${k}×${v}`).join(', ')})`}`,
    named ? (primaryUp ? `${named} is up (role master)` : `${named} ${primaryError ? `unreachable (${primaryError.code})` : `says role ${primaryRole}`}`) : '',
    `s_down on ${sDownCount}, o_down on ${oDownCount}, quorum ${quorum}, majority needs ${majorityNeeded}`,
    `eligible replicas: ${eligible.length ? eligible.join(', ') : 'none'}${replicas.some((r) => r.ineligible.length) ? ` (${replicas.filter((r) => r.ineligible.length).map((r) => `${r.node}: ${r.ineligible.join(', ')}`).join('; ')})` : ''}`,
  ]
    .filter(Boolean)
    .join('; ');
  const timeline: string[] = [];
  if (ref0) {
    if (ref0.sDownTimeMs !== null) timeline.push(`${named} judged down (s_down) ${ref0.sDownTimeMs} ms ago`);
    if (ref0.oDownTimeMs !== null) timeline.push(`${named} objectively down (o_down) ${ref0.oDownTimeMs} ms ago`);
    const leaders = new Map<string, number>();
    for (const a of ok) for (const p of a.peers ?? []) if (p.votedLeader) leaders.set(`${p.votedLeader.slice(0, 8)} in epoch ${p.votedLeaderEpoch ?? '?'}`, (leaders.get(`${p.votedLeader.slice(0, 8)} in epoch ${p.votedLeaderEpoch ?? '?'}`) ?? 0) + 1);
    for (const [l, n] of leaders) timeline.push(`leader ${l} (voted by ${n} peer view(s))`);
    timeline.push(`config-epoch ${Math.max(...masters.map((m) => m.configEpoch))}: ${named} is the primary${ref0.roleReported ? ` (reports role ${ref0.roleReported})` : ''}`);
  }
  return {
    masterName: name,
    sentinels,
    total: keys.length,
    reachable: ok.length,
    down: downList,
    majorityNeeded,
    canAuthorize,
    quorum,
    majorityPrimary,
    primary: named,
    namedBy,
    agree,
    sDownCount,
    oDownCount,
    failoverInProgress,
    failoverStates,
    tilt,
    primaryUp,
    primaryRole,
    primaryError,
    downAfterMs: ref0?.downAfterMs ?? 0,
    failoverTimeoutMs: ref0?.failoverTimeoutMs ?? 0,
    configEpoch: Math.max(0, ...masters.map((m) => m.configEpoch)),
    replicas,
    eligible,
    best,
    bestReason,
    priorityZero,
    otherMasters,
    unreachableReplicas: replicas.filter((r) => !r.own.reachable).map((r) => r.node),
    cause,
    summary,
    timeline,
  };
}

export const sentinelViewAction: ActionDefinition<z.infer<typeof input>, SentinelViewResult> = {
  name: 'redis.sentinel-view',
  description: 'Asks every Sentinel (reachable or not) about the primary, quorum, replicas and peers; compares their answers with what the nodes say; names why a failover does or does not happen.',
  risk: 'read',
  input,
  timeoutMs: 30_000,
  output: {
    masterName: 'the monitored master name',
    sentinels: 'host:port → { reachable, error {code,message}, master (SENTINEL MASTER parsed: primary, flags, sDown, oDown, failoverState, quorum, numOtherSentinels, configEpoch, downAfterMs, failoverTimeoutMs, sDownTimeMs, oDownTimeMs), ckquorum {ok, usable, quorumReachable, majorityReachable, message}, tilt, peers [SENTINEL SENTINELS], replicas [SENTINEL REPLICAS] }',
    total: 'configured Sentinels',
    reachable: 'Sentinels that answered SENTINEL MASTER',
    down: 'Sentinels that did not answer or that answering ones flag s_down (host:port)',
    majorityNeeded: 'floor(total/2)+1: votes a failover needs',
    canAuthorize: 'enough Sentinels answer to authorise a failover',
    quorum: 'configured quorum',
    majorityPrimary: 'primary named by a strict majority of configured Sentinels, else null',
    primary: 'primary named by the most answering Sentinels (even without a majority), else null',
    namedBy: 'host:port → number of Sentinels naming it primary',
    agree: 'every answering Sentinel names the same primary',
    sDownCount: 'Sentinels flagging the primary s_down',
    oDownCount: 'Sentinels flagging the primary o_down',
    failoverInProgress: 'a Sentinel reports failover_in_progress or a failover-state',
    failoverStates: 'failover-state values reported',
    tilt: 'Sentinels in TILT mode',
    primaryUp: 'the named primary answers INFO and says role:master',
    primaryRole: 'role the named primary reports (primary/replica/unknown), null when unreachable',
    primaryError: 'why the named primary could not be read {code,message}, else null',
    downAfterMs: 'down-after-milliseconds',
    failoverTimeoutMs: 'failover-timeout (ms)',
    configEpoch: 'highest config-epoch reported',
    replicas: '[{ node, priority, offset, flags, linkDownTimeMs, ineligible[] (why Sentinel would not promote it), own { reachable, error, role, master, linkStatus, priority, offset, lastIoSecondsAgo, keys } }]',
    eligible: 'replicas Sentinel could promote, best first (priority, offset, runid)',
    best: 'replica expected to be promoted: best eligible, else the reachable replica with the highest offset',
    bestReason: 'why that replica (priority, offset, what blocks it)',
    priorityZero: 'reachable replicas blocked only by replica-priority 0',
    otherMasters: 'replicas saying role:master while another node is named primary',
    unreachableReplicas: 'replicas Sentinel lists that do not answer (after a failover: the old primary until it is back)',
    cause: 'healthy | false-alarm | failover-in-progress | failover-pending (o_down, a majority and an eligible replica: Sentinel should act; 2 × failover-timeout back-off after an attempt) | too-few-sentinels | no-odown | no-eligible-replica | tilt | split-views | no-sentinel',
    summary: 'one line: Sentinels answering and down, the named primary and its state, s_down/o_down counts, eligibility',
    timeline: 'what Sentinel state says happened, oldest first: s_down, o_down, leader votes, config-epoch and the primary',
  },
  async run(_inp, ctx) {
    return sentinelView(ctx);
  },
};
