/**
 * Slack (issue 3) end to end on a real redis-server store and target, real BullMQ, and a fake
 * Slack Web API on loopback: incident root message + thread, approval buttons (roles, user
 * groups, two approvers, confirm dialog, expiry, stale / duplicate clicks), Slack rate limiting
 * and outages, a lost answer to the root post, a restart between message and click, signature
 * checks, and every `/redis` command.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScannedApp, post, testConfigText, testPrefix, webhookBody } from '../helpers/app.js';
import type { App } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { FINAL_STATES } from '../../src/engine/types.js';
import type { IncidentDetail, TimelineEntry } from '../../src/engine/types.js';
import { startFakeSlack } from '../helpers/fake-slack.js';
import type { FakeMessage, FakeSlack } from '../helpers/fake-slack.js';
import { startRedis, waitFor } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';
import { blockActionBody, sendSigned, slashCommandBody } from '../helpers/slack-requests.js';
import type { SignOptions, SlackAnswer } from '../helpers/slack-requests.js';
import { pressure, waitState } from '../helpers/incidents.js';

const MAXMEM = 32 * 1024 * 1024;
const SECRET = 'test-signing-secret-0123456789';
const CHANNEL = 'C0CACHEPROD'; // cache-prod's own channel (slack.channels)
const TWO_APPROVERS_DIR = resolve(import.meta.dirname, '..', 'fixtures', 'runbooks-two-approvers');
// Slack's behaviour is shown on a fixed memory runbook (the shipped one evolves with its own tests).
const MEMORY_DIR = resolve(import.meta.dirname, '..', 'fixtures', 'runbooks-machine');
const RUNBOOK = 'redis-memory-pressure';

// UALICE operator, UBOB admin, UVIEW viewer, UCAROL operator through group SOPS,
// UNOBODY only in SOLD, a disabled group (grants nothing), UGHOST nothing at all.
const SLACK_APPROVERS = `  - { id: "slack:UALICE", roles: [redis.dba-operator] }
  - { id: "slack:UBOB", roles: [redis.cluster-admin] }
  - { id: "slack:UVIEW", roles: [redis.viewer] }
  - { id: "slack-group:SOPS", roles: [redis.dba-operator] }
  - { id: "slack-group:SOLD", roles: [redis.dba-operator] }
`;

let store: RedisProcess;
let target: RedisProcess;
let fake: FakeSlack;
let app: App;
const apps: App[] = [];

async function startSlackApp(o: { prefix?: string; approvalTimeout?: string; runbooksDir?: string } = {}): Promise<App> {
  const text = testConfigText({
    storeUrl: store.url,
    prefix: o.prefix ?? testPrefix(),
    targets: { 'cache-prod': { endpoints: [`${target.host}:${target.port}`], role: 'store' } },
    ...(o.approvalTimeout ? { approvalTimeout: o.approvalTimeout } : {}),
    runbooksDir: o.runbooksDir ?? MEMORY_DIR,
  }).replace(/^approvers:\n/m, `approvers:\n${SLACK_APPROVERS}`);
  // Only the fixture runbooks (not the shipped ones): /redis answers depend on which runbooks exist.
  const slack = `
shippedRunbooks: false
slack:
  botToken: \${SLACK_BOT_TOKEN}
  signingSecret: \${SLACK_SIGNING_SECRET}
  defaultChannel: C0DEFAULT
  channels: { cache-prod: ${CHANNEL} }
  apiUrl: ${fake.apiUrl}
`;
  const config = parseConfig(text + slack, '<slack-test>', { SLACK_BOT_TOKEN: fake.token, SLACK_SIGNING_SECRET: SECRET }, { baseDir: process.cwd() });
  const a = await createScannedApp(config, { http: true, worker: true });
  apps.push(a);
  return a;
}

async function timeline(a: App, id: string): Promise<TimelineEntry[]> {
  return (await a.engine.getTimeline(id)) ?? [];
}

const rootsOf = (id: string): FakeMessage[] => fake.roots().filter((m) => m.metadata?.event_payload?.['incident_id'] === id);

/** Every text a message shows (blocks, attachments, fallback), joined. */
function shown(m: FakeMessage | undefined): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'text' && typeof x === 'string') out.push(x);
        else walk(x);
      }
    }
  };
  walk([m?.text, m?.blocks, m?.attachments]);
  return out.join('\n');
}

