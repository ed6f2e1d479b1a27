import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { configProblem, envOverrides, loadConfig, parseConfig, parseEndpoint } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { parseDuration } from '../../src/util/duration.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rr-config-'));
  mkdirSync(join(dir, 'tls'));
  writeFileSync(join(dir, 'tls', 'ca.pem'), 'CA-PEM');
  writeFileSync(join(dir, 'tls', 'client.pem'), 'CERT-PEM');
  writeFileSync(join(dir, 'tls', 'client.key'), 'KEY-PEM');
});

/** Parse as if the text were `dir/config.yaml`. */
function parse(text: string, env: NodeJS.ProcessEnv = {}) {
  return parseConfig(text, 'config.yaml', env, { baseDir: dir });
}

/** The ConfigError message of a failing parse. */
function errorOf(text: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    parse(text, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

const FULL = `
store:
  sentinel:
    endpoints: [10.0.1.1:26379, "[::1]:26380"]
    masterName: rr-store
    password: \${STORE_PW}
embedded:
  dataDir: data
http:
  host: 0.0.0.0
  port: 9000
  token: \${HTTP_TOKEN}
targets:
  cache-prod:
    mode: sentinel
    sentinel:
      masterName: cache-prod
      endpoints: [10.0.0.1:26379, 10.0.0.2:26379]
      password: \${SENTINEL_PW:-fallback}
    username: runbooks
    password: \${CACHE_PW}
    role: cache
    labels: { redis_cluster: cache-prod, shard: "01" }
    allowAutomatic: true
    tls:
      ca: tls/ca.pem
      cert: tls/client.pem
      key: tls/client.key
      servername: cache.internal
  sessions:
    endpoints: [10.0.2.1:6379, 10.0.2.2:6379]
    role: store
  cluster.eu-1:
    mode: cluster
    endpoints: [10.0.3.1:7000]
    role: cache
    tls: { rejectUnauthorized: false }
approvers:
  - { id: alice, roles: [redis.dba-operator] }
  - { id: "slack-group:S123", roles: [redis.viewer, redis.cluster-admin] }
routes:
  - match: { alertname: RedisMemoryHigh, labels: { env: prod } }
    runbook: memory-pressure
  - match: { labels: { team: cache } }
    runbook: cache-triage
runbooksDir: ./books
engine:
  dryRun: true
  approvalTimeout: 5m
  lockTtl: 90000
  workerConcurrency: 8
logLevel: debug
`;

const SECRETS = { STORE_PW: 'st0re', HTTP_TOKEN: 'tok-123', CACHE_PW: 'c@che: [pw' };

describe('parseConfig: a valid full config', () => {
  it('produces the AppConfig', () => {
    const cfg = parse(FULL, SECRETS);
    expect(cfg.source).toBe('config.yaml');
    expect(cfg.store).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: '10.0.1.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      masterName: 'rr-store',
      password: 'st0re',
    });
    expect(cfg.embedded).toEqual({ dataDir: join(dir, 'data'), redisServerBin: 'redis-server', port: 0 });
    expect(cfg.http).toEqual({ host: '0.0.0.0', port: 9000, token: 'tok-123', maxBodyBytes: 1024 * 1024 });
    expect(cfg.targets['cache-prod']).toEqual({
      name: 'cache-prod',
      mode: 'sentinel',
      endpoints: [],
      sentinel: {
        masterName: 'cache-prod',
        endpoints: [
          { host: '10.0.0.1', port: 26379 },
          { host: '10.0.0.2', port: 26379 },
        ],
        password: 'fallback',
      },
      tls: { ca: 'CA-PEM', cert: 'CERT-PEM', key: 'KEY-PEM', servername: 'cache.internal', rejectUnauthorized: true },
      username: 'runbooks',
      password: 'c@che: [pw',
      role: 'cache',
      labels: { redis_cluster: 'cache-prod', shard: '01' },
      allowAutomatic: true,
    });
    expect(cfg.targets['sessions']).toMatchObject({ mode: 'standalone', role: 'store', labels: {}, allowAutomatic: false });
    expect(cfg.targets['sessions']?.endpoints).toHaveLength(2);
    expect(cfg.targets['cluster.eu-1']?.tls).toEqual({ rejectUnauthorized: false });
    expect(cfg.approvers).toEqual([
      { id: 'alice', roles: ['redis.dba-operator'] },
      { id: 'slack-group:S123', roles: ['redis.viewer', 'redis.cluster-admin'] },
    ]);
    expect(cfg.routes).toEqual([
      { alertname: 'RedisMemoryHigh', labels: { env: 'prod' }, runbook: 'memory-pressure' },
      { labels: { team: 'cache' }, runbook: 'cache-triage' },
    ]);
    expect(cfg.runbooksDir).toBe(join(dir, 'books'));
    expect(cfg.engine).toEqual({
      dryRun: true,
      approvalTimeoutMs: 300_000,
      lockTtlMs: 90_000,
      workerConcurrency: 8,
      queuePrefix: '{rr}',
      keyPrefix: 'rr',
      circuitBreaker: { max: 3, windowMs: 3_600_000 },
      shutdownTimeoutMs: 30_000,
    });
    expect(cfg.logLevel).toBe('debug');
  });

  it('accepts url and cluster stores', () => {
    expect(parse('store: { url: "rediss://rr:${PW}@store:6380/0" }', { PW: 'x' }).store).toEqual({
      mode: 'url',
      url: 'rediss://rr:x@store:6380/0',
    });
    expect(parse('store: { cluster: { nodes: [a:7000, b:7001], password: p } }').store).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      password: 'p',
    });
  });

  it('treats an empty file as defaults', () => {
    const cfg = parse('');
    expect(cfg.store).toBeUndefined();
    expect(cfg.targets).toEqual({});
    expect(cfg.http).toEqual({ host: '127.0.0.1', port: 8080, maxBodyBytes: 1048576 });
    expect(cfg.engine.approvalTimeoutMs).toBe(30 * 60_000);
    expect(cfg.engine.lockTtlMs).toBe(10 * 60_000);
    expect(cfg.engine.workerConcurrency).toBe(4);
    expect(cfg.logLevel).toBe('info');
  });
});

