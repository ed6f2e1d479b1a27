/** The JSON Schema of the runbook format, generated from the zod schema (for editors). */
import { z } from 'zod';
import { runbookSchema } from './schema.js';

export function runbookJsonSchema(): Record<string, unknown> {
  const s = z.toJSONSchema(runbookSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...s, $id: 'https://redis-runbooks.dev/schema/runbook-v1.json', title: 'redis-runbooks runbook (apiVersion redis-runbooks/v1)' };
}
