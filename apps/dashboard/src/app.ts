import { fileURLToPath } from 'node:url';
import express, { type Express, type RequestHandler } from 'express';
import type { Queue } from 'bullmq';
import { createApiRouter, type ApiDeps } from './api.js';
import { requireAuth, type AuthSettings } from './auth.js';
import type { LoginThrottle } from './login-throttle.js';
import { createQueueBoard, QUEUE_BOARD_PATH } from './queue-board.js';

export const PUBLIC_DIR = fileURLToPath(new URL('./public', import.meta.url));

/**
 * Nothing loads from another origin: the page is self-contained, and Bull Board's link to a web font
 * CDN is taken out of its page (removeForeignStylesheets) rather than leaking each visit to a third
 * party; this policy is the second line should a Bull Board upgrade add another.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // Bull Board's UI sets inline styles.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
  });
  next();
};

export interface AppDeps extends ApiDeps {
  auth: AuthSettings;
  /** Failed logins per client; without it failures are not limited (tests of other things). */
  loginThrottle?: LoginThrottle;
  onLockout?: (client: string, lockMs: number) => void;
  /** A Bull Board API call refused because the board was at its in-flight bound. */
  onBoardBusy?: () => void;
  queueActions: boolean;
  queues: readonly Queue[];
}

/** Everything on the dashboard port sits behind authentication; health and metrics are on HEALTH_PORT. */
export function createDashboardApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(securityHeaders);
  app.use(requireAuth(deps.auth, deps.loginThrottle, deps.onLockout));
  app.use('/api', createApiRouter(deps));
  app.use(QUEUE_BOARD_PATH, createQueueBoard(deps.queues, { actions: deps.queueActions, ...(deps.onBoardBusy ? { onBusy: deps.onBoardBusy } : {}) }));
  // The page is a few static files; no-cache makes a browser revalidate them after an upgrade.
  app.use(express.static(PUBLIC_DIR, { index: 'index.html', cacheControl: true, maxAge: 0, setHeaders: (res) => res.set('Cache-Control', 'no-cache') }));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}
