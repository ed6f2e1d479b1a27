/**
 * Security hygiene checks: ACL users (without password, `default` enabled without one, `+@all`)
 * and dangerous commands (FLUSHALL, FLUSHDB, CONFIG, DEBUG, KEYS) neither renamed nor denied.
 * Password hashes from ACL LIST are counted, never copied into findings.
 */
import { z } from 'zod';
import { parseAclList } from '../../actions/redis/acl-parse.js';
import type { AclUserSummary } from '../../actions/redis/acl-parse.js';
import { configReplyToRecord } from '../../actions/redis/config-get.js';
import { replyText } from '../../actions/redis/connection.js';
import { nodeKey } from '../../actions/types.js';
import type { CheckContext, CheckDefinition, FindingDraft, Severity } from './types.js';

const sev = z.enum(['info', 'warning', 'critical']);

async function aclUsers(ctx: CheckContext<unknown>): Promise<Map<string, { users: AclUserSummary[]; node: string }>> {
  const out = new Map<string, { users: AclUserSummary[]; node: string }>();
  for (const node of ctx.nodes) out.set(nodeKey(node), { node: nodeKey(node), users: parseAclList(await ctx.command(node, ['ACL', 'LIST'])) });
  return out;
}

/** One finding per (problem, user), naming every node where it holds. */
function fold(items: Array<{ key: string; node: string; severity: Severity; summary: (nodes: string[]) => string; data: Record<string, unknown> }>): FindingDraft[] {
  const by = new Map<string, { nodes: string[]; item: (typeof items)[number] }>();
  for (const it of items) {
    const e = by.get(it.key);
    if (e) e.nodes.push(it.node);
    else by.set(it.key, { nodes: [it.node], item: it });
  }
  return [...by.values()].map(({ nodes, item }) => ({ severity: item.severity, key: item.key, ...(nodes.length === 1 && nodes[0] ? { node: nodes[0] } : {}), summary: item.summary(nodes), data: { ...item.data, nodes } }));
}

const aclParams = z
  .object({
    defaultNopass: sev.default('critical'),
    userNopass: sev.default('warning'),
    allCommands: sev.default('warning'),
  })
  .strict();

const allCommands = (u: AclUserSummary): boolean => u.commandRules.includes('+@all') || u.commandRules.includes('allcommands');

export const aclCheck: CheckDefinition<z.infer<typeof aclParams>> = {
  type: 'acl',
  description: 'ACL users: enabled without a password (default nopass above all), and users allowed every command (+@all).',
  params: aclParams,
  async run(ctx) {
    const items: Parameters<typeof fold>[0] = [];
    for (const { node, users } of (await aclUsers(ctx)).values()) {
      for (const u of users.filter((x) => x.enabled)) {
        const data = { user: u.name, passwords: u.passwords, nopass: u.nopass, commandRules: u.commandRules, keyPatterns: u.keyPatterns };
        if (u.nopass || u.passwords === 0) {
          const isDefault = u.name === 'default';
          items.push({
            key: `nopass:${u.name}`,
            node,
            severity: isDefault ? ctx.params.defaultNopass : ctx.params.userNopass,
            summary: (nodes) => `ACL user '${u.name}' is enabled ${u.nopass ? 'with nopass' : 'with no password'}${isDefault ? ' (every unauthenticated client runs as it)' : ''}, ${allCommands(u) ? 'allowed every command (+@all)' : `commands ${u.commandRules.join(' ') || 'none'}`}, on ${nodes.join(', ')}`,
            data,
          });
        }
        if (allCommands(u)) {
          items.push({ key: `all-commands:${u.name}`, node, severity: ctx.params.allCommands, summary: (nodes) => `ACL user '${u.name}' may run every command (+@all, incl. FLUSHALL, CONFIG, DEBUG) on ${nodes.join(', ')}`, data });
        }
      }
    }
    return { findings: fold(items) };
  },
};

/** A harmless argv per dangerous command, for ACL DRYRUN (nothing is executed). */
const PROBES: Record<string, string[]> = {
  FLUSHALL: ['FLUSHALL'],
  FLUSHDB: ['FLUSHDB'],
  CONFIG: ['CONFIG', 'SET', 'maxmemory', '0'],
  DEBUG: ['DEBUG', 'SLEEP', '0'],
  KEYS: ['KEYS', '*'],
  SHUTDOWN: ['SHUTDOWN'],
  MONITOR: ['MONITOR'],
};

const dangerParams = z
  .object({
    commands: z.array(z.enum(Object.keys(PROBES) as [string, ...string[]])).min(1).default(['FLUSHALL', 'FLUSHDB', 'CONFIG', 'DEBUG', 'KEYS']),
    severity: sev.default('warning'),
    /** Users exempt (e.g. the admin account operators use). */
    allowUsers: z.array(z.string()).default([]),
  })
  .strict();

export const dangerousCommands: CheckDefinition<z.infer<typeof dangerParams>> = {
  type: 'dangerous-commands',
  description: 'Dangerous commands (FLUSHALL, FLUSHDB, CONFIG, DEBUG, KEYS) still callable: not renamed away (COMMAND INFO) and allowed by ACL (ACL DRYRUN per enabled user).',
  params: dangerParams,
  async run(ctx) {
    const items: Parameters<typeof fold>[0] = [];
    const byNode = await aclUsers(ctx);
    for (const node of ctx.nodes) {
      const n = nodeKey(node);
      const users = (byNode.get(n)?.users ?? []).filter((u) => u.enabled && !ctx.params.allowUsers.includes(u.name));
      const info = await ctx.command(node, ['COMMAND', 'INFO', ...ctx.params.commands]);
      const debugCfg = configReplyToRecord(await ctx.command(node, ['CONFIG', 'GET', 'enable-debug-command']))['enable-debug-command'] ?? 'no';
      for (const [i, cmd] of ctx.params.commands.entries()) {
        const present = Array.isArray(info) && info[i] !== null && info[i] !== undefined;
        if (!present) continue; // renamed away (rename-command) or absent
        if (cmd === 'DEBUG' && debugCfg === 'no') continue; // refused by enable-debug-command
        const allowed: string[] = [];
        for (const u of users) {
          const reply = await ctx.command(node, ['ACL', 'DRYRUN', u.name, ...(PROBES[cmd] ?? [cmd])]).catch((e: unknown) => (e as Error).message);
          if (replyText(reply) === 'OK') allowed.push(u.name);
        }
        if (allowed.length === 0) continue;
        const nopass = users.filter((u) => allowed.includes(u.name) && (u.nopass || u.passwords === 0)).map((u) => u.name);
        items.push({
          key: `command:${cmd}`,
          node: n,
          severity: ctx.params.severity,
          summary: (nodes) => `${cmd} is neither renamed nor denied on ${nodes.join(', ')}: allowed for ${allowed.map((u) => `'${u}'`).join(', ')}${nopass.length > 0 ? ` (without password: ${nopass.join(', ')})` : ''}${cmd === 'DEBUG' ? ` (enable-debug-command ${debugCfg})` : ''}`,
          data: { command: cmd, users: allowed, usersWithoutPassword: nopass, ...(cmd === 'DEBUG' ? { enableDebugCommand: debugCfg } : {}) },
        });
      }
    }
    return { findings: fold(items) };
  },
};
