/**
 * `redis.acl-log`: who fails to authenticate or is refused, from where, since when. ACL LOG grouped
 * by (reason, username, client IP), read twice `intervalMs` apart (which groups still grow); `INFO
 * errorstats` WRONGPASS/NOAUTH/NOPERM read at the same two moments (counts and rates); an ACL LIST summary (users, enabled, how many passwords,
 * nopass — never the hashes); and the clients connected without authenticating (CLIENT LIST,
 * when the default user is off). Read-only.
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { errorCount } from './info.js';
import { aclLogGrowth, commandCategories, groupAclLog, parseAclList, parseAclLog, unauthenticatedClients } from './acl-parse.js';
import type { AclLogGroup, AclLogGrowth, AclUserSummary, UnauthenticatedClient } from './acl-parse.js';
import { readInfo, replyText, sendCommand } from './connection.js';

const input = z
  .object({
    /** ACL LOG entries to read (newest first). */
    count: z.number().int().min(1).max(1000).default(50),
    /** Time between the two errorstats reads (rates). */
    intervalMs: z.number().int().min(0).max(10_000).default(1000),
    /** Only entries of this user (optional). */
    user: z.string().min(1).optional(),
  })
  .strict();

export type AclLogInput = z.infer<typeof input>;

/** Error counters of INFO errorstats that concern auth, with their growth between two reads. */
export interface AuthErrorStats {
  wrongpass: number;
  noauth: number;
  noperm: number;
  /** Growth per second between the two reads. */
  wrongpassPerSec: number;
  noauthPerSec: number;
  nopermPerSec: number;
  /** Milliseconds between the two reads. */
  intervalMs: number;
}

export interface AclLogResult {
  node: string;
  /** Failed authentications grouped by user and client IP, most first. */
  authFailures: AclLogGroup[];
  /** Refused commands, keys or channels grouped by user and client IP (NOPERM), with the user's command rules and the refused commands' ACL categories. */
  permissionDenials: Array<AclLogGroup & { userRules: string[]; categories: string[] }>;
  /** Users with failed authentications in the log (distinct), the most recently failing first. */
  failingUsers: string[];
  /** Client addresses (`ip:port`) behind the auth failures. */
  failingAddrs: string[];
  /** Auth failures in the log (sum of counts), and the newest one's age (s; null when none). */
  authFailureCount: number;
  lastAuthFailureAgeSeconds: number | null;
  errorstats: AuthErrorStats;
  /** Auth failure groups (user, client IP) that grew between two ACL LOG reads `intervalMs` apart: still failing now. */
  authGrowing: AclLogGrowth[];
  /** Users in `authGrowing`. */
  authGrowingUsers: string[];
  /** NOPERM groups that grew between the two reads. */
  deniedGrowing: AclLogGrowth[];
  users: AclUserSummary[];
  /** Clients connected without authenticating (as `default` while default is off). */
  unauthenticated: UnauthenticatedClient[];
  /** Entries read from ACL LOG. */
  entriesRead: number;
}

/** Growth per second, never negative (a CONFIG RESETSTAT between reads counts as 0). */
function rate(a: number, b: number, ms: number): number {
  if (ms <= 0) return 0;
  return Math.round((Math.max(0, b - a) / (ms / 1000)) * 1000) / 1000;
}

