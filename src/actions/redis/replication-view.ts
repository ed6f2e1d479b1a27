/**
 * `redis.replication-view`: every data node's view of replication, compared. Reads the primary
 * (the one the Sentinel majority names, in sentinel mode) and every replica: role, whom it follows,
 * link status, last I/O, sync in progress, offsets and the gap per replica, backlog, full-sync and
 * failed-partial-sync growth between two reads `windowMs` apart, the replica output-buffer limit
 * and the replica clients' `omem`, BGSAVE in progress, `repl-diskless-sync`, used vs maxmemory on
 * each side, whether `masterauth`/`masteruser` are set (never their values), and authentication
 * failures on the primary (WRONGPASS/NOAUTH growth, ACL LOG `auth` entries). Then names the cause.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { readInfo, replyText, sendCommand } from './connection.js';
import { errorCount, num, parseKeyspace } from './info.js';
import { configReplyToRecord } from './config-get.js';
import { addrHost, parseAclLog, parseClientList, parseReplicationState, replicaBufferLimit, replicaClients, type BufferLimit } from './replication-parse.js';
import { classifyError, ref, replicationNodes, type NodeError, type SentinelConsensus } from './replication-nodes.js';

const input = z
  .object({
    /** Time between the two reads of the primary's sync counters. */
    windowMs: z.number().int().min(0).max(10_000).default(1000),
    /** A replica whose gap exceeds this many bytes is lagging. */
    maxGapBytes: z.number().int().min(0).default(1_000_000),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.replication-view`. */
export type ReplicationViewInput = z.infer<typeof input>;

/** One data node's view. */
export interface NodeView {
  node: string;
  reachable: boolean;
  error?: NodeError;
  role?: 'primary' | 'replica' | 'unknown';
  /** Replica: the primary it follows. */
  master?: string | null;
  /** Replica: it follows the primary the Sentinels (or discovery) name. */
  followsPrimary?: boolean;
  linkStatus?: string | null;
  lastIoSecondsAgo?: number | null;
  syncInProgress?: boolean;
  linkDownSinceSeconds?: number | null;
  offset?: number;
  /** Replica: primary offset − this offset (null when the primary is unreadable). */
  gapBytes?: number | null;
  /** Replica: state in the primary's `slaveN` line (`online`, `wait_bgsave`, `send_bulk`), null when not listed. */
  listedState?: string | null;
  priority?: number | null;
  loading?: boolean;
  keys?: number;
  usedMemory?: number;
  maxmemory?: number;
  masterauthSet?: boolean;
  masteruserSet?: boolean;
  aofEnabled?: boolean;
}

/** Findings of `redis.replication-view`. */
export interface ReplicationViewResult {
  primary: string | null;
  primaryReachable: boolean;
  sentinels: Pick<SentinelConsensus, 'majorityPrimary' | 'agree' | 'reachable' | 'total'> | null;
  nodes: Record<string, NodeView>;
  replicas: string[];
  primaryStats: {
    syncFull: number;
    syncFullGrowth: number;
    syncPartialErrGrowth: number;
    wrongpassGrowth: number;
    noauthGrowth: number;
    rdbBgsaveInProgress: boolean;
    totalForks: number;
    latestForkUsec: number;
    replDisklessSync: string | null;
    backlogSize: number;
    replicaBufferLimit: BufferLimit | null;
    replicaClientsOmemMax: number;
    replicaClients: number;
    usedMemory: number;
    maxmemory: number;
    /** ACL LOG `auth` failures in the last 5 minutes: user, client host, count, age. */
    authFailures: Array<{ username: string; clientHost: string; count: number; ageSeconds: number }>;
  } | null;
  wrongPrimary: string[];
  linkDown: string[];
  authFailing: string[];
  lagging: string[];
  tooSmall: string[];
  syncing: string[];
  unreachable: string[];
  /** Reachable nodes that say role:master (more than one: split brain). */
  masters: string[];
  syncLoop: boolean;
  maxGapBytes: number;
  keysPrimary: number | null;
  /** Largest key count among reachable nodes. */
  keysMax: number | null;
  /** Every reachable node reports the same key count. */
  keysAgree: boolean;
  cause: 'healthy' | 'primary-unreachable' | 'wrong-primary' | 'auth' | 'sync-loop' | 'replica-too-small' | 'link-down' | 'lagging' | 'syncing';
  summary: string;
}

async function configFlags(ctx: ActionContext, node: string): Promise<Record<string, string>> {
  return configReplyToRecord(await sendCommand(ctx, ref(node), ['CONFIG', 'GET', 'masterauth', 'masteruser']));
}

async function readNode(ctx: ActionContext, node: string, primary: string | null): Promise<NodeView> {
  try {
    const info = await readInfo(ctx, ref(node), 'replication', 'stats', 'persistence', 'memory', 'keyspace');
    const s = parseReplicationState(info);
    const ks = parseKeyspace(info['keyspace']);
    const view: NodeView = {
      node,
      reachable: true,
      role: s.role,
      offset: s.offset,
      loading: s.loading,
      keys: Object.values(ks).reduce((a, d) => a + d.keys, 0),
      usedMemory: num(info['memory'], 'used_memory'),
      maxmemory: num(info['memory'], 'maxmemory'),
      aofEnabled: s.aofEnabled,
    };
    if (s.role === 'replica') {
      const cfg = await configFlags(ctx, node).catch(() => ({}) as Record<string, string>);
      Object.assign(view, {
        master: s.master,
        followsPrimary: primary !== null && s.master === primary,
        linkStatus: s.linkStatus,
        lastIoSecondsAgo: s.lastIoSecondsAgo,
        syncInProgress: s.syncInProgress,
        linkDownSinceSeconds: s.linkDownSinceSeconds,
        priority: s.priority,
        masterauthSet: (cfg['masterauth'] ?? '') !== '',
        masteruserSet: (cfg['masteruser'] ?? '') !== '',
      });
    }
    return view;
  } catch (err) {
    return { node, reachable: false, error: classifyError(err) };
  }
}

/** Reads every node and compares. */
export async function replicationView(inp: ReplicationViewInput, ctx: ActionContext): Promise<ReplicationViewResult> {
  const { primary, consensus, nodes: keys } = await replicationNodes(ctx);
  const nodes: Record<string, NodeView> = {};
  for (const v of await Promise.all(keys.map((k) => readNode(ctx, k, primary)))) nodes[v.node] = v;
  const pv = primary ? nodes[primary] : undefined;
  const primaryReachable = pv?.reachable === true && pv.role === 'primary';
  let primaryStats: ReplicationViewResult['primaryStats'] = null;
  const listed = new Map<string, { state: string; offset: number }>();
  if (primary && primaryReachable) {
    const p = ref(primary);
    const first = await readInfo(ctx, p, 'replication', 'stats', 'persistence', 'errorstats', 'memory');
    if (inp.windowMs > 0) await sleep(inp.windowMs, undefined, { signal: ctx.signal }).catch(() => undefined);
    const second = await readInfo(ctx, p, 'replication', 'stats', 'persistence', 'errorstats', 'memory');
    const a = parseReplicationState(first);
    const b = parseReplicationState(second);
    for (const r of b.replicas) listed.set(`${r.host}:${r.port}`, { state: r.state, offset: r.offset });
    const cfg = configReplyToRecord(await sendCommand(ctx, p, ['CONFIG', 'GET', 'client-output-buffer-limit', 'repl-diskless-sync']).catch(() => []));
    const clients = replicaClients(parseClientList(replyText(await sendCommand(ctx, p, ['CLIENT', 'LIST']).catch(() => ''))));
    const acl = parseAclLog(await sendCommand(ctx, p, ['ACL', 'LOG', '20']).catch(() => []));
    primaryStats = {
      syncFull: b.syncFull,
      syncFullGrowth: b.syncFull - a.syncFull,
      syncPartialErrGrowth: b.syncPartialErr - a.syncPartialErr,
      wrongpassGrowth: errorCount(second['errorstats'], 'WRONGPASS') - errorCount(first['errorstats'], 'WRONGPASS'),
      noauthGrowth: errorCount(second['errorstats'], 'NOAUTH') - errorCount(first['errorstats'], 'NOAUTH'),
      rdbBgsaveInProgress: b.rdbBgsaveInProgress,
      totalForks: b.totalForks,
      latestForkUsec: b.latestForkUsec,
      replDisklessSync: cfg['repl-diskless-sync'] ?? null,
      backlogSize: b.backlog.size,
      replicaBufferLimit: replicaBufferLimit(cfg['client-output-buffer-limit'] ?? ''),
      replicaClientsOmemMax: Math.max(0, ...clients.map((c) => c.omem)),
      replicaClients: clients.length,
      usedMemory: num(second['memory'], 'used_memory'),
      maxmemory: num(second['memory'], 'maxmemory'),
      authFailures: acl
        .filter((e) => e.reason === 'auth' && e.ageSeconds <= 300)
        .map((e) => ({ username: e.username, clientHost: addrHost(e.clientAddr), count: e.count, ageSeconds: Math.round(e.ageSeconds) })),
    };
    if (pv) pv.offset = b.offset;
  }
  const replicas = keys.filter((k) => k !== primary && nodes[k]?.role !== 'primary');
  const primaryOffset = primaryReachable ? (pv?.offset ?? null) : null;
  const wrongPrimary: string[] = [];
  const linkDown: string[] = [];
  const authFailing: string[] = [];
  let authProven = false;
  const lagging: string[] = [];
  const tooSmall: string[] = [];
  const syncing: string[] = [];
  const unreachable = keys.filter((k) => nodes[k]?.reachable === false);
  for (const k of replicas) {
    const v = nodes[k];
    if (!v?.reachable || v.role !== 'replica') continue;
    const l = listed.get(k);
    v.listedState = l?.state ?? null;
    v.gapBytes = primaryOffset !== null && v.offset !== undefined ? Math.max(0, primaryOffset - v.offset) : null;
    if (primary && v.master !== primary) wrongPrimary.push(k);
    if (v.linkStatus !== 'up') linkDown.push(k);
    if (v.syncInProgress || (l && l.state !== 'online')) syncing.push(k);
    if (v.linkStatus === 'up' && (v.gapBytes ?? 0) > inp.maxGapBytes) lagging.push(k);
    const primaryUsed = primaryStats?.usedMemory ?? 0;
    if ((v.maxmemory ?? 0) > 0 && primaryUsed > (v.maxmemory ?? 0)) tooSmall.push(k);
    const host = k.slice(0, k.lastIndexOf(':'));
    // Auth failures must be happening now: growth in WRONGPASS/NOAUTH during the window is proof; an ACL LOG
    // entry from the same host updated in the last 5 s is only a hint (another client on that host may have
    // failed), so it ranks below a full-sync loop seen in the same window.
    const authGrowing = (primaryStats?.wrongpassGrowth ?? 0) > 0 || (primaryStats?.noauthGrowth ?? 0) > 0;
    const authRecent = (primaryStats?.authFailures ?? []).some((f) => f.clientHost === host && f.ageSeconds <= 5);
    if (v.linkStatus !== 'up' && v.master === primary && primaryReachable && (authGrowing || authRecent) && !v.syncInProgress && l === undefined) {
      authFailing.push(k);
      if (authGrowing) authProven = true;
    }
  }
  const ps = primaryStats;
  const limit = ps?.replicaBufferLimit?.hard ?? 0;
  const syncLoop = ps !== null && (ps.syncFullGrowth >= 2 || (ps.syncFullGrowth >= 1 && limit > 0 && ps.replicaClientsOmemMax >= limit / 2));
  const maxGapBytes = Math.max(0, ...replicas.map((k) => nodes[k]?.gapBytes ?? 0));
  const counts = keys.map((k) => nodes[k]?.keys).filter((c): c is number => c !== undefined);
  let cause: ReplicationViewResult['cause'] = 'healthy';
  if (!primaryReachable) cause = 'primary-unreachable';
  else if (wrongPrimary.length > 0) cause = 'wrong-primary';
  else if (authFailing.length > 0 && (authProven || !syncLoop)) cause = 'auth';
  else if (syncLoop) cause = 'sync-loop';
  else if (tooSmall.length > 0 && linkDown.length > 0) cause = 'replica-too-small';
  else if (linkDown.length > 0) cause = 'link-down';
  else if (lagging.length > 0) cause = 'lagging';
  else if (syncing.length > 0) cause = 'syncing';
  const describe = (k: string): string => {
    const v = nodes[k];
    return `${k} (follows ${v?.master ?? '?'}, link ${v?.linkStatus ?? '?'}${v?.gapBytes != null ? `, gap ${v.gapBytes} B` : ''})`;
  };
  const summary =
    cause === 'primary-unreachable'
      ? `primary ${primary ?? '(none named)'} unreachable${pv?.error ? ` (${pv.error.code})` : ''}`
      : cause === 'wrong-primary'
        ? `${wrongPrimary.map(describe).join('; ')}: not following ${primary}`
        : cause === 'auth'
          ? `${authFailing.join(', ')} cannot authenticate to ${primary}: link down, WRONGPASS +${ps?.wrongpassGrowth ?? 0}, NOAUTH +${ps?.noauthGrowth ?? 0} in ${inp.windowMs} ms, masterauth ${authFailing.map((k) => (nodes[k]?.masterauthSet ? 'set' : 'not set')).join('/')}`
          : cause === 'sync-loop'
            ? `full-sync loop on ${primary}: sync_full +${ps?.syncFullGrowth ?? 0} in ${inp.windowMs} ms (total ${ps?.syncFull ?? 0}), replica client omem up to ${ps?.replicaClientsOmemMax ?? 0} B against a hard limit of ${limit} B`
            : cause === 'healthy'
              ? `${replicas.length} replica(s) follow ${primary}, links up, max gap ${maxGapBytes} B`
              : `${cause}: ${[...linkDown, ...lagging, ...syncing].map(describe).join('; ')}`;
  return {
    primary,
    primaryReachable,
    sentinels: consensus ? { majorityPrimary: consensus.majorityPrimary, agree: consensus.agree, reachable: consensus.reachable, total: consensus.total } : null,
    nodes,
    replicas,
    primaryStats,
    wrongPrimary,
    linkDown,
    authFailing,
    lagging,
    tooSmall,
    syncing,
    unreachable,
    masters: keys.filter((k) => nodes[k]?.reachable === true && nodes[k]?.role === 'primary'),
    syncLoop,
    maxGapBytes,
    keysPrimary: primaryReachable ? (pv?.keys ?? null) : null,
    keysMax: counts.length ? Math.max(...counts) : null,
    keysAgree: counts.length > 0 && counts.every((c) => c === counts[0]),
    cause,
    summary,
  };
}

export const replicationViewAction: ActionDefinition<ReplicationViewInput, ReplicationViewResult> = {
  name: 'redis.replication-view',
  description: 'Compares the primary and every replica: whom each follows, link, offsets and gaps, sync counters over a window, output buffers, credentials set, auth failures; names the cause.',
  risk: 'read',
  input,
  timeoutMs: 30_000,
  output: {
    primary: 'host:port the Sentinel majority names as primary (sentinel mode), else the discovered primary',
    primaryReachable: 'the primary answered INFO and says role:master',
    sentinels: 'majorityPrimary, agree (all answering Sentinels name one primary), reachable, total; null outside sentinel mode',
    nodes: 'host:port → node view: reachable, error {code,message}, role, master, followsPrimary, linkStatus, lastIoSecondsAgo, syncInProgress, linkDownSinceSeconds, offset, gapBytes, listedState, priority, loading, keys, usedMemory, maxmemory, masterauthSet, masteruserSet (never the values), aofEnabled',
    replicas: 'host:port of every data node other than the primary',
    primaryStats: 'primary readings: syncFull, syncFullGrowth and syncPartialErrGrowth over the window, wrongpassGrowth, noauthGrowth, rdbBgsaveInProgress, totalForks, latestForkUsec, replDisklessSync, backlogSize, replicaBufferLimit {hard,soft,softSeconds}, replicaClientsOmemMax, replicaClients, usedMemory, maxmemory, authFailures [{username,clientHost,count,ageSeconds}]; null when unreachable',
    wrongPrimary: 'replicas following another node than the primary',
    linkDown: 'replicas whose master_link_status is not up',
    authFailing: 'replicas with the link down on the right primary while the primary records authentication failures',
    lagging: 'replicas with the link up and a gap above maxGapBytes',
    tooSmall: 'replicas whose maxmemory is below the primary used memory',
    syncing: 'replicas in a sync (master_sync_in_progress, or not online in the primary listing)',
    unreachable: 'data nodes that did not answer',
    masters: 'reachable data nodes that say role:master (more than one: split brain)',
    syncLoop: 'full syncs repeat: sync_full grew by ≥ 2 in the window, or by 1 with a replica client holding ≥ half the hard output-buffer limit',
    maxGapBytes: 'largest offset gap among replicas, bytes',
    keysPrimary: 'keys on the primary (INFO keyspace), null when unreachable',
    keysMax: 'largest key count among reachable nodes (what a promoted replica should keep), null when none answers',
    keysAgree: 'every reachable node reports the same key count',
    cause: 'healthy | primary-unreachable | wrong-primary | auth | sync-loop | replica-too-small | link-down | lagging | syncing',
    summary: 'one line naming the nodes and numbers behind the cause',
  },
  async run(inp, ctx) {
    return replicationView(inp, ctx);
  },
};
