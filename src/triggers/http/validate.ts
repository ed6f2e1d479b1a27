/**
 * Validating JSON bodies and query strings of the API with zod; errors name the JSON path.
 */
import type { z } from 'zod';
import { describeIssues, requiredErrorMap } from '../alertmanager/payload.js';
import { HttpError } from './http-error.js';

/** Parse `raw` with `schema`, or throw 400 `input_invalid` naming the paths at fault. */
export function parseInput<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw, { error: requiredErrorMap });
  if (r.success) return r.data;
  throw new HttpError(400, 'input_invalid', describeIssues(r.error.issues));
}
