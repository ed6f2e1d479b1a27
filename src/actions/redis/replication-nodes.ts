/**
 * What the replication and Sentinel actions share: asking every Sentinel which primary it names
 * (and counting the majority), listing every data node that belongs to a replicated target
 * (configured endpoints, Sentinel's replicas, the primary's `slaveN` lines), and classifying a
 * failure into a short code a runbook can test (`refused`, `timeout`, `wrongpass`, …).
 */
import type { ActionContext, NodeRef, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { TargetError } from '../../errors.js';
import { parseNodeKey, readInfo, replyText, sendCommand } from './connection.js';
import { discoverTopology } from './topology.js';
import { listedReplicas } from './info.js';
import { parseSentinelReplicaList, type SentinelReplicaView } from './sentinel-parse.js';
import { parseReplicationState } from './replication-parse.js';
import type { ReplicationState } from './replication-parse.js';
import { configReplyToRecord } from './config-get.js';

/** A failure as a finding: a classified code and the message (no secrets: errors never echo them). */
export interface NodeError {
  code: string;
  message: string;
}

/** Classifies a command failure: refused, timeout, wrongpass, noauth, noperm, loading, or the error code. */
export function classifyError(err: unknown): NodeError {
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof TargetError ? err.code : 'unknown';
  if (/ECONNREFUSED/.test(message)) return { code: 'refused', message };
  if (code === 'target_timeout' || /ETIMEDOUT|timed out/i.test(message)) return { code: 'timeout', message };
  if (code.startsWith('redis_')) return { code: code.slice('redis_'.length), message };
  if (code === 'target_unreachable') return { code: 'unreachable', message };
  return { code, message };
}

/** What the Sentinels say the primary is. */
export interface SentinelConsensus {
  masterName: string | null;
  /** Sentinel `host:port` → the primary it names, or its error. */
  answers: Record<string, { primary: string } | { error: NodeError }>;
  /** The primary named by a strict majority of the configured Sentinels, else null. */
  majorityPrimary: string | null;
  /** The primary named most often (even without a majority), else null. */
  mostNamed: string | null;
  /** How many Sentinels name {@link mostNamed}. */
  mostNamedCount: number;
  /** Every answering Sentinel names the same primary. */
  agree: boolean;
  reachable: number;
  total: number;
}

/** Asks every configured Sentinel `SENTINEL GET-MASTER-ADDR-BY-NAME` (in parallel). */
export async function sentinelConsensus(ctx: Pick<ActionContext, 'target'>): Promise<SentinelConsensus> {
  const name = ctx.target.sentinelMasterName ?? null;
  const answers: SentinelConsensus['answers'] = {};
  const sentinels = ctx.target.sentinels;
  await Promise.all(
    sentinels.map(async (s) => {
      try {
        if (!name) throw new TargetError('config_invalid', 'no sentinel master name', false);
        const r = await sendCommand(ctx, s, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name]);
        if (!Array.isArray(r) || r.length < 2) throw new TargetError('unknown_master', `sentinel does not know ${name}`, false);
        answers[nodeKey(s)] = { primary: `${replyText(r[0])}:${replyText(r[1])}` };
      } catch (err) {
        answers[nodeKey(s)] = { error: classifyError(err) };
      }
    }),
  );
  const votes = new Map<string, number>();
  for (const a of Object.values(answers)) if ('primary' in a) votes.set(a.primary, (votes.get(a.primary) ?? 0) + 1);
  let mostNamed: string | null = null;
  let mostNamedCount = 0;
  for (const [k, v] of votes) if (v > mostNamedCount) [mostNamed, mostNamedCount] = [k, v];
  const reachable = [...votes.values()].reduce((a, b) => a + b, 0);
  return {
    masterName: name,
    answers,
    majorityPrimary: mostNamedCount > sentinels.length / 2 ? mostNamed : null,
    mostNamed,
    mostNamedCount,
    agree: votes.size === 1,
    reachable,
    total: sentinels.length,
  };
}

/** SENTINEL REPLICAS from the first Sentinel that answers (null when none does). */
export async function sentinelReplicas(ctx: Pick<ActionContext, 'target'>): Promise<{ from: string; replicas: SentinelReplicaView[] } | null> {
  const name = ctx.target.sentinelMasterName;
  if (!name) return null;
  for (const s of ctx.target.sentinels) {
    try {
      return { from: nodeKey(s), replicas: parseSentinelReplicaList(await sendCommand(ctx, s, ['SENTINEL', 'REPLICAS', name])) };
    } catch {
      continue;
    }
  }
  return null;
}

