/**
 * Microseconds since the epoch of a UTC ISO-8601 timestamp in the tick wire form
 * (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`), or undefined when it is not one or names no real instant
 * (2026-02-30). Exact: below 2^53 until the year 2255. The writer reads every tick's time, so this
 * avoids Date.parse: the minute is computed once and remembered while ticks share it (they arrive in order).
 */
export function isoMicros(ts: string): number | undefined {
  if (ts.length < 20 || ts.charCodeAt(ts.length - 1) !== 90 /* Z */) return undefined;
  let minuteMs: number | undefined;
  if (lastPrefix !== '' && ts.startsWith(lastPrefix)) minuteMs = lastMinuteMs;
  else {
    minuteMs = minuteOf(ts);
    if (minuteMs === undefined) return undefined;
    lastPrefix = ts.slice(0, 16);
    lastMinuteMs = minuteMs;
  }
  if (ts.charCodeAt(16) !== 58 /* : */) return undefined;
  const seconds = twoDigits(ts, 17);
  if (seconds === undefined || seconds > 59) return undefined;
  let micros = 0;
  if (ts.length > 20) {
    if (ts.charCodeAt(19) !== 46 /* . */) return undefined;
    const digits = ts.length - 21;
    if (digits < 1 || digits > 6) return undefined;
    for (let i = 20; i < ts.length - 1; i++) {
      const d = ts.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return undefined;
      micros = micros * 10 + d;
    }
    micros *= 10 ** (6 - digits);
  }
  return (minuteMs + seconds * 1000) * 1000 + micros;
}

let lastPrefix = '';
let lastMinuteMs = 0;

function twoDigits(s: string, at: number): number | undefined {
  const a = s.charCodeAt(at) - 48;
  const b = s.charCodeAt(at + 1) - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9) return undefined;
  return a * 10 + b;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** `YYYY-MM-DDTHH:MM` → epoch milliseconds, checking every field. */
function minuteOf(ts: string): number | undefined {
  if (ts.charCodeAt(4) !== 45 || ts.charCodeAt(7) !== 45 || ts.charCodeAt(10) !== 84 || ts.charCodeAt(13) !== 58) return undefined;
  const hi = twoDigits(ts, 0);
  const lo = twoDigits(ts, 2);
  const month = twoDigits(ts, 5);
  const day = twoDigits(ts, 8);
  const hour = twoDigits(ts, 11);
  const minute = twoDigits(ts, 14);
  if (hi === undefined || lo === undefined || month === undefined || day === undefined || hour === undefined || minute === undefined) return undefined;
  const year = hi * 100 + lo;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return undefined;
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute);
  // Date.UTC reads years 0–99 as 1900–1999.
  const early = new Date(Date.UTC(2000, month - 1, day, hour, minute));
  early.setUTCFullYear(year);
  return early.getTime();
}
