/**
 * How an incident record looks to the doors (pure): its summary and, while it waits at an
 * approval gate, the pending proposal — from the runbook version the incident runs on.
 */
import type { RunbookCatalog } from './catalog.js';
import type { MachineContext } from './machine/types.js';
import type { IncidentRecord } from './store/incidents.js';
import type { IncidentSummary } from './types.js';
import { interpolate } from './expr/index.js';
import { scopeOf } from './machine/scope.js';

export function toSummary(r: IncidentRecord, catalog: RunbookCatalog, approvalTimeoutMs: number): IncidentSummary {
  const ctx = (r.snapshot as { context?: MachineContext }).context;
  const s: IncidentSummary = {
    id: r.id,
    runbook: r.runbook,
    target: r.target,
    state: r.state,
    title: r.title,
    ...(r.severity !== undefined ? { severity: r.severity } : {}),
    fingerprints: r.fingerprints,
    dryRun: r.dryRun,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.outcome !== undefined ? { outcome: r.outcome } : {}),
  };
  const cur = ctx?.current;
  if (r.state === 'awaiting_approval' && cur) {
    const rb = catalog.cached(r.hash) ?? catalog.get(r.runbook);
    const info = rb?.remediations.get(cur.remediation);
    const rem = rb?.def.remediations[cur.remediation];
    // A second approval between two phases: its own role and count; the next phase's commands.
    const gateStep = cur.gate !== undefined ? rem?.steps[cur.gate] : undefined;
    const gate = gateStep && 'wait' in gateStep ? gateStep.wait.approval : undefined;
    const nextWait = cur.gate !== undefined && rem ? rem.steps.findIndex((st, i) => i > (cur.gate ?? 0) && 'wait' in st) : -1;
    const gateCommands = cur.gate !== undefined ? cur.commands.filter((c) => (c.step ?? 0) > (cur.gate ?? 0) && (nextWait < 0 || (c.step ?? 0) < nextWait)) : cur.commands;
    s.pendingApproval = {
      key: cur.key,
      remediation: cur.remediation,
      title: gate ? `${info?.title ?? cur.remediation} — next phase${gateStep && 'wait' in gateStep && gateStep.wait.title ? `: ${gateStep.wait.title}` : ''}` : (info?.title ?? cur.remediation),
      risk: info?.risk ?? 'write',
      role: gate?.role ?? info?.role ?? 'redis.dba-operator',
      approversRequired: gate?.approvers ?? info?.approversRequired ?? 1,
      automatic: info?.automatic ?? false,
      commands: gateCommands,
      evidence: rem?.description ? [rem.description] : [],
      approvals: cur.approvals,
      ...(cur.options && cur.options.length > 0
        ? {
            options: cur.options.map((o, k) => {
              const oi = rb?.remediations.get(o.remediation);
              const od = rb?.def.remediations[o.remediation];
              const cost = od?.cost !== undefined && ctx ? interpolate(od.cost, scopeOf(ctx)) : undefined;
              return {
                option: k + 1,
                remediation: o.remediation,
                title: oi?.title ?? o.remediation,
                ...(od?.description ? { description: od.description } : {}),
                risk: oi?.risk ?? 'write',
                role: oi?.role ?? 'redis.dba-operator',
                approversRequired: oi?.approversRequired ?? 1,
                commands: o.commands,
                ...(cost !== undefined ? { cost } : {}),
              };
            }),
          }
        : {}),
      expiresAt: new Date(cur.expiresAt ?? Date.parse(r.updatedAt) + approvalTimeoutMs).toISOString(),
    };
  }
  return s;
}
