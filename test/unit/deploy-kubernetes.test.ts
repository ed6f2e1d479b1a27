/**
 * Issue 11: the Kubernetes example is not applied anywhere (no cluster here), but what can be checked
 * without one is: every manifest is valid YAML of the kind it claims; the config in the ConfigMap is
 * a valid config (with the Secret's keys as the environment) that listens beyond loopback; every
 * ${VAR} it names is a key of the Secret and the pods take the Secret as their environment; the
 * Deployments run the commands the CLI has; the Service and ServiceMonitor select the HTTP pods.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config.js';

const DIR = resolve(import.meta.dirname, '..', '..', 'deploy', 'kubernetes');
type Obj = Record<string, unknown>;
const docs: Obj[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(DIR, f), 'utf8'), { uniqueKeys: true }).map((d) => {
      if (d.errors.length > 0) throw new Error(`${f}: ${d.errors[0]?.message}`);
      return { ...(d.toJS() as Obj), file: f };
    }),
  );
const byKind = (kind: string): Obj[] => docs.filter((d) => d['kind'] === kind);
const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v as Obj | undefined)?.[k], o);

describe('deploy/kubernetes example', () => {
  it('the kustomization lists every manifest of the directory', () => {
    const k = docs.find((d) => d['file'] === 'kustomization.yaml');
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    expect([...((k?.['resources'] as string[]) ?? [])].sort()).toEqual(files);
  });

  it('the ConfigMap holds a valid config; its ${VARS} are exactly keys of the Secret', () => {
    const cm = byKind('ConfigMap').find((d) => get(d, 'metadata.name') === 'redis-runbooks-config');
    const text = (get(cm, 'data') as Obj | undefined)?.['config.yaml'];
    expect(typeof text).toBe('string');
    const secret = byKind('Secret')[0];
    const env = get(secret, 'stringData') as Record<string, string>;
    const refs = [...String(text).matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(3);
    for (const r of refs) expect(Object.keys(env), `${r} is not in secret.yaml`).toContain(r);
    const cfg = parseConfig(String(text), 'configmap.yaml#config.yaml', env, { baseDir: '/etc/redis-runbooks/config' });
    expect(cfg.http.host).toBe('0.0.0.0');
    expect(cfg.http.token).toBe(env['RR_HTTP_TOKEN']);
    expect(cfg.store?.mode).toBe('sentinel');
    expect(cfg.runbooksDirs).toEqual(['/etc/redis-runbooks/runbooks']);
    expect(cfg.shippedRunbooks).toBe(true);
  });

  it('an HTTP Deployment runs `start` with probes; a worker Deployment runs `worker`; both get the Secret and the config path', () => {
    const deps = byKind('Deployment');
    const cmd = (d: Obj) => (get(d, 'spec.template.spec.containers') as Obj[])[0] as Obj;
    const http = deps.find((d) => (cmd(d)['args'] as string[])[0] === 'start');
    const worker = deps.find((d) => (cmd(d)['args'] as string[])[0] === 'worker');
    expect(http && worker).toBeTruthy();
    for (const d of [http, worker] as Obj[]) {
      const c = cmd(d);
      expect(c['envFrom']).toEqual([{ secretRef: { name: get(byKind('Secret')[0], 'metadata.name') } }]);
      const env = c['env'] as { name: string; value: string }[];
      expect(env.find((e) => e.name === 'REDIS_RUNBOOKS_CONFIG')?.value).toBe('/etc/redis-runbooks/config/config.yaml');
      expect(get(d, 'spec.selector.matchLabels')).toEqual(get(d, 'spec.template.metadata.labels'));
    }
    // the kubelet's SIGKILL comes after engine.shutdownTimeout (jobs finish or are handed back) plus a margin
    const cm = byKind('ConfigMap').find((d) => get(d, 'metadata.name') === 'redis-runbooks-config');
    const cfg = parseConfig(String((get(cm, 'data') as Obj)['config.yaml']), 'config.yaml', get(byKind('Secret')[0], 'stringData') as Record<string, string>, { baseDir: '/etc' });
    for (const d of [http, worker] as Obj[]) expect(Number(get(d, 'spec.template.spec.terminationGracePeriodSeconds')) * 1000).toBeGreaterThanOrEqual(cfg.engine.shutdownTimeoutMs + 10_000);
    expect(get(cmd(http as Obj), 'readinessProbe.httpGet.path')).toBe('/readyz');
    expect(get(cmd(http as Obj), 'livenessProbe.httpGet.path')).toBe('/healthz');
    const svc = byKind('Service')[0];
    const sm = byKind('ServiceMonitor')[0];
    expect(get(svc, 'spec.selector')).toEqual(get(http, 'spec.selector.matchLabels'));
    expect(get(sm, 'spec.selector.matchLabels')).toEqual(get(http, 'spec.selector.matchLabels'));
    expect(get(svc, 'metadata.labels')).toMatchObject({ 'app.kubernetes.io/component': 'http' });
    expect((get(sm, 'spec.endpoints') as Obj[])[0]).toMatchObject({ port: 'http', path: '/metrics' });
    // workers: probes and /metrics on http.workerPort, scraped by a PodMonitor selecting them
    const wc = cmd(worker as Obj);
    const metricsPort = (wc['ports'] as { name: string; containerPort: number }[]).find((p) => p.name === 'metrics');
    expect(metricsPort?.containerPort).toBe(cfg.http.workerPort);
    expect(get(wc, 'readinessProbe.httpGet')).toEqual({ path: '/readyz', port: 'metrics' });
    expect(get(wc, 'livenessProbe.httpGet')).toEqual({ path: '/healthz', port: 'metrics' });
    const pm = byKind('PodMonitor')[0];
    expect(get(pm, 'spec.selector.matchLabels')).toEqual(get(worker, 'spec.selector.matchLabels'));
    expect((get(pm, 'spec.podMetricsEndpoints') as Obj[])[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
  });
});
