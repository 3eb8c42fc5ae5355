import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type RequestHandler, type Router } from 'express';
import type { Queue } from 'bullmq';

export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Bull Board over every tickvault queue. Read-only unless queue actions are enabled: Bull Board
 * then refuses actions itself, and so does the guard in front of it (any method but GET/HEAD),
 * so a future Bull Board route cannot slip through.
 */
export function createQueueBoard(queues: readonly Queue[], options: { actions: boolean }): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: !options.actions })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'tickvault queues', hideDocsLink: true, miscLinks: [{ text: 'Status page', url: '/' }] } },
  });
  const router = express.Router();
  if (!options.actions) router.use(readOnlyGuard);
  router.use(sameOriginWrites);
  router.use(serverAdapter.getRouter() as RequestHandler);
  return router;
}

const readOnlyGuard: RequestHandler = (req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') {
    next();
    return;
  }
  res.status(403).json({ error: 'queue actions are disabled; set DASHBOARD_QUEUE_ACTIONS=true to allow them' });
};

/**
 * Browsers send basic credentials with cross-site requests too: a queue action must come from this
 * dashboard's own pages, never from a form or script on another site.
 */
const sameOriginWrites: RequestHandler = (req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD') {
    next();
    return;
  }
  const site = req.get('sec-fetch-site');
  const origin = req.get('origin');
  const crossSite = (site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && originHost(origin) !== req.get('host'));
  if (crossSite) {
    res.status(403).json({ error: 'cross-site queue actions are refused' });
    return;
  }
  next();
};

function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null; // "null" (sandboxed frames, file: pages) is never this dashboard
  }
}
