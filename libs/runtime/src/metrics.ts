import client, { type Counter, type Gauge, type Histogram, type Registry } from 'prom-client';

/**
 * Every metric tickvault exposes, in one place: dashboards and the KEDA autoscaler query these names.
 * Each process registers only the ones it feeds, plus Node's default process metrics.
 */
export interface Metrics {
  registry: Registry;
  ticksReceived: Counter<'source'>;
  ticksValidated: Counter<'source'>;
  ticksRejected: Counter<'source' | 'reason' | 'stage'>;
  ticksWritten: Counter<never>;
  ticksDuplicate: Counter<never>;
  candlesWritten: Counter<never>;
  batchSize: Histogram<never>;
  flushDuration: Histogram<'outcome'>;
  writeLag: Histogram<never>;
  queueJobs: Gauge<'queue' | 'state'>;
  reconnects: Counter<'source'>;
  sourceConnected: Gauge<'source'>;
  sourceDisconnectedSeconds: Gauge<'source'>;
  sourceLastMessageAge: Gauge<'source'>;
  backfills: Counter<'source' | 'status'>;
  ingestBuffered: Gauge<never>;
  ingestBufferedBytes: Gauge<never>;
  ingestDropped: Counter<never>;
  ingestDroppedRejections: Counter<never>;
  redisMemoryUsed: Gauge<never>;
  redisMaxmemory: Gauge<never>;
  redisMemoryRatio: Gauge<never>;
}

export function createMetrics(service: string): Metrics {
  const registry = new client.Registry();
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    ticksReceived: new client.Counter({ name: 'tickvault_ticks_received_total', help: 'Ticks received from sources, before validation.', labelNames: ['source'], registers }),
    ticksValidated: new client.Counter({ name: 'tickvault_ticks_validated_total', help: 'Ticks that passed validation at ingest.', labelNames: ['source'], registers }),
    ticksRejected: new client.Counter({
      name: 'tickvault_ticks_rejected_total',
      help: 'Input refused, by source, reason and stage (ingest or writer).',
      labelNames: ['source', 'reason', 'stage'],
      registers,
    }),
    ticksWritten: new client.Counter({ name: 'tickvault_ticks_written_total', help: 'Ticks newly inserted into Postgres.', registers }),
    ticksDuplicate: new client.Counter({ name: 'tickvault_ticks_duplicate_total', help: 'Ticks already stored (redelivery, resends): absorbed by the natural key.', registers }),
    candlesWritten: new client.Counter({ name: 'tickvault_candles_written_total', help: 'Candle rows inserted or updated.', registers }),
    batchSize: new client.Histogram({
      name: 'tickvault_batch_size_ticks',
      help: 'Ticks per writer transaction.',
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000, 50000],
      registers,
    }),
    flushDuration: new client.Histogram({
      name: 'tickvault_flush_duration_seconds',
      help: 'Writer transaction time, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    writeLag: new client.Histogram({
      name: 'tickvault_write_lag_seconds',
      help: 'Commit time minus tick time (backfilled and macro data show up in the top buckets).',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400],
      registers,
    }),
    queueJobs: new client.Gauge({ name: 'tickvault_queue_jobs', help: 'Jobs per queue and state, read at scrape time.', labelNames: ['queue', 'state'], registers }),
    reconnects: new client.Counter({ name: 'tickvault_source_reconnects_total', help: 'Stream reconnects per source.', labelNames: ['source'], registers }),
    sourceConnected: new client.Gauge({
      name: 'tickvault_source_connected', help: 'Per source of an ingest process: 1 while its stream is open (a polled source: its last poll was answered), else 0.',
      labelNames: ['source'], registers,
    }),
    sourceDisconnectedSeconds: new client.Gauge({
      name: 'tickvault_source_disconnected_seconds',
      help: 'Per source: how long it has been connecting or reconnecting without success (0 while connected, or idle because another replica holds its symbols).',
      labelNames: ['source'], registers,
    }),
    sourceLastMessageAge: new client.Gauge({
      name: 'tickvault_source_last_message_age_seconds', help: 'Per source: seconds since its newest trade, bar or refused frame (absent before the first).',
      labelNames: ['source'], registers,
    }),
    backfills: new client.Counter({
      name: 'tickvault_backfills_total', help: 'Backfill jobs finished by ingest services, by source and outcome (filled, no_data, failed).',
      labelNames: ['source', 'status'], registers,
    }),
    ingestBuffered: new client.Gauge({ name: 'tickvault_ingest_buffered_ticks', help: 'Ticks held by an ingest service until Redis takes them.', registers }),
    ingestBufferedBytes: new client.Gauge({
      name: 'tickvault_ingest_buffered_bytes', help: 'Estimated serialized bytes (ticks, bars, rejections) held by an ingest service until Redis takes them.', registers,
    }),
    ingestDropped: new client.Counter({ name: 'tickvault_ingest_dropped_ticks_total', help: 'Ticks dropped because the ingest buffer was full during a Redis outage.', registers }),
    ingestDroppedRejections: new client.Counter({
      name: 'tickvault_ingest_dropped_rejections_total', help: 'Rejection records dropped (ticks kept) because the ingest buffer reached its byte bound during a Redis outage.', registers,
    }),
    redisMemoryUsed: new client.Gauge({ name: 'tickvault_redis_memory_used_bytes', help: 'Redis used_memory, read by the writer.', registers }),
    redisMaxmemory: new client.Gauge({ name: 'tickvault_redis_maxmemory_bytes', help: 'Redis maxmemory (0: no limit), read by the writer.', registers }),
    redisMemoryRatio: new client.Gauge({
      name: 'tickvault_redis_memory_used_ratio', help: 'Redis used_memory / maxmemory (0 when Redis has no limit); at 1 Redis refuses new jobs.', registers,
    }),
  };
}
