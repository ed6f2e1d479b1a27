/**
 * Node selection, in one place: a step's `on:` is a selector name (discovered live by
 * `actions/redis/topology.ts`) or an expression naming one node (`{ node: best.address }`) or
 * several (`{ nodes: repl.stuckReplicas }`) from the findings. Nodes named by expressions are
 * resolved against the live topology and refused when they are not part of the target.
 */
import { knownNodes, resolveNodes } from '../actions/redis/topology.js';
import type { NodeSelector } from '../actions/redis/topology.js';
import { parseNodeKey } from '../actions/redis/connection.js';
import type { NodeRef, TargetHandle } from '../actions/types.js';
import { nodeKey } from '../actions/types.js';
import { RunbooksError } from '../errors.js';
import { compileExpr } from './expr/index.js';
import type { SelectorDef } from './runbook/schema.js';

/** Selectors whose findings are keyed by node (`{ "host:port": result }`). */
export const FAN_OUT: readonly string[] = ['replicas', 'all-nodes', 'sentinels', 'cluster-masters', 'cluster-nodes'];

/** Does this `on:` give one finding per node? (`{ nodes: … }` always does.) */
export function isFanOut(on: SelectorDef): boolean {
  return typeof on === 'string' ? FAN_OUT.includes(on) : 'nodes' in on;
}

/** `on:` as text, for timelines and errors. */
export function selectorText(on: SelectorDef): string {
  return typeof on === 'string' ? on : 'node' in on ? `{ node: ${on.node} }` : `{ nodes: ${on.nodes} }`;
}

/** A node as an expression may give it: `"host:port"`, `{ node: "host:port" }`, `{ address }`, `{ host, port }`. */
function toNodeKey(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of ['node', 'address', 'addr']) if (typeof o[k] === 'string') return o[k];
    if (typeof o['host'] === 'string' && (typeof o['port'] === 'number' || typeof o['port'] === 'string')) return `${o['host']}:${String(o['port'])}`;
  }
  return undefined;
}

/**
 * The nodes `on` names. Throws a RunbooksError (`node_unresolved`, `node_not_in_target`) when an
 * expression gives nothing usable or names a node outside the target.
 */
export async function selectNodes(target: TargetHandle, on: SelectorDef, alertNode: string | undefined, scope: Readonly<Record<string, unknown>>): Promise<NodeRef[]> {
  if (typeof on === 'string') return resolveNodes(target, on as NodeSelector, alertNode);
  const src = 'node' in on ? on.node : on.nodes;
  const value = compileExpr(src).evaluate(scope);
  const list = 'node' in on ? [value] : Array.isArray(value) ? value : value === null ? [] : [value];
  const keys = list.map(toNodeKey);
  if ('node' in on && (keys.length !== 1 || keys[0] === undefined)) {
    throw new RunbooksError('node_unresolved', `on: { node: ${src} } gave ${JSON.stringify(value)}, not a host:port`, { retryable: false });
  }
  const bad = keys.findIndex((k) => k === undefined);
  if (bad >= 0) throw new RunbooksError('node_unresolved', `on: { nodes: ${src} } item ${bad} is ${JSON.stringify(list[bad])}, not a host:port`, { retryable: false });
  const refs = (keys as string[]).map((k) => {
    try {
      return parseNodeKey(k);
    } catch {
      throw new RunbooksError('node_unresolved', `on: ${selectorText(on)} gave ${JSON.stringify(k)}, not a host:port`, { retryable: false });
    }
  });
  if (refs.length === 0) return [];
  const known = await knownNodes(target, alertNode);
  const outside = refs.filter((r) => !known.has(nodeKey(r)));
  if (outside.length > 0) {
    throw new RunbooksError('node_not_in_target', `refused: ${outside.map(nodeKey).join(', ')} ${outside.length === 1 ? 'is' : 'are'} not part of target ${target.name} (known: ${[...known].join(', ')})`, { retryable: false });
  }
  const seen = new Set<string>();
  return refs.filter((r) => (seen.has(nodeKey(r)) ? false : (seen.add(nodeKey(r)), true)));
}
