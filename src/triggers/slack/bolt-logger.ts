/** Bolt and the Web API client log through our pino logger (no console output). */
import { LogLevel } from '@slack/bolt';
import type { Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';

const text = (msg: unknown[]): string => msg.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m))).join(' ');

export function boltLogger(log: Logger): BoltLogger {
  const l = log.child({ component: 'slack' });
  return {
    debug: (...m: unknown[]) => l.debug(text(m)),
    info: (...m: unknown[]) => l.info(text(m)),
    warn: (...m: unknown[]) => l.warn(text(m)),
    error: (...m: unknown[]) => l.error(text(m)),
    setLevel: () => undefined, // the level is ours (config logLevel)
    getLevel: () => LogLevel.DEBUG,
    setName: () => undefined,
  };
}
