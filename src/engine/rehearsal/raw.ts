/**
 * `raw:` in a rehearsal case: replies captured from real servers (INFO, CLUSTER NODES, SENTINEL …,
 * ACL LOG, as text or as the JSON the client returned), by step id, node and command. The step's
 * own action runs on them — its own requests, its own parsing — through a replay of those replies
 * instead of a connection: what it asks for and was not captured fails the step, as a node that
 * does not answer would (`{ error: { code, message } }`).
 */
import { pino } from 'pino';
import type { Redis } from 'ioredis';
import type { ActionContext, NodeRef, TargetHandle } from '../../actions/types.js';
import { nodeKey } from '../../actions/types.js';
import { redisErrorCode, RunbooksError } from '../../errors.js';
import { scopeOf } from '../machine/scope.js';
import { isFanOut } from '../node-selection.js';
import type { MachineContext } from '../machine/types.js';
import type { CompiledRunbook } from '../runbook/load.js';
import { resolveWith } from '../runbook/step-inputs.js';
import type { RehearsalDeps } from './rehearse.js';

/** Replies of one node: `"INFO memory"`, `"CLUSTER NODES"`, … → the captured reply. */
export type NodeReplies = Record<string, unknown>;
/** `raw:` of a case: step id → node (`host:port`) → replies. */
export type RawReplies = Record<string, Record<string, NodeReplies>>;

const silent = pino({ level: 'silent' });

/** The captured reply to `argv`: the whole command line, else its first two words, else its first. */
export function replyFor(replies: NodeReplies, argv: readonly string[]): { found: true; reply: unknown } | { found: false } {
  for (const n of [argv.length, 2, 1]) {
    const key = argv.slice(0, n).join(' ');
    for (const [k, v] of Object.entries(replies)) if (k.toLowerCase() === key.toLowerCase()) return { found: true, reply: v };
  }
  return { found: false };
}

/** A connection that answers from captured replies (only `call`: what `sendCommand` uses). */
function replay(node: NodeRef, replies: NodeReplies | undefined): Redis {
  const conn = {
    status: 'ready',
    async call(cmd: string, ...args: string[]): Promise<unknown> {
      if (!replies) throw Object.assign(new Error(`connect ECONNREFUSED ${nodeKey(node)} (no replies captured for this node)`), { code: 'ECONNREFUSED' });
      const r = replyFor(replies, [cmd, ...args]);
      if (!r.found) throw new RunbooksError('rehearsal_unrecorded', `no captured reply for ${[cmd, ...args].join(' ')} on ${nodeKey(node)}`);
      return r.reply;
    },
    on() {
      return conn;
    },
    disconnect() {
      return undefined;
    },
  };
  return conn as unknown as Redis;
}

function toNode(key: string): NodeRef {
  const i = key.lastIndexOf(':');
  return { host: key.slice(0, i), port: Number(key.slice(i + 1)) };
}

/**
 * Findings of the diagnose steps `raw` names, each computed by the step's own action on the
 * captured replies. A fan-out step (several nodes given) yields `{ "host:port": finding }`.
 */
export async function findingsFromRaw(rb: CompiledRunbook, raw: RawReplies, ctx: MachineContext, known: Record<string, unknown>, deps: RehearsalDeps): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const step of rb.def.diagnose) {
    const byNode = raw[step.id];
    if (!byNode) continue;
    const action = deps.actions.get(step.action);
    if (!action) throw new RunbooksError('action_unknown', `raw.${step.id}: unknown action ${step.action}`);
    const scope = scopeOf({ ...ctx, findings: { ...known, ...out } });
    const resolved = resolveWith(step.with, scope);
    const input = action.input.parse(resolved.value);
    const nodes = Object.keys(byNode);
    const target: TargetHandle = {
      name: ctx.target.name,
      mode: 'standalone',
      role: ctx.target.role,
      endpoints: nodes.map(toNode),
      sentinels: [],
      allowAutomatic: ctx.target.allowAutomatic,
      connect: async (n) => replay(n, byNode[nodeKey(n)]),
      connectFresh: async (n) => replay(n, byNode[nodeKey(n)]),
    };
    const results: Record<string, unknown> = {};
    for (const key of nodes) {
      const actx: ActionContext = { target, node: toNode(key), findings: { ...known, ...out }, params: { ...ctx.params, ...(resolved.value as Record<string, unknown>) }, dryRun: false, log: silent, signal: new AbortController().signal, now: () => Date.parse('2026-01-01T00:00:00Z') };
      try {
        results[key] = await action.run(input, actx);
      } catch (e) {
        results[key] = { error: { code: e instanceof RunbooksError ? e.code : redisErrorCode(e), message: (e as Error).message } };
      }
    }
    out[step.id] = isFanOut(step.on) ? results : results[nodes[0] ?? ''];
  }
  return out;
}
