import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ConfigProblem } from '@tickvault/config';

export type AuthSettings =
  | { mode: 'basic'; user: string; password: string }
  | { mode: 'bearer'; token: string }
  | { mode: 'off' };

export interface AuthConfig {
  DASHBOARD_AUTH: 'basic' | 'bearer' | 'off';
  DASHBOARD_USER: string;
  DASHBOARD_PASSWORD: string | undefined;
  DASHBOARD_TOKEN: string | undefined;
}

const REALM = 'tickvault';

/**
 * The credentials the chosen mode needs, or the variable that is missing. Checked before anything
 * starts: a dashboard without credentials would show queues (and their job data) to anyone.
 */
export function resolveAuth(config: AuthConfig): { settings: AuthSettings } | { problem: ConfigProblem } {
  switch (config.DASHBOARD_AUTH) {
    case 'basic':
      if (!config.DASHBOARD_PASSWORD) {
        return { problem: { name: 'DASHBOARD_PASSWORD', message: 'is required when DASHBOARD_AUTH=basic (or set DASHBOARD_AUTH=off behind an authenticating proxy)' } };
      }
      return { settings: { mode: 'basic', user: config.DASHBOARD_USER, password: config.DASHBOARD_PASSWORD } };
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

/** Guards everything it is mounted in front of: the page, the API, the stream and Bull Board. */
export function requireAuth(settings: AuthSettings): RequestHandler {
  return (req, res, next) => {
    if (isAuthorized(settings, req.headers.authorization)) {
      next();
      return;
    }
    const challenge = settings.mode === 'basic' ? `Basic realm="${REALM}", charset="UTF-8"` : `Bearer realm="${REALM}"`;
    res.status(401).set('WWW-Authenticate', challenge).json({ error: 'authentication required' });
  };
}
