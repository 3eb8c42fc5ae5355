import type http from 'node:http';
import { hashSeed, mulberry32 } from './random.js';
import { FeedServer, pollFaults, type ListenOptions, type PollFaults } from './scaffold.js';

/**
 * A local FRED server for tests and demos: the JSON observations API
 * (`/fred/series/observations?series_id&api_key&file_type=json&observation_start&observation_end&limit&offset`,
 * fred.stlouisfed.org/docs/api/fred/series_observations.html) with its full envelope and error
 * bodies (`{"error_code":400,"error_message":"Bad Request.  The series does not exist."}`), and the
 * keyless fredgraph CSV (`/graph/fredgraph.csv?id&cosd&coed`: `observation_date,<ID>` header, a
 * missing value as an empty field).
 *
 * Values are a pure function of (seed, series, date); dates are period starts (daily business
 * days, months, quarters), a few daily ones are missing (`.`), and `revise` changes a published
 * value the way FRED's vintages do.
 */

export type FredFrequency = 'daily' | 'monthly' | 'quarterly';

export interface FakeFredOptions extends ListenOptions {
  /** Series ids, or ids with their frequency. Default DGS10, T10Y2Y (daily), CPIAUCSL, UNRATE (monthly), GDP (quarterly). */
  series?: readonly string[] | Readonly<Record<string, FredFrequency>>;
  /** The one registered key. Without it any well-formed key is accepted. */
  apiKey?: string;
  /** First observation date (default: six years before today). */
  startDate?: string;
  /** Share of daily observations published as missing (default 0.04). */
  missingShare?: number;
}

export interface FakeFredObservation {
  date: string;
  /** As FRED sends it: a decimal string, or `.` for a missing value. */
  value: string;
}

/** PollFaults' outage answers 500, FRED's error status. */
export interface FakeFredControls extends PollFaults {
  /** From now on the observation of `date` reads `value` (any text: `.`, a new number, garbage). */
  revise(seriesId: string, date: string, value: string): void;
  /** The next `count` responses are cut in half. */
  malformed(count?: number): void;
  reset(): void;
}

export interface FakeFredQuery {
  /** When the request arrived (ms). */
  at: number;
  path: string;
  seriesId: string | null;
  start: string | null;
  end: string | null;
  keyed: boolean;
  status: number;
}

export interface FakeFredStats {
  requests: number;
  queries: FakeFredQuery[];
  rateLimited: number;
  refused: number;
  stalled: number;
}

export interface FakeFred {
  /** For the adapter's apiUrl setting (`.../fred`). */
  apiUrl: string;
  /** For the adapter's graphUrl setting (`.../graph/fredgraph.csv`). */
  graphUrl: string;
  port: number;
  controls: FakeFredControls;
  stats: FakeFredStats;
  /** Every published observation of a series, oldest first, as served now (revisions applied). */
  observations(seriesId: string): FakeFredObservation[];
  close(): Promise<void>;
}

const KNOWN: Record<string, { frequency: FredFrequency; base: number; amplitude: number; trend: number; decimals: number }> = {
  DGS10: { frequency: 'daily', base: 4, amplitude: 0.8, trend: 0, decimals: 2 },
  DGS2: { frequency: 'daily', base: 3.8, amplitude: 1, trend: 0, decimals: 2 },
  // Dollars per euro, near the euro of the crypto fakes' market (market.ts).
  DEXUSEU: { frequency: 'daily', base: 1.1, amplitude: 0.05, trend: 0, decimals: 4 },
  // A spread: crosses zero, so negative values are served too.
  T10Y2Y: { frequency: 'daily', base: 0.1, amplitude: 0.6, trend: 0, decimals: 2 },
  CPIAUCSL: { frequency: 'monthly', base: 250, amplitude: 1, trend: 0.4, decimals: 3 },
  UNRATE: { frequency: 'monthly', base: 4.5, amplitude: 1, trend: 0, decimals: 1 },
  GDP: { frequency: 'quarterly', base: 20000, amplitude: 150, trend: 250, decimals: 3 },
};
const DEFAULT_SERIES = ['DGS10', 'T10Y2Y', 'CPIAUCSL', 'UNRATE', 'GDP'];
const KEY_PATTERN = /^[a-z0-9]{32}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;
const KEY_HELP = 'Read https://fred.stlouisfed.org/docs/api/api_key.html for more information.';

class FredError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const isoDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Period starts from `start` to the latest published one (with the usual publication lag). */
function periodStarts(frequency: FredFrequency, start: string, nowMs: number): string[] {
  const dates: string[] = [];
  const today = Date.parse(`${isoDate(nowMs)}T00:00:00Z`);
  if (frequency === 'daily') {
    // Business days up to yesterday: today's value is published tomorrow.
    for (let t = Date.parse(`${start}T00:00:00Z`); t < today; t += DAY_MS) {
      const day = new Date(t).getUTCDay();
      if (day !== 0 && day !== 6) dates.push(isoDate(t));
    }
    return dates;
  }
  const step = frequency === 'monthly' ? 1 : 3;
  const now = new Date(today);
  // Monthly: up to last month; quarterly: up to last quarter.
  const lastMonth = frequency === 'monthly' ? now.getUTCFullYear() * 12 + now.getUTCMonth() - 1 : now.getUTCFullYear() * 12 + Math.floor(now.getUTCMonth() / 3) * 3 - 3;
  const first = new Date(`${start}T00:00:00Z`);
  let month = first.getUTCFullYear() * 12 + first.getUTCMonth();
  month = Math.ceil(month / step) * step;
  if (first.getUTCDate() > 1 && month === first.getUTCFullYear() * 12 + first.getUTCMonth()) month += step;
  for (; month <= lastMonth; month += step) dates.push(`${Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}-01`);
  return dates;
}

