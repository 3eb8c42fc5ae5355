import {
  checkTick,
  MAX_SAMPLE_CHARS,
  storableText,
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
    const fields = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    rejections.push({
      source: typeof fields.source === 'string' ? storableText(fields.source, 64) : 'unknown',
      symbol: typeof fields.symbol === 'string' ? storableText(fields.symbol, 64) : null,
      reason: checked.reason,
      detail: storableText(checked.detail, 1000),
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
  return storableText(text, MAX_SAMPLE_CHARS);
}
