// Checks two scrapes of keeld's /metrics (before and after orders flowed):
// both parse with parse-prometheus-text-format and with the strict reader
// below (text format 0.0.4: names, label escaping, HELP/TYPE once and before
// the samples, families contiguous, no duplicate series, counters named
// _total, base units, histograms with cumulative _bucket series ending in
// le="+Inf" equal to _count, plus _sum); the queue, HTTP, pipeline, store
// and confirm series exist; and the counters that orders drive moved.
// Usage: node metrics_check.mjs BEFORE_FILE AFTER_FILE ORDERS_ACCEPTED
// Prints "ok   - ..." / "FAIL - ..." lines; exits 0 when every check passed.
import { readFileSync } from 'node:fs';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

const [beforePath, afterPath, acceptedArg] = process.argv.slice(2);
if (!beforePath || !afterPath || !acceptedArg) {
  console.error('usage: node metrics_check.mjs BEFORE_FILE AFTER_FILE ORDERS_ACCEPTED');
  process.exit(2);
}
const accepted = Number(acceptedArg);

let failures = 0;
const ok = (msg) => console.log('ok   - ' + msg);
const fail = (msg) => { failures++; console.log('FAIL - ' + msg); };
const check = (cond, msg, detail = '') => (cond ? ok(msg) : fail(detail ? `${msg}: ${detail}` : msg));

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
// Prometheus wants base units: seconds and bytes, not ms or KiB.
const NON_BASE_UNIT = /_(ms|millis|milliseconds|us|micros|microseconds|ns|nanoseconds|minutes|hours|days|kb|kib|mb|mib|gb|gib|kilobytes|megabytes)(_|$)/i;

function parseValue(text) {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value '${text}'`);
  return Number(text);
}

// Labels between the braces: name="value" pairs, comma separated, values
// with only \\, \" and \n escapes. Returns [labels, index after '}'].
function parseLabels(line, start) {
  const labels = {};
  let i = start;
  if (line[i] === '}') return [labels, i + 1];
  for (;;) {
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (!m) throw new Error(`bad label name at column ${i + 1}`);
    const name = m[0];
    if (name.startsWith('__')) throw new Error(`reserved label name ${name}`);
    if (name in labels) throw new Error(`label ${name} repeated`);
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`expected =" after ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) throw new Error(`unterminated value of ${name}`);
      if (c === '"') { i++; break; }
      if (c === '\\') {
        const e = line[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`bad escape \\${e} in ${name}`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    if (line[i] === '}') return [labels, i + 1];
    if (line[i] !== ',') throw new Error(`expected , or } after ${name}`);
    i++;
  }
}

const seriesKey = (name, labels) =>
  name + '{' + Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',') + '}';

