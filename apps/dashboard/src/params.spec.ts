import { describe, expect, it } from 'vitest';
import { limitParam, ParameterError, parseQuery, seriesListParam, sourceParam, symbolParam, timeframeParam, timeParam } from './params.js';

const candleShape = { source: sourceParam, symbol: symbolParam, timeframe: timeframeParam, from: timeParam.optional(), limit: limitParam };

function problem(query: Record<string, unknown>, shape: Parameters<typeof parseQuery>[1] = candleShape): { parameter: string; message: string } {
  try {
    parseQuery(query, shape);
  } catch (error) {
    if (error instanceof ParameterError) return { parameter: error.parameter, message: error.message };
    throw error;
  }
  throw new Error('expected a ParameterError');
}

describe('parseQuery', () => {
  it('parses a good query with defaults', () => {
    const q = parseQuery({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', from: '2024-05-01T00:00:00Z' }, candleShape);
    expect(q).toEqual({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', from: new Date('2024-05-01T00:00:00Z'), limit: 500 });
  });

  it('names the first bad parameter', () => {
    expect(problem({ symbol: 'BTC/USDT', timeframe: '1m' })).toMatchObject({ parameter: 'source', message: 'source is required' });
    expect(problem({ source: 'SIM', symbol: 'BTC/USDT', timeframe: '1m' }).parameter).toBe('source');
    expect(problem({ source: 'sim', symbol: 'BTC/USDT', timeframe: '2m' }).parameter).toBe('timeframe');
    expect(problem({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', from: 'yesterday' }).parameter).toBe('from');
    expect(problem({ source: 'sim', symbol: "x'; drop table ticks;--", timeframe: '1m' }).parameter).toBe('symbol');
  });

  it('bounds the limit', () => {
    expect(problem({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', limit: '5001' })).toMatchObject({ parameter: 'limit' });
    expect(problem({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', limit: '0' })).toMatchObject({ parameter: 'limit' });
    expect(problem({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', limit: '1e3' })).toMatchObject({ parameter: 'limit' });
    expect(parseQuery({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', limit: '5000' }, candleShape).limit).toBe(5000);
  });

  it('refuses unknown and repeated parameters', () => {
    expect(problem({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', limt: '5' }).parameter).toBe('limt');
    // Names of built-in object properties are unknown parameters too.
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      expect(problem({ source: 'sim', symbol: 'BTC/USDT', timeframe: '1m', [name]: '1' }).parameter).toBe(name);
    }
    expect(problem({ source: ['sim', 'other'], symbol: 'BTC/USDT', timeframe: '1m' })).toMatchObject({ parameter: 'source', message: 'source must be given once' });
  });

  it('parses series lists', () => {
    const q = parseQuery({ symbols: 'sim:BTC/USDT, sim:DGS10' }, { symbols: seriesListParam });
    expect(q.symbols).toEqual([{ source: 'sim', symbol: 'BTC/USDT' }, { source: 'sim', symbol: 'DGS10' }]);
    expect(problem({ symbols: 'BTC/USDT' }, { symbols: seriesListParam }).parameter).toBe('symbols');
    expect(problem({ symbols: Array.from({ length: 51 }, (_, i) => `sim:S${i}`).join(',') }, { symbols: seriesListParam }).parameter).toBe('symbols');
  });
});
