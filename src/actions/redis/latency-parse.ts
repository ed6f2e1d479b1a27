/**
 * Pure reading of what Redis 7.0 says about latency: SLOWLOG GET (arguments redacted: only the
 * command name, the subcommand of container commands, and the argument count ever leave here),
 * LATENCY LATEST, LATENCY DOCTOR text, INFO commandstats deltas, and the likely cause with its
 * evidence. No I/O; unit-tested on captured replies (test/fixtures/latency-*).
 */
import { parseKv, type InfoSection } from './info.js';

/** One SLOWLOG entry, redacted: never an argument value. */
export interface SlowEntry {
  id: number;
  /** Unix seconds when it ran. */
  ts: number;
  durationUs: number;
  /** `KEYS`, `DEBUG SLEEP`, `CONFIG SET`… (upper case; the subcommand only for container commands). */
  command: string;
  /** Arguments after the command name (counted, never shown). */
  args: number;
  /** Client `ip:port` ('' for Lua/unknown). */
  addr: string;
  /** Client name ('' when none). */
  name: string;
}

/** Commands whose first argument is a subcommand name, not user data. */
const CONTAINERS = new Set([
  'ACL', 'CLIENT', 'CLUSTER', 'COMMAND', 'CONFIG', 'DEBUG', 'FUNCTION', 'LATENCY', 'MEMORY', 'MODULE', 'OBJECT',
  'PUBSUB', 'SCRIPT', 'SENTINEL', 'SLOWLOG', 'XGROUP', 'XINFO',
]);

const text = (v: unknown): string => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'number' ? String(v) : '');
const int = (v: unknown): number => {
  const n = Number(text(v));
  return Number.isFinite(n) ? n : 0;
};

/** Command label and argument count of a slowlog argv (Redis keeps 32 slots; the last may say `... (N more arguments)`). */
export function redactArgv(argv: readonly unknown[]): { command: string; args: number } {
  const words = argv.map(text);
  const name = (words[0] ?? '').toUpperCase();
  const sub = words[1] ?? '';
  const command = CONTAINERS.has(name) && /^[A-Za-z][A-Za-z-]{0,31}$/.test(sub) ? `${name} ${sub.toUpperCase()}` : name;
  const more = /^\.\.\. \((\d+) more arguments\)$/.exec(words[words.length - 1] ?? '');
  const total = more ? words.length - 1 + Number(more[1]) : words.length;
  return { command, args: Math.max(0, total - 1) };
}

/** SLOWLOG GET reply → redacted entries, newest first (as Redis gives them). */
export function parseSlowlog(reply: unknown): SlowEntry[] {
  if (!Array.isArray(reply)) return [];
  const out: SlowEntry[] = [];
  for (const e of reply) {
    if (!Array.isArray(e) || e.length < 4) continue;
    const { command, args } = redactArgv(Array.isArray(e[3]) ? (e[3] as unknown[]) : []);
    out.push({ id: int(e[0]), ts: int(e[1]), durationUs: int(e[2]), command, args, addr: text(e[4]), name: text(e[5]) });
  }
  return out;
}

/** One LATENCY LATEST row. */
export interface LatencyEvent {
  event: string;
  /** Unix seconds of the latest spike. */
  ts: number;
  latestMs: number;
  maxMs: number;
}

/** LATENCY LATEST reply → events. */
export function parseLatencyLatest(reply: unknown): LatencyEvent[] {
  if (!Array.isArray(reply)) return [];
  return reply
    .filter((r): r is unknown[] => Array.isArray(r) && r.length >= 4)
    .map((r) => ({ event: text(r[0]), ts: int(r[1]), latestMs: int(r[2]), maxMs: int(r[3]) }));
}

/** LATENCY HISTORY <event> reply → `{ ts, ms }` samples, oldest first. */
export function parseLatencyHistory(reply: unknown): Array<{ ts: number; ms: number }> {
  if (!Array.isArray(reply)) return [];
  return reply.filter((r): r is unknown[] => Array.isArray(r) && r.length >= 2).map((r) => ({ ts: int(r[0]), ms: int(r[1]) }));
}

/** LATENCY DOCTOR, read. */
export interface LatencyDoctor {
  /** latency-monitor-threshold is 0: the doctor refuses ("Latency monitoring is disabled"). */
  disabled: boolean;
  /** Monitoring on, no spike ever seen. */
  noSpikes: boolean;
  /** `1. command: 5 latency spikes (average 454ms, …). Worst all time event 1111ms.` */
  events: Array<{ event: string; spikes: number; avgMs: number; worstMs: number }>;
  /** The doctor talks about (transparent / anonymous) huge pages. */
  thp: boolean;
  /** A `fork` event is among the doctor's spikes. */
  fork: boolean;
}