export const aclLog: ActionDefinition<AclLogInput, AclLogResult> = {
  name: 'redis.acl-log',
  description: 'Failed authentications and refused commands from ACL LOG, grouped by user and client address; auth error counters and their rate; ACL users (no hashes); unauthenticated clients.',
  risk: 'read',
  input,
  timeoutMs: 15_000,
  output: {
    node: 'the node read (host:port)',
    'authFailures[]': 'failed AUTH/HELLO grouped by { reason, username, ip, addrs[], count, entries, firstSeenAgeSeconds, lastSeenAgeSeconds, objects[], clientNames[] }',
    'permissionDenials[]': 'NOPERM groups (reason command|key|channel) like authFailures, plus userRules[] (the user\'s command rules) and categories[] (ACL categories of the refused commands, COMMAND INFO)',
    'failingUsers[]': 'distinct users with failed authentications, the most recently failing first',
    'failingAddrs[]': 'client addresses (ip:port) with failed authentications',
    authFailureCount: 'failed authentications in the log (sum of counts)',
    lastAuthFailureAgeSeconds: 'age of the newest auth failure in seconds (null when none)',
    'errorstats.wrongpass': 'errorstat_WRONGPASS count (second read)',
    'errorstats.noauth': 'errorstat_NOAUTH count',
    'errorstats.noperm': 'errorstat_NOPERM count',
    'errorstats.wrongpassPerSec': 'WRONGPASS growth per second between the two reads',
    'errorstats.noauthPerSec': 'NOAUTH growth per second',
    'errorstats.nopermPerSec': 'NOPERM growth per second',
    'errorstats.intervalMs': 'time between the two reads (ms)',
    'authGrowing[]': '{ reason, username, ip, addrs[], newFailures }: auth failure groups that grew between two ACL LOG reads intervalMs apart (still failing now)',
    'authGrowingUsers[]': 'users in authGrowing',
    'deniedGrowing[]': 'NOPERM groups that grew between the two reads',
    'users[]': '{ name, enabled, passwords (count; 2 during a rotation), nopass, commandRules[], keyPatterns[] } — never the hashes',
    'unauthenticated[]': '{ addr, name, cmd, ageSeconds, idleSeconds } clients running as the disabled default user (never authenticated)',
    entriesRead: 'ACL LOG entries read',
  },
  async run(inp, ctx) {
    const node = ctx.node;
    const t0 = ctx.now();
    const first = await readInfo(ctx, node, 'errorstats');
    const [logReply, listReply, clientsReply] = await Promise.all([
      sendCommand(ctx, node, ['ACL', 'LOG', String(inp.count)]),
      sendCommand(ctx, node, ['ACL', 'LIST']),
      sendCommand(ctx, node, ['CLIENT', 'LIST']),
    ]);
    const elapsed = ctx.now() - t0;
    if (inp.intervalMs > elapsed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, inp.intervalMs - elapsed);
        ctx.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
    const [second, logAfter] = await Promise.all([readInfo(ctx, node, 'errorstats'), inp.intervalMs > 0 ? sendCommand(ctx, node, ['ACL', 'LOG', String(inp.count)]) : Promise.resolve(logReply)]);
    const intervalMs = Math.max(0, ctx.now() - t0);

    const users = parseAclList(listReply);
    const mine = (reply: unknown) => parseAclLog(reply).filter((e) => inp.user === undefined || e.username === inp.user);
    const before = groupAclLog(mine(logReply));
    const entries = mine(logAfter);
    const groups = groupAclLog(entries);
    const grown = aclLogGrowth(before, groups);
    const auth = groups.filter((g) => g.reason === 'auth');
    // The ACL categories of the refused commands (COMMAND INFO), so the report can say which rule is missing.
    const refused = [...new Set(groups.filter((g) => g.reason === 'command').flatMap((g) => g.objects))].slice(0, 50);
    const cats = refused.length > 0 ? commandCategories(await sendCommand(ctx, node, ['COMMAND', 'INFO', ...refused]).catch(() => [])) : {};
    const denials = groups
      .filter((g) => g.reason !== 'auth')
      .map((g) => ({ ...g, userRules: users.find((u) => u.name === g.username)?.commandRules ?? [], categories: [...new Set(g.reason === 'command' ? g.objects.flatMap((o) => cats[o.toLowerCase()] ?? []) : [])] }));
    const e1 = first['errorstats'];
    const e2 = second['errorstats'];
    const stats: AuthErrorStats = {
      wrongpass: errorCount(e2, 'WRONGPASS'),
      noauth: errorCount(e2, 'NOAUTH'),
      noperm: errorCount(e2, 'NOPERM'),
      wrongpassPerSec: rate(errorCount(e1, 'WRONGPASS'), errorCount(e2, 'WRONGPASS'), intervalMs),
      noauthPerSec: rate(errorCount(e1, 'NOAUTH'), errorCount(e2, 'NOAUTH'), intervalMs),
      nopermPerSec: rate(errorCount(e1, 'NOPERM'), errorCount(e2, 'NOPERM'), intervalMs),
      intervalMs,
    };
    return {
      node: `${node.host}:${node.port}`,
      authFailures: auth,
      permissionDenials: denials,
      failingUsers: [...new Set([...auth].sort((a, b) => a.lastSeenAgeSeconds - b.lastSeenAgeSeconds).map((g) => g.username))],
      failingAddrs: [...new Set(auth.flatMap((g) => g.addrs))],
      authFailureCount: auth.reduce((s, g) => s + g.count, 0),
      lastAuthFailureAgeSeconds: auth.length > 0 ? Math.min(...auth.map((g) => g.lastSeenAgeSeconds)) : null,
      errorstats: stats,
      authGrowing: grown.filter((g) => g.reason === 'auth'),
      authGrowingUsers: [...new Set(grown.filter((g) => g.reason === 'auth').map((g) => g.username))],
      deniedGrowing: grown.filter((g) => g.reason !== 'auth'),
      users,
      unauthenticated: unauthenticatedClients(replyText(clientsReply), users),
      entriesRead: entries.length,
    };
  },
};
