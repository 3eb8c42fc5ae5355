const NEW_YORK = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  hour12: false,
  weekday: 'short',
  hour: '2-digit',
  minute: '2-digit',
});

/**
 * US regular session: Monday to Friday, 09:30 to 16:00 New York time (DST handled by Intl).
 * Exchange holidays and early closes belong to the market calendar (scheduler issue); the
 * simulator only needs weekends and session hours to produce a realistic cadence.
 */
export function isUsRegularSession(at: Date): boolean {
  const parts = Object.fromEntries(NEW_YORK.formatToParts(at).map((p) => [p.type, p.value]));
  if (parts.weekday === 'Sat' || parts.weekday === 'Sun') return false;
  const minutes = (Number(parts.hour) % 24) * 60 + Number(parts.minute);
  return minutes >= 9 * 60 + 30 && minutes < 16 * 60;
}
