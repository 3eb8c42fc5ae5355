import { z } from 'zod';

/** WRITER_SHARDS as parsed: every shard, or the listed tick shard indexes (sorted, each once). */
export type ShardSelection = 'all' | readonly number[];

// TICK_QUEUE_SHARDS allows at most 64; a range past that is a typo, and refusing it keeps the list bounded.
const MAX_SHARD_INDEX = 63;

/** "all", or indexes and ranges: "0,2,4-7". Duplicates and reversed ranges are refused, not merged. */
export const shardList = () =>
  z.string().transform((value, ctx): ShardSelection => {
    const trimmed = value.trim();
    if (trimmed === 'all') return 'all';
    const items = trimmed.split(',').map((item) => item.trim());
    const indexes: number[] = [];
    for (const item of items) {
      const match = /^(\d{1,3})(?:-(\d{1,3}))?$/.exec(item);
      const from = Number(match?.[1]);
      const to = match?.[2] === undefined ? from : Number(match[2]);
      if (!match || to < from || to > MAX_SHARD_INDEX) {
        ctx.addIssue({ code: 'custom', message: `"${item}" is not a shard index or range (e.g. all, or 0,2,4-7; indexes 0-${MAX_SHARD_INDEX})` });
        continue;
      }
      for (let i = from; i <= to; i++) indexes.push(i);
    }
    if (new Set(indexes).size !== indexes.length) ctx.addIssue({ code: 'custom', message: 'lists a shard twice' });
    return Object.freeze([...new Set(indexes)].sort((a, b) => a - b));
  });

/** The shard indexes a selection means when there are `shardCount` shards. */
export function selectedShards(selection: ShardSelection, shardCount: number): number[] {
  return selection === 'all' ? Array.from({ length: shardCount }, (_, i) => i) : [...selection];
}

/** Why a selection does not fit `shardCount` shards (indexes run from 0 to shardCount - 1), or undefined. */
export function shardSelectionProblem(selection: ShardSelection, shardCount: number): string | undefined {
  if (selection === 'all') return undefined;
  const beyond = selection.filter((i) => i >= shardCount);
  if (beyond.length === 0) return undefined;
  return `names shard${beyond.length === 1 ? '' : 's'} ${beyond.join(', ')}, but TICK_QUEUE_SHARDS=${shardCount} has shards 0-${shardCount - 1}`;
}
