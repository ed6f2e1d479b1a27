/**
 * `redis.tls-reload`: makes a node serve the renewed certificate already on its disk, without a
 * restart: `CONFIG SET tls-cert-file <path> tls-key-file <path>` with the paths it already uses
 * (Redis 7 reloads the TLS context; existing connections are unaffected; a bad pair fails
 * atomically). Plans nothing when the served certificate is already the one on disk. Applied = a
 * fresh handshake serves the certificate on disk.
 */
import { z } from 'zod';
import { TargetError } from '../../errors.js';
import type { ActionContext, ActionDefinition, CommandOutcome, PlannedCommand } from '../types.js';
import { nodeKey } from '../types.js';
import { executePlan, parseNodeKey } from './connection.js';
import { probeTls } from './tls-probe.js';
import { readDiskCertificate, readTlsDirectives } from './tls-files.js';
import { clientNames } from './tls-certificate.js';

const input = z.object({}).strict();

export type TlsReloadInput = z.infer<typeof input>;

export interface TlsReloadResult {
  outcomes: CommandOutcome[];
  dryRun?: true;
}

/** The served certificate's fingerprint and notAfter on a fresh handshake with the target's TLS settings. */
async function served(ctx: Pick<ActionContext, 'target' | 'now'>, node: { host: string; port: number }): Promise<{ fingerprint: string | null; notAfter: string | null }> {
  const conf = ctx.target.tls;
  const p = await probeTls(node, { ...(conf?.ca !== undefined ? { ca: conf.ca } : {}), ...(conf?.cert !== undefined ? { cert: conf.cert } : {}), ...(conf?.key !== undefined ? { key: conf.key } : {}), ...(conf?.servername !== undefined ? { servername: conf.servername } : {}) }, { now: ctx.now() });
  return { fingerprint: p.certificate?.fingerprint256 ?? null, notAfter: p.certificate?.notAfter ?? null };
}

export const tlsReload: ActionDefinition<TlsReloadInput, TlsReloadResult> = {
  name: 'redis.tls-reload',
  description: 'Reloads the TLS certificate and key from the files the node already uses (CONFIG SET tls-cert-file/tls-key-file, no restart), when a renewed certificate is on disk.',
  risk: 'write',
  input,
  timeoutMs: 15_000,
  output: {
    'outcomes[]': 'the CONFIG SET sent: { node, argv, ok, reply, error }',
  },
  async plan(_inp, ctx): Promise<PlannedCommand[]> {
    if (!ctx.target.tls) throw new TargetError('not_tls', `target ${ctx.target.name} is not configured for TLS`, false);
    const node = nodeKey(ctx.node);
    const conf = await readTlsDirectives(ctx, ctx.node);
    const certPath = conf['tls-cert-file'];
    const keyPath = conf['tls-key-file'];
    if (!certPath || !keyPath) throw new TargetError('tls_not_configured', `${node} has no tls-cert-file / tls-key-file`, false);
    const disk = await readDiskCertificate(certPath, { now: ctx.now(), ...(ctx.target.tls.ca !== undefined ? { ca: ctx.target.tls.ca } : {}), names: clientNames(ctx), keyPath });
    const now = await served(ctx, ctx.node);
    if (disk.readable && disk.fingerprint256 === now.fingerprint) return [];
    if (disk.readable && (disk.validNow === false || disk.verifiesWithCa === false || disk.keyMatches === false || disk.coversNames === false)) {
      throw new TargetError('certificate_not_ready', `the certificate in ${certPath} is not ready to serve (valid now: ${String(disk.validNow)}, signed by the CA: ${String(disk.verifiesWithCa)}, matches its key: ${String(disk.keyMatches)}, covers the client names: ${String(disk.coversNames)})`, false);
    }
    const change = disk.readable ? `notAfter ${now.notAfter ?? '?'} → ${disk.notAfter ?? '?'}` : 'the file is not readable by the engine: dates unknown';
    return [{ node, argv: ['CONFIG', 'SET', 'tls-cert-file', certPath, 'tls-key-file', keyPath], note: `reload the certificate from ${certPath} (${change}); no restart, open connections stay` }];
  },
  async run(inp, ctx, given) {
    const plan = given ?? (await tlsReload.plan?.(inp, ctx)) ?? [];
    if (ctx.dryRun) return { outcomes: [], dryRun: true };
    const exec = await executePlan(ctx, plan);
    if (exec.error) throw exec.error;
    return { outcomes: exec.outcomes };
  },
  async applied(cmd, _inp, ctx) {
    const certPath = cmd.argv[3];
    if (cmd.argv[2] !== 'tls-cert-file' || certPath === undefined) return undefined;
    const node = parseNodeKey(cmd.node);
    const disk = await readDiskCertificate(certPath, { now: ctx.now() });
    if (!disk.readable) return undefined;
    const now = await served(ctx, node);
    if (now.fingerprint === null) return undefined;
    return now.fingerprint === disk.fingerprint256;
  },
};
