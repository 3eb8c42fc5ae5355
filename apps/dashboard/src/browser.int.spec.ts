import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { migrate } from '@tickvault/db';
import { createTestDatabase, createTestRedis, repoPath, ServiceProcess, type TestDatabase, type TestRedis } from '@tickvault/testing';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = '/tmp/dashboard.png';
const PASSWORD = 'browser-test-password';

/** What the page exposes on `window.tickvaultLive` (these specs compile without the DOM types). */
interface LiveState {
  updates: number;
  streamOpen: boolean;
  lastCandle: { symbol: string; timeframe: string } | null;
}
// Runs in the page. Function predicates, not strings: the page's CSP forbids eval.
const liveState = () => (globalThis as unknown as { tickvaultLive: LiveState }).tickvaultLive;

/** What the chart records of its last drawing (`window.tickvaultChart.geometry`). */
interface ChartGeometry {
  width: number;
  priceLabel: { text: string; left: number; right: number };
}

/**
 * The status page in a real browser, while the real pipeline runs: the sim crypto feed → ingest-crypto
 * → queue → writer → live channel → dashboard → the page's chart.
 */
describe('status page in Chromium (real pipeline)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let browser: Browser;
  const processes: ServiceProcess[] = [];
  let url: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium not found at ${CHROMIUM}; the browser test needs it: apt-get install -y chromium`);
    }
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    const common = {
      DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0',
      CRYPTO_SOURCES: 'sim', CRYPTO_SYMBOLS: 'BTC/USDT,ETH/USDT', STOCK_SOURCES: '', MACRO_SOURCES: '',
    };
    const writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), common);
    const ingest = new ServiceProcess(repoPath('apps/ingest-crypto/src/main.ts'), common);
    const dashboard = new ServiceProcess(repoPath('apps/dashboard/src/main.ts'), {
      ...common, DASHBOARD_PORT: '0', DASHBOARD_HOST: '127.0.0.1', DASHBOARD_AUTH: 'basic', DASHBOARD_USER: 'operator', DASHBOARD_PASSWORD: PASSWORD,
    });
    processes.push(writer, ingest, dashboard);
    await writer.waitForLog((l) => l.msg === 'writer started');
    await ingest.waitForLog((l) => l.msg === 'ingest-crypto started');
    const started = await dashboard.waitForLog((l) => l.msg === 'dashboard started');
    url = `http://127.0.0.1:${started.port as number}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all(processes.map((p) => p.stop()));
    await redis?.cleanup();
    await db?.drop();
  });

  it('is refused without credentials', async () => {
    const context = await browser.newContext();
    expect((await context.request.get(url)).status()).toBe(401);
    // Headless Chromium has no login dialog: the navigation fails on the challenge.
    await expect((await context.newPage()).goto(url)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
    await context.close();
  });

  it('loads behind basic auth, lists the configured series and charts live updates', async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'operator', password: PASSWORD }, viewport: { width: 1360, height: 1000 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    // Nothing may load from anywhere but the dashboard itself.
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(url) && !request.url().startsWith('data:')) foreign.push(request.url());
    });

    const response = await page.goto(url);
    expect(response?.status()).toBe(200);

    const rows = page.locator('#series-table tbody tr[data-series]');
    await expect.poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-series'))), { timeout: 15_000 }).toEqual([
      'sim:BTC/USDT',
      'sim:ETH/USDT',
    ]);

    // The chart is drawn from /api/candles and then moves with every commit the writer publishes.
    await page.waitForFunction(() => (globalThis as unknown as { tickvaultLive: LiveState }).tickvaultLive.updates >= 3, undefined, { timeout: 30_000 });
    const live = await page.evaluate(liveState);
    expect(live.streamOpen).toBe(true);
    expect(live.lastCandle).toMatchObject({ timeframe: '1m' });
    expect(Number(await page.locator('#chart').getAttribute('data-live-updates'))).toBeGreaterThanOrEqual(3);
    expect(await page.locator('#stream-state').textContent()).toBe('live');

    // Something was drawn: the canvas is not blank.
    const inked = await page.locator('#chart').evaluate((element) => {
      const canvas = element as unknown as { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
      return n;
    });
    expect(inked).toBeGreaterThan(1000);

    // Switching the timeframe reloads and keeps streaming.
    const before = live.updates;
    await page.selectOption('#chart-timeframe', '5m');
    await page.waitForFunction(
      (n) => {
        const state = (globalThis as unknown as { tickvaultLive: LiveState }).tickvaultLive;
        return state.lastCandle?.timeframe === '5m' && state.updates > n;
      },
      before,
      { timeout: 30_000 },
    );
    await page.selectOption('#chart-timeframe', '1m');
    await page.waitForTimeout(1500);

    // ticks, events, maintenance and the sim source's backfill queue.
    await expect.poll(() => page.locator('#queues-table tbody tr').count()).toBe(4);
    // Who runs what, from the service registry: each process with its sources and their state.
    await expect.poll(() => page.locator('#services-table tbody tr[data-service]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-service'))), { timeout: 15_000 })
      .toEqual(['dashboard', 'ingest-crypto', 'writer']);
    expect(await page.locator('#services-table tr[data-service="ingest-crypto"] [data-source="sim"]').getAttribute('data-state')).toBe('connected');
    expect(await page.locator('#services-table tr[data-service="writer"] td.runs').textContent()).toBe('tick shard 0');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
    expect(foreign).toEqual([]);
    await context.close();
  });

  it('serves Bull Board under /admin/queues without loading anything from elsewhere, and without CSP violations', async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'operator', password: PASSWORD } });
    const page = await context.newPage();
    const requested: string[] = [];
    const problems: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    await page.goto(`${url}admin/queues`);
    await expect.poll(() => page.getByText('ticks', { exact: true }).count(), { timeout: 15_000 }).toBeGreaterThan(0);
    // Bull Board's web-font stylesheet is taken out of its page: never requested, so nothing for the
    // Content-Security-Policy to refuse (a refusal is a console error).
    expect(requested.filter((u) => !u.startsWith(url) && !u.startsWith('data:'))).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('works when opened with the credentials in the URL (http://user:pass@host/)', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    const withCredentials = new URL(url);
    withCredentials.username = 'operator';
    withCredentials.password = PASSWORD;
    expect((await page.goto(withCredentials.toString()))?.status()).toBe(200);
    // Every table is filled through the API and the chart streams: no request was refused for its URL.
    const rows = page.locator('#series-table tbody tr[data-series]');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(2);
    await expect.poll(() => page.locator('#services-table tbody tr[data-service]').count(), { timeout: 15_000 }).toBe(3);
    await page.waitForFunction(() => (globalThis as unknown as { tickvaultLive: LiveState }).tickvaultLive.updates >= 1, undefined, { timeout: 30_000 });
    expect(await page.locator('#banner').isHidden()).toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('keeps the last price label inside the chart, however long the price', async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'operator', password: PASSWORD }, viewport: { width: 1360, height: 1000 } });
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => 'tickvaultChart' in globalThis);
    // Exact decimals as stored: a crypto price with eight places is wider than the axis was.
    const geometry = await page.evaluate(() => {
      const chart = (globalThis as unknown as { tickvaultChart: { setData(c: unknown[], o: unknown): void; geometry: unknown } }).tickvaultChart;
      const candle = { openTime: new Date().toISOString(), open: '84123.45678901', high: '84123.45678901', low: '84123.45678901', close: '84123.45678901', volume: '1', tradeCount: 1 };
      chart.setData([candle], { timeframe: '1m', maxCandles: 120, emptyText: '' });
      return chart.geometry;
    }) as ChartGeometry;
    expect(geometry.priceLabel.text).toBe('84123.45678901');
    expect(geometry.priceLabel.right).toBeLessThanOrEqual(geometry.width);
    await context.close();
  });
});
