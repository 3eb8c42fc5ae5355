import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisClient } from './connection.js';
import { z } from 'zod';
import { ASSET_CLASSES, QUEUE_NAMES, tickShards, type AssetClass } from '@tickvault/schema';

/**
 * The service registry: every running tickvault process keeps one entry in Redis saying what it runs
 * (service, host, pid, version, queues; sources, symbols and their connection state for ingest; the
 * shards a writer consumes), refreshed by a heartbeat and removed on a clean shutdown. Readers
 * (`tickvault report`, `doctor`, the dashboard and Bull Board) learn from it what the running stack
 * runs, whatever their own environment says, and operators get a "who runs where" view.
 *
 * Keys live under the queue prefix, which is a Redis Cluster hash tag, so the index and every entry
 * share one slot (MULTI and MGET work on a cluster):
 *   <prefix>:services         sorted set: entry id → when its entry expires (ms), an index
 *   <prefix>:service:<id>     the entry, JSON, with a TTL (Redis expiring it is what says "gone")
 */

// A heartbeat this often, and an entry lives three heartbeats: a process whose entry is gone missed
// three in a row (crashed, frozen or cut off from Redis), not one slow write on a busy machine.
export const SERVICE_HEARTBEAT_MS = 10_000;
export const SERVICE_ENTRY_TTL_MS = 30_000;
// Index members past their expiry by this much are dropped by any writer; the margin covers clocks
// of different machines that disagree (the entry's TTL, kept by Redis itself, is what counts).
const INDEX_GRACE_MS = 5 * 60_000;
// Shutdown waits this long at most for the last write and the removal (a worker connection queues
// commands during an outage instead of failing them); the entry expires by itself anyway.
const STOP_DEADLINE_MS = 2_000;
// A reader takes at most this many entries: far more processes than one stack runs, and bounded.
export const MAX_SERVICES_READ = 500;
// Queues taken from the registry by one reader, after deduplication (Bull Board, /metrics, report).
export const MAX_REGISTERED_QUEUES = 200;
const MAX_SYMBOLS = 5000;

const QUEUE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const SourceConnectionStateSchema = z.enum(['connecting', 'connected', 'reconnecting', 'idle']);
export type SourceConnectionState = z.infer<typeof SourceConnectionStateSchema>;

/** One source of an ingest process, as that process sees its provider right now. */
export const SourceStatusSchema = z.object({
  source: z.string().min(1).max(64),
  /**
   * connecting: trying for the first time (or after this replica took new symbols); connected: the
   * stream (or the last poll) works; reconnecting: lost or refused, retrying; idle: holds no symbols
   * (another replica holds them all).
   */
  state: SourceConnectionStateSchema,
  /** When the source entered this state (UTC ISO). */
  since: z.string(),
  /** Why it is not connected: the last close or failure reason; null when connected or idle. */
  reason: z.string().max(500).nullable(),
  /** The newest trade, bar or refused frame from this source (UTC ISO), null before the first. */
  lastMessageAt: z.string().nullable(),
  /** The symbols this replica streams (its leases). */
  symbols: z.array(z.string().max(64)).max(MAX_SYMBOLS),
});
export type SourceStatus = z.infer<typeof SourceStatusSchema>;

export const RegisteredQueueSchema = z.object({
  name: z.string().regex(QUEUE_NAME_PATTERN),
  prefix: z.string().min(1).max(128),
  role: z.enum(['produces', 'consumes']),
});
export type RegisteredQueue = z.infer<typeof RegisteredQueueSchema>;

export const ServiceEntrySchema = z.object({
  v: z.literal(1),
  id: z.string().min(1).max(200),
  service: z.string().min(1).max(64),
  host: z.string().max(255),
  pid: z.number().int(),
  version: z.string().max(64),
  /** DATA_ENVIRONMENT of the process (live, demo, test). */
  environment: z.string().max(16).nullable(),
  startedAt: z.string(),
  heartbeatAt: z.string(),
  queues: z.array(RegisteredQueueSchema).max(1000),
  ingest: z
    .object({
      assetClass: z.enum(ASSET_CLASSES),
      /** Every configured symbol of the asset class (each replica streams its share, see sources[].symbols). */
      symbols: z.array(z.string().max(64)).max(MAX_SYMBOLS),
      /** TICK_QUEUE_SHARDS: the tick queues it spreads series over. */
      shards: z.number().int().positive(),
      sources: z.array(SourceStatusSchema).max(64),
    })
    .optional(),
  writer: z.object({ shards: z.array(z.number().int().nonnegative()).max(1024) }).optional(),
});
export type ServiceEntry = z.infer<typeof ServiceEntrySchema>;
/** What a service describes at each heartbeat; identity and times are filled in by the registration. */
export type ServiceDetails = Pick<ServiceEntry, 'queues' | 'ingest' | 'writer' | 'environment'>;

