import type { SystemEvent } from '@tickvault/schema';
import type { Sql } from './client.js';

export interface EventRow extends Omit<SystemEvent, 'ts'> {
  ts?: string;
  /** Queued events pass their job key so a redelivered event is recorded once. */
  dedupeKey?: string;
}

export async function recordEvents(sql: Sql, events: readonly EventRow[]): Promise<number> {
  if (events.length === 0) return 0;
  const rows = await sql.unsafe(
    `insert into system_events (ts, service, kind, symbol, details, dedupe_key)
     -- details travel as text: the driver would JSON-encode a jsonb[] element a second time.
     select coalesce(ts, now()), service, kind, symbol, details::jsonb, dedupe_key
     from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
       as e(ts, service, kind, symbol, details, dedupe_key)
     on conflict (dedupe_key) do nothing
     returning 1`,
    [
      events.map((e) => e.ts ?? null),
      events.map((e) => e.service),
      events.map((e) => e.kind),
      events.map((e) => e.symbol),
      events.map((e) => jsonbText(e.details)),
      events.map((e) => e.dedupeKey ?? null),
    ] as never[],
  );
  return rows.length;
}

export function recordEvent(sql: Sql, event: EventRow): Promise<number> {
  return recordEvents(sql, [event]);
}

/** jsonb rejects the escape \u0000; such text (hostile input quoted in details) is kept as a literal. */
function jsonbText(value: unknown): string {
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\\\u0000');
}
