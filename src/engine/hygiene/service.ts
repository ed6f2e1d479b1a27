/**
 * The hygiene service: runs one check on one target (read-only, bounded), merges its findings
 * with the stored ones, sends findings at or above the check's incident threshold through the
 * alert path (`ingest`: same dedupe as Alertmanager alerts), and reads the digest back.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { resolveNodes } from '../../actions/redis/topology.js';
import { sendCommand } from '../../actions/redis/connection.js';
import type { ActionDefinition, NodeRef, TargetHandle } from '../../actions/types.js';
import { nodeKey } from '../../actions/types.js';
import { RunbooksError } from '../../errors.js';
import { redisErrorCode } from '../../errors.js';
import type { Keys } from '../keys.js';
import type { StoreClient } from '../store/incidents.js';
import type { RoutedAlert } from '../types.js';
import { CHECKS } from './checks.js';
import { mergeFindings, sortFindings } from './digest.js';
import type { HygieneAssignment } from './schema.js';
import { severityRank } from './types.js';
import type { CheckContext, HygieneDigestSink, HygieneFinding, HygieneReader, HygieneReport, HygieneRun, Severity } from './types.js';

export interface HygieneServiceDeps {
  redis: StoreClient;
  keys: Keys;
  targets: { get(name: string): TargetHandle | undefined; names(): string[] };
  /** The engine's alert door (`Engine.ingest`): dedupe by fingerprint + startsAt. */
  ingest(alerts: RoutedAlert[]): Promise<unknown>;
  assignments: readonly HygieneAssignment[];
  log: Logger;
  now: () => number;
  /** Posts one digest per run with changes below the incident threshold (Slack when configured). */
  digest?: HygieneDigestSink;
}

export interface CheckRunResult {
  run: HygieneRun;
  open: HygieneFinding[];
  opened: HygieneFinding[];
  persisting: HygieneFinding[];
  cleared: HygieneFinding[];
  /** Alerts sent to the engine (firing and resolved). */
  alerts: number;
}

/** Alert fingerprint of a finding: stable per check, target and finding key. */
export function findingFingerprint(check: string, target: string, key: string): string {
  return createHash('sha256').update(`${check}\0${target}\0${key}`).digest('hex').slice(0, 16);
}

function parse(v: string): HygieneFinding | undefined {
  try {
    return JSON.parse(v) as HygieneFinding;
  } catch {
    return undefined;
  }
}

export class HygieneService implements HygieneReader {
  constructor(private readonly d: HygieneServiceDeps) {}

  assignment(check: string, target: string): HygieneAssignment | undefined {
    return this.d.assignments.find((a) => a.check.name === check && a.target === target);
  }

  /** Run one check on one target now. */
  async runCheck(checkName: string, targetName: string): Promise<CheckRunResult> {
    const a = this.assignment(checkName, targetName);
    if (!a) throw new RunbooksError('input_invalid', `no hygiene check '${checkName}' on target '${targetName}'`, { retryable: false });
    const target = this.d.targets.get(targetName);
    if (!target) throw new RunbooksError('input_invalid', `unknown target '${targetName}'`, { retryable: false });
    const def = CHECKS.get(a.check.check);
    if (!def) throw new RunbooksError('input_invalid', `unknown check type '${a.check.check}'`, { retryable: false });
    const k = this.d.keys;
    const started = this.d.now();
    const log = this.d.log.child({ hygiene: checkName, target: targetName });
    const prevState = await this.d.redis.hget(k.hygieneState(targetName), checkName);
    let drafts: Awaited<ReturnType<typeof def.run>>['findings'];
    let state: unknown;
    let error: HygieneRun['error'];
    try {
      const ac = new AbortController();
      let nodes: NodeRef[];
      let scanNode: NodeRef | undefined;
      try {
        nodes = await resolveNodes(target, 'all-nodes');
        [scanNode] = await resolveNodes(target, 'preferred-replica');
      } catch (e) {
        if (!def.endpointsOnFailure || target.endpoints.length === 0) throw e;
        log.info({ err: (e as Error).message }, 'nodes not resolved: the check runs on the configured endpoints');
        nodes = [...target.endpoints];
      }
      const ctx: CheckContext<unknown> = {
        target,
        nodes,
        scanNode: scanNode ?? (nodes[0] as NodeRef),
        params: def.params.parse(a.params),
        previous: prevState ? (JSON.parse(prevState) as unknown) : undefined,
        log,
        signal: ac.signal,
        now: this.d.now,
        action: <I, O>(action: ActionDefinition<I, O>, node: NodeRef, input: unknown) => runAction(action, node, input, { target, log, signal: ac.signal, now: this.d.now }),
        command: (node, argv) => sendCommand({ target }, node, argv),
      };
      const out = await def.run(ctx);
      drafts = out.findings;
      state = out.state;
    } catch (e) {
      const code = e instanceof RunbooksError ? e.code : redisErrorCode(e);
      error = { code, message: (e as Error).message };
      log.warn({ code, err: error.message }, 'hygiene check failed');
      drafts = [{ severity: 'warning', key: 'check-failed', summary: `check ${checkName} could not run on ${targetName}: ${code}: ${error.message}`, data: { error } }];
    }
    const stored = await this.stored(targetName, checkName);
    const m = mergeFindings(checkName, targetName, stored, drafts, this.d.now());
    const alerts = await this.alerts(a, targetName, m);
    const pipe = this.d.redis.multi();
    for (const [field, f] of m.write) pipe.hset(k.hygiene(targetName), field, JSON.stringify(f));
    if (m.drop.length > 0) pipe.hdel(k.hygiene(targetName), ...m.drop);
    if (state !== undefined) pipe.hset(k.hygieneState(targetName), checkName, JSON.stringify(state));
    const run: HygieneRun = { check: checkName, target: targetName, at: new Date(started).toISOString(), ms: this.d.now() - started, found: drafts.length, opened: m.opened.length, cleared: m.cleared.length, ...(error ? { error } : {}) };
    pipe.hset(k.hygieneRuns(targetName), checkName, JSON.stringify(run));
    await pipe.exec();
    log.info({ found: run.found, opened: run.opened, cleared: run.cleared, ms: run.ms }, 'hygiene check ran');
    const open = [...m.write.values()].filter((f) => f.status === 'open');
    if (this.d.digest) {
      const oi = a.check.openIncident;
      const below = (f: HygieneFinding): boolean => !oi || severityRank(f.severity) < severityRank(oi.severity);
      const opened = m.opened.filter(below);
      const cleared = m.cleared.filter(below);
      if (opened.length > 0 || cleared.length > 0) {
        const openCounts: Record<Severity, number> = { info: 0, warning: 0, critical: 0 };
        for (const f of open) openCounts[f.severity] += 1;
        await this.d.digest.post({ check: checkName, target: targetName, at: run.at, opened, cleared, openCounts }).catch((e: unknown) => log.warn({ err: (e as Error).message }, 'hygiene digest not posted'));
      }
    }
    return { run, open: [...m.write.values()].filter((f) => f.status === 'open'), opened: m.opened, persisting: m.persisting, cleared: m.cleared, alerts };
  }

