import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express, { type RequestHandler, type Router } from 'express';
import type { Queue } from 'bullmq';

export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Most jobs one Bull Board response may carry. Bull Board takes any `jobsPerPage` (its own settings
 * offer up to 300), and a tick job holds up to INGEST_BATCH_MAX_TICKS ticks: without a cap one
 * request could pull the whole failed set through the dashboard and out of the Redis the pipeline
 * needs. 100 jobs of 500 ticks is a few MB per response.
 */
export const MAX_BOARD_JOBS_PER_RESPONSE = 100;
// Keeps (page - 1) × jobsPerPage a safe integer Redis accepts, far beyond any queue tickvault holds.
const MAX_BOARD_PAGE = 1_000_000;
/**
 * Bull Board API calls one dashboard process serves at once; more are answered 503 at once. A full
 * page of 500-tick jobs is ~7.5 MB read out of Redis (measured: 0.5 s; ~75 MB with 5,000-tick jobs),
 * so however many clients poll or hammer it, Redis serves at most this many such reads per dashboard.
 * The UI makes one call per view every few seconds: a few operators never meet the bound.
 */
export const MAX_BOARD_API_IN_FLIGHT = 4;

/**
 * Bull Board over every tickvault queue. Read-only unless queue actions are enabled: Bull Board
 * then refuses actions itself, and so does the guard in front of it (any method but GET/HEAD),
 * so a future Bull Board route cannot slip through. `queues` may grow while the dashboard runs
 * (queues that running services registered, see QueueCatalog): the board picks new ones up on its
 * next request.
 */
export function createQueueBoard(queues: readonly Queue[], options: { actions: boolean; onBusy?: () => void }): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  const adapt = (queue: Queue) => new BullMQAdapter(queue, { readOnlyMode: !options.actions });
  const adapters = queues.map(adapt);
  const board = createBullBoard({
    queues: adapters,
    serverAdapter,
    options: { uiConfig: { boardTitle: 'tickvault queues', hideDocsLink: true, miscLinks: [{ text: 'Status page', url: '/' }] } },
  });
  let shown = queues.length;
  const router = express.Router();
  router.use((_req, _res, next) => {
    for (; shown < queues.length; shown++) board.addQueue(adapt(queues[shown]!));
    next();
  });
  if (!options.actions) router.use(readOnlyGuard);
  router.use(sameOriginWrites);
  router.use(clampBoardPaging(MAX_BOARD_JOBS_PER_RESPONSE, adapters[0]?.getJobStatuses().length ?? 1));
  router.use('/api', boundedInFlight(MAX_BOARD_API_IN_FLIGHT, options.onBusy));
  router.use(withoutForeignStylesheets);
  router.use(serverAdapter.getRouter() as RequestHandler);
  return router;
}

/**
 * Bull Board's page links a web-font stylesheet on fonts.googleapis.com. The dashboard loads nothing
 * from elsewhere (no visit leaks to a third party, and it works offline), so the link is taken out of
 * the page before it is sent, rather than left for the Content-Security-Policy to block with a console
 * error on every visit. The UI falls back to system fonts.
 */
export function removeForeignStylesheets(html: string): string {
  return html.replace(/<link\b[^>]*\bhref="https?:\/\/[^"]*"[^>]*>/gi, (tag) => (/\brel="stylesheet"/i.test(tag) ? '' : tag));
}

/** Bull Board renders its one page with res.render; the rendered HTML passes through removeForeignStylesheets. */
const withoutForeignStylesheets: RequestHandler = (_req, res, next) => {
  const render = res.render.bind(res);
  res.render = ((view: string, options?: object) => {
    render(view, options ?? {}, (error: Error | null, html?: string) => {
      if (error) next(error);
      else res.send(removeForeignStylesheets(html ?? ''));
    });
  }) as typeof res.render;
  next();
};

/**
 * Rewrites `jobsPerPage` and `page` in the query string before Bull Board reads them (its own schema
 * has a minimum and no maximum). Without a single status ("latest", the default view) Bull Board reads
 * `jobsPerPage` jobs of every status, so there the cap is shared out among the statuses. Values it
 * would reject anyway (not a number, below 1) are left for it to answer 400.
 */
export function clampBoardPaging(maxJobs: number, statusCount: number): RequestHandler {
  const perStatusWhenLatest = Math.max(1, Math.floor(maxJobs / statusCount));
  return (req, _res, next) => {
    const at = req.url.indexOf('?');
    if (at >= 0) {
      const params = new URLSearchParams(req.url.slice(at + 1));
      if (params.has('jobsPerPage') || params.has('page')) {
        const status = params.get('status');
        const oneStatus = status !== null && status !== '' && status !== 'latest';
        clampAll(params, 'jobsPerPage', oneStatus ? maxJobs : perStatusWhenLatest);
        clampAll(params, 'page', MAX_BOARD_PAGE);
        req.url = `${req.url.slice(0, at)}?${params.toString()}`;
      }
    }
    next();
  };
}

/** At most `limit` requests in its handlers at once; the next are answered 503 with Retry-After. */
export function boundedInFlight(limit: number, onBusy?: () => void): RequestHandler {
  let inFlight = 0;
  return (_req, res, next) => {
    if (inFlight >= limit) {
      onBusy?.();
      res.status(503).set('Retry-After', '1').json({ error: 'the queue board is busy; try again in a second' });
      return;
    }
    inFlight += 1;
    // 'close' fires once whether the response finished or the client went away.
    res.once('close', () => (inFlight -= 1));
    next();
  };
}

function clampAll(params: URLSearchParams, name: string, max: number): void {
  const values = params.getAll(name);
  if (values.length === 0) return;
  params.delete(name);
  for (const value of values) params.append(name, Number(value) > max ? String(max) : value);
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
