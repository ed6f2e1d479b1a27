/**
 * Configuration loading: the only module that reads `process.env` or the config file.
 *
 * Pipeline: YAML text → document (unique keys, bounded aliases) → plain data (nulls dropped) →
 * `${VAR}` interpolation on scalar strings → zod validation (strict: unknown keys are errors) →
 * {@link AppConfig}. Every problem becomes one line `file: yaml.path: problem` of a single
 * {@link ConfigError}. Messages never echo configured values, so secrets cannot leak through them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument } from 'yaml';
import type { YAMLError } from 'yaml';
import { z } from 'zod';
import type { AppConfig, RouteConfig, SlackConfig, StoreConfig, TargetConfig } from './config-types.js';
import { ConfigError } from './errors.js';
import { LOG_LEVELS, configSchema, errnoCode, isPlainObject } from './config-schema.js';
import type { ParsedConfig, ParsedStore, ParsedTarget } from './config-schema.js';
import { oneLine } from './util/issue-format.js';

export { LOG_LEVELS, parseEndpoint } from './config-schema.js';

/** Environment variable naming the config file. */
export const CONFIG_ENV = 'REDIS_RUNBOOKS_CONFIG';
/** Environment variable overriding `http.port`. */
export const HTTP_PORT_ENV = 'REDIS_RUNBOOKS_HTTP_PORT';
/** Upper bound on YAML alias expansion (guards against "billion laughs" documents). */
export const MAX_ALIAS_COUNT = 50;

const DEFAULTS_SOURCE = '<defaults>';

/** One step of a YAML path: a map key or a sequence index. */
export type PathSeg = string | number;
interface Issue {
  path: readonly PathSeg[];
  message: string;
}

/** Settings that come from the environment rather than the file. */
export interface EnvOverrides {
  /** `REDIS_RUNBOOKS_CONFIG`: path of the config file. */
  configPath?: string;
  /** `LOG_LEVEL`: log level used when the file sets none. */
  logLevel?: string;
  /** `REDIS_RUNBOOKS_HTTP_PORT`: overrides `http.port`. */
  httpPort?: number;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Config file path; else `REDIS_RUNBOOKS_CONFIG`; else no file (defaults). */
  path?: string;
  /** Environment for `${VAR}` and overrides. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths are resolved against when there is no file. Default: `process.cwd()`. */
  cwd?: string;
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /** Directory that relative paths in the file (TLS files, runbooksDir, dataDir) are resolved against. */
  baseDir?: string;
  /** Used to locate `source` when `baseDir` is not given. Default: `process.cwd()`. */
  cwd?: string;
}

/**
 * Read the environment settings the program needs outside the file.
 *
 * @throws ConfigError when `REDIS_RUNBOOKS_HTTP_PORT` is not a port number.
 */
export function envOverrides(env: NodeJS.ProcessEnv): EnvOverrides {
  const out: EnvOverrides = {};
  const configPath = env[CONFIG_ENV];
  if (configPath !== undefined && configPath !== '') out.configPath = configPath;
  const logLevel = env['LOG_LEVEL'];
  if (logLevel !== undefined && logLevel !== '') out.logLevel = logLevel;
  const port = env[HTTP_PORT_ENV];
  if (port !== undefined && port !== '') {
    const n = /^\d{1,5}$/.test(port) ? Number(port) : Number.NaN;
    if (!(n >= 0 && n <= 65535)) throw new ConfigError(`env ${HTTP_PORT_ENV}: expected a port number (0-65535)`);
    out.httpPort = n;
  }
  return out;
}

/**
 * Load the configuration: from `opts.path`, else `$REDIS_RUNBOOKS_CONFIG`, else defaults
 * (no targets, embedded store).
 *
 * @throws ConfigError naming the file and YAML path of every problem.
 */
export function loadConfig(opts: LoadConfigOptions = {}): AppConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const path = opts.path ?? envOverrides(env).configPath;
  if (path === undefined) return parseConfig('', DEFAULTS_SOURCE, env, { baseDir: cwd });
  const abs = resolve(cwd, path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(`${path}: cannot read config file (${errnoCode(err)})`);
  }
  return parseConfig(text, path, env, { baseDir: dirname(abs) });
}

/**
 * Parse and validate config text. `source` names the file in messages (and, without
 * `opts.baseDir`, locates relative paths).
 *
 * @throws ConfigError with one line per problem: `source: yaml.path: problem`.
 */