  /** Findings at or above the incident threshold go through the alert door; cleared ones resolve their alert. */
  private async alerts(a: HygieneAssignment, target: string, m: ReturnType<typeof mergeFindings>): Promise<number> {
    const oi = a.check.openIncident;
    if (!oi) return 0;
    const out: RoutedAlert[] = [];
    const alert = (f: HygieneFinding, status: 'firing' | 'resolved'): RoutedAlert => {
      const fp = findingFingerprint(f.check, target, f.key);
      f.alertFingerprint = fp;
      return {
        alert: {
          status,
          labels: { alertname: 'RedisHygieneCheck', hygiene_check: f.check, hygiene_key: f.key.slice(0, 200), severity: f.severity, target, ...(f.node ? { instance: f.node } : {}) },
          annotations: { summary: f.summary.slice(0, 4000) },
          startsAt: f.firstSeen,
          ...(status === 'resolved' && f.clearedAt ? { endsAt: f.clearedAt } : {}),
          fingerprint: fp,
        },
        runbook: oi.runbook,
        target,
        ...(f.node ? { node: f.node } : {}),
      };
    };
    for (const f of [...m.opened, ...m.persisting]) if (severityRank(f.severity) >= severityRank(oi.severity)) out.push(alert(f, 'firing'));
    for (const f of m.cleared) if (f.alertFingerprint) out.push(alert(f, 'resolved'));
    if (out.length > 0) await this.d.ingest(out);
    return out.length;
  }

  private async stored(target: string, check: string): Promise<HygieneFinding[]> {
    const all = await this.d.redis.hgetall(this.d.keys.hygiene(target));
    return Object.entries(all)
      .filter(([field]) => field.startsWith(`${check}|`))
      .map(([, v]) => parse(v))
      .filter((f): f is HygieneFinding => f !== undefined);
  }

  async report(opts: { target?: string } = {}): Promise<HygieneReport> {
    const names = opts.target !== undefined ? [opts.target] : this.d.targets.names();
    const targets: HygieneReport['targets'] = [];
    for (const t of names) {
      const all = Object.values(await this.d.redis.hgetall(this.d.keys.hygiene(t))).map(parse).filter((f): f is HygieneFinding => f !== undefined);
      const runs = Object.values(await this.d.redis.hgetall(this.d.keys.hygieneRuns(t)))
        .map((v) => JSON.parse(v) as HygieneRun)
        .sort((a, b) => a.check.localeCompare(b.check));
      targets.push({ target: t, open: sortFindings(all.filter((f) => f.status === 'open')), cleared: sortFindings(all.filter((f) => f.status === 'cleared')), runs });
    }
    return { generatedAt: new Date(this.d.now()).toISOString(), targets };
  }
}

/** Run a read action on one node with its input validated and its timeout enforced. */
async function runAction<I, O>(action: ActionDefinition<I, O>, node: NodeRef, input: unknown, c: { target: TargetHandle; log: Logger; signal: AbortSignal; now: () => number }): Promise<O> {
  if (action.risk !== 'read') throw new RunbooksError('input_invalid', `hygiene checks only run read actions (${action.name} is ${action.risk})`, { retryable: false });
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  c.signal.addEventListener('abort', onAbort);
  const timer = setTimeout(() => ac.abort(), action.timeoutMs);
  try {
    return await Promise.race([
      action.run(action.input.parse(input), { target: c.target, node, findings: {}, params: {}, dryRun: true, log: c.log, signal: ac.signal, now: c.now }),
      new Promise<never>((_, rej) => ac.signal.addEventListener('abort', () => rej(new RunbooksError('action_timeout', `${action.name} timed out after ${action.timeoutMs} ms on ${nodeKey(node)}`, { retryable: true })))),
    ]);
  } finally {
    clearTimeout(timer);
    c.signal.removeEventListener('abort', onAbort);
  }
}
