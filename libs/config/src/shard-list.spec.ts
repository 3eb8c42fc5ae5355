import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.js';
import { selectedShards, shardList } from './shard-list.js';
import { WRITER_ENV } from './services.js';

const parse = (value: string) => shardList().safeParse(value);

describe('WRITER_SHARDS', () => {
  it('reads all, single indexes and ranges, sorted', () => {
    expect(parse('all').data).toBe('all');
    expect(parse('3').data).toEqual([3]);
    expect(parse('4-7, 0,2').data).toEqual([0, 2, 4, 5, 6, 7]);
    expect(parse('0-0').data).toEqual([0]);
  });

  it('refuses what is not an index or range, reversed ranges, indexes past 63 and duplicates', () => {
    for (const bad of ['', ',', 'some', '1,,2', '-1', '3-1', '0-64', '1.5', '0x1', 'all,1']) {
      expect(parse(bad).success, bad).toBe(false);
    }
    expect(parse('0-2,2').error?.issues.map((i) => i.message)).toEqual(['lists a shard twice']);
  });

  it('means every shard by default', () => {
    const config = loadConfig('writer', ['TICK_QUEUE_SHARDS', 'WRITER_SHARDS'], { TICK_QUEUE_SHARDS: '3' });
    expect(config.WRITER_SHARDS).toBe('all');
    expect(selectedShards(config.WRITER_SHARDS, config.TICK_QUEUE_SHARDS)).toEqual([0, 1, 2]);
    expect(selectedShards([1, 2], 4)).toEqual([1, 2]);
  });

  it('is read by the writer', () => {
    expect(WRITER_ENV).toContain('WRITER_SHARDS');
  });

  it('refuses a shard TICK_QUEUE_SHARDS does not have, naming the variable and the value', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig('writer', WRITER_ENV, { TICK_QUEUE_SHARDS: '4', WRITER_SHARDS: '2-5' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems.map((p) => p.name)).toEqual(['WRITER_SHARDS']);
    expect(error!.message).toContain('WRITER_SHARDS: names shards 4, 5, but TICK_QUEUE_SHARDS=4 has shards 0-3 (got "2-5")');
  });

  it('names every bad variable at once, the relation check included only when both parse', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig('writer', WRITER_ENV, { TICK_QUEUE_SHARDS: 'many', WRITER_SHARDS: '7', WRITER_CONCURRENCY: '0' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error!.problems.map((p) => p.name).sort()).toEqual(['TICK_QUEUE_SHARDS', 'WRITER_CONCURRENCY']);
    try {
      loadConfig('writer', WRITER_ENV, { WRITER_SHARDS: 'a-b', WRITER_CONCURRENCY: '0' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error!.problems.map((p) => p.name).sort()).toEqual(['WRITER_CONCURRENCY', 'WRITER_SHARDS']);
    expect(error!.message).toContain('"a-b" is not a shard index or range');
  });
});
