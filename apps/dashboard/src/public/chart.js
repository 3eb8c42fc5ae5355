// A candlestick chart drawn by hand on a <canvas>: price candles on top, volume below, a price axis
// on the right and UTC times along the bottom. Prices arrive as exact decimal strings; they become
// numbers only to be placed on screen, and the tooltip shows the strings themselves.

const COLORS = {
  up: '#15803d',
  down: '#c2410c',
  upVolume: 'rgba(21, 128, 61, 0.28)',
  downVolume: 'rgba(194, 65, 12, 0.28)',
  grid: '#eef1f4',
  axis: '#66727f',
  last: '#2563eb',
  crosshair: 'rgba(31, 41, 51, 0.35)',
};
// `right` is the least room for the price axis; it grows to fit the widest label (see draw).
const PAD = { top: 12, right: 78, bottom: 26, left: 8 };
// Space between the plot and an axis label, and after the label's end.
const LABEL_INSET = 6;
const VOLUME_SHARE = 0.2;
const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

export class CandleChart {
  constructor(canvas, tooltip) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.candles = [];
    this.maxCandles = 120;
    this.timeframe = '1m';
    this.emptyText = 'Loading…';
    this.hover = -1;
    new ResizeObserver(() => this.draw()).observe(canvas);
    canvas.addEventListener('mousemove', (e) => this.onMove(e));
    canvas.addEventListener('mouseleave', () => {
      this.hover = -1;
      this.tooltip.hidden = true;
      this.draw();
    });
  }

  setData(candles, { timeframe, maxCandles, emptyText }) {
    this.timeframe = timeframe;
    this.maxCandles = maxCandles;
    this.emptyText = emptyText;
    this.candles = candles.map(withNumbers);
    this.hover = -1;
    this.draw();
  }

  /** Replaces the candle with the same open time or adds a newer one. Returns false for a candle too old to show. */
  upsert(candle) {
    const c = withNumbers(candle);
    const i = this.candles.findIndex((x) => x.openTime === c.openTime);
    if (i >= 0) this.candles[i] = c;
    else if (this.candles.length === 0 || c.t > this.candles[this.candles.length - 1].t) this.candles.push(c);
    else if (c.t > this.candles[0].t) {
      this.candles.push(c);
      this.candles.sort((a, b) => a.t - b.t);
    } else return false;
    if (this.candles.length > this.maxCandles) this.candles.splice(0, this.candles.length - this.maxCandles);
    this.draw();
    return true;
  }

  last() {
    return this.candles[this.candles.length - 1];
  }

  layout(padRight = PAD.right) {
    const dpr = window.devicePixelRatio || 1;
    const width = this.canvas.clientWidth;
    const height = this.canvas.clientHeight;
    if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
    }
    const plotW = Math.max(10, width - PAD.left - padRight);
    const plotH = Math.max(10, height - PAD.top - PAD.bottom);
    const volumeH = Math.round(plotH * VOLUME_SHARE);
    return { dpr, width, height, plotW, priceH: plotH - volumeH - 6, volumeTop: PAD.top + plotH - volumeH, volumeH };
  }

  draw() {
    const ctx = this.canvas.getContext('2d');
    let L = this.layout();
    ctx.setTransform(L.dpr, 0, 0, L.dpr, 0, 0);
    ctx.clearRect(0, 0, L.width, L.height);
    ctx.font = FONT;
    ctx.textBaseline = 'middle';
    if (this.candles.length === 0) {
      ctx.fillStyle = COLORS.axis;
      ctx.textAlign = 'center';
      ctx.fillText(this.emptyText, L.width / 2, L.height / 2);
      return;
    }

    let low = Infinity;
    let high = -Infinity;
    let maxVolume = 0;
    for (const c of this.candles) {
      low = Math.min(low, c.l);
      high = Math.max(high, c.h);
      maxVolume = Math.max(maxVolume, c.v);
    }
    if (high === low) {
      const pad = Math.abs(high) * 0.001 || 1;
      high += pad;
      low -= pad;
    }
    const span = high - low;
    high += span * 0.06;
    low -= span * 0.06;
    const yOf = (price) => PAD.top + ((high - price) / (high - low)) * L.priceH;

    // The price axis is as wide as its widest label: the last close is shown exactly as stored
    // (84123.45000000), which a fixed width would clip at the canvas edge.
    const ticks = niceTicks(low, high, Math.max(3, Math.floor(L.priceH / 55)));
    const decimals = decimalsFor(ticks.step);
    const lastText = this.last().close;
    const labelWidth = Math.max(ctx.measureText(lastText).width, ...ticks.values.map((p) => ctx.measureText(formatNumber(p, decimals)).width));
    L = this.layout(Math.max(PAD.right, Math.ceil(labelWidth) + 2 * LABEL_INSET));
    const padRight = L.width - PAD.left - L.plotW;

    const slots = Math.max(this.candles.length, 30);
    const slot = L.plotW / slots;
    // Newest candle at the right edge; with few candles the left stays empty rather than stretching them.
    const x0 = PAD.left + L.plotW - this.candles.length * slot;
    const xOf = (i) => x0 + i * slot + slot / 2;

    // Grid and price axis.
    const yLast = Math.round(yOf(this.last().c)) + 0.5;
    ctx.textAlign = 'left';
    for (const p of ticks.values) {
      const y = Math.round(yOf(p)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(PAD.left, y);
      ctx.lineTo(PAD.left + L.plotW, y);
      ctx.stroke();
      // The last-price tag takes precedence over a grid label it would cover.
      if (Math.abs(y - yLast) < 16) continue;
      ctx.fillStyle = COLORS.axis;
      ctx.fillText(formatNumber(p, decimals), PAD.left + L.plotW + LABEL_INSET, y);
    }

    // Time axis: a label every few candles, aligned to whole slots.
    const every = Math.max(1, Math.ceil(90 / slot));
    ctx.textAlign = 'center';
    ctx.fillStyle = COLORS.axis;
    for (let i = this.candles.length - 1; i >= 0; i -= every) {
      const x = xOf(i);
      if (x < PAD.left + 24) break;
      ctx.fillText(formatTime(this.candles[i].t, this.timeframe), x, L.height - PAD.bottom / 2);
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(Math.round(x) + 0.5, PAD.top);
      ctx.lineTo(Math.round(x) + 0.5, L.volumeTop + L.volumeH);
      ctx.stroke();
    }

    // Volume bars and candles.
    const body = Math.max(1, Math.min(14, slot * 0.7));
    this.candles.forEach((c, i) => {
      const x = xOf(i);
      const up = c.c >= c.o;
      if (maxVolume > 0) {
        const h = (c.v / maxVolume) * L.volumeH;
        ctx.fillStyle = up ? COLORS.upVolume : COLORS.downVolume;
        ctx.fillRect(x - body / 2, L.volumeTop + L.volumeH - h, body, h);
      }
      ctx.strokeStyle = up ? COLORS.up : COLORS.down;
      ctx.fillStyle = up ? COLORS.up : COLORS.down;
      ctx.beginPath();
      ctx.moveTo(Math.round(x) + 0.5, yOf(c.h));
      ctx.lineTo(Math.round(x) + 0.5, yOf(c.l));
      ctx.stroke();
      const top = yOf(Math.max(c.o, c.c));
      const h = Math.max(1, yOf(Math.min(c.o, c.c)) - top);
      ctx.fillRect(x - body / 2, top, body, h);
    });

    // Last close: a dashed line and its exact value on the axis.
    ctx.setLineDash([4, 3]);
    ctx.strokeStyle = COLORS.last;
    ctx.beginPath();
    ctx.moveTo(PAD.left, yLast);
    ctx.lineTo(PAD.left + L.plotW, yLast);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = COLORS.last;
    ctx.fillRect(PAD.left + L.plotW + 2, yLast - 9, padRight - 4, 18);
    ctx.fillStyle = '#fff';
    ctx.textAlign = 'left';
    const labelLeft = PAD.left + L.plotW + LABEL_INSET;
    ctx.fillText(lastText, labelLeft, yLast);

    if (this.hover >= 0 && this.hover < this.candles.length) {
      const x = Math.round(xOf(this.hover)) + 0.5;
      ctx.strokeStyle = COLORS.crosshair;
      ctx.beginPath();
      ctx.moveTo(x, PAD.top);
      ctx.lineTo(x, L.volumeTop + L.volumeH);
      ctx.stroke();
    }
    this.geometry = { x0, slot, width: L.width, priceLabel: { text: lastText, left: labelLeft, right: labelLeft + ctx.measureText(lastText).width } };
  }

  onMove(event) {
    if (!this.geometry || this.candles.length === 0) return;
    const rect = this.canvas.getBoundingClientRect();
    const x = event.clientX - rect.left;
    const i = Math.floor((x - this.geometry.x0) / this.geometry.slot);
    if (i < 0 || i >= this.candles.length) {
      this.hover = -1;
      this.tooltip.hidden = true;
      this.draw();
      return;
    }
    this.hover = i;
    this.draw();
    const c = this.candles[i];
    renderTooltip(this.tooltip, c);
    this.tooltip.hidden = false;
    const left = x + 14 + this.tooltip.offsetWidth > rect.width ? x - 14 - this.tooltip.offsetWidth : x + 14;
    this.tooltip.style.left = `${Math.max(0, left)}px`;
    this.tooltip.style.top = '8px';
  }
}

