// orders_load.mjs — load client and checker for the order API, used by
// tests/integration/orders_e2e.sh and orders_crash.sh. Plain node (http
// module, keep-alive agent): no npm packages.
//
//   node orders_load.mjs post   --base=URL --count=N --concurrency=C --customers=K --prefix=P --out=FILE
//   node orders_load.mjs stream --base=URL --concurrency=C --customers=K --prefix=P --out=FILE --stop=FILE
//        [--rate=R (POSTs/s, no catching up after a stall)] [--lat-out=FILE --lat-every=S]
//   node orders_load.mjs wait   --base=URL --acked=FILE --deadline=S
//   node orders_load.mjs check  --base=URL --acked=FILE [--exact] [--sample=N] [--repost=N] [--snapshots=FILE]
//   node orders_load.mjs snapshot --base=URL --acked=FILE --count=N --out=FILE
//
// The acked file has one line per order the server acknowledged with 202:
// "acked <order_id> <customer_id> <index>". An order's payload is a pure
// function of (order_id, customer_id, index), so any step can rebuild it.
// Verdicts go to stdout as "ok <text>" / "fail <text>" lines (the bash test
// turns them into pass/fail); progress goes to stderr.
import fs from 'node:fs';
import http from 'node:http';

const args = Object.fromEntries(
  process.argv.slice(3).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    return [m[1], m[2] ?? true];
  }),
);
const cmd = process.argv[2];
const base = new URL(args.base ?? 'http://127.0.0.1:8080');
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(args.concurrency ?? 16) });

