/**
 * Pure merging of one run's findings with the stored ones (first seen / last seen / runs count;
 * a finding no longer found is marked cleared), and the Markdown digest.
 */
import { severityRank } from './types.js';
import type { FindingDraft, HygieneFinding, HygieneReport } from './types.js';

/** Field of a finding in the target's hygiene hash. */
export function findingField(check: string, key: string): string {
  return `${check}|${key}`;
}

export interface MergeResult {
  /** Records to write (field → finding). */
  write: Map<string, HygieneFinding>;
  /** Fields to delete (cleared findings past their retention). */
  drop: string[];
  /** Found for the first time (or again after it had cleared): these are reported. */
  opened: HygieneFinding[];
  /** Found again: not re-reported, their runs count grows. */
  persisting: HygieneFinding[];
  /** Open before, not found this run. */
  cleared: HygieneFinding[];
}

/**
 * Merge `drafts` (this run of `check` on `target`) with `stored` (the check's stored findings on
 * the target). Cleared findings are kept `retainMs` after they cleared, then dropped.
 */
export function mergeFindings(check: string, target: string, stored: readonly HygieneFinding[], drafts: readonly FindingDraft[], now: number, retainMs = 7 * 24 * 3600_000): MergeResult {
  const iso = new Date(now).toISOString();
  const before = new Map(stored.map((f) => [f.key, f]));
  const res: MergeResult = { write: new Map(), drop: [], opened: [], persisting: [], cleared: [] };
  const seen = new Set<string>();
  for (const d of drafts) {
    if (seen.has(d.key)) continue;
    seen.add(d.key);
    const prev = before.get(d.key);
    if (prev && prev.status === 'open') {
      const f: HygieneFinding = { ...prev, ...d, check, target, status: 'open', lastSeen: iso, runs: prev.runs + 1 };
      res.write.set(findingField(check, d.key), f);
      res.persisting.push(f);
    } else {
      const { clearedAt: _c, alertFingerprint: _a, ...rest } = prev ?? ({} as Partial<HygieneFinding>);
      void _c;
      void _a;
      const f: HygieneFinding = { ...rest, ...d, check, target, status: 'open', firstSeen: iso, lastSeen: iso, runs: 1 };
      res.write.set(findingField(check, d.key), f);
      res.opened.push(f);
    }
  }
  for (const f of stored) {
    if (seen.has(f.key)) continue;
    if (f.status === 'open') {
      const c: HygieneFinding = { ...f, status: 'cleared', clearedAt: iso };
      res.write.set(findingField(check, f.key), c);
      res.cleared.push(c);
    } else if (f.clearedAt !== undefined && now - Date.parse(f.clearedAt) > retainMs) {
      res.drop.push(findingField(check, f.key));
    }
  }
  return res;
}

/** Open findings first by severity (critical first), then by check and key. */
export function sortFindings(fs: HygieneFinding[]): HygieneFinding[] {
  return fs.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.check.localeCompare(b.check) || a.key.localeCompare(b.key));
}

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The digest as Markdown: one section per target, open findings then recently cleared ones. */
export function renderHygieneMarkdown(r: HygieneReport): string {
  const lines: string[] = [`# Hygiene report`, '', `Generated ${r.generatedAt}.`, ''];
  for (const t of r.targets) {
    const counts = ['critical', 'warning', 'info'].map((s) => `${t.open.filter((f) => f.severity === s).length} ${s}`).join(', ');
    lines.push(`## ${t.target}`, '', `${t.open.length} open (${counts}), ${t.cleared.length} cleared.`, '');
    if (t.open.length > 0) {
      lines.push('| Severity | Check | Finding | First seen | Last seen | Runs |', '|---|---|---|---|---|---|');
      for (const f of t.open) lines.push(`| ${f.severity} | ${f.check} | ${esc(f.summary)}${f.alertFingerprint ? ' (incident opened)' : ''} | ${f.firstSeen} | ${f.lastSeen} | ${f.runs} |`);
      lines.push('');
    }
    if (t.cleared.length > 0) {
      lines.push('Cleared:', '');
      for (const f of t.cleared) lines.push(`- ${f.check}: ${esc(f.summary)} — cleared ${f.clearedAt ?? '?'} (seen ${f.runs} run${f.runs === 1 ? '' : 's'} from ${f.firstSeen})`);
      lines.push('');
    }
    if (t.runs.length > 0) {
      lines.push('Last runs:', '');
      for (const run of t.runs) lines.push(`- ${run.check} at ${run.at} (${run.ms} ms): ${run.error ? `failed: ${run.error.code}: ${esc(run.error.message)}` : `${run.found} found, ${run.opened} new, ${run.cleared} cleared`}`);
      lines.push('');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
