import type { Writable } from 'node:stream';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { ExportColumn, ExportWriter } from './export-format.js';
import { writeWithBackpressure } from './export-format.js';

// Rows per Parquet row group: what is held in memory before it is encoded and written. 50k ticks are a
// few MB as strings, and readers skip through a month of ticks in a few hundred groups.
const ROW_GROUP_ROWS = 50_000;

/**
 * Parquet with one row group per ROW_GROUP_ROWS rows, written to the stream as each group is encoded;
 * only the footer (row group offsets and statistics) waits for the end. Decimals are UTF-8 strings,
 * exactly as stored: a Parquet DECIMAL needs one precision and scale per column, which stored numerics
 * (any scale per row) do not have.
 */
export function parquetWriter<Row>(out: Writable, columns: readonly ExportColumn<Row>[], rowGroupRows = ROW_GROUP_ROWS): ExportWriter<Row> {
  const bytes = new ByteWriter();
  const parquet = new ParquetWriter({
    writer: bytes,
    schema: [
      { name: 'root', num_children: columns.length },
      ...columns.map((c) =>
        c.parquet === 'INT32'
          ? { name: c.name, type: 'INT32' as const, repetition_type: 'REQUIRED' as const }
          : {
              name: c.name,
              type: 'BYTE_ARRAY' as const,
              converted_type: 'UTF8' as const,
              // Only a tick's trade id can be missing.
              repetition_type: c.name === 'trade_id' ? ('OPTIONAL' as const) : ('REQUIRED' as const),
            },
      ),
    ],
    createdBy: 'tickvault export',
  });
  let pending: Row[] = [];

  async function drainBytes(): Promise<void> {
    if (bytes.index === 0) return;
    // A copy: the writer reuses its buffer for what comes next.
    const chunk = bytes.getBytes().slice();
    bytes.index = 0;
    await writeWithBackpressure(out, chunk);
  }

  async function writeGroup(rows: Row[]): Promise<void> {
    await parquet.write({
      columnData: columns.map((c) => ({
        name: c.name,
        data: c.parquet === 'INT32' ? rows.map((r) => Number(c.value(r))) : rows.map((r) => c.value(r)),
      })),
      rowGroupSize: rows.length,
    });
    await drainBytes();
  }

  return {
    async writeBatch(rows) {
      pending.push(...rows);
      while (pending.length >= rowGroupRows) {
        const group = pending.slice(0, rowGroupRows);
        pending = pending.slice(rowGroupRows);
        await writeGroup(group);
      }
    },
    async finish() {
      if (pending.length > 0) await writeGroup(pending);
      pending = [];
      await parquet.finish();
      await drainBytes();
    },
  };
}