export async function startFakeFred(options: FakeFredOptions = {}): Promise<FakeFred> {
  const seed = options.seed ?? 42;
  const requested = options.series ?? DEFAULT_SERIES;
  const frequencies = new Map<string, FredFrequency>(
    Array.isArray(requested)
      ? (requested as readonly string[]).map((id) => [id, KNOWN[id]?.frequency ?? 'daily'] as const)
      : Object.entries(requested as Readonly<Record<string, FredFrequency>>),
  );
  const startDate = options.startDate ?? `${new Date().getUTCFullYear() - 6}-01-01`;
  const missingShare = options.missingShare ?? 0.04;
  const revisions = new Map<string, Map<string, string>>();
  const stats: FakeFredStats = { requests: 0, queries: [], rateLimited: 0, refused: 0, stalled: 0 };
  let malformedCount = 0;

  function value(seriesId: string, date: string): string {
    const revised = revisions.get(seriesId)?.get(date);
    if (revised !== undefined) return revised;
    const frequency = frequencies.get(seriesId) ?? 'daily';
    const spec = KNOWN[seriesId] ?? { base: 100, amplitude: 5, trend: 0, decimals: 2 };
    const rand = mulberry32(hashSeed(seed, seriesId, date));
    if (frequency === 'daily' && rand() < missingShare) return '.';
    const phase = (hashSeed(seed, seriesId, 'phase') % 1000) / 159;
    // Periods since 2020 (daily: calendar days scaled to business days), so a value depends on its date only.
    const [year = 2020, month = 1] = date.split('-').map(Number);
    const months = (year - 2020) * 12 + month - 1;
    const index = frequency === 'daily' ? ((Date.parse(`${date}T00:00:00Z`) - Date.UTC(2020, 0, 1)) / DAY_MS) * (5 / 7) : frequency === 'monthly' ? months : Math.floor(months / 3);
    const periodsPerYear = frequency === 'daily' ? 260 : frequency === 'monthly' ? 12 : 4;
    const t = index / periodsPerYear;
    const level = spec.base + spec.trend * index + spec.amplitude * Math.sin(t * 1.7 + phase) + spec.amplitude * 0.1 * (rand() - 0.5);
    const text = level.toFixed(spec.decimals);
    return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
  }

  function observations(seriesId: string, nowMs: number): FakeFredObservation[] {
    const frequency = frequencies.get(seriesId);
    if (!frequency) throw new FredError(400, 'Bad Request.  The series does not exist.');
    return periodStarts(frequency, startDate, nowMs).map((date) => ({ date, value: value(seriesId, date) }));
  }

  const dateParam = (query: URLSearchParams, name: string): string | null => {
    const raw = query.get(name);
    if (raw === null || raw === '') return null;
    if (!DATE.test(raw) || Number.isNaN(Date.parse(`${raw}T00:00:00Z`))) {
      throw new FredError(400, `Bad Request.  Variable ${name} is not a valid date in the format YYYY-MM-DD.`);
    }
    return raw;
  };

  function seriesObservations(query: URLSearchParams, nowMs: number): { type: string; body: string } {
    const apiKey = query.get('api_key');
    if (apiKey === null || apiKey === '') throw new FredError(400, `Bad Request.  Variable api_key is not set.  ${KEY_HELP}`);
    if (!KEY_PATTERN.test(apiKey)) throw new FredError(400, `Bad Request.  The value for variable api_key is not a 32 character alpha-numeric lower-case string.  ${KEY_HELP}`);
    if (options.apiKey !== undefined && apiKey !== options.apiKey) throw new FredError(400, `Bad Request.  The value for variable api_key is not registered.  ${KEY_HELP}`);
    const seriesId = query.get('series_id');
    if (!seriesId) throw new FredError(400, 'Bad Request.  Variable series_id is not set.');
    const start = dateParam(query, 'observation_start') ?? '1776-07-04';
    const end = dateParam(query, 'observation_end') ?? '9999-12-31';
    const limit = Number(query.get('limit') ?? 100_000);
    const offset = Number(query.get('offset') ?? 0);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new FredError(400, 'Bad Request.  Variable limit is not between 1 and 100000.');
    if (!Number.isInteger(offset) || offset < 0) throw new FredError(400, 'Bad Request.  Variable offset is not a non-negative integer.');
    const all = observations(seriesId, nowMs).filter((o) => o.date >= start && o.date <= end);
    const page = all.slice(offset, offset + limit);
    const today = isoDate(nowMs);
    const rows = page.map((o) => ({ realtime_start: today, realtime_end: today, date: o.date, value: o.value }));
    const fileType = query.get('file_type') ?? 'xml';
    if (fileType === 'json') {
      return {
        type: 'application/json; charset=UTF-8',
        body: JSON.stringify({
          realtime_start: today, realtime_end: today, observation_start: start, observation_end: end,
          units: 'lin', output_type: 1, file_type: 'json', order_by: 'observation_date', sort_order: 'asc',
          count: all.length, offset, limit, observations: rows,
        }),
      };
    }
    const attrs = (o: Record<string, unknown>) => Object.entries(o).map(([k, v]) => `${k}="${String(v)}"`).join(' ');
    return {
      type: 'text/xml; charset=UTF-8',
      body: `<?xml version="1.0" encoding="utf-8" ?>\n<observations ${attrs({ realtime_start: today, realtime_end: today, observation_start: start, observation_end: end, units: 'lin', output_type: 1, file_type: 'xml', order_by: 'observation_date', sort_order: 'asc', count: all.length, offset, limit })}>\n${rows.map((r) => `  <observation ${attrs(r)}/>`).join('\n')}\n</observations>\n`,
    };
  }

  function graphCsv(query: URLSearchParams, nowMs: number): { type: string; body: string } {
    const seriesId = query.get('id');
    if (!seriesId || !frequencies.has(seriesId)) throw new FredError(404, 'Series not found');
    const start = dateParam(query, 'cosd') ?? '1776-07-04';
    const end = dateParam(query, 'coed') ?? '9999-12-31';
    const rows = observations(seriesId, nowMs).filter((o) => o.date >= start && o.date <= end);
    // fredgraph writes a missing value as an empty field (older files used `.`).
    return { type: 'text/csv', body: `observation_date,${seriesId}\n${rows.map((o) => `${o.date},${o.value === '.' ? '' : o.value}`).join('\n')}\n` };
  }

  function handleRequest(_req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const nowMs = Date.now();
    if (!faults.admit(res)) return;
    const isGraph = url.pathname === '/graph/fredgraph.csv';
    const query: FakeFredQuery = {
      at: nowMs,
      path: url.pathname,
      seriesId: url.searchParams.get(isGraph ? 'id' : 'series_id'),
      start: url.searchParams.get(isGraph ? 'cosd' : 'observation_start'),
      end: url.searchParams.get(isGraph ? 'coed' : 'observation_end'),
      keyed: url.searchParams.has('api_key'),
      status: 200,
    };
    stats.queries.push(query);
    if (stats.queries.length > 10_000) stats.queries.splice(0, 5_000);
    const json = 'application/json; charset=UTF-8';
    const fail = (status: number, message: string, headers: Record<string, string> = {}) => {
      query.status = status;
      if (isGraph) {
        res.writeHead(status, { 'Content-Type': 'text/html; charset=UTF-8', ...headers });
        res.end(`<!DOCTYPE html><html><head><title>${message}</title></head><body><h1>${message}</h1></body></html>`);
      } else {
        res.writeHead(status, { 'Content-Type': json, ...headers });
        res.end(JSON.stringify({ error_code: status, error_message: message }));
      }
    };
    if (faults.down(nowMs)) return fail(500, 'Internal Server Error');
    const limited = faults.rateLimited();
    if (limited) {
      stats.rateLimited++;
      return fail(429, 'Too Many Requests.  Exceeded Rate Limit', limited.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(limited.retryAfterSeconds) });
    }
    try {
      let answer: { type: string; body: string };
      if (url.pathname === '/fred/series/observations') answer = seriesObservations(url.searchParams, nowMs);
      else if (isGraph) answer = graphCsv(url.searchParams, nowMs);
      else throw new FredError(404, 'Not Found.  The requested resource does not exist.');
      if (malformedCount > 0) {
        malformedCount--;
        answer = { ...answer, body: answer.body.slice(0, Math.floor(answer.body.length / 2)) };
      }
      res.writeHead(200, { 'Content-Type': answer.type });
      res.end(answer.body);
    } catch (error) {
      if (!(error instanceof FredError)) throw error;
      fail(error.status, error.message);
    }
  }

  const server = new FeedServer(options, handleRequest);
  const faults = pollFaults(server, stats);
  await server.listen();

  const controls: FakeFredControls = {
    revise(seriesId, date, newValue) {
      if (!frequencies.has(seriesId)) throw new Error(`fake FRED has no series ${seriesId}`);
      let byDate = revisions.get(seriesId);
      if (!byDate) revisions.set(seriesId, (byDate = new Map()));
      byDate.set(date, newValue);
    },
    ...faults.switches,
    malformed(count = 1) {
      malformedCount += count;
    },
    reset() {
      faults.reset();
      malformedCount = 0;
    },
  };

  const baseUrl = server.url('http');
  return {
    apiUrl: `${baseUrl}/fred`,
    graphUrl: `${baseUrl}/graph/fredgraph.csv`,
    port: server.port,
    controls,
    stats,
    observations(seriesId) {
      return observations(seriesId, Date.now());
    },
    close: () => server.close(),
  };
}
