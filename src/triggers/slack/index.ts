/**
 * The Slack door, assembled: a Bolt `App` (HTTP mode on our server through `extraRoutes`, or
 * Socket Mode when an app-level token is configured), the approval buttons, `/redis`, and the
 * notifier the engine calls (through durable `notify` jobs) to keep each incident's message and
 * thread current. The engine never sees Bolt: it gets an {@link IncidentNotifier} and nothing else.
 */
import { App } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Approver, SlackConfig } from '../../config-types.js';
import type { Keys } from '../../engine/keys.js';
import type { StoreClient } from '../../engine/store/incidents.js';
import type { EnginePort, IncidentNotifier } from '../../engine/types.js';
import type { ExtraRoutes } from '../http/types.js';
import { registerApprovals } from './approvals.js';
import { boltLogger } from './bolt-logger.js';
import { clientOptions, createWebClient } from './client.js';
import { registerCommands } from './commands.js';
import { permalink } from './format.js';
import { SlackIdentities } from './identity.js';
import { DoorReceiver } from './receiver.js';
import { SlackState } from './state.js';
import { SlackNotifier } from './sync.js';

export { SLACK_EVENTS_PATH } from './receiver.js';

export interface SlackDeps {
  config: SlackConfig;
  engine: EnginePort;
  approvers: Approver[];
  redis: StoreClient;
  keys: Keys;
  log: Logger;
  /** Largest request body accepted on `/slack/events`. */
  maxBodyBytes: number;
  now?: () => number;
}

export interface SlackDoor {
  /** Pass to the engine (EngineDeps.notifier). */
  notifier: IncidentNotifier;
  /** Pass to the HTTP door (HTTP mode); absent in Socket Mode. */
  extraRoutes?: ExtraRoutes;
  /** Connect (Socket Mode); nothing to do in HTTP mode. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createSlack(d: SlackDeps): SlackDoor {
  const log = d.log.child({ door: 'slack' });
  const now = d.now ?? Date.now;
  const state = new SlackState(d.redis, d.keys);
  const notifier = new SlackNotifier({ engine: d.engine, client: createWebClient(d.config, log, 0), state, config: d.config, approvers: d.approvers, log, now });
  const doorClient = createWebClient(d.config, log, 1);
  const identities = new SlackIdentities({ client: doorClient, engine: d.engine, approvers: d.approvers, log });
  const botToken = d.config.botToken;
  // `authorize` instead of `token`: Bolt would otherwise call auth.test from its constructor.
  const authorize = (): Promise<{ botToken: string }> => Promise.resolve({ botToken });
  const common = { authorize, clientOptions: clientOptions(d.config, log, 1), logger: boltLogger(log), ignoreSelf: false } as const;
  const socket = d.config.appToken !== undefined;
  const receiver = socket ? undefined : new DoorReceiver({ signingSecret: d.config.signingSecret, maxBodyBytes: d.maxBodyBytes, log });
  const app = receiver ? new App({ ...common, receiver }) : new App({ ...common, appToken: d.config.appToken ?? '', socketMode: true });
  app.error(async (e) => {
    log.error({ err: e.message, code: e.code }, 'slack listener failed');
  });
  registerApprovals(app, { engine: d.engine, identities, log });
  registerCommands(app, {
    engine: d.engine,
    identities,
    channelFor: (t) => notifier.channelFor(t),
    links: async (ids) => new Map([...(await state.roots(ids))].map(([id, r]) => [id, permalink(d.config.apiUrl, r.channel, r.ts)])),
    log,
  });
  return {
    notifier,
    ...(receiver ? { extraRoutes: receiver.route } : {}),
    async start() {
      if (socket) await app.start();
      // Best effort: say who we are in Slack (and whether the token works) without blocking startup.
      void doorClient.auth
        .test()
        .then((r) => log.info({ team: r.team, user: r.user, mode: socket ? 'socket' : 'http' }, 'slack connected'))
        .catch((e: unknown) => log.warn({ err: (e as Error).message }, 'slack auth.test failed; messages will be retried'));
    },
    async stop() {
      if (socket) await app.stop();
    },
  };
}