const ok = (t) => console.log(`ok ${t}`);
const bad = (t) => console.log(`fail ${t}`);
const info = (t) => console.error(`[orders_load ${cmd}] ${t}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- Damm check digit (the standard order-10 totally anti-symmetric quasigroup) ----
const DAMM = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2], [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
  [4, 2, 0, 6, 8, 7, 1, 3, 5, 9], [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
  [6, 1, 2, 3, 0, 4, 5, 9, 7, 8], [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4], [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
  [9, 4, 3, 8, 6, 1, 7, 2, 0, 5], [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];
const dammInterim = (digits) => [...digits].reduce((i, d) => DAMM[i][d.charCodeAt(0) - 48], 0);
export const dammDigit = (digits) => dammInterim(digits);
const NUMBER_RE = /^KEEL-\d{8}-\d{9,}$/; // {yyyy}{mm}{dd}-{seq}{check}, seq >= 8 digits
// A confirmation number is valid when its shape matches and the Damm interim
// over all its digits (date, sequence and the check digit) is 0.
const numberValid = (n) => typeof n === 'string' && NUMBER_RE.test(n) && dammInterim(n.replace(/\D/g, '')) === 0;
// The checker checks itself: a checker that accepts anything cannot fail.
// (The check digit covers every digit before it: date and sequence.)
if (dammDigit('572') !== 4 || dammDigit('20261122000000427') !== 4 || !numberValid('KEEL-20261122-0000004274') ||
    numberValid('KEEL-20261122-0000004273') || numberValid('KEEL-20261122-0000002474') || numberValid('KEEL-2026112-0000004274')) {
  console.log('fail the Damm self-test of orders_load.mjs');
  process.exit(2);
}

// ---- orders ----
// The payload of order `index`: camelCase (seed 004's shape) for even
// indexes, snake_case for odd ones; 1–3 lines, prices with 2 decimals.
export function orderFor(id, customer, index) {
  const lines = 1 + (index % 3);
  const items = [];
  let cents = 0;
  for (let j = 0; j < lines; j++) {
    const q = 1 + ((index * 7 + j) % 5);
    const p = 99 + ((index * 31 + j * 1777) % 9000);
    cents += q * p;
    items.push({ pid: `PROD-${String((index + j) % 1000).padStart(3, '0')}`, name: `Item ${j} of ${id}`, q, p });
  }
  const expected = {
    order_id: id,
    customer_id: customer,
    amount: cents,
    items: items.map((it) => ({ product_id: it.pid, name: it.name, quantity: it.q, price: it.p })),
  };
  let body;
  if (index % 2 === 0) {
    body = {
      orderId: id, customerId: customer, orderDate: '2025-03-06T16:30:00Z',
      items: items.map((it) => ({ productId: it.pid, name: it.name, quantity: it.q, price: it.p / 100 })),
      shippingAddress: { street: `${index} Main St`, city: 'Anytown', state: 'CA', zipCode: '12345' },
      paymentMethod: 'credit_card', totalAmount: cents / 100,
    };
  } else {
    body = {
      order_id: id, customer_id: customer, amount: cents / 100,
      items: items.map((it) => ({ product_id: it.pid, name: it.name, quantity: it.q, price: it.p / 100 })),
    };
  }
  return { body: JSON.stringify(body), expected };
}

const customerOf = (prefix, i, customers) => `${prefix}-C${String(i % customers).padStart(2, '0')}`;
const orderIdOf = (prefix, i) => `${prefix}-${String(i).padStart(6, '0')}`;

// ---- HTTP ----
function request(method, path, body, timeoutMs = 20000) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: base.hostname, port: base.port, method, path, agent, timeout: timeoutMs,
        headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json = null;
          try { json = JSON.parse(text); } catch { /* not JSON */ }
          resolve({ status: res.statusCode, text, json });
        });
        res.on('error', (e) => resolve({ status: 0, error: e.code || e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, error: e.code || e.message }));
    if (body) req.write(body);
    req.end();
  });
}

async function pool(n, concurrency, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

function readAcked(file) {
  const orders = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'acked' && f.length === 4) orders.push({ id: f[1], customer: f[2], index: Number(f[3]) });
  }
  return orders;
}

// Every order of a customer through the list endpoint, page by page.
async function listCustomer(customer, limit = 100) {
  const pages = [];
  let cursor = null;
  for (let guard = 0; guard < 10000; guard++) {
    let path = `/api/v1/orders?customer_id=${encodeURIComponent(customer)}&limit=${limit}`;
    if (cursor) path += `&cursor=${encodeURIComponent(cursor)}`;
    const r = await request('GET', path);
    if (r.status !== 200 || !r.json || !Array.isArray(r.json.orders)) {
      return { error: `GET ${path}: ${r.status} ${r.error ?? r.text?.slice(0, 200)}` };
    }
    pages.push(r.json);
    if (r.json.next_cursor === null) return { pages, orders: pages.flatMap((p) => p.orders) };
    if (typeof r.json.next_cursor !== 'string' || r.json.next_cursor === '') {
      return { error: `next_cursor is neither a string nor null: ${JSON.stringify(r.json.next_cursor)}` };
    }
    cursor = r.json.next_cursor;
  }
  return { error: `more than 10000 pages for ${customer}` };
}

const byCustomer = (orders) => {
  const m = new Map();
  for (const o of orders) {
    if (!m.has(o.customer)) m.set(o.customer, []);
    m.get(o.customer).push(o);
  }
  return m;
};

const cents = (x) => (typeof x === 'number' ? Math.round(x * 100) : NaN);
function sameOrder(stored, expected) {
  const o = stored?.order;
  if (!o || stored.order_id !== expected.order_id || stored.customer_id !== expected.customer_id) return 'ids';
  if (o.order_id !== expected.order_id || o.customer_id !== expected.customer_id) return 'order ids';
  if (cents(o.amount) !== expected.amount || Math.abs(o.amount * 100 - expected.amount) > 1e-6) return 'amount';
  if (!Array.isArray(o.items) || o.items.length !== expected.items.length) return 'item count';
  for (let j = 0; j < o.items.length; j++) {
    const a = o.items[j], e = expected.items[j];
    if (a.product_id !== e.product_id || a.name !== e.name || a.quantity !== e.quantity ||
        cents(a.price) !== e.price || Math.abs(a.price * 100 - e.price) > 1e-6) return `item ${j}`;
  }
  return null;
}

const pick = (arr, n) => {
  const a = [...arr];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, n);
};

// ---- commands ----
async function post() {
  const n = Number(args.count ?? 10000), conc = Number(args.concurrency ?? 64);
  const customers = Number(args.customers ?? 20), prefix = args.prefix ?? 'E2E';
  const fd = fs.openSync(args.out, 'w');
  const statuses = {};
  const wrong = [];
  const t0 = Date.now();
  await pool(n, conc, async (i) => {
    const id = orderIdOf(prefix, i), customer = customerOf(prefix, i, customers);
    const r = await request('POST', '/api/v1/orders', orderFor(id, customer, i).body);
    const key = r.status || r.error;
    statuses[key] = (statuses[key] ?? 0) + 1;
    if (r.status === 202 && r.json?.order_id === id && r.json?.status === 'QUEUED') {
      fs.writeSync(fd, `acked ${id} ${customer} ${i}\n`);
    } else if (wrong.length < 5) {
      wrong.push(`${id}: ${key} ${r.text?.slice(0, 200) ?? ''}`);
    }
  });
  fs.closeSync(fd);
  const ms = Date.now() - t0;
  info(`${n} POSTs in ${ms} ms (${Math.round((n * 1000) / ms)}/s), statuses ${JSON.stringify(statuses)}`);
  if (statuses[202] === n && wrong.length === 0) {
    ok(`all ${n} POSTs (${conc} in flight, ${customers} customers) got 202 {order_id, status: QUEUED} in ${ms} ms`);
  } else {
    bad(`POSTs: statuses ${JSON.stringify(statuses)}, e.g. ${wrong.join(' | ')}`);
  }
}

async function stream() {
  const conc = Number(args.concurrency ?? 16), customers = Number(args.customers ?? 8);
  const prefix = args.prefix ?? 'CRASH';
  const fd = fs.openSync(args.out, 'a');
  const statuses = {};
  let next = 0;
  const t0 = Date.now();
  const maxMs = Number(args['max-seconds'] ?? 600) * 1000;
  const running = () => !fs.existsSync(args.stop) && Date.now() - t0 < maxMs;
  // --rate: one shared schedule of send slots; after a stall it restarts
  // from now instead of bursting to catch up.
  const rate = Number(args.rate ?? 0);
  let slot = Date.now();
  const pace = async () => {
    if (!(rate > 0)) return;
    const now = Date.now();
    slot = Math.max(slot + 1000 / rate, now);
    if (slot > now) await sleep(slot - now);
  };
  // --lat-out: every --lat-every seconds one line "<epoch_ms> <n202> <p50_ms> <p99_ms> <max_ms> <other>"
  // (latency of the 202 answers of that interval; other: any other answer or error).
  let lat = [], other = 0, latTimer = null;
  const flushLat = () => {
    const a = lat.sort((x, y) => x - y);
    const q = (f) => (a.length ? a[Math.min(a.length - 1, Math.floor(f * a.length))].toFixed(1) : 'NA');
    fs.appendFileSync(args['lat-out'], `${Date.now()} ${a.length} ${q(0.5)} ${q(0.99)} ${a.length ? a[a.length - 1].toFixed(1) : 'NA'} ${other}\n`);
    lat = []; other = 0;
  };
  if (args['lat-out']) latTimer = setInterval(flushLat, Number(args['lat-every'] ?? 5) * 1000);
  await Promise.all(Array.from({ length: conc }, async () => {
    while (running()) {
      await pace();
      if (!running()) break;
      const i = next++;
      const id = orderIdOf(prefix, i), customer = customerOf(prefix, i, customers);
      const started = process.hrtime.bigint();
      const r = await request('POST', '/api/v1/orders', orderFor(id, customer, i).body, 10000);
      if (r.status === 202) lat.push(Number(process.hrtime.bigint() - started) / 1e6);
      else other++;
      const key = r.status || r.error;
      statuses[key] = (statuses[key] ?? 0) + 1;
      if (r.status === 202) {
        if (r.json?.order_id === id && r.json?.status === 'QUEUED') fs.writeSync(fd, `acked ${id} ${customer} ${i}\n`);
        else fs.writeSync(fd, `bad202 ${id} ${r.text.slice(0, 200).replace(/\s+/g, ' ')}\n`);
      } else if (r.status !== 0) {
        fs.writeSync(fd, `status ${id} ${r.status} ${r.text.slice(0, 200).replace(/\s+/g, ' ')}\n`);
      }
      if (r.status !== 202) await sleep(20); // keeld is down or busy: back off a little
    }
  }));
  if (latTimer) { clearInterval(latTimer); flushLat(); }
  fs.closeSync(fd);
  console.log(`statuses ${JSON.stringify(statuses)}`);
}

async function wait() {
  const acked = readAcked(args.acked);
  const deadline = Date.now() + Number(args.deadline ?? 120) * 1000;
  const t0 = Date.now();
  const groups = byCustomer(acked);
  let last = '';
  for (;;) {
    const counts = {};
    let missing = 0;
    for (const [customer, orders] of groups) {
      const l = await listCustomer(customer);
      if (l.error) { counts.list_error = (counts.list_error ?? 0) + 1; missing += orders.length; last = l.error; continue; }
      const status = new Map(l.orders.map((o) => [o.order_id, o.status]));
      for (const o of orders) {
        const s = status.get(o.id) ?? 'absent';
        counts[s] = (counts[s] ?? 0) + 1;
      }
    }
    const confirmed = counts.CONFIRMED ?? 0;
    if (confirmed === acked.length) {
      ok(`all ${acked.length} acknowledged orders CONFIRMED ${Date.now() - t0} ms after the wait began`);
      console.log(`elapsed_ms ${Date.now() - t0}`);
      return;
    }
    if (Date.now() > deadline) {
      bad(`after ${args.deadline ?? 120} s only ${confirmed}/${acked.length} orders CONFIRMED: ${JSON.stringify(counts)} ${last}`);
      return;
    }
    info(`${confirmed}/${acked.length} CONFIRMED ${JSON.stringify(counts)}`);
    await sleep(500);
  }
}

async function snapshot() {
  const acked = readAcked(args.acked);
  const fd = fs.openSync(args.out, 'a');
  let taken = 0;
  for (const o of pick(acked, Number(args.count ?? 5) * 4)) {
    if (taken >= Number(args.count ?? 5)) break;
    const r = await request('GET', `/api/v1/orders/${encodeURIComponent(o.id)}`, null, 5000);
    if (r.status === 200 && r.json?.status === 'CONFIRMED') {
      fs.writeSync(fd, `${o.id} ${r.json.confirmation_number}\n`);
      taken++;
    }
  }
  fs.closeSync(fd);
  console.log(`snapshots ${taken}`);
}

async function check() {
  const acked = readAcked(args.acked);
  const expectedById = new Map(acked.map((o) => [o.id, o]));
  const groups = byCustomer(acked);
  const numbers = new Map(); // confirmation number -> order id
  const numberOf = new Map();
  let listErrors = [], dupIds = [], notConfirmed = [], missing = [], extra = [], order = [], dupNumbers = [], invalid = [];
  let cursorEnd = true, pages = 0, listed = 0;
  for (const [customer, orders] of groups) {
    const l = await listCustomer(customer, Number(args.limit ?? 100));
    if (l.error) { listErrors.push(l.error); continue; }
    pages += l.pages.length;
    if (l.pages.some((p, k) => k < l.pages.length - 1 && p.orders.length !== Number(args.limit ?? 100))) cursorEnd = false;
    const seen = new Set();
    let prev = null;
    for (const o of l.orders) {
      listed++;
      if (o.customer_id !== customer) extra.push(`${o.order_id} (customer ${o.customer_id})`);
      if (seen.has(o.order_id)) dupIds.push(o.order_id);
      seen.add(o.order_id);
      if (prev !== null && o.created_at > prev) order.push(`${o.order_id} ${o.created_at} after ${prev}`);
      prev = o.created_at;
      if (o.status === 'CONFIRMED') {
        const n = o.confirmation_number;
        if (!numberValid(n)) invalid.push(`${o.order_id}:${n}`);
        if (numbers.has(n) && numbers.get(n) !== o.order_id) dupNumbers.push(`${n} (${numbers.get(n)}, ${o.order_id})`);
        numbers.set(n, o.order_id);
        numberOf.set(o.order_id, n);
      }
      if (expectedById.has(o.order_id) && o.status !== 'CONFIRMED') notConfirmed.push(`${o.order_id}:${o.status}`);
      if (args.exact && !expectedById.has(o.order_id)) extra.push(o.order_id);
    }
    for (const o of orders) if (!seen.has(o.id)) missing.push(o.id);
  }
  const eg = (a) => `${a.length} e.g. ${a.slice(0, 5).join(', ')}`;
  const report = (cond, good, badText) => (cond ? ok(good) : bad(badText));
  report(listErrors.length === 0, `listed ${groups.size} customers (limit ${args.limit ?? 100}, ${pages} pages, ${listed} orders)`, `list errors: ${eg(listErrors)}`);
  report(missing.length === 0, `every acknowledged order (${acked.length}) is in its customer's listing`, `orders missing from the listing: ${eg(missing)}`);
  report(dupIds.length === 0, 'no order id appears twice in a listing', `ids listed twice: ${eg(dupIds)}`);
  report(extra.length === 0, args.exact ? 'the listings hold exactly the orders sent, each under its own customer' : 'every listed order belongs to the listed customer', `unexpected listed orders: ${eg(extra)}`);
  report(order.length === 0, 'listings are newest first (created_at non-increasing across pages)', `listing order broken: ${eg(order)}`);
  report(cursorEnd, 'every page but the last is full and next_cursor is null at the end', 'a short page came before the last one');
  report(notConfirmed.length === 0, `every acknowledged order is CONFIRMED in the listing`, `not CONFIRMED: ${eg(notConfirmed)}`);
  report(dupNumbers.length === 0, `${numbers.size} confirmation numbers, all distinct`, `numbers shared by two orders: ${eg(dupNumbers)}`);
  report(invalid.length === 0 && numbers.size > 0, `all ${numbers.size} confirmation numbers match KEEL-yyyymmdd-<seq><Damm digit> and their Damm digit is valid`, `invalid numbers: ${eg(invalid)}`);

  if (args.snapshots) {
    const changed = [];
    let n = 0;
    for (const line of fs.readFileSync(args.snapshots, 'utf8').split('\n').filter(Boolean)) {
      const [id, num] = line.split(' ');
      n++;
      if (numberOf.get(id) !== num) changed.push(`${id}: ${num} -> ${numberOf.get(id)}`);
    }
    report(changed.length === 0 && n > 0, `${n} confirmation numbers snapshotted before the kills are unchanged`, n === 0 ? 'no snapshots were taken' : `changed numbers: ${eg(changed)}`);
  }

  const sample = pick(acked, Number(args.sample ?? 500));
  const diffs = [], moneyText = [];
  await pool(sample.length, 16, async (k) => {
    const o = sample[k];
    const r = await request('GET', `/api/v1/orders/${encodeURIComponent(o.id)}`);
    const exp = orderFor(o.id, o.customer, o.index).expected;
    const why = r.status !== 200 ? `status ${r.status}` : sameOrder(r.json, exp);
    const numOk = r.json?.status === 'CONFIRMED' && r.json?.confirmation_number === numberOf.get(o.id) &&
      typeof r.json?.created_at === 'string' && typeof r.json?.updated_at === 'string' && !('error' in r.json);
    if (why || !numOk) diffs.push(`${o.id}: ${why ?? 'status/number/timestamps'} ${r.text?.slice(0, 300)}`);
    // The stored order is canonical: money as JSON numbers with at most 2 decimals.
    for (const m of (r.text ?? '').matchAll(/"(amount|price)":\s*([-0-9.eE+]+)/g)) {
      if (!/^-?\d+(\.\d{1,2})?$/.test(m[2])) { moneyText.push(`${o.id} ${m[1]}:${m[2]}`); break; }
    }
  });
  if (!args['no-money-text']) {
    report(moneyText.length === 0, `money in the ${sample.length} GET bodies is written with at most 2 decimals`, `money not written with 2 decimals in GET bodies: ${eg(moneyText)}`);
  }
  report(diffs.length === 0, `GET of ${sample.length} sampled orders returns the order sent (ids, items, amount), CONFIRMED with the listed number`, `GET mismatches: ${eg(diffs)}`);

  const reposts = pick(acked, Number(args.repost ?? 20));
  const rdiffs = [];
  for (const o of reposts) {
    const r = await request('POST', '/api/v1/orders', orderFor(o.id, o.customer, o.index).body);
    if (r.status !== 200 || r.json?.order_id !== o.id || r.json?.status !== 'CONFIRMED' ||
        r.json?.confirmation_number !== numberOf.get(o.id)) {
      rdiffs.push(`${o.id}: ${r.status} ${r.text?.slice(0, 200)} (listed ${numberOf.get(o.id)})`);
    }
  }
  report(rdiffs.length === 0, `re-POSTing ${reposts.length} orders answers 200 CONFIRMED with the original confirmation number`, `re-POST: ${eg(rdiffs)}`);
  if (reposts.length > 0) {
    const o = reposts[0];
    const changed = orderFor(o.id, o.customer, o.index + 1).body;
    const r = await request('POST', '/api/v1/orders', changed);
    report(r.status === 409, `re-POSTing ${o.id} with another payload answers 409`, `re-POST with another payload: ${r.status} ${r.text?.slice(0, 200)}`);
  }
}

const commands = { post, stream, wait, check, snapshot };
if (!commands[cmd]) {
  console.error(`usage: node orders_load.mjs ${Object.keys(commands).join('|')} --base=URL ...`);
  process.exit(2);
}
await commands[cmd]();
agent.destroy();
