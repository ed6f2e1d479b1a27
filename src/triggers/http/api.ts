/**
 * `/api/*`: incidents (list, detail, timeline as JSON or a Markdown postmortem draft), approvals
 * and manual runs. All of them sit behind the bearer token when one is configured.
 *
 * The approver identity (`by`) is taken from the body: whoever holds the API token may act as any
 * approver, so the token must be kept to trusted operators. `by` must be a configured approver
 * (else 403): a run needs `redis.dba-operator`, a dry run `redis.viewer`; the engine checks the
 * role of an approval. Refused approval attempts are bounded per incident (429 past the budget).
 */
import { z } from 'zod';
import type { Role } from '../../config-types.js';
import { renderPostmortem } from '../../engine/postmortem.js';
import { mayApprove } from '../../engine/roles.js';
import type { DecisionResult } from '../../engine/types.js';
import { readJson } from './body.js';
import { HttpError } from './http-error.js';
import { sendJson, sendText } from './respond.js';
import type { RequestContext } from './types.js';
import { parseInput } from './validate.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

const identity = z.string().trim().min(1).max(128);
const name = z.string().trim().min(1).max(128);

const listQuery = z.object({
  open: z.enum(['true', 'false', '1', '0']).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).optional(),
});

const decisionBody = z.object({ by: identity, reason: z.string().max(2000).optional(), option: z.number().int().min(1).max(20).optional() });

const runBody = z.object({ runbook: name, target: name, dryRun: z.boolean().optional(), by: identity });

/** HTTP status for each refused decision. */
const DECISION_STATUS: Record<Extract<DecisionResult, { ok: false }>['code'], number> = {
  not_found: 404,
  not_awaiting_approval: 409,
  forbidden: 403,
  duplicate_approver: 409,
  stale: 409,
  option_required: 400,
  option_invalid: 400,
};

/** `GET /api/incidents?open=true&limit=50` → `{ incidents: IncidentSummary[] }`. */
export async function listIncidents(ctx: RequestContext): Promise<void> {
  const q = parseInput(listQuery, Object.fromEntries(ctx.url.searchParams));
  const opts: { open?: boolean; limit: number } = { limit: q.limit ?? DEFAULT_LIMIT };
  if (q.open !== undefined) opts.open = q.open === 'true' || q.open === '1';
  const incidents = await ctx.deps.engine.listIncidents(opts);
  sendJson(ctx.res, 200, { incidents });
}

/** `GET /api/incidents/:id` → `IncidentDetail`. */
export async function getIncident(ctx: RequestContext): Promise<void> {
  const id = incidentId(ctx);
  const incident = await ctx.deps.engine.getIncident(id);
  if (!incident) throw notFound(id);
  sendJson(ctx.res, 200, incident);
}

/** `GET /api/incidents/:id/timeline` → `{ id, timeline: TimelineEntry[] }`. */
export async function getTimeline(ctx: RequestContext): Promise<void> {
  const id = incidentId(ctx);
  const timeline = await ctx.deps.engine.getTimeline(id);
  if (!timeline) throw notFound(id);
  sendJson(ctx.res, 200, { id, timeline });
}

/** `GET /api/incidents/:id/timeline.md` → a Markdown postmortem draft. */
export async function getTimelineMarkdown(ctx: RequestContext): Promise<void> {
  const id = incidentId(ctx);
  const [incident, timeline] = await Promise.all([ctx.deps.engine.getIncident(id), ctx.deps.engine.getTimeline(id)]);
  if (!incident || !timeline) throw notFound(id);
  sendText(ctx.res, 200, renderPostmortem(incident, timeline), 'text/markdown; charset=utf-8');
}

/** `POST /api/incidents/:id/approve` with `{ by, option? }` (`option`: which alternative, from 1). */
export async function approve(ctx: RequestContext): Promise<void> {
  const id = incidentId(ctx);
  const body = parseInput(decisionBody, await readJson(ctx.req, ctx.deps.maxBodyBytes));
  await boundRefusals(ctx, id, body.by);
  answerDecision(ctx, await ctx.deps.engine.approve(id, body.by, 'http', body.option !== undefined ? { option: body.option } : {}));
}

/** `POST /api/incidents/:id/reject` with `{ by, reason? }`. */
export async function reject(ctx: RequestContext): Promise<void> {
  const id = incidentId(ctx);
  const body = parseInput(decisionBody, await readJson(ctx.req, ctx.deps.maxBodyBytes));
  await boundRefusals(ctx, id, body.by);
  answerDecision(ctx, await ctx.deps.engine.reject(id, body.by, 'http', body.reason));
}

/** `POST /api/runs` with `{ runbook, target, dryRun?, by }` → 202 `{ incidentId }`. */
export async function run(ctx: RequestContext): Promise<void> {
  const body = parseInput(runBody, await readJson(ctx.req, ctx.deps.maxBodyBytes));
  requireRole(ctx, body.by, body.dryRun === true ? 'redis.viewer' : 'redis.dba-operator', body.dryRun === true ? 'request a dry run' : 'request a run');
  const { incidentId: created } = await ctx.deps.engine.run(body.runbook, body.target, {
    dryRun: body.dryRun ?? false,
    by: body.by,
    via: 'http',
  });
  ctx.deps.log.info({ runbook: body.runbook, target: body.target, dryRun: body.dryRun ?? false, by: body.by, incidentId: created }, 'manual run requested');
  sendJson(ctx.res, 202, { incidentId: created }, { Location: `/api/incidents/${encodeURIComponent(created)}` });
}

/** Issue 12 #4: `by` must be a configured approver holding `needed`; else 403. */
function requireRole(ctx: RequestContext, by: string, needed: Role, what: string): void {
  const roles = ctx.deps.engine.rolesOf(by);
  if (roles.length === 0) throw new HttpError(403, 'forbidden', `unknown identity '${by}': not in approvers`);
  if (!mayApprove(roles, needed)) throw new HttpError(403, 'forbidden', `${by} may not ${what}: needs ${needed}, has ${roles.join(', ')}`);
}

/**
 * Issue 12 #5: an attempt the engine would refuse (and record) is counted first; past the budget
 * it is answered 429 and nothing reaches the incident's timeline.
 */
async function boundRefusals(ctx: RequestContext, id: string, by: string): Promise<void> {
  const limiter = ctx.deps.refusals;
  if (!limiter) return;
  const needed = (await ctx.deps.engine.getIncident(id))?.pendingApproval?.role;
  if (needed === undefined || mayApprove(ctx.deps.engine.rolesOf(by), needed)) return;
  if (!(await limiter.admit(id))) {
    throw new HttpError(429, 'too_many_refusals', `too many refused approval attempts on incident ${id}; ${by} lacks role ${needed}`, { 'Retry-After': '600' });
  }
}

function answerDecision(ctx: RequestContext, r: DecisionResult): void {
  if (r.ok) {
    sendJson(ctx.res, 200, { state: r.state, message: r.message });
    return;
  }
  throw new HttpError(DECISION_STATUS[r.code], r.code, r.message);
}

function incidentId(ctx: RequestContext): string {
  const id = ctx.params[0] ?? '';
  if (!/^[\w.:-]{1,128}$/.test(id)) throw new HttpError(400, 'input_invalid', 'invalid incident id');
  return id;
}

function notFound(id: string): HttpError {
  return new HttpError(404, 'not_found', `no incident ${id}`);
}
