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
  return `${tsColumn} desc, ${tradeIdOrderDesc(tradeIdColumn)}`;
}

/** The trade-id part of the descending trade order, for trades of one instant. */
export function tradeIdOrderDesc(tradeIdColumn: string): string {
  return `length(coalesce(${tradeIdColumn}, '')) desc, coalesce(${tradeIdColumn}, '') collate "C" desc`;
}
