/**
 * Persistence hygiene: last RDB save and AOF write/rewrite status, the age of the last good save
 * when saves are configured, and AOF off on `store` targets.
 */
import { z } from 'zod';
import { configReplyToRecord } from '../../actions/redis/config-get.js';
import { readInfo } from '../../actions/redis/connection.js';
import { num, optNum, str } from '../../actions/redis/info.js';
import { nodeKey } from '../../actions/types.js';
import type { CheckDefinition, FindingDraft } from './types.js';

const sev = z.enum(['info', 'warning', 'critical']);

const params = z
  .object({
    /** A last good save older than this (with changes since, and `save` points configured) is a warning. */
    maxSaveAgeHours: z.number().positive().default(24),
    failing: sev.default('critical'),
    aofOffOnStore: sev.default('warning'),
  })
  .strict();

function fmtAge(sec: number): string {
  if (sec < 120) return `${sec} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  if (sec < 172_800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86_400).toFixed(1)} d`;
}

export const persistence: CheckDefinition<z.infer<typeof params>> = {
  type: 'persistence',
  description: 'RDB/AOF status (rdb_last_bgsave_status, aof_last_write_status, aof_last_bgrewrite_status), age of the last good save, AOF on store targets.',
  params,
  async run(ctx) {
    const findings: FindingDraft[] = [];
    for (const node of ctx.nodes) {
      const n = nodeKey(node);
      const info = await readInfo({ target: ctx.target }, node, 'persistence', 'server');
      const cfg = configReplyToRecord(await ctx.command(node, ['CONFIG', 'GET', 'save', 'appendonly', 'dir', 'dbfilename']));
      const p = info['persistence'];
      const usec = optNum(info['server'], 'server_time_usec');
      const now = usec !== null ? Math.floor(usec / 1e6) : Math.floor(ctx.now() / 1000);
      const lastSave = num(p, 'rdb_last_save_time');
      const age = Math.max(0, now - lastSave);
      const changes = num(p, 'rdb_changes_since_last_save');
      const aofOn = num(p, 'aof_enabled') === 1;
      const saves = (cfg['save'] ?? '').trim();
      const base = { lastSaveTime: lastSave, lastSaveAgeSec: age, changesSinceLastSave: changes, dir: cfg['dir'] ?? '', dbfilename: cfg['dbfilename'] ?? '', save: saves, aofEnabled: aofOn };
      if (str(p, 'rdb_last_bgsave_status') === 'err') {
        findings.push({ severity: ctx.params.failing, key: `rdb:${n}`, node: n, summary: `last RDB save failed on ${n} (rdb_last_bgsave_status:err): last good save ${fmtAge(age)} ago, ${changes} changes since, dir ${cfg['dir'] ?? '?'}/${cfg['dbfilename'] ?? '?'}`, data: base });
      } else if (saves !== '' && changes > 0 && age > ctx.params.maxSaveAgeHours * 3600) {
        findings.push({ severity: 'warning', key: `save-age:${n}`, node: n, summary: `last good RDB save on ${n} is ${fmtAge(age)} old (limit ${ctx.params.maxSaveAgeHours} h) with ${changes} changes since`, data: base });
      }
      if (aofOn && str(p, 'aof_last_write_status') === 'err') {
        findings.push({ severity: ctx.params.failing, key: `aof-write:${n}`, node: n, summary: `AOF writes fail on ${n} (aof_last_write_status:err)`, data: base });
      }
      if (str(p, 'aof_last_bgrewrite_status') === 'err') {
        findings.push({ severity: 'warning', key: `aof-rewrite:${n}`, node: n, summary: `last AOF rewrite failed on ${n} (aof_last_bgrewrite_status:err, ${num(p, 'aof_rewrites_consecutive_failures')} failures in a row)`, data: base });
      }
      if (ctx.target.role === 'store' && !aofOn) {
        findings.push({ severity: ctx.params.aofOffOnStore, key: `aof-off:${n}`, node: n, summary: `AOF is off on ${n} (store target): a crash loses up to ${saves === '' ? 'everything since start (no save points either)' : `the writes since the last RDB save (${fmtAge(age)} ago)`}`, data: base });
      }
    }
    return { findings };
  },
};
