/**
 * The engine's door API (`EnginePort`): ingest alerts, open runs, read incidents and timelines,
 * take approvals and rejections. The worker side — opening incidents, applying events, dispatching
 * and running effects — is in `runner.ts`; recovery at start in `recovery.ts`.
 */
import type { Role } from '../config-types.js';
import { StoreUnavailableError } from '../errors.js';
import type { EffectEnv } from './effects/context.js';
import { entry } from './effects/context.js';
import { toSummary } from './incident-view.js';
import { RefusalLimiter } from './refusal-limit.js';
import { durationMs } from './runbook/duration.js';
import { mayApprove } from './roles.js';
import type { Effect, MachineContext, MachineEvent } from './machine/types.js';
import { ALERT_JOB_OPTS, NOTIFY_JOB_OPTS, alertJobId } from './queue.js';
import type { IncidentRecord } from './store/incidents.js';
import type { DecisionOptions, DecisionResult, EnginePort, IncidentDetail, IncidentSummary, RoutedAlert, TargetStatus, TimelineEntry } from './types.js';
import { readTargetStatus } from './target-status.js';
import type { EngineDeps } from './engine-deps.js';
import { recover } from './recovery.js';
import { Runner } from './runner.js';

export type { EngineDeps } from './engine-deps.js';

/** Crash tests only: hang an incident labelled for this fault point (the test then SIGKILLs the process). */
function hangAt(d: EngineDeps): NonNullable<EffectEnv['hangAt']> {
  return async (rec, point) => {
    if (rec.labels['rr_fault'] !== point) return;
    await d.redis.set(d.keys.faultHung(rec.id), point, 'PX', 3600_000);
    d.log.warn({ incident: rec.id, point }, 'fault injection: hanging here until this process is killed');
    await new Promise<never>(() => undefined);
  };
}

export class Engine implements EnginePort {
  private readonly env: EffectEnv;
  private readonly runner: Runner;
  /** Issue 12 #5: refused attempts recorded per incident are bounded (Slack and CLI here; HTTP counts at its door). */
  private readonly refusals: RefusalLimiter;

  constructor(private readonly d: EngineDeps) {
    const fault = d.config.engine.faultInjection;
    this.env = {
      actions: d.actions,
      redis: d.redis,
      store: d.store,
      keys: d.keys,
      metrics: d.metrics,
      log: d.log,
      now: d.now,
      lockTtlMs: d.config.engine.lockTtlMs,
      breaker: d.config.engine.circuitBreaker,
      ...(fault?.killAfterCommands !== undefined ? { killAfterCommands: fault.killAfterCommands } : {}),
      ...(fault?.hang ? { hangAt: hangAt(d) } : {}),
      ...(d.replay ? { replay: d.replay } : {}),
    };
    this.runner = new Runner(d, this.env);
    this.refusals = new RefusalLimiter(d.redis, d.keys);
    if (d.notifier) {
      d.store.onChange = (id) => {
        this.d.queue.add('notify', { type: 'notify', incidentId: id }, NOTIFY_JOB_OPTS).catch((e: unknown) => this.d.log.warn({ incident: id, err: (e as Error).message }, 'could not enqueue notification'));
      };
    }
  }

  /** A notify job: let the notifier (e.g. Slack) catch up with the incident. */
  async notify(id: string): Promise<void> {
    await this.d.notifier?.sync(id);
  }

  // ---------------------------------------------------------------- doors

