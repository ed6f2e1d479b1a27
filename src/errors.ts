/**
 * Every failure carries a snake_case code and a retry decision made where it happens.
 * Only the worker maps non-retryable failures to BullMQ's UnrecoverableError.
 */
export class RunbooksError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  constructor(code: string, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

/** Bad config file: `file: path: problem`. Never retryable. */
export class ConfigError extends RunbooksError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

/** Bad runbook YAML, or a runbook that does not compile: names file and YAML path. */
export class RunbookError extends RunbooksError {
  constructor(message: string) {
    super('runbook_invalid', message);
  }
}

/** Bad input at a door (webhook, API, Slack). */
export class InputError extends RunbooksError {
  constructor(message: string, readonly status = 400) {
    super('input_invalid', message);
  }
}

/** The engine's own store is unreachable: retry later (the HTTP door answers 503). */
export class StoreUnavailableError extends RunbooksError {
  constructor(message: string, cause?: unknown) {
    super('store_unavailable', message, { retryable: true, cause });
  }
}

/** A command sent to a target failed. Retryable for connection errors, not for server errors. */
export class TargetError extends RunbooksError {
  constructor(code: string, message: string, retryable: boolean, cause?: unknown) {
    super(code, message, { retryable, cause });
  }
}

/** Redis error replies by prefix (match on the prefix, never the whole text). */
export function redisErrorCode(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const prefix = /^([A-Z]+)\b/.exec(msg)?.[1];
  switch (prefix) {
    case 'NOAUTH':
    case 'WRONGPASS':
    case 'NOPERM':
    case 'OOM':
    case 'READONLY':
    case 'LOADING':
    case 'MASTERDOWN':
    case 'CLUSTERDOWN':
    case 'MISCONF':
    case 'BUSY':
      return `redis_${prefix.toLowerCase()}`;
    default:
      if (/ECONNREFUSED|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|Connection is closed|connect ETIMEDOUT/i.test(msg)) return 'target_unreachable';
      return 'redis_error';
  }
}