interface Buttons {
  approve?: Record<string, unknown>;
  reject?: Record<string, unknown>;
}

function buttons(m: FakeMessage | undefined): Buttons {
  const actions = m?.blocks?.find((b) => b['type'] === 'actions');
  const els = (actions?.['elements'] ?? []) as Record<string, unknown>[];
  return { approve: els.find((e) => e['action_id'] === 'rr_approve'), reject: els.find((e) => e['action_id'] === 'rr_reject') };
}

/** The one root message of an incident, once `pred` holds for it. */
async function waitRoot(id: string, pred: (m: FakeMessage) => boolean, what: string, ms = 20_000): Promise<FakeMessage> {
  await waitFor(async () => rootsOf(id).some(pred), ms, `root message of ${id}: ${what}`);
  const roots = rootsOf(id);
  expect(roots).toHaveLength(1);
  return roots[0] as FakeMessage;
}

const threadOf = (root: FakeMessage): string => fake.replies(root.channel, root.ts).map((m) => m.text ?? '').join('\n');

async function click(a: App, user: string, action: 'rr_approve' | 'rr_reject', value: unknown, root: FakeMessage, sign: SignOptions = {}): Promise<SlackAnswer> {
  const body = blockActionBody({ userId: user, actionId: action, value: String(value), channel: root.channel, messageTs: root.ts, responseUrl: fake.responseUrl() });
  return sendSigned(a.http?.url ?? '', SECRET, body, sign);
}

async function slash(a: App, user: string, text: string, sign: SignOptions = {}): Promise<SlackAnswer> {
  return sendSigned(a.http?.url ?? '', SECRET, slashCommandBody({ userId: user, text, channel: CHANNEL, responseUrl: fake.responseUrl() }), sign);
}

const answerText = (r: SlackAnswer): string => String((r.json as { text?: unknown }).text ?? '');

const ephemerals = (user: string): string[] =>
  fake
    .callsTo('chat.postEphemeral')
    .filter((c) => c.status === 200 && c.args['user'] === user)
    .map((c) => String(c.args['text']));

