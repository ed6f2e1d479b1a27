/**
 * Small text helpers for Slack mrkdwn: escaping, numbers (bytes, percentages), times in UTC,
 * identities as mentions, and a compact one-line view of a finding ("numbers, not dumps").
 */
import type { IncidentState } from '../../engine/types.js';

/** Escape the three characters mrkdwn treats specially. Every engine-provided string goes through this. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** `12:03 UTC` (with seconds when `seconds`). */
export function utc(iso: string, seconds = false): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(11, seconds ? 19 : 16)} UTC`;
}

/** An approver identity as Slack shows it: `slack:U1` → `<@U1>`, `slack-group:S1` → `<!subteam^S1>`. */
export function who(id: string): string {
  const user = /^slack:([UW][A-Z0-9]+)$/.exec(id)?.[1];
  if (user) return `<@${user}>`;
  const group = /^slack-group:(S[A-Z0-9]+)$/.exec(id)?.[1];
  if (group) return `<!subteam^${group}>`;
  return esc(id);
}

/** A link to a message: `https://<slack host>/archives/C…/p<ts without dot>`. */
export function permalink(apiUrl: string, channel: string, ts: string): string {
  return `${new URL(apiUrl).origin}/archives/${channel}/p${ts.replace('.', '')}`;
}

/** Emoji, label and attachment colour of each state. */
export const STATE_STYLE: Record<IncidentState, { emoji: string; label: string; color: string }> = {
  diagnosing: { emoji: ':mag:', label: 'Diagnosing', color: '#439FE0' },
  deciding: { emoji: ':mag:', label: 'Diagnosing', color: '#439FE0' },
  planning: { emoji: ':mag:', label: 'Planning', color: '#439FE0' },
  awaiting_approval: { emoji: ':raised_hand:', label: 'Awaiting approval', color: '#ECB22E' },
  remediating: { emoji: ':hammer_and_wrench:', label: 'Remediating', color: '#E8912D' },
  verifying: { emoji: ':hourglass_flowing_sand:', label: 'Verifying', color: '#2EB6C4' },
  resolved: { emoji: ':white_check_mark:', label: 'Resolved', color: '#2EB67D' },
  escalated: { emoji: ':rotating_light:', label: 'Escalated', color: '#E01E5A' },
  cancelled: { emoji: ':heavy_minus_sign:', label: 'Cancelled', color: '#9E9E9E' },
  completed: { emoji: ':clipboard:', label: 'Completed (dry run)', color: '#616061' },
};

const SKIP = new Set(['node', 'text', 'configFile', 'redisVersion', 'perDb']);

function num(key: string, v: number): string {
  if (/memory|bytes|rss/i.test(key) && Math.abs(v) >= 1024) return bytes(v);
  if (/usage|share/i.test(key) && v >= 0 && v <= 1) return pct(v);
  return Number.isInteger(v) ? String(v) : String(Number(v.toFixed(3)));
}

/** One line of `key value` pairs from a finding's scalars (at most `max`); nested maps by node are summarised per node. */
export function compact(value: unknown, max = 8): string {
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'number') return num('', value);
  if (typeof value !== 'object') return clip(String(value), 80);
  if (Array.isArray(value)) return `${value.length} item(s)`;
  const entries = Object.entries(value as Record<string, unknown>);
  const err = (value as { error?: { code?: unknown } }).error;
  if (err && typeof err === 'object') return `error ${String(err.code ?? '')}`;
  if (entries.length > 0 && entries.every(([, v]) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
    return entries
      .slice(0, 3)
      .map(([k, v]) => `${k}: ${compact(v, 4)}`)
      .join(' | ');
  }
  const parts: string[] = [];
  for (const [k, v] of entries) {
    if (SKIP.has(k)) continue;
    if (typeof v === 'number') parts.push(`${k} ${num(k, v)}`);
    else if (typeof v === 'boolean') parts.push(`${k} ${v}`);
    else if (typeof v === 'string' && v.length <= 40) parts.push(`${k} ${v}`);
    else if (Array.isArray(v)) parts.push(`${k} ${v.length}`);
    if (parts.length >= max) break;
  }
  return parts.join(' · ') || 'no scalar values';
}
