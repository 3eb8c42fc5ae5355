import { isLosslessNumber } from 'lossless-json';

/** The integer a JSON number holds (plain or lossless), else NaN. */
export function jsonInteger(value: unknown): number {
  const n = isLosslessNumber(value) ? Number(value.value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : Number.NaN;
}

/**
 * A provider's integer id as its digits (leading zeros dropped), else null: a JSON number (plain or
 * lossless), or the same integer sent as a JSON string (`"18502034"`: Coinbase's REST trades were seen
 * sending ids so, and nothing in Binance's or Alpaca's docs rules it out). Digits only: a sign,
 * decimal point, exponent or whitespace is not an id. At most 20 digits, what the store keeps.
 */
export function jsonIdDigits(value: unknown): string | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? String(value) : null;
  const text = isLosslessNumber(value) ? value.value : typeof value === 'string' ? value : null;
  if (text === null || !/^\d{1,20}$/.test(text)) return null;
  return text.replace(/^0+(?=\d)/, '');
}

/** jsonIdDigits as a number, for providers that count ids (gaps, paging): NaN past 2^53. */
export function jsonIdInteger(value: unknown): number {
  const digits = jsonIdDigits(value);
  const n = digits === null ? Number.NaN : Number(digits);
  return Number.isSafeInteger(n) ? n : Number.NaN;
}
