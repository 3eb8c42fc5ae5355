/** Provider URL variables per source id: in a live environment none may point at this machine. */
const URL_VARIABLES: Readonly<Record<string, readonly string[]>> = {
  binance: ['BINANCE_WS_URL', 'BINANCE_REST_URL'],
  coinbase: ['COINBASE_WS_URL', 'COINBASE_REST_URL'],
  alpaca: ['ALPACA_WS_URL', 'ALPACA_REST_URL'],
  yahoo: ['YAHOO_CHART_URL'],
  fred: ['FRED_API_URL', 'FRED_GRAPH_URL'],
};

// Simulated data is never live data, whatever the database is called.
const SIMULATED_SOURCES = new Set(['sim']);

// The compose demo's fake feed servers answer under this name.
const FAKE_FEED_HOSTS = new Set(['fake-feeds']);

function isLoopbackOrFake(url: string): boolean {
  try {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
    return (
      host === 'localhost' || host.endsWith('.localhost') || host === '::1' || host === '0.0.0.0' || host === '::' ||
      host.startsWith('127.') || host.startsWith('::ffff:127.') || host.startsWith('::ffff:7f') || FAKE_FEED_HOSTS.has(host)
    );
  } catch {
    return false;
  }
}

/**
 * What makes a configuration unfit for DATA_ENVIRONMENT=live: the `sim` source, or a provider URL on
 * loopback (where the fake feed servers run). One message per problem, naming the variable.
 */
export function liveEnvironmentProblems(sourcesVariable: string, sourceIds: readonly string[], config: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  for (const id of sourceIds) {
    if (SIMULATED_SOURCES.has(id)) {
      problems.push(`${sourcesVariable}: source "${id}" produces simulated data; set DATA_ENVIRONMENT=demo (or test) to run it`);
    }
    for (const variable of URL_VARIABLES[id] ?? []) {
      const value = config[variable];
      if (typeof value === 'string' && isLoopbackOrFake(value)) {
        problems.push(`${variable}: points at this machine or the fake feed servers (${value}); set DATA_ENVIRONMENT=demo (or test) to use it`);
      }
    }
  }
  return problems;
}
