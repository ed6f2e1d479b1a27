/**
 * Generates docs/configuration.md from the config file's schema (src/config-schema.ts) with
 * `z.toJSONSchema`: every key, its type, whether it is required, its default, and its limits come
 * from the schema; the prose comes from the schema's own `.describe()` when it has one, else from
 * DESCRIPTIONS below. A key without a description, or a description of a key that no longer
 * exists, is an error, so the reference cannot silently fall behind.
 *
 *   npm run docs:config        (tsx scripts/gen-config-docs.ts)
 *
 * test/unit/config-docs.test.ts fails when the checked-in file differs from what this renders.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from '../src/config-schema.js';

/** The command that regenerates the file (named by the drift test). */
export const REGENERATE = 'npm run docs:config';
/** Where the reference lives, relative to the repository root. */
export const CONFIG_DOCS_PATH = 'docs/configuration.md';

type Kind = 'duration' | 'host:port' | 'file';
interface Doc {
  /** What the key does (Markdown, one paragraph). */
  d: string;
  /** What a value means when the schema's type cannot say it (durations, endpoints, files). */
  kind?: Kind;
}

const TLS: Record<string, Doc> = {
  '': { d: 'TLS to this Redis. Relative file paths resolve against the config file\'s directory; the files are read at load (an unreadable file is a config error).' },
  ca: { d: 'CA certificate(s) (PEM file) that the server certificate must chain to.', kind: 'file' },
  cert: { d: 'Client certificate (PEM file), for servers with `tls-auth-clients yes`. Requires `key`.', kind: 'file' },
  key: { d: 'Private key (PEM file) of `cert`. Requires `cert`.', kind: 'file' },
  servername: { d: 'Host name the server certificate must name (SNI and verification), when it differs from the host in the endpoints.' },
  rejectUnauthorized: { d: 'Verify the server certificate. Runbooks never turn verification off; set `false` only for a lab.' },
};

function prefixed(prefix: string, docs: Record<string, Doc>): Record<string, Doc> {
  return Object.fromEntries(Object.entries(docs).map(([k, v]) => [k === '' ? prefix : `${prefix}.${k}`, v]));
}

