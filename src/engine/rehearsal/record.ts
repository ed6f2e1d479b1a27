/**
 * Turn a real incident into a rehearsal case: its diagnose findings and its plans as recorded on
 * the timeline, the alert's labels, the target's role; the expectations are what the rehearsal of
 * those findings produces (state, proposal, the machine's notes, the outcome, the plan), checked
 * against what the real incident did — a disagreement means the rehearsal does not replay the
 * engine faithfully, and is reported instead of being written down.
 */
import { formatPlanned } from '../../actions/command-format.js';
import type { PlannedCommand } from '../../actions/types.js';
import type { CompiledRunbook } from '../runbook/load.js';
import { isWait } from '../runbook/schema.js';
import type { IncidentDetail, TimelineEntry } from '../types.js';
import { rehearseCase } from './rehearse.js';
import type { RehearsalDeps } from './rehearse.js';
import type { RehearsalCase, ThenStep } from './schema.js';

/** Plans longer than this are expected by size, not line by line. */
const MAX_LISTED = 12;

export interface RecordedCase {
  case: RehearsalCase;
  /** Where the rehearsal disagrees with the real incident (empty: faithful). */
  disagreements: string[];
}

/** Ids of the steps a verification poll runs: every remediation's verify steps and the symptom's. */
function verifyIdsOf(rb: CompiledRunbook): Set<string> {
  const ids = new Set<string>((rb.def.symptom?.steps ?? []).map((s) => s.id));
  for (const r of Object.values(rb.def.remediations)) for (const s of r.verify.steps) ids.add(s.id);
  return ids;
}

/** Ids of the steps of every `wait:` between phases. */
function waitIdsOf(rb: CompiledRunbook): Set<string> {
  const ids = new Set<string>();
  for (const r of Object.values(rb.def.remediations)) for (const st of r.steps) if (isWait(st)) for (const w of st.wait.steps ?? []) ids.add(w.id);
  return ids;
}

/** Where the first approval request is on the timeline (-1: none): what follows it becomes `then:`. */
function firstStopIndex(tl: readonly TimelineEntry[]): number {
  return tl.findIndex((e) => e.kind === 'approval.requested');
}

