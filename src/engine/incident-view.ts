/**
 * How an incident record looks to the doors (pure): its summary and, while it waits at an
 * approval gate, the pending proposal — from the runbook version the incident runs on.
 */
import type { RunbookCatalog } from './catalog.js';
import type { MachineContext } from './machine/types.js';
import type { IncidentRecord } from './store/incidents.js';
import type { IncidentSummary } from './types.js';

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
    s.pendingApproval = {
      key: cur.key,
      remediation: cur.remediation,
      title: info?.title ?? cur.remediation,
      risk: info?.risk ?? 'write',
      role: info?.role ?? 'redis.dba-operator',
      approversRequired: info?.approversRequired ?? 1,
      automatic: info?.automatic ?? false,
      commands: cur.commands,
      evidence: rem?.description ? [rem.description] : [],
      approvals: cur.approvals,
      expiresAt: new Date(cur.expiresAt ?? Date.parse(r.updatedAt) + approvalTimeoutMs).toISOString(),
    };
  }
  return s;
}
