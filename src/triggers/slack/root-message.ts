/**
 * The incident's root message (Block Kit), a pure function of the incident and its timeline:
 * state (emoji + attachment colour), severity, target, runbook, the alert, key findings; while it
 * awaits approval, the proposal (what runs where, exact commands, risk, evidence, who may approve)
 * with Approve / Reject buttons; after a decision, who decided and when, instead of the buttons.
 */
import { approversFor } from '../../engine/roles.js';
import type { types } from '@slack/bolt';
import type { Approver } from '../../config-types.js';
import { formatPlanned } from '../../actions/command-format.js';
import { FINAL_STATES } from '../../engine/types.js';
import type { IncidentDetail, IncidentSummary, TimelineEntry } from '../../engine/types.js';
import { APPROVE_ACTION, REJECT_ACTION, encodeButtonValue } from './action-ids.js';
import { STATE_STYLE, clip, compact, esc, utc, who } from './format.js';

type Block = types.KnownBlock;
type Pending = NonNullable<IncidentSummary['pendingApproval']>;

export interface SlackMessage {
  text: string;
  blocks: Block[];
  attachments: types.MessageAttachment[];
}

const md = (text: string): types.MrkdwnElement => ({ type: 'mrkdwn', text: clip(text, 2900) });
const section = (text: string): Block => ({ type: 'section', text: md(text) });
const context = (text: string): Block => ({ type: 'context', elements: [md(text)] });
const plain = (text: string): types.PlainTextElement => ({ type: 'plain_text', text: clip(text, 75) });

/** Style of the incident's current state; a cancellation because the alert resolved is green. */
export function stateStyle(inc: IncidentSummary, tl: TimelineEntry[]): { emoji: string; label: string; color: string } {
  if (inc.state === 'cancelled' && tl.some((e) => e.kind === 'alert.resolved')) {
    return { emoji: ':large_green_circle:', label: 'Alert resolved (approval cancelled)', color: '#2EB67D' };
  }
  return STATE_STYLE[inc.state];
}

/** `approvers` (config) name who may approve a proposal, as the engine decides it: a role at least the one required. */
export function renderRoot(inc: IncidentDetail, tl: TimelineEntry[], approvers: readonly Approver[] = []): SlackMessage {
  const style = stateStyle(inc, tl);
  const title = esc(clip(inc.title, 150));
  const blocks: Block[] = [
    section(`${style.emoji} *${style.label}* · ${title}${inc.dryRun ? ' _(dry run)_' : ''}`),
    {
      type: 'section',
      fields: [
        md(`*Severity*\n${esc(inc.severity ?? 'n/a')}`),
        md(`*Target*\n\`${esc(inc.target)}\``),
        md(`*Runbook*\n${esc(inc.runbook)}`),
        md(`*Incident*\n\`${esc(inc.id)}\``),
      ],
    },
  ];
  const alert = alertLine(inc);
  if (alert) blocks.push(context(alert));
  const findings = keyFindings(tl);
  if (findings.length > 0) blocks.push(section(`*Key findings*\n${findings.map((f) => `• ${f}`).join('\n')}`));
  if (inc.state === 'awaiting_approval' && inc.pendingApproval) blocks.push(...proposalBlocks(inc, inc.pendingApproval, tl, approvers));
  const decisions = decisionLines(tl);
  if (decisions.length > 0) blocks.push(context(decisions.join('\n')));
  if (FINAL_STATES.includes(inc.state) && inc.outcome) blocks.push(section(`*Outcome:* ${esc(clip(inc.outcome, 500))}`));
  blocks.push(context('Evidence and every step are in the thread.'));
  return {
    text: `${style.label}: ${clip(inc.title, 150)} (${inc.target})`,
    blocks,
    attachments: [{ color: style.color, fallback: style.label, blocks: [context(`${style.emoji} ${style.label} · updated ${utc(inc.updatedAt)}`)] }],
  };
}

