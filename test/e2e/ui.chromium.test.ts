/**
 * Issue 11, the incident page, in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): sign in with the token, the list shows an incident opened by a real alert,
 * the incident page shows the proposal with its exact commands and the timeline, and the timeline
 * updates without a reload when the incident moves on. A screenshot is saved as a test artifact.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { post, startTestApp, testPrefix, webhookBody } from '../helpers/app.js';
import { waitIncidentFor, waitState } from '../helpers/incidents.js';
import { startRedis } from '../helpers/redis-server.js';
import type { RedisProcess } from '../helpers/redis-server.js';

const RUNBOOKS = resolve(import.meta.dirname, '..', 'fixtures', 'runbooks-capabilities');
const ARTIFACTS = resolve(import.meta.dirname, '..', 'artifacts');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const TOKEN = 'ui-token-5f2a9c';

let store: RedisProcess;
let target: RedisProcess;
let app: App;
let browser: Browser;

beforeAll(async () => {
  if (!CHROMIUM) throw new Error('chromium is not installed: run `bash scripts/test-deps.sh` (apt-get install chromium)');
  store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  target = await startRedis({ configFile: true });
  app = await startTestApp({ storeUrl: store.url, prefix: testPrefix(), targets: { cap: { endpoints: [`${target.host}:${target.port}`], role: 'store' } }, runbooksDir: RUNBOOKS, token: TOKEN });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await target?.stop();
  await store?.stop();
});

describe('the incident page in Chromium', () => {
  it('signs in, lists the incident a real alert opened, shows its proposal and a timeline that updates without a reload', async () => {
    await target.client().config('SET', 'slowlog-log-slower-than', '10000');
    const base = app.http?.url ?? '';
    expect((await post(`${base}/webhooks/alertmanager`, webhookBody([{ labels: { alertname: 'CapSlowlogLow', instance: `${target.host}:${target.port}` }, fingerprint: 'ui00000000000001' }]), TOKEN)).status).toBe(202);
    const id = await waitIncidentFor(app, 'ui00000000000001');
    await waitState(app, id, ['awaiting_approval']);

    // Unauthenticated: the data route refuses, the page asks for the token.
    expect((await fetch(`${base}/ui/incidents/${id}/timeline.json`)).status).toBe(401);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      // The browser asks for /favicon.ico on its own for the plain-text postmortem: not the page's doing.
      if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) errors.push(`${m.text()} @ ${m.location().url}`);
    });
    await page.goto(`${base}/ui`);
    expect(page.url()).toContain('/ui/login');
    await page.fill('input[name=token]', 'wrong');
    await page.click('button[type=submit]');
    expect(await page.textContent('body')).toContain('That token is not right');
    await page.fill('input[name=token]', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/ui`);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'rr_ui')?.value).not.toContain(TOKEN);
    expect(cookies.find((c) => c.name === 'rr_ui')?.httpOnly).toBe(true);
    expect(await page.textContent('body')).toContain(id);

    // The incident: proposal with both options and their exact commands, and the timeline.
    await page.click(`a[href="/ui/incidents/${id}"]`);
    await page.waitForSelector('#timeline');
    const body = (await page.textContent('body')) ?? '';
    expect(body).toContain('Awaiting approval');
    expect(body).toContain('Option 2: Raise the threshold on every replica');
    expect(body).toContain(`${target.host}:${target.port}: CONFIG SET slowlog-log-slower-than 20000`);
    expect(body).toContain('approval.requested');
    const rowsBefore = await page.locator('#timeline tr').count();

    // The incident moves on (approved through the API): the open page catches up by itself.
    const ok = await post(`${base}/api/incidents/${id}/approve`, { by: 'alice', option: 1 }, TOKEN);
    expect(ok.status).toBe(200);
    await waitState(app, id, ['resolved']);
    await page.waitForSelector('#badge .st-resolved', { timeout: 15_000 });
    expect(await page.textContent('#state')).toBe('resolved');
    expect(await page.textContent('#proposal')).toContain('no longer pending');
    await page.waitForSelector('#timeline tr >> text=incident.resolved', { timeout: 15_000 });
    expect(await page.locator('#timeline tr').count()).toBeGreaterThan(rowsBefore);
    expect(page.url()).toBe(`${base}/ui/incidents/${id}`); // no reload, no navigation
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: resolve(ARTIFACTS, 'incident-page.png'), fullPage: true });

    // The postmortem draft.
    const pm = await page.goto(`${base}/ui/incidents/${id}/postmortem`);
    expect(await pm?.text()).toContain(`# `);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);
});
