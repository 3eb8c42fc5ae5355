import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_FEED_PORTS } from '@tickvault/config';
import { createTestDatabase, createTestRedis, eventually, type TestDatabase, type TestRedis } from '@tickvault/testing';
import { demoDatabaseUrl, demoQueuePrefix } from './demo.js';
import { REPO_ROOT } from './services.js';
import { portIsFree } from './start-plan.js';

const INGEST = ['ingest-crypto', 'ingest-stock', 'ingest-macro'];

/** `tickvault demo` as a user runs it, every line of its output kept in order (stdout and stderr together). */
class DemoProcess {
  readonly lines: string[] = [];
  readonly closed: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'tools/cli/src/main.ts', 'demo'], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.lines.push(line));
    createInterface({ input: this.child.stderr! }).on('line', (line) => this.lines.push(line));
    this.closed = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }

  /** Index of the first line matching, or -1. */
  indexOf(match: (line: string) => boolean): number {
    return this.lines.findIndex(match);
  }

  /** The JSON log lines of one process, from the supervisor's `name | line` output. */
  logOf(name: string): { msg?: string; [key: string]: unknown }[] {
    return this.lines.filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}|`)).flatMap((l) => {
      try {
        return [JSON.parse(l.slice(l.indexOf('| ') + 2)) as { msg?: string }];
      } catch {
        return [];
      }
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null) this.child.kill(signal);
  }
}

describe('tickvault demo', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let demoSql: postgres.Sql;
  let demo: DemoProcess | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = await createTestRedis();
    demoSql = postgres(demoDatabaseUrl(db.url), { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    demo?.signal('SIGTERM');
    await demo?.closed;
    await demoSql?.end({ timeout: 5 });
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    await admin`drop database if exists ${admin(`${db.name}_demo`)} with (force)`.finally(() => admin.end({ timeout: 5 }));
    const demoPrefix = demoQueuePrefix(redis.prefix);
    let cursor = '0';
    do {
      const [next, keys] = await redis.redis.scan(cursor, 'MATCH', `${demoPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.redis.del(...keys);
    } while (cursor !== '0');
    await redis?.cleanup();
    await db?.drop();
  });

  it('starts the fakes, then the writer, then the rest, each once the one before is ready; stops in reverse; quotes one market', async () => {
    const busy = [];
    for (const port of Object.values(DEMO_FEED_PORTS)) if (!(await portIsFree('127.0.0.1', port))) busy.push(port);
    expect(busy, 'the demo feed ports must be free for this test: is `npm run demo` running?').toEqual([]);

    demo = new DemoProcess({
      DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix,
      // Free ports of their own, so a stack running on this machine is not in the way.
      HEALTH_PORT: '0', DASHBOARD_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_PASSWORD: 'demo-test-password-1',
    });
    const run = demo;
    // Data from both crypto exchanges and the stock feed: every stage is up and storing.
    const stored = async () => {
      const rows = await demoSql<{ source: string; symbol: string; price: string }[]>`
        select source, symbol, avg(price)::text as price from ticks
        where (source, symbol) in (('binance', 'BTC/USDT'), ('coinbase', 'BTC/USDT'), ('alpaca', 'SPY')) group by 1, 2`.catch(() => []);
      return rows.length === 3 ? rows : undefined;
    };
    const prices = await eventually(async () => {
      if (run.indexOf((l) => l.includes('exited unexpectedly')) >= 0) throw new Error(`the demo stopped:\n${run.lines.slice(-40).join('\n')}`);
      return stored();
    }, 'ticks from binance, coinbase and alpaca', 180_000, 500);
    await eventually(() => INGEST.every((name) => run.logOf(name).some((l) => l.msg === `${name} started`)), 'every ingest service started', 60_000);

    run.signal('SIGINT');
    expect(await run.closed, run.lines.slice(-40).join('\n')).toBe(0);
    const output = run.lines.join('\n');

    // Up in dependency order: nothing asked a fake before it listened.
    const feedsReady = run.indexOf((l) => l.includes('fake-feeds is ready; starting writer'));
    const writerReady = run.indexOf((l) => l.includes('writer is ready; starting ingest-crypto, ingest-stock, ingest-macro'));
    // "Ready" comes from an HTTP poll, so it can precede the child's own first piped line: only what was started after it is ordered.
    expect(feedsReady, output).toBeGreaterThanOrEqual(0);
    expect(run.indexOf((l) => l.startsWith('fake-feeds ') && l.includes('"fakeFeeds"')), output).toBeGreaterThanOrEqual(0);
    expect(run.indexOf((l) => l.startsWith('writer '))).toBeGreaterThan(feedsReady);
    // Ready means /readyz said 200, polled over HTTP: the supervisor can say so before the writer's own
    // first lines come through its pipe, so only the order against the fakes is checked here.
    expect(writerReady).toBeGreaterThan(feedsReady);
    expect(run.indexOf((l) => l.startsWith('writer ') && l.includes('"writer started"'))).toBeGreaterThan(feedsReady);
    for (const name of INGEST) expect(run.indexOf((l) => l.startsWith(`${name} `)), name).toBeGreaterThan(writerReady);
    expect(output).not.toMatch(/ECONNREFUSED/);

    // Down in reverse: every producer gone before the writer stops, the writer before the fakes.
    const stoppedAt = (name: string) => run.indexOf((l) => l.startsWith(`${name} `) && l.includes('"msg":"stopped"'));
    const writerStopping = run.indexOf((l) => l.startsWith('writer ') && l.includes('"msg":"shutting down"'));
    for (const name of [...INGEST, 'scheduler', 'dashboard']) {
      expect(stoppedAt(name), name).toBeGreaterThanOrEqual(0);
      expect(stoppedAt(name), name).toBeLessThan(writerStopping);
    }
    expect(stoppedAt('writer')).toBeGreaterThan(writerStopping);
    // No feed connection failed, on the way up or down (the fakes went last).
    for (const name of INGEST) {
      const connectionWarnings = run.logOf(name).filter((l) => (l.level as number) >= 40 && /reconnect|closed|unreachable|poll failed|ECONN|socket/i.test(JSON.stringify(l)));
      expect(connectionWarnings, name).toEqual([]);
    }

    // One market: BTC the same on both exchanges (USDT, near the reference), SPY near its reference.
    const price = (source: string) => Number(prices.find((p) => p.source === source)!.price);
    expect(Math.abs(price('binance') - price('coinbase')) / price('coinbase')).toBeLessThan(0.01);
    expect(price('coinbase')).toBeGreaterThan(90_000);
    expect(price('alpaca')).toBeGreaterThan(580);
    expect(price('alpaca')).toBeLessThan(620);
  }, 300_000);
});