function alertLine(inc: IncidentDetail): string | undefined {
  const name = inc.labels['alertname'];
  if (!name) return undefined;
  if (name.startsWith('manual:')) return 'Opened by hand, not by an alert';
  const instance = inc.labels['instance'];
  return `Alert *${esc(name)}*${instance ? ` on \`${esc(instance)}\`` : ''}${inc.fingerprints.length > 1 ? ` (+${inc.fingerprints.length - 1} more)` : ''}`;
}

/** The runbook's own conclusions (decide-rule notes and decisions), newest round; else derived numbers. */
export function keyFindings(tl: TimelineEntry[], max = 5): string[] {
  const rules = tl.filter((e) => (e.kind === 'note' || e.kind === 'decision') && e.actor.kind === 'engine' && e.data?.['rule'] !== undefined);
  if (rules.length > 0) return rules.slice(-max).map((e) => esc(clip(e.summary, 280)));
  const derived = tl.filter((e) => e.kind === 'finding' && e.data?.['derived'] !== undefined).at(-1);
  return derived ? [esc(compact(derived.data?.['derived']))] : [];
}

/** Alternatives side by side: each with what it does, its exact commands, risk, cost and its own Approve button. */
function optionBlocks(inc: IncidentDetail, p: Pending, tl: TimelineEntry[], config: readonly Approver[]): Block[] {
  const options = p.options ?? [];
  const why = tl.filter((e) => e.kind === 'decision' && Array.isArray(e.data?.['options'])).at(-1)?.summary;
  const blocks: Block[] = [
    { type: 'divider' },
    section(`:raised_hand: *Choose one of ${options.length} options* · expires ${utc(p.expiresAt)}${why ? `\n${esc(clip(why, 600))}` : ''}`),
  ];
  for (const o of options) {
    const nodes = [...new Set(o.commands.map((c) => c.node))];
    const cmds = o.commands.map((c) => formatPlanned(c, '  ')).join('\n');
    const approvers = approversFor(config, o.role);
    const so = p.approvals.filter((a) => a.option === o.remediation);
    const button: types.Button = { type: 'button', action_id: APPROVE_ACTION, text: plain(clip(`Approve option ${o.option}`, 75)), value: encodeButtonValue({ incidentId: inc.id, key: p.key, option: o.option }) };
    if (o.option === 1) button.style = 'primary';
    if (o.risk === 'disruptive') {
      button.confirm = {
        title: plain('Approve a disruptive step?'),
        text: md(clip(`*${esc(o.title)}* may drop data or clients on ${nodes.map(esc).join(', ')}.\n\`\`\`${esc(clip(cmds, 180))}\`\`\``, 300)),
        confirm: plain('Approve'),
        deny: plain('Cancel'),
        style: 'danger',
      };
    }
    blocks.push(
      section(
        `*Option ${o.option}: ${esc(o.title)}*\nRisk *${o.risk}*${o.risk === 'disruptive' ? ' :warning:' : ''} · needs *${o.role}*${o.approversRequired > 1 ? ` · *${o.approversRequired} distinct approvers*` : ''}${o.cost ? `\n*Cost:* ${esc(clip(o.cost, 400))}` : ''}${o.description ? `\n${esc(clip(o.description, 300))}` : ''}`,
      ),
      section(`*Runs on* ${nodes.map((n) => `\`${esc(n)}\``).join(', ') || 'no node'}\n\`\`\`${esc(clip(cmds, 1500))}\`\`\``),
      context(`May approve: ${approvers.length > 0 ? approvers.map(who).join(', ') : `anyone with ${o.role}`}${so.length > 0 ? `\nApproved so far: ${so.map((a) => `${who(a.by)} at ${utc(a.at)}`).join(', ')} (${so.length} of ${o.approversRequired})` : ''}`),
      { type: 'actions', block_id: clip(`rr_option_${o.option}_${p.key}`, 255), elements: [button] },
    );
  }
  blocks.push({ type: 'actions', block_id: clip(`rr_approval_${p.key}`, 255), elements: [{ type: 'button', action_id: REJECT_ACTION, text: plain('Reject all'), style: 'danger', value: encodeButtonValue({ incidentId: inc.id, key: p.key }) }] });
  return blocks;
}

