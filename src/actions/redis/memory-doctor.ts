/**
 * `redis.memory-doctor`: the server's own memory diagnosis, with its issue bullets extracted.
 */
import { z } from 'zod';
import type { ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { replyText, sendCommand } from './connection.js';
import { parseMemoryDoctor } from './info.js';

const input = z.object({}).strict().prefault({});

/** Longest text kept in findings (characters). */
export const DOCTOR_TEXT_MAX = 2048;

/** Findings of `redis.memory-doctor`. */
export interface MemoryDoctorResult {
  node: string;
  /** The report, trimmed to 2 KB. */
  text: string;
  healthy: boolean;
  /** Bullet titles such as `Peak memory`, `High allocator fragmentation`. */
  issues: string[];
  /** The doctor declined: the instance is empty or uses very little memory. */
  empty: boolean;
}

/** Runs MEMORY DOCTOR on `ctx.node`. */
export const memoryDoctor: ActionDefinition<z.infer<typeof input>, MemoryDoctorResult> = {
  name: 'redis.memory-doctor',
  description: "Redis's own memory diagnosis (MEMORY DOCTOR): peak, RSS, fragmentation, buffer issues.",
  risk: 'read',
  input,
  timeoutMs: 10_000,
  output: {
    node: 'host:port read',
    text: 'the MEMORY DOCTOR report, trimmed to 2048 characters',
    healthy: 'true when the report names no issue (an empty instance also counts as healthy)',
    issues: 'issue titles, e.g. "Peak memory", "High allocator fragmentation", "Big replica buffers"',
    empty: 'true when the doctor declined: the instance is empty or uses very little memory',
  },
  async run(_input, ctx) {
    const text = replyText(await sendCommand(ctx, ctx.node, ['MEMORY', 'DOCTOR'])).trim();
    const report = parseMemoryDoctor(text);
    return {
      node: nodeKey(ctx.node),
      text: text.length > DOCTOR_TEXT_MAX ? `${text.slice(0, DOCTOR_TEXT_MAX - 1)}…` : text,
      ...report,
    };
  },
};
