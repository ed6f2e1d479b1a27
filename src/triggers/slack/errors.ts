/**
 * Slack door failures. Every one is retryable: a notify job that throws one is retried by BullMQ
 * with backoff, which is how the thread catches up once Slack answers again.
 */
import { RunbooksError } from '../../errors.js';

/** A sync could not finish now (Slack rate-limited or down, or another process is syncing). */
export class SlackSyncError extends RunbooksError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { retryable: true, cause });
  }
}