/** Descriptions by key path (`targets.<name>.tls.ca`, `approvers[].id`). */
export const DESCRIPTIONS: Record<string, Doc> = {
  store: { d: 'The engine\'s own Redis: queues (BullMQ), incidents, timelines, locks. Set exactly one of `url`, `sentinel`, `cluster`. **Absent**: a private `redis-server` is started under `embedded.dataDir` and stopped with the process. The store must run `maxmemory-policy noeviction`. See [operations](operations.md#the-store).' },
  'store.url': { d: 'A standalone store: `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS.' },
  'store.sentinel': { d: 'A store behind Redis Sentinel: the engine follows failovers at once (ioredis `failoverDetector`).' },
  'store.sentinel.endpoints': { d: 'Sentinel addresses.', kind: 'host:port' },
  'store.sentinel.masterName': { d: 'The master name the Sentinels monitor.' },
  'store.sentinel.username': { d: 'ACL user on the store\'s data nodes.' },
  'store.sentinel.password': { d: 'Password on the store\'s data nodes. Use `${ENV}`.' },
  'store.sentinel.sentinelPassword': { d: 'Password of the Sentinels themselves (`requirepass` on the Sentinels). Use `${ENV}`.' },
  'store.cluster': { d: 'A store on Redis Cluster. Every key the engine owns carries a hash tag, so its scripts work on Cluster; `engine.queuePrefix` must keep one too.' },
  'store.cluster.nodes': { d: 'Seed nodes; the rest are discovered.', kind: 'host:port' },
  'store.cluster.username': { d: 'ACL user on the cluster nodes.' },
  'store.cluster.password': { d: 'Password on the cluster nodes. Use `${ENV}`.' },
  ...prefixed('store.tls', TLS),
  embedded: { d: 'The private store used when `store` is absent: loopback only, AOF on, `noeviction`. A second command on the same `dataDir` reuses the running one (its port is in `<dataDir>/store/port`).' },
  'embedded.dataDir': { d: 'Directory of the embedded store\'s AOF, relative to the config file.' },
  'embedded.redisServer': { d: 'The `redis-server` binary to start (a name on `PATH` or a path).' },
  'embedded.port': { d: 'Port of the embedded store; `0` picks a free one.' },
  http: { d: 'The HTTP door (`start` only): the Alertmanager webhook, `/healthz`, `/readyz`, `/metrics`, `/api/*`, and `/slack/events` when Slack is configured.' },
  'http.host': { d: 'Address to listen on. `0.0.0.0` in a container.' },
  'http.port': { d: 'Port to listen on (`0`: a free one). The environment variable `REDIS_RUNBOOKS_HTTP_PORT` overrides it.' },
  'http.workerPort': { d: 'A `worker` process (no HTTP door) serves `/metrics`, `/healthz` and `/readyz` on `http.host` at this port, so Prometheus scrapes its counters and an orchestrator probes it. Unset: a worker serves no HTTP. `start` ignores it (its door serves them).' },
  'http.token': { d: 'Bearer token required on `POST /webhooks/alertmanager` and `/api/*` (compared in constant time, never logged). **Without it those routes are open**: always set it outside a laptop. Use `${ENV}`.' },
  'http.maxBodyBytes': { d: 'Largest request body accepted; larger ones are refused with 413 without being buffered.' },
  targets: { d: 'The Redis deployments the engine may diagnose and change, by name (the name routes, CLI `--target` and Slack use).' },
  'targets.<name>': { d: 'One deployment.' },
  'targets.<name>.mode': { d: '`standalone` (a primary and optional replicas), `sentinel` (nodes found through Sentinel), or `cluster`.' },
  'targets.<name>.endpoints': { d: 'Data nodes: standalone: the primary and any replicas (more are discovered); cluster: seed nodes; sentinel: optional. Required (at least one) for standalone and cluster.', kind: 'host:port' },
  'targets.<name>.sentinel': { d: 'Required when `mode: sentinel`, refused otherwise.' },
  'targets.<name>.sentinel.masterName': { d: 'The master name the Sentinels monitor.' },
  'targets.<name>.sentinel.endpoints': { d: 'Sentinel addresses.', kind: 'host:port' },
  'targets.<name>.sentinel.password': { d: 'Password of the Sentinels. Use `${ENV}`.' },
  ...prefixed('targets.<name>.tls', TLS),
  'targets.<name>.username': { d: 'ACL user the engine connects as (see the ACL the runbooks need in [authoring](authoring.md#permissions-on-the-targets)).' },
  'targets.<name>.password': { d: 'Password of that user (or `requirepass`). Use `${ENV}`: never in logs, timelines, Slack or findings.' },
  'targets.<name>.secrets': { d: 'Named secrets a remediation refers to as `${secret:<name>}` (e.g. the new and old password of a rotation). Plans, timelines and approvals only ever show the placeholder; the value is put in when the command is sent. Use `${ENV}` for each value.' },
  'targets.<name>.role': { d: '`cache` (data can be rebuilt: eviction policies such as `allkeys-lru` may be proposed) or `store` (never evicted: those remediations are refused). A runbook remediation\'s `targetRoles` refers to it.' },
  'targets.<name>.labels': { d: 'Alert labels that select this target (all must match), e.g. `{ redis_cluster: cache-prod }`. Values are strings (quote numbers). An alert whose `instance` names any node or Sentinel of the target selects it too.' },
  'targets.<name>.allowAutomatic': { d: 'Remediations marked `automatic: true` may run without approval on this target (never `disruptive` ones).' },
  approvers: { d: 'Who may approve, and with which role: `redis.viewer` < `redis.dba-operator` < `redis.cluster-admin` (a higher role may approve what a lower one may).' },
  'approvers[]': { d: 'One identity.' },
  'approvers[].id': { d: 'As the doors present it: a CLI/HTTP name (`alice`), a Slack user `slack:U…`, or a Slack user group `slack-group:S…`. Unique.' },
  'approvers[].roles': { d: 'Roles of this identity.' },
  routes: { d: 'Alert → runbook routes tried **before** the runbooks\' own `match`: route your own alert names without editing shipped runbooks.' },
  'routes[]': { d: 'One route.' },
  'routes[].match': { d: 'Set `alertname` and/or `labels`.' },
  'routes[].match.alertname': { d: 'Exact alert name.' },
  'routes[].match.labels': { d: 'Labels that must all be equal.' },
  'routes[].runbook': { d: 'Name of a loaded runbook (checked at start: an unknown name stops the process, naming the line).' },
  schedules: { d: 'Hygiene runs as BullMQ job schedulers, upserted at `start` (idempotent across processes and restarts).' },
  'schedules[]': { d: 'One schedule.' },
  'schedules[].name': { d: 'Scheduler id (lowercase).' },
  'schedules[].runbook': { d: 'Runbook to run (must be loaded).' },
  'schedules[].target': { d: 'Target to run it on (must be configured).' },
  'schedules[].cron': { d: 'Cron pattern with 5 or 6 fields, e.g. `"0 3 * * *"`, checked with the parser BullMQ uses.' },
  'schedules[].tz': { d: 'IANA time zone of the pattern (e.g. `Europe/Berlin`); default: the process\'s.' },
  'schedules[].dryRun': { d: 'Diagnose and show the plan only. Set `false` to open real incidents (approvals still apply).' },
  runbooksDir: { d: 'Your runbook directories: one, or a list, relative to the config file. They are loaded **after** the runbooks the package ships; a runbook with the name of a shipped one replaces it (`lint` prints `note <file> overrides the shipped <name>`), a later directory overrides an earlier one. Absent: `runbooks` next to the config file, if it exists.' },
  shippedRunbooks: { d: 'Load the runbooks shipped with the package (its own `runbooks/` directory, found next to the installed code, never the working directory). `false`: only `runbooksDir`.' },
  engine: { d: 'Engine behaviour.' },
  'engine.dryRun': { d: 'Diagnose and show plans everywhere, never send a mutating command (also per run: `run --dry-run`, `POST /api/runs {dryRun: true}`, schedules).' },
  'engine.approvalTimeout': { d: 'How long an approval request stands before the incident escalates (a runbook\'s `approval.timeout` overrides it).', kind: 'duration' },
  'engine.lockTtl': { d: 'TTL of the per-target remediation lock (renewed while a remediation runs; a crashed holder frees it after this).', kind: 'duration' },
  'engine.workerConcurrency': { d: 'Jobs one worker process runs at once.' },
  'engine.queuePrefix': { d: 'BullMQ key prefix. Keep a `{hash tag}` for a Cluster store. All processes of one installation must share it.' },
  'engine.keyPrefix': { d: 'Prefix of the engine\'s own keys (incidents, timelines, locks). All processes of one installation must share it.' },
  'engine.faultInjection': { d: 'For crash tests only: never set in production.' },
  'engine.faultInjection.killAfterCommands': { d: 'The worker kills itself (SIGKILL) right after its N-th remediation command reached the target, before recording it as done.' },
  'engine.faultInjection.hang': { d: 'Crash matrix only: an incident labelled `rr_fault: effect-done` (or `command-sent`) stops being handled right after its effect ran (or a remediation command reached the target), before the result is recorded; the process writes `<keyPrefix>:fault:hung:<id>` and waits to be killed.' },
  'engine.circuitBreaker': { d: 'At most `max` remediations of one runbook on one target per `window` (counted in the store, so across processes and restarts); beyond it the incident escalates instead of acting, saying why.' },
  'engine.circuitBreaker.max': { d: 'Remediations allowed per runbook and target within the window.' },
  'engine.circuitBreaker.window': { d: 'The sliding window.', kind: 'duration' },
  'engine.shutdownTimeout': { d: 'On SIGTERM/SIGINT: how long jobs in flight may finish before they are handed back to other workers (lock released, back at the front of the queue, noted on the timeline); then the process exits 0. See [operations](operations.md).', kind: 'duration' },
  slack: { d: 'Optional: incident threads, approval buttons and `/redis`. Without it approvals go through the CLI and the HTTP API. See the README\'s "Wiring Slack".' },
  'slack.botToken': { d: 'Bot token (`xoxb-…`). Use `${ENV}`.' },
  'slack.signingSecret': { d: 'App signing secret: every request to `POST /slack/events` is checked against it (and the 5-minute window). Use `${ENV}`.' },
  'slack.appToken': { d: 'App-level token (`xapp-…`): Socket Mode instead of `POST /slack/events` (no inbound HTTP from Slack needed).' },
  'slack.defaultChannel': { d: 'Channel **ID** incident messages go to.' },
  'slack.channels': { d: 'Per-target channel IDs (target name → channel ID), overriding `defaultChannel`. Names must be configured targets.' },
  'slack.apiUrl': { d: 'Web API base URL (GovSlack, Enterprise, or a fake Slack in tests).' },
  logLevel: { d: 'pino log level; default: env `LOG_LEVEL`, else `info`.' },
};

