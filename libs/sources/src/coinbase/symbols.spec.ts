import { describe, expect, it } from 'vitest';
import { fromCoinbaseProduct, SubscribedProducts, toCoinbaseProduct } from './symbols.js';

describe('Coinbase product ids', () => {
  it('maps BASE/QUOTE to BASE-QUOTE and back', () => {
    expect(toCoinbaseProduct('BTC/USD')).toBe('BTC-USD');
    expect(toCoinbaseProduct('USDT/USDC')).toBe('USDT-USDC');
    expect(fromCoinbaseProduct('BTC-USD')).toBe('BTC/USD');
    expect(fromCoinbaseProduct('eth-eur')).toBe('ETH/EUR');
  });

  it('refuses what is not a normalized crypto symbol or a product id', () => {
    expect(() => toCoinbaseProduct('BTCUSD')).toThrow(/BASE\/QUOTE/);
    expect(() => toCoinbaseProduct('btc/usd')).toThrow();
    expect(() => toCoinbaseProduct('AAPL')).toThrow();
    expect(fromCoinbaseProduct('BTCUSD')).toBeNull();
    expect(fromCoinbaseProduct('A-B-C')).toBeNull();
    expect(fromCoinbaseProduct('-USD')).toBeNull();
    expect(fromCoinbaseProduct('BTC-U$D')).toBeNull();
  });

  it('looks subscribed products up case-insensitively and drops a refused one', () => {
    const subscribed = new SubscribedProducts(['BTC/USD', 'ETH/USD']);
    expect(subscribed.productIds()).toEqual(['BTC-USD', 'ETH-USD']);
    expect(subscribed.lookup('btc-usd')).toBe('BTC/USD');
    expect(subscribed.lookup('SOL-USD')).toBeUndefined();
    expect(subscribed.remove('ETH-USD')).toBe('ETH/USD');
    expect(subscribed.symbols()).toEqual(['BTC/USD']);
    expect(subscribed.size).toBe(1);
  });
});
