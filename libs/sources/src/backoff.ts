/**
 * Exponential backoff with jitter: attempt 0 waits between initialMs/2 and initialMs, each further
 * attempt doubles that range, capped at maxMs. The random half keeps many clients that lost their
 * connections at the same moment from coming back at the same moment.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