/** A regex matching exactly this text. */
export function exactly(text: string): string {
  return `^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

/** The first proposal of a timeline: one remediation, or the options planned together. */
function firstProposal(tl: readonly TimelineEntry[]): string[] {
  const props = tl.filter((e) => (e.kind === 'proposal' || e.kind === 'command.dry-run') && typeof e.data?.['remediation'] === 'string');
  const first = props[0];
  if (!first) return [];
  if (first.data?.['option'] === undefined) return [String(first.data?.['remediation'])];
  const out: string[] = [];
  for (const p of props) {
    const n = p.data?.['option'];
    if (typeof n !== 'number' || n !== out.length + 1) break;
    out.push(String(p.data?.['remediation']));
  }
  return out;
}

const ms = (iso: string): number => Date.parse(iso);

/**
 * What happened after the first stop, as `then:` steps: approvals and rejections, the act effect
 * (done once its commands were sent, or skipped), each verification poll (the verify and symptom
 * steps' findings, `afterMs` since the commands were sent), a resolved alert.
 */
export function thenFromTimeline(tl: readonly TimelineEntry[], verifyIds: ReadonlySet<string>, waitIds: ReadonlySet<string> = new Set()): ThenStep[] {
  const out: ThenStep[] = [];
  let sentAt: number | undefined;
  let acted = false;
  let sentSincePoll = false;
  let poll: Record<string, unknown> | undefined;
  let pollKind: 'verify' | 'wait' = 'verify';
  let pollAt = 0;
  const flush = (): void => {
    const afterMs = Math.max(0, pollAt - (sentAt ?? pollAt));
    if (poll) out.push(pollKind === 'verify' ? { verify: poll, afterMs } : { wait: poll, afterMs });
    poll = undefined;
  };
  for (const e of tl) {
    const d = e.data ?? {};
    switch (e.kind) {
      case 'approval.granted':
        flush();
        out.push({ approve: { by: String(d['by'] ?? 'alice'), ...(typeof d['remediation'] === 'string' ? { option: d['remediation'] } : {}) } });
        acted = false;
        break;
      case 'approval.rejected':
        flush();
        out.push({ reject: { by: String(d['by'] ?? 'alice') } });
        break;
      case 'approval.expired':
        flush();
        out.push({ expire: true });
        break;
      case 'alert.resolved':
        flush();
        out.push({ alertResolved: true });
        break;
      case 'precondition.failed':
        flush();
        out.push({ act: { skipped: e.summary, findings: {} } });
        acted = true;
        break;
      case 'command.executed':
        sentAt = ms(e.at);
        sentSincePoll = true;
        break;
      case 'verification.poll':
      case 'error': {
        const step = d['step'];
        if (typeof step !== 'string' || !(verifyIds.has(step) || waitIds.has(step)) || !('value' in d)) break;
        const kind = waitIds.has(step) ? 'wait' : 'verify';
        if (poll && (step in poll || kind !== pollKind)) flush();
        // the act effect answered before this poll: once after an approval, and after each phase's commands
        if (!poll && (!acted || sentSincePoll)) {
          out.push({ act: 'done' });
          acted = true;
          sentSincePoll = false;
        }
        if (!poll) {
          poll = {};
          pollKind = kind;
          pollAt = ms(e.at);
        }
        poll[step] = d['value'];
        break;
      }
      default:
        break;
    }
  }
  flush();
  return out;
}

export function recordCase(
  rb: CompiledRunbook,
  o: {
    name: string;
    source?: string;
    incident: IncidentDetail;
    timeline: readonly TimelineEntry[];
    target: { name: string; role: 'cache' | 'store'; mode: 'standalone' | 'sentinel' | 'cluster'; allowAutomatic: boolean };
    /** Params the incident's runbook version had that differ from this one's (e.g. a shorter quiet period). */
    params?: RehearsalCase['params'];
  },
  deps: RehearsalDeps,
): RecordedCase {
  const stepIds = new Set(rb.def.diagnose.map((s) => s.id));
  const findings: Record<string, unknown> = {};
  for (const e of o.timeline) {
    const step = e.data?.['step'];
    if ((e.kind === 'finding' || e.kind === 'error') && typeof step === 'string' && stepIds.has(step) && !(step in findings) && e.data && 'value' in e.data) {
      findings[step] = e.data['value'];
    }
  }
  const plans: RehearsalCase['plans'] = {};
  const titles = Object.entries(rb.def.remediations).map(([id, r]) => ({ id, title: r.title }));
  for (const e of o.timeline) {
    const rem = e.data?.['remediation'];
    if ((e.kind === 'proposal' || e.kind === 'command.dry-run') && typeof rem === 'string' && !(rem in plans) && Array.isArray(e.data?.['commands'])) {
      plans[rem] = (e.data['commands'] as PlannedCommand[]).map((c) => formatPlanned(c));
    }
    // planning that failed on the live target: one option dropped from an offer, or a single proposal
    if (e.kind === 'error' && typeof rem === 'string' && !(rem in plans)) {
      const m = / cannot be planned: (.*)$/.exec(e.summary);
      if (m?.[1]) plans[rem] = { failed: m[1] };
    }
    if (e.kind === 'error' && rem === undefined) {
      for (const t of titles) {
        const prefix = `${t.title}: planning failed: `;
        if (!(t.id in plans) && e.summary.startsWith(prefix)) plans[t.id] = { failed: e.summary.slice(prefix.length) };
      }
    }
  }
  const labels = Object.fromEntries(Object.entries(o.incident.labels).filter(([k]) => k !== 'incident'));
  const base: RehearsalCase = {
    name: o.name,
    ...(o.source !== undefined ? { source: o.source } : {}),
    target: o.target,
    alert: { labels },
    dryRun: o.incident.dryRun,
    params: o.params ?? {},
    findings,
    raw: {},
    plans,
    then: firstStopIndex(o.timeline) < 0 ? [] : thenFromTimeline(o.timeline.slice(firstStopIndex(o.timeline)), verifyIdsOf(rb), waitIdsOf(rb)),
    expect: { state: 'escalated', notes: [], notNotes: [] },
  };
  const r = rehearseCase(rb, base, deps);
  const disagreements = r.mismatches.filter((m) => !m.startsWith('state:'));
  const realState = o.incident.state;
  if (r.state !== realState) disagreements.push(`state: the incident is ${realState}, the rehearsal stops in ${r.state}`);
  const realProposal = firstProposal(o.timeline);
  if (JSON.stringify(realProposal) !== JSON.stringify(r.proposes)) disagreements.push(`proposal: the incident proposed [${realProposal.join(', ')}], the rehearsal [${r.proposes.join(', ')}]`);
  if ((o.incident.outcome ?? '') !== (r.outcome ?? '') && ['resolved', 'escalated', 'completed', 'cancelled'].includes(realState)) {
    disagreements.push(`outcome: the incident says '${o.incident.outcome ?? ''}', the rehearsal '${r.outcome ?? ''}'`);
  }
  // Short plans are listed line by line; long ones (key batches) by their size.
  const planExpect: Record<string, string[]> = Object.fromEntries(r.proposes.filter((id) => (r.plans[id] ?? []).length <= MAX_LISTED).map((id) => [id, r.plans[id] ?? []]));
  const planSize: Record<string, number> = Object.fromEntries(r.proposes.filter((id) => (r.plans[id] ?? []).length > MAX_LISTED).map((id) => [id, (r.plans[id] ?? []).length]));
  const expect: RehearsalCase['expect'] = {
    state: r.state as RehearsalCase['expect']['state'],
    proposes: r.proposes.length === 1 && r.proposes[0] !== undefined ? r.proposes[0] : r.proposes,
    notes: r.notes.filter((n) => !n.startsWith('(rehearsal)')).map(exactly),
    notNotes: [],
    ...(r.outcome !== undefined ? { outcome: exactly(r.outcome) } : {}),
    ...(Object.keys(planExpect).length > 0 ? { plan: planExpect } : {}),
    ...(Object.keys(planSize).length > 0 ? { planSize } : {}),
    ...(Object.keys(r.costs).length > 0 ? { cost: Object.fromEntries(Object.entries(r.costs).map(([k, v]) => [k, exactly(v)])) } : {}),
  };
  return { case: { ...base, expect }, disagreements };
}
