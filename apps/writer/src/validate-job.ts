import {
  checkTick,
  MAX_SAMPLE_CHARS,
  TickBatchJobSchema,
  type AssetClass,
  type Tick,
  type TickTimeBounds,
} from '@tickvault/schema';
import type { RejectionRow } from '@tickvault/db';

export type ValidatedJob =
  | { ok: true; ticks: Tick[]; rejections: RejectionRow[] }
  | { ok: false; detail: string };

export interface RetentionBounds {
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
  const timeBounds: TickTimeBounds = {
    maxFutureMs: bounds.maxFutureMs,
    notBefore: (assetClass) => now - bounds.tickRetentionMs[assetClass],
  };
  const ticks: Tick[] = [];
  const rejections: RejectionRow[] = envelope.data.rejected.map((r, position) => ({
    source: r.source,
    symbol: r.symbol,
    reason: r.reason,
    detail: r.detail,
    sample: r.sample,
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
    const fields = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    rejections.push({
      source: typeof fields.source === 'string' ? fields.source.slice(0, 64) : 'unknown',
      symbol: typeof fields.symbol === 'string' ? fields.symbol.slice(0, 64) : null,
      reason: checked.reason,
      detail: checked.detail,
      sample: sampleOf(raw),
      origin: 'writer',
      jobKey,
      position,
    });
  });
  return { ok: true, ticks, rejections };
}

export function sampleOf(raw: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? String(raw);
  } catch {
    text = String(raw);
  }
  return text.length > MAX_SAMPLE_CHARS ? `${text.slice(0, MAX_SAMPLE_CHARS - 3)}...` : text;
}