describe('parseConfig: errors name the file and the YAML path', () => {
  it('missing role', () => {
    expect(errorOf('targets:\n  a:\n    endpoints: [h:1]\n')).toBe('config.yaml: targets.a.role: required (line 2)');
  });

  it('bad mode', () => {
    expect(errorOf('targets:\n  a: { mode: replica, endpoints: [h:1], role: cache }\n')).toMatch(
      /^config\.yaml: targets\.a\.mode: expected one of .*standalone/,
    );
  });

  it('sentinel without masterName', () => {
    const msg = errorOf(`
targets:
  cache-prod:
    mode: sentinel
    sentinel: { endpoints: [s1:26379] }
    role: cache
`);
    expect(msg).toContain('config.yaml: targets.cache-prod.sentinel.masterName: required');
  });

  it('sentinel mode without a sentinel section, standalone without endpoints', () => {
    const msg = errorOf('targets:\n  s: { mode: sentinel, role: cache }\n  t: { role: cache }\n');
    expect(msg).toContain('config.yaml: targets.s.sentinel: required when mode is sentinel');
    expect(msg).toContain('config.yaml: targets.t.endpoints: at least one host:port required');
  });

  it('unknown keys, at any depth', () => {
    const msg = errorOf('targetz: {}\nhttp: { prot: 1 }\ntargets:\n  a: { endpoints: [h:1], role: cache, tls: { ca_file: x } }\n');
    expect(msg.split('\n').sort()).toEqual([
      'config.yaml: http.prot: unknown key (line 2)',
      'config.yaml: targets.a.tls.ca_file: unknown key (line 4)',
      'config.yaml: targetz: unknown key (line 1)',
    ]);
  });

  it('duplicate YAML key', () => {
    const msg = errorOf('targets:\n  a:\n    role: cache\n    role: store\n');
    expect(msg).toBe('config.yaml: targets.a.role: duplicate key (line 4, column 5)');
  });

  it('YAML syntax errors give a line and column', () => {
    expect(errorOf('targets: [a\n')).toMatch(/^config\.yaml: .*line \d+, column \d+/);
  });

  it('alias bombs are refused', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x]'];
    for (let i = 0; i < 6; i++) lines.push(`${'bcdefg'[i]}: &${'bcdefg'[i]} [${Array(10).fill(`*${i === 0 ? 'a' : 'abcdefg'[i]}`).join(', ')}]`);
    expect(errorOf(lines.join('\n'))).toMatch(/^config\.yaml: .*alias/i);
  });

  it('unset ${VAR} names the path and the variable', () => {
    const msg = errorOf('targets:\n  a: { endpoints: [h:1], role: cache, password: "${CACHE_PW}" }\n');
    expect(msg).toBe('config.yaml: targets.a.password: environment variable CACHE_PW is not set (line 2)');
  });

  it('TLS file missing names the path and the file', () => {
    const msg = errorOf('targets:\n  a: { endpoints: [h:1], role: cache, tls: { ca: tls/nope.pem } }\n');
    expect(msg).toBe(`config.yaml: targets.a.tls.ca: cannot read file ${join(dir, 'tls', 'nope.pem')} (ENOENT) (line 2)`);
  });

  it('TLS cert without key', () => {
    expect(errorOf('store: { url: "redis://h:1", tls: { cert: tls/client.pem } }')).toBe(
      'config.yaml: store.tls.key: required when cert is set (line 1)',
    );
  });

  it('bad endpoint', () => {
    const msg = errorOf('targets:\n  x: { endpoints: ["h:6379", "h", "h:99999", "::1:6379"], role: cache }\n');
    expect(msg.split('\n')).toEqual([
      'config.yaml: targets.x.endpoints[1]: expected host:port (line 2)',
      'config.yaml: targets.x.endpoints[2]: expected host:port (line 2)',
      'config.yaml: targets.x.endpoints[3]: expected host:port (line 2)',
    ]);
  });

  it('bad target name', () => {
    expect(errorOf('targets:\n  Cache_Prod: { endpoints: [h:1], role: cache }\n')).toMatch(
      /^config\.yaml: targets\.Cache_Prod: invalid target name/,
    );
  });

  it('store must be exactly one kind; url must be redis://', () => {
    expect(errorOf('store: { url: "redis://h:1", cluster: { nodes: [h:2] } }')).toContain('config.yaml: store: set exactly one of');
    expect(errorOf('store: { url: "http://h:1" }')).toBe('config.yaml: store.url: expected a redis:// or rediss:// URL (line 1)');
  });

  it('routes need alertname or labels; approvers need known roles and unique ids', () => {
    const msg = errorOf(`
routes:
  - { match: {}, runbook: x }
approvers:
  - { id: a, roles: [redis.god] }
  - { id: b, roles: [redis.viewer] }
  - { id: b, roles: [redis.viewer] }
`);
    expect(msg).toContain('config.yaml: routes[0].match: set alertname and/or labels');
    expect(msg).toMatch(/config\.yaml: approvers\[0\]\.roles\[0\]: expected one of/);
    expect(msg).toContain('config.yaml: approvers[2].id: duplicate approver id');
  });

  it('label values must be strings', () => {
    expect(errorOf('routes:\n  - { match: { labels: { shard: 01 } }, runbook: x }\n')).toBe(
      'config.yaml: routes[0].match.labels.shard: expected a string (quote numbers) (line 2)',
    );
  });

  it('bad durations', () => {
    const msg = errorOf('engine: { approvalTimeout: soon, lockTtl: 0 }');
    expect(msg).toContain('config.yaml: engine.approvalTimeout: expected a positive duration');
    expect(msg).toContain('config.yaml: engine.lockTtl: expected a positive duration');
  });

  it('collects every issue into one message, one per line', () => {
    const msg = errorOf(`
targets:
  cache-prod:
    mode: sentinel
    sentinel: { endpoints: [s1] }
    password: \${NOPE}
http: { port: 70000 }
`);
    const lines = msg.split('\n');
    expect(lines).toContain('config.yaml: targets.cache-prod.password: environment variable NOPE is not set (line 6)');
    expect(lines).toContain('config.yaml: targets.cache-prod.sentinel.masterName: required (line 5)');
    expect(lines).toContain('config.yaml: targets.cache-prod.sentinel.endpoints[0]: expected host:port (line 5)');
    expect(lines).toContain('config.yaml: targets.cache-prod.role: required (line 3)');
    expect(lines.some((l) => l.startsWith('config.yaml: http.port: '))).toBe(true);
    expect(lines.every((l) => l.startsWith('config.yaml: '))).toBe(true);
    // issue 12 #7: every line carries the line of its path (or of the nearest ancestor in the file)
    expect(lines.find((l) => l.startsWith('config.yaml: http.port: '))).toMatch(/ \(line 7\)$/);
    expect(lines.every((l) => / \(line \d+\)$/.test(l))).toBe(true);
  });
});

