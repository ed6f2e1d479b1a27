/**
 * Pure routing of one Alertmanager alert to a runbook and a target. No I/O.
 *
 * Runbook: the first config `routes` entry that matches, else the first runbook whose own `match`
 * list has a matching entry. Target: the most specific target whose (non-empty) `labels` all
 * equal the alert's labels, else the target that lists the alert's `instance` as a data or
 * sentinel endpoint. Ambiguity is refused rather than guessed: remediation must not land on the
 * wrong fleet.
 */
import { nodeKey } from '../../actions/types.js';
import type { NodeRef } from '../../actions/types.js';
import type { RouteConfig, TargetConfig } from '../../config-types.js';
import type { AlertInput, RoutedAlert } from '../../engine/types.js';

/** One alert matcher: `alertname` equality and every label equal. An empty matcher matches nothing. */
export interface AlertMatcher {
  alertname?: string;
  labels?: Record<string, string>;
}

/** What routing needs to know. */
export interface RouteContext {
  /** Config routes, tried first, in order. */
  routes: RouteConfig[];
  /** Loaded runbooks (in load order) with their own `match` lists. */
  runbooks: { name: string; match: AlertMatcher[] }[];
  targets: Record<string, TargetConfig>;
}

/** Routing outcome; `detail` is safe to log (never echoes credentials found in `instance`). */
export type RouteResult =
  | { ok: true; routed: RoutedAlert }
  | { ok: false; reason: 'no_runbook' | 'no_target'; detail: string };

const DEFAULT_PORT = 6379;

/**
 * Route an alert to a runbook and a target.
 */
export function routeAlert(alert: AlertInput, ctx: RouteContext): RouteResult {
  const runbook = chooseRunbook(alert, ctx);
  if (!runbook.ok) return runbook;
  const target = chooseTarget(alert, ctx.targets);
  if (!target.ok) return target;
  const routed: RoutedAlert = { alert, runbook: runbook.name, target: target.name };
  if (target.node !== undefined) routed.node = target.node;
  return { ok: true, routed };
}

/**
 * Parse an alert's `instance` label into a node: `redis://h:p`, `rediss://user:pw@h:p/0`, `h:p`,
 * `[v6]:p`, or a bare host (port 6379). Other schemes (e.g. an exporter's `http://`) and
 * malformed values give `undefined`.
 */
export function parseInstance(s: string): NodeRef | undefined {
  let rest = s.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(rest);
  if (scheme !== null) {
    const name = scheme[1]?.toLowerCase();
    if (name !== 'redis' && name !== 'rediss') return undefined;
    rest = rest.slice(scheme[0].length);
    rest = rest.replace(/[/?#].*$/s, '');
    const at = rest.lastIndexOf('@');
    if (at >= 0) rest = rest.slice(at + 1);
  }
  if (rest === '') return undefined;

  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(rest);
  if (v6 !== null) {
    host = v6[1] ?? '';
    portText = v6[2];
  } else if ((rest.match(/:/g)?.length ?? 0) > 1) {
    if (!/^[0-9A-Fa-f:.]+$/.test(rest)) return undefined;
    host = rest; // bare unbracketed IPv6 address
  } else {
    const m = /^([^\s:[\]/@]+)(?::(\d+))?$/.exec(rest);
    if (m === null) return undefined;
    host = m[1] ?? '';
    portText = m[2];
  }
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (host === '' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

// ---------------------------------------------------------------------------------------------

function chooseRunbook(alert: AlertInput, ctx: RouteContext): { ok: true; name: string } | Extract<RouteResult, { ok: false }> {
  const known = new Set(ctx.runbooks.map((r) => r.name));
  for (const [i, route] of ctx.routes.entries()) {
    if (!matches(alert, route)) continue;
    if (!known.has(route.runbook)) {
      return { ok: false, reason: 'no_runbook', detail: `routes[${i}] names unknown runbook "${route.runbook}"` };
    }
    return { ok: true, name: route.runbook };
  }
  for (const rb of ctx.runbooks) {
    if (rb.match.some((m) => matches(alert, m))) return { ok: true, name: rb.name };
  }
  return { ok: false, reason: 'no_runbook', detail: `no route or runbook matches alert ${describe(alert)}` };
}

function chooseTarget(
  alert: AlertInput,
  targets: Record<string, TargetConfig>,
): { ok: true; name: string; node?: string } | Extract<RouteResult, { ok: false }> {
  const instance = alert.labels['instance'];
  const node = instance === undefined ? undefined : parseInstance(instance);
  const all = Object.values(targets);

  const byLabels = all.filter((t) => labelsMatch(t.labels, alert.labels));
  if (byLabels.length > 0) {
    const best = Math.max(...byLabels.map((t) => Object.keys(t.labels).length));
    const top = byLabels.filter((t) => Object.keys(t.labels).length === best);
    if (top.length > 1) return ambiguous('labels', top);
    const [t] = top;
    if (t !== undefined) return withNode(t, node);
  }

  if (node === undefined) {
    const why = instance === undefined ? 'alert has no instance label' : 'instance label is not a Redis address';
    return { ok: false, reason: 'no_target', detail: `no target labels match and ${why}` };
  }
  const byInstance = all.filter(
    (t) => t.endpoints.some((e) => sameNode(e, node)) || (t.sentinel?.endpoints ?? []).some((e) => sameNode(e, node)),
  );
  if (byInstance.length > 1) return ambiguous(`instance ${nodeKey(node)}`, byInstance);
  const [t] = byInstance;
  if (t === undefined) {
    return { ok: false, reason: 'no_target', detail: `no target labels match and no target lists instance ${nodeKey(node)}` };
  }
  return withNode(t, node);
}

function withNode(t: TargetConfig, node: NodeRef | undefined): { ok: true; name: string; node?: string } {
  const data = node === undefined ? undefined : t.endpoints.find((e) => sameNode(e, node));
  return data === undefined ? { ok: true, name: t.name } : { ok: true, name: t.name, node: nodeKey(data) };
}

function ambiguous(by: string, ts: TargetConfig[]): Extract<RouteResult, { ok: false }> {
  const names = ts.map((t) => t.name).sort();
  return { ok: false, reason: 'no_target', detail: `ambiguous target by ${by}: ${names.join(', ')}` };
}

function matches(alert: AlertInput, m: AlertMatcher): boolean {
  const hasLabels = m.labels !== undefined && Object.keys(m.labels).length > 0;
  if (m.alertname === undefined && !hasLabels) return false;
  if (m.alertname !== undefined && alert.labels['alertname'] !== m.alertname) return false;
  return m.labels === undefined || labelsMatch(m.labels, alert.labels, true);
}

/** Every wanted label equals the alert's. With `allowEmpty` false, an empty set matches nothing. */
function labelsMatch(wanted: Record<string, string>, actual: Record<string, string>, allowEmpty = false): boolean {
  const entries = Object.entries(wanted);
  if (entries.length === 0) return allowEmpty;
  return entries.every(([k, v]) => Object.hasOwn(actual, k) && actual[k] === v);
}

function sameNode(a: NodeRef, b: NodeRef): boolean {
  return a.port === b.port && normalHost(a.host) === normalHost(b.host);
}

function normalHost(h: string): string {
  const lower = h.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  return lower === 'localhost' ? '127.0.0.1' : lower;
}

function describe(alert: AlertInput): string {
  const name = alert.labels['alertname'];
  return name === undefined ? `(fingerprint ${alert.fingerprint})` : `${name} (fingerprint ${alert.fingerprint})`;
}
