/**
 * `GET /api/hygiene[?target=T][&format=md]`: the hygiene digest — open findings (severity, first
 * and last seen, runs count) and recently cleared ones per target, with each check's last run.
 */
import { renderHygieneMarkdown } from '../../engine/hygiene/digest.js';
import { HttpError } from './http-error.js';
import { sendJson, sendText } from './respond.js';
import type { RequestContext } from './types.js';

export async function getHygiene({ res, url, deps }: RequestContext): Promise<void> {
  if (!deps.hygiene) throw new HttpError(404, 'not_found', 'hygiene checks are not available on this process');
  const target = url.searchParams.get('target') ?? undefined;
  if (target !== undefined && !deps.engine.names().targets.includes(target)) throw new HttpError(404, 'not_found', `unknown target '${target}'`);
  const report = await deps.hygiene.report(target !== undefined ? { target } : {});
  if (url.searchParams.get('format') === 'md') sendText(res, 200, renderHygieneMarkdown(report), 'text/markdown; charset=utf-8');
  else sendJson(res, 200, report);
}
