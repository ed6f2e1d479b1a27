import { describe, expect, it } from 'vitest';
import { formatCommand, formatPlanned, redactArgv, scrubSecrets, secretRef, secretRefs } from '../../src/actions/command-format.js';

const PW = 'Zq9-distinctive-Secret';

/** Every secret-bearing command: what it must look like once rendered. */
const CASES: Array<[string, string[], string]> = [
  ['AUTH <password>', ['AUTH', PW], 'AUTH ***'],
  ['AUTH <user> <password>', ['auth', 'app', PW], 'auth app ***'],
  ['HELLO 3 AUTH <user> <password>', ['HELLO', '3', 'AUTH', 'app', PW], 'HELLO 3 AUTH app ***'],
  ['HELLO 3 AUTH … SETNAME x', ['hello', '3', 'auth', 'app', PW, 'SETNAME', 'conn1'], 'hello 3 auth app *** SETNAME conn1'],
  ['ACL SETUSER >pw', ['ACL', 'SETUSER', 'app', 'on', `>${PW}`, '~*', '+@all'], 'ACL SETUSER app on >*** ~* +@all'],
  ['ACL SETUSER <pw', ['acl', 'setuser', 'app', `<${PW}`], 'acl setuser app <***'],
  ['ACL SETUSER #hash', ['ACL', 'SETUSER', 'app', '#' + 'a'.repeat(64)], 'ACL SETUSER app #***'],
  ['ACL SETUSER !hash', ['ACL', 'SETUSER', 'app', '!' + 'b'.repeat(64)], 'ACL SETUSER app !***'],
  ['CONFIG SET requirepass', ['CONFIG', 'SET', 'requirepass', PW], 'CONFIG SET requirepass ***'],
  ['CONFIG SET masterauth', ['config', 'set', 'MasterAuth', PW], 'config set MasterAuth ***'],
  ['CONFIG SET tls-key-file-pass', ['CONFIG', 'SET', 'tls-key-file-pass', PW], 'CONFIG SET tls-key-file-pass ***'],
  ['CONFIG SET tls-client-key-file-pass', ['CONFIG', 'SET', 'tls-client-key-file-pass', PW], 'CONFIG SET tls-client-key-file-pass ***'],
  ['CONFIG SET several pairs', ['CONFIG', 'SET', 'maxmemory', '100mb', 'requirepass', PW, 'masteruser', 'repl'], 'CONFIG SET maxmemory 100mb requirepass *** masteruser repl'],
  ['MIGRATE … AUTH pw', ['MIGRATE', '127.0.0.1', '7002', '', '0', '5000', 'REPLACE', 'AUTH', PW, 'KEYS', 'k1', 'k2'], 'MIGRATE 127.0.0.1 7002 "" 0 5000 REPLACE AUTH *** KEYS k1 k2'],
  ['MIGRATE … AUTH2 user pw', ['MIGRATE', '127.0.0.1', '7002', '', '0', '5000', 'AUTH2', 'mig', PW, 'KEYS', 'auth'], 'MIGRATE 127.0.0.1 7002 "" 0 5000 AUTH2 mig *** KEYS auth'],
  ['SENTINEL SET auth-pass', ['SENTINEL', 'SET', 'mymaster', 'down-after-milliseconds', '5000', 'auth-pass', PW], 'SENTINEL SET mymaster down-after-milliseconds 5000 auth-pass ***'],
  ['SENTINEL CONFIG SET sentinel-pass', ['SENTINEL', 'CONFIG', 'SET', 'sentinel-pass', PW], 'SENTINEL CONFIG SET sentinel-pass ***'],
];

describe('formatCommand redacts every secret-bearing command', () => {
  for (const [what, argv, shown] of CASES) {
    it(what, () => {
      const line = formatCommand(argv);
      expect(line).toBe(shown);
      expect(line).not.toContain(PW);
      expect(line).not.toContain('a'.repeat(64));
      expect(line).not.toContain('b'.repeat(64));
    });
  }

  it('does not change the argv it is given', () => {
    const argv = ['AUTH', PW];
    redactArgv(argv);
    expect(argv).toEqual(['AUTH', PW]);
  });

  it('leaves commands without secrets alone (keys named like keywords too)', () => {
    expect(formatCommand(['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'])).toBe('CONFIG SET maxmemory-policy allkeys-lru');
    expect(formatCommand(['SET', 'auth', 'requirepass'])).toBe('SET auth requirepass');
    expect(formatCommand(['ACL', 'SETUSER', 'app', 'on', 'nopass', '~cache:*', '+get'])).toBe('ACL SETUSER app on nopass ~cache:* +get');
    expect(formatCommand(['SENTINEL', 'SET', 'mymaster', 'auth-user', 'app'])).toBe('SENTINEL SET mymaster auth-user app');
    expect(formatCommand(['GET', 'a b'])).toBe('GET "a b"');
  });

  it('shows placeholders: they name a secret, they are not one', () => {
    const ref = secretRef('app-new');
    expect(ref).toBe('${secret:app-new}');
    expect(secretRefs(`>${ref}`)).toEqual(['app-new']);
    expect(formatCommand(['ACL', 'SETUSER', 'app', `>${ref}`])).toBe('ACL SETUSER app >${secret:app-new}');
    expect(formatCommand(['AUTH', 'app', ref])).toBe('AUTH app ${secret:app-new}');
    // a value with text around the placeholder is still a value: redacted
    expect(formatCommand(['AUTH', `x${ref}`])).toBe('AUTH ***');
    expect(() => secretRef('bad name')).toThrow(/invalid secret name/);
  });

  it('formatPlanned prefixes the node', () => {
    expect(formatPlanned({ node: '127.0.0.1:7000', argv: ['CONFIG', 'SET', 'requirepass', PW] })).toBe('127.0.0.1:7000: CONFIG SET requirepass ***');
    expect(formatPlanned({ node: '127.0.0.1:7000', argv: ['PING'] }, '  ')).toBe('127.0.0.1:7000  PING');
  });

  it('scrubSecrets removes every given value from free text, longest first', () => {
    const msg = `ERR Error in ACL SETUSER modifier '<${PW}': The password you are trying to remove from the user does not exist`;
    expect(scrubSecrets(msg, [PW, undefined, 'ab'])).toBe("ERR Error in ACL SETUSER modifier '<***': The password you are trying to remove from the user does not exist");
    expect(scrubSecrets(`${PW}-x ${PW}`, [PW, `${PW}-x`])).toBe('*** ***');
  });
});
