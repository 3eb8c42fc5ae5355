/** Plain-text output helpers shared by the CLI commands. */

export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[], indent = '  '): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    indent +
    columns
      .map((c, i) => (c.align === 'right' ? (cells[i] ?? '').padStart(widths[i]!) : (cells[i] ?? '').padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join('\n') + '\n';
}

/** UTC to the second, which is what a human scanning a report needs; JSON output keeps full ISO times. */
export function formatTime(value: Date | string | null): string {
  if (value === null) return '-';
  const iso = typeof value === 'string' ? value : value.toISOString();
  return iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** "850ms", "42s", "5m 07s", "3h 12m", "4d 06h": two units at most, enough to judge a lag. */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)}ms`;
  const seconds = Math.floor(abs / 1000);
  if (seconds < 60) return `${sign}${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${sign}${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${sign}${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${sign}${Math.floor(hours / 24)}d ${String(hours % 24).padStart(2, '0')}h`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