describe('parseConfig: secrets and interpolation', () => {
  it('interpolates after parsing, so a secret cannot inject YAML structure', () => {
    const cfg = parse('targets:\n  a: { endpoints: [h:1], role: cache, password: "${PW}" }\n', {
      PW: '}\nrole: store\nallowAutomatic: true\n',
    });
    expect(cfg.targets['a']?.password).toBe('}\nrole: store\nallowAutomatic: true\n');
    expect(cfg.targets['a']?.role).toBe('cache');
    expect(cfg.targets['a']?.allowAutomatic).toBe(false);
  });

  it('never puts secret values in error messages', () => {
    const secret = 'hunter2-very-secret';
    const msg = errorOf(
      `
store: { url: "redis://:\${PW}@h:1", cluster: { nodes: [h:1], password: "\${PW}" } }
targets:
  a: { endpoints: ["\${PW}"], role: "\${PW}", password: "\${PW}", username: "\${PW}", labels: { x: "\${PW}" } }
http: { port: "\${PW}", token: "\${PW}" }
engine: { approvalTimeout: "\${PW}" }
`,
      { PW: secret },
    );
    expect(msg.split('\n').length).toBeGreaterThanOrEqual(4);
    expect(msg).not.toContain(secret);
    expect(msg).not.toContain('hunter2');
  });

  it('supports defaults, empty-means-default, and $${ escapes', () => {
    const cfg = parse(
      'http: { host: "${HOST:-0.0.0.0}", token: "$${literal}-${TOK}" }\nengine: { keyPrefix: "${KP:-rr2}" }\n',
      { TOK: 't', KP: '' },
    );
    expect(cfg.http.host).toBe('0.0.0.0');
    expect(cfg.http.token).toBe('${literal}-t');
    expect(cfg.engine.keyPrefix).toBe('rr2');
  });

  it('coerces interpolated numbers and booleans where numbers and booleans are expected', () => {
    const cfg = parse('http: { port: "${PORT}" }\nengine: { dryRun: "${DRY}" }\n', { PORT: '9100', DRY: 'true' });
    expect(cfg.http.port).toBe(9100);
    expect(cfg.engine.dryRun).toBe(true);
  });

  it('reports malformed references', () => {
    expect(errorOf('http: { token: "${oops" }')).toMatch(/^config\.yaml: http\.token: malformed/);
  });
});

