import { describe, expect, it } from 'vitest';
import { resolveSecrets, toTargetError } from '../../src/actions/redis/connection.js';
import { parseConfig } from '../../src/config.js';

const NEW = 'N3w-distinctive-value';

const target = { secret: (name: string): string | undefined => ({ 'app-new': NEW, empty: '' } as Record<string, string>)[name] };

describe('${secret:<name>} placeholders', () => {
  it('are replaced by the target secret at send time, the plan argv untouched', () => {
    const argv = ['ACL', 'SETUSER', 'app', '>${secret:app-new}'];
    const r = resolveSecrets(target, argv);
    expect(r.argv).toEqual(['ACL', 'SETUSER', 'app', `>${NEW}`]);
    expect(r.values).toEqual([NEW]);
    expect(argv[3]).toBe('>${secret:app-new}');
    expect(resolveSecrets(target, ['PING'])).toEqual({ argv: ['PING'], values: [] });
  });

  it('a missing or empty secret is a non-retryable secret_missing naming it, never a value', () => {
    expect(() => resolveSecrets(target, ['AUTH', 'app', '${secret:nope}'])).toThrow(expect.objectContaining({ code: 'secret_missing', retryable: false, message: expect.stringContaining('"nope"') }));
    expect(() => resolveSecrets(target, ['AUTH', '${secret:empty}'])).toThrow(expect.objectContaining({ code: 'secret_missing' }));
    expect(() => resolveSecrets({}, ['AUTH', '${secret:app-new}'])).toThrow(expect.objectContaining({ code: 'secret_missing' }));
  });

  it('errors are scrubbed of the values used (Redis echoes a removed password in its error)', () => {
    const err = new Error(`ERR Error in ACL SETUSER modifier '<${NEW}': The password you are trying to remove from the user does not exist`);
    const te = toTargetError(err, '127.0.0.1:6380', 'ACL SETUSER', NEW);
    expect(te.message).not.toContain(NEW);
    expect(te.message).toContain("modifier '<***'");
    expect((te.cause as Error).message).not.toContain(NEW);
    expect(te.code).toBe('redis_error');
  });
});

describe('targets.<t>.secrets in the config', () => {
  const base = (secrets: string) => `targets:\n  app:\n    endpoints: ["127.0.0.1:6380"]\n    role: store\n    secrets: ${secrets}\n`;

  it('resolves ${ENV} references', () => {
    const cfg = parseConfig(base('{ rotation-new: "${PW_NEW}", rotation-old: "${PW_OLD}" }'), 'c.yaml', { PW_NEW: 'a1', PW_OLD: 'b2' });
    expect(cfg.targets['app']?.secrets).toEqual({ 'rotation-new': 'a1', 'rotation-old': 'b2' });
  });

  it('refuses bad names, empty values and unset variables, naming the path and never the value', () => {
    expect(() => parseConfig(base('{ "bad name": x }'), 'c.yaml', {})).toThrow(/targets\.app\.secrets/);
    expect(() => parseConfig(base('{ ok: "" }'), 'c.yaml', {})).toThrow(/targets\.app\.secrets\.ok: must not be empty/);
    expect(() => parseConfig(base('{ ok: "${NOT_SET}" }'), 'c.yaml', {})).toThrow(/NOT_SET is not set/);
  });
});
