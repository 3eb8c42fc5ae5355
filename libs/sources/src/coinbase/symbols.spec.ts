import { describe, expect, it } from 'vitest';
import { expectMapped } from '../kit/testing.js';
import { fromCoinbaseProduct, SubscribedProducts, toCoinbaseProduct } from './symbols.js';

describe('Coinbase product ids', () => {
  it('maps BASE/QUOTE to BASE-QUOTE and back', () => {
    expectMapped(toCoinbaseProduct, [['BTC/USD', 'BTC-USD'], ['USDT/USDC', 'USDT-USDC']]);
    expectMapped(fromCoinbaseProduct, [['BTC-USD', 'BTC/USD'], ['eth-eur', 'ETH/EUR']]);
  });

  it('refuses what is not a normalized crypto symbol or a product id', () => {
    expect(() => toCoinbaseProduct('BTCUSD')).toThrow(/BASE\/QUOTE/);
    for (const bad of ['btc/usd', 'AAPL']) expect(() => toCoinbaseProduct(bad), bad).toThrow();
    for (const name of ['BTCUSD', 'A-B-C', '-USD', 'BTC-U$D']) expect(fromCoinbaseProduct(name), name).toBeNull();
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
