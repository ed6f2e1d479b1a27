/**
 * `redis.latency-view`: why one node is slow, read-only. Two reads `gapMs` apart (SLOWLOG ids,
 * INFO commandstats/stats/persistence), then SLOWLOG GET (redacted: command, argument count,
 * duration, client address and name — never argument values), LATENCY LATEST and DOCTOR (reports
 * when latency-monitor-threshold is 0; never changes it), fork time and persistence activity,
 * CLIENT LIST (the slow client still connected, blocked clients, big output buffers), expired and
 * evicted keys between the reads, transparent huge pages from the doctor's text. Names the likely
 * cause with its evidence and, when one connected client dominates the slow time, its id.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ActionContext, ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { readInfo, replyText } from './connection.js';
import { optionalCommand } from './optional-command.js';
import { num, type Info } from './info.js';
import { parseClientList, type ClientInfo } from './client-list.js';
import { fmtBytes } from './census-aggregate.js';
import { configPairs } from './persistence-parse.js';
import {
  describeGroup,
  fmtUs,
  groupSlow,
  parseCommandstats,
  parseLatencyDoctor,
  parseLatencyHistory,
  parseLatencyLatest,
  parseSlowlog,
  topCommands,
  type CmdDelta,
  type LatencyDoctor,
  type LatencyEvent,
  type SlowGroup,
} from './latency-parse.js';

const input = z
  .object({
    gapMs: z.number().int().min(0).max(60_000).default(1000),
    /** Slow entries older than this (s, before the server's clock) are history, not the spike. */
    windowSec: z.number().int().positive().max(86_400).default(300),
    /** SLOWLOG GET count. */
    entries: z.number().int().positive().max(1024).default(128),
    /** A slow entry counts for `slowInGap` from this duration (µs; the alert's 100 ms). */
    minUs: z.number().int().nonnegative().default(100_000),
    /** A fork this long (µs, latest_fork_usec or a LATENCY fork event) is the likely cause when no client dominates. */
    forkUs: z.number().int().nonnegative().default(500_000),
    /** A client's output buffer is big from this many bytes. */
    bigOmem: z.number().int().nonnegative().default(1024 * 1024),
    /** Client names of the engine itself (their slow entries are not the spike). */
    ownNames: z.array(z.string()).default(['redis-runbooks']),
  })
  .strict()
  .prefault({});

/** Validated input of `redis.latency-view`. */
export type LatencyViewInput = z.infer<typeof input>;

type ClientBrief = Pick<ClientInfo, 'id' | 'addr' | 'name' | 'cmd' | 'age' | 'idle' | 'flags' | 'omem' | 'kind'>;

/** Findings of `redis.latency-view`. */
export interface LatencyViewResult {
  node: string;
  cause: 'slow-command' | 'slow-commands-spread' | 'fork' | 'expire-cycle' | 'eviction' | 'none';
  summary: string;
  evidence: string[];
  details: string;
  slowlogLen: number;
  slowlogThresholdUs: number | null;
  recentSlow: number;
  slowInGap: number;
  slowInGapMaxUs: number;
  groups: SlowGroup[];
  top: (SlowGroup & { client: ClientBrief | null }) | null;
  offender: ClientBrief | null;
  offenderIds: string[];
  commands: CmdDelta[];
  monitorThresholdMs: number | null;
  monitorOff: boolean;
  unavailable: string[];
  latencyEvents: LatencyEvent[];
  doctor: LatencyDoctor;
  thp: boolean;
  latestForkUsec: number;
  bgsaveInProgress: boolean;
  aofRewriteInProgress: boolean;
  blockedClients: ClientBrief[];
  bigBuffers: ClientBrief[];
  expiredDelta: number;
  evictedDelta: number;
  expireCapDelta: number;
  gapMs: number;
  windowSec: number;
}

const brief = (c: ClientInfo): ClientBrief => ({ id: c.id, addr: c.addr, name: c.name, cmd: c.cmd, age: c.age, idle: c.idle, flags: c.flags, omem: c.omem, kind: c.kind });