type Json = Record<string, unknown>;
interface Row {
  path: string;
  type: string;
  required: boolean;
  def?: unknown;
  doc: Doc;
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const code = (s: string): string => (s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``);
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A duration in ms as the config would write it (`30m`). */
function durationText(ms: number): string {
  for (const [unit, n] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % n === 0) return `${ms / n}${unit}`;
  }
  return `${ms}ms`;
}

function typeText(s: Json, kind: Kind | undefined): string {
  if (Array.isArray(s['anyOf'])) return (s['anyOf'] as Json[]).map((x) => typeText(x, kind)).join(' or ');
  const type = s['type'];
  if (type === 'array') {
    const items = isObj(s['items']) ? s['items'] : {};
    const min = typeof s['minItems'] === 'number' && s['minItems'] > 0 ? `, at least ${s['minItems']}` : '';
    return `list of ${isObj(items) && items['type'] === 'object' ? 'objects' : typeText(items, kind)}${min}`;
  }
  if (type === 'object') {
    if (isObj(s['additionalProperties'])) {
      const v = s['additionalProperties'];
      return `map: name → ${v['type'] === 'object' ? 'object' : typeText(v, kind)}`;
    }
    return 'object';
  }
  if (Array.isArray(s['enum'])) return (s['enum'] as unknown[]).map((e) => code(String(e))).join(' | ');
  if (kind === 'duration') return 'duration (`30s`, `5m`, `1h`, or ms)';
  if (kind === 'host:port') return '`host:port`';
  if (kind === 'file') return 'file path';
  if (type === 'integer' || type === 'number') {
    const lo = s['minimum'];
    const hi = s['maximum'];
    const range = typeof lo === 'number' && typeof hi === 'number' ? (hi >= Number.MAX_SAFE_INTEGER ? ` ≥ ${lo}` : ` ${lo}–${hi}`) : '';
    return `${String(type)}${range}`;
  }
  if (type === 'string') return typeof s['pattern'] === 'string' ? `string matching ${code(s['pattern'])}` : 'string';
  if (typeof type === 'string') return type;
  return 'any';
}

