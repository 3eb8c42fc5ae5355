import { isLosslessNumber, parse } from 'lossless-json';
import { checkBar, compareDecimals, isValidPrice, toBarTime, usEquitySessions } from '@tickvault/schema';
import type { Observation, SourceBar, SourceRejection } from '../source.js';
import { EARLIEST_MS, isObject, LATEST_MS, SAMPLE_CHARS } from '../kit/checks.js';

/** Bodies above this are refused unread (`oversized`): a week of 1m bars is about 1 MB. */
export const MAX_CHART_BYTES = 8 * 1024 * 1024;

export interface ChartCheck {
  /** The tickvault symbol the request was for: responses are attributed to it. */
  symbol: string;
  now: number;
  maxFutureMs: number;
}

export type ChartOutcome =
  | {
      kind: 'chart';
      /** Minutes with OHLC, oldest first, one per minute. */
      bars: SourceBar[];
      /** meta.regularMarketTime (seconds) and the observation it makes, when meta has both. */
      quote?: { time: number; observation: Observation };
      /** Entries refused one by one (bad bar, bad meta price); the rest of the chart stands. */
      rejections: SourceRejection[];
      /** Minutes Yahoo listed without prices (no trade in them): skipped, not refused. */
      nullEntries: number;
      /** The trailing "live" placeholder row left out (seconds), when the body ended with one: see isLivePlaceholder. */
      liveRow?: number;
    }
  /** `{"chart":{"result":null,"error":{"code":"Not Found","description":..}}}` */
  | { kind: 'error'; code: string; description: string }
  /** The whole body is unusable. */
  | { kind: 'rejected'; rejection: SourceRejection };


const rejection = (symbol: string | null, reason: SourceRejection['reason'], detail: string, sample: string): SourceRejection => ({
  symbol,
  reason,
  detail,
  sample: sample.slice(0, SAMPLE_CHARS),
});

/**
 * A JSON number's text in plain decimal notation, exactly: `1.5E2` → `150`, `2e-7` → `0.0000002`.
 * Yahoo prints doubles, which may come in exponent form; the digits are kept, never rounded.
 */
export function plainDecimal(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?[eE]([+-]?\d+)$/.exec(text);
  if (!match) return text;
  const [, sign = '', whole = '', fraction = '', exponentText = '0'] = match;
  const exponent = Number(exponentText);
  if (Math.abs(exponent) > 40) return text; // left as is: validation refuses it
  const digits = whole + fraction;
  const point = whole.length + exponent;
  let plain: string;
  if (point <= 0) plain = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) plain = digits + '0'.repeat(point - digits.length);
  else plain = `${digits.slice(0, point)}.${digits.slice(point)}`;
  plain = plain.replace(/^0+(?=\d)/, '');
  if (plain.includes('.')) plain = plain.replace(/0+$/, '').replace(/\.$/, '');
  return sign + plain;
}

/** A JSON number as its decimal text, null for JSON null, undefined for anything else. */
function numberText(value: unknown): string | null | undefined {
  if (value === null) return null;
  return isLosslessNumber(value) ? plainDecimal(value.value) : undefined;
}