async function waitEphemeral(user: string, re: RegExp): Promise<string> {
  await waitFor(async () => ephemerals(user).some((t) => re.test(t)), 10_000, `ephemeral to ${user} matching ${re}`).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; got: ${JSON.stringify(ephemerals(user))}`);
  });
  return ephemerals(user).find((t) => re.test(t)) ?? '';
}

async function awaitingWithButtons(a: App, id: string): Promise<{ inc: IncidentDetail; root: FakeMessage }> {
  const inc = await waitState(a, id, ['awaiting_approval']);
  const root = await waitRoot(id, (m) => buttons(m).approve !== undefined, 'approval buttons');
  // The request is written by its own job just after the state changes: let it land, so callers
  // that count timeline entries start from a settled timeline.
  const stop = Date.now() + 10_000;
  while (!((await a.engine.getTimeline(id)) ?? []).some((e) => e.kind === 'approval.requested') && Date.now() < stop) await new Promise((r) => setTimeout(r, 20));
  return { inc, root };
}

beforeAll(async () => {
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startRedis({ configFile: true });
  fake = await startFakeSlack({ groups: [{ id: 'SOPS', handle: 'redis-ops', users: ['UCAROL'] }, { id: 'SOLD', handle: 'old-team', users: ['UNOBODY'], disabled: true }] });
  app = await startSlackApp();
});

afterAll(async () => {
  for (const a of apps) await a.close().catch(() => undefined);
  await fake?.close();
  await target?.stop();
  await store?.stop();
});

describe('Slack: incident messages and approval buttons', () => {
  it('posts one root message and a thread for an alert, shows the proposal with buttons, and Approve runs the fix', async () => {
    await pressure(target.client(), MAXMEM);
    const alert = webhookBody([{ labels: { alertname: 'RedisMemoryHigh', instance: `${target.host}:${target.port}`, severity: 'warning' }, fingerprint: 'slack000000000001' }]);
    expect((await post(`${app.http?.url ?? ''}/webhooks/alertmanager`, alert)).status).toBe(202);
    let id = '';
    await waitFor(async () => {
      id = (await app.engine.listIncidents({ limit: 50 })).find((i) => i.fingerprints.includes('slack000000000001'))?.id ?? '';
      return id !== '';
    }, 15_000, 'incident for the alert');
    const { inc, root } = await awaitingWithButtons(app, id);
    const p = inc.pendingApproval;
    expect(p?.remediation).toBe('raise-maxmemory');

    // The root message: in the target's channel, yellow, with what runs where, the exact
    // commands, the risk, the evidence and who may approve.
    expect(root.channel).toBe(CHANNEL);
    const text = shown(root);
    expect(text).toContain('Awaiting approval');
    expect(text).toContain('RedisMemoryHigh');
    expect(text).toMatch(/have no TTL/);
    expect(text).toContain(`${target.host}:${target.port}  CONFIG SET maxmemory ${p?.commands[0]?.argv[3]}`);
    expect(text).toContain('Risk *write*');
    expect(text).toContain('needs *redis.dba-operator*');
    expect(text).toMatch(/usage \d+(\.\d+)?% of 32 MiB/);
    expect(text).toMatch(/May approve: .*<@UALICE>.*<!subteam\^SOPS>/);
    expect(text).not.toContain('<@UVIEW>');
    expect(root.attachments?.[0]?.['color']).toBe('#ECB22E');
    const b = buttons(root);
    expect(JSON.parse(String(b.approve?.['value']))).toEqual({ i: id, k: p?.key });
    expect(b.approve?.['confirm']).toBeUndefined(); // risk write: no dialog
    expect(b.reject?.['value']).toBe(b.approve?.['value']);

    // The thread: compact lines, numbers not JSON dumps.
    await waitFor(async () => /approval needed/.test(threadOf(root)), 10_000, 'approval request in the thread');
    const thread = threadOf(root);
    expect(thread).toMatch(/\*mem\* \(redis\.info-memory on [\d.:]+\): .*usage \d+\.\d%/);
    expect(thread).not.toContain('{"node"');

    // Approve: acknowledged at once, the fix runs and verifies.
    const t0 = Date.now();
    const r = await click(app, 'UALICE', 'rr_approve', b.approve?.['value'], root);
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect((await waitState(app, id, FINAL_STATES)).state).toBe('resolved');
    expect(Number((await target.client().config('GET', 'maxmemory'))[1])).toBeGreaterThan(MAXMEM);
    const granted = (await timeline(app, id)).filter((e) => e.kind === 'approval.granted');
    expect(granted).toHaveLength(1);
    expect(granted[0]?.actor).toEqual({ kind: 'user', id: 'slack:UALICE', via: 'slack' });

    // The same message now says who approved, is green, and has no buttons.
    const done = await waitRoot(id, (m) => /Resolved/.test(shown(m)) && buttons(m).approve === undefined, 'resolved, no buttons');
    expect(done.ts).toBe(root.ts);
    expect(shown(done)).toMatch(/Approved by <@UALICE> at \d\d:\d\d UTC/);
    expect(done.attachments?.[0]?.['color']).toBe('#2EB67D');
    await waitFor(async () => /incident resolved/.test(threadOf(root)), 10_000, 'resolution in the thread');
    expect(fake.replies(root.channel, root.ts).length).toBeLessThan((await timeline(app, id)).length);
    expect(ephemerals('UALICE')).toEqual([]);

    // A second click on the old message changes nothing and says so (idempotent).
    expect((await click(app, 'UALICE', 'rr_approve', b.approve?.['value'], root)).status).toBe(200);
    expect(await waitEphemeral('UALICE', new RegExp(`Nothing awaits approval on incident \`${id}\` any more \\(it is resolved\\)`))).toContain('Nothing changed');
    expect((await timeline(app, id)).filter((e) => e.kind === 'approval.granted')).toHaveLength(1);
    expect(rootsOf(id)).toHaveLength(1);
  });

  it('alternatives: one Approve button per option, each with its own role; a signed click on option 2 runs option 2', async () => {
    const a = await startSlackApp({ runbooksDir: resolve(import.meta.dirname, '..', 'fixtures', 'runbooks-capabilities') });
    await target.client().config('SET', 'slowlog-log-slower-than', '10000');
    const alert = webhookBody([{ labels: { alertname: 'CapSlowlogLow', instance: `${target.host}:${target.port}` }, fingerprint: 'slack0000000000a1' }]);
    expect((await post(`${a.http?.url ?? ''}/webhooks/alertmanager`, alert)).status).toBe(202);
    let id = '';
    await waitFor(async () => {
      id = (await a.engine.listIncidents({ limit: 50 })).find((i) => i.fingerprints.includes('slack0000000000a1'))?.id ?? '';
      return id !== '';
    }, 15_000, 'incident for the alert');
    const inc = await waitState(a, id, ['awaiting_approval']);
    expect(inc.pendingApproval?.options).toHaveLength(2);
    const optionButtons = (m: FakeMessage): Record<string, unknown>[] =>
      (m.blocks ?? []).filter((b) => b['type'] === 'actions').flatMap((b) => (b['elements'] ?? []) as Record<string, unknown>[]).filter((e) => e['action_id'] === 'rr_approve');
    const root = await waitRoot(id, (m) => optionButtons(m).length === 2, 'two option buttons');
    const text = shown(root);
    expect(text).toContain('Choose one of 2 options');
    expect(text).toContain('Option 1: Raise the threshold on the primary only');
    expect(text).toContain('*Cost:* replicas keep logging every command slower than 10000 µs');
    expect(text).toMatch(/Option 2: .*\n.*needs \*redis\.cluster-admin\*/);
    const [b1, b2] = optionButtons(root);
    expect(JSON.parse(String(b1?.['value']))).toEqual({ i: id, k: inc.pendingApproval?.key, o: 1 });
    expect(JSON.parse(String(b2?.['value']))).toEqual({ i: id, k: inc.pendingApproval?.key, o: 2 });
    // An operator may choose option 1 but not option 2: refused in private, nothing changes.
    expect((await click(a, 'UALICE', 'rr_approve', b2?.['value'], root)).status).toBe(200);
    await waitEphemeral('UALICE', /may not approve this.*redis\.cluster-admin/);
    expect((await a.engine.getIncident(id))?.state).toBe('awaiting_approval');
    expect(((await target.client().config('GET', 'slowlog-log-slower-than')) as string[])[1]).toBe('10000');
    // The admin chooses option 2.
    expect((await click(a, 'UBOB', 'rr_approve', b2?.['value'], root)).status).toBe(200);
    expect((await waitState(a, id, FINAL_STATES, 30_000)).state).toBe('resolved');
    expect(((await target.client().config('GET', 'slowlog-log-slower-than')) as string[])[1]).toBe('20000');
    const granted = (await timeline(a, id)).filter((e) => e.kind === 'approval.granted');
    expect(granted.map((e) => [e.data?.['by'], e.data?.['option']])).toEqual([['slack:UBOB', 2]]);
  });

  it('refuses bad signatures and replays (401, nothing changes), refuses unauthorised clickers in private, and lets a user-group member reject', async () => {
    await pressure(target.client(), MAXMEM);
    const { incidentId: id } = await app.engine.run(RUNBOOK, 'cache-prod', { dryRun: false, by: 'alice' });
    const { root } = await awaitingWithButtons(app, id);
    const value = buttons(root).approve?.['value'];
    const before = (await timeline(app, id)).length;
    const now = Math.floor(Date.now() / 1000);

    for (const sign of [{ secret: 'not-the-secret-at-all' }, { timestamp: now - 600 }, { timestamp: now + 600 }, { signature: 'v0=' }]) {
      const r = await click(app, 'UALICE', 'rr_approve', value, root, sign);
      expect(r.status).toBe(401);
      expect(JSON.stringify(r.json)).toContain('signature_invalid');
    }
    expect((await slash(app, 'UALICE', 'run redis-memory-pressure cache-prod', { timestamp: now - 301 })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect((await app.engine.getIncident(id))?.state).toBe('awaiting_approval');
    expect((await timeline(app, id)).length).toBe(before);
    expect(ephemerals('UALICE').filter((t) => t.includes(id))).toEqual([]);

    // A viewer may not approve: told privately, recorded on the timeline.
    expect((await click(app, 'UVIEW', 'rr_approve', value, root)).status).toBe(200);
    const refusal = await waitEphemeral('UVIEW', new RegExp(id));
    expect(refusal).toMatch(/may not approve .* it needs redis\.dba-operator, and your Slack identity map to redis\.viewer/);
    // Membership of a disabled user group grants nothing.
    expect((await click(app, 'UNOBODY', 'rr_approve', value, root)).status).toBe(200);
    expect(await waitEphemeral('UNOBODY', new RegExp(id))).toMatch(/map to no role/);
    const refused = (await timeline(app, id)).filter((e) => e.kind === 'approval.refused');
    expect(refused.map((e) => e.actor)).toEqual([
      { kind: 'user', id: 'slack:UVIEW', via: 'slack' },
      { kind: 'user', id: 'slack:UNOBODY', via: 'slack' },
    ]);
    expect((await app.engine.getIncident(id))?.state).toBe('awaiting_approval');

    // UCAROL is an operator through the SOPS user group: her Reject counts.
    expect((await click(app, 'UCAROL', 'rr_reject', value, root)).status).toBe(200);
    expect((await waitState(app, id, FINAL_STATES)).state).toBe('escalated');
    const rejected = (await timeline(app, id)).find((e) => e.kind === 'approval.rejected');
    expect(rejected?.data).toMatchObject({ by: 'slack:UCAROL', via: 'slack', roles: ['redis.dba-operator'] });
    const done = await waitRoot(id, (m) => /Escalated/.test(shown(m)) && buttons(m).approve === undefined, 'escalated');
    expect(shown(done)).toMatch(/Rejected by <@UCAROL> at \d\d:\d\d UTC/);
    expect(done.attachments?.[0]?.['color']).toBe('#E01E5A');
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(MAXMEM)]);

    // A stale click (the incident moved on) changes nothing.
    const after = (await timeline(app, id)).length;
    await click(app, 'UBOB', 'rr_approve', value, root);
    expect(await waitEphemeral('UBOB', new RegExp(id))).toMatch(/it is escalated\)\. Nothing changed/);
    expect((await timeline(app, id)).length).toBe(after);
  });

  it('a disruptive step asks for confirmation and two distinct approvers; outdated and repeated clicks change nothing', async () => {
    await pressure(target.client(), MAXMEM);
    const a = await startSlackApp({ runbooksDir: TWO_APPROVERS_DIR });
    const { incidentId: id } = await a.engine.run(RUNBOOK, 'cache-prod', { dryRun: false, by: 'alice' });
    const { inc, root } = await awaitingWithButtons(a, id);
    const key = inc.pendingApproval?.key ?? '';
    const b = buttons(root);
    expect(b.approve?.['confirm']).toMatchObject({ style: 'danger', confirm: { text: 'Approve' }, deny: { text: 'Cancel' } });
    expect(shown(root)).toContain('Risk *disruptive*');
    expect(shown(root)).toContain('*2 distinct approvers*');

    // A button of an older proposal (another key) is stale.
    await click(a, 'UALICE', 'rr_approve', JSON.stringify({ i: id, k: 'raise-maxmemory#999' }), root);
    expect(await waitEphemeral('UALICE', /outdated/)).toContain(`now waits on ${key}`);

    await click(a, 'UALICE', 'rr_approve', b.approve?.['value'], root);
    expect(await waitEphemeral('UALICE', new RegExp(`approval of incident \`${id}\` is recorded`))).toMatch(/another distinct approver/);
    await waitRoot(id, (m) => /Approved so far: <@UALICE>.*\(1 of 2\)/.test(shown(m)), 'one of two approvals');
    expect((await a.engine.getIncident(id))?.state).toBe('awaiting_approval');

    await click(a, 'UALICE', 'rr_approve', b.approve?.['value'], root);
    expect(await waitEphemeral('UALICE', /already approved/)).toContain(id);
    expect((await timeline(a, id)).filter((e) => e.kind === 'approval.granted')).toHaveLength(1);

    await click(a, 'UCAROL', 'rr_approve', b.approve?.['value'], root);
    expect((await waitState(a, id, FINAL_STATES)).state).toBe('resolved');
    const done = await waitRoot(id, (m) => /Resolved/.test(shown(m)), 'resolved');
    expect(shown(done)).toMatch(/Approved by <@UALICE>[^\n]*\n:white_check_mark: Approved by <@UCAROL>/);
    expect(buttons(done).approve).toBeUndefined();
  });

  it('a resolved alert turns the message green and cancels the pending approval', async () => {
    await pressure(target.client(), MAXMEM);
    const labels = { alertname: 'RedisMemoryHigh', instance: `${target.host}:${target.port}`, severity: 'warning' };
    const url = `${app.http?.url ?? ''}/webhooks/alertmanager`;
    expect((await post(url, webhookBody([{ labels, fingerprint: 'slack000000000002' }]))).status).toBe(202);
    let id = '';
    await waitFor(async () => {
      id = (await app.engine.listIncidents({ limit: 50 })).find((i) => i.fingerprints.includes('slack000000000002'))?.id ?? '';
      return id !== '';
    }, 15_000, 'incident for the alert');
    await awaitingWithButtons(app, id);
    expect((await post(url, webhookBody([{ labels, fingerprint: 'slack000000000002', status: 'resolved' }]))).status).toBe(202);
    expect((await waitState(app, id, FINAL_STATES)).state).toBe('cancelled');
    const done = await waitRoot(id, (m) => /Alert resolved/.test(shown(m)), 'alert resolved');
    expect(done.attachments?.[0]?.['color']).toBe('#2EB67D');
    expect(shown(done)).toMatch(/Approval cancelled at \d\d:\d\d UTC: the alert resolved; nothing was changed/);
    expect(buttons(done).approve).toBeUndefined();
  });

  it('an approval nobody gives expires: the message says so and the incident escalates', async () => {
    await pressure(target.client(), MAXMEM);
    const a = await startSlackApp({ approvalTimeout: '2s' });
    const { incidentId: id } = await a.engine.run(RUNBOOK, 'cache-prod', { dryRun: false, by: 'alice' });
    const { root } = await awaitingWithButtons(a, id);
    const value = buttons(root).approve?.['value']; // (the fake updates `root` in place)
    const done = await waitState(a, id, FINAL_STATES, 20_000);
    expect(done.state).toBe('escalated');
    const msg = await waitRoot(id, (m) => /expired/.test(shown(m)) && buttons(m).approve === undefined, 'expired');
    expect(shown(msg)).toContain('Escalated');
    expect(msg.attachments?.[0]?.['color']).toBe('#E01E5A');
    await click(a, 'UALICE', 'rr_approve', value, root);
    expect(await waitEphemeral('UALICE', new RegExp(`${id}\` any more \\(it is escalated\\)`))).toContain('Nothing changed');
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(MAXMEM)]);
  });
});

