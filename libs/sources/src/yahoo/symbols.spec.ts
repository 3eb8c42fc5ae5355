import { describe, expect, it } from 'vitest';
import { expectMapped } from '../kit/testing.js';
import { fromYahooSymbol, toYahooSymbol, YahooSymbolError } from './symbols.js';

describe('Yahoo symbols', () => {
  it('writes share classes with a dash on the way out and a dot on the way in', () => {
    expectMapped(toYahooSymbol, [['AAPL', 'AAPL'], ['BRK.B', 'BRK-B']]);
    expectMapped(fromYahooSymbol, [['BRK-B', 'BRK.B'], ['msft', 'MSFT']]);
  });

  it('refuses what is not a stock symbol', () => {
    for (const bad of ['', 'aapl', 'BTC/USD', '^GSPC', 'TOOLONGSYMBOL1']) expect(() => toYahooSymbol(bad), bad).toThrow(YahooSymbolError);
    for (const name of ['^GSPC', 'EURUSD=X']) expect(fromYahooSymbol(name), name).toBeNull();
  });
});
