/**
 * The HTTP door: a plain `node:http` server for the Alertmanager webhook, probes, metrics and the
 * incident API. Routes live in `routes.ts`; this file owns the socket lifecycle.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { engineReady } from './ready.js';
import { sendJson, sendText } from './respond.js';
import { createRequestHandler } from './routes.js';
import type { HttpServerDeps } from './types.js';

export type { AlertRouter, ExtraRoutes, HttpServerDeps, RouteResult } from './types.js';

/** A created (not yet listening) HTTP door. */
export interface HttpDoor {
  server: Server;
  /** Start listening; resolves with the bound port (useful with port 0). */
  listen(port: number, host: string): Promise<{ port: number }>;
  /** Stop accepting, let in-flight requests finish (up to 5 s), then cut remaining connections. */
  close(): Promise<void>;
}

/** How long `close()` waits for in-flight requests before cutting their connections. */
const CLOSE_GRACE_MS = 5000;

/** Create the HTTP door. See `routes.ts` for the routes. */
export function createHttpServer(deps: HttpServerDeps): HttpDoor {
  return serveHandler(createRequestHandler(deps), deps.log, 'http door listening');
}

/**
 * The probe server of a `worker` process (`http.workerPort`): `/metrics`, `/healthz` and `/readyz`
 * only, no webhook, API or UI — the process has no door, but Prometheus and the orchestrator still
 * see it.
 */
export function createProbeServer(deps: Pick<HttpServerDeps, 'engine' | 'metrics' | 'log' | 'readyTimeoutMs'>): HttpDoor {
  return serveHandler(
    async (req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      try {
        if (req.method !== 'GET') sendJson(res, 405, { error: { code: 'method_not_allowed', message: `${req.method ?? '?'} ${path}: only GET` } });
        else if (path === '/healthz') sendJson(res, 200, { status: 'ok' });
        else if (path === '/readyz') {
          if (await engineReady(deps)) sendJson(res, 200, { status: 'ready' });
          else sendJson(res, 503, { error: { code: 'not_ready', message: 'the engine store is not reachable' } });
        } else if (path === '/metrics') sendText(res, 200, await deps.metrics.text(), deps.metrics.contentType);
        else sendJson(res, 404, { error: { code: 'not_found', message: `${path}: a worker serves /metrics, /healthz and /readyz only` } });
      } catch (e) {
        deps.log.warn({ path, err: (e as Error).message }, 'probe request failed');
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'internal', message: 'probe failed' } });
      }
    },
    deps.log,
    'worker probes listening',
  );
}

function serveHandler(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, log: HttpServerDeps['log'], what: string): HttpDoor {
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, (req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 5_000;

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const addr = server.address();
          const bound = addr !== null && typeof addr === 'object' ? addr.port : port;
          log.info({ host, port: bound }, what);
          resolve({ port: bound });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
    },
  };
}
