import { describe, expect, it } from 'vitest';
import { BinanceSymbolError, fromBinanceSymbol, SubscribedSymbols, toBinanceSymbol, toTradeStream } from './symbols.js';

describe('Binance symbol mapping', () => {
  it('derives outbound names from the configured BASE/QUOTE', () => {
    expect(toBinanceSymbol('BTC/USDT')).toBe('BTCUSDT');
    expect(toTradeStream('BTC/USDT')).toBe('btcusdt@trade');
    expect(toTradeStream('ETH/BTC')).toBe('ethbtc@trade');
    // Whatever the quote list says: the configured split wins outbound.
    expect(toBinanceSymbol('1000SATS/FDUSD')).toBe('1000SATSFDUSD');
  });

  it('refuses symbols that are not BASE/QUOTE', () => {
    expect(() => toBinanceSymbol('BTCUSDT')).toThrow(BinanceSymbolError);
    expect(() => toBinanceSymbol('btc/usdt')).toThrow(BinanceSymbolError);
    expect(() => toBinanceSymbol('AAPL')).toThrow(BinanceSymbolError);
  });

  it('splits inbound names at the longest known quote asset', () => {
    expect(fromBinanceSymbol('BTCUSDT')).toBe('BTC/USDT');
    expect(fromBinanceSymbol('btcusdt')).toBe('BTC/USDT');
    expect(fromBinanceSymbol('ETHBTC')).toBe('ETH/BTC');
    expect(fromBinanceSymbol('BNBETH')).toBe('BNB/ETH');
    expect(fromBinanceSymbol('BTCFDUSD')).toBe('BTC/FDUSD'); // FDUSD, not a shorter suffix
    expect(fromBinanceSymbol('USDCUSDT')).toBe('USDC/USDT');
    expect(fromBinanceSymbol('TUSDUSDT')).toBe('TUSD/USDT');
    expect(fromBinanceSymbol('BTCTRY')).toBe('BTC/TRY');
    expect(fromBinanceSymbol('EURUSDT')).toBe('EUR/USDT');
    expect(fromBinanceSymbol('XRPEUR')).toBe('XRP/EUR');
  });

  it('gives null when no quote asset fits or nothing is left for the base', () => {
    expect(fromBinanceSymbol('USDT')).toBeNull();
    expect(fromBinanceSymbol('FOOBAR')).toBeNull();
    expect(fromBinanceSymbol('BTC-USDT')).toBeNull();
    expect(fromBinanceSymbol('')).toBeNull();
  });

  it('looks subscribed symbols up exactly, in either case', () => {
    const subscribed = new SubscribedSymbols(['BTC/USDT', 'ETH/BTC']);
    expect(subscribed.lookup('BTCUSDT')).toBe('BTC/USDT');
    expect(subscribed.lookup('ethbtc')).toBe('ETH/BTC');
    expect(subscribed.lookup('SOLUSDT')).toBeUndefined();
    expect(subscribed.streams()).toEqual(['btcusdt@trade', 'ethbtc@trade']);
  });
});