export function parseConfig(
  text: string,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: ParseConfigOptions = {},
): AppConfig {
  const baseDir = opts.baseDir ?? dirname(resolve(opts.cwd ?? process.cwd(), source));
  const { value: raw, lineOf } = readYaml(text, source);
  const issues: Issue[] = [];
  const fromEnv: FromEnv = new Map();
  const data = interpolate(raw, env, [], issues, fromEnv);
  const failed = new Set(issues.map((i) => formatPath(i.path)));

  const result = configSchema(baseDir).safeParse(data, {
    error: (iss) => (iss.input === undefined && (iss.code === 'invalid_type' || iss.code === 'invalid_value') ? 'required' : undefined),
  });
  if (!result.success) {
    for (const iss of result.error.issues) {
      for (const issue of fromZodIssue(iss)) if (!failed.has(formatPath(issue.path))) issues.push(issue);
    }
  }
  if (issues.length > 0 || !result.success) throw toConfigError(source, issues, lineOf, fromEnv);

  const overrides = envOverrides(env);
  const logLevel = result.data.logLevel ?? overrides.logLevel ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`env LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const cfg = build(result.data, source, baseDir, overrides, logLevel);
  LINES.set(cfg, lineOf);
  FROM_ENV.set(cfg, fromEnv);
  return cfg;
}

/** Where each loaded config came from, by YAML path: for errors found after loading (issue 12 #7). */
const LINES = new WeakMap<AppConfig, (path: readonly PathSeg[]) => number | undefined>();

/**
 * A problem found after loading (e.g. at start-up: a route to a runbook that does not exist),
 * named like a validation error: `file: yaml.path: problem (line N)`.
 */
export function configProblem(cfg: AppConfig, path: readonly PathSeg[], message: string): ConfigError {
  return new ConfigError(scrubEnv(issueLine(cfg.source, { path, message }, LINES.get(cfg)), FROM_ENV.get(cfg)));
}

// ---------------------------------------------------------------------------------------------
// YAML

function readYaml(text: string, source: string): { value: Record<string, unknown>; lineOf: (path: readonly PathSeg[]) => number | undefined } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  if (doc.errors.length > 0) {
    // One syntax error is reported once: the parser's follow-up errors are consequences of the
    // first (issue 12 #7). Every duplicate key is its own problem.
    const dups = doc.errors.filter((e) => e.code === 'DUPLICATE_KEY');
    const shown = dups.length === doc.errors.length ? dups : doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY').slice(0, 1);
    throw new ConfigError(shown.map((e) => yamlErrorLine(source, doc.contents, lineCounter, e)).join('\n'));
  }
  const lineOf = (path: readonly PathSeg[]): number | undefined => {
    const offset = offsetAt(doc.contents, path);
    return offset === undefined ? undefined : lineCounter.linePos(offset).line;
  };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new ConfigError(`${source}: ${err instanceof Error ? err.message : 'invalid YAML'}`);
  }
  if (value === null || value === undefined) return { value: {}, lineOf };
  if (!isPlainObject(value)) throw new ConfigError(`${source}: expected a mapping at the top level`);
  return { value, lineOf };
}

/**
 * Source offset of the node at `path` (its key, for a map entry); for a path that is not in the
 * file (a missing key), that of its deepest ancestor that is.
 */
function offsetAt(root: unknown, path: readonly PathSeg[]): number | undefined {
  let node: unknown = root;
  let best = isNode(root) ? root.range?.[0] : undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      if (isNode(pair.key) && pair.key.range) best = pair.key.range[0];
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!isNode(item)) break;
      if (item.range) best = item.range[0];
      node = item;
    } else break;
  }
  return best;
}

function yamlErrorLine(source: string, root: unknown, lc: LineCounter, e: YAMLError): string {
  const { line, col } = lc.linePos(e.pos[0]);
  const where = `line ${line}, column ${col}`;
  const path = formatPath(pathAt(root, e.pos[0], []));
  const what =
    e.code === 'DUPLICATE_KEY' ? 'duplicate key' : e.code === 'MULTIPLE_DOCS' ? 'expected a single YAML document' : e.message;
  return path === '' ? `${source}: ${where}: ${what}` : `${source}: ${path}: ${what} (${where})`;
}

/** The YAML path of the deepest key or item containing `offset`. */
function pathAt(node: unknown, offset: number, path: PathSeg[]): PathSeg[] {
  const inside = (n: unknown, end: 1 | 2): boolean =>
    isNode(n) && n.range != null && n.range[0] <= offset && offset < Math.max(n.range[end], n.range[0] + 1);
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (inside(pair.key, 1)) return [...path, key];
      if (inside(pair.value, 2)) return pathAt(pair.value, offset, [...path, key]);
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      if (inside(item, 2)) return pathAt(item, offset, [...path, i]);
    }
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// ${VAR} interpolation (after parsing: values can never inject YAML structure)

const REF = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

/** Copy `value`, dropping null map entries and expanding `${VAR}` / `${VAR:-default}` / `$${`. */
/**
 * Values substituted from the environment, with the variable each came from. A message may echo a
 * value from the file (an unknown target name, a file path); when that value came from `${VAR}` it
 * is shown as `${VAR}` instead, so a secret put in the wrong place never reaches a message (found
 * by fuzzing, issue 12).
 */
type FromEnv = Map<string, string>;
const FROM_ENV = new WeakMap<AppConfig, FromEnv>();

/** `text` with every environment value of 3+ characters replaced by its `${VAR}` (longest first). */
function scrubEnv(text: string, fromEnv: FromEnv | undefined): string {
  if (!fromEnv) return text;
  let out = text;
  for (const [v, name] of [...fromEnv].sort((a, b) => b[0].length - a[0].length)) if (v.length >= 3) out = out.split(v).join(`\${${name}}`);
  return out;
}

function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: PathSeg[], issues: Issue[], fromEnv: FromEnv): unknown {
  if (typeof value === 'string') return expand(value, env, path, issues, fromEnv);
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], issues, fromEnv));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null) continue;
      Object.defineProperty(out, k, {
        value: interpolate(v, env, [...path, k], issues, fromEnv),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

function expand(s: string, env: NodeJS.ProcessEnv, path: PathSeg[], issues: Issue[], fromEnv: FromEnv): string {
  if (!s.includes('${')) return s;
  return s.replace(REF, (whole: string, name: string | undefined, fallback: string | undefined) => {
    if (whole === '$${') return '${';
    if (name === undefined) {
      issues.push({ path, message: 'malformed ${...} reference (write $${ for a literal ${)' });
      return '';
    }
    const v = Object.hasOwn(env, name) ? env[name] : undefined;
    if (v !== undefined && v !== '') fromEnv.set(v, name);
    if (fallback !== undefined) return v === undefined || v === '' ? fallback : v;
    if (v === undefined) {
      issues.push({ path, message: `environment variable ${name} is not set` });
      return '';
    }
    return v;
  });
}

// ---------------------------------------------------------------------------------------------
// Assembly

function build(p: ParsedConfig, source: string, baseDir: string, env: EnvOverrides, logLevel: string): AppConfig {
  // Null-prototype maps: names from the file or from requests never reach Object.prototype (issue 12 #4).
  const targets: Record<string, TargetConfig> = Object.create(null) as Record<string, TargetConfig>;
  for (const [name, t] of Object.entries(p.targets)) targets[name] = buildTarget(name, t);
  const routes: RouteConfig[] = p.routes.map((r) => ({
    ...(r.match.alertname !== undefined && { alertname: r.match.alertname }),
    labels: r.match.labels ?? {},
    runbook: r.runbook,
  }));
  const cfg: AppConfig = {
    source,
    embedded: {
      dataDir: resolve(baseDir, p.embedded.dataDir),
      redisServerBin: p.embedded.redisServer,
      port: p.embedded.port,
    },
    http: {
      host: p.http.host,
      port: env.httpPort ?? p.http.port,
      maxBodyBytes: p.http.maxBodyBytes,
      ...(p.http.workerPort !== undefined && { workerPort: p.http.workerPort }),
      ...(p.http.token !== undefined && { token: p.http.token }),
    },
    targets,
    approvers: p.approvers.map((a) => ({ id: a.id, roles: [...new Set(a.roles)] })),
    routes,
    schedules: p.schedules.map((x) => ({ name: x.name, runbook: x.runbook, target: x.target, cron: x.cron, dryRun: x.dryRun, ...(x.tz !== undefined && { tz: x.tz }) })),
    ...runbookDirs(p.runbooksDir, baseDir),
    shippedRunbooks: p.shippedRunbooks,
    engine: {
      dryRun: p.engine.dryRun,
      approvalTimeoutMs: p.engine.approvalTimeout,
      lockTtlMs: p.engine.lockTtl,
      workerConcurrency: p.engine.workerConcurrency,
      queuePrefix: p.engine.queuePrefix,
      keyPrefix: p.engine.keyPrefix,
      circuitBreaker: { max: p.engine.circuitBreaker.max, windowMs: p.engine.circuitBreaker.window },
      shutdownTimeoutMs: p.engine.shutdownTimeout,
      ...(p.engine.faultInjection !== undefined ? { faultInjection: { ...(p.engine.faultInjection.killAfterCommands !== undefined ? { killAfterCommands: p.engine.faultInjection.killAfterCommands } : {}), ...(p.engine.faultInjection.hang === true ? { hang: true } : {}) } } : {}),
    },
    logLevel,
  };
  if (p.store !== undefined) cfg.store = buildStore(p.store);
  if (p.slack !== undefined) cfg.slack = buildSlack(p.slack);
  return cfg;
}

/**
 * `runbooksDir` (one directory or a list) resolved against the config file's directory. Absent: the
 * `runbooks` directory there, only if it exists (an installed package's config needs none: the
 * shipped runbooks are loaded anyway).
 */
function runbookDirs(v: string | string[] | undefined, baseDir: string): { runbooksDir: string; runbooksDirs: string[] } {
  if (v === undefined) {
    const dir = resolve(baseDir, 'runbooks');
    return { runbooksDir: dir, runbooksDirs: existsSync(dir) ? [dir] : [] };
  }
  const dirs = (typeof v === 'string' ? [v] : v).map((d) => resolve(baseDir, d));
  return { runbooksDir: dirs[0] ?? resolve(baseDir, 'runbooks'), runbooksDirs: dirs };
}

function buildSlack(s: NonNullable<ParsedConfig['slack']>): SlackConfig {
  return {
    botToken: s.botToken,
    signingSecret: s.signingSecret,
    ...(s.appToken !== undefined && { appToken: s.appToken }),
    defaultChannel: s.defaultChannel,
    channels: Object.assign(Object.create(null) as Record<string, string>, s.channels),
    apiUrl: s.apiUrl.endsWith('/') ? s.apiUrl : `${s.apiUrl}/`,
  };
}

function buildTarget(name: string, t: ParsedTarget): TargetConfig {
  return {
    name,
    mode: t.mode,
    endpoints: t.endpoints,
    ...(t.sentinel !== undefined && {
      sentinel: {
        masterName: t.sentinel.masterName,
        endpoints: t.sentinel.endpoints,
        ...(t.sentinel.password !== undefined && { password: t.sentinel.password }),
      },
    }),
    ...(t.tls !== undefined && { tls: t.tls }),
    ...(t.username !== undefined && { username: t.username }),
    ...(t.password !== undefined && { password: t.password }),
    ...(t.secrets !== undefined && { secrets: Object.assign(Object.create(null) as Record<string, string>, t.secrets) }),
    role: t.role,
    labels: t.labels,
    allowAutomatic: t.allowAutomatic,
  };
}

function buildStore(s: ParsedStore): StoreConfig {
  const tls = s.tls !== undefined ? { tls: s.tls } : {};
  if (s.sentinel !== undefined) {
    const { endpoints: sentinels, ...rest } = s.sentinel;
    return { mode: 'sentinel', sentinels, ...stripUndefined(rest), ...tls };
  }
  if (s.cluster !== undefined) return { mode: 'cluster', ...stripUndefined(s.cluster), ...tls };
  return { mode: 'url', url: s.url ?? '', ...tls };
}

// ---------------------------------------------------------------------------------------------
// Helpers

function fromZodIssue(iss: z.core.$ZodIssue): Issue[] {
  const path = iss.path.filter((s): s is PathSeg => typeof s !== 'symbol');
  switch (iss.code) {
    case 'unrecognized_keys':
      return iss.keys.map((k) => ({ path: [...path, k], message: 'unknown key' }));
    case 'invalid_key':
      return [{ path, message: iss.issues[0]?.message ?? 'invalid key' }];
    default:
      return [{ path, message: iss.message.replace(/^(Invalid (input|option)|Too (small|big)): /, '') }];
  }
}

function toConfigError(source: string, issues: Issue[], lineOf?: (path: readonly PathSeg[]) => number | undefined, fromEnv?: FromEnv): ConfigError {
  return new ConfigError(scrubEnv([...new Set(issues.map((i) => issueLine(source, i, lineOf)))].join('\n'), fromEnv));
}

/** `file: yaml.path: problem (line N)`; the line is that of the path, or of its nearest ancestor in the file. */
function issueLine(source: string, i: Issue, lineOf?: (path: readonly PathSeg[]) => number | undefined): string {
  const p = formatPath(i.path);
  const line = lineOf?.(i.path);
  const at = line === undefined ? '' : ` (line ${line})`;
  const message = oneLine(i.message);
  return p === '' ? `${source}: ${message}${at}` : `${source}: ${p}: ${message}${at}`;
}

/** `targets.cache-prod.endpoints[1]`; keys that are not plain words are quoted: `labels["a.b/c"]`. */
function formatPath(path: readonly PathSeg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}



function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

