// keel dashboard: polls /metrics and the queue admin API every 2 s, keeps
// 5 minutes of samples in memory and draws them on canvases. Rates come
// from counter deltas between scrapes; quantiles are estimated from
// histogram bucket deltas the way Prometheus' histogram_quantile() does
// (linear interpolation inside the bucket). No framework, no CDN.
'use strict';

const REFRESH_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;
const LATENCY_WINDOW_MS = 10 * 1000; // each latency point covers the last 10 s
const SUMMARY_WINDOW_MS = 60 * 1000; // the p99 tile covers the last minute
const COLORS = { blue: '#1f6feb', green: '#1a7f37', red: '#c62828', amber: '#bf8700', violet: '#8250df', grey: '#6e7781' };

const $ = (sel) => document.querySelector(sel);
const samples = []; // {t, m: Map(name -> [{labels, value}])}

// ---- /metrics ----

function parseLabels(text) {
  const labels = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (!out.has(m[1])) out.set(m[1], []);
    out.get(m[1]).push({ labels: m[2] ? parseLabels(m[2]) : {}, value });
  }
  return out;
}

const matches = (labels, want) => Object.entries(want).every(([k, v]) => labels[k] === v);

function sum(m, name, want = {}) {
  let total = 0;
  for (const s of m.get(name) || []) if (matches(s.labels, want)) total += s.value;
  return total;
}

