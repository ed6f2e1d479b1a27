/**
 * The one error the expression language throws: a bad expression or template, found while compiling.
 * Evaluation never throws.
 */
import { RunbooksError } from '../../errors.js';

/** A condition expression (or an interpolation template) that does not parse. Never retryable. */
export class ExprError extends RunbooksError {
  /** What is wrong, without the location (the message adds ` at column N`). */
  readonly detail: string;
  /** 0-based character offset in `source` where the problem was found. */
  readonly position: number;
  /** The full text that was being compiled. */
  readonly source: string;

  constructor(detail: string, position: number, source: string) {
    super('expr_invalid', `${detail} at column ${position + 1}`);
    this.detail = detail;
    this.position = position;
    this.source = source;
  }

  /** 1-based column of `position`, as shown in the message. */
  get column(): number {
    return this.position + 1;
  }
}
