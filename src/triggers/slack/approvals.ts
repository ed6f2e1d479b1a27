/**
 * Approve / Reject clicks. The click is acknowledged at once; then the clicker's identity (user +
 * approver user groups) goes to the engine, which checks roles, distinct approvers and the proposal
 * key the button carried (a click on an outdated message is `stale`) and records refused attempts
 * on the timeline. A refusal is explained to the clicker only (chat.postEphemeral). The message
 * itself is redrawn by the notifier from the timeline.
 */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { Logger } from 'pino';
import type { DecisionResult, EnginePort } from '../../engine/types.js';
import { APPROVE_ACTION, REJECT_ACTION, decodeButtonValue } from './action-ids.js';
import type { SlackIdentities, SlackIdentity } from './identity.js';

export interface ApprovalDeps {
  engine: Pick<EnginePort, 'approve' | 'reject'>;
  identities: SlackIdentities;
  log: Logger;
}

/** What the clicker is told, or undefined when the click simply worked. */
export function decisionReply(r: DecisionResult, grant: boolean, incidentId: string, who: SlackIdentity): string | undefined {
  const verb = grant ? 'approve' : 'reject';
  if (r.ok) {
    if (grant && r.state === 'awaiting_approval') return `:white_check_mark: Your approval of incident \`${incidentId}\` is recorded; another distinct approver is still needed.`;
    return undefined;
  }
  switch (r.code) {
    case 'forbidden':
      return `:no_entry: You may not ${verb} this on incident \`${incidentId}\`: it needs ${/role (\S+)/.exec(r.message)?.[1] ?? 'a higher role'}, and your Slack identity${who.also.length ? ' and user groups' : ''} map to ${who.roles.join(', ') || 'no role'}${who.groupsUnknown ? ' (your user groups could not be read from Slack just now)' : ''}. The attempt is recorded on the incident timeline.`;
    case 'duplicate_approver':
      return `:repeat: You already approved this on incident \`${incidentId}\`; it needs another, distinct approver. Nothing changed.`;
    case 'stale':
      return `:hourglass: That approval request is outdated: ${r.message}. Nothing changed.`;
    case 'not_awaiting_approval':
      return `:hourglass: Nothing awaits approval on incident \`${incidentId}\` any more (it is ${/ is (\w+);/.exec(r.message)?.[1] ?? 'past that step'}). Nothing changed.`;
    case 'not_found':
      return `:grey_question: There is no incident \`${incidentId}\`.`;
    case 'option_required':
    case 'option_invalid':
      return `:grey_question: ${r.message}. Nothing changed.`;
  }
}

export function registerApprovals(app: App, d: ApprovalDeps): void {
  for (const [actionId, grant] of [[APPROVE_ACTION, true], [REJECT_ACTION, false]] as const) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client, respond }) => {
      await ack();
      const user = body.user.id;
      const tell = async (text: string): Promise<void> => {
        try {
          if (body.channel?.id) await client.chat.postEphemeral({ channel: body.channel.id, user, text });
          else await respond({ response_type: 'ephemeral', replace_original: false, text });
        } catch (e) {
          d.log.warn({ user, err: (e as Error).message }, 'could not tell a slack user about their click');
        }
      };
      const v = decodeButtonValue(action.value);
      if (!v) {
        await tell(':grey_question: This button is not one of ours, or it is damaged. Nothing changed.');
        return;
      }
      const who = await d.identities.resolve(user);
      let r: DecisionResult;
      try {
        r = grant
          ? await d.engine.approve(v.incidentId, who.by, 'slack', { key: v.key, also: who.also, ...(v.option !== undefined ? { option: v.option } : {}) })
          : await d.engine.reject(v.incidentId, who.by, 'slack', 'rejected in Slack', { key: v.key, also: who.also });
      } catch (e) {
        d.log.error({ incident: v.incidentId, err: (e as Error).message }, 'slack decision failed');
        await tell(':warning: The engine could not record that just now (its store is unreachable). Try again, or use the CLI / HTTP API.');
        return;
      }
      d.log.info({ incident: v.incidentId, key: v.key, by: who.by, grant, ok: r.ok, code: r.ok ? undefined : r.code }, 'slack decision');
      const text = decisionReply(r, grant, v.incidentId, who);
      if (text) await tell(text);
    });
  }
}
