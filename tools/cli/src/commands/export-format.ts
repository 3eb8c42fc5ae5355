import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** One export file being written: a header, batches of rows in order, then the end. */
export interface ExportWriter<Row> {
  writeBatch(rows: readonly Row[]): Promise<void>;
  /** Writes what is still held (the Parquet footer); the stream itself is closed by the caller. */
  finish(): Promise<void>;
}

export interface ExportColumn<Row> {
  name: string;
  /** The value as text, or null when the database holds none (a tick without a trade id). */
  value(row: Row): string | null;
  /** How it is stored in Parquet: decimals as UTF-8 strings (exact), counts as INT32. */
  parquet: 'STRING' | 'INT32';
}

/**
 * Writes and waits while the stream's buffer is full: a slow disk or pipe holds the cursor back.
 * A stream that failed (a closed pipe, a full disk) stops the export with its error; the caller keeps
 * an 'error' listener on it so a failure between writes is not an uncaught exception.
 */
export async function writeWithBackpressure(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (out.errored) throw out.errored;
  if (out.destroyed) throw new Error('the output was closed');
  // once() rejects when the stream emits 'error' while waiting.
  if (!out.write(chunk)) await once(out, 'drain');
}

/** RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. Null is an empty field. */
export function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** CSV with a header line and `\n` line ends; values are the stored text, never reformatted. */
export function csvWriter<Row>(out: Writable, columns: readonly ExportColumn<Row>[]): ExportWriter<Row> {
  let headerWritten = false;
  const header = `${columns.map((c) => csvField(c.name)).join(',')}\n`;
  return {
    async writeBatch(rows) {
      let text = headerWritten ? '' : header;
      headerWritten = true;
      for (const row of rows) text += `${columns.map((c) => csvField(c.value(row))).join(',')}\n`;
      await writeWithBackpressure(out, text);
    },
    async finish() {
      // An empty window still gets its header: a file with the columns and no rows.
      if (!headerWritten) await writeWithBackpressure(out, header);
      headerWritten = true;
    },
  };
}
