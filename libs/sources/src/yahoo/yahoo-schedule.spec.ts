import { describe, expect, it } from 'vitest';
import { YAHOO_DEFAULTS, yahooPollDue, type YahooPollState } from './yahoo-source.js';

const POLL_MS = YAHOO_DEFAULTS.pollSeconds * 1000;
const MINUTE_MS = 60_000;

/**
 * The stream's loop without the network: it asks yahooPollDue (with the defaults createYahooSource
 * uses: the NYSE calendar, 30 minutes while closed) every pollMs from `from` to `to`, and every round
 * succeeds. Returns the instants rounds started.
 */
function rounds(from: string, to: string): number[] {
  const state: YahooPollState = { lastRoundAt: -Infinity, lastRoundInSession: false, failures: 0 };
  const started: number[] = [];
  for (let now = Date.parse(from); now < Date.parse(to); now += POLL_MS) {
    const { due, inSession } = yahooPollDue(now, state);
    if (!due) continue;
    started.push(now);
    state.lastRoundAt = now;
    state.lastRoundInSession = inSession;
  }
  return started;
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('Yahoo poll schedule (NYSE calendar)', () => {
  // November is EST (UTC-5): 09:30-16:00 New York is 14:30-21:00 UTC.
  it('polls at the session rate on an ordinary trading day', () => {
    const wednesday = rounds('2026-11-25T14:30:00Z', '2026-11-25T21:00:00Z');
    expect(wednesday).toHaveLength((6.5 * 60 * MINUTE_MS) / POLL_MS); // every 30 s
  });

  it('polls at the closed-market rate on an NYSE holiday (Thanksgiving 2026-11-26, Christmas 2026-12-25)', () => {
    for (const day of ['2026-11-26', '2026-12-25']) {
      const holiday = rounds(`${day}T14:30:00Z`, `${day}T21:00:00Z`);
      // The first round, then one every 30 minutes: 14:30, 15:00, ..., 20:30.
      expect(holiday.map(iso)).toEqual(Array.from({ length: 13 }, (_, i) => iso(Date.parse(`${day}T14:30:00Z`) + i * 30 * MINUTE_MS)));
    }
    // The decision itself: 10:00 New York, last round 30 s ago.
    const at = (day: string) => Date.parse(`${day}T15:00:00Z`);
    const state = (now: number): YahooPollState => ({ lastRoundAt: now - POLL_MS, lastRoundInSession: false, failures: 0 });
    expect(yahooPollDue(at('2026-11-25'), state(at('2026-11-25')))).toEqual({ due: true, inSession: true });
    expect(yahooPollDue(at('2026-11-26'), state(at('2026-11-26')))).toEqual({ due: false, inSession: false });
    expect(yahooPollDue(at('2026-12-25'), state(at('2026-12-25')))).toEqual({ due: false, inSession: false });
    // A failed round is retried whatever the calendar says (the backoff paces it).
    expect(yahooPollDue(at('2026-11-26'), { ...state(at('2026-11-26')), failures: 1 }).due).toBe(true);
  });

  it('ends the session at 13:00 New York on an early-close day (2026-11-27), with one more round right after', () => {
    const earlyClose = rounds('2026-11-27T14:30:00Z', '2026-11-27T21:00:00Z');
    const close = Date.parse('2026-11-27T18:00:00Z'); // 13:00 EST
    const inSession = earlyClose.filter((t) => t < close);
    expect(inSession).toHaveLength((3.5 * 60 * MINUTE_MS) / POLL_MS);
    expect(iso(inSession.at(-1)!)).toBe('2026-11-27T17:59:30.000Z');
    // Right after the close, then the closed-market rate.
    expect(earlyClose.filter((t) => t >= close).map(iso)).toEqual([
      '2026-11-27T18:00:00.000Z', '2026-11-27T18:30:00.000Z', '2026-11-27T19:00:00.000Z',
      '2026-11-27T19:30:00.000Z', '2026-11-27T20:00:00.000Z', '2026-11-27T20:30:00.000Z',
    ]);
    const quiet: YahooPollState = { lastRoundAt: close - POLL_MS, lastRoundInSession: false, failures: 0 };
    expect(yahooPollDue(close - MINUTE_MS, quiet).inSession).toBe(true); // 12:59
    expect(yahooPollDue(close, quiet)).toEqual({ due: false, inSession: false }); // 13:00
    // On an ordinary day 13:00 is mid-session.
    expect(yahooPollDue(Date.parse('2026-11-25T18:00:00Z'), quiet).inSession).toBe(true);
  });

  it('polls at the closed-market rate on a weekend', () => {
    expect(rounds('2026-11-28T14:30:00Z', '2026-11-28T21:00:00Z')).toHaveLength(13);
  });
});
