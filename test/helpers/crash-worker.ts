/**
 * A crash-matrix worker process: the real app (BullMQ worker, recovery at start), its reads and
 * plans answered from recorded findings (see crash-matrix.ts), its remediation commands sent to
 * each incident's own redis-server. Killed with SIGKILL by the test.
 *
 *   tsx test/helpers/crash-worker.ts <config.yaml> <replay.json> <log file>
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino } from 'pino';
import { createApp } from '../../src/app.js';
import { parseConfig } from '../../src/config.js';
import { replayFrom } from './crash-matrix.js';
import type { ReplayData } from './crash-matrix.js';

const [cfgFile, replayFile, logFile] = process.argv.slice(2);
if (!cfgFile || !replayFile || !logFile) {
  process.stderr.write('usage: crash-worker <config.yaml> <replay.json> <log file>\n');
  process.exit(2);
}
const config = parseConfig(readFileSync(cfgFile, 'utf8'), cfgFile, process.env, { baseDir: dirname(cfgFile) });
const { data, firstSteps } = JSON.parse(readFileSync(replayFile, 'utf8')) as { data: ReplayData; firstSteps: Record<string, Record<string, number>> };
const log = pino({ level: 'info' }, pino.destination({ dest: logFile, append: true, sync: true }));
const app = await createApp(config, { worker: true, http: false, log, replay: replayFrom(data, firstSteps) });
log.info('crash-matrix worker ready');
const stop = (): void => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
