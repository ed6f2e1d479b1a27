/**
 * `redis.auth-probe`: can the engine get in, and what does a client see at the door? Connects as
 * the engine (its ACL user, over the target's transport, on a new connection: a pooled one may
 * predate a certificate or password change) and classifies the outcome (`wrongpass`,
 * `cert_expired`, `unknown_ca`, `refused`, …); then probes the listener the way a client would,
 * without credentials: a plain TCP PING (a TLS-only port drops it: `tls_required`) and, for TLS
 * targets, a handshake with the configured CA and host name (certificate verdict, and whether a
 * command without AUTH is refused with NOAUTH). Read-only; never sends a credential on a probe.
 * The no-AUTH PINGs count once each in the server's `errorstat_NOAUTH`.
 */
import { z } from 'zod';
import { RunbooksError } from '../../errors.js';
import type { ActionDefinition } from '../types.js';
import { nodeKey } from '../types.js';
import { replyText, sendCommand } from './connection.js';
import { probePlain, probeTls } from './tls-probe.js';
import type { PlainProbe } from './tls-probe.js';

const input = z
  .object({
    /** Probe timeout per listener check (ms). */
    probeTimeoutMs: z.number().int().min(100).max(10_000).default(1500),
  })
  .strict();

export type AuthProbeInput = z.infer<typeof input>;

export interface AuthProbeResult {
  node: string;
  transport: 'tls' | 'plain';
  /** The engine's own connection: ok, or the classified failure. */
  engine: { ok: boolean; user: string | null; code: string | null; message: string | null };
  /** Shortcut: the engine's failure code, null when it got in. */
  code: string | null;
  /** What a plain TCP client gets: `reply` (with firstLine), `reset`/`closed` (TLS-only port), `timeout`, `refused`. */
  plain: PlainProbe;
  /** The handshake a TLS client with the configured CA and host name gets (null for plain targets). */
  tls: {
    handshake: boolean;
    authorized: boolean;
    nameMatches: boolean | null;
    errorClass: string | null;
    error: string | null;
    protocol: string | null;
    notAfter: string | null;
    daysLeft: number | null;
  } | null;
  /** A command without AUTH is refused with NOAUTH (true), answered (false: no auth needed), or unknown (null). */
  authRequired: boolean | null;
  /** Plain TCP is refused on this port (TLS only). */
  tlsOnly: boolean | null;
  /** Every class seen: the engine's, the listener's (`tls_required` for a plain client on a TLS-only port, `not_tls`, the certificate's). */
  classes: string[];
}

export const authProbe: ActionDefinition<AuthProbeInput, AuthProbeResult> = {
  name: 'redis.auth-probe',
  description: 'Connects as the engine and classifies the outcome; probes the listener as a client would (no AUTH, plain TCP, TLS handshake with the configured CA).',
  risk: 'read',
  input,
  timeoutMs: 20_000,
  output: {
    node: 'the node probed (host:port)',
    transport: 'tls or plain, as the target is configured',
    'engine.ok': 'the engine authenticated and ran ACL WHOAMI',
    'engine.user': 'the user the engine runs as (ACL WHOAMI)',
    'engine.code': 'classified failure of the engine connection (refused, timeout, wrongpass, noauth, noperm, cert_expired, cert_not_yet_valid, hostname_mismatch, unknown_ca, client_cert_required, handshake, tls_required, not_tls) or null',
    'engine.message': 'the failure message (secrets scrubbed) or null',
    code: 'same as engine.code',
    'plain.outcome': 'plain TCP PING: reply, reset, closed, timeout, refused, error',
    'plain.firstLine': 'first reply line to the plain PING (+PONG, -NOAUTH …)',
    'tls.handshake': 'a TLS handshake completed',
    'tls.authorized': 'the certificate verified against the configured CA and covers the host name',
    'tls.nameMatches': 'the certificate covers the configured host name (servername, else the node host)',
    'tls.errorClass': 'classified TLS failure (cert_expired, unknown_ca, hostname_mismatch, client_cert_required, not_tls, …) or null',
    'tls.error': 'Node error code of that failure or null',
    'tls.protocol': 'negotiated protocol (TLSv1.3)',
    'tls.notAfter': 'server certificate notAfter (ISO)',
    'tls.daysLeft': 'days until notAfter (negative: expired)',
    authRequired: 'a command without AUTH gets NOAUTH (true), is answered (false), unknown (null)',
    tlsOnly: 'plain TCP is dropped on this port (true) or answered (false)',
    'classes[]': 'every class seen (engine and listener)',
  },
  async run(inp, ctx) {
    const node = ctx.node;
    const tlsConf = ctx.target.tls;
    const engine: AuthProbeResult['engine'] = { ok: false, user: null, code: null, message: null };
    const fresh = ctx.target.connectFresh ? await ctx.target.connectFresh(node) : undefined;
    const via = fresh ? { target: { connect: async () => fresh, ...(ctx.target.secret ? { secret: ctx.target.secret } : {}) } } : ctx;
    try {
      engine.user = replyText(await sendCommand(via, node, ['ACL', 'WHOAMI']));
      engine.ok = true;
    } catch (e) {
      engine.code = e instanceof RunbooksError ? e.code : 'redis_error';
      engine.message = (e as Error).message;
    } finally {
      fresh?.disconnect();
    }
    const plain = await probePlain(node, inp.probeTimeoutMs);
    let tls: AuthProbeResult['tls'] = null;
    let authRequired: boolean | null = null;
    const classes = new Set<string>(engine.code ? [engine.code] : []);
    if (tlsConf) {
      const t = await probeTls(
        node,
        {
          ...(tlsConf.ca !== undefined ? { ca: tlsConf.ca } : {}),
          ...(tlsConf.cert !== undefined ? { cert: tlsConf.cert } : {}),
          ...(tlsConf.key !== undefined ? { key: tlsConf.key } : {}),
          ...(tlsConf.servername !== undefined ? { servername: tlsConf.servername } : {}),
        },
        { timeoutMs: inp.probeTimeoutMs, now: ctx.now() },
      );
      let errorClass = t.errorClass;
      if (!t.handshake && plain.outcome === 'reply' && !plain.binary) errorClass = 'not_tls';
      tls = {
        handshake: t.handshake,
        authorized: t.authorized,
        nameMatches: t.nameMatches,
        errorClass,
        error: t.error?.code ?? null,
        protocol: t.protocol,
        notAfter: t.certificate?.notAfter ?? null,
        daysLeft: t.certificate?.daysLeft ?? null,
      };
      if (errorClass) classes.add(errorClass);
      if (t.firstLine !== null) authRequired = t.firstLine.startsWith('-NOAUTH');
      if (t.handshake && (plain.outcome === 'reset' || plain.outcome === 'closed')) classes.add('tls_required');
    } else if (plain.outcome === 'reply' && plain.firstLine !== undefined) {
      authRequired = plain.firstLine.startsWith('-NOAUTH');
    } else if (plain.outcome === 'refused') {
      classes.add('refused');
    }
    const tlsOnly = plain.outcome === 'reply' ? false : plain.outcome === 'reset' || plain.outcome === 'closed' ? true : null;
    return { node: nodeKey(node), transport: tlsConf ? 'tls' : 'plain', engine, code: engine.code, plain, tls, authRequired, tlsOnly, classes: [...classes] };
  },
};
