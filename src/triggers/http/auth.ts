/**
 * Bearer-token check for the webhook and `/api/*`: constant-time, whatever the lengths.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './http-error.js';

const CHALLENGE = 'Bearer realm="redis-runbooks"';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Build a checker for `Authorization: Bearer <token>`. With no token configured every request
 * passes. Tokens are compared as sha256 digests with `timingSafeEqual`, so neither content nor
 * length leaks through timing.
 */
export function bearerAuth(token: string | undefined): (authorization: string | undefined) => void {
  if (token === undefined || token === '') return () => undefined;
  const expected = digest(token);
  return (authorization) => {
    const m = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization);
    if (!m?.[1]) {
      throw new HttpError(401, 'unauthorized', 'a bearer token is required', { 'WWW-Authenticate': CHALLENGE });
    }
    if (!timingSafeEqual(digest(m[1]), expected)) {
      throw new HttpError(401, 'unauthorized', 'invalid bearer token', {
        'WWW-Authenticate': `${CHALLENGE}, error="invalid_token"`,
      });
    }
  };
}