// Cumulative buckets [{le, count}] of a histogram, summed over matching series.
function buckets(m, name, want = {}) {
  const byLe = new Map();
  for (const s of m.get(name + '_bucket') || []) {
    if (!matches(s.labels, want)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    byLe.set(le, (byLe.get(le) || 0) + s.value);
  }
  return [...byLe.entries()].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

function quantile(q, cumulative) {
  if (!cumulative.length) return null;
  const total = cumulative[cumulative.length - 1].count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const b of cumulative) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe; // as histogram_quantile: the highest finite bound
      const inBucket = b.count - prevCount;
      return inBucket > 0 ? prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket) : b.le;
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

// Bucket counts observed between two samples (negative after a restart: start over).
function bucketDelta(newer, older) {
  if (!older) return newer;
  const old = new Map(older.map((b) => [b.le, b.count]));
  const delta = newer.map((b) => ({ le: b.le, count: b.count - (old.get(b.le) || 0) }));
  return delta.some((b) => b.count < 0) ? newer : delta;
}

// The sample closest to `ms` before the last one (or the oldest).
function sampleBefore(ms) {
  const last = samples[samples.length - 1];
  for (let i = samples.length - 2; i >= 0; i--) if (last.t - samples[i].t >= ms) return samples[i];
  return samples.length > 1 ? samples[0] : null;
}

function rate(newer, older, name, want) {
  if (!older) return null;
  const dt = (newer.t - older.t) / 1000;
  const d = sum(newer.m, name, want) - sum(older.m, name, want);
  return dt > 0 ? Math.max(d, 0) / dt : null;
}

// ---- series kept for the charts ----

const series = {
  depth: [
    { label: 'Visible', color: COLORS.blue, points: [] },
    { label: 'In flight', color: COLORS.amber, points: [] },
    { label: 'DLQ', color: COLORS.red, points: [] },
  ],
  rate: [
    { label: 'Accepted', color: COLORS.blue, points: [] },
    { label: 'Processed', color: COLORS.green, points: [] },
    { label: 'Failed', color: COLORS.red, points: [] },
  ],
  http: [
    { label: 'p50', color: COLORS.blue, points: [] },
    { label: 'p99', color: COLORS.violet, points: [] },
  ],
  step: [
    { label: 'p50', color: COLORS.green, points: [] },
    { label: 'p99', color: COLORS.violet, points: [] },
  ],
};

function push(list, t, v) {
  list.points.push({ t, v });
  while (list.points.length && list.points[0].t < t - WINDOW_MS) list.points.shift();
}

const ORDER_POST = { route: 'orders_create' };

function record(queues) {
  const now = samples[samples.length - 1];
  const prev = samples.length > 1 ? samples[samples.length - 2] : null;
  const t = now.t;
  const totals = queues.reduce((a, q) => ({ visible: a.visible + q.visible, in_flight: a.in_flight + q.in_flight, dlq: a.dlq + q.dlq_depth }),
    { visible: 0, in_flight: 0, dlq: 0 });
  push(series.depth[0], t, totals.visible);
  push(series.depth[1], t, totals.in_flight);
  push(series.depth[2], t, totals.dlq);

  const accepted = rate(now, prev, 'keel_http_requests_total', { ...ORDER_POST, status: '2xx' });
  const processed = rate(now, prev, 'keel_pipeline_messages_total', { result: 'ok' });
  const failed = rate(now, prev, 'keel_pipeline_messages_total', { result: 'fail' });
  if (prev) {
    push(series.rate[0], t, accepted);
    push(series.rate[1], t, processed);
    push(series.rate[2], t, failed);
  }

  const windowed = (name, want, ms) => {
    const older = sampleBefore(ms);
    return bucketDelta(buckets(now.m, name, want), older ? buckets(older.m, name, want) : null);
  };
  const ms = (v) => (v === null ? null : v * 1000);
  const httpB = windowed('keel_http_request_seconds', ORDER_POST, LATENCY_WINDOW_MS);
  const stepB = windowed('keel_pipeline_step_seconds', {}, LATENCY_WINDOW_MS);
  push(series.http[0], t, ms(quantile(0.5, httpB)));
  push(series.http[1], t, ms(quantile(0.99, httpB)));
  push(series.step[0], t, ms(quantile(0.5, stepB)));
  push(series.step[1], t, ms(quantile(0.99, stepB)));

  // Tiles.
  const fmtRate = (v) => (v === null ? '—' : v < 10 ? v.toFixed(1) : Math.round(v).toString());
  $('#kpi-accepted').textContent = fmtRate(accepted);
  $('#kpi-processed').textContent = fmtRate(processed);
  $('#kpi-failed').textContent = fmtRate(failed);
  $('#kpi-failed').classList.toggle('bad', (failed || 0) > 0);
  const p99 = ms(quantile(0.99, windowed('keel_http_request_seconds', ORDER_POST, SUMMARY_WINDOW_MS)));
  $('#kpi-http-p99').textContent = p99 === null ? '—' : formatMs(p99);
  $('#kpi-dlq').textContent = totals.dlq;
  $('#kpi-dlq').classList.toggle('bad', totals.dlq > 0);

  // Per step, over the last minute.
  const steps = [...new Set((now.m.get('keel_pipeline_step_seconds_count') || []).map((s) => s.labels.step).filter(Boolean))];
  $('#step-detail').textContent = steps.map((step) => {
    const b = windowed('keel_pipeline_step_seconds', { step }, SUMMARY_WINDOW_MS);
    const p50 = ms(quantile(0.5, b)), p99s = ms(quantile(0.99, b));
    return p50 === null ? `${step}: idle` : `${step}: p50 ${formatMs(p50)} · p99 ${formatMs(p99s)}`;
  }).join('   |   ') + (steps.length ? '   (last minute)' : '');
}

function formatMs(v) {
  if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
  if (v >= 10) return Math.round(v) + ' ms';
  if (v >= 1) return v.toFixed(1) + ' ms';
  return v.toFixed(2) + ' ms';
}

// ---- charts ----

function niceStep(range, ticks) {
  const raw = range / ticks;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function drawChart(canvas, lines, opts = {}) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const pad = { left: 48, right: 10, top: 10, bottom: 22 };
  const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  // The time axis grows with the data, from 1 minute up to the 5 kept.
  const first = samples.length ? samples[0].t : now;
  const span = Math.min(WINDOW_MS, Math.max(60000, now - first));
  const t0 = now - span;
  let max = 0, count = 0;
  for (const l of lines) {
    for (const p of l.points) if (p.v !== null && p.v > max) max = p.v;
    count = Math.max(count, l.points.filter((p) => p.v !== null).length);
  }
  canvas.dataset.points = String(count);
  const step = niceStep(max > 0 ? max : opts.minMax || 1, 4);
  const top = Math.max(step * Math.ceil((max > 0 ? max : opts.minMax || 1) / step), step);
  const x = (t) => pad.left + ((t - t0) / span) * w;
  const y = (v) => pad.top + h - (v / top) * h;

  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'right';
  for (let v = 0; v <= top + step / 2; v += step) {
    ctx.strokeStyle = v === 0 ? '#b8c1ca' : '#eaeef2';
    ctx.beginPath();
    ctx.moveTo(pad.left, Math.round(y(v)) + 0.5);
    ctx.lineTo(pad.left + w, Math.round(y(v)) + 0.5);
    ctx.stroke();
    ctx.fillStyle = '#5b6670';
    ctx.fillText(opts.format ? opts.format(v) : String(+v.toPrecision(3)), pad.left - 6, y(v));
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const tick = [10000, 15000, 30000, 60000].find((t) => span / t <= 6) || 60000;
  for (let ago = Math.floor(span / tick) * tick; ago >= 0; ago -= tick) {
    const tx = x(now - ago);
    const label = ago === 0 ? 'now' : ago % 60000 === 0 ? `−${ago / 60000} min` : `−${ago / 1000} s`;
    ctx.fillStyle = '#5b6670';
    ctx.fillText(label, Math.min(Math.max(tx, pad.left + 14), pad.left + w - 12), pad.top + h + 6);
  }

  for (const l of lines) {
    ctx.strokeStyle = l.color;
    ctx.fillStyle = l.color;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    let drawing = false, lastX = 0, lastY = 0, solo = 0;
    for (const p of l.points) {
      if (p.v === null || p.t < t0) { drawing = false; continue; }
      const px = x(p.t), py = y(p.v);
      if (drawing) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      drawing = true;
      lastX = px; lastY = py; solo++;
    }
    ctx.stroke();
    if (solo) { // mark the latest value
      ctx.beginPath();
      ctx.arc(lastX, lastY, 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

function renderLegend(id, lines, format) {
  const ul = $(id);
  ul.replaceChildren(...lines.map((l) => {
    const li = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.dataset.color = l.color;
    const last = [...l.points].reverse().find((p) => p.v !== null);
    li.append(swatch, `${l.label} `);
    const b = document.createElement('b');
    b.textContent = last ? format(last.v) : '—';
    li.append(b);
    return li;
  }));
  // CSP forbids inline style attributes; CSSOM assignments are fine.
  ul.querySelectorAll('.swatch').forEach((s) => { s.style.background = s.dataset.color; });
}

function drawAll() {
  const int = (v) => String(Math.round(v));
  const r = (v) => (v < 10 ? v.toFixed(1) : String(Math.round(v)));
  drawChart($('#chart-depth'), series.depth, { minMax: 5 });
  drawChart($('#chart-rate'), series.rate, { minMax: 1 });
  drawChart($('#chart-http'), series.http, { minMax: 1 });
  drawChart($('#chart-step'), series.step, { minMax: 1 });
  renderLegend('#legend-depth', series.depth, int);
  renderLegend('#legend-rate', series.rate, r);
  renderLegend('#legend-http', series.http, formatMs);
  renderLegend('#legend-step', series.step, formatMs);
}

// ---- tables ----

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function formatAge(s) {
  if (!(s > 0)) return '—';
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
  if (s < 3600) return Math.round(s / 60) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}

function renderQueues(queues) {
  $('#queues tbody').replaceChildren(...queues.map((q) => {
    const tr = document.createElement('tr');
    tr.append(cell(q.name), cell(q.visible, 'num'), cell(q.in_flight, 'num'), cell(q.delayed, 'num'),
      cell(q.dlq_depth, 'num' + (q.dlq_depth > 0 ? ' bad' : '')), cell(formatAge(q.oldest_age_seconds), 'num'),
      cell(q.counters ? q.counters.sent : '', 'num'), cell(q.counters ? q.counters.dead_lettered : '', 'num'));
    return tr;
  }));
}

function renderDlq(entries) {
  entries.sort((a, b) => (a.dead_lettered_at < b.dead_lettered_at ? 1 : -1));
  const latest = entries.slice(0, 10);
  $('#dlq-empty').hidden = latest.length > 0;
  $('#dlq').hidden = latest.length === 0;
  $('#dlq tbody').replaceChildren(...latest.map((e) => {
    const tr = document.createElement('tr');
    const when = e.dead_lettered_at ? new Date(e.dead_lettered_at).toLocaleTimeString() : '';
    const order = (e.attributes && e.attributes.order_id) || e.message_id;
    tr.append(cell(when), cell(e.queue), cell(order, 'mono'), cell(e.failed_step || '—'),
      cell(e.receive_count, 'num'), cell(e.last_error || e.first_error || '—', 'reason'));
    return tr;
  }));
}

function renderAlarms(m) {
  const firing = (m.get('keel_alarm_firing') || []);
  const box = $('#alarms');
  if (!firing.length) {
    const span = document.createElement('span');
    span.className = 'muted';
    span.textContent = 'none configured';
    box.replaceChildren(span);
    $('#alarm-tile').classList.remove('firing');
    return;
  }
  box.replaceChildren(...firing.map((s) => {
    const div = document.createElement('div');
    div.className = 'alarm ' + (s.value > 0 ? 'alarm-firing' : 'alarm-ok');
    div.dataset.alarm = s.labels.alarm || '';
    div.textContent = `${s.labels.alarm || 'alarm'} ${s.value > 0 ? 'FIRING' : 'OK'}`;
    div.title = `queue ${s.labels.queue || '?'}`;
    return div;
  }));
  $('#alarm-tile').classList.toggle('firing', firing.some((s) => s.value > 0));
}

// ---- polling ----

async function getJson(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

async function dlqEntries(queue) {
  // Oldest first, paged: follow a few pages to reach the newest entries.
  let entries = [], cursor = null;
  for (let page = 0; page < 5; page++) {
    const q = `/api/v1/admin/queues/${encodeURIComponent(queue)}/dlq?limit=100` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : '');
    const d = await getJson(q);
    entries = entries.concat(d.messages.map((e) => ({ ...e, queue })));
    if (entries.length > 100) entries = entries.slice(-100);
    cursor = d.next_cursor;
    if (!cursor) break;
  }
  return entries;
}

async function tick() {
  try {
    const [metricsText, queuesDoc] = await Promise.all([
      fetch('/metrics', { cache: 'no-store' }).then((r) => {
        if (!r.ok) throw new Error(`/metrics: HTTP ${r.status}`);
        return r.text();
      }),
      getJson('/api/v1/admin/queues'),
    ]);
    const m = parseMetrics(metricsText);
    samples.push({ t: Date.now(), m });
    while (samples.length > 2 && samples[0].t < Date.now() - WINDOW_MS - 60000) samples.shift();
    const queues = queuesDoc.queues || [];
    record(queues);
    renderQueues(queues);
    renderAlarms(m);
    const dlqs = await Promise.all(queues.filter((q) => q.dlq_depth > 0).map((q) => dlqEntries(q.name)));
    renderDlq(dlqs.flat());
    $('#fetch-error').hidden = true;
    $('#updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
  } catch (e) {
    $('#fetch-error').textContent = 'Cannot refresh: ' + e.message;
    $('#fetch-error').hidden = false;
  }
  drawAll();
}

window.addEventListener('resize', drawAll);
tick();
setInterval(tick, REFRESH_MS);
