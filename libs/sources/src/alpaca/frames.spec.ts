import { parse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { checkBar, checkTrade, compareDecimals, decimalText, MAX_FRAME_BYTES, parseFrame, toIsoMicros, type CheckContext } from './frames.js';
import { expectMapped } from '../kit/testing.js';

const NOW = Date.parse('2026-03-04T15:00:00.000Z');
const ctx: CheckContext = {
  lookup: (s) => (['AAPL', 'BRK.B'].includes(s) ? s : undefined),
  now: NOW,
  maxFutureMs: 120_000,
  barIntervalMs: 60_000,
  maxFrameBytes: MAX_FRAME_BYTES,
};

// Alpaca's documented examples, with a trailing zero in the price to prove the text is kept.
const TRADE = '{"T":"t","i":96921,"S":"AAPL","x":"D","p":126.550,"s":1,"t":"2026-03-04T14:51:44.208123456Z","c":["@","I"],"z":"C"}';
const BAR = '{"T":"b","S":"AAPL","o":388.985,"h":389.13,"l":388.975,"c":389.12,"v":49378,"t":"2026-03-04T14:15:00Z","n":461,"vw":389.062639}';
const frame = (...messages: string[]) => parseFrame(`[${messages.join(',')}]`, 100, ctx);
const reasonsOf = (text: string) => parseFrame(text, Buffer.byteLength(text), ctx).rejections.map((r) => r.reason);
const withField = (message: string, field: string, raw: string) => {
  const parsed = JSON.parse(message) as Record<string, unknown>;
  return JSON.stringify({ ...parsed, [field]: `@@${field}@@` }).replace(`"@@${field}@@"`, raw);
};

describe('Alpaca frames', () => {
  it('turns a trade into an observation with the decimals as sent and microseconds kept', () => {
    const result = frame(TRADE);
    expect(result.rejections).toEqual([]);
    expect(result.trades).toEqual([
      {
        symbol: 'AAPL',
        timeMs: Date.parse('2026-03-04T14:51:44.208Z'),
        observation: { symbol: 'AAPL', ts: '2026-03-04T14:51:44.208123Z', price: '126.550', size: '1', tradeId: 'D-96921' },
      },
    ]);
  });

  it('turns bars and corrected bars into SourceBars (updatedBars marked)', () => {
    const result = frame(BAR, BAR.replace('"T":"b"', '"T":"u"').replace('"n":461', '"n":462'));
    expect(result.rejections).toEqual([]);
    expect(result.bars.map((b) => [b.updated, b.bar])).toEqual([
      [false, { symbol: 'AAPL', openTime: '2026-03-04T14:15:00Z', open: '388.985', high: '389.13', low: '388.975', close: '389.12', volume: '49378', tradeCount: 461 }],
      [true, { symbol: 'AAPL', openTime: '2026-03-04T14:15:00Z', open: '388.985', high: '389.13', low: '388.975', close: '389.12', volume: '49378', tradeCount: 462 }],
    ]);
  });

  it('reads control messages in order and counts types it does not store', () => {
    const result = frame(
      '{"T":"success","msg":"connected"}',
      '{"T":"subscription","trades":["AAPL"],"quotes":[],"bars":["AAPL"],"updatedBars":["AAPL"],"corrections":["AAPL"]}',
      '{"T":"error","code":405,"msg":"symbol limit exceeded"}',
      '{"T":"q","S":"AAPL","bp":1,"ap":2}',
      '{"T":"c","S":"AAPL","oi":1,"ci":2}',
      '{"T":"x","S":"AAPL","i":1}',
    );
    expect(result.controls).toEqual([
      { kind: 'success', msg: 'connected' },
      { kind: 'subscription', trades: ['AAPL'], bars: ['AAPL'], updatedBars: ['AAPL'] },
      { kind: 'error', code: 405, msg: 'symbol limit exceeded' },
    ]);
    expect(result.ignored).toBe(3);
    expect(result.rejections).toEqual([]);
  });

  it('rejects bad messages with the right reason and a sample, and keeps the good ones of the same frame', () => {
    const result = frame(withField(TRADE, 'p', '"126.55"'), TRADE, withField(TRADE, 'S', '"MSFT"'));
    expect(result.trades.map((t) => t.observation.tradeId)).toEqual(['D-96921']);
    expect(result.rejections.map((r) => [r.reason, r.symbol])).toEqual([
      ['invalid_price', 'AAPL'],
      ['unknown_symbol', 'MSFT'],
    ]);
    for (const r of result.rejections) expect(r.sample).toContain('"T":"t"');
    expect(result.rejections[0]!.sample).toContain('"p":"126.55"');
  });

  it('names the reason of each kind of bad input, never throwing', () => {
    expect(reasonsOf('[{"T":"t"')).toEqual(['malformed']);
    expect(reasonsOf(TRADE)).toEqual(['malformed']); // an object, not an array
    expect(reasonsOf('["hello", 3]')).toEqual(['malformed', 'malformed']);
    expect(reasonsOf('[{"T":"zz","S":"AAPL"}]')).toEqual(['malformed']);
    expect(reasonsOf('[{"T":"t","T":"b"}]')).toEqual(['malformed']); // duplicate keys
    const bad: [string, string, string][] = [
      ['p', '0', 'invalid_price'],
      ['p', '-1.5', 'invalid_price'],
      ['p', 'null', 'invalid_price'],
      ['s', '-100', 'invalid_size'],
      ['s', '"100"', 'invalid_size'],
      ['i', '1.5', 'invalid_trade_id'],
      ['i', '-1', 'invalid_trade_id'],
      ['x', '"d1"', 'invalid_trade_id'],
      ['t', '"yesterday"', 'invalid_timestamp'],
      ['t', '"2026-02-30T10:00:00Z"', 'invalid_timestamp'],
      ['t', '1709564400', 'invalid_timestamp'],
      ['t', '"2026-03-05T15:00:00Z"', 'future_timestamp'],
      ['S', '42', 'malformed'],
    ];
    for (const [field, raw, reason] of bad) expect(reasonsOf(`[${withField(TRADE, field, raw)}]`), `${field}=${raw}`).toEqual([reason]);
    const badBars: [string, string, string][] = [
      ['h', '388.9', 'invalid_bar'], // below the open
      ['l', '390', 'invalid_bar'],
      ['o', '0', 'invalid_bar'],
      ['v', '-1', 'invalid_bar'],
      ['n', '1.5', 'invalid_bar'],
      ['t', '"2026-03-04T14:15:30Z"', 'invalid_timestamp'], // not a minute start
    ];
    for (const [field, raw, reason] of badBars) expect(reasonsOf(`[${withField(BAR, field, raw)}]`), `${field}=${raw}`).toEqual([reason]);
    const huge = `[${TRADE}]`.padEnd(MAX_FRAME_BYTES + 10, ' ');
    expect(parseFrame(huge, Buffer.byteLength(huge), ctx).rejections.map((r) => [r.reason, r.sample.length])).toEqual([['oversized', 500]]);
  });

  it('reads REST rows (no T, no S) for the symbol asked', () => {
    const row = parse('{"t":"2026-03-04T09:00:00.086175744Z","x":"P","p":178.26,"s":246,"c":["@","T"],"i":1,"z":"C"}');
    const trade = checkTrade(row, ctx, 'BRK.B');
    expect(trade.ok && trade.value.observation).toEqual({ symbol: 'BRK.B', ts: '2026-03-04T09:00:00.086175Z', price: '178.26', size: '246', tradeId: 'P-1' });
    const bar = checkBar(parse('{"t":"2026-03-04T09:00:00Z","o":178.26,"h":178.26,"l":178.21,"c":178.21,"v":1118,"n":65,"vw":178.235733}'), ctx, 'BRK.B');
    expect(bar.ok && bar.value.bar).toEqual({ symbol: 'BRK.B', openTime: '2026-03-04T09:00:00Z', open: '178.26', high: '178.26', low: '178.21', close: '178.21', volume: '1118', tradeCount: 65 });
    const noCount = checkBar(parse('{"t":"2026-03-04T09:00:00Z","o":1,"h":1,"l":1,"c":1,"v":0}'), ctx, 'AAPL');
    expect(noCount.ok && noCount.value.bar.tradeCount).toBeNull();
  });

  it('expands exponents in the text, never through a float', () => {
    const number = (text: string) => decimalText((parse(`[${text}]`) as unknown[])[0]);
    expectMapped(number, [
      ['126.550', '126.550'], ['1e-7', '0.0000001'], ['1.5e2', '150'], ['1.250e1', '12.50'], ['12E-1', '1.2'], ['1.25e-2', '0.0125'],
      ['123456789012345678901234567890', '123456789012345678901234567890'], ['0.1', '0.1'], ['1e400', null],
    ]);
    expect(decimalText('1.5')).toBeNull();
  });

  it('turns RFC 3339 times into UTC ISO with at most microseconds', () => {
    expect(toIsoMicros('2021-02-22T15:51:44.208Z')).toEqual({ iso: '2021-02-22T15:51:44.208Z', ms: Date.parse('2021-02-22T15:51:44.208Z') });
    expect(toIsoMicros('2021-02-22T15:51:44.999999999Z')?.iso).toBe('2021-02-22T15:51:44.999999Z');
    expect(toIsoMicros('2021-02-22T15:51:44Z')?.iso).toBe('2021-02-22T15:51:44Z');
    expect(toIsoMicros('2021-02-22T10:51:44.5-05:00')?.iso).toBe('2021-02-22T15:51:44.5Z');
    expect(toIsoMicros('2021-02-22 15:51:44Z')).toBeNull();
    expect(toIsoMicros('2021-13-01T00:00:00Z')).toBeNull();
  });

  it('compares decimals exactly', () => {
    expect(compareDecimals('126.550', '126.55')).toBe(0);
    expect(compareDecimals('0.1', '0.09')).toBe(1);
    expect(compareDecimals('99', '100.0')).toBe(-1);
  });
});
