import {
  checkBar,
  checkTick,
  MAX_SAMPLE_CHARS,
  storableText,
  TickBatchJobSchema,
  type AssetClass,
  type Bar,
  type Tick,
  type TickTimeBounds,
} from '@tickvault/schema';
import type { RejectionRow } from '@tickvault/db';

export type ValidatedJob =
  | { ok: true; ticks: Tick[]; bars: Bar[]; rejections: RejectionRow[] }
  | { ok: false; detail: string };

export interface RetentionBounds {
  /** This writer's DATA_ENVIRONMENT: a job from another environment can never be stored here. */
  dataEnvironment?: 'live' | 'demo' | 'test';
  maxFutureMs: number;
  tickRetentionMs: Readonly<Record<AssetClass, number>>;
}

/**
 * Splits a tick job into valid ticks and rejections. The envelope must be right (otherwise the
 * job can never succeed); each tick is judged on its own, so a bad one never blocks the rest.
 */
export function validateTickJob(data: unknown, jobKey: string, now: number, bounds: RetentionBounds): ValidatedJob {
  const envelope = TickBatchJobSchema.safeParse(data);
  if (!envelope.success) {
    const issue = envelope.error.issues[0];
    return { ok: false, detail: `job payload does not match the tick-batch contract: ${issue?.path.join('.') || '(root)'}: ${issue?.message}` };
  }
  const jobEnv = envelope.data.env;
  if (jobEnv !== undefined && bounds.dataEnvironment !== undefined && jobEnv !== bounds.dataEnvironment) {
    return {
      ok: false,
      detail: `job from a ${jobEnv} producer (${envelope.data.producer}) refused by a ${bounds.dataEnvironment} writer: DATA_ENVIRONMENT differs between the ingest service and the writer`,
    };
  }
  const timeBounds: TickTimeBounds = {
    maxFutureMs: bounds.maxFutureMs,
    notBefore: (assetClass) => now - bounds.tickRetentionMs[assetClass],
  };
  const ticks: Tick[] = [];
  const rejections: RejectionRow[] = envelope.data.rejected.map((r, position) => ({
    source: storableText(r.source, 64),
    symbol: r.symbol === null ? null : storableText(r.symbol, 64),
    reason: r.reason,
    detail: storableText(r.detail, 1000),
    sample: storableText(r.sample, MAX_SAMPLE_CHARS),
    origin: 'ingest',
    jobKey,
    position,
  }));
  envelope.data.ticks.forEach((raw, position) => {
    const checked = checkTick(raw, now, timeBounds);
    if (checked.ok) {
      ticks.push(checked.tick);
      return;
    }
    rejections.push(writerRejection(raw, checked.reason, checked.detail, jobKey, position));
  });
  const bars: Bar[] = [];
  const barsFrom = envelope.data.ticks.length;
  envelope.data.bars.forEach((raw, index) => {
    const checked = checkBar(raw, now, timeBounds);
    if (checked.ok) {
      bars.push(checked.bar);
      return;
    }
    rejections.push(writerRejection(raw, checked.reason, checked.detail, jobKey, barsFrom + index));
  });
  return { ok: true, ticks, bars, rejections };
}

/** Positions count ticks first, then bars, so each refused item has its own idempotency key. */
function writerRejection(raw: unknown, reason: RejectionRow['reason'], detail: string, jobKey: string, position: number): RejectionRow {
  const fields = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  return {
    source: typeof fields.source === 'string' ? storableText(fields.source, 64) : 'unknown',
    symbol: typeof fields.symbol === 'string' ? storableText(fields.symbol, 64) : null,
    reason,
    detail: storableText(detail, 1000),
    sample: sampleOf(raw),
    origin: 'writer',
    jobKey,
    position,
  };
}

export function sampleOf(raw: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? String(raw);
  } catch {
    text = String(raw);
  }
  return storableText(text, MAX_SAMPLE_CHARS);
}