function proposalBlocks(inc: IncidentDetail, p: Pending, tl: TimelineEntry[], config: readonly Approver[]): Block[] {
  if (p.options && p.options.length > 0) return optionBlocks(inc, p, tl, config);
  const nodes = [...new Set(p.commands.map((c) => c.node))];
  const cmds = p.commands.map((c) => formatPlanned(c, '  ')).join('\n');
  const approvers = approversFor(config, p.role);
  const reason = tl.filter((e) => e.kind === 'decision' && e.data?.['remediation'] === p.remediation).at(-1)?.summary;
  const evidence = [...(reason ? [reason] : []), ...p.evidence];
  const value = encodeButtonValue({ incidentId: inc.id, key: p.key });
  const approve: types.Button = { type: 'button', action_id: APPROVE_ACTION, text: plain('Approve'), style: 'primary', value };
  if (p.risk === 'disruptive') {
    approve.confirm = {
      title: plain('Approve a disruptive step?'),
      text: md(clip(`*${esc(p.title)}* may drop data or clients on ${nodes.map(esc).join(', ')}.\n\`\`\`${esc(clip(cmds, 180))}\`\`\``, 300)),
      confirm: plain('Approve'),
      deny: plain('Cancel'),
      style: 'danger',
    };
  }
  const so = p.approvals.length > 0 ? `\nApproved so far: ${p.approvals.map((a) => `${who(a.by)} at ${utc(a.at)}`).join(', ')} (${p.approvals.length} of ${p.approversRequired})` : '';
  return [
    { type: 'divider' },
    section(
      `:raised_hand: *Approval needed:* ${esc(p.title)}\nRisk *${p.risk}*${p.risk === 'disruptive' ? ' :warning:' : ''} · needs *${p.role}*${p.approversRequired > 1 ? ` · *${p.approversRequired} distinct approvers*` : ''} · expires ${utc(p.expiresAt)}`,
    ),
    section(`*Runs on* ${nodes.map((n) => `\`${esc(n)}\``).join(', ') || 'no node'}\n*Commands* (exactly as they will be sent):\n\`\`\`${esc(clip(cmds, 2500))}\`\`\``),
    ...(evidence.length > 0 ? [section(`*Evidence*\n${evidence.map((e) => `• ${esc(clip(e, 300))}`).join('\n')}`)] : []),
    context(`May approve: ${approvers.length > 0 ? approvers.map(who).join(', ') : `anyone with ${p.role}`}${so}`),
    { type: 'actions', block_id: clip(`rr_approval_${p.key}`, 255), elements: [approve, { type: 'button', action_id: REJECT_ACTION, text: plain('Reject'), style: 'danger', value }] },
  ];
}

/** One line per decision on a proposal: granted, rejected, expired, cancelled. */
export function decisionLines(tl: TimelineEntry[], max = 6): string[] {
  const lines: string[] = [];
  for (const e of tl) {
    const by = typeof e.data?.['by'] === 'string' ? who(e.data['by']) : e.actor.kind === 'user' ? who(e.actor.id) : 'engine';
    const key = typeof e.data?.['proposal'] === 'string' ? ` (${esc(e.data['proposal'])})` : '';
    if (e.kind === 'approval.granted') lines.push(`:white_check_mark: Approved by ${by} at ${utc(e.at)}${key}`);
    else if (e.kind === 'approval.rejected') lines.push(`:x: Rejected by ${by} at ${utc(e.at)}${key}`);
    else if (e.kind === 'approval.expired') lines.push(`:hourglass: Approval expired at ${utc(e.at)}: nobody decided in time; escalated`);
    else if (e.kind === 'approval.cancelled') lines.push(`:large_green_circle: Approval cancelled at ${utc(e.at)}: the alert resolved; nothing was changed`);
  }
  return lines.slice(-max);
}