async function readCounters(ctx: ActionContext, unavailable: string[]): Promise<{ info: Info; lastId: number }> {
  const info = await readInfo(ctx, ctx.node, 'commandstats', 'stats', 'persistence', 'server');
  const slow = parseSlowlog(await optionalCommand(ctx, ctx.node, ['SLOWLOG', 'GET', '1'], unavailable));
  return { info, lastId: slow[0]?.id ?? -1 };
}

/** Reads the latency evidence of `ctx.node`. */
export const latencyView: ActionDefinition<LatencyViewInput, LatencyViewResult> = {
  name: 'redis.latency-view',
  description: 'Why a node is slow, read-only: SLOWLOG (redacted), LATENCY LATEST/DOCTOR, commandstats between two reads, fork and persistence activity, blocked clients and big output buffers, expiry/eviction between the reads, THP; the likely cause with evidence and the connected client behind it.',
  risk: 'read',
  input,
  timeoutMs: 75_000,
  output: {
    node: 'host:port read',
    cause: 'slow-command (one client dominates the slow time) | slow-commands-spread (many clients: the app) | fork | expire-cycle | eviction | none',
    summary: 'one line: the likely cause with its evidence (command, client address and name, durations, count in the window)',
    evidence: 'further findings, one line each (latency events and their history, commandstats top, fork, blocked clients, big buffers, expiry, THP, monitor off)',
    details: "the evidence lines joined with '; ' (for notes)",
    slowlogLen: 'SLOWLOG LEN',
    slowlogThresholdUs: 'slowlog-log-slower-than (µs; null when CONFIG GET is refused)',
    recentSlow: 'slowlog entries within windowSec (the engine\'s own excluded)',
    slowInGap: 'slowlog entries of at least minUs logged between the two reads (the spike is still going on)',
    slowInGapMaxUs: 'the longest of those (µs)',
    'groups[]': 'slow entries of the window by (command, client), worst total first (at most 5)',
    'groups[].command': 'command name (with the subcommand of container commands, e.g. DEBUG SLEEP); never arguments',
    'groups[].args': 'argument counts seen (numbers, never values)',
    'groups[].addr': 'client ip:port',
    'groups[].name': "client name ('' when none)",
    'groups[].count': 'entries in the window',
    'groups[].totalUs': 'their total duration (µs)',
    'groups[].maxUs': 'the longest (µs)',
    'groups[].lastTs': 'unix seconds of the latest',
    'groups[].share': 'totalUs / all slow time in the window (0–1)',
    top: 'the worst group (fields as groups[]) and its client when still connected (null when there is none)',
    'top.*': 'as groups[].*',
    'top.client': 'the connected client at top.addr (null when it left)',
    'top.client.*': 'as offender.*',
    offender: 'the connected normal/pub-sub client behind a dominant slow command (null otherwise)',
    'offender.id': 'CLIENT id',
    'offender.addr': 'ip:port',
    'offender.name': "client name ('' when none)",
    'offender.cmd': 'its last command (name only)',
    'offender.age': 'seconds connected',
    'offender.idle': 'seconds since its last command',
    'offender.flags': 'CLIENT LIST flags',
    'offender.omem': 'output buffer bytes',
    'offender.kind': 'normal | pubsub | replica | master',
    offenderIds: 'CLIENT ids to disconnect for redis.client-kill (empty unless cause is slow-command and the client is connected)',
    'commands[]': 'INFO commandstats between the two reads, worst first (at most 5)',
    'commands[].command': 'command (commandstats name, e.g. config|set)',
    'commands[].calls': 'calls between the reads',
    'commands[].usec': 'main-thread µs between the reads',
    'commands[].usecPerCall': 'µs per call',
    'commands[].busyShare': 'usec / the window: share of the main thread (0–1)',
    monitorThresholdMs: 'latency-monitor-threshold (ms; 0 = off; null when CONFIG GET is refused)',
    unavailable: 'commands this engine may not run here (renamed, disabled, denied by ACL), e.g. "CONFIG GET: unknown command (renamed or disabled)": the rest is still read',
    monitorOff: 'latency-monitor-threshold is 0: no new LATENCY events are recorded (reported, never changed)',
    'latencyEvents[]': 'LATENCY LATEST rows (LATENCY HISTORY of each, within windowSec, is in evidence)',
    'latencyEvents[].event': 'event name (command, fast-command, fork, expire-cycle, eviction-cycle, aof-*, …)',
    'latencyEvents[].ts': 'unix seconds of the latest spike',
    'latencyEvents[].latestMs': 'the latest spike (ms)',
    'latencyEvents[].maxMs': 'the worst spike recorded (ms)',
    doctor: 'LATENCY DOCTOR, read',
    'doctor.disabled': 'the doctor refuses: monitoring off and nothing recorded',
    'doctor.noSpikes': 'monitoring on, no spike ever seen',
    'doctor.events[]': 'the doctor\'s numbered events',
    'doctor.events[].event': 'event name',
    'doctor.events[].spikes': 'spikes recorded',
    'doctor.events[].avgMs': 'average spike (ms)',
    'doctor.events[].worstMs': 'worst spike ever (ms)',
    'doctor.thp': 'the doctor talks about huge pages',
    'doctor.fork': 'a fork event is among its spikes',
    thp: 'LATENCY DOCTOR mentions huge pages (transparent huge pages in use)',
    latestForkUsec: 'latest_fork_usec (µs)',
    bgsaveInProgress: 'rdb_bgsave_in_progress is 1',
    aofRewriteInProgress: 'aof_rewrite_in_progress is 1',
    'blockedClients[]': 'clients with flag b (in a blocking command), fields as offender.*',
    'blockedClients[].*': 'as offender.*',
    'bigBuffers[]': 'clients whose output buffer is at least bigOmem bytes (at most 10), fields as offender.*',
    'bigBuffers[].*': 'as offender.*',
    expiredDelta: 'keys expired between the two reads',
    evictedDelta: 'keys evicted between the two reads',
    expireCapDelta: 'expired_time_cap_reached_count between the reads (active expiry hit its time limit)',
    gapMs: 'time between the two reads (ms)',
    windowSec: 'the window of slow entries considered (s)',
  },
  async run(inp, ctx) {
    const node = nodeKey(ctx.node);
    const unavailable: string[] = [];
    const a = await readCounters(ctx, unavailable);
    if (inp.gapMs > 0) await sleep(inp.gapMs, undefined, { signal: ctx.signal }).catch(() => undefined);
    const b = await readCounters(ctx, []);
    const opt = (argv: string[]): Promise<unknown> => optionalCommand(ctx, ctx.node, argv, unavailable);
    const entries = parseSlowlog(await opt(['SLOWLOG', 'GET', String(inp.entries)]));
    const lenReply = await opt(['SLOWLOG', 'LEN']);
    const slowlogLen = lenReply === undefined ? 0 : Number(replyText(lenReply));
    const cfg = configPairs(await opt(['CONFIG', 'GET', 'latency-monitor-threshold', 'slowlog-log-slower-than']));
    const latencyEvents = parseLatencyLatest(await opt(['LATENCY', 'LATEST']));
    const doctorReply = await opt(['LATENCY', 'DOCTOR']);
    const doctor = parseLatencyDoctor(doctorReply === undefined ? '' : replyText(doctorReply));
    const clientsReply = await opt(['CLIENT', 'LIST']);
    const clients = parseClientList(clientsReply === undefined ? '' : replyText(clientsReply));

    const serverUsec = num(b.info['server'], 'server_time_usec');
    const now = serverUsec > 0 ? Math.floor(serverUsec / 1e6) : Math.floor(ctx.now() / 1000);
    const own = new Set(inp.ownNames);
    const inGap = entries.filter((e) => e.id > a.lastId && e.id <= Math.max(b.lastId, a.lastId) && e.durationUs >= inp.minUs && !own.has(e.name));
    const groups = groupSlow(entries, now, inp.windowSec, inp.ownNames);
    const recentSlow = groups.reduce((s, g) => s + g.count, 0);
    const byAddr = new Map(clients.map((c) => [c.addr, c]));
    const g0 = groups[0];
    const topClient = g0 ? byAddr.get(g0.addr) : undefined;
    const top = g0 ? { ...g0, client: topClient ? brief(topClient) : null } : null;

    const pa = b.info['persistence'];
    const latestForkUsec = num(b.info['stats'], 'latest_fork_usec');
    const delta = (k: string): number => Math.max(0, num(b.info['stats'], k) - num(a.info['stats'], k));
    const expiredDelta = delta('expired_keys');
    const evictedDelta = delta('evicted_keys');
    const expireCapDelta = delta('expired_time_cap_reached_count');
    const commands = topCommands(parseCommandstats(a.info['commandstats']), parseCommandstats(b.info['commandstats']), inp.gapMs);
    const thresholdText = cfg['latency-monitor-threshold'];
    const threshold = thresholdText === undefined ? null : Number(thresholdText);
    const recentEvent = (prefix: string): LatencyEvent | undefined => latencyEvents.find((e) => e.event.startsWith(prefix) && e.ts >= now - inp.windowSec);
    const forkEvent = recentEvent('fork');

    const dominant = g0 !== undefined && g0.share >= 0.5 && g0.maxUs >= inp.minUs;
    const cause: LatencyViewResult['cause'] = dominant
      ? 'slow-command'
      : latestForkUsec > inp.forkUs || (forkEvent !== undefined && forkEvent.maxMs * 1000 > inp.forkUs)
        ? 'fork'
        : recentEvent('expire-cycle') || expireCapDelta > 0
          ? 'expire-cycle'
          : recentEvent('eviction') || (evictedDelta > 0 && num(b.info['stats'], 'current_eviction_exceeded_time') > 0)
            ? 'eviction'
            : groups.length > 0
              ? 'slow-commands-spread'
              : 'none';
    const killable = topClient && (topClient.kind === 'normal' || topClient.kind === 'pubsub') && !own.has(topClient.name);
    const offender = cause === 'slow-command' && killable && topClient ? brief(topClient) : null;

    const blockedClients = clients.filter((c) => c.flags.includes('b')).map(brief);
    const bigBuffers = clients.filter((c) => c.omem >= inp.bigOmem).sort((x, y) => y.omem - x.omem).slice(0, 10).map(brief);
    const evidence: string[] = [];
    if (threshold === 0) evidence.push('latency-monitor-threshold is 0: no new LATENCY events are recorded (monitoring off; not changed — CONFIG SET latency-monitor-threshold 100 turns it on)');
    for (const e of latencyEvents.slice(0, 5)) {
      const h = parseLatencyHistory(await opt(['LATENCY', 'HISTORY', e.event])).filter((x) => x.ts >= now - inp.windowSec);
      const hist = h.length > 0 ? `; LATENCY HISTORY: ${h.length} spike(s) in ${inp.windowSec} s, worst ${Math.max(...h.map((x) => x.ms))} ms` : `; none in the last ${inp.windowSec} s`;
      evidence.push(`LATENCY LATEST ${e.event}: latest ${e.latestMs} ms ${now - e.ts} s ago, worst ${e.maxMs} ms${hist}`);
    }
    const busy = commands.filter((c) => c.busyShare >= 0.01).slice(0, 3);
    if (busy.length > 0) evidence.push(`busiest commands in ${inp.gapMs} ms: ${busy.map((c) => `${c.command} ${c.calls} calls, ${fmtUs(c.usecPerCall)}/call (${Math.round(c.busyShare * 100)}% busy)`).join('; ')}`);
    if (latestForkUsec > 0) evidence.push(`last fork took ${fmtUs(latestForkUsec)}${num(pa, 'rdb_bgsave_in_progress') === 1 ? '; a BGSAVE is running' : ''}${num(pa, 'aof_rewrite_in_progress') === 1 ? '; an AOF rewrite is running' : ''}`);
    if (blockedClients.length > 0) evidence.push(`${blockedClients.length} blocked client(s) (flag b): ${blockedClients.slice(0, 5).map((c) => `id=${c.id} ${c.addr}${c.name ? ` name=${c.name}` : ''} cmd=${c.cmd} idle=${c.idle}s`).join(', ')} — waiting, not slowing the server`);
    if (bigBuffers.length > 0) evidence.push(`big output buffers: ${bigBuffers.slice(0, 5).map((c) => `id=${c.id} ${c.addr}${c.name ? ` name=${c.name}` : ''} omem=${fmtBytes(c.omem)}`).join(', ')}`);
    if (expiredDelta > 0 || evictedDelta > 0) evidence.push(`in ${inp.gapMs} ms: ${expiredDelta} keys expired, ${evictedDelta} evicted${expireCapDelta > 0 ? `, active expiry hit its time cap ${expireCapDelta} times` : ''}`);
    if (unavailable.length > 0) evidence.push(`not readable here: ${unavailable.join('; ')} — the diagnosis uses the rest`);
    if (doctor.thp) evidence.push('LATENCY DOCTOR reports transparent huge pages in use: disable THP on the host (echo never > /sys/kernel/mm/transparent_hugepage/enabled)');

    const who = topClient ? `client id=${topClient.id} still connected (cmd=${topClient.cmd}, age ${topClient.age} s, idle ${topClient.idle} s)` : 'that client is no longer connected';
    const summary =
      cause === 'slow-command' && g0
        ? `likely cause: ${describeGroup(g0, inp.windowSec)}; ${who}`
        : cause === 'slow-commands-spread' && g0
          ? `slow commands from ${new Set(groups.map((g) => g.addr)).size} clients, none dominant (worst: ${describeGroup(g0, inp.windowSec)}): the application's command mix`
          : cause === 'fork'
            ? `likely cause: fork for persistence — last fork ${fmtUs(latestForkUsec)}${forkEvent ? `, LATENCY fork worst ${forkEvent.maxMs} ms` : ''}`
            : cause === 'expire-cycle'
              ? `likely cause: active expiry — ${expiredDelta} keys expired in ${inp.gapMs} ms, time cap reached ${expireCapDelta} times`
              : cause === 'eviction'
                ? `likely cause: eviction — ${evictedDelta} keys evicted in ${inp.gapMs} ms`
                : `no slow command in the last ${inp.windowSec} s on ${node}`;
    return {
      node,
      cause,
      summary,
      evidence,
      details: evidence.join('; '),
      slowlogLen: Number.isFinite(slowlogLen) ? slowlogLen : 0,
      slowlogThresholdUs: cfg['slowlog-log-slower-than'] === undefined ? null : Number(cfg['slowlog-log-slower-than']),
      recentSlow,
      slowInGap: inGap.length,
      slowInGapMaxUs: inGap.reduce((m, e) => Math.max(m, e.durationUs), 0),
      groups: groups.slice(0, 5),
      top,
      offender,
      offenderIds: offender ? [offender.id] : [],
      commands,
      monitorThresholdMs: threshold,
      monitorOff: threshold === 0,
      unavailable,
      latencyEvents,
      doctor,
      thp: doctor.thp,
      latestForkUsec,
      bgsaveInProgress: num(pa, 'rdb_bgsave_in_progress') === 1,
      aofRewriteInProgress: num(pa, 'aof_rewrite_in_progress') === 1,
      blockedClients,
      bigBuffers,
      expiredDelta,
      evictedDelta,
      expireCapDelta,
      gapMs: inp.gapMs,
      windowSec: inp.windowSec,
    };
  },
};
