import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { migrate } from '@tickvault/db';
import { createTestDatabase, createTestRedis, repoPath, ServiceProcess, type TestDatabase, type TestRedis } from '@tickvault/testing';
import { readRepoFile, REPO_ROOT } from './parse.js';

/**
 * The alert rules and the Grafana dashboard in infra/ against the real thing: promtool checks and
 * unit-tests the rules, promtool lints a live /metrics of the writer and the scheduler, and every
 * metric name the rules and the dashboard query must be on one of those pages (so they cannot drift).
 */
const RULES = 'infra/prometheus/tickvault-alerts.yml';
const RULE_TESTS = 'infra/prometheus/tickvault-alerts.test.yml';
const DASHBOARD = 'infra/grafana/tickvault.json';
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
// Only bounds how long a hanging scrape may take to fail this test; nothing is timed.
const SCRAPE_GIVE_UP_MS = 30_000;
const LIBRARY_LINT_FINDING = /^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/;

function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { cwd: REPO_ROOT, input, encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(
      `promtool not found (${PROMTOOL}): install Debian's prometheus package, which ships it: ` +
        '`apt-get install -y --no-install-recommends prometheus` (or set PROMTOOL to its path)',
    );
  }
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[];
}
interface Panel {
  title?: string;
  type: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

const rules = () => parseYaml(readRepoFile(RULES)) as RuleFile;
const ruleExprs = () => rules().groups.flatMap((g) => g.rules.map((r) => r.expr));
const dashboardExprs = () => {
  const walk = (panels: Panel[]): string[] => panels.flatMap((p) => [...(p.targets ?? []).flatMap((t) => (t.expr ? [t.expr] : [])), ...walk(p.panels ?? [])]);
  return walk((JSON.parse(readRepoFile(DASHBOARD)) as { panels: Panel[] }).panels);
};
const metricNames = (exprs: string[]) => [...new Set(exprs.flatMap((e) => e.match(/\btickvault_[a-z0-9_]+/g) ?? []))].sort();

/** Every sample name a /metrics page can carry, from its # TYPE lines (a histogram's _bucket/_sum/_count too). */
function exposedNames(page: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of page.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

describe('Prometheus rules and Grafana dashboard (promtool, live /metrics of real services)', () => {
  let db: TestDatabase;
  let redis: TestRedis;
  let writer: ServiceProcess;
  let scheduler: ServiceProcess;
  const pages: Record<string, string> = {};

  beforeAll(async () => {
    promtool(['--version']); // fails first, with the install line, on a machine without promtool
    db = await createTestDatabase(migrate);
    redis = await createTestRedis();
    const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, QUEUE_PREFIX: redis.prefix, HEALTH_PORT: '0' };
    writer = new ServiceProcess(repoPath('apps/writer/src/main.ts'), env);
    scheduler = new ServiceProcess(repoPath('apps/scheduler/src/main.ts'), {
      ...env, CRYPTO_SOURCES: 'binance', CRYPTO_SYMBOLS: 'BTC/USDT', STOCK_SOURCES: '', MACRO_SOURCES: '',
      // Far-off schedules: nothing runs while the test reads /metrics.
      GAP_FILL_CRON: '0 3 1 1 *', HEALTH_CRON: '0 4 1 1 *',
    });
    const started = await Promise.all([
      writer.waitForLog((l) => l.msg === 'writer started', 60_000),
      scheduler.waitForLog((l) => l.msg === 'scheduler started', 60_000),
    ]);
    for (const [service, line] of [['writer', started[0]], ['scheduler', started[1]]] as const) {
      const res = await fetch(`http://127.0.0.1:${line.healthPort as number}/metrics`, { signal: AbortSignal.timeout(SCRAPE_GIVE_UP_MS) });
      expect(res.status, `${service} /metrics`).toBe(200);
      pages[service] = await res.text();
    }
  });

  afterAll(async () => {
    await Promise.all([writer?.stop(), scheduler?.stop()]);
    await redis?.cleanup();
    await db?.drop();
  });

  it('promtool check rules accepts the alert rules', () => {
    const result = promtool(['check', 'rules', RULES]);
    expect(result.output).toMatch(/SUCCESS/);
    expect(result.status, result.output).toBe(0);
  });

  it('promtool test rules: each alert fires on the series it is for and not on the ones it must ignore', () => {
    // Rule file paths in the test file are relative to it.
    const result = spawnSync(PROMTOOL, ['test', 'rules', 'tickvault-alerts.test.yml'], { cwd: join(REPO_ROOT, 'infra/prometheus'), encoding: 'utf8' });
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
    expect(readRepoFile(RULE_TESTS)).toContain('rule_files:');
  });

  it('alerts on write lag, backlog, silent series, disconnected sources, Redis memory, rejected input and failed jobs', () => {
    const all = rules().groups.flatMap((g) => g.rules);
    const alerts = all.map((r) => r.alert);
    expect(alerts).toEqual(expect.arrayContaining([
      'TickvaultWriteLagHigh', 'TickvaultQueueBacklogGrowing', 'TickvaultSeriesSilent', 'TickvaultSourceDisconnected',
      'TickvaultRedisMemoryHigh', 'TickvaultRejectedInputHigh', 'TickvaultFailedJobs',
    ]));
    for (const rule of all) {
      expect(rule.labels?.severity, `${rule.alert} severity`).toMatch(/^(critical|warning|info)$/);
      expect(rule.annotations?.summary, `${rule.alert} summary`).toBeTruthy();
    }
    expect(all.find((r) => r.alert === 'TickvaultSourceDisconnected')?.expr).toMatch(/tickvault_source_disconnected_seconds\) > 120$/);
  });

  it('promtool check metrics finds no problem in the live /metrics of the writer and the scheduler', () => {
    for (const [service, page] of Object.entries(pages)) {
      const result = promtool(['check', 'metrics'], page);
      // 0: clean; 3: lint findings only (a parse error is 1). prom-client's default Node gauges
      // nodejs_active_{handles,requests,resources}_total break the "_total is for counters" rule; they
      // are the library's names, kept because dashboards for Node services expect them. Nothing else may.
      expect([0, 3], `${service}: ${result.output}`).toContain(result.status);
      const findings = result.output.split('\n').filter((line) => line.trim() && !LIBRARY_LINT_FINDING.test(line));
      expect(findings, service).toEqual([]);
    }
  });

  it('promtool check metrics does catch a badly named metric (the check above can fail)', () => {
    const result = promtool(['check', 'metrics'], '# HELP tickvault_bad_total A gauge.\n# TYPE tickvault_bad_total gauge\ntickvault_bad_total 1\n');
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/tickvault_bad_total non-counter metrics should not have "_total" suffix/);
    expect(LIBRARY_LINT_FINDING.test(result.output)).toBe(false);
  });

  it('every metric the rules and the dashboard query is exported by a live service', () => {
    const exposed = new Set(Object.values(pages).flatMap((page) => [...exposedNames(page)]));
    const used = metricNames([...ruleExprs(), ...dashboardExprs()]);
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !exposed.has(name)), `exported: ${[...exposed].filter((n) => n.startsWith('tickvault_')).join(', ')}`).toEqual([]);
    // The check itself can fail: a name that is not exported is caught.
    expect(exposed.has('tickvault_no_such_metric_total')).toBe(false);
  });

  it('the dashboard is Grafana JSON over a chosen Prometheus data source, covering every alerted metric', () => {
    const dashboard = JSON.parse(readRepoFile(DASHBOARD)) as { uid: string; panels: Panel[]; templating: { list: { name: string; type: string }[] } };
    expect(dashboard.uid).toBe('tickvault');
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource' }));
    const onDashboard = new Set(metricNames(dashboardExprs()));
    expect(metricNames(ruleExprs()).filter((name) => !onDashboard.has(name))).toEqual([]);
  });
});
