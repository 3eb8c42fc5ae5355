import { z } from 'zod';
import { LiveCandleSchema, SOURCE_ID_PATTERN, TIMEFRAMES } from '@tickvault/schema';
import { ServiceEntrySchema } from '@tickvault/queue';
import { DEFAULT_LIMIT, MAX_LIMIT, MAX_SERIES_PER_REQUEST, MAX_TICK_RANGE_MS } from './params.js';

/**
 * OpenAPI 3.1 description of the read API, served at /api/openapi.json behind the dashboard's own
 * authentication. Built from the same bounds the router enforces (params.ts) and, for the service
 * registry and live candles, from their zod schemas, so the numbers and shapes cannot drift apart;
 * openapi.spec.ts checks every route, method and query parameter against the router itself.
 */

type Json = Record<string, unknown>;

const decimal = { type: 'string', pattern: '^-?\\d+(\\.\\d+)?$', description: 'A stored decimal as text, exactly as stored (never rounded).' };
const isoTime = { type: 'string', format: 'date-time' };
const seriesId = { type: 'string', description: 'source:symbol, e.g. sim:BTC/USDT' };

const source: Json = { name: 'source', in: 'query', required: true, description: 'Source id, e.g. sim, coinbase.', schema: { type: 'string', pattern: SOURCE_ID_PATTERN.source } };
const symbol: Json = { name: 'symbol', in: 'query', required: true, description: 'Normalized symbol, e.g. BTC/USDT.', schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9/._-]{0,63}$' } };
const timeframe: Json = { name: 'timeframe', in: 'query', required: true, schema: { type: 'string', enum: [...TIMEFRAMES] } };
const time = (name: string, description: string): Json => ({ name, in: 'query', required: false, description, schema: { type: 'string', format: 'date-time' } });
const limit: Json = { name: 'limit', in: 'query', required: false, description: 'Rows at most.', schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT } };
const seriesList = (name: string): Json => ({
  name,
  in: 'query',
  required: true,
  description: `Comma-separated series, source:symbol each, at most ${MAX_SERIES_PER_REQUEST}; e.g. sim:BTC/USDT,sim:ETH/USDT.`,
  schema: { type: 'string' },
});

const candle: Json = {
  type: 'object',
  required: ['openTime', 'open', 'high', 'low', 'close', 'volume', 'tradeCount'],
  properties: { openTime: isoTime, open: decimal, high: decimal, low: decimal, close: decimal, volume: decimal, tradeCount: { type: 'integer' } },
};
const tick: Json = {
  type: 'object',
  required: ['ts', 'price', 'size', 'tradeId'],
  properties: { ts: { ...isoTime, description: 'UTC with microseconds.' }, price: decimal, size: decimal, tradeId: { type: ['string', 'null'] } },
};

/** A zod schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect), without its own `$schema` line. */
function fromZod(schema: z.ZodType): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });
  return rest;
}

function obj(properties: Record<string, unknown>): Json {
  return { type: 'object', required: Object.keys(properties), properties };
}

function ok(description: string, schema: Json): Json {
  return { description, content: { 'application/json': { schema } } };
}

const errorBody = obj({ error: { type: 'string' } });
const badRequest = {
  description: 'A query parameter is missing, malformed, unknown or repeated; `parameter` names it.',
  content: { 'application/json': { schema: obj({ error: { type: 'string' }, parameter: { type: 'string' } }) } },
};
const unavailable = { description: 'Postgres or Redis cannot answer right now.', content: { 'application/json': { schema: errorBody } } };
const unauthorized = { description: 'Missing or wrong credentials (the dashboard\'s basic or bearer authentication).' };
const throttled = { description: 'Too many failed logins from this client; Retry-After says when to try again.' };

function get(summary: string, parameters: Json[], response: Json, extra: Record<string, unknown> = {}): Json {
  return {
    get: {
      summary,
      parameters,
      responses: { 200: response, 400: badRequest, 401: unauthorized, 429: throttled, 503: unavailable, ...extra },
    },
  };
}

