/**
 * Types shared by the HTTP door's files: its dependencies and the router seam it calls.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../../engine/metrics.js';
import type { AlertInput, EnginePort, RoutedAlert } from '../../engine/types.js';
import type { HygieneReader } from '../../engine/hygiene/types.js';

/** Result of routing one alert: a runbook and target, or why none matched. */
export type RouteResult = { ok: true; routed: RoutedAlert } | { ok: false; reason: string; detail: string };

/** Matches one alert to a runbook and target (pure; no I/O). */
export type AlertRouter = (alert: AlertInput) => RouteResult;

/**
 * Extra handlers tried for paths the HTTP door does not know (e.g. Slack's request URL).
 * Resolve `true` when the request was handled (a response was sent), `false` to fall through to 404.
 * They get no bearer-token check: they must authenticate requests themselves.
 */
export type ExtraRoutes = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** What {@link createHttpServer} needs. */
export interface HttpServerDeps {
  engine: EnginePort;
  route: AlertRouter;
  metrics: Metrics;
  log: Logger;
  /** Bearer token required on the webhook and `/api/*` when set. Never logged. */
  token?: string;
  /** Largest request body accepted, in bytes; larger bodies get 413 without being buffered. */
  maxBodyBytes: number;
  extraRoutes?: ExtraRoutes;
  /** How long `engine.ready()` may take before the door treats the engine as not ready. Default 2000 ms. */
  readyTimeoutMs?: number;
  /**
   * Bounds refused approval attempts per incident (issue 12 #5): `admit` counts one and says
   * whether it may still be recorded; past the budget the door answers 429 and records nothing.
   */
  refusals?: { admit(incidentId: string): Promise<boolean> };
  /** Hygiene digest (`GET /api/hygiene`). */
  hygiene?: HygieneReader;
}

/** One request as a route handler sees it. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Decoded path parameters, in order (e.g. the incident id). */
  params: string[];
  deps: HttpServerDeps;
}
