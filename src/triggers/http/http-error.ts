/**
 * HTTP-level failures and the mapping of any thrown error to a status and a JSON error body.
 */
import { InputError, RunbooksError, StoreUnavailableError } from '../../errors.js';

/** A failure the HTTP door answers with `status` and `{ error: { code, message } }`. */
export class HttpError extends RunbooksError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    /** Extra response headers (e.g. `WWW-Authenticate`, `Allow`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(code, message, { retryable: status >= 500 });
  }
}

/**
 * Map anything thrown by a handler to an {@link HttpError}. Store outages become 503 (Alertmanager
 * retries 5xx); input errors keep their status; anything else is a 500 whose text hides internals.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof InputError) return new HttpError(err.status, err.code, err.message);
  if (err instanceof StoreUnavailableError) {
    return new HttpError(503, err.code, 'the engine store is unavailable; retry later', { 'Retry-After': '5' });
  }
  return new HttpError(500, 'internal', 'internal error');
}

/** 503 when the engine reports it is not ready (store unreachable). */
export function notReady(): HttpError {
  return new HttpError(503, 'not_ready', 'the engine is not ready; retry later', { 'Retry-After': '5' });
}
