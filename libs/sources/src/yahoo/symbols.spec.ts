import { describe, expect, it } from 'vitest';
import { fromYahooSymbol, toYahooSymbol, YahooSymbolError } from './symbols.js';

describe('Yahoo symbols', () => {
  it('writes share classes with a dash on the way out and a dot on the way in', () => {
    expect(toYahooSymbol('AAPL')).toBe('AAPL');
    expect(toYahooSymbol('BRK.B')).toBe('BRK-B');
    expect(fromYahooSymbol('BRK-B')).toBe('BRK.B');
    expect(fromYahooSymbol('msft')).toBe('MSFT');
  });

  it('refuses what is not a stock symbol', () => {
    for (const bad of ['', 'aapl', 'BTC/USD', '^GSPC', 'TOOLONGSYMBOL1']) expect(() => toYahooSymbol(bad), bad).toThrow(YahooSymbolError);
    expect(fromYahooSymbol('^GSPC')).toBeNull();
    expect(fromYahooSymbol('EURUSD=X')).toBeNull();
  });
});
