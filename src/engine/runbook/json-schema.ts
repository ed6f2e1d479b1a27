/**
 * The JSON Schema of the runbook format, generated from the zod schema (for editors), with the
 * `with:` of every step checked against the input schema of the action it names: editors flag a
 * wrong parameter before `redis-runbooks lint` does. A `with:` value may always be an `{expr}`
 * string (evaluated from the findings at run time).
 */
import { z } from 'zod';
import type { ActionDefinition } from '../../actions/types.js';
import { runbookSchema } from './schema.js';

const EXPR = { type: 'string', pattern: '^\\s*\\{[^{][\\s\\S]*\\}\\s*$', description: 'an {expr} evaluated from the findings at run time' };

/** Every value inside `schema` (properties, array items) may also be an `{expr}` string. */
function acceptExpr(schema: unknown): unknown {
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const o = { ...(schema as Record<string, unknown>) };
  const props = o['properties'] as Record<string, unknown> | undefined;
  if (props) o['properties'] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, acceptExpr(v)]));
  if (o['items'] !== undefined) o['items'] = acceptExpr(o['items']);
  return { anyOf: [o, EXPR] };
}

/** The input schema of an action, each value also accepting an `{expr}` string. */
function withSchema(action: ActionDefinition<unknown, unknown>): Record<string, unknown> {
  const s = z.toJSONSchema(action.input as z.ZodType, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete s['$schema'];
  const props = s['properties'] as Record<string, unknown> | undefined;
  if (props) s['properties'] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, acceptExpr(v)]));
  return s;
}

/** Adds `if action == X then with: <X's input>` wherever a step (`action` + `with`) is described. */
function addActionInputs(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) addActionInputs(n);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  const props = o['properties'] as Record<string, unknown> | undefined;
  if (props && 'action' in props && 'with' in props && o['type'] === 'object') o['allOf'] = [{ $ref: '#/$defs/actionInputs' }];
  for (const v of Object.values(o)) addActionInputs(v);
}

export function runbookJsonSchema(actions?: ReadonlyMap<string, ActionDefinition<unknown, unknown>>): Record<string, unknown> {
  const s = z.toJSONSchema(runbookSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  if (actions) {
    const names = [...actions.keys()].sort();
    const branches = names.map((name) => ({
      if: { properties: { action: { const: name } }, required: ['action'] },
      then: { properties: { with: withSchema(actions.get(name) as ActionDefinition<unknown, unknown>) } },
    }));
    addActionInputs(s);
    s['$defs'] = { ...((s['$defs'] as Record<string, unknown> | undefined) ?? {}), actionInputs: { allOf: branches } };
  }
  return { ...s, $id: 'https://redis-runbooks.dev/schema/runbook-v1.json', title: 'redis-runbooks runbook (apiVersion redis-runbooks/v1)' };
}
