import { describe, expect, it } from 'vitest';
import { expectMapped } from '../kit/testing.js';
import { BinanceSymbolError, fromBinanceSymbol, SubscribedSymbols, toBinanceSymbol, toTradeStream } from './symbols.js';

describe('Binance symbol mapping', () => {
  it('derives outbound names from the configured BASE/QUOTE', () => {
    // Whatever the quote list says: the configured split wins outbound (1000SATS/FDUSD).
    expectMapped(toBinanceSymbol, [['BTC/USDT', 'BTCUSDT'], ['1000SATS/FDUSD', '1000SATSFDUSD']]);
    expectMapped(toTradeStream, [['BTC/USDT', 'btcusdt@trade'], ['ETH/BTC', 'ethbtc@trade']]);
  });

  it('refuses symbols that are not BASE/QUOTE', () => {
    for (const bad of ['BTCUSDT', 'btc/usdt', 'AAPL']) expect(() => toBinanceSymbol(bad), bad).toThrow(BinanceSymbolError);
  });

  it('splits inbound names at the longest known quote asset', () => {
    // BTCFDUSD: FDUSD, not a shorter suffix.
    expectMapped(fromBinanceSymbol, [
      ['BTCUSDT', 'BTC/USDT'], ['btcusdt', 'BTC/USDT'], ['ETHBTC', 'ETH/BTC'], ['BNBETH', 'BNB/ETH'], ['BTCFDUSD', 'BTC/FDUSD'],
      ['USDCUSDT', 'USDC/USDT'], ['TUSDUSDT', 'TUSD/USDT'], ['BTCTRY', 'BTC/TRY'], ['EURUSDT', 'EUR/USDT'], ['XRPEUR', 'XRP/EUR'],
    ]);
  });

  it('gives null when no quote asset fits or nothing is left for the base', () => {
    for (const name of ['USDT', 'FOOBAR', 'BTC-USDT', '']) expect(fromBinanceSymbol(name), name).toBeNull();
  });

  it('looks subscribed symbols up exactly, in either case', () => {
    const subscribed = new SubscribedSymbols(['BTC/USDT', 'ETH/BTC']);
    expect(subscribed.lookup('BTCUSDT')).toBe('BTC/USDT');
    expect(subscribed.lookup('ethbtc')).toBe('ETH/BTC');
    expect(subscribed.lookup('SOLUSDT')).toBeUndefined();
    expect(subscribed.streams()).toEqual(['btcusdt@trade', 'ethbtc@trade']);
  });
});
