/** Plain-text rendering for the CLI (the CLI's own output goes to stdout; logs go through pino). */
import { formatPlanned } from '../actions/command-format.js';
import type { IncidentSummary, TimelineEntry } from '../engine/types.js';

export function actorName(e: TimelineEntry): string {
  return e.actor.kind === 'user' ? `${e.actor.id} (${e.actor.via})` : e.actor.kind;
}

export function formatTimeline(entries: TimelineEntry[]): string {
  return entries.map((e) => `${e.at.replace('T', ' ').slice(0, 19)}Z  ${actorName(e).padEnd(14)} ${e.kind.padEnd(20)} ${e.summary}`).join('\n');
}

export function formatIncidents(list: IncidentSummary[]): string {
  if (list.length === 0) return 'no incidents';
  return list.map((i) => `${i.id}  ${i.state.padEnd(18)} ${i.runbook.padEnd(24)} ${i.target.padEnd(16)} ${i.createdAt}  ${i.outcome ?? ''}`).join('\n');
}

export function formatPending(i: IncidentSummary): string {
  const p = i.pendingApproval;
  if (!p) return '';
  if (p.options && p.options.length > 0) {
    return [
      `Approval needed for incident ${i.id}: choose one of ${p.options.length} options (expires ${p.expiresAt})`,
      ...p.options.flatMap((o) => [
        `  option ${o.option}: ${o.title}`,
        `    risk: ${o.risk}   role: ${o.role}   approvers required: ${o.approversRequired}${o.cost ? `   cost: ${o.cost}` : ''}`,
        '    commands:',
        ...o.commands.map((c) => `      ${formatPlanned(c, '  ')}${c.note ? `    # ${c.note}` : ''}`),
      ]),
      `  approve one with: redis-runbooks incidents approve ${i.id} --option N --by <you>`,
    ].join('\n');
  }
  return [
    `Approval needed for incident ${i.id}: ${p.title}`,
    `  risk: ${p.risk}   role: ${p.role}   approvers required: ${p.approversRequired}   expires: ${p.expiresAt}`,
    '  commands:',
    ...p.commands.map((c) => `    ${formatPlanned(c, '  ')}${c.note ? `    # ${c.note}` : ''}`),
  ].join('\n');
}