/** Reads LATENCY DOCTOR text. */
export function parseLatencyDoctor(doc: string): LatencyDoctor {
  const events: LatencyDoctor['events'] = [];
  const re = /^\s*\d+\.\s+([\w-]+):\s+(\d+)\s+latency spikes?\s+\(average\s+(\d+)ms[^)]*\)\.\s+Worst all time event\s+(\d+)ms/gm;
  for (let m = re.exec(doc); m; m = re.exec(doc)) events.push({ event: m[1] ?? '', spikes: Number(m[2]), avgMs: Number(m[3]), worstMs: Number(m[4]) });
  return {
    disabled: /Latency monitoring is disabled/i.test(doc),
    noSpikes: /no latency spike was observed/i.test(doc),
    events,
    thp: /huge pages/i.test(doc),
    fork: events.some((e) => e.event.startsWith('fork')),
  };
}

/** One command's INFO commandstats counters. */
export interface CmdStat {
  calls: number;
  usec: number;
  rejected: number;
  failed: number;
}

/** INFO commandstats section → `get`, `config|set`… → counters. */
export function parseCommandstats(section: InfoSection | undefined): Map<string, CmdStat> {
  const out = new Map<string, CmdStat>();
  for (const [k, v] of Object.entries(section ?? {})) {
    if (!k.startsWith('cmdstat_')) continue;
    const kv = parseKv(v);
    out.set(k.slice('cmdstat_'.length), { calls: int(kv['calls']), usec: int(kv['usec']), rejected: int(kv['rejected_calls']), failed: int(kv['failed_calls']) });
  }
  return out;
}

/** A command's load between two reads. */
export interface CmdDelta {
  command: string;
  calls: number;
  usec: number;
  usecPerCall: number;
  /** usec / window: share of the main thread this command took. */
  busyShare: number;
}

/** The commands that took the most main-thread time between two reads `gapMs` apart, worst first. */
export function topCommands(a: Map<string, CmdStat>, b: Map<string, CmdStat>, gapMs: number, top = 5): CmdDelta[] {
  const out: CmdDelta[] = [];
  for (const [command, s] of b) {
    const p = a.get(command) ?? { calls: 0, usec: 0, rejected: 0, failed: 0 };
    const calls = s.calls - p.calls;
    const usec = s.usec - p.usec;
    if (calls <= 0 || usec <= 0) continue;
    out.push({ command, calls, usec, usecPerCall: Math.round(usec / calls), busyShare: gapMs > 0 ? usec / (gapMs * 1000) : 0 });
  }
  return out.sort((x, y) => y.usec - x.usec).slice(0, top);
}

/** Slow entries of one (command, client) within the window. */
export interface SlowGroup {
  command: string;
  /** Argument counts seen (e.g. [1] for `KEYS *`). */
  args: number[];
  addr: string;
  name: string;
  count: number;
  totalUs: number;
  maxUs: number;
  lastTs: number;
  /** totalUs / all slow time in the window. */
  share: number;
}

/** Groups the entries of the last `windowSec` (before `now`) by command and client, worst total first. */
export function groupSlow(entries: readonly SlowEntry[], now: number, windowSec: number, ignoreNames: readonly string[] = []): SlowGroup[] {
  const recent = entries.filter((e) => e.ts >= now - windowSec && !ignoreNames.includes(e.name));
  const all = recent.reduce((s, e) => s + e.durationUs, 0);
  const groups = new Map<string, SlowGroup>();
  for (const e of recent) {
    const key = `${e.command}\u0000${e.addr}\u0000${e.name}`;
    const g = groups.get(key) ?? { command: e.command, args: [], addr: e.addr, name: e.name, count: 0, totalUs: 0, maxUs: 0, lastTs: 0, share: 0 };
    g.count += 1;
    g.totalUs += e.durationUs;
    g.maxUs = Math.max(g.maxUs, e.durationUs);
    g.lastTs = Math.max(g.lastTs, e.ts);
    if (!g.args.includes(e.args)) g.args.push(e.args);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({ ...g, share: all > 0 ? g.totalUs / all : 0 })).sort((x, y) => y.totalUs - x.totalUs);
}

/** `0.30 s` / `42 ms` / `850 µs`. */
export function fmtUs(us: number): string {
  if (us >= 1e6) return `${(us / 1e6).toFixed(2)} s`;
  if (us >= 1000) return `${Math.round(us / 1000)} ms`;
  return `${us} µs`;
}

/** `KEYS (1 arg) from 10.0.0.5:51234 name=report-job took 1.80 s, 14 times in 300 s (…)`. */
export function describeGroup(g: SlowGroup, windowSec: number): string {
  const args = g.args.length === 1 ? `${g.args[0]} arg${g.args[0] === 1 ? '' : 's'}` : `${Math.min(...g.args)}–${Math.max(...g.args)} args`;
  const who = `${g.addr || 'an unknown client'}${g.name ? ` name=${g.name}` : ' (no name)'}`;
  return `${g.command} (${args}) from ${who} took up to ${fmtUs(g.maxUs)}, ${g.count} times in ${windowSec} s (${fmtUs(g.totalUs)} in total, ${Math.round(g.share * 100)}% of the slow time)`;
}
