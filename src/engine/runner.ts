/**
 * The worker side of the engine: opens incidents and joins alerts to them, applies events to their
 * machines (a compare-and-set on the stored snapshot, the machine's notes in the same write), then
 * dispatches the effects the machines ask for (an outbox: BullMQ jobs with deterministic ids) and
 * runs them. Any number of processes may run it against one store.
 */
import { randomBytes } from 'node:crypto';
import { InputError, StoreUnavailableError } from '../errors.js';
import { act } from './effects/act.js';
import type { EffectEnv } from './effects/context.js';
import { entry } from './effects/context.js';
import { diagnose } from './effects/diagnose.js';
import type { EffectOutcome } from './effects/diagnose.js';
import { plan } from './effects/plan.js';
import { approvalRequestedEntry, scheduleApprovalExpiry } from './effects/request-approval.js';
import { toSummary } from './incident-view.js';
import { verify, waitPhase } from './effects/verify.js';
import { stepMachine } from './machine/run.js';
import type { Effect, MachineContext, MachineEvent } from './machine/types.js';
import { EFFECT_JOB_OPTS, alertJobId, effectJobId } from './queue.js';
import type { IncidentRecord } from './store/incidents.js';
import { FINAL_STATES } from './types.js';
import type { RoutedAlert, TimelineEntry } from './types.js';
import type { EngineDeps } from './engine-deps.js';

/** How long an act job waits before trying the target's lock again. */
const LOCK_RETRY_MS = 2000;
/** Issue 12 #1: how long a claim on runbook+target lives before its incident record is written. */
const OPENING_TTL_MS = 30_000;
/** The claim of an open incident (dropped when it closes). */
const OPEN_CLAIM_TTL_MS = 7 * 24 * 3600_000;

function newIncidentId(now: number): string {
  const d = new Date(now).toISOString().slice(0, 10).replace(/-/g, '');
  return `inc-${d}-${randomBytes(6).toString('hex')}`;
}

export class Runner {
  constructor(
    private readonly d: EngineDeps,
    private readonly env: EffectEnv,
  ) {}

  /** An alert job: join the open incident for its fingerprint (or runbook+target), or open one. */
  async handleAlert(r: RoutedAlert): Promise<string | undefined> {
    const { alert } = r;
    const k = this.d.keys;
    const fpOwner = await this.d.store.lookup(k.fingerprint(alert.fingerprint));
    if (alert.status === 'resolved') {
      if (!fpOwner) {
        this.d.log.info({ alertname: alert.labels['alertname'], fingerprint: alert.fingerprint }, 'resolved alert has no open incident');
        return undefined;
      }
      await this.d.store.append(fpOwner, { ...entry(this.env, 'alert.resolved', `${alert.labels['alertname'] ?? 'alert'} resolved`, { fingerprint: alert.fingerprint, endsAt: alert.endsAt }), actor: { kind: 'alertmanager' } });
      await this.applyEvent(fpOwner, { type: 'alert.resolved', at: this.d.now(), fingerprint: alert.fingerprint });
      return fpOwner;
    }
    const existing = fpOwner ?? (await this.d.store.lookup(k.openFor(r.runbook, r.target)));
    if (existing && (await this.join(existing, alert.fingerprint, alert.labels))) {
      await this.rememberDedup(existing, r);
      return existing;
    }
    const previous = await this.d.store.lookup(k.closedFor(alert.fingerprint));
    const id = await this.open({
      runbook: r.runbook,
      target: r.target,
      ...(r.node !== undefined ? { node: r.node } : {}),
      labels: alert.labels,
      annotations: alert.annotations,
      fingerprints: [alert.fingerprint],
      dryRun: this.d.config.engine.dryRun,
      by: 'alertmanager',
    });
    await this.rememberDedup(id, r);
    if (previous && previous !== id) await this.linkReopened(previous, id, r);
    return id;
  }

  /** The webhook dedup key of a firing alert this incident took in: released when it resolves. */
  private async rememberDedup(id: string, r: RoutedAlert): Promise<void> {
    const set = this.d.keys.incidentDedup(id);
    await this.d.redis.sadd(set, JSON.stringify({ fp: r.alert.fingerprint, startsAt: r.alert.startsAt }));
    await this.d.redis.pexpire(set, 7 * 24 * 3600_000);
  }