// The strict reader. Returns {families: Map(name -> {type, help, samples[]}), errors[]}.
function strictParse(text) {
  const errors = [];
  const families = new Map();
  const seen = new Set();
  let current = null; // family whose samples are being read
  const closed = new Set();
  if (!text.endsWith('\n')) errors.push('the exposition does not end with a newline');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const family = (name) => {
    if (!families.has(name)) families.set(name, { name, type: 'untyped', help: null, typed: false, samples: [] });
    return families.get(name);
  };
  const enter = (name, lineNo) => {
    if (current === name) return;
    if (closed.has(name)) errors.push(`line ${lineNo}: family ${name} appears again after other families`);
    if (current) closed.add(current);
    current = name;
  };
  lines.forEach((line, idx) => {
    const lineNo = idx + 1;
    try {
      if (line.trim() === '') throw new Error('empty line');
      if (line.startsWith('#')) {
        const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
        if (!m) { if (!/^# /.test(line)) throw new Error('bad comment'); return; }
        const [, kind, name, rest = ''] = m;
        if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
        enter(name, lineNo);
        const f = family(name);
        if (f.samples.length) throw new Error(`${kind} after samples of ${name}`);
        if (kind === 'HELP') {
          if (f.help !== null) throw new Error(`second HELP for ${name}`);
          if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`bad escape in HELP of ${name}`);
          f.help = rest;
        } else {
          if (f.typed) throw new Error(`second TYPE for ${name}`);
          if (!TYPES.has(rest)) throw new Error(`unknown type '${rest}' for ${name}`);
          f.type = rest;
          f.typed = true;
        }
        return;
      }
      const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
      if (!m) throw new Error('bad sample name');
      const name = m[0];
      let i = name.length;
      let labels = {};
      if (line[i] === '{') [labels, i] = parseLabels(line, i + 1);
      const rest = line.slice(i);
      const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
      if (!vm) throw new Error(`bad value/timestamp part '${rest}'`);
      const value = parseValue(vm[1]);
      // Which family: the histogram/summary base name for suffixed samples.
      let base = name, suffix = '';
      for (const s of ['_bucket', '_sum', '_count']) {
        const b = name.slice(0, -s.length);
        if (name.endsWith(s) && families.has(b) && ['histogram', 'summary'].includes(families.get(b).type)) {
          base = b; suffix = s;
        }
      }
      enter(base, lineNo);
      const f = family(base);
      if (f.type === 'histogram' && !suffix) throw new Error(`histogram ${base} sample without _bucket/_sum/_count`);
      if (suffix === '_bucket' && !('le' in labels)) throw new Error(`${name} without le`);
      if (suffix !== '_bucket' && 'le' in labels) throw new Error(`${name} with le`);
      const key = seriesKey(name, labels);
      if (seen.has(key)) throw new Error(`duplicate series ${key}`);
      seen.add(key);
      f.samples.push({ name, suffix, labels, value });
    } catch (e) {
      errors.push(`line ${lineNo}: ${e.message}: ${line}`);
    }
  });
  // Per-family rules.
  for (const f of families.values()) {
    if (!f.typed) errors.push(`${f.name}: no TYPE line`);
    if (f.help === null) errors.push(`${f.name}: no HELP line`);
    if (!f.samples.length) errors.push(`${f.name}: HELP/TYPE without samples`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) errors.push(`${f.name}: a counter not named *_total`);
    if (f.type !== 'counter' && f.name.endsWith('_total')) errors.push(`${f.name}: a ${f.type} named *_total`);
    if (NON_BASE_UNIT.test(f.name)) errors.push(`${f.name}: not in base units (seconds, bytes)`);
    if (f.type === 'counter') {
      for (const s of f.samples) if (!(s.value >= 0)) errors.push(`${seriesKey(s.name, s.labels)}: counter value ${s.value}`);
    }
    if (f.type === 'histogram') {
      const groups = new Map();
      for (const s of f.samples) {
        const { le, ...rest } = s.labels;
        const k = seriesKey(f.name, rest);
        if (!groups.has(k)) groups.set(k, { buckets: [], sum: undefined, count: undefined });
        const g = groups.get(k);
        if (s.suffix === '_bucket') g.buckets.push([parseValue(le), s.value, le]);
        else if (s.suffix === '_sum') g.sum = s.value;
        else g.count = s.value;
      }
      for (const [k, g] of groups) {
        if (g.sum === undefined || g.count === undefined) { errors.push(`${k}: no _sum or _count`); continue; }
        if (!g.buckets.length) { errors.push(`${k}: no buckets`); continue; }
        for (let j = 1; j < g.buckets.length; j++) {
          if (!(g.buckets[j][0] > g.buckets[j - 1][0])) errors.push(`${k}: le not ascending at ${g.buckets[j][2]}`);
          if (g.buckets[j][1] < g.buckets[j - 1][1]) errors.push(`${k}: buckets not cumulative at le=${g.buckets[j][2]}`);
        }
        const last = g.buckets[g.buckets.length - 1];
        if (last[2] !== '+Inf') errors.push(`${k}: last bucket is le="${last[2]}", not "+Inf"`);
        else if (last[1] !== g.count) errors.push(`${k}: le="+Inf" ${last[1]} != _count ${g.count}`);
      }
    }
  }
  return { families, errors };
}

// Value of the series of `name` whose labels include `want` (sum over matches).
function value(parsed, name, want = {}, suffix = '') {
  const base = suffix ? name : name;
  const f = parsed.families.get(base);
  if (!f) return undefined;
  let total, found = false;
  for (const s of f.samples) {
    if (s.name !== name + suffix) continue;
    if (Object.entries(want).every(([k, v]) => s.labels[k] === v)) {
      total = (total || 0) + s.value;
      found = true;
    }
  }
  return found ? total : undefined;
}

const texts = { before: readFileSync(beforePath, 'utf8'), after: readFileSync(afterPath, 'utf8') };
const parsed = {};
for (const [when, text] of Object.entries(texts)) {
  // 1. The npm parser: throws on any line it rejects.
  let lib;
  try {
    lib = parsePrometheusTextFormat(text);
    ok(`${when}: parse-prometheus-text-format read ${lib.length} families`);
  } catch (e) {
    fail(`${when}: parse-prometheus-text-format rejected a line: ${e.message}`);
  }
  // 2. The strict reader.
  const p = strictParse(text);
  parsed[when] = p;
  if (p.errors.length) fail(`${when}: ${p.errors.length} format problem(s):\n    ` + p.errors.slice(0, 20).join('\n    '));
  else ok(`${when}: strict text-format check: ${p.families.size} families, HELP/TYPE once each and first, no duplicate series, histograms well-formed`);
  // 3. Both readers agree on the families, their types and (for counters and gauges) values.
  if (lib) {
    const libNames = lib.map((f) => f.name).join(' ');
    const ours = [...p.families.keys()].join(' ');
    check(libNames === ours, `${when}: both parsers see the same families in the same order`, `${libNames} vs ${ours}`);
    const mismatches = [];
    for (const lf of lib) {
      const f = p.families.get(lf.name);
      if (!f) continue;
      if (lf.type.toLowerCase() !== f.type) mismatches.push(`${lf.name}: type ${lf.type} vs ${f.type}`);
      if (lf.help !== (f.help || '').replace(/\\n/g, '\n').replace(/\\\\/g, '\\')) mismatches.push(`${lf.name}: help differs`);
      if (f.type === 'counter' || f.type === 'gauge') {
        for (const m of lf.metrics) {
          const v = value(p, lf.name, m.labels || {});
          if (v === undefined || Number(m.value) !== v) mismatches.push(`${lf.name}${JSON.stringify(m.labels)}: ${m.value} vs ${v}`);
        }
      }
    }
    check(!mismatches.length, `${when}: both parsers agree on types, help texts and counter/gauge values`, mismatches.slice(0, 5).join('; '));
  }
}

const { before, after } = parsed;
// The subsystems' series exist.
for (const prefix of ['keel_queue_', 'keel_http_', 'keel_pipeline_', 'keel_store_', 'keel_confirm_']) {
  const names = [...after.families.keys()].filter((n) => n.startsWith(prefix));
  check(names.length > 0, `${prefix}* series present (${names.length} families: ${names.slice(0, 4).join(', ')}${names.length > 4 ? ', ...' : ''})`);
}

// Counters never go down between the scrapes.
const decreased = [];
for (const f of after.families.values()) {
  if (f.type !== 'counter' && f.type !== 'histogram') continue;
  for (const s of f.samples) {
    if (f.type === 'histogram' && s.suffix === '_sum') continue;
    const b = before.families.get(f.name)?.samples.find((x) => x.name === s.name && seriesKey(x.name, x.labels) === seriesKey(s.name, s.labels));
    if (b && s.value < b.value) decreased.push(`${seriesKey(s.name, s.labels)} ${b.value} -> ${s.value}`);
  }
}
check(!decreased.length, 'no counter or bucket went down between the scrapes', decreased.slice(0, 5).join('; '));

// The counters that orders drive moved.
function moved(name, want, minDelta, suffix = '') {
  const b = value(before, name, want, suffix) ?? 0;
  const a = value(after, name, want, suffix);
  const label = `${name}${suffix}${JSON.stringify(want)}`;
  check(a !== undefined && a - b >= minDelta, `${label} moved by >= ${minDelta} (${b} -> ${a})`);
}
moved('keel_queue_sent_total', { queue: 'orders' }, accepted);
moved('keel_queue_received_total', { queue: 'orders' }, accepted);
moved('keel_queue_deleted_total', { queue: 'orders' }, accepted);
moved('keel_http_requests_total', { route: 'orders_create', method: 'POST', status: '2xx' }, accepted);
moved('keel_http_requests_total', { route: 'orders_create', method: 'POST', status: '4xx' }, 1);
moved('keel_http_request_seconds', { route: 'orders_create' }, accepted, '_count');
moved('keel_http_request_seconds', { route: 'orders_create' }, 1e-9, '_sum');
moved('keel_pipeline_messages_total', { pipeline: 'orders', result: 'ok' }, accepted);
moved('keel_pipeline_step_seconds', { pipeline: 'orders', step: 'confirm' }, 1, '_count');
moved('keel_pipeline_step_seconds', { pipeline: 'orders', step: 'store' }, 1, '_count');
moved('keel_pipeline_step_seconds', { pipeline: 'orders', step: 'store' }, 1e-9, '_sum');
moved('keel_store_commits_total', {}, 1);
moved('keel_confirm_numbers_total', {}, accepted);

process.exit(failures ? 1 : 0);
