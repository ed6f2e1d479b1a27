/**
 * `/redis` chat-ops. Every command is checked against the caller's roles (Slack user + approver
 * user groups → config `approvers`); unknown targets and runbooks get an error listing the valid
 * names. The answer goes into the ack when it is ready within the ack budget, otherwise a
 * "working" ack is sent and the answer follows through `response_url`.
 */
import { mayApprove } from '../../engine/roles.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { App } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Role } from '../../config-types.js';
import type { EnginePort } from '../../engine/types.js';
import { COMMANDS, helpText, incidentsText, list, statusText, timelineText } from './command-replies.js';
import { esc } from './format.js';
import type { SlackIdentities } from './identity.js';

/** Slack wants the ack within 3 s; keep a margin for the network. */
export const ACK_BUDGET_MS = 2000;

export interface CommandReply {
  response_type: 'ephemeral' | 'in_channel';
  text: string;
}

export interface CommandDeps {
  engine: EnginePort;
  identities: SlackIdentities;
  /** Links to the root messages of these incidents (those that have one). */
  links(ids: string[]): Promise<Map<string, string>>;
  channelFor(target: string): string;
  log: Logger;
}

const reply = (text: string): CommandReply => ({ response_type: 'ephemeral', text });
const allows = (roles: Role[], need: Role): boolean => mayApprove(roles, need);

/** Answer one `/redis <text>` from `userId`. */
export async function runCommand(text: string, userId: string, d: CommandDeps): Promise<CommandReply> {
  const [sub = 'help', ...args] = text.trim().split(/\s+/).filter(Boolean);
  const who = await d.identities.resolve(userId);
  const names = d.engine.names();
  const spec = COMMANDS.find((c) => c.name === sub.toLowerCase());
  if (!spec) return reply(`:grey_question: Unknown command \`${esc(sub.slice(0, 40))}\`.\n${helpText(who.roles, names)}`);
  if (spec.role && !allows(who.roles, spec.role)) {
    return reply(`:no_entry: \`/redis ${spec.name}\` needs ${spec.role}; your roles: ${who.roles.join(', ') || 'none'}.`);
  }
  const usage = (): CommandReply => reply(`:grey_question: Usage: \`/redis ${spec.usage}\``);
  const badTarget = (t: string): CommandReply | undefined => (names.targets.includes(t) ? undefined : reply(`:grey_question: Unknown target \`${esc(t.slice(0, 60))}\`. Targets: ${list(names.targets)}`));
  const badRunbook = (r: string): CommandReply | undefined => (names.runbooks.includes(r) ? undefined : reply(`:grey_question: Unknown runbook \`${esc(r.slice(0, 60))}\`. Runbooks: ${list(names.runbooks)}`));
  switch (spec.name) {
    case 'help':
      return reply(helpText(who.roles, names));
    case 'status': {
      const [target] = args;
      if (!target) return usage();
      const status = await d.engine.targetStatus(target);
      return status ? reply(statusText(status)) : (badTarget(target) ?? usage());
    }
    case 'incidents': {
      const open = await d.engine.listIncidents({ open: true, limit: 30 });
      return reply(incidentsText(open, await d.links(open.map((i) => i.id))));
    }
    case 'timeline': {
      const [id] = args;
      if (!id) return usage();
      const tl = /^[\w.:-]{1,128}$/.test(id) ? await d.engine.getTimeline(id) : undefined;
      if (!tl) {
        const open = await d.engine.listIncidents({ open: true, limit: 10 });
        return reply(`:grey_question: No incident \`${esc(id.slice(0, 60))}\`. Open incidents: ${list(open.map((i) => i.id))}`);
      }
      return reply(timelineText(id, tl, (await d.links([id])).get(id)));
    }
    case 'diagnose': {
      const [target, runbook] = args;
      if (!target || args.length > 2) return usage();
      const bad = badTarget(target) ?? (runbook ? badRunbook(runbook) : undefined);
      if (bad) return bad;
      const rb = runbook ?? (names.runbooks.length === 1 ? names.runbooks[0] : undefined);
      if (!rb) return reply(`:grey_question: Which runbook? \`/redis diagnose ${target} <runbook>\`. Runbooks: ${list(names.runbooks)}`);
      const { incidentId } = await d.engine.run(rb, target, { dryRun: true, by: who.by, via: 'slack' });
      return reply(`:mag: Diagnosing \`${target}\` with ${rb}: incident \`${incidentId}\` (dry run: nothing will change). Findings follow in its thread in <#${d.channelFor(target)}>.`);
    }
    case 'dry-run':
    case 'run': {
      const [runbook, target] = args;
      if (!runbook || !target || args.length > 2) return usage();
      const bad = badRunbook(runbook) ?? badTarget(target);
      if (bad) return bad;
      const dryRun = spec.name === 'dry-run';
      const { incidentId } = await d.engine.run(runbook, target, { dryRun, by: who.by, via: 'slack' });
      return reply(
        dryRun
          ? `:test_tube: Dry run of ${runbook} on \`${target}\`: incident \`${incidentId}\`. The exact commands it would send follow in its thread in <#${d.channelFor(target)}>; nothing will change.`
          : `:rocket: Opened incident \`${incidentId}\`: ${runbook} on \`${target}\`. Follow it in <#${d.channelFor(target)}>; any fix still waits for approval.`,
      );
    }
    default:
      return usage();
  }
}

export function registerCommands(app: App, d: CommandDeps): void {
  app.command('/redis', async ({ command, ack, respond }) => {
    const work = runCommand(command.text ?? '', command.user_id, d).catch((e: unknown): CommandReply => {
      d.log.error({ user: command.user_id, err: (e as Error).message }, '/redis failed');
      return reply(`:warning: That did not work: ${(e as Error).message.slice(0, 300)}`);
    });
    const quick = await Promise.race([work, sleep(ACK_BUDGET_MS).then(() => undefined)]);
    if (quick) {
      await ack(quick);
      return;
    }
    await ack(reply(':hourglass_flowing_sand: Working on it…'));
    try {
      await respond({ ...(await work), replace_original: true });
    } catch (e) {
      d.log.warn({ user: command.user_id, err: (e as Error).message }, 'could not answer /redis through response_url');
    }
  });
}