/** The data nodes of a replicated target and the primary they should follow. */
export interface ReplicationNodes {
  /** Sentinel majority's primary (sentinel mode), else the discovered primary. */
  primary: string | null;
  consensus: SentinelConsensus | null;
  /** Every data node known (primary first), `host:port`. */
  nodes: string[];
}

/** Collects the primary (by Sentinel majority when there are Sentinels) and every data node. */
export async function replicationNodes(ctx: Pick<ActionContext, 'target'>): Promise<ReplicationNodes> {
  const seen = new Set<string>();
  const add = (k: string | null | undefined): void => {
    if (k && /:\d+$/.test(k)) seen.add(k);
  };
  let primary: string | null = null;
  let consensus: SentinelConsensus | null = null;
  if (ctx.target.mode === 'sentinel') {
    consensus = await sentinelConsensus(ctx);
    primary = consensus.majorityPrimary ?? consensus.mostNamed;
    add(primary);
    for (const r of (await sentinelReplicas(ctx))?.replicas ?? []) add(r.node);
  } else {
    try {
      const topo = await discoverTopology(ctx.target);
      primary = topo.primary ? nodeKey(topo.primary) : null;
      add(primary);
      for (const r of topo.replicas) add(nodeKey(r));
    } catch {
      // nothing answered: the configured endpoints are all we know
    }
  }
  for (const e of ctx.target.endpoints) add(nodeKey(e));
  if (primary) {
    try {
      for (const r of listedReplicas((await readInfo(ctx, parseNodeKey(primary), 'replication'))['replication'])) add(`${r.host}:${r.port}`);
    } catch {
      // primary unreachable: reported by the caller
    }
  }
  const nodes = [...seen];
  if (primary) nodes.sort((a, b) => (a === primary ? -1 : b === primary ? 1 : 0));
  return { primary, consensus, nodes };
}

/** `host:port` → NodeRef. */
export function ref(key: string): NodeRef {
  return parseNodeKey(key);
}

/**
 * The replication state of every node but `primary` (only `only` when given), in `nodes` order;
 * nodes that do not answer are left out (nothing could be sent to them).
 */
export async function otherNodeStates(ctx: Pick<ActionContext, 'target'>, nodes: readonly string[], primary: string | null, only?: string): Promise<Array<{ key: string; state: ReplicationState }>> {
  const out: Array<{ key: string; state: ReplicationState }> = [];
  for (const key of nodes) {
    if (key === primary || (only !== undefined && key !== only)) continue;
    try {
      out.push({ key, state: parseReplicationState(await readInfo(ctx, ref(key), 'replication')) });
    } catch {
      // unreachable
    }
  }
  return out;
}

/**
 * Whether one planned replication command is already in place on its node: `REPLICAOF NO ONE` →
 * the node says role:master; `REPLICAOF h p` → it follows h:p; `CONFIG SET p v` → CONFIG GET p
 * shows v (values compared after `normalise`); `CONFIG REWRITE` → false (repeating it is harmless).
 */
export async function replicationApplied(
  cmd: PlannedCommand,
  ctx: Pick<ActionContext, 'target'>,
  normalise: (param: string, value: string) => string = (_p, v) => v.trim(),
): Promise<boolean | undefined> {
  const [a = '', b = '', c = '', d] = cmd.argv;
  const verb = a.toUpperCase();
  const node = parseNodeKey(cmd.node);
  if (verb === 'REPLICAOF' || verb === 'SLAVEOF') {
    const s = parseReplicationState(await readInfo(ctx, node, 'replication'));
    if (b.toUpperCase() === 'NO' && c.toUpperCase() === 'ONE') return s.role === 'primary';
    return s.role === 'replica' && s.master === `${b}:${c}`;
  }
  if (verb === 'CONFIG' && b.toUpperCase() === 'REWRITE') return false;
  if (verb === 'CONFIG' && b.toUpperCase() === 'SET' && d !== undefined && cmd.argv.length === 4) {
    const cur = configReplyToRecord(await sendCommand(ctx, node, ['CONFIG', 'GET', c]))[c];
    return cur === undefined ? undefined : normalise(c, cur) === normalise(c, d);
  }
  return undefined;
}
