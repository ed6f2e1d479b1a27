/**
 * The action reference (`runbooks/ACTIONS.md`), generated from the registry: per action its risk,
 * description, timeout, the input fields of its zod schema (the `with:` of a step), the output
 * fields it documents (what `decide`, `derive` and `verify` may read), and for mutating actions
 * whether it can tell after a crash that a command is already in place (`applied()`).
 * Pure: the caller writes the text (`scripts/gen-action-docs.ts`, `npm run docs`).
 */
import { z } from 'zod';
import type { ActionDefinition } from '../../actions/types.js';

/**
 * A documented output field: dotted segments, each a name or `*` (any key of a map, as in the
 * expression paths `replicas.*.role`), optionally followed by `[]` (an array): `node`,
 * `topKeys[]`, `topKeys[].bytes`, `perDb.*.keys`.
 */
export const OUTPUT_FIELD_PATTERN = /^(?:[A-Za-z_][A-Za-z0-9_]*|\*)(?:\[\])?(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|\*)(?:\[\])?)*$/;

type Json = Record<string, unknown>;

const HEADER = `# Actions

<!-- Generated from src/actions by \`npm run docs\` (scripts/gen-action-docs.ts): do not edit by hand. -->

Every action a runbook step may name (\`action:\`), from the registry (\`src/actions/registry.ts\`).
**Input** is the step's \`with:\` (any value may also be an \`{expr}\` string, evaluated from the
findings when the step runs). **Output** is what the step's id holds for \`derive\`, \`decide\`,
\`verify.until\` and \`symptom.cleared\`: nested fields are written \`a.b\`, arrays \`a[]\` and their
items' fields \`a[].b\`, any key of a map \`a.*\`. A fan-out step (\`replicas\`, \`all-nodes\`, …)
holds \`{ "host:port": output }\`; a step that failed holds \`{ error: { code, message } }\`.
Mutating actions (\`write\`, \`disruptive\`) plan their exact commands first; their **crash-resume
check** (\`applied()\`) tells whether a planned command is already in place after a crash (in
place: not sent again; not in place: sent; cannot tell, or no check: a human is asked).
`;

/** A markdown table cell: one line, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

/**
 * Prose from an action (description, field meaning) as markdown text: outside its `code` spans,
 * `<` (an HTML tag to a renderer: `<slot>` would vanish) and `*` (emphasis) are escaped.
 */
export function prose(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/\*/g, '\\*')))
    .join('');
}

