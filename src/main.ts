/**
 * `redis-runbooks` command line: start | worker | run | incidents | lint | schema | demo.
 * The only place that touches process.argv, stdout and exit codes.
 */
import { writeFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp, loadDeps, runbookDirs } from './app.js';
import type { App } from './app.js';
import { Cleanup } from './cli/cleanup.js';
import { formatIncidents, formatPending, formatTimeline } from './cli/format.js';
import { waitForStop } from './cli/wait.js';
import { envOverrides, loadConfig } from './config.js';
import type { AppConfig } from './config-types.js';
import { RunbooksError } from './errors.js';
import { renderPostmortem } from './engine/postmortem.js';
import { renderHygieneMarkdown } from './engine/hygiene/digest.js';
import { runbookJsonSchema } from './engine/runbook/json-schema.js';
import { actions as actionRegistry } from './actions/registry.js';
import { loadRunbookDirs } from './engine/runbook/load.js';

const USAGE = `usage: redis-runbooks <command> [options]
  start                      HTTP door + worker (+ schedulers)
  worker                     worker only (scale out: run several, on any host)
  run <runbook> --target T [--dry-run] [--by NAME]
  incidents list [--open]
  incidents show <id>
  incidents timeline <id> [--md]
  incidents approve <id> --by NAME [--option N]
  incidents reject <id> --by NAME [--reason TEXT]
  lint [dir…]                check the shipped runbooks and yours (default: the config's runbooksDir)
  schema [--out FILE]        print the runbook JSON Schema
  hygiene report [--target T] [--format json|md]   the hygiene digest (open and cleared findings)
  hygiene run <check> --target T                   run one hygiene check now
  test [runbook…] [--dir D] [-v]  rehearse runbooks on their recorded cases (rehearsals/), path coverage
  test --record <incident> [--name N]  print a rehearsal case recorded from a real incident
  demo [--yes]               a throwaway Redis with a memory problem, end to end
options: --config FILE (or REDIS_RUNBOOKS_CONFIG)`;