function withNumbers(c) {
  return { ...c, t: Date.parse(c.openTime), o: Number(c.open), h: Number(c.high), l: Number(c.low), c: Number(c.close), v: Number(c.volume) };
}

function renderTooltip(el, c) {
  el.replaceChildren();
  const title = document.createElement('strong');
  title.textContent = `${c.openTime.replace('T', ' ').replace('Z', '')} UTC`;
  const dl = document.createElement('dl');
  for (const [label, value] of [['Open', c.open], ['High', c.high], ['Low', c.low], ['Close', c.close], ['Volume', c.volume], ['Trades', String(c.tradeCount)]]) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
  }
  el.append(title, dl);
}

/** Round-number grid lines (1, 2, 2.5, 5 × 10^n) between low and high. */
function niceTicks(low, high, count) {
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const values = [];
  for (let v = Math.ceil(low / step) * step; v <= high; v += step) values.push(v);
  return { step, values };
}

function decimalsFor(step) {
  return Math.max(0, Math.min(8, -Math.floor(Math.log10(step)) + 1));
}

function formatNumber(value, decimals) {
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals, useGrouping: false });
}

function formatTime(ms, timeframe) {
  const iso = new Date(ms).toISOString();
  if (timeframe === '1d' || timeframe === '1w' || timeframe === '1M') return iso.slice(0, 10);
  if (timeframe === '4h' || timeframe === '1h') return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(11, 16);
}
