/**
 * Timeline entries as thread replies: one compact line per entry (findings as numbers, not JSON),
 * grouped into as few messages as Slack's limits allow.
 */
import type { TimelineEntry, TimelineKind } from '../../engine/types.js';
import { clip, compact, esc, utc } from './format.js';

const EMOJI: Partial<Record<TimelineKind, string>> = {
  'alert.firing': ':fire:',
  'alert.resolved': ':large_green_circle:',
  'incident.opened': ':new:',
  'incident.joined': ':link:',
  finding: ':mag:',
  note: ':memo:',
  decision: ':bulb:',
  proposal: ':clipboard:',
  'approval.requested': ':raised_hand:',
  'approval.granted': ':white_check_mark:',
  'approval.rejected': ':x:',
  'approval.refused': ':no_entry:',
  'approval.expired': ':hourglass:',
  'approval.cancelled': ':heavy_minus_sign:',
  'lock.waiting': ':lock:',
  'lock.acquired': ':lock:',
  'lock.released': ':unlock:',
  'precondition.failed': ':warning:',
  'command.intent': ':arrow_forward:',
  'command.executed': ':gear:',
  'command.dry-run': ':test_tube:',
  'verification.poll': ':stopwatch:',
  'verification.passed': ':white_check_mark:',
  'verification.failed': ':warning:',
  'incident.resolved': ':white_check_mark:',
  'incident.escalated': ':rotating_light:',
  'incident.cancelled': ':heavy_minus_sign:',
  'incident.completed': ':clipboard:',
  'incident.handover': ':arrow_right:',
  error: ':warning:',
};

/** One line for one entry. */
export function threadLine(e: TimelineEntry): string {
  const d = e.data ?? {};
  let body: string;
  if ((e.kind === 'finding' || e.kind === 'verification.poll') && typeof d['step'] === 'string' && 'value' in d) {
    const nodes = Array.isArray(d['nodes']) ? (d['nodes'] as unknown[]).join(', ') : '';
    body = `*${esc(d['step'])}* (${esc(String(d['action'] ?? ''))}${nodes ? ` on ${esc(nodes)}` : ''}): ${esc(compact(d['value']))}`;
  } else if (e.kind === 'finding' && d['derived'] !== undefined) {
    body = `derived: ${esc(compact(d['derived']))}`;
  } else {
    body = esc(clip(e.summary, 400));
  }
  return `\`${utc(e.at, true).slice(0, 8)}\` ${EMOJI[e.kind] ?? ':small_blue_diamond:'} ${body}`;
}

export interface ThreadBatch {
  text: string;
  /** Stream id of the last entry in this batch: the cursor once it is posted. */
  lastId: string;
}

/** Group entries (with stream ids, in order) into messages of at most `maxEntries` lines / `maxChars` characters. */
export function threadBatches(entries: TimelineEntry[], maxEntries = 20, maxChars = 3500): ThreadBatch[] {
  const out: ThreadBatch[] = [];
  let lines: string[] = [];
  let size = 0;
  let last = '';
  const flush = (): void => {
    if (lines.length > 0) out.push({ text: lines.join('\n'), lastId: last });
    lines = [];
    size = 0;
  };
  for (const e of entries) {
    if (!e.id) continue;
    const line = threadLine(e);
    if (lines.length >= maxEntries || size + line.length + 1 > maxChars) flush();
    lines.push(line);
    size += line.length + 1;
    last = e.id;
  }
  flush();
  return out;
}

/** Compare two stream ids (`ms-seq`); '' sorts first. */
export function compareStreamIds(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '') return -1;
  if (b === '') return 1;
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}
