/**
 * The order of trades within a candle: by time, then by trade id. Ids compare by length first,
 * so numeric ids order as numbers ("99" before "100"), then bytewise (collation "C"), which is
 * the same on every database. A tick without a trade id sorts before any with one at the same instant.
 * Open is the first trade in this order and close the last, both live and in `verify`.
 */
export function tradeOrderKey(tsColumn: string, tradeIdColumn: string): string {
  return `${tsColumn}, length(coalesce(${tradeIdColumn}, '')), coalesce(${tradeIdColumn}, '') collate "C"`;
}

export function tradeOrderKeyDesc(tsColumn: string, tradeIdColumn: string): string {
  return `${tsColumn} desc, length(coalesce(${tradeIdColumn}, '')) desc, coalesce(${tradeIdColumn}, '') collate "C" desc`;
}
