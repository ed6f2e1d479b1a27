/**
 * The variables a runbook's expressions see: every finding by step id (and derived value by
 * name), `params`, `target` (name, role), `alert` (labels) and `verify` (polls so far).
 */
import type { MachineContext } from './types.js';

export function scopeOf(ctx: MachineContext, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...ctx.findings,
    params: ctx.params,
    target: { name: ctx.target.name, role: ctx.target.role },
    alert: { labels: ctx.labels },
    verify: { polls: ctx.current?.polls ?? 0 },
    ...extra,
  };
}

/** Names the scope provides besides step ids and derived values (for reference checks). */
export const SCOPE_BUILTINS = ['params', 'target', 'alert', 'verify', 'node'] as const;