describe('Slack: when Slack misbehaves', () => {
  it('429s and 500s do not hold the incident up; approvals still work without Slack; the thread catches up with one root message', async () => {
    await pressure(target.client(), MAXMEM);
    const callsBefore = fake.calls.length;
    fake.failFor(60_000, { status: 429, retryAfter: 1 });
    const { incidentId: id } = await app.engine.run(RUNBOOK, 'cache-prod', { dryRun: false, by: 'alice' });
    await waitState(app, id, ['awaiting_approval']);
    fake.failFor(60_000, { status: 500 });
    await new Promise((r) => setTimeout(r, 1200));
    // Slack is down: approve through the CLI path; the incident goes on to the end.
    expect((await app.engine.approve(id, 'alice', 'cli')).ok).toBe(true);
    expect((await waitState(app, id, FINAL_STATES)).state).toBe('resolved');
    expect(rootsOf(id)).toHaveLength(0);
    const during = fake.calls.slice(callsBefore);
    expect(during.some((c) => c.status === 429)).toBe(true);
    expect(during.some((c) => c.status === 500)).toBe(true);

    fake.heal();
    const root = await waitRoot(id, (m) => /Resolved/.test(shown(m)), 'resolved after Slack came back', 40_000);
    expect(shown(root)).toMatch(/Approved by alice at/);
    await waitFor(async () => /incident resolved/.test(threadOf(root)), 20_000, 'thread caught up');
    const thread = threadOf(root);
    for (const s of ['incident opened', 'approval needed', 'approved by alice', 'CONFIG SET maxmemory', 'verified']) expect(thread).toContain(s);
    expect(rootsOf(id)).toHaveLength(1);
  });

  it('a root post whose answer was lost is found again (message metadata + conversations.history), never posted twice', async () => {
    const historyBefore = fake.callsTo('conversations.history').length;
    fake.loseNext('chat.postMessage', 1, (args) => args['thread_ts'] === undefined);
    const { incidentId: id } = await app.engine.run(RUNBOOK, 'cache-prod', { dryRun: true, by: 'alice' });
    expect((await waitState(app, id, FINAL_STATES)).state).toBe('completed');
    const root = await waitRoot(id, (m) => /Completed/.test(shown(m)), 'completed');
    expect(fake.calls.some((c) => c.lost && c.args['metadata'] !== undefined)).toBe(true);
    const history = fake.callsTo('conversations.history').slice(historyBefore);
    expect(history.length).toBeGreaterThan(0);
    expect(history[0]?.args).toMatchObject({ channel: CHANNEL, include_all_metadata: 'true' });
    await waitFor(async () => /incident completed/.test(threadOf(root)), 10_000, 'thread');
    expect(rootsOf(id)).toHaveLength(1);
  });

  it('a restart between the message and the click: the new process honours the old button and updates the same message', async () => {
    await pressure(target.client(), MAXMEM);
    const prefix = testPrefix();
    const first = await startSlackApp({ prefix });
    const { incidentId: id } = await first.engine.run(RUNBOOK, 'cache-prod', { dryRun: false, by: 'alice' });
    const { root } = await awaitingWithButtons(first, id);
    const value = buttons(root).approve?.['value'];
    await first.close();
    const second = await startSlackApp({ prefix });
    expect((await click(second, 'UBOB', 'rr_approve', value, root)).status).toBe(200);
    expect((await waitState(second, id, FINAL_STATES)).state).toBe('resolved');
    const done = await waitRoot(id, (m) => /Resolved/.test(shown(m)) && /Approved by <@UBOB>/.test(shown(m)), 'resolved by UBOB');
    expect(done.ts).toBe(root.ts);
    expect(rootsOf(id)).toHaveLength(1);
  });
});