describe('loadConfig and envOverrides', () => {
  it('without a path: defaults, runbooksDir relative to cwd, LOG_LEVEL and HTTP port from env', () => {
    const cfg = loadConfig({ env: { LOG_LEVEL: 'warn', REDIS_RUNBOOKS_HTTP_PORT: '0' }, cwd: dir });
    expect(cfg.source).toBe('<defaults>');
    expect(cfg.store).toBeUndefined();
    expect(cfg.targets).toEqual({});
    expect(cfg.runbooksDir).toBe(join(dir, 'runbooks'));
    expect(cfg.embedded.dataDir).toBe(join(dir, '.data'));
    expect(cfg.logLevel).toBe('warn');
    expect(cfg.http.port).toBe(0);
  });

  it('reads REDIS_RUNBOOKS_CONFIG relative to cwd; relative paths resolve against the file', () => {
    const sub = join(dir, 'etc');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'rr.yaml'), 'logLevel: error\ntargets:\n  a: { endpoints: [h:1], role: cache, tls: { ca: ../tls/ca.pem } }\n');
    const cfg = loadConfig({ env: { REDIS_RUNBOOKS_CONFIG: 'etc/rr.yaml', LOG_LEVEL: 'trace' }, cwd: dir });
    expect(cfg.source).toBe('etc/rr.yaml');
    expect(cfg.runbooksDir).toBe(join(sub, 'runbooks'));
    expect(cfg.targets['a']?.tls?.ca).toBe('CA-PEM');
    expect(cfg.logLevel).toBe('error');
  });

  it('opts.path wins over the env; a missing file is a ConfigError naming it', () => {
    expect(() => loadConfig({ path: 'nope.yaml', env: { REDIS_RUNBOOKS_CONFIG: 'etc/rr.yaml' }, cwd: dir })).toThrow(
      /^nope\.yaml: cannot read config file \(ENOENT\)$/,
    );
  });

  it('envOverrides reads only what main needs and validates the port', () => {
    expect(envOverrides({ REDIS_RUNBOOKS_CONFIG: 'c.yaml', LOG_LEVEL: 'debug', REDIS_RUNBOOKS_HTTP_PORT: '8081', OTHER: 'x' })).toEqual({
      configPath: 'c.yaml',
      logLevel: 'debug',
      httpPort: 8081,
    });
    expect(envOverrides({})).toEqual({});
    expect(() => envOverrides({ REDIS_RUNBOOKS_HTTP_PORT: 'eighty' })).toThrow(ConfigError);
  });

  it('rejects an invalid LOG_LEVEL when it is used', () => {
    expect(() => loadConfig({ env: { LOG_LEVEL: 'loud' }, cwd: dir })).toThrow(/LOG_LEVEL/);
  });
});

