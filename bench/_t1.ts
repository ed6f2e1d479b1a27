import { startRedis } from '../test/helpers/redis-server.js';
import { benchIngest } from './ingest.js';
import { formatTable } from './stats.js';
const store = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
const target = await startRedis();
try {
  const r = await benchIngest(store, target, { alerts: Number(process.env.N ?? 5000), concurrency: Number(process.env.C ?? 8), warmup: 1000 });
  process.stdout.write(formatTable(r.rows));
} finally { await store.stop(); await target.stop(); }
