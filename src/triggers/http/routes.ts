/**
 * The route table and the request handler: match path → check method → check token → handle;
 * every failure becomes `{ error: { code, message } }` with its status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as api from './api.js';
import { bearerAuth } from './auth.js';
import { lingerAndClose } from './body.js';
import { HttpError, toHttpError } from './http-error.js';
import { engineReady } from './ready.js';
import { sendError, sendJson, sendText } from './respond.js';
import type { HttpServerDeps, RequestContext } from './types.js';
import { uiIncident, uiList, uiLogin, uiLoginForm, uiPostmortem, uiTimeline } from './ui.js';
import { handleAlertmanagerWebhook } from './webhook.js';
import { getHygiene } from './hygiene.js';

/** One route: `pattern` is matched against the whole path; its groups become `params`. */
export interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  /** Requires the bearer token (when one is configured). */
  auth: boolean;
  /** Quiet routes (probes, scrapes) are logged at debug level. */
  quiet?: boolean;
  handle(ctx: RequestContext): Promise<void>;
}

/** Path of the Alertmanager webhook. */
export const WEBHOOK_PATH = '/webhooks/alertmanager';

const ID = '([^/]+)';

/** Every route of the HTTP door. */
export const ROUTES: readonly Route[] = [
  { method: 'GET', pattern: /^\/healthz$/, auth: false, quiet: true, handle: async ({ res }) => sendJson(res, 200, { status: 'ok' }) },
  { method: 'GET', pattern: /^\/readyz$/, auth: false, quiet: true, handle: readyz },
  { method: 'GET', pattern: /^\/metrics$/, auth: false, quiet: true, handle: metrics },
  { method: 'POST', pattern: /^\/webhooks\/alertmanager$/, auth: true, handle: handleAlertmanagerWebhook },
  { method: 'GET', pattern: /^\/api\/incidents$/, auth: true, handle: api.listIncidents },
  { method: 'GET', pattern: new RegExp(`^/api/incidents/${ID}$`), auth: true, handle: api.getIncident },
  { method: 'GET', pattern: new RegExp(`^/api/incidents/${ID}/timeline$`), auth: true, handle: api.getTimeline },
  { method: 'GET', pattern: new RegExp(`^/api/incidents/${ID}/timeline\\.md$`), auth: true, handle: api.getTimelineMarkdown },
  { method: 'POST', pattern: new RegExp(`^/api/incidents/${ID}/approve$`), auth: true, handle: api.approve },
  { method: 'POST', pattern: new RegExp(`^/api/incidents/${ID}/reject$`), auth: true, handle: api.reject },
  { method: 'POST', pattern: /^\/api\/runs$/, auth: true, handle: api.run },
  { method: 'GET', pattern: /^\/api\/hygiene$/, auth: true, handle: getHygiene },
  // The incident page (read-only HTML; its own cookie sign-in with the same token: ui.ts).
  { method: 'GET', pattern: /^\/ui\/?$/, auth: false, handle: uiList },
  { method: 'GET', pattern: /^\/ui\/login$/, auth: false, handle: uiLoginForm },
  { method: 'POST', pattern: /^\/ui\/login$/, auth: false, handle: uiLogin },
  { method: 'GET', pattern: new RegExp(`^/ui/incidents/${ID}$`), auth: false, handle: uiIncident },
  { method: 'GET', pattern: new RegExp(`^/ui/incidents/${ID}/timeline\\.json$`), auth: false, quiet: true, handle: uiTimeline },
  { method: 'GET', pattern: new RegExp(`^/ui/incidents/${ID}/postmortem$`), auth: false, handle: uiPostmortem },
];

async function readyz({ res, deps }: RequestContext): Promise<void> {
  if (await engineReady(deps)) sendJson(res, 200, { status: 'ready' });
  else sendJson(res, 503, { error: { code: 'not_ready', message: 'the engine store is not reachable' } });
}

async function metrics({ res, deps }: RequestContext): Promise<void> {
  sendText(res, 200, await deps.metrics.text(), deps.metrics.contentType);
}

/** Build the `node:http` request listener. It never rejects. */
export function createRequestHandler(deps: HttpServerDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const checkAuth = bearerAuth(deps.token);
  return async (req, res) => {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    let quiet = false;
    res.once('finish', () => {
      if (url.pathname === WEBHOOK_PATH) deps.metrics.webhookRequests.inc({ code: String(res.statusCode) });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const line = { method: req.method, path: url.pathname, status: res.statusCode, ms: Math.round(ms) };
      if (res.statusCode >= 500) deps.log.warn(line, 'http request');
      else if (quiet) deps.log.debug(line, 'http request');
      else deps.log.info(line, 'http request');
    });
    try {
      const matches = ROUTES.map((r) => ({ r, m: r.pattern.exec(url.pathname) })).filter((x) => x.m !== null);
      if (matches.length === 0) {
        if (deps.extraRoutes && (await deps.extraRoutes(req, res))) return;
        throw new HttpError(404, 'not_found', `no route for ${url.pathname}`);
      }
      const hit = matches.find((x) => x.r.method === method);
      if (!hit?.m) {
        const allow = [...new Set(matches.map((x) => x.r.method))].join(', ');
        throw new HttpError(405, 'method_not_allowed', `${req.method ?? ''} not allowed on ${url.pathname}`, { Allow: allow });
      }
      quiet = hit.r.quiet === true;
      if (hit.r.auth) checkAuth(req.headers.authorization);
      const params = hit.m.slice(1).map(decodeParam);
      await hit.r.handle({ req, res, url, params, deps });
    } catch (err) {
      fail(deps, req, res, err);
    }
  };
}

function decodeParam(s: string | undefined): string {
  try {
    return decodeURIComponent(s ?? '');
  } catch {
    throw new HttpError(400, 'input_invalid', 'malformed percent-encoding in path');
  }
}

function fail(deps: HttpServerDeps, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  const httpErr = toHttpError(err);
  if (httpErr.status >= 500 && !(err instanceof HttpError)) {
    deps.log.error({ err, code: httpErr.code, method: req.method }, 'request failed');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (!req.complete) lingerAndClose(req, res);
  sendError(res, httpErr);
}
