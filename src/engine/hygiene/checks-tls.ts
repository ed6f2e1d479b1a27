/**
 * TLS hygiene: days to expiry of the certificate every data node serves (a real handshake through
 * `redis.tls-certificate`), an expired or untrusted certificate, and a renewed one already on disk
 * that only waits for a reload. Targets without TLS yield nothing.
 */
import { z } from 'zod';
import { tlsCertificate } from '../../actions/redis/tls-certificate.js';
import type { TlsCertificateResult } from '../../actions/redis/tls-certificate.js';
import { nodeKey } from '../../actions/types.js';
import type { CheckDefinition, FindingDraft, Severity } from './types.js';

const tlsParams = z
  .object({
    /** Fewer days left than this is a warning / critical. */
    warningDays: z.number().min(0).max(3650).default(21),
    criticalDays: z.number().min(0).max(3650).default(7),
    /** A served certificate the engine cannot verify (unknown CA, host name not covered). */
    untrusted: z.enum(['info', 'warning', 'critical']).default('warning'),
    timeoutMs: z.number().int().min(100).max(10_000).default(2000),
  })
  .strict()
  .refine((p) => p.criticalDays <= p.warningDays, { message: 'criticalDays must not exceed warningDays', path: ['criticalDays'] });

const day = (iso: string): string => iso.slice(0, 10);

export const tlsExpiry: CheckDefinition<z.infer<typeof tlsParams>> = {
  type: 'tls-certificate',
  description: 'Days to expiry of the TLS certificate each data node serves (real handshake), expired or untrusted certificates, and a renewed certificate on disk waiting for a reload.',
  params: tlsParams,
  endpointsOnFailure: true,
  async run(ctx) {
    const p = ctx.params;
    const findings: FindingDraft[] = [];
    if (!ctx.target.tls) return { findings };
    for (const node of ctx.nodes) {
      const n = nodeKey(node);
      const c: TlsCertificateResult = await ctx.action(tlsCertificate, node, { warnDays: p.warningDays, timeoutMs: p.timeoutMs });
      const s = c.served;
      if (!s) {
        findings.push({ severity: 'warning', key: `handshake:${n}`, node: n, summary: `no TLS handshake with ${n}: ${c.errorClass ?? 'unknown error'}`, data: { errorClass: c.errorClass } });
        continue;
      }
      const renewed = c.renewedOnDisk && c.disk.cert?.notAfter ? `; a renewed certificate (until ${day(c.disk.cert.notAfter)}) is already in ${c.certFile ?? 'tls-cert-file'}: a reload (CONFIG SET tls-cert-file) serves it` : '';
      const data = { subject: s.subject, issuer: s.issuer, notAfter: s.notAfter, daysLeft: s.daysLeft, serialNumber: s.serialNumber, fingerprint256: s.fingerprint256, certFile: c.certFile, renewedOnDisk: c.renewedOnDisk, errorClass: c.errorClass };
      const days = s.daysLeft.toFixed(1);
      if (c.expired) {
        findings.push({ severity: 'critical', key: `expiry:${n}`, node: n, summary: `the TLS certificate ${n} serves (CN ${s.cn ?? '?'}, serial ${s.serialNumber}) expired on ${day(s.notAfter)} (${Math.abs(s.daysLeft).toFixed(1)} days ago): clients that verify it cannot connect${renewed}`, data });
      } else if (s.daysLeft < p.warningDays) {
        const sev: Severity = s.daysLeft < p.criticalDays ? 'critical' : 'warning';
        findings.push({ severity: sev, key: `expiry:${n}`, node: n, summary: `the TLS certificate ${n} serves (CN ${s.cn ?? '?'}, serial ${s.serialNumber}) expires on ${day(s.notAfter)}: ${days} days left (${sev} below ${sev === 'critical' ? p.criticalDays : p.warningDays})${renewed}`, data });
      }
      if (!c.expired && !c.authorized && c.errorClass !== null) {
        const bad = c.names.filter((x) => !x.matches).map((x) => x.name);
        findings.push({ severity: p.untrusted, key: `untrusted:${n}`, node: n, summary: `the TLS certificate ${n} serves does not verify: ${c.errorClass}${bad.length > 0 ? ` (names not covered: ${bad.join(', ')})` : ''}; issuer ${s.issuer}`, data: { ...data, names: c.names } });
      }
    }
    return { findings };
  },
};
