// The status page: polls the read API for tables, loads candles for the chosen series and keeps the
// chart current from the live stream. Data is always inserted with textContent, never as HTML:
// event details and rejection samples come from outside and may contain anything.
import { CandleChart } from './chart.js';

const CHART_CANDLES = 120;
const POLL_FAST_MS = 5000;
const POLL_SLOW_MS = 15000;

// Tests and curious operators can watch live updates arrive.
window.tickvaultLive = { updates: 0, lastCandle: null, streamOpen: false, reloads: 0 };

const $ = (id) => document.getElementById(id);
const chart = new CandleChart($('chart'), $('chart-tooltip'));
// For tests and curious operators, like tickvaultLive.
window.tickvaultChart = chart;
const state = { series: [], selected: null, timeframe: null, source: null, loadToken: 0 };

/**
 * An API address from the page's own origin and path. Resolved against location.href, a page opened
 * as http://user:pass@host/ would put the credentials into every request URL, which fetch refuses
 * ("Request cannot be constructed from a URL that includes credentials"); origin and pathname never
 * carry them, and the browser still sends the Authorization it holds for this origin.
 */
function apiUrl(path) {
  return new URL(path, `${location.origin}${location.pathname}`).toString();
}

async function getJson(path) {
  const res = await fetch(apiUrl(path), { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${path.split('?')[0]}: ${body.error ?? res.status}`);
  return body;
}

const problems = new Map();
function report(what, error) {
  if (error) problems.set(what, error.message);
  else problems.delete(what);
  const banner = $('banner');
  banner.hidden = problems.size === 0;
  banner.textContent = [...problems.values()].join(' · ');
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function fillTable(table, rows, emptyText, columns) {
  const body = $(table).tBodies[0];
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(emptyText, 'empty');
    td.colSpan = columns;
    tr.append(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(...rows);
}

const utc = (iso) => (iso ? iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '') : '–');
const count = (n) => n.toLocaleString('en-US');

function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** Macro series publish daily, so their freshness is judged in days rather than seconds. */
function freshness(s) {
  if (s.lagMs === null) return 'bad';
  const [ok, warn] = s.assetClass === 'macro' ? [4 * 86400e3, 10 * 86400e3] : [60e3, 600e3];
  return s.lagMs <= ok ? 'ok' : s.lagMs <= warn ? 'warn' : 'bad';
}

function renderSeries(data) {
  state.series = data.series;
  $('series-updated').textContent = `as of ${utc(data.generatedAt)} UTC`;
  const rows = data.series.map((s) => {
    const tr = document.createElement('tr');
    tr.className = `selectable${s.series === state.selected ? ' selected' : ''}`;
    tr.dataset.series = s.series;
    const name = cell(s.series, `fresh ${freshness(s)}`);
    if (!s.configured) {
      const tag = document.createElement('span');
      tag.className = 'tag';
      tag.textContent = 'not configured';
      tag.title = 'Stored in the database but not in the configured source and symbol lists';
      name.append(tag);
    }
    tr.append(
      name,
      cell(s.assetClass ?? '?'),
      cell(utc(s.lastTick)),
      cell(duration(s.lagMs), 'num'),
      cell(count(s.ticksLastHour), 'num'),
      cell(count(s.ticks), 'num'),
      cell(count(s.candles), 'num'),
    );
    tr.addEventListener('click', () => selectSeries(s.series));
    return tr;
  });
  fillTable('series-table', rows, 'No series configured or stored yet.', 7);
  syncSeriesSelect();
}

function syncSeriesSelect() {
  const select = $('chart-series');
  const names = state.series.map((s) => s.series);
  if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
    select.replaceChildren(...names.map((n) => new Option(n, n)));
  }
  if (!state.selected && names.length > 0) {
    // Start with the first series that has data, so the chart is not empty on a fresh page.
    const first = state.series.find((s) => s.candles > 0) ?? state.series[0];
    selectSeries(first.series);
  } else if (state.selected) {
    select.value = state.selected;
  }
}

function selectSeries(name, timeframe) {
  const series = state.series.find((s) => s.series === name);
  if (!series) return;
  const timeframes = series.timeframes.length > 0 ? series.timeframes : ['1m'];
  const tf = timeframe && timeframes.includes(timeframe) ? timeframe : timeframes.includes(state.timeframe) ? state.timeframe : timeframes[0];
  const select = $('chart-timeframe');
  select.replaceChildren(...timeframes.map((t) => new Option(t, t)));
  select.value = tf;
  $('chart-series').value = name;
  for (const tr of $('series-table').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.series === name);
  if (state.selected === name && state.timeframe === tf) return;
  state.selected = name;
  state.timeframe = tf;
  void loadCandles();
  openStream();
}

async function loadCandles() {
  const token = ++state.loadToken;
  const [source, ...rest] = state.selected.split(':');
  const symbol = rest.join(':');
  const params = new URLSearchParams({ source, symbol, timeframe: state.timeframe, limit: String(CHART_CANDLES) });
  try {
    const data = await getJson(`api/candles?${params}`);
    if (token !== state.loadToken) return; // the selection changed meanwhile
    chart.setData(data.candles, { timeframe: state.timeframe, maxCandles: CHART_CANDLES, emptyText: `No ${state.timeframe} candles for ${state.selected} yet` });
    window.tickvaultLive.reloads++;
    summarize();
    report('candles', null);
  } catch (error) {
    report('candles', error);
  }
}

function summarize() {
  const last = chart.last();
  $('chart-summary').textContent = last ? `last ${utc(last.openTime)} UTC · O ${last.open} H ${last.high} L ${last.low} C ${last.close} · V ${last.volume}` : '';
}

function setStreamState(open) {
  window.tickvaultLive.streamOpen = open;
  const pill = $('stream-state');
  pill.textContent = open ? 'live' : 'live: reconnecting';
  pill.className = `pill ${open ? 'pill-live' : 'pill-idle'}`;
}

function openStream() {
  state.source?.close();
  const params = new URLSearchParams({ series: state.selected, timeframe: state.timeframe });
  const source = new EventSource(apiUrl(`api/stream?${params}`));
  state.source = source;
  let opened = false;
  source.addEventListener('open', () => {
    setStreamState(true);
    // After a reconnect, updates may have been missed while the stream was down: reload once.
    if (opened) void loadCandles();
    opened = true;
  });
  source.addEventListener('error', () => setStreamState(false));
  source.addEventListener('candle', (event) => {
    const candle = JSON.parse(event.data);
    if (`${candle.source}:${candle.symbol}` !== state.selected || candle.timeframe !== state.timeframe) return;
    if (chart.upsert(candle)) {
      window.tickvaultLive.updates++;
      window.tickvaultLive.lastCandle = candle;
      $('live-count').textContent = String(window.tickvaultLive.updates);
      $('chart').dataset.liveUpdates = String(window.tickvaultLive.updates);
      summarize();
    }
  });
  // The dashboard dropped events because this page fell behind: the database has them.
  source.addEventListener('dropped', () => void loadCandles());
}

function renderQueues(data) {
  const rows = data.queues.map((q) => {
    const tr = document.createElement('tr');
    tr.append(
      cell(q.name),
      cell(count(q.counts.waiting + q.counts.prioritized), 'num'),
      cell(count(q.counts.active), 'num'),
      cell(count(q.counts.delayed), 'num'),
      cell(count(q.counts.failed), q.counts.failed > 0 ? 'num failed' : 'num'),
      cell(count(q.counts.completed), 'num'),
      cell(q.paused ? 'yes' : 'no'),
    );
    return tr;
  });
  fillTable('queues-table', rows, 'No queues.', 7);
}

const STATE_CLASS = { connected: 'ok', idle: 'ok', connecting: 'warn', reconnecting: 'bad' };

function sourceLine(s) {
  const since = Date.now() - Date.parse(s.since);
  let text = s.state === 'connected' || s.state === 'idle' ? `${s.source} ${s.state}` : `${s.source} ${s.state} for ${duration(since)}`;
  if (s.state !== 'idle') text += ` · ${s.symbols.length} symbol${s.symbols.length === 1 ? '' : 's'}`;
  if (s.lastMessageAt) text += ` · last message ${duration(Date.now() - Date.parse(s.lastMessageAt))} ago`;
  const div = document.createElement('div');
  div.className = `fresh ${STATE_CLASS[s.state] ?? 'bad'}`;
  div.dataset.source = s.source;
  div.dataset.state = s.state;
  div.textContent = text;
  if (s.reason) div.title = s.reason;
  return div;
}

function runs(entry) {
  const td = cell('', 'runs');
  if (entry.ingest) {
    td.append(...entry.ingest.sources.map(sourceLine));
    if (entry.ingest.sources.length === 0) td.textContent = 'no sources (disabled)';
  } else if (entry.writer) {
    td.textContent = `tick shard${entry.writer.shards.length === 1 ? '' : 's'} ${entry.writer.shards.join(', ')}`;
  } else {
    td.textContent = entry.queues.length > 0 ? entry.queues.map((q) => q.name).join(', ') : '–';
  }
  return td;
}

function renderServices(data) {
  const rows = data.services.map((s) => {
    const tr = document.createElement('tr');
    tr.dataset.service = s.service;
    tr.append(
      cell(s.service),
      cell(s.host),
      cell(String(s.pid), 'num'),
      cell(s.version),
      cell(utc(s.startedAt)),
      cell(`${duration(s.heartbeatAgeMs)} ago`, 'num'),
      runs(s),
    );
    return tr;
  });
  fillTable('services-table', rows, 'No service registered: nothing runs against this Redis and queue prefix.', 7);
  const notes = [];
  const orphaned = data.orphanedShards ?? [];
  if (orphaned.length > 0) {
    notes.push(`No live writer consumes tick shard${orphaned.length === 1 ? '' : 's'} ${orphaned.map((o) => `${o.shard} (${o.queue})`).join(', ')}: its jobs wait (WRITER_SHARDS).`);
  }
  if (data.unreadable > 0) notes.push(`${data.unreadable} entr${data.unreadable === 1 ? 'y' : 'ies'} not readable (another version?)`);
  $('services-note').textContent = notes.join(' ');
  $('services-note').classList.toggle('bad', orphaned.length > 0);
}

function renderRejections(data) {
  const rows = data.rejections.map((r) => {
    const tr = document.createElement('tr');
    tr.append(cell(r.source), cell(r.reason), cell(count(r.count), 'num'), cell(utc(r.lastAt)), cell(r.lastDetail, 'detail'));
    return tr;
  });
  fillTable('rejections-table', rows, 'No rejected input in the last 24 hours.', 5);
}

function renderEvents(data) {
  const rows = data.events.map((e) => {
    const tr = document.createElement('tr');
    const details = JSON.stringify(e.details);
    tr.append(cell(utc(e.ts)), cell(e.service), cell(e.kind), cell(e.symbol ?? '–'), cell(details.length > 160 ? `${details.slice(0, 157)}…` : details, 'detail'));
    return tr;
  });
  fillTable('events-table', rows, 'No system events yet.', 5);
}

function poll(what, path, render, everyMs) {
  const run = async () => {
    try {
      render(await getJson(path));
      report(what, null);
    } catch (error) {
      report(what, error);
    }
    setTimeout(run, everyMs);
  };
  void run();
}

$('chart-series').addEventListener('change', (e) => selectSeries(e.target.value));
$('chart-timeframe').addEventListener('change', (e) => selectSeries(state.selected, e.target.value));

poll('series', 'api/series', renderSeries, POLL_FAST_MS);
poll('queues', 'api/queues', renderQueues, POLL_FAST_MS);
poll('services', 'api/services', renderServices, POLL_FAST_MS);
poll('rejections', 'api/rejections?hours=24', renderRejections, POLL_SLOW_MS);
poll('events', 'api/events?limit=15', renderEvents, POLL_SLOW_MS);
