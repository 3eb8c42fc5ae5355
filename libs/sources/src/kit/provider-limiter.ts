import type { SourceOptions } from '../source.js';
import { TokenBucketLimiter, type RequestWeightLimiter } from '../rate-limiter.js';

/**
 * A provider's request budget: the one a test or caller gives, else the service's (one budget per
 * provider that every replica spends from, through Redis), else one in this process.
 */
export function providerLimiter(options: SourceOptions, provider: string, perMinute: number, given?: RequestWeightLimiter): RequestWeightLimiter {
  return given ?? options.limiter?.(provider, { perMinute }) ?? new TokenBucketLimiter({ weightPerMinute: perMinute });
}