function defaultText(v: unknown, kind: Kind | undefined): string {
  if (v === undefined) return '';
  if (kind === 'duration' && typeof v === 'number') return code(durationText(v));
  if (isObj(v) && Object.keys(v).length === 0) return '';
  if (Array.isArray(v) && v.length === 0) return '';
  return code(typeof v === 'string' ? v : JSON.stringify(v));
}

/**
 * Walk the input-side JSON Schema (what a file may say: types, required keys) beside the
 * output-side one (defaults of coerced values such as ports and durations live only there).
 */
function walk(inp: Json, out: Json | undefined, path: string, required: boolean, rows: Row[], seen: Set<string>): void {
  const desc = typeof inp['description'] === 'string' ? inp['description'] : undefined;
  const doc = desc !== undefined ? { d: desc, ...(DESCRIPTIONS[path]?.kind ? { kind: DESCRIPTIONS[path].kind } : {}) } : DESCRIPTIONS[path];
  seen.add(path);
  if (!doc) throw new Error(`${CONFIG_DOCS_PATH}: no description for '${path}': add .describe() in src/config-schema.ts or an entry in DESCRIPTIONS of scripts/gen-config-docs.ts`);
  const def = inp['default'] ?? out?.['default'];
  rows.push({ path, type: typeText(inp, doc.kind), required, ...(def !== undefined ? { def } : {}), doc });
  const props = inp['properties'];
  if (isObj(props)) {
    const req = new Set(Array.isArray(inp['required']) ? (inp['required'] as string[]) : []);
    const outProps = isObj(out?.['properties']) ? (out['properties'] as Json) : {};
    for (const [k, v] of Object.entries(props)) {
      if (isObj(v)) walk(v, isObj(outProps[k]) ? outProps[k] : undefined, path === '' ? k : `${path}.${k}`, req.has(k), rows, seen);
    }
    return;
  }
  const add = inp['additionalProperties'];
  if (isObj(add) && add['type'] === 'object') {
    const outAdd = isObj(out?.['additionalProperties']) ? (out['additionalProperties'] as Json) : undefined;
    walk(add, outAdd, `${path}.<name>`, false, rows, seen);
    return;
  }
  const items = inp['items'];
  if (inp['type'] === 'array' && isObj(items) && items['type'] === 'object') {
    const outItems = isObj(out?.['items']) ? (out['items'] as Json) : undefined;
    walk(items, outItems, `${path}[]`, false, rows, seen);
  }
}