describe('parseEndpoint and parseDuration', () => {
  it('parses host:port and [v6]:port', () => {
    expect(parseEndpoint('10.0.0.1:6379')).toEqual({ host: '10.0.0.1', port: 6379 });
    expect(parseEndpoint('[::1]:6380')).toEqual({ host: '::1', port: 6380 });
    expect(parseEndpoint('redis.internal')).toBeUndefined();
    expect(parseEndpoint('h:0')).toBeUndefined();
    expect(parseEndpoint('redis://h:1')).toBeUndefined();
  });

  it('parses durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1500')).toBe(1500);
    expect(parseDuration(2000)).toBe(2000);
    for (const bad of ['', 'soon', '5 minutes', '5x', '-1s', 'm']) expect(() => parseDuration(bad)).toThrow(RangeError);
    expect(() => parseDuration(-1)).toThrow(RangeError);
    expect(() => parseDuration(Number.NaN)).toThrow(RangeError);
  });
});

describe('parseConfig: slack (issue 3)', () => {
  const TARGETS = 'targets:\n  cache-prod: { endpoints: [h:1], role: cache }\n  sessions: { endpoints: [h:2], role: store }\n';
  const ENV = { SLACK_BOT_TOKEN: 'xoxb-1-secret-bot', SLACK_SIGNING_SECRET: 'sign-secret-abc', SLACK_APP_TOKEN: 'xapp-1-secret-app' };

  it('is absent unless configured: the engine runs without Slack', () => {
    expect(parse(TARGETS).slack).toBeUndefined();
  });

  it('reads tokens from the environment, defaults apiUrl, and keeps per-target channels', () => {
    const cfg = parse(`${TARGETS}slack:\n  botToken: \${SLACK_BOT_TOKEN}\n  signingSecret: \${SLACK_SIGNING_SECRET}\n  defaultChannel: C0OPS\n  channels: { sessions: G0SESS }\n`, ENV);
    expect(cfg.slack).toEqual({
      botToken: 'xoxb-1-secret-bot',
      signingSecret: 'sign-secret-abc',
      defaultChannel: 'C0OPS',
      channels: { sessions: 'G0SESS' },
      apiUrl: 'https://slack.com/api/',
    });
  });

  it('takes an app-level token (Socket Mode) and a custom API URL, normalised to end with /', () => {
    const cfg = parse(`${TARGETS}slack:\n  botToken: \${SLACK_BOT_TOKEN}\n  signingSecret: \${SLACK_SIGNING_SECRET}\n  appToken: \${SLACK_APP_TOKEN}\n  defaultChannel: C0OPS\n  apiUrl: https://slack-gov.com/api\n`, ENV);
    expect(cfg.slack?.appToken).toBe('xapp-1-secret-app');
    expect(cfg.slack?.apiUrl).toBe('https://slack-gov.com/api/');
    expect(cfg.slack?.channels).toEqual({});
  });

  it('errors name the path, never the secret values', () => {
    const msg = errorOf(
      `${TARGETS}slack:\n  botToken: \${SLACK_APP_TOKEN}\n  signingSecret: "x y"\n  appToken: \${SLACK_BOT_TOKEN}\n  defaultChannel: "#redis-ops"\n  channels: { nope: C0X, sessions: general }\n  apiUrl: "ftp://x"\n  extra: 1\n`,
      ENV,
    );
    expect(msg.split('\n').map((l) => l.replace(/ \(line \d+\)$/, '')).sort()).toEqual([
      'config.yaml: slack.apiUrl: expected an http(s) URL like https://slack.com/api/',
      'config.yaml: slack.appToken: expected an app-level token (xapp-...) for Socket Mode',
      'config.yaml: slack.botToken: expected a bot token (xoxb-...)',
      'config.yaml: slack.channels.nope: not a configured target',
      'config.yaml: slack.channels.sessions: expected a channel ID like C0123456789 (not a #name)',
      'config.yaml: slack.defaultChannel: expected a channel ID like C0123456789 (not a #name)',
      'config.yaml: slack.extra: unknown key',
      'config.yaml: slack.signingSecret: expected the app signing secret',
    ]);
    expect(msg).not.toContain('secret-bot');
    expect(msg).not.toContain('secret-app');
  });

  it('requires the bot token, the signing secret and a default channel', () => {
    expect(errorOf(`${TARGETS}slack: {}\n`).split('\n').map((l) => l.replace(/ \(line \d+\)$/, '')).sort()).toEqual([
      'config.yaml: slack.botToken: required',
      'config.yaml: slack.defaultChannel: required',
      'config.yaml: slack.signingSecret: required',
    ]);
    expect(errorOf(`${TARGETS}slack:\n  botToken: \${SLACK_BOT_TOKEN}\n  signingSecret: s3cr3t-s3cr3t\n  defaultChannel: C0OPS\n`)).toBe('config.yaml: slack.botToken: environment variable SLACK_BOT_TOKEN is not set (line 5)');
  });
});

