import type { SourceOptions } from '../source.js';
import type { RequestWeightLimiter } from '../rate-limiter.js';
import { LateLogger } from './late-logger.js';
import { providerLimiter } from './provider-limiter.js';

/** What every source hands its REST client: the provider's budget, the late-bound logger, and the fetch a test may replace. */
export interface RestWiring {
  limiter: RequestWeightLimiter;
  logger: LateLogger;
  fetch?: typeof fetch;
}

export function restWiring(options: SourceOptions, provider: string, perMinute: number, given: { limiter?: RequestWeightLimiter; fetch?: typeof fetch }): RestWiring {
  return { limiter: providerLimiter(options, provider, perMinute, given.limiter), logger: new LateLogger(), fetch: given.fetch };
}