  /**
   * An alert still firing (or firing again) after its incident resolved opens a new incident,
   * linked both ways: it is never swallowed by deduplication.
   */
  private async linkReopened(previous: string, id: string, r: RoutedAlert): Promise<void> {
    const prev = await this.d.store.get(previous);
    const name = r.alert.labels['alertname'] ?? 'alert';
    const when = prev ? ` (closed ${prev.state} at ${prev.updatedAt}: ${prev.outcome ?? prev.state})` : '';
    await this.d.store.append(id, { ...entry(this.env, 'incident.reopened', `${name} is still firing after incident ${previous} closed${when}: the earlier fix did not clear it, or it came back`, { reopens: previous, fingerprint: r.alert.fingerprint }), actor: { kind: 'alertmanager' } });
    if (prev) await this.d.store.append(previous, { ...entry(this.env, 'incident.reopened', `${name} still firing after this incident closed: reopened as incident ${id}`, { reopenedAs: id, fingerprint: r.alert.fingerprint }), actor: { kind: 'alertmanager' } });
  }

  private async join(id: string, fingerprint: string, labels: Record<string, string>): Promise<boolean> {
    for (let i = 0; i < 20; i++) {
      const rec = await this.d.store.get(id);
      if (!rec || FINAL_STATES.includes(rec.state)) return false;
      if (rec.fingerprints.includes(fingerprint)) {
        await this.d.store.append(id, { ...entry(this.env, 'alert.firing', `${labels['alertname'] ?? 'alert'} still firing (repeat notification)`, { fingerprint }), actor: { kind: 'alertmanager' } });
        return true;
      }
      const ok = await this.d.store.cas(id, rec.version, { fingerprints: [...rec.fingerprints, fingerprint], snapshot: rec.snapshot }, [
        { ...entry(this.env, 'incident.joined', `${labels['alertname'] ?? 'alert'} joined this incident`, { fingerprint, labels }), actor: { kind: 'alertmanager' } },
      ]);
      if (ok) {
        await this.d.store.claim(this.d.keys.fingerprint(fingerprint), id);
        return true;
      }
    }
    return false;
  }