describe('Slack: /redis', () => {
  it('help, status, incidents, timeline, run, diagnose, dry-run, with role checks and helpful errors', async () => {
    await pressure(target.client(), MAXMEM);
    const help = answerText(await slash(app, 'UVIEW', 'help'));
    expect(help).toContain('/redis status <target>');
    expect(help).toContain('Your roles: redis.viewer');
    expect(help).toContain('`cache-prod`');
    expect(answerText(await slash(app, 'UVIEW', ''))).toContain('`/redis` commands');
    expect(answerText(await slash(app, 'UVIEW', 'frobnicate <!channel>'))).toMatch(/Unknown command `frobnicate`/);

    const status = answerText(await slash(app, 'UVIEW', 'status cache-prod'));
    expect(status).toContain('*cache-prod* (standalone, store)');
    expect(status).toMatch(new RegExp(`\`${target.host}:${target.port}\` primary · memory [\\d.]+ MiB of 32\\.0 MiB \\(\\d+\\.\\d%\\) · noeviction · \\d+ clients`));
    expect(answerText(await slash(app, 'UVIEW', 'status nope'))).toBe(':grey_question: Unknown target `nope`. Targets: `cache-prod`');
    expect(answerText(await slash(app, 'UVIEW', 'status'))).toContain('Usage: `/redis status <target>`');
    expect(answerText(await slash(app, 'UGHOST', 'status cache-prod'))).toContain('needs redis.viewer; your roles: none');

    // A slow answer: acknowledged within the budget, then delivered through response_url.
    await target.client().call('CLIENT', 'PAUSE', '3000', 'ALL');
    const slow = await slash(app, 'UVIEW', 'status cache-prod');
    expect(answerText(slow)).toContain('Working on it');
    await waitFor(async () => fake.responses.some((r) => String(r.body['text']).includes('*cache-prod*')), 10_000, 'status through response_url');

    // run: operators only, names checked.
    expect(answerText(await slash(app, 'UVIEW', `run ${RUNBOOK} cache-prod`))).toContain('needs redis.dba-operator; your roles: redis.viewer');
    const unknown = answerText(await slash(app, 'UALICE', 'run nope cache-prod'));
    expect(unknown).toMatch(/^:grey_question: Unknown runbook `nope`\. Runbooks: `/);
    expect(unknown).toContain(`\`${RUNBOOK}\``);
    expect(answerText(await slash(app, 'UALICE', `run ${RUNBOOK} nope`))).toContain('Unknown target `nope`. Targets: `cache-prod`');
    expect(answerText(await slash(app, 'UALICE', `run ${RUNBOOK}`))).toContain('Usage: `/redis run <runbook> <target>`');
    const ran = answerText(await slash(app, 'UALICE', `run ${RUNBOOK} cache-prod`));
    const runId = /incident `(inc-[\w-]+)`/.exec(ran)?.[1] ?? '';
    expect(ran).toContain(`<#${CHANNEL}>`);
    expect((await timeline(app, runId))[0]?.summary).toBe('run requested by slack:UALICE');
    const runRoot = await waitRoot(runId, () => true, 'posted');

    // incidents: the open one, linked to its message.
    const list = answerText(await slash(app, 'UVIEW', 'incidents'));
    expect(list).toContain(`<${fake.url}/archives/${CHANNEL}/p${runRoot.ts.replace('.', '')}|${runId}>`);

    // timeline
    const tl = answerText(await slash(app, 'UVIEW', `timeline ${runId}`));
    expect(tl).toContain('run requested by slack:UALICE');
    expect(tl).toContain('incident opened');
    expect(answerText(await slash(app, 'UVIEW', 'timeline inc-nope'))).toContain(`No incident \`inc-nope\`. Open incidents: `);

    // close the run so the read-only runs below are alone on the target
    await waitState(app, runId, ['awaiting_approval', ...FINAL_STATES]);
    await app.engine.reject(runId, 'bob', 'cli', 'test cleanup');

    // diagnose: a dry-run incident whose findings flow into its thread
    expect(answerText(await slash(app, 'UVIEW', 'diagnose cache-prod'))).toContain('needs redis.dba-operator');
    expect(answerText(await slash(app, 'UALICE', 'diagnose nope'))).toContain('Unknown target `nope`');
    expect(answerText(await slash(app, 'UALICE', 'diagnose cache-prod nope'))).toContain('Unknown runbook `nope`');
    const diag = answerText(await slash(app, 'UALICE', 'diagnose cache-prod'));
    const diagId = /incident `(inc-[\w-]+)`/.exec(diag)?.[1] ?? '';
    expect(diag).toContain('dry run: nothing will change');
    expect((await waitState(app, diagId, FINAL_STATES)).state).toBe('completed');
    const diagRoot = await waitRoot(diagId, (m) => /Completed/.test(shown(m)), 'completed');
    await waitFor(async () => /\*mem\* \(redis\.info-memory/.test(threadOf(diagRoot)) && /incident completed/.test(threadOf(diagRoot)), 10_000, 'findings in the thread');

    // dry-run (UCAROL: operator through her user group): the exact commands, nothing changed
    expect(answerText(await slash(app, 'UCAROL', 'dry-run nope cache-prod'))).toContain('Unknown runbook `nope`');
    const dry = answerText(await slash(app, 'UCAROL', `dry-run ${RUNBOOK} cache-prod`));
    const dryId = /incident `(inc-[\w-]+)`/.exec(dry)?.[1] ?? '';
    expect((await waitState(app, dryId, FINAL_STATES)).state).toBe('completed');
    const dryRoot = await waitRoot(dryId, (m) => /Completed/.test(shown(m)), 'completed');
    await waitFor(async () => /:test_tube: .*CONFIG SET maxmemory/.test(threadOf(dryRoot)), 10_000, 'dry-run commands in the thread');
    expect(await target.client().config('GET', 'maxmemory')).toEqual(['maxmemory', String(MAXMEM)]);
  });
});
