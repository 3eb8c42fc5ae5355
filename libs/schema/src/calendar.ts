/**
 * When markets trade, in one place: crypto around the clock, US equities in NYSE regular sessions
 * (09:30–16:00 New York, 13:00 on early-close days, closed on weekends and NYSE holidays), macro series
 * at their publication frequency. Gap detection, health checks and the simulator all ask here.
 */

const DAY_MS = 86_400_000;

/** One-off NYSE closures that no rule produces (national days of mourning). */
const SPECIAL_CLOSURES = new Set(['2018-12-05', '2025-01-09']);

function ymd(year: number, month: number, day: number): string {
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function weekday(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay();
}

/** The nth (1-based) given weekday of a month; n = -1 for the last. */
function nthWeekday(year: number, month: number, dow: number, n: number): number {
  if (n > 0) {
    const first = weekday(year, month, 1);
    return 1 + ((dow - first + 7) % 7) + (n - 1) * 7;
  }
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return last - ((weekday(year, month, last) - dow + 7) % 7);
}

/** Gregorian Easter Sunday (anonymous algorithm). */
function easter(year: number): { month: number; day: number } {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return { month, day };
}

/** A fixed-date holiday moved to Friday when on Saturday, Monday when on Sunday. */
function observed(year: number, month: number, day: number): string {
  const dow = weekday(year, month, day);
  const shift = dow === 6 ? -1 : dow === 0 ? 1 : 0;
  const at = new Date(Date.UTC(year, month - 1, day + shift));
  return at.toISOString().slice(0, 10);
}

const holidayCache = new Map<number, Set<string>>();
const earlyCloseCache = new Map<number, Set<string>>();

/** NYSE full-day holidays of a year, as YYYY-MM-DD. */
export function nyseHolidays(year: number): ReadonlySet<string> {
  let days = holidayCache.get(year);
  if (days) return days;
  days = new Set<string>();
  // New Year's Day on a Saturday is not observed on the Friday before (NYSE rule 7.2).
  if (weekday(year, 1, 1) !== 6) days.add(observed(year, 1, 1));
  days.add(ymd(year, 1, nthWeekday(year, 1, 1, 3))); // Martin Luther King Jr. Day
  days.add(ymd(year, 2, nthWeekday(year, 2, 1, 3))); // Washington's Birthday
  const e = easter(year);
  days.add(new Date(Date.UTC(year, e.month - 1, e.day - 2)).toISOString().slice(0, 10)); // Good Friday
  days.add(ymd(year, 5, nthWeekday(year, 5, 1, -1))); // Memorial Day
  if (year >= 2022) days.add(observed(year, 6, 19)); // Juneteenth
  days.add(observed(year, 7, 4));
  days.add(ymd(year, 9, nthWeekday(year, 9, 1, 1))); // Labor Day
  days.add(ymd(year, 11, nthWeekday(year, 11, 4, 4))); // Thanksgiving
  days.add(observed(year, 12, 25));
  for (const special of SPECIAL_CLOSURES) if (special.startsWith(`${year}-`)) days.add(special);
  holidayCache.set(year, days);
  return days;
}

/** Days the NYSE closes at 13:00 New York time. */
export function nyseEarlyCloses(year: number): ReadonlySet<string> {
  let days = earlyCloseCache.get(year);
  if (days) return days;
  days = new Set<string>();
  const holidays = nyseHolidays(year);
  const candidate = (month: number, day: number) => {
    const dow = weekday(year, month, day);
    const date = ymd(year, month, day);
    if (dow !== 0 && dow !== 6 && !holidays.has(date)) days!.add(date);
  };
  // July 3 when Independence Day falls on a weekday after it (not when the 3rd is the observed holiday).
  if (weekday(year, 7, 4) !== 0 && weekday(year, 7, 4) !== 6) candidate(7, 3);
  candidate(11, nthWeekday(year, 11, 4, 4) + 1); // day after Thanksgiving
  candidate(12, 24); // Christmas Eve
  earlyCloseCache.set(year, days);
  return days;
}

const NY_PARTS = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
});

/** UTC instant of a New York wall-clock time on a date (DST handled through Intl). */
function newYorkTime(date: string, hour: number, minute: number): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const guess = Date.UTC(y, m - 1, d, hour, minute);
  // New York is UTC-4 or UTC-5: find the offset that maps back to the wall time.
  for (const offsetHours of [4, 5]) {
    const at = guess + offsetHours * 3_600_000;
    const parts = Object.fromEntries(NY_PARTS.formatToParts(new Date(at)).map((p) => [p.type, p.value]));
    if (Number(parts.hour) === hour && Number(parts.minute) === minute && `${parts.year}-${parts.month}-${parts.day}` === date) return at;
  }
  throw new Error(`no New York time ${hour}:${minute} on ${date}`);
}

export interface Session {
  open: Date;
  close: Date;
}

/** NYSE regular sessions that overlap [from, to), each clipped to it, in order. */
export function usEquitySessions(from: Date, to: Date): Session[] {
  const sessions: Session[] = [];
  for (let day = Math.floor(from.getTime() / DAY_MS) * DAY_MS - DAY_MS; day < to.getTime() + DAY_MS; day += DAY_MS) {
    const date = new Date(day).toISOString().slice(0, 10);
    const dow = new Date(day).getUTCDay();
    const year = Number(date.slice(0, 4));
    if (dow === 0 || dow === 6 || nyseHolidays(year).has(date)) continue;
    const open = newYorkTime(date, 9, 30);
    const close = nyseEarlyCloses(year).has(date) ? newYorkTime(date, 13, 0) : newYorkTime(date, 16, 0);
    const start = Math.max(open, from.getTime());
    const end = Math.min(close, to.getTime());
    if (start < end) sessions.push({ open: new Date(start), close: new Date(end) });
  }
  return sessions;
}

export function isUsEquityMarketOpen(at: Date): boolean {
  return usEquitySessions(at, new Date(at.getTime() + 1)).length > 0;
}

/** Minutes in which a series of this asset class is expected to trade within [from, to): the windows to check. */
export function tradingWindows(assetClass: 'crypto' | 'stock', from: Date, to: Date): Session[] {
  if (assetClass === 'crypto') return from < to ? [{ open: from, close: to }] : [];
  return usEquitySessions(from, to);
}