/** The rows of the reference, in schema order. */
export function configRows(): Row[] {
  const schema = configSchema(process.cwd());
  const inp = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  const out = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as Json;
  const rows: Row[] = [];
  const seen = new Set<string>();
  const props = inp['properties'];
  const outProps = out['properties'];
  if (!isObj(props) || !isObj(outProps)) throw new Error('config schema: expected an object schema');
  const req = new Set(Array.isArray(inp['required']) ? (inp['required'] as string[]) : []);
  for (const [k, v] of Object.entries(props)) if (isObj(v)) walk(v, isObj(outProps[k]) ? outProps[k] : undefined, k, req.has(k), rows, seen);
  const stale = Object.keys(DESCRIPTIONS).filter((p) => !seen.has(p));
  if (stale.length > 0) throw new Error(`scripts/gen-config-docs.ts: DESCRIPTIONS names keys the schema does not have: ${stale.join(', ')}`);
  return rows;
}

/** The Markdown of docs/configuration.md. */
export function renderConfigDocs(): string {
  const rows = configRows();
  const top = rows.filter((r) => !r.path.includes('.') && !r.path.includes('['));
  const lines: string[] = [
    '# Configuration reference',
    '',
    `<!-- Generated from src/config-schema.ts by scripts/gen-config-docs.ts: do not edit; run \`${REGENERATE}\`. -->`,
    '',
    'One YAML file, given with `--config FILE` or `REDIS_RUNBOOKS_CONFIG`. Unknown keys are errors; every',
    'problem is reported as `file: yaml.path: problem (line N)` and the process refuses to start.',
    '`${VAR}` and `${VAR:-default}` take values (secrets above all) from the environment after the YAML is',
    'parsed (`$${` is a literal `${`); secrets never reach logs, Slack, findings or timelines. Relative paths',
    'resolve against the config file\'s directory. A commented example:',
    '[`examples/redis-runbooks.yaml`](../examples/redis-runbooks.yaml).',
    '',
    'Environment: `REDIS_RUNBOOKS_CONFIG` (the file), `REDIS_RUNBOOKS_HTTP_PORT` (overrides `http.port`),',
    '`LOG_LEVEL` (when `logLevel` is not set).',
    '',
    'Types: a *duration* is `500ms`, `30s`, `5m`, `1h` or a number of milliseconds; `host:port` also',
    'takes `[v6addr]:port`; booleans and integers may be written as strings (`"true"`, `"8080"`, handy',
    'with `${ENV}`). `<name>` stands for a key you choose, `[]` for every item of a list.',
    '',
    '| Section | |',
    '|---|---|',
    ...top.map((r) => `| [\`${r.path}\`](#${r.path.toLowerCase()}) | ${cell(firstSentence(r.doc.d))} |`),
  ];
  for (const t of top) {
    lines.push('', `## ${t.path}`, '', t.doc.d, '');
    const sub = rows.filter((r) => r.path === t.path || r.path.startsWith(`${t.path}.`) || r.path.startsWith(`${t.path}[`));
    lines.push('| Key | Type | Required | Default | Meaning |', '|---|---|---|---|---|');
    for (const r of sub) {
      lines.push(`| \`${r.path}\` | ${cell(r.type)} | ${r.required ? 'yes' : ''} | ${cell(defaultText(r.def, r.doc.kind))} | ${cell(r.path === t.path ? '(this section)' : r.doc.d)} |`);
    }
  }
  lines.push('');
  return lines.join('\n');
}

function firstSentence(s: string): string {
  const m = /^(.*?\.)(\s|$)/.exec(s);
  return m?.[1] ?? s;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = resolve(fileURLToPath(import.meta.url), '..', '..', CONFIG_DOCS_PATH);
  writeFileSync(file, renderConfigDocs());
  process.stdout.write(`wrote ${CONFIG_DOCS_PATH}\n`);
}
