import { expect } from 'vitest';

/** Helpers of the contract specs: what they compare a fake's answers with, and how they ask. */

/**
 * The shape of a JSON value: objects by sorted key, leaves by type; arrays element by element
 * (`every`) or by their first element (`first`: rows of one shape, however many).
 */
export function shape(value: unknown, arrays: 'every' | 'first' = 'first'): unknown {
  if (Array.isArray(value)) {
    if (arrays === 'every') return value.map((v) => shape(v, arrays));
    return value.length === 0 ? [] : [shape(value[0], arrays)];
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, shape((value as Record<string, unknown>)[k], arrays)]));
  }
  return value === null ? 'null' : typeof value;
}

export async function fetchText(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Throws when the body is not JSON: every answer of these endpoints is. */
export async function fetchJson<B = unknown>(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; text: string; body: B }> {
  const answer = await fetchText(url, init);
  return { ...answer, body: JSON.parse(answer.text) as B };
}

/**
 * Checks that a fake's trades are a pure function of seed, instrument and time: two fakes with one
 * seed and different histories serve the same last 30 s (more than 50 trades), a third seed others.
 * Returns those trades for the venue's own checks.
 */
export async function expectSeededTrades<F extends { close(): Promise<void> }, T>(
  start: (seed: number, historyMs: number) => Promise<F>,
  trades: (fake: F, fromMs: number, toMs: number) => T[],
  strip: (trade: T) => unknown,
): Promise<T[]> {
  const [a, b, c] = await Promise.all([start(3, 60_000), start(3, 120_000), start(4, 60_000)]);
  try {
    const to = Math.floor(Date.now() / 1000) * 1000;
    const ta = trades(a, to - 30_000, to);
    expect(ta.length).toBeGreaterThan(50);
    expect(trades(b, to - 30_000, to).map(strip)).toEqual(ta.map(strip));
    expect(trades(c, to - 30_000, to).map(strip)).not.toEqual(ta.map(strip));
    return ta;
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
}
