import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ENV, ensureSecretFile, type ConfigProblem } from '@tickvault/config';
import { errorMessage } from '@tickvault/runtime';
import { clientKey, type LoginThrottle } from './login-throttle.js';

export type AuthSettings =
  | { mode: 'basic'; user: string; password: string }
  | { mode: 'bearer'; token: string }
  | { mode: 'off' };

export interface AuthConfig {
  DASHBOARD_AUTH: 'basic' | 'bearer' | 'off';
  DASHBOARD_USER: string;
  DASHBOARD_PASSWORD: string | undefined;
  DASHBOARD_PASSWORD_FILE: string;
  DASHBOARD_TOKEN: string | undefined;
}

/** Where the basic-auth password came from: the first start that generated it is the one that shows it. */
export type PasswordOrigin = { from: 'env' } | { from: 'file'; path: string; generated: boolean };

const REALM = 'tickvault';

/**
 * The credentials the chosen mode needs, or the variable that is wrong. Checked before anything
 * starts: a dashboard without credentials would show queues (and their job data) to anyone.
 * Basic auth without DASHBOARD_PASSWORD takes the password kept in DASHBOARD_PASSWORD_FILE, and
 * generates it there when the file does not exist yet, so a first start needs no manual step.
 */
export function resolveAuth(config: AuthConfig): { settings: AuthSettings; password?: PasswordOrigin } | { problem: ConfigProblem } {
  switch (config.DASHBOARD_AUTH) {
    case 'basic': {
      if (config.DASHBOARD_PASSWORD) {
        return { settings: { mode: 'basic', user: config.DASHBOARD_USER, password: config.DASHBOARD_PASSWORD }, password: { from: 'env' } };
      }
      const path = config.DASHBOARD_PASSWORD_FILE;
      let kept: { value: string; created: boolean };
      try {
        kept = ensureSecretFile(path);
      } catch (error) {
        return {
          problem: {
            name: 'DASHBOARD_PASSWORD_FILE',
            message: `cannot read or create ${path} (${errorMessage(error)}): set DASHBOARD_PASSWORD, or point DASHBOARD_PASSWORD_FILE at a writable place`,
          },
        };
      }
      const valid = ENV.DASHBOARD_PASSWORD.schema.safeParse(kept.value);
      if (!valid.success) {
        const reason = [...new Set(valid.error.issues.map((i) => i.message))].join('; ');
        return { problem: { name: 'DASHBOARD_PASSWORD_FILE', message: `the password in ${path} ${reason}` } };
      }
      return {
        settings: { mode: 'basic', user: config.DASHBOARD_USER, password: kept.value },
        password: { from: 'file', path, generated: kept.created },
      };
    }
    case 'bearer':
      if (!config.DASHBOARD_TOKEN) return { problem: { name: 'DASHBOARD_TOKEN', message: 'is required when DASHBOARD_AUTH=bearer' } };
      return { settings: { mode: 'bearer', token: config.DASHBOARD_TOKEN } };
    case 'off':
      return { settings: { mode: 'off' } };
  }
}

/**
 * Constant-time comparison. Both sides are hashed first because timingSafeEqual needs equal lengths,
 * and comparing lengths directly would tell an attacker how long the secret is.
 */
export function secretEquals(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** `Authorization: Basic base64(user:password)`; the password may itself contain ':'. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function parseBearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match ? match[1]! : null;
}

export function isAuthorized(settings: AuthSettings, header: string | undefined): boolean {
  switch (settings.mode) {
    case 'off':
      return true;
    case 'bearer': {
      const token = parseBearer(header);
      return token !== null && secretEquals(token, settings.token);
    }
    case 'basic': {
      const given = parseBasic(header);
      if (!given) return false;
      // Both comparisons always run, so the time taken does not reveal which one failed.
      const userOk = secretEquals(given.user, settings.user);
      const passwordOk = secretEquals(given.password, settings.password);
      return userOk && passwordOk;
    }
  }
}

/**
 * Guards everything it is mounted in front of: the page, the API, the stream and Bull Board. With a
 * throttle, a client past its free failures is answered 429 with Retry-After, without its credentials
 * being checked, until its lockout ends; a request without credentials is not a failure (browsers
 * send one first to get the challenge).
 */
export function requireAuth(settings: AuthSettings, throttle?: LoginThrottle, onLockout?: (client: string, lockMs: number) => void): RequestHandler {
  const challenge = settings.mode === 'basic' ? `Basic realm="${REALM}", charset="UTF-8"` : `Bearer realm="${REALM}"`;
  return (req, res, next) => {
    if (settings.mode === 'off') {
      next();
      return;
    }
    const client = clientKey(req.socket.remoteAddress);
    const waitMs = throttle?.retryAfterMs(client) ?? 0;
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      res.status(429).set('Retry-After', String(seconds)).json({ error: `too many failed logins from this address; try again in ${seconds} s` });
      return;
    }
    if (isAuthorized(settings, req.headers.authorization)) {
      throttle?.recordSuccess(client);
      next();
      return;
    }
    if (req.headers.authorization !== undefined && throttle) {
      const lockMs = throttle.recordFailure(client);
      if (lockMs > 0) onLockout?.(client, lockMs);
    }
    res.status(401).set('WWW-Authenticate', challenge).json({ error: 'authentication required' });
  };
}