export function openApiDocument(version: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'tickvault dashboard read API',
      version,
      description:
        'Read-only JSON over stored market data and the running system. Every answer is bounded (rows, windows, series per request). ' +
        'Decimals are strings exactly as stored; times are ISO-8601 UTC. Unknown or repeated query parameters are refused (400). ' +
        'Every method other than GET answers 405.',
    },
    servers: [{ url: '/' }],
    security: [{ basic: [] }, { bearer: [] }],
    components: {
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic', description: 'DASHBOARD_AUTH=basic: DASHBOARD_USER and the dashboard password.' },
        bearer: { type: 'http', scheme: 'bearer', description: 'DASHBOARD_AUTH=bearer: DASHBOARD_TOKEN.' },
      },
      schemas: {
        Candle: candle,
        Tick: tick,
        ServiceEntry: fromZod(ServiceEntrySchema),
        LiveCandle: fromZod(LiveCandleSchema),
      },
    },
    paths: {
      '/api/openapi.json': get('This document.', [], ok('The OpenAPI 3.1 description of this API.', { type: 'object' })),
      '/api/series': get(
        'Every configured, registered or stored series with counts, first/last tick and lag.',
        [],
        ok('Series', obj({
          generatedAt: isoTime,
          series: {
            type: 'array',
            items: obj({
              series: seriesId, source: { type: 'string' }, symbol: { type: 'string' },
              assetClass: { type: ['string', 'null'], enum: ['crypto', 'stock', 'macro', null] },
              configured: { type: 'boolean', description: 'In this dashboard\'s lists or run by a registered ingest service.' },
              timeframes: { type: 'array', items: { type: 'string', enum: [...TIMEFRAMES] } },
              ticks: { type: 'integer' }, firstTick: { type: ['string', 'null'], format: 'date-time' }, lastTick: { type: ['string', 'null'], format: 'date-time' },
              lagMs: { type: ['integer', 'null'] }, ticksLastHour: { type: 'integer' }, candles: { type: 'integer' }, candles1m: { type: 'integer' },
              last1mOpenTime: { type: ['string', 'null'], format: 'date-time' },
            }),
          },
        })),
      ),
      '/api/candles': get(
        'Candles of one series and timeframe in ascending open time: the oldest `limit` from `from`, or without `from` the newest `limit`.',
        [source, symbol, timeframe, time('from', 'Inclusive bucket start.'), time('to', 'Exclusive bucket start; must be later than from.'), limit],
        ok('Candles', obj({
          source: { type: 'string' }, symbol: { type: 'string' }, timeframe: { type: 'string' },
          candles: { type: 'array', items: { $ref: '#/components/schemas/Candle' } },
          truncated: { type: 'boolean', description: 'More candles matched than `limit`.' },
        })),
      ),
      '/api/ticks': get(
        `Ticks of one series in trade order (time, then trade id). With \`from\`: the first \`limit\` from there; without: the newest \`limit\` before \`to\`. The window spans at most ${MAX_TICK_RANGE_MS / 86_400_000} days.`,
        [source, symbol, time('from', 'Inclusive.'), time('to', 'Exclusive; defaults to from + the maximum window, or an hour ahead of now.'), limit],
        ok('Ticks', obj({
          source: { type: 'string' }, symbol: { type: 'string' }, from: isoTime, to: isoTime,
          ticks: { type: 'array', items: { $ref: '#/components/schemas/Tick' } },
          truncated: { type: 'boolean', description: 'More ticks matched than `limit`.' },
        })),
      ),
      '/api/latest': get(
        'The last tick and the current daily candle of each series asked for, in the order asked (cached briefly).',
        [seriesList('symbols')],
        ok('Latest quotes', obj({
          latest: {
            type: 'array',
            items: obj({
              source: { type: 'string' }, symbol: { type: 'string' },
              lastTick: { oneOf: [{ $ref: '#/components/schemas/Tick' }, { type: 'null' }] },
              day: { oneOf: [{ allOf: [{ $ref: '#/components/schemas/Candle' }, obj({ timeframe: { const: '1d' } })] }, { type: 'null' }] },
            }),
          },
        })),
      ),
      '/api/queues': get(
        'Job counts by state and paused flag of every queue the dashboard knows.',
        [],
        ok('Queues', obj({
          queues: {
            type: 'array',
            items: obj({
              name: { type: 'string' },
              counts: obj(Object.fromEntries(['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'].map((s) => [s, { type: 'integer' }]))),
              paused: { type: 'boolean' },
            }),
          },
        })),
      ),
      '/api/database': get(
        'Where reads go (the read replica of DATABASE_READ_URL, or the primary) and how far behind the replica is. Every read answer says where it was read in `X-Read-Database` (`replica` or `primary`) and, from the replica, its lag in `X-Replica-Lag-Seconds`. A replica that does not answer: 503 naming it, unless DATABASE_READ_FALLBACK=primary.',
        [],
        ok('Read database', obj({
          reads: { type: 'string', enum: ['replica', 'primary'] },
          fallback: { type: 'string', enum: ['none', 'primary'] },
          replica: {
            oneOf: [{ type: 'null' }, obj({
              hosts: { type: 'string' }, available: { type: 'boolean' }, error: { type: 'string' },
              standby: { type: 'boolean', description: 'False once it is no longer a standby (promoted).' },
              lagSeconds: { type: ['number', 'null'], description: '0 when it has replayed all the WAL the primary wrote, else the time since the last transaction it replayed was committed.' },
              behindBytes: { type: ['number', 'null'], description: 'WAL the primary wrote that the replica has not replayed; null when the primary could not be asked.' },
              pendingReplayBytes: { type: 'number' }, lastReplayAt: { type: ['string', 'null'], format: 'date-time' },
            })],
          },
        })),
      ),
      '/api/services': get(
        'The running services as registered in Redis (host, pid, version, started, heartbeat, sources and their connection state).',
        [],
        ok('Services', obj({
          generatedAt: isoTime,
          services: { type: 'array', items: { allOf: [{ $ref: '#/components/schemas/ServiceEntry' }, obj({ heartbeatAgeMs: { type: 'integer' } })] } },
          unreadable: { type: 'integer', description: 'Registry entries that could not be parsed.' },
          orphanedShards: {
            type: 'array', description: 'Tick shards no live writer consumes (writers own a subset with WRITER_SHARDS): their jobs wait. Empty until the writers have been registered for a registry TTL (30 s).',
            items: obj({ shard: { type: 'integer' }, queue: { type: 'string' } }),
          },
        })),
      ),
      '/api/rejections': get(
        'Rejected input by source and reason, most frequent first, with the latest detail of each.',
        [{ name: 'hours', in: 'query', required: false, description: 'Look-back window.', schema: { type: 'integer', minimum: 1, maximum: 720, default: 24 } }],
        ok('Rejections', obj({
          hours: { type: 'integer' },
          rejections: { type: 'array', items: obj({ source: { type: 'string' }, reason: { type: 'string' }, count: { type: 'integer' }, lastAt: isoTime, lastDetail: { type: 'string' } }) },
        })),
      ),
      '/api/events': get(
        'Recent system events, newest first (strings that could hold a URL are masked).',
        [{ name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } }],
        ok('Events', obj({
          events: {
            type: 'array',
            items: obj({ ts: isoTime, service: { type: 'string' }, kind: { type: 'string' }, symbol: { type: ['string', 'null'] }, details: { type: 'object' } }),
          },
        })),
      ),
      '/api/stream': {
        ...get(
          'Live candle updates as Server-Sent Events (`event: candle`, data: one LiveCandle as JSON; `event: dropped` when a slow reader lost events).',
          [seriesList('series'), timeframe],
          {
            description: 'An event stream that stays open.',
            content: { 'text/event-stream': { schema: { type: 'string' }, itemSchema: { $ref: '#/components/schemas/LiveCandle' } } },
          },
          { 503: { description: 'Too many live streams open (Retry-After: 30), or a backing service is unavailable.', content: { 'application/json': { schema: errorBody } } } },
        ),
        head: { summary: 'Refused: a HEAD would hold a stream slot.', responses: { 405: { description: 'Use GET.' } } },
      },
      '/api/stream/stats': get(
        'Counters of the live stream hub.',
        [],
        ok('Stream stats', obj(Object.fromEntries(
          ['clients', 'maxQueuedEvents', 'maxBufferedBytes', 'droppedEvents', 'stalledDisconnects', 'updatesReceived', 'invalidUpdates'].map((k) => [k, { type: 'integer' }]),
        ))),
      ),
    },
  };
}
