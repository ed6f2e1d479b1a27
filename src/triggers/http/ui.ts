/**
 * The incident page: plain HTML rendered by the server (no build step, no framework), read-only.
 *
 * - `GET /ui` — open and recent incidents.
 * - `GET /ui/incidents/:id` — one incident: state, outcome, findings, the pending proposal with the
 *   exact commands (and every option when several are offered), approvals so far, the timeline
 *   (kept up to date without a reload: a small script polls the JSON below every 2 s), and a link
 *   to the postmortem draft.
 * - `GET /ui/incidents/:id/timeline.json?after=N` — timeline entries from position N (for the page).
 * - `GET /ui/incidents/:id/postmortem` — the Markdown postmortem draft, as text.
 * - `GET|POST /ui/login` — when `http.token` is set, the page asks for it once.
 *
 * Protection: a browser cannot send the bearer header on navigation, so the login form takes the
 * same token and sets a cookie holding an HMAC of it (never the token itself), `HttpOnly`,
 * `SameSite=Strict`, `Path=/ui`. The page is read-only — approvals stay with the CLI, the HTTP API
 * and Slack, where the approver's identity and role are checked — so a forged cross-site request
 * could change nothing. Every page is sent with a strict Content-Security-Policy (the one inline
 * script carries a per-response nonce) and every value is HTML-escaped.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { formatPlanned } from '../../actions/command-format.js';
import type { PlannedCommand } from '../../actions/types.js';
import { renderPostmortem } from '../../engine/postmortem.js';
import type { IncidentDetail, IncidentSummary, TimelineEntry } from '../../engine/types.js';
import { readBody } from './body.js';
import { HttpError } from './http-error.js';
import { sendJson, sendText } from './respond.js';
import type { RequestContext } from './types.js';

const COOKIE = 'rr_ui';

/** What the session cookie holds: an HMAC of the token (so the cookie never carries the token). */
function sessionValue(token: string): string {
  return createHmac('sha256', token).update('redis-runbooks ui session v1').digest('hex');
}