describe('issue 12: start-up problems name the file, line and path', () => {
  it('issue 12 #7: a YAML syntax error is reported once (the parser\'s follow-up errors are dropped), with its line', () => {
    const msg = errorOf('http:\n  port: [1, 2\ntargets:\n  a: {\n');
    expect(msg.split('\n')).toHaveLength(1);
    expect(msg).toMatch(/^config\.yaml: .*\(line 3, column 1\)$/);
    // Several duplicate keys stay several problems.
    expect(errorOf('targets:\n  a:\n    role: cache\n    role: store\nhttp: {}\nhttp: {}\n').split('\n')).toHaveLength(2);
  });

  it('issue 12 #7: a missing key is reported at the line of its nearest ancestor in the file', () => {
    const msg = errorOf('\n\nengine: { dryRun: true }\ntargets:\n\n  cache-prod:\n    mode: sentinel\n    endpoints: ["h:1"]\n    role: cache\n');
    expect(msg).toBe('config.yaml: targets.cache-prod.sentinel: required when mode is sentinel (line 6)');
  });

  it('issue 12 #2: a schedule naming an unknown target, a bad cron or a bad time zone is a config error naming the schedule', () => {
    const msg = errorOf(`targets:
  cache-prod: { endpoints: [h:1], role: cache }
schedules:
  - { name: nightly, runbook: r, target: cache-typo, cron: "0 3 * * *" }
  - { name: hourly, runbook: r, target: cache-prod, cron: "0 61 * * *" }
  - { name: zoned, runbook: r, target: cache-prod, cron: "0 3 * * *", tz: Mars/Olympus }
  - { name: constructor-ok, runbook: r, target: constructor, cron: "0 3 * * *" }
`);
    expect(msg.split('\n')).toEqual([
      "config.yaml: schedules[1].cron: schedule 'hourly': invalid cron pattern (Constraint error, got value 61 expected range 0-23) (line 5)",
      expect.stringMatching(/^config\.yaml: schedules\[2\]\.tz: schedule 'zoned': invalid time zone \(.*\) \(line 6\)$/),
      "config.yaml: schedules[0].target: schedule 'nightly': unknown target 'cache-typo' (line 4)",
      "config.yaml: schedules[3].target: schedule 'constructor-ok': unknown target 'constructor' (line 7)",
    ]);
  });

  it('issue 12 #2: configProblem names a problem found after loading with its line', () => {
    const cfg = parse('routes:\n  - match: { alertname: A }\n    runbook: nope\n');
    expect(configProblem(cfg, ['routes', 0, 'runbook'], "unknown runbook 'nope'").message).toBe("config.yaml: routes[0].runbook: unknown runbook 'nope' (line 3)");
  });

  it('issue 12 #4: config maps have no prototype, so a name like `constructor` is not found in them', () => {
    const cfg = parse('targets:\n  cache-prod: { endpoints: [h:1], role: cache }\n');
    expect(Object.getPrototypeOf(cfg.targets)).toBeNull();
    expect(cfg.targets['constructor']).toBeUndefined();
    expect(cfg.targets['toString']).toBeUndefined();
  });
});