  /**
   * Issue 12 #1: the open incident of `runbook`+`target` another opener holds, once its record is
   * written; `undefined` once the claim is ours. The claim is never given up while the holder's
   * record is missing: a fresh claim only lives {@link OPENING_TTL_MS} until its record is written
   * (then it is extended), so a holder that died while opening frees it by itself.
   */
  private async holderOf(openKey: string, id: string): Promise<string | undefined> {
    const deadline = this.d.now() + OPENING_TTL_MS + 5000;
    for (;;) {
      const cur = await this.d.store.lookup(openKey);
      if (cur === undefined) {
        if ((await this.d.store.claim(openKey, id, OPENING_TTL_MS)) === id) return undefined;
        continue;
      }
      if (cur === id) return undefined;
      const rec = await this.d.store.get(cur);
      if (rec && !FINAL_STATES.includes(rec.state)) return cur;
      if (rec || this.d.now() > deadline) await this.d.store.delIfEquals(openKey, cur);
      else await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Open an incident and start its machine. */
  async open(o: { runbook: string; target: string; node?: string; labels: Record<string, string>; annotations: Record<string, string>; fingerprints: string[]; dryRun: boolean; by: string; via?: 'cli' | 'http' | 'slack' }): Promise<string> {
    const rb = this.d.catalog.get(o.runbook);
    if (!rb) throw new InputError(`unknown runbook '${o.runbook}' (known: ${this.d.catalog.names().join(', ')})`, 404);
    const tcfg = this.d.targets.config(o.target);
    if (!tcfg) throw new InputError(`unknown target '${o.target}' (known: ${this.d.targets.names().join(', ') || 'none configured'})`, 404);
    const now = this.d.now();
    const id = newIncidentId(now);
    const openKey = this.d.keys.openFor(o.runbook, o.target);
    const owner = await this.d.store.claim(openKey, id, OPENING_TTL_MS);
    if (owner !== id && o.by === 'alertmanager') {
      // Issue 12 #1: an alert never opens a second incident for this runbook and target; it waits
      // for the holder's record and joins it with its fingerprints.
      for (let tries = 0; tries < 5; tries++) {
        const holder = await this.holderOf(openKey, id);
        if (holder === undefined) break;
        let joined = true;
        for (const fp of o.fingerprints) joined = joined && (await this.join(holder, fp, o.labels));
        if (joined) return holder;
      }
    }
    await this.d.store.saveRunbookDef(rb.hash, rb.def);
    const input: MachineContext = {
      incidentId: id,
      target: { name: tcfg.name, role: tcfg.role, allowAutomatic: tcfg.allowAutomatic },
      labels: o.labels,
      dryRun: o.dryRun,
      params: rb.def.params,
      findings: {},
      tried: [],
      seq: 0,
      awaiting: 0,
    };
    const step = stepMachine(rb.machine, { input });
    const iso = new Date(now).toISOString();
    const title = o.annotations['summary'] ?? `${rb.def.title} on ${o.target}`;
    const rec: IncidentRecord = {
      id,
      runbook: rb.def.name,
      hash: rb.hash,
      target: o.target,
      ...(o.node !== undefined ? { node: o.node } : {}),
      title,
      severity: o.labels['severity'] ?? rb.def.severity,
      labels: o.labels,
      annotations: o.annotations,
      fingerprints: o.fingerprints,
      dryRun: o.dryRun,
      createdAt: iso,
      updatedAt: iso,
      state: step.state,
      version: 1,
      snapshot: step.snapshot,
    };
    const actor: TimelineEntry['actor'] =
      o.by === 'alertmanager' ? { kind: 'alertmanager' } : o.by === 'engine' || o.by.startsWith('schedule:') ? { kind: 'engine' } : { kind: 'user', id: o.by, via: o.via ?? 'cli' };
    const notes: TimelineEntry[] = [
      { ...entry(this.env, o.by === 'alertmanager' ? 'alert.firing' : 'note', o.by === 'alertmanager' ? `${o.labels['alertname'] ?? 'alert'} firing on ${o.labels['instance'] ?? o.target}` : `run requested by ${o.by}`, { labels: o.labels, annotations: o.annotations }), actor },
      entry(this.env, 'incident.opened', `incident opened: runbook ${rb.def.name} on target ${o.target}${o.dryRun ? ' (dry run)' : ''}`, { runbook: rb.def.name, version: rb.hash, target: o.target, node: o.node, dryRun: o.dryRun }),
      ...step.notes.map((n) => entry(this.env, n.kind, n.summary, n.data)),
    ];
    const { version: _v, ...fields } = rec;
    if (!(await this.d.store.cas(id, 0, fields, notes))) throw new Error(`incident id collision ${id}`);
    await this.d.store.index(id, now);
    // The record is written: our claim on runbook+target now lives as long as the incident.
    await this.d.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`, 1, openKey, id, String(OPEN_CLAIM_TTL_MS));
    for (const fp of o.fingerprints) await this.d.store.claim(this.d.keys.fingerprint(fp), id);
    this.d.metrics.incidentsOpened.inc({ runbook: rb.def.name });
    this.d.log.info({ incident: id, runbook: rb.def.name, target: o.target, dryRun: o.dryRun }, 'incident opened');
    await this.dispatch(rec, step.effects);
    return id;
  }

  /** Apply one event (compare-and-set on the snapshot), then dispatch the resulting effects. */
  async applyEvent(id: string, event: MachineEvent, extra: TimelineEntry[] = []): Promise<{ state: IncidentRecord['state']; applied: boolean } | undefined> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const rec = await this.d.store.get(id);
      if (!rec) return undefined;
      if (FINAL_STATES.includes(rec.state)) return { state: rec.state, applied: false };
      const rb = await this.d.catalog.byHash(rec.hash, this.d.store);
      if (!rb) {
        this.d.log.error({ incident: id, hash: rec.hash }, 'runbook version of this incident is unknown');
        return { state: rec.state, applied: false };
      }
      const step = stepMachine(rb.machine, { snapshot: rec.snapshot }, event);
      if (step.error) this.d.log.error({ incident: id, err: step.error }, 'machine error');
      if (!step.changed) return { state: rec.state, applied: false };
      const notes = [...extra, ...step.notes.map((n) => entry(this.env, n.kind, n.summary, n.data))];
      const request = step.effects.find((e): e is Extract<Effect, { kind: 'request-approval' }> => e.kind === 'request-approval');
      if (request) {
        // Written with the state change, so the request is on the timeline even if an approval
        // arrives before the request-approval job runs.
        const pending = toSummary({ ...rec, state: step.state, snapshot: step.snapshot }, this.d.catalog, this.d.config.engine.approvalTimeoutMs).pendingApproval;
        notes.push(approvalRequestedEntry(this.env, request, pending, this.d.config.approvers));
      }
      if (FINAL_STATES.includes(step.state)) {
        // Written with the final state, so a reader that sees the state also sees why.
        const outcome = step.context.outcome ?? step.state;
        notes.push(entry(this.env, `incident.${step.state}` as TimelineEntry['kind'], `incident ${step.state}: ${outcome}`, { outcome }));
      }
      const ok = await this.d.store.cas(id, rec.version, { snapshot: step.snapshot, state: step.state, updatedAt: new Date(this.d.now()).toISOString(), ...(step.context.outcome !== undefined ? { outcome: step.context.outcome } : {}) }, notes);
      if (!ok) continue;
      if (step.state === 'awaiting_approval' || rec.state === 'awaiting_approval') await this.refreshPending(id, step.state === 'awaiting_approval');
      await this.dispatch(rec, step.effects);
      return { state: step.state, applied: true };
    }
    throw new StoreUnavailableError(`could not apply ${event.type} to ${id}: too much contention`);
  }

  private async refreshPending(id: string, awaiting: boolean): Promise<void> {
    const key = `${this.d.config.engine.keyPrefix}:awaiting`;
    if (awaiting) await this.d.redis.sadd(key, id);
    else await this.d.redis.srem(key, id);
    this.d.metrics.pendingApprovals.set(await this.d.redis.scard(key));
  }

  /** Carry out what a transition asked for; `rec` is the incident as it was read for it. */
  private async dispatch(rec: IncidentRecord, effects: Effect[]): Promise<void> {
    const id = rec.id;
    for (const e of effects) {
      switch (e.kind) {
        case 'release-lock':
          if (await this.d.locks.release(rec.target, id)) await this.d.store.append(id, entry(this.env, 'lock.released', `lock on target ${rec.target} released`));
          break;
        case 'closed':
          await this.closed(rec, e.state, e.outcome);
          break;
        case 'handover': {
          const next = await this.open({ runbook: e.runbook, target: rec.target, ...(rec.node !== undefined ? { node: rec.node } : {}), labels: rec.labels, annotations: rec.annotations, fingerprints: [], dryRun: rec.dryRun, by: 'engine' });
          await this.d.store.append(id, entry(this.env, 'incident.handover', `handed over to runbook ${e.runbook}: incident ${next}`, { incident: next, runbook: e.runbook }));
          break;
        }
        default:
          await this.d.queue.add(e.kind, { type: 'effect', incidentId: id, effect: e }, { jobId: effectJobId(id, e), ...EFFECT_JOB_OPTS, ...((e.kind === 'verify' || e.kind === 'wait') && e.delayMs > 0 ? { delay: e.delayMs } : {}) });
      }
    }
  }

  /** Bookkeeping of a final state (the timeline entry was written with the state; the lock by `release-lock`). */
  async closed(rec: IncidentRecord, state: string, outcome: string): Promise<void> {
    await this.d.store.unindexOpen(rec);
    if (state === 'resolved') {
      // Alertmanager repeats a still-firing alert with the same startsAt: let that repeat in again,
      // so an alert the fix did not clear opens a new incident linked to this one.
      const set = this.d.keys.incidentDedup(rec.id);
      for (const m of await this.d.redis.smembers(set)) {
        const { fp, startsAt } = JSON.parse(m) as { fp: string; startsAt: string };
        await this.d.redis.del(this.d.keys.dedup(fp, startsAt, 'firing'));
        // The alert job's id is a second redelivery guard: drop the finished one too.
        const job = await this.d.queue.getJob(alertJobId({ alert: { fingerprint: fp, startsAt, status: 'firing' } }));
        if (job && (await job.isCompleted())) await job.remove().catch(() => undefined);
      }
      await this.d.redis.del(set);
      for (const fp of rec.fingerprints) await this.d.redis.set(this.d.keys.closedFor(fp), rec.id, 'PX', 24 * 3600_000);
    }
    await this.d.redis.srem(`${this.d.config.engine.keyPrefix}:awaiting`, rec.id);
    this.d.metrics.incidentsClosed.inc({ runbook: rec.runbook, outcome: state });
    this.d.log.info({ incident: rec.id, state, outcome }, 'incident closed');
  }

  /** An effect job: run it and feed the result back to the machine. */
  async runEffect(id: string, effect: Effect, attempt: number, resumed = false): Promise<void> {
    const rec = await this.d.store.get(id);
    if (!rec || FINAL_STATES.includes(rec.state)) return;
    const ctx = (rec.snapshot as { context: MachineContext }).context;
    if (ctx.awaiting !== effect.seq) return; // the machine has moved on: a stale job
    if (resumed) {
      // The job's lock expired while a worker ran it: that worker stopped (kill -9, a lost host).
      await this.d.store.append(id, entry(this.env, 'note', `interrupted: the worker running the ${effect.kind} step stopped before recording its result; another worker runs it again (commands already done are not sent again)`, { effect: effect.kind, seq: effect.seq, interrupted: true }));
    }
    const rb = await this.d.catalog.byHash(rec.hash, this.d.store);
    const target = this.d.targets.get(rec.target);
    if (!rb || !target) {
      await this.applyEvent(id, { type: 'effect.failed', seq: effect.seq, at: this.d.now(), error: { code: 'config_changed', message: `runbook version or target ${rec.target} no longer configured` } });
      return;
    }
    let out: EffectOutcome;
    switch (effect.kind) {
      case 'diagnose':
        out = await diagnose(this.env, rec, target, rb.def, ctx);
        break;
      case 'plan':
        out = await plan(this.env, rec, target, rb.def, ctx, effect.remediation, effect.options);
        break;
      case 'request-approval':
        await this.requestApproval(rec, effect);
        if (this.env.hangAt) await this.env.hangAt(rec, 'effect-done');
        return;
      case 'act':
        out = await act(this.env, this.d.locks, rec, target, rb.def, ctx, effect.remediation, effect.key, attempt);
        break;
      case 'verify':
        out = await verify(this.env, this.d.locks, rec, target, rb.def, ctx, effect.remediation);
        break;
      case 'wait':
        out = await waitPhase(this.env, this.d.locks, rec, target, rb.def, ctx, effect.remediation, effect.wait, effect.poll);
        break;
      default:
        return;
    }
    if (this.env.hangAt) await this.env.hangAt(rec, 'effect-done');
    if ('deferred' in out) {
      await this.d.queue.add(effect.kind, { type: 'effect', incidentId: id, effect, attempt: attempt + 1 }, { jobId: effectJobId(id, effect, attempt + 1), ...EFFECT_JOB_OPTS, delay: LOCK_RETRY_MS });
      return;
    }
    const at = this.d.now();
    await this.applyEvent(id, 'result' in out ? { type: 'effect.done', seq: effect.seq, at, result: out.result } : { type: 'effect.failed', seq: effect.seq, at, error: out.failed });
  }

  private async requestApproval(rec: IncidentRecord, e: Extract<Effect, { kind: 'request-approval' }>): Promise<void> {
    await scheduleApprovalExpiry(this.d.queue, rec, e);
  }

  /** An event job (timers): stamp it with the current time and apply it. */
  async handleEvent(id: string, event: MachineEvent): Promise<void> {
    await this.applyEvent(id, { ...event, at: this.d.now() } as MachineEvent);
  }
}