  async ready(): Promise<boolean> {
    try {
      return (await this.d.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  /** Enqueue routed alerts, dropping exact redeliveries (same fingerprint, startsAt and status). */
  async ingest(alerts: RoutedAlert[]): Promise<{ enqueued: number; duplicates: number }> {
    if (alerts.length === 0) return { enqueued: 0, duplicates: 0 };
    const now = this.d.now();
    try {
      // One SET NX per alert (not a pipeline: on a Cluster store the keys live in different slots).
      const keys = alerts.map((r) => this.d.keys.dedup(r.alert.fingerprint, r.alert.startsAt, r.alert.status));
      const res = await Promise.all(keys.map((k) => this.d.redis.set(k, '1', 'EX', 24 * 3600, 'NX')));
      const fresh: RoutedAlert[] = [];
      const claimed: string[] = [];
      res.forEach((ok, i) => {
        const r = alerts[i];
        const k = keys[i];
        if (r && k && ok === 'OK') {
          fresh.push(r);
          claimed.push(k);
        }
      });
      try {
        await this.d.queue.addBulk(fresh.map((r) => ({ name: 'alert', data: { type: 'alert' as const, routed: r, receivedAt: now }, opts: { jobId: alertJobId(r), ...ALERT_JOB_OPTS } })));
      } catch (e) {
        await Promise.all(claimed.map((k) => this.d.redis.del(k).catch(() => 0)));
        throw e;
      }
      return { enqueued: fresh.length, duplicates: alerts.length - fresh.length };
    } catch (e) {
      throw new StoreUnavailableError(`the engine's store is unavailable: ${(e as Error).message}`, e);
    }
  }

  async run(runbook: string, target: string, opts: { dryRun: boolean; by: string; via?: 'cli' | 'http' | 'slack' }): Promise<{ incidentId: string }> {
    const id = await this.open({ runbook, target, labels: { alertname: `manual:${runbook}` }, annotations: { summary: `${runbook} on ${target}, run by ${opts.by}${opts.dryRun ? ' (dry run)' : ''}` }, fingerprints: [], dryRun: opts.dryRun || this.d.config.engine.dryRun, by: opts.by, ...(opts.via ? { via: opts.via } : {}) });
    return { incidentId: id };
  }

  async listIncidents(opts: { open?: boolean; limit?: number } = {}): Promise<IncidentSummary[]> {
    const recs = await this.d.store.list(opts);
    return recs.map((r) => this.summary(r));
  }

  async getIncident(id: string): Promise<IncidentDetail | undefined> {
    const r = await this.d.store.get(id);
    if (!r) return undefined;
    const ctx = (r.snapshot as { context?: MachineContext }).context;
    return { ...this.summary(r), findings: ctx?.findings ?? {}, labels: r.labels, version: r.version };
  }

  async getTimeline(id: string): Promise<TimelineEntry[] | undefined> {
    if (!(await this.d.store.get(id))) return undefined;
    return this.d.store.timeline(id);
  }

  approve(id: string, by: string, via: 'cli' | 'http' | 'slack', opts: DecisionOptions = {}): Promise<DecisionResult> {
    return this.decide(id, by, via, true, undefined, opts);
  }

  reject(id: string, by: string, via: 'cli' | 'http' | 'slack', reason?: string, opts: DecisionOptions = {}): Promise<DecisionResult> {
    return this.decide(id, by, via, false, reason, opts);
  }

  /** Roles of an identity (plus those of `also`, e.g. its Slack user groups), from config `approvers`. */
  rolesOf(by: string, also: string[] = []): Role[] {
    const ids = new Set([by, ...also]);
    return [...new Set(this.d.config.approvers.filter((a) => ids.has(a.id)).flatMap((a) => a.roles))];
  }

  names(): { targets: string[]; runbooks: string[] } {
    return { targets: this.d.targets.names(), runbooks: this.d.catalog.names() };
  }

  async targetStatus(name: string): Promise<TargetStatus | undefined> {
    const target = this.d.targets.get(name);
    if (!target) return undefined;
    return readTargetStatus(target, await this.listIncidents({ open: true, limit: 200 }));
  }

  private async decide(id: string, by: string, via: 'cli' | 'http' | 'slack', grant: boolean, reason: string | undefined, opts: DecisionOptions): Promise<DecisionResult> {
    const rec = await this.d.store.get(id);
    if (!rec) return { ok: false, code: 'not_found', message: `no incident ${id}` };
    const pending = this.summary(rec).pendingApproval;
    if (rec.state !== 'awaiting_approval' || !pending) {
      return { ok: false, code: 'not_awaiting_approval', message: `incident ${id} is ${rec.state}; nothing awaits approval` };
    }
    if (opts.key !== undefined && opts.key !== pending.key) {
      return { ok: false, code: 'stale', message: `that approval request (${opts.key}) is no longer pending; incident ${id} now waits on ${pending.key}` };
    }
    const roles = this.rolesOf(by, opts.also);
    // Alternatives: the approver chooses one; its own role and approver count apply.
    let chosen: { remediation: string; title: string; role: Role; approversRequired: number } = pending;
    if (pending.options && pending.options.length > 0) {
      if (grant && opts.option === undefined) {
        // Someone who may approve none of the options is refused (and it is recorded), not asked to choose.
        if (!pending.options.some((o) => mayApprove(roles, o.role))) {
          if (via === 'http' || (await this.refusals.admit(id))) await this.d.store.append(id, { ...entry(this.env, 'approval.refused', `${by} (${via}) may not approve any of the ${pending.options.length} options: needs ${[...new Set(pending.options.map((o) => o.role))].join(' or ')}, has ${roles.join(', ') || 'no role'}`), actor: { kind: 'user' as const, id: by, via } });
          return { ok: false, code: 'forbidden', message: `${by} lacks role ${pending.options.map((o) => o.role).sort()[0]}` };
        }
        return { ok: false, code: 'option_required', message: `incident ${id} offers ${pending.options.length} options: choose one (${pending.options.map((o) => `${o.option}: ${o.title}`).join('; ')})` };
      }
      if (opts.option !== undefined) {
        const o = pending.options.find((x) => x.option === opts.option);
        if (!o) return { ok: false, code: 'option_invalid', message: `incident ${id} has no option ${opts.option} (1–${pending.options.length})` };
        chosen = o;
      } else {
        // A rejection rejects every option: it needs the highest role any of them needs.
        chosen = pending.options.reduce((a, b) => (mayApprove([a.role], b.role) ? a : b));
      }
    } else if (opts.option !== undefined && opts.option !== 1) {
      return { ok: false, code: 'option_invalid', message: `incident ${id} offers one proposal; there is no option ${opts.option}` };
    }
    const actor = { kind: 'user' as const, id: by, via };
    if (!mayApprove(roles, chosen.role)) {
      // The HTTP door already counted this attempt (and answers 429 past the budget).
      if (via === 'http' || (await this.refusals.admit(id))) await this.d.store.append(id, { ...entry(this.env, 'approval.refused', `${by} (${via}) may not ${grant ? 'approve' : 'reject'} ${chosen.title}: needs ${chosen.role}, has ${roles.join(', ') || 'no role'}`), actor });
      return { ok: false, code: 'forbidden', message: `${by} lacks role ${chosen.role}` };
    }
    const optionId = pending.options && opts.option !== undefined ? chosen.remediation : undefined;
    const dup = (approvals: { by: string; option?: string }[]): boolean => approvals.some((a) => a.by === by && a.option === optionId);
    if (grant && dup(pending.approvals)) {
      return { ok: false, code: 'duplicate_approver', message: `${by} already approved; ${chosen.approversRequired} distinct approvers are required` };
    }
    const at = this.d.now();
    const decision: TimelineEntry = {
      ...entry(this.env, grant ? 'approval.granted' : 'approval.rejected', `${chosen.title}${optionId ? ` (option ${opts.option})` : ''} ${grant ? 'approved' : 'rejected'} by ${by} (${via})${reason ? `: ${reason}` : ''}`, { proposal: pending.key, by, via, roles, ...(optionId ? { option: opts.option, remediation: optionId } : {}) }),
      actor,
    };
    const event: MachineEvent = grant
      ? { type: 'approval.granted', at, key: pending.key, by, ...(optionId ? { option: optionId } : {}) }
      : { type: 'approval.rejected', at, key: pending.key, by, ...(reason !== undefined ? { reason } : {}) };
    // The decision is written in the same compare-and-set as the transition it causes: two
    // simultaneous clicks by one person cannot both be recorded (issue 12 #4).
    const after = await this.applyEvent(id, event, [decision]);
    if (!after?.applied) {
      if (grant) return { ok: false, code: 'duplicate_approver', message: `${by} already approved (or the request moved on); nothing changed` };
      return { ok: false, code: 'not_awaiting_approval', message: `incident ${id} no longer awaits this decision; nothing changed` };
    }
    if (grant && after.state !== 'awaiting_approval') {
      // The approval that let the remediation run: time since the request (its expiry minus its timeout).
      const rb = this.d.catalog.cached(rec.hash) ?? this.d.catalog.get(rec.runbook);
      const t = rb?.def.remediations[chosen.remediation]?.approval?.timeout;
      const timeoutMs = t !== undefined ? durationMs(t) : this.d.config.engine.approvalTimeoutMs;
      const requestedAt = Date.parse(pending.expiresAt) - timeoutMs;
      if (Number.isFinite(requestedAt) && at >= requestedAt) this.d.metrics.timeToApproval.observe((at - requestedAt) / 1000);
    }
    return { ok: true, state: after.state, message: grant ? 'approval recorded' : 'rejection recorded' };
  }

  private summary(r: IncidentRecord): IncidentSummary {
    return toSummary(r, this.d.catalog, this.d.config.engine.approvalTimeoutMs);
  }

  // ---------------------------------------------------------------- worker side (runner.ts)

  /** An alert job: join the open incident for its fingerprint (or runbook+target), or open one. */
  handleAlert(r: RoutedAlert): Promise<string | undefined> {
    return this.runner.handleAlert(r);
  }

  /** Open an incident and start its machine. */
  open(o: Parameters<Runner['open']>[0]): Promise<string> {
    return this.runner.open(o);
  }

  /** Apply one event (compare-and-set on the snapshot), then dispatch the resulting effects. */
  applyEvent(id: string, event: MachineEvent, extra: TimelineEntry[] = []): ReturnType<Runner['applyEvent']> {
    return this.runner.applyEvent(id, event, extra);
  }

  /** An effect job: run it and feed the result back to the machine. */
  runEffect(id: string, effect: Effect, attempt: number, resumed = false): Promise<void> {
    return this.runner.runEffect(id, effect, attempt, resumed);
  }

  /** An event job (timers): stamp it with the current time and apply it. */
  handleEvent(id: string, event: MachineEvent): Promise<void> {
    return this.runner.handleEvent(id, event);
  }

  /** After a restart: re-dispatch the awaited effect of every open incident (recovery.ts). */
  recover(): Promise<number> {
    return recover(this.d, this.env, this.runner);
  }
}