function cookieOf(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

function signedIn(ctx: RequestContext): boolean {
  const token = ctx.deps.token;
  if (token === undefined || token === '') return true;
  const got = Buffer.from(cookieOf(ctx.req.headers.cookie, COOKIE) ?? '');
  const want = Buffer.from(sessionValue(token));
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Pages answer with the login form; data routes with 401. */
function requireSession(ctx: RequestContext, page: boolean): boolean {
  if (signedIn(ctx)) return true;
  if (page) {
    ctx.res.writeHead(303, { Location: `/ui/login?next=${encodeURIComponent(ctx.url.pathname)}`, 'Cache-Control': 'no-store' });
    ctx.res.end();
    return false;
  }
  throw new HttpError(401, 'unauthorized', 'sign in at /ui/login');
}

export function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1c1d;background:#f8f8f8}
header{background:#1d1c1d;color:#fff;padding:10px 20px}header a{color:#fff;text-decoration:none}
main{padding:16px 20px;max-width:1200px}table{border-collapse:collapse;width:100%;background:#fff}
td,th{border-bottom:1px solid #ddd;padding:6px 8px;text-align:left;vertical-align:top}
.st{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;background:#888}
.st-awaiting_approval{background:#b7791f}.st-resolved{background:#2f855a}.st-escalated{background:#c53030}
.st-remediating,.st-verifying,.st-planning,.st-diagnosing,.st-deciding{background:#2b6cb0}
pre{background:#fff;border:1px solid #ddd;padding:8px;overflow:auto;white-space:pre-wrap}
section{background:#fff;border:1px solid #ddd;padding:10px 14px;margin:12px 0}.muted{color:#666}
.k{font-family:ui-monospace,monospace;font-size:12px}`;

function page(res: ServerResponse, title: string, body: string, nonce?: string): void {
  const csp = `default-src 'none'; img-src data:; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'${nonce ? `; script-src 'nonce-${nonce}'` : ''}`;
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${esc(title)} · redis-runbooks</title><style>${STYLE}</style></head><body><header><a href="/ui"><b>redis-runbooks</b></a> · incidents</header><main>${body}</main></body></html>`;
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': csp, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer' });
  res.end(html);
}

const state = (s: string): string => `<span class="st st-${esc(s)}">${esc(s.replace(/_/g, ' '))}</span>`;

function incidentRow(i: IncidentSummary): string {
  return `<tr><td><a class="k" href="/ui/incidents/${encodeURIComponent(i.id)}">${esc(i.id)}</a></td><td>${state(i.state)}</td><td>${esc(i.runbook)}</td><td>${esc(i.target)}</td><td>${esc(i.title)}</td><td class="muted">${esc(i.createdAt.replace('T', ' ').slice(0, 19))}</td><td>${esc(i.outcome ?? '')}</td></tr>`;
}

/** `GET /ui`: open incidents first, then the most recent ones. */
export async function uiList(ctx: RequestContext): Promise<void> {
  if (!requireSession(ctx, true)) return;
  const open = await ctx.deps.engine.listIncidents({ open: true, limit: 100 });
  const recent = (await ctx.deps.engine.listIncidents({ limit: 50 })).filter((i) => !open.some((o) => o.id === i.id));
  const table = (rows: IncidentSummary[]): string =>
    rows.length === 0 ? '<p class="muted">none</p>' : `<table><tr><th>incident</th><th>state</th><th>runbook</th><th>target</th><th>title</th><th>opened (UTC)</th><th>outcome</th></tr>${rows.map(incidentRow).join('')}</table>`;
  page(ctx.res, 'incidents', `<h2>Open incidents (${open.length})</h2>${table(open)}<h2>Recent</h2>${table(recent)}`);
}

function proposalHtml(inc: IncidentDetail): string {
  const p = inc.pendingApproval;
  if (!p) return '';
  const cmds = (c: PlannedCommand[]): string => `<pre class="k">${esc(c.map((x) => `${formatPlanned(x)}${x.note ? `    # ${x.note}` : ''}`).join('\n'))}</pre>`;
  const so = p.approvals.length > 0 ? `<p>Approved so far: ${p.approvals.map((a) => `${esc(a.by)} at ${esc(a.at)}${a.option ? ` (${esc(a.option)})` : ''}`).join(', ')}</p>` : '';
  const head = `<h2>Awaiting approval</h2><p>Expires ${esc(p.expiresAt)} · approve with <span class="k">redis-runbooks incidents approve ${esc(inc.id)} --by &lt;you&gt;${p.options ? ' --option N' : ''}</span>, the HTTP API or Slack.</p>${so}`;
  if (p.options && p.options.length > 0) {
    return `<section>${head}${p.options
      .map((o) => `<h3>Option ${o.option}: ${esc(o.title)}</h3><p>Risk <b>${esc(o.risk)}</b> · needs <b>${esc(o.role)}</b>${o.approversRequired > 1 ? ` · ${o.approversRequired} distinct approvers` : ''}${o.cost ? `<br>Cost: ${esc(o.cost)}` : ''}</p>${cmds(o.commands)}`)
      .join('')}</section>`;
  }
  return `<section>${head}<h3>${esc(p.title)}</h3><p>Risk <b>${esc(p.risk)}</b> · needs <b>${esc(p.role)}</b>${p.approversRequired > 1 ? ` · ${p.approversRequired} distinct approvers` : ''}</p>${cmds(p.commands)}${p.evidence.map((e) => `<p class="muted">${esc(e)}</p>`).join('')}</section>`;
}

function entryRow(e: TimelineEntry, n: number): string {
  const who = e.actor.kind === 'user' ? `${e.actor.id} (${e.actor.via})` : e.actor.kind;
  return `<tr data-n="${n}"><td class="muted k">${esc(e.at.replace('T', ' ').slice(0, 23))}</td><td>${esc(who)}</td><td class="k">${esc(e.kind)}</td><td>${esc(e.summary)}</td></tr>`;
}

/** `GET /ui/incidents/:id`. */
export async function uiIncident(ctx: RequestContext): Promise<void> {
  if (!requireSession(ctx, true)) return;
  const id = ctx.params[0] ?? '';
  const inc = await ctx.deps.engine.getIncident(id);
  const tl = await ctx.deps.engine.getTimeline(id);
  if (!inc || !tl) throw new HttpError(404, 'not_found', `no incident ${id}`);
  const nonce = randomBytes(16).toString('base64');
  const findings = Object.entries(inc.findings)
    .map(([k, v]) => `<details><summary class="k">${esc(k)}</summary><pre class="k">${esc(JSON.stringify(v, null, 2).slice(0, 20_000))}</pre></details>`)
    .join('');
  const body = `<h1>${esc(inc.title)}</h1>
<p><span id="badge">${state(inc.state)}</span> <span id="state" class="k">${esc(inc.state)}</span> · runbook <b>${esc(inc.runbook)}</b> · target <b>${esc(inc.target)}</b> · <span class="k">${esc(inc.id)}</span>${inc.dryRun ? ' · dry run' : ''}</p>
${inc.outcome ? `<section><b>Outcome:</b> ${esc(inc.outcome)}</section>` : ''}
<div id="proposal">${proposalHtml(inc)}</div>
<h2>Timeline</h2><table id="timeline"><tr><th>at (UTC)</th><th>who</th><th>kind</th><th>what</th></tr>${tl.map(entryRow).join('')}</table>
<h2>Findings</h2><section>${findings || '<span class="muted">none yet</span>'}</section>
<p><a href="/ui/incidents/${encodeURIComponent(id)}/postmortem">Postmortem draft (Markdown)</a></p>
<script nonce="${nonce}">
(function(){var id=${JSON.stringify(id)};var n=${tl.length};var t=document.getElementById('timeline');var st=document.getElementById('state');
function esc(s){return String(s).replace(/[&<>"']/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
function tick(){fetch('/ui/incidents/'+encodeURIComponent(id)+'/timeline.json?after='+n,{credentials:'same-origin'}).then(function(r){return r.ok?r.json():null;}).then(function(j){if(!j)return;
j.entries.forEach(function(e){var who=e.actor.kind==='user'?e.actor.id+' ('+e.actor.via+')':e.actor.kind;var tr=document.createElement('tr');tr.setAttribute('data-n',String(n));
tr.innerHTML='<td class="muted k">'+esc(e.at.replace('T',' ').slice(0,23))+'</td><td>'+esc(who)+'</td><td class="k">'+esc(e.kind)+'</td><td>'+esc(e.summary)+'</td>';t.appendChild(tr);n++;});
if(st&&j.state&&st.textContent!==j.state){st.textContent=j.state;var b=document.getElementById('badge');if(b){b.innerHTML='<span class="st st-'+esc(j.state)+'">'+esc(j.state.replace(/_/g,' '))+'</span>';}
var p=document.getElementById('proposal');if(p&&j.state!=='awaiting_approval'){p.innerHTML='<section class="muted">The proposal shown earlier is no longer pending (now '+esc(j.state.replace(/_/g,' '))+'); see the timeline.</section>';}}}).catch(function(){}).finally(function(){setTimeout(tick,2000);});}
setTimeout(tick,2000);})();
</script>`;
  page(ctx.res, inc.title, body, nonce);
}

/** `GET /ui/incidents/:id/timeline.json?after=N` (for the page's live update). */
export async function uiTimeline(ctx: RequestContext): Promise<void> {
  requireSession(ctx, false);
  const id = ctx.params[0] ?? '';
  const tl = await ctx.deps.engine.getTimeline(id);
  const inc = await ctx.deps.engine.getIncident(id);
  if (!tl || !inc) throw new HttpError(404, 'not_found', `no incident ${id}`);
  const after = Math.max(0, Math.min(Number.parseInt(ctx.url.searchParams.get('after') ?? '0', 10) || 0, tl.length));
  sendJson(ctx.res, 200, { state: inc.state, entries: tl.slice(after) });
}

/** `GET /ui/incidents/:id/postmortem`. */
export async function uiPostmortem(ctx: RequestContext): Promise<void> {
  if (!requireSession(ctx, true)) return;
  const id = ctx.params[0] ?? '';
  const inc = await ctx.deps.engine.getIncident(id);
  const tl = await ctx.deps.engine.getTimeline(id);
  if (!inc || !tl) throw new HttpError(404, 'not_found', `no incident ${id}`);
  sendText(ctx.res, 200, renderPostmortem(inc, tl), 'text/plain; charset=utf-8');
}

/** `GET /ui/login`: the form (or straight through when no token is configured). */
export async function uiLoginForm(ctx: RequestContext): Promise<void> {
  const next = safeNext(ctx.url.searchParams.get('next'));
  const failed = ctx.url.searchParams.get('failed') === '1';
  page(
    ctx.res,
    'sign in',
    `<h2>Sign in</h2><p class="muted">The same token as the HTTP API (<span class="k">http.token</span>). The page is read-only.</p>${failed ? '<p><b>That token is not right.</b></p>' : ''}<form method="post" action="/ui/login"><input type="hidden" name="next" value="${esc(next)}"><input type="password" name="token" autocomplete="current-password" size="40" autofocus> <button type="submit">Sign in</button></form>`,
  );
}

/** `POST /ui/login` (form-encoded `token`, `next`). */
export async function uiLogin(ctx: RequestContext): Promise<void> {
  const raw = (await readBody(ctx.req, Math.min(ctx.deps.maxBodyBytes, 8192))).toString('utf8');
  const form = new URLSearchParams(raw);
  const next = safeNext(form.get('next'));
  const token = ctx.deps.token ?? '';
  const given = Buffer.from(sessionValue(form.get('token') ?? ''));
  const want = Buffer.from(sessionValue(token));
  if (token !== '' && !timingSafeEqual(given, want)) {
    ctx.res.writeHead(303, { Location: `/ui/login?failed=1&next=${encodeURIComponent(next)}` });
    ctx.res.end();
    return;
  }
  const secure = ctx.req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
  ctx.res.writeHead(303, { Location: next, 'Set-Cookie': `${COOKIE}=${token === '' ? '' : sessionValue(token)}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=43200${secure}` });
  ctx.res.end();
}

/** Only our own pages are valid places to go after signing in. */
function safeNext(next: string | null): string {
  return next !== null && /^\/ui(\/[\w./%-]*)?$/.test(next) ? next : '/ui';
}