/** An inline code span that survives backticks inside. */
function code(text: string): string {
  const runs = text.match(/`+/g) ?? [];
  const fence = '`'.repeat(Math.max(0, ...runs.map((r) => r.length)) + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** GitHub's heading anchor for a heading text. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

function obj(v: unknown): Json | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

/** The JSON type of a schema, e.g. `integer`, `string[]`, `"forward" | "back"`, `string | null`. */
export function schemaType(s: Json): string {
  if (Array.isArray(s['enum'])) return s['enum'].map((v) => JSON.stringify(v)).join(' | ');
  if (s['const'] !== undefined) return JSON.stringify(s['const']);
  const anyOf = s['anyOf'] ?? s['oneOf'];
  if (Array.isArray(anyOf)) return anyOf.map((b) => schemaType(obj(b) ?? {})).join(' | ');
  const t = s['type'];
  if (t === 'array') {
    const items = obj(s['items']);
    const inner = items ? schemaType(items) : 'any';
    return inner.includes(' | ') ? `(${inner})[]` : `${inner}[]`;
  }
  if (Array.isArray(t)) return t.map(String).join(' | ');
  return typeof t === 'string' ? t : 'any';
}

function num(v: unknown): string {
  return typeof v === 'number' ? String(v) : '';
}

/** Limits of a schema as short text: `0 ≤ n ≤ 16383`, `length 1–64`, `1–20 items`, `pattern …`. */
export function schemaLimits(s: Json): string[] {
  const out: string[] = [];
  const lo = s['minimum'] !== undefined ? `${num(s['minimum'])} ≤ ` : s['exclusiveMinimum'] !== undefined ? `${num(s['exclusiveMinimum'])} < ` : '';
  const hi = s['maximum'] !== undefined ? ` ≤ ${num(s['maximum'])}` : s['exclusiveMaximum'] !== undefined ? ` < ${num(s['exclusiveMaximum'])}` : '';
  if (lo || hi) out.push(`${lo}n${hi}`);
  if (s['minLength'] !== undefined || s['maxLength'] !== undefined) out.push(`length ${num(s['minLength']) || '0'}–${num(s['maxLength']) || '∞'}`);
  if (s['minItems'] !== undefined || s['maxItems'] !== undefined) out.push(`${num(s['minItems']) || '0'}–${num(s['maxItems']) || '∞'} items`);
  if (typeof s['pattern'] === 'string') out.push(`pattern ${code(s['pattern'])}`);
  const items = obj(s['items']);
  if (s['type'] === 'array' && items) {
    const each = schemaLimits(items);
    if (each.length > 0) out.push(`each: ${each.join(', ')}`);
  }
  const anyOf = s['anyOf'] ?? s['oneOf'];
  if (Array.isArray(anyOf)) {
    const branches = anyOf.map((b) => schemaLimits(obj(b) ?? {})).filter((l) => l.length > 0);
    if (branches.length > 0) out.push(branches.map((l) => l.join(', ')).join(' or '));
  }
  if (typeof s['description'] === 'string') out.push(prose(s['description']));
  return out;
}

/** The input section of one action, from its zod schema (as the runbook's `with:` is read). */
export function inputSection(input: z.ZodType): string[] {
  const s = z.toJSONSchema(input, { io: 'input', unrepresentable: 'any' }) as Json;
  const props = obj(s['properties']) ?? {};
  const required = new Set(Array.isArray(s['required']) ? s['required'].map(String) : []);
  const names = Object.keys(props);
  const lines: string[] = [];
  if (names.length === 0) {
    lines.push('**Input**: none (`with:` is absent or empty).');
    return lines;
  }
  const omit = required.size === 0 ? ' `with:` may be omitted.' : '';
  const strict = s['additionalProperties'] === false ? ' Other fields are refused.' : '';
  lines.push(`**Input**:${omit}${strict}`, '', '| Field | Type | Required | Default | Limits |', '|---|---|---|---|---|');
  for (const name of names) {
    const p = obj(props[name]) ?? {};
    const dflt = p['default'] !== undefined ? code(JSON.stringify(p['default'])) : '—';
    const limits = schemaLimits(p);
    lines.push(`| ${cell(code(name))} | ${cell(code(schemaType(p)))} | ${required.has(name) ? 'required' : 'optional'} | ${cell(dflt)} | ${cell(limits.join('; ') || '—')} |`);
  }
  return lines;
}

/** The output section of one action: its documented fields in the order the action lists them. */
export function outputSection(output: Readonly<Record<string, string>> | undefined): string[] {
  const fields = Object.entries(output ?? {});
  if (fields.length === 0) return ['**Output**: not documented.'];
  const lines = ['**Output**:', '', '| Field | Meaning |', '|---|---|'];
  for (const [field, meaning] of fields) lines.push(`| ${cell(code(field))} | ${cell(prose(meaning))} |`);
  return lines;
}

function timeout(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function resumeCheck(a: ActionDefinition<unknown, unknown>): string {
  if (a.risk === 'read') return '—';
  return a.applied ? 'yes' : 'no';
}

/** One action's section. */
export function actionSection(a: ActionDefinition<unknown, unknown>): string[] {
  const lines = [`## ${a.name}`, '', prose(a.description), '', `- Risk: \`${a.risk}\``, `- Timeout: ${timeout(a.timeoutMs)}`];
  if (a.risk !== 'read') {
    lines.push(
      a.applied
        ? '- Crash-resume check: `applied()` implemented: after a crash, a planned command whose effect is already in place is not sent again.'
        : '- Crash-resume check: none: a command interrupted by a crash escalates to a human.',
    );
  }
  lines.push('', ...inputSection(a.input as z.ZodType), '', ...outputSection(a.output));
  return lines;
}

/** The whole `runbooks/ACTIONS.md`, actions sorted by name. */
export function actionDocsMarkdown(actions: ReadonlyMap<string, ActionDefinition<any, any>>): string { // eslint-disable-line @typescript-eslint/no-explicit-any
  const sorted = [...actions.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) as Array<ActionDefinition<unknown, unknown>>;
  const out: string[] = [HEADER, '| Action | Risk | Crash-resume check | What it does |', '|---|---|---|---|'];
  for (const a of sorted) out.push(`| [${code(a.name)}](#${anchor(a.name)}) | ${a.risk} | ${resumeCheck(a)} | ${cell(prose(a.description))} |`);
  for (const a of sorted) out.push('', ...actionSection(a));
  return `${out.join('\n')}\n`;
}

/**
 * The field paths of a value as an action's `output` names them, as segments: `['a']`,
 * `['a', 'b']`, `['a[]']`, `['a[]', 'b']`. A key is one segment even when it holds a `.`
 * (`host:port` keys of a map).
 */
export function fieldPaths(value: unknown, prefix: readonly string[] = []): string[][] {
  if (Array.isArray(value)) {
    const last = prefix[prefix.length - 1] ?? '';
    const base = [...prefix.slice(0, -1), `${last}[]`];
    const seen = new Map<string, string[]>();
    for (const item of value) for (const p of fieldPaths(item, base)) seen.set(JSON.stringify(p), p);
    return [...seen.values()];
  }
  const o = obj(value);
  if (!o) return [];
  const out: string[][] = [];
  for (const [k, v] of Object.entries(o)) {
    const p = [...prefix, k];
    out.push(Array.isArray(v) ? [...prefix, `${k}[]`] : p);
    out.push(...fieldPaths(v, p));
  }
  return out;
}

/**
 * Whether documented field `pattern` (`*` = any one key) names `path`, or a field inside it (a
 * documented `a[].b` documents `a[]`). `a` and `a[]` name the same field.
 */
function documents(pattern: string, path: readonly string[]): boolean {
  const ps = pattern.split('.');
  if (ps.length < path.length) return false;
  return path.every((x, i) => {
    const p = ps[i] ?? '';
    const pa = p.endsWith('[]');
    const xa = x.endsWith('[]');
    const pn = pa ? p.slice(0, -2) : p;
    const xn = xa ? x.slice(0, -2) : x;
    if (pn !== '*' && pn !== xn) return false;
    // above the last segment an array must be documented as one; the field itself may be named either way
    return i === path.length - 1 ? true : pa === xa;
  });
}

/** The fields of `value` (an action's findings) that `output` does not document, e.g. for a test. */
export function undocumentedFields(value: unknown, output: Readonly<Record<string, string>> | undefined): string[] {
  const patterns = Object.keys(output ?? {});
  return fieldPaths(value)
    .filter((path) => !patterns.some((p) => documents(p, path)))
    .map((path) => path.join('.'));
}