function out(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** A file path as the user typed it: relative to the working directory when inside it. */
function shownPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

function config(path: string | undefined): AppConfig {
  const cfg = loadConfig(path !== undefined ? { path } : {});
  const ov = envOverrides(process.env);
  if (ov.httpPort !== undefined) cfg.http.port = ov.httpPort;
  return cfg;
}

/**
 * Issue 12 #6: everything a command starts is registered here and stopped on every exit path:
 * normal return, a fatal error, and SIGINT/SIGTERM.
 */
const cleanup = new Cleanup();
/** Set by long-running commands (start, worker): the first signal asks them to shut down gracefully. */
let graceful: ((sig: NodeJS.Signals) => void) | undefined;
let signals = 0;

function onSignal(sig: NodeJS.Signals): void {
  signals++;
  if (graceful && signals === 1) {
    graceful(sig);
    return;
  }
  if (graceful) {
    // A second signal while stopping gracefully: exit now. Jobs still running return to the queue
    // when their locks expire (about 10 s); an embedded store left running is reused by the next start.
    process.stderr.write(`redis-runbooks: ${sig} again: exiting now without waiting for the jobs in flight\n`, () => process.exit(sig === 'SIGINT' ? 130 : 143));
    return;
  }
  // Interrupted (or a second signal): stop what was started, then exit 128+n.
  void cleanup.run().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** Start the app for a command; it is closed on every exit path. */
function startApp(cfg: AppConfig, opts: Parameters<typeof createApp>[1]): Promise<App> {
  return cleanup.starting(createApp(cfg, opts), (app) => app.close());
}

/** Serve until SIGINT/SIGTERM (also one that arrived while starting), then close: exit 0. */
async function serve(cfg: AppConfig, opts: Parameters<typeof createApp>[1]): Promise<number> {
  const stop = new Promise<NodeJS.Signals>((resolve) => {
    graceful = resolve;
  });
  const app = await startApp(cfg, opts);
  const sig = await stop;
  // Graceful: no new work; jobs in flight get engine.shutdownTimeout, then are handed back (app.close).
  app.log.info({ signal: sig, shutdownTimeoutMs: cfg.engine.shutdownTimeoutMs }, 'shutting down');
  await cleanup.run();
  app.log.info({ signal: sig }, 'stopped');
  // Exit 0 even if a handle outlives the close (e.g. a command abandoned in flight to a paused target).
  setTimeout(() => process.exit(0), 1000).unref();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { values: o, positionals: pos } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      target: { type: 'string' },
      'dry-run': { type: 'boolean' },
      by: { type: 'string' },
      reason: { type: 'string' },
      option: { type: 'string' },
      open: { type: 'boolean' },
      md: { type: 'boolean' },
      out: { type: 'string' },
      yes: { type: 'boolean' },
      format: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      dir: { type: 'string', multiple: true },
      record: { type: 'string' },
      name: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
    },
  });
  const [cmd, sub, arg] = pos;
  if (o.help || !cmd) {
    out(USAGE);
    return cmd ? 0 : 2;
  }
  switch (cmd) {
    case 'start':
      return serve(config(o.config), { http: true, worker: true, schedules: true });
    case 'worker':
      return serve(config(o.config), { worker: true });
    case 'lint': {
      const cfg = config(o.config);
      // Directories named here replace the config's runbooksDir; the shipped runbooks stay underneath.
      const dirs = sub !== undefined ? pos.slice(1).map((d) => resolve(d)) : undefined;
      const { runbooks, errors, overrides } = loadRunbookDirs(runbookDirs(cfg, dirs), loadDeps(cfg));
      for (const rb of runbooks) out(`ok   ${shownPath(rb.file)}  (${rb.def.name}, ${rb.def.diagnose.length} diagnostics, ${Object.keys(rb.def.remediations).length} remediations)`);
      for (const ov of overrides) out(`note ${shownPath(ov.file)} overrides ${ov.shipped ? `the shipped ${ov.name}` : `${ov.name} of ${shownPath(ov.replaced)}`}`);
      for (const e of errors) out(`FAIL ${e}`);
      return errors.length > 0 ? 1 : 0;
    }
    case 'schema': {
      const text = JSON.stringify(runbookJsonSchema(actionRegistry), null, 2);
      if (o.out) writeFileSync(o.out, `${text}\n`);
      else out(text);
      return 0;
    }
    case 'run': {
      if (!sub || !o.target) {
        out('usage: redis-runbooks run <runbook> --target T [--dry-run]');
        return 2;
      }
      const app = await startApp(config(o.config), { worker: true });
      try {
        const { incidentId } = await app.engine.run(sub, o.target, { dryRun: o['dry-run'] ?? false, by: o.by ?? process.env['USER'] ?? 'cli' });
        out(`incident ${incidentId} opened`);
        const inc = await waitForStop(app.engine, incidentId, { timeoutMs: 10 * 60_000 });
        out(formatTimeline((await app.engine.getTimeline(incidentId)) ?? []));
        if (inc?.state === 'awaiting_approval') out(`\n${formatPending(inc)}\napprove with: redis-runbooks incidents approve ${incidentId} --by <you>`);
        else out(`\nincident ${incidentId}: ${inc?.state ?? 'unknown'} — ${inc?.outcome ?? ''}`);
      } finally {
        await cleanup.run();
      }
      return 0;
    }
    case 'incidents': {
      const app = await startApp(config(o.config), {});
      try {
        return await incidents(app, sub, arg, o);
      } finally {
        await cleanup.run();
      }
    }
    case 'test': {
      const { recordFromIncident, rehearse } = await import('./cli/rehearse.js');
      const cfg = config(o.config);
      if (o.record !== undefined) {
        const app = await startApp(cfg, {});
        try {
          const r = await recordFromIncident(app, o.record, o.name);
          out(r.ok ? r.text : r.message);
          return r.ok ? 0 : 1;
        } finally {
          await cleanup.run();
        }
      }
      // Without --dir: the runbooks the engine would load (the shipped ones, then runbooksDir).
      return rehearse({ dirs: o.dir ?? runbookDirs(cfg).map((d) => d.dir), names: pos.slice(1), deps: loadDeps(cfg), coverage: true, verbose: o.verbose ?? false, write: out });
    }
    case 'hygiene': {
      if ((sub !== 'report' && sub !== 'run') || (sub === 'run' && (!arg || !o.target))) {
        out('usage: redis-runbooks hygiene report [--target T] [--format json|md] | hygiene run <check> --target T');
        return 2;
      }
      const app = await startApp(config(o.config), {});
      try {
        if (sub === 'run' && arg && o.target) {
          const r = await app.hygiene.service.runCheck(arg, o.target);
          out(`${arg} on ${o.target}: ${r.run.error ? `failed: ${r.run.error.code}` : `${r.run.found} found, ${r.opened.length} new, ${r.cleared.length} cleared`} (${r.run.ms} ms)`);
          for (const f of r.open) out(`  ${f.severity.padEnd(8)} ${f.summary}${f.runs > 1 ? ` (seen ${f.runs} runs)` : ''}`);
          return r.run.error ? 1 : 0;
        }
        const report = await app.hygiene.service.report(o.target !== undefined ? { target: o.target } : {});
        out(o.format === 'md' ? renderHygieneMarkdown(report).trimEnd() : JSON.stringify(report, null, 2));
        return 0;
      } finally {
        await cleanup.run();
      }
    }
    case 'demo': {
      const { runDemo } = await import('./cli/demo.js');
      return runDemo({ yes: o.yes ?? false, cleanup });
    }
    default:
      out(`unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

async function incidents(app: App, sub: string | undefined, id: string | undefined, o: { by?: string; reason?: string; option?: string; open?: boolean; md?: boolean }): Promise<number> {
  const e = app.engine;
  if (sub === 'list') {
    out(formatIncidents(await e.listIncidents({ ...(o.open ? { open: true } : {}), limit: 100 })));
    return 0;
  }
  if (!id) {
    out('an incident id is required');
    return 2;
  }
  switch (sub) {
    case 'show': {
      const inc = await e.getIncident(id);
      if (!inc) return notFound(id);
      out(JSON.stringify(inc, null, 2));
      return 0;
    }
    case 'timeline': {
      const inc = await e.getIncident(id);
      const tl = await e.getTimeline(id);
      if (!inc || !tl) return notFound(id);
      out(o.md ? renderPostmortem(inc, tl) : formatTimeline(tl));
      return 0;
    }
    case 'approve':
    case 'reject': {
      if (!o.by) {
        out('--by NAME is required (checked against config approvers)');
        return 2;
      }
      const option = o.option !== undefined ? Number(o.option) : undefined;
      if (option !== undefined && !(Number.isInteger(option) && option >= 1)) {
        out(`--option must be a whole number from 1 (got '${o.option}')`);
        return 2;
      }
      const r = sub === 'approve' ? await e.approve(id, o.by, 'cli', option !== undefined ? { option } : {}) : await e.reject(id, o.by, 'cli', o.reason);
      out(r.ok ? `${r.message}; incident is now ${r.state}` : `refused (${r.code}): ${r.message}`);
      return r.ok ? 0 : 1;
    }
    default:
      out(`unknown incidents subcommand '${sub ?? ''}'`);
      return 2;
  }
}

function notFound(id: string): number {
  out(`no incident ${id}`);
  return 1;
}

main(process.argv.slice(2)).then(
  async (code) => {
    await cleanup.run();
    process.exitCode = code;
  },
  async (err: unknown) => {
    // Issue 12 #2: a fatal error (bad config, unreachable store, a bad schedule or route) is
    // printed once, what was started is stopped, and the process exits non-zero at once, so a
    // supervisor restarts it instead of it staying up serving nothing.
    const msg = err instanceof RunbooksError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    await cleanup.run();
    process.stderr.write(`redis-runbooks: ${msg}\n`, () => process.exit(1));
  },
);