/** Every tick shard and the events queue: what ingest produces to and the writer consumes. */
export function pipelineQueues(prefix: string, shards: number, role: RegisteredQueue['role']): RegisteredQueue[] {
  return [
    ...tickShards(prefix, shards).map((shard) => ({ name: shard.name, prefix: shard.prefix, role })),
    { name: QUEUE_NAMES.events, prefix, role },
  ];
}

export function servicesIndexKey(prefix: string): string {
  return `${prefix}:services`;
}

export function serviceEntryKey(prefix: string, id: string): string {
  return `${prefix}:service:${id}`;
}

/** `<host>-<pid>-<random>`: unique per process, readable in a listing. */
export function newServiceInstanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

let cachedVersion: string | undefined;
/** The version in the repository's root package.json (the one the image ships), or "unknown". */
export function tickvaultVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  cachedVersion = 'unknown';
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tickvault' && typeof pkg.version === 'string') {
        cachedVersion = pkg.version;
        break;
      }
    } catch {
      // no package.json here: look further up
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return cachedVersion;
}

interface RegistrationLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ServiceRegistrationOptions {
  redis: RedisClient;
  prefix: string;
  service: string;
  /** Defaults to newServiceInstanceId(); ingest passes its replica id so logs and registry agree. */
  id?: string;
  describe: () => ServiceDetails;
  logger: RegistrationLogger;
  heartbeatMs?: number;
  ttlMs?: number;
}

/**
 * One process's entry. `start` writes it and keeps it fresh; `refresh` writes it now (after a change
 * worth showing at once, such as a source's connection state); `stop` removes it. Writes never
 * overlap: a refresh asked for while one is under way runs once after it. A failed write (Redis
 * away) is logged once and retried by the next heartbeat; the entry may expire meanwhile, which is
 * what readers should see.
 */
export class ServiceRegistration {
  readonly id: string;
  private readonly startedAt = new Date().toISOString();
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private pending = false;
  private stopped = false;
  private failing = false;

  constructor(private readonly options: ServiceRegistrationOptions) {
    this.id = options.id ?? newServiceInstanceId();
    this.heartbeatMs = options.heartbeatMs ?? SERVICE_HEARTBEAT_MS;
    this.ttlMs = options.ttlMs ?? SERVICE_ENTRY_TTL_MS;
  }

