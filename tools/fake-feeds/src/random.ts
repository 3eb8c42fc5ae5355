/** mulberry32: tiny, fast, and the same sequence on every machine for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the parts, so (seed, symbol, second) picks one independent stream. */
export function hashSeed(...parts: (string | number)[]): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const E8 = 100_000_000n;

/** A non-negative fixed-point amount with 8 decimals (Binance's precision) as a decimal string. */
export function formatE8(value: bigint): string {
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / E8}.${(abs % E8).toString().padStart(8, '0')}`;
}

/** The product of two 8-decimal amounts, truncated back to 8 decimals. */
export function mulE8(a: bigint, b: bigint): bigint {
  return (a * b) / E8;
}
