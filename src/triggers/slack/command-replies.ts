/**
 * Texts of `/redis` answers: help, a target's one-glance status, open incidents, a timeline.
 * Pure functions of what the engine returned.
 */
import type { Role } from '../../config-types.js';
import type { IncidentSummary, TargetStatus, TimelineEntry } from '../../engine/types.js';
import { STATE_STYLE, bytes, esc, pct } from './format.js';
import { threadLine } from './thread.js';

export interface CommandSpec {
  name: string;
  usage: string;
  what: string;
  /** Least role needed; undefined: anyone. */
  role?: Role;
}

/**
 * The commands and who may use them. Reading (status, incidents, timeline) needs redis.viewer.
 * diagnose and dry-run change nothing on the target, but they open an incident and put load on
 * production nodes (INFO, a sampled key scan), so like `run` they need redis.dba-operator.
 */
export const COMMANDS: readonly CommandSpec[] = [
  { name: 'help', usage: 'help', what: 'this list' },
  { name: 'status', usage: 'status <target>', what: "every node's role, memory, clients, replication and cluster state", role: 'redis.viewer' },
  { name: 'incidents', usage: 'incidents', what: 'open incidents, with links', role: 'redis.viewer' },
  { name: 'timeline', usage: 'timeline <incident>', what: "an incident's latest timeline entries", role: 'redis.viewer' },
  { name: 'diagnose', usage: 'diagnose <target> [runbook]', what: "run a runbook's read-only part now; findings go to its thread", role: 'redis.dba-operator' },
  { name: 'dry-run', usage: 'dry-run <runbook> <target>', what: 'diagnose and show the exact commands a fix would send, changing nothing', role: 'redis.dba-operator' },
  { name: 'run', usage: 'run <runbook> <target>', what: 'open an incident as if alerted (approvals still apply)', role: 'redis.dba-operator' },
];

export function helpText(roles: Role[], names: { targets: string[]; runbooks: string[] }): string {
  return [
    '*`/redis` commands*',
    ...COMMANDS.map((c) => `• \`/redis ${c.usage}\` — ${c.what}${c.role ? ` _(${c.role})_` : ''}`),
    `Targets: ${list(names.targets)}`,
    `Runbooks: ${list(names.runbooks)}`,
    `Your roles: ${roles.length > 0 ? roles.join(', ') : 'none'}`,
  ].join('\n');
}

export function list(names: string[]): string {
  return names.length > 0 ? names.map((n) => `\`${esc(n)}\``).join(', ') : '_none configured_';
}

export function statusText(s: TargetStatus): string {
  const lines = [`*${esc(s.target)}* (${s.mode}, ${s.role}) — ${s.nodes.length} node(s)`];
  for (const n of s.nodes) {
    if (!n.ok) {
      lines.push(`• \`${esc(n.node)}\` :warning: unreachable: ${esc(n.error ?? 'unknown error')}`);
      continue;
    }
    const mem =
      n.usedMemory !== undefined
        ? `memory ${bytes(n.usedMemory)}${n.maxmemory ? ` of ${bytes(n.maxmemory)}${typeof n.usage === 'number' ? ` (${pct(n.usage)})` : ''}` : ' (no maxmemory)'}`
        : 'memory n/a';
    const parts = [n.role ?? 'unknown role', mem, n.policy, n.connectedClients !== undefined ? `${n.connectedClients} clients` : undefined, n.replication, n.clusterState ? `cluster ${n.clusterState}` : undefined];
    lines.push(`• \`${esc(n.node)}\` ${parts.filter((p): p is string => p !== undefined).map(esc).join(' · ')}`);
  }
  lines.push(
    s.openIncidents.length > 0
      ? `Open incidents: ${s.openIncidents.map((i) => `\`${esc(i.id)}\` ${STATE_STYLE[i.state].label.toLowerCase()} (${esc(i.runbook)})`).join(', ')}`
      : 'No open incidents.',
  );
  return lines.join('\n');
}

export function incidentsText(list: IncidentSummary[], links: Map<string, string>): string {
  if (list.length === 0) return ':sunny: No open incidents.';
  return [
    `*Open incidents* (${list.length})`,
    ...list.map((i) => {
      const st = STATE_STYLE[i.state];
      const ref = links.get(i.id) ? `<${links.get(i.id) ?? ''}|${esc(i.id)}>` : `\`${esc(i.id)}\``;
      return `• ${st.emoji} ${ref} ${st.label.toLowerCase()} — ${esc(i.runbook)} on \`${esc(i.target)}\`${i.dryRun ? ' (dry run)' : ''}, since ${i.createdAt.slice(0, 16).replace('T', ' ')} UTC`;
    }),
  ].join('\n');
}

export function timelineText(id: string, entries: TimelineEntry[], link: string | undefined, max = 25): string {
  const shown = entries.slice(-max);
  return [
    `*Timeline of ${link ? `<${link}|${esc(id)}>` : `\`${esc(id)}\``}*${entries.length > shown.length ? ` (last ${shown.length} of ${entries.length})` : ''}`,
    ...shown.map(threadLine),
  ].join('\n');
}