  /** Writes the entry (a failure is logged, not thrown: registering never stops a service) and starts the heartbeat. */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.refresh(), this.heartbeatMs);
    this.timer.unref();
    await this.refresh();
  }

  refresh(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.writing) {
      this.pending = true;
      return this.writing;
    }
    this.writing = (async () => {
      do {
        this.pending = false;
        await this.write();
      } while (this.pending && !this.stopped);
    })().finally(() => (this.writing = undefined));
    return this.writing;
  }

  /** The entry as it would be written now. */
  entry(): ServiceEntry {
    return {
      v: 1,
      id: this.id,
      service: this.options.service,
      host: hostname(),
      pid: process.pid,
      version: tickvaultVersion(),
      startedAt: this.startedAt,
      heartbeatAt: new Date().toISOString(),
      ...this.options.describe(),
    };
  }

  /** Stops the heartbeat and removes the entry (clean shutdown). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const { redis, prefix } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from Redis within ${STOP_DEADLINE_MS} ms`)), STOP_DEADLINE_MS);
    });
    try {
      await Promise.race([
        (async () => {
          await this.writing;
          await redis.multi().del(serviceEntryKey(prefix, this.id)).zrem(servicesIndexKey(prefix), this.id).exec();
        })(),
        deadline,
      ]);
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message, id: this.id }, 'could not remove this service from the registry; it expires by itself');
    } finally {
      clearTimeout(timer);
    }
  }

  private async write(): Promise<void> {
    const { redis, prefix } = this.options;
    const now = Date.now();
    try {
      const replies = await redis
        .multi()
        .set(serviceEntryKey(prefix, this.id), JSON.stringify(this.entry()), 'PX', this.ttlMs)
        .zadd(servicesIndexKey(prefix), now + this.ttlMs, this.id)
        .zremrangebyscore(servicesIndexKey(prefix), '-inf', now - INDEX_GRACE_MS)
        .exec();
      const failed = replies?.find(([error]) => error);
      if (failed) throw failed[0];
      if (this.failing) this.options.logger.info({ id: this.id }, 'service registry entry written again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) {
        this.options.logger.warn({ err: (error as Error).message, id: this.id }, 'could not write this service to the registry; retrying with the next heartbeat');
      }
      this.failing = true;
    }
  }
}

/**
 * Every live entry under `prefix`, ordered by service, host and pid. An entry whose key has expired is
 * gone even while the index still names it; an entry that does not parse (another version's, or
 * damaged) is counted, never trusted.
 */
export async function readServices(redis: RedisClient, prefix: string): Promise<{ services: ServiceEntry[]; unreadable: number }> {
  const ids = await redis.zrange(servicesIndexKey(prefix), '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, MAX_SERVICES_READ);
  if (ids.length === 0) return { services: [], unreadable: 0 };
  const values = await redis.mget(ids.map((id) => serviceEntryKey(prefix, id)));
  const services: ServiceEntry[] = [];
  let unreadable = 0;
  for (const value of values) {
    if (value === null) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      unreadable++;
      continue;
    }
    const entry = ServiceEntrySchema.safeParse(parsed);
    if (entry.success) services.push(entry.data);
    else unreadable++;
  }
  services.sort((a, b) => a.service.localeCompare(b.service) || a.host.localeCompare(b.host) || a.pid - b.pid || a.id.localeCompare(b.id));
  return { services, unreadable };
}

/** Does `candidate` belong to this stack: the prefix itself or one of its tick-shard prefixes (`{p}` → `{p-s3}`)? */
function isStackPrefix(prefix: string, candidate: string): boolean {
  if (candidate === prefix) return true;
  if (!prefix.endsWith('}')) return false;
  const stem = prefix.slice(0, -1);
  return candidate.startsWith(`${stem}-s`) && /^\d+\}$/.test(candidate.slice(stem.length + 2));
}

/**
 * The queues registered services work with, once each (by prefix and name), limited to this stack's
 * prefixes and to MAX_REGISTERED_QUEUES: a reader opens a handle per queue, so what an entry claims
 * must not make it open arbitrary keys or without bound.
 */
export function registeredQueues(services: readonly ServiceEntry[], prefix: string): { name: string; prefix: string }[] {
  const seen = new Set<string>();
  const queues: { name: string; prefix: string }[] = [];
  for (const entry of services) {
    for (const queue of entry.queues) {
      const key = `${queue.prefix}\u0000${queue.name}`;
      if (seen.has(key) || !isStackPrefix(prefix, queue.prefix)) continue;
      if (queues.length >= MAX_REGISTERED_QUEUES) return queues;
      seen.add(key);
      queues.push({ name: queue.name, prefix: queue.prefix });
    }
  }
  return queues;
}

/** The series registered ingest services run: each source of each entry with the entry's symbols. */
export function registeredSeries(services: readonly ServiceEntry[]): { source: string; symbol: string; assetClass: AssetClass }[] {
  const seen = new Set<string>();
  const series: { source: string; symbol: string; assetClass: AssetClass }[] = [];
  for (const entry of services) {
    if (!entry.ingest) continue;
    for (const { source } of entry.ingest.sources) {
      for (const symbol of entry.ingest.symbols) {
        const key = `${source}\u0000${symbol}`;
        if (seen.has(key)) continue;
        seen.add(key);
        series.push({ source, symbol, assetClass: entry.ingest.assetClass });
      }
    }
  }
  return series;
}
