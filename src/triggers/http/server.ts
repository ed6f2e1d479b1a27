/**
 * The HTTP door: a plain `node:http` server for the Alertmanager webhook, probes, metrics and the
 * incident API. Routes live in `routes.ts`; this file owns the socket lifecycle.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
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
  const handle = createRequestHandler(deps);
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
          deps.log.info({ host, port: bound }, 'http door listening');
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