function integer(value: unknown): number | undefined {
  if (!isLosslessNumber(value)) return undefined;
  const n = Number(value.value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Adds two volumes exactly when both are whole numbers (they are: share counts). */
function addVolumes(a: string, b: string): string {
  return /^\d+$/.test(a) && /^\d+$/.test(b) ? (BigInt(a) + BigInt(b)).toString() : b;
}

interface Entry {
  minute: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  sample: string;
}

/**
 * One `/v8/finance/chart/{symbol}` body, parsed with lossless-json: Yahoo sends prices as JSON numbers
 * (float32 values printed as doubles: `189.83999633789062`) and what is stored is the text Yahoo
 * sent, never a float's re-rendering of it. Never throws.
 *
 * Bars: every entry of `timestamp` with non-null open, high, low and close (tradeCount null, a null
 * volume is `0`), checked like the writer checks bars. Two entries in one minute (Yahoo sometimes
 * sends the live row apart from its minute's bar, stamped with the trade time) are merged: first
 * open, highest high, lowest low, last close, volumes added. The quote: meta.regularMarketPrice at
 * meta.regularMarketTime as one observation (size 0, no trade id).
 */
export function parseChart(text: string, check: ChartCheck): ChartOutcome {
  const { symbol } = check;
  if (text.length > MAX_CHART_BYTES) {
    return { kind: 'rejected', rejection: rejection(symbol, 'oversized', `chart body of ${text.length} characters exceeds ${MAX_CHART_BYTES}`, text) };
  }
  let body: unknown;
  try {
    body = parse(text);
  } catch (error) {
    return { kind: 'rejected', rejection: rejection(symbol, 'malformed', `chart body is not JSON: ${(error as Error).message}`, text) };
  }
  const chart = isObject(body) ? body.chart : undefined;
  if (!isObject(chart)) return { kind: 'rejected', rejection: rejection(symbol, 'malformed', 'body has no chart object', text) };
  if (isObject(chart.error)) {
    const code = typeof chart.error.code === 'string' ? chart.error.code : 'unknown';
    const description = typeof chart.error.description === 'string' ? chart.error.description : JSON.stringify(chart.error);
    return { kind: 'error', code, description };
  }
  const result = Array.isArray(chart.result) ? chart.result[0] : undefined;
  if (!isObject(result)) return { kind: 'rejected', rejection: rejection(symbol, 'malformed', 'chart without a result', text) };

  const rejections: SourceRejection[] = [];
  const quote = checkQuote(result.meta, check, rejections);
  if (result.timestamp === undefined) return { kind: 'chart', bars: [], quote, rejections, nullEntries: 0 }; // a window without minutes
  const timestamps = result.timestamp;
  const indicators = isObject(result.indicators) ? result.indicators : undefined;
  const series = Array.isArray(indicators?.quote) && isObject(indicators.quote[0]) ? indicators.quote[0] : undefined;
  const columns = series ? (['open', 'high', 'low', 'close', 'volume'] as const).map((k) => series[k]) : [];
  if (!Array.isArray(timestamps) || !series || !columns.every((c) => Array.isArray(c) && c.length === timestamps.length)) {
    rejections.push({ ...rejection(symbol, 'malformed', 'timestamp and indicators.quote[0] arrays missing or of different lengths', text), barMinute: null });
    return { kind: 'chart', bars: [], quote, rejections, nullEntries: 0 };
  }
  const [opens, highs, lows, closes, volumes] = columns as unknown[][];

  const entries: Entry[] = [];
  let nullEntries = 0;
  let liveRow: number | undefined;
  const last = timestamps.length - 1;
  if (last >= 0 && isLivePlaceholder([timestamps[last], opens![last], highs![last], lows![last], closes![last], volumes![last]], regularEnd(result.meta))) {
    liveRow = integer(timestamps[last]);
  }
  for (let i = 0; i < (liveRow === undefined ? timestamps.length : last); i++) {
    const raw = [timestamps[i], opens![i], highs![i], lows![i], closes![i], volumes![i]];
    const sample = `{"timestamp":${String(raw[0])},"open":${String(raw[1])},"high":${String(raw[2])},"low":${String(raw[3])},"close":${String(raw[4])},"volume":${String(raw[5])}}`;
    const time = integer(timestamps[i]);
    const [open, high, low, close, volume] = raw.slice(1).map(numberText);
    if (time === undefined || time * 1000 < EARLIEST_MS || time * 1000 >= LATEST_MS) {
      rejections.push({ ...rejection(symbol, 'invalid_timestamp', `bar timestamp ${String(raw[0])} is not a time in seconds`, sample), barMinute: null });
      continue;
    }
    const minute = Math.floor(time / 60) * 60_000;
    if (open === undefined || high === undefined || low === undefined || close === undefined || volume === undefined) {
      rejections.push({ ...rejection(symbol, 'invalid_bar', 'bar field that is neither a number nor null', sample), barMinute: minute });
      continue;
    }
    if (open === null || high === null || low === null || close === null) {
      nullEntries++;
      continue;
    }
    const entry = { minute, open, high, low, close, volume: volume ?? '0', sample };
    const previous = entries.at(-1);
    if (previous && previous.minute === minute) {
      if (compareDecimals(entry.high, previous.high) > 0) previous.high = entry.high;
      if (compareDecimals(entry.low, previous.low) < 0) previous.low = entry.low;
      previous.close = entry.close;
      previous.volume = addVolumes(previous.volume, entry.volume);
      previous.sample += entry.sample;
    } else entries.push(entry);
  }

  const bars: SourceBar[] = [];
  for (const entry of entries) {
    const bar: SourceBar = {
      symbol,
      openTime: toBarTime(entry.minute),
      open: entry.open,
      high: entry.high,
      low: entry.low,
      close: entry.close,
      volume: entry.volume,
      tradeCount: null,
    };
    const checked = checkBar({ source: 'yahoo', assetClass: 'stock', ...bar }, check.now, { maxFutureMs: check.maxFutureMs });
    if (checked.ok) bars.push(bar);
    else rejections.push({ ...rejection(symbol, checked.reason === 'malformed' ? 'invalid_bar' : checked.reason, checked.detail, entry.sample), barMinute: entry.minute });
  }
  return liveRow === undefined ? { kind: 'chart', bars, quote, rejections, nullEntries } : { kind: 'chart', bars, quote, rejections, nullEntries, liveRow };
}

/** meta.currentTradingPeriod.regular.end (seconds), when the body has it. */
function regularEnd(meta: unknown): number | undefined {
  const period = isObject(meta) ? meta.currentTradingPeriod : undefined;
  const regular = isObject(period) ? period.regular : undefined;
  return isObject(regular) ? integer(regular.end) : undefined;
}

const NY_DATE = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/New_York', year: 'numeric', month: '2-digit', day: '2-digit' });

/**
 * Yahoo's 1m body can end with a "live" quote row that is not a bar: volume 0, open = high = low =
 * close, stamped at or after the close of the regular session (16:00 New York, often of the next
 * session). Such a last row is a placeholder when it is zero-volume and flat and its time is at or
 * after meta.currentTradingPeriod.regular.end (when sent), or at or after the NYSE regular close of
 * its New York day (13:00 on early-close days), or on a day without a session. A flat zero-volume row
 * inside a session is the running minute and stays.
 */
function isLivePlaceholder(raw: readonly unknown[], regularEndS: number | undefined): boolean {
  const time = integer(raw[0]);
  const [open, high, low, close, volume] = raw.slice(1).map(numberText);
  if (time === undefined || typeof open !== 'string' || volume === null || volume === undefined || !/^0+(\.0+)?$/.test(volume)) return false;
  if (high !== open || low !== open || close !== open) return false;
  if (regularEndS !== undefined && time >= regularEndS) return true;
  const at = time * 1000;
  const day = NY_DATE.format(at);
  const session = usEquitySessions(new Date(at - 86_400_000), new Date(at + 86_400_000)).find((s) => NY_DATE.format(s.close) === day);
  return session === undefined || at >= session.close.getTime();
}

/** meta.regularMarketPrice at meta.regularMarketTime; absent (null) fields mean no quote, bad ones are refused. */
function checkQuote(meta: unknown, check: ChartCheck, rejections: SourceRejection[]): { time: number; observation: Observation } | undefined {
  if (!isObject(meta)) return undefined;
  if (meta.regularMarketPrice === undefined || meta.regularMarketPrice === null || meta.regularMarketTime === undefined || meta.regularMarketTime === null) {
    return undefined;
  }
  const sample = `{"regularMarketTime":${String(meta.regularMarketTime)},"regularMarketPrice":${String(meta.regularMarketPrice)}}`;
  const time = integer(meta.regularMarketTime);
  if (time === undefined || time * 1000 < EARLIEST_MS || time * 1000 >= LATEST_MS) {
    rejections.push(rejection(check.symbol, 'invalid_timestamp', `regularMarketTime ${String(meta.regularMarketTime)} is not a time in seconds`, sample));
    return undefined;
  }
  if (time * 1000 > check.now + check.maxFutureMs) {
    rejections.push(rejection(check.symbol, 'future_timestamp', `regularMarketTime ${new Date(time * 1000).toISOString()} is ahead of the clock by more than ${check.maxFutureMs} ms`, sample));
    return undefined;
  }
  const price = numberText(meta.regularMarketPrice);
  if (typeof price !== 'string' || !isValidPrice('stock', price)) {
    rejections.push(rejection(check.symbol, 'invalid_price', `regularMarketPrice ${String(meta.regularMarketPrice)} is not a positive decimal`, sample));
    return undefined;
  }
  return { time, observation: { symbol: check.symbol, ts: new Date(time * 1000).toISOString(), price, size: '0', tradeId: null } };
}
