// ddb_crosscheck.mjs — checks what keel's store_dynamodb wrote with the official
// @aws-sdk/client-dynamodb, and that keel reads what the SDK writes. Used by
// tests/integration/dynamodb_e2e.sh (and the outage/scale-out tests for the
// item check). The endpoint, region and credentials come from the
// environment, as for keeld (AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
//
//   node ddb_crosscheck.mjs table   --table=T
//       DescribeTable: key order_id (S, HASH), the GSI customer_id-created_at-index
//       (customer_id HASH S, created_at RANGE N, projection ALL).
//   node ddb_crosscheck.mjs items   --table=T --base=URL --acked=FILE [--sample=N] [--customers=K]
//       GetItem (consistent) of N sampled acknowledged orders: exactly the layout's attributes
//       with their types, status CONFIRMED, confirmation_number = keel's GET, order = keel's
//       order, payload_hash = sha256(order); then a GSI Query (newest first, paged) of K
//       customers finds exactly their acknowledged orders, each once.
//   node ddb_crosscheck.mjs foreign --table=T --base=URL --prefix=P [--acked=FILE]
//       PutItem of two full order items (status CONFIRMED) written by the SDK: keel's GET
//       answers them, its listing by customer holds both, newest first (limit=1 paging), and
//       re-POSTing the stored order answers 200 with the SDK's confirmation number.
//   node ddb_crosscheck.mjs repair-gsi --table=T --acked=FILE
//       dynalite (not DynamoDB) writes an item and its index entries one after the other: a
//       SIGKILL between the two leaves an index entry that no item backs (seen in
//       dynamodb_outage.sh: a QUEUED entry at the accept time next to the CONFIRMED item the
//       store step created later). Finds index entries of the acked customers whose item is
//       missing or has another created_at/status, and removes them through the API (put the
//       stale key, then the true item back / delete). Run it only while keel is idle.
//
// The acked file is orders_load.mjs's ("acked <order_id> <customer_id> <index>").
// Verdicts go to stdout as "ok <text>" / "fail <text>" lines; progress to stderr.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import {
  DeleteItemCommand, DescribeTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand,
} from '@aws-sdk/client-dynamodb';

const args = Object.fromEntries(
  process.argv.slice(3).map((a) => {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`bad argument ${a}`);
    return [m[1], m[2] ?? true];
  }),
);
const cmd = process.argv[2];
const table = args.table ?? process.env.KEEL_DYNAMODB_TABLE ?? 'keel-orders';
const base = new URL(args.base ?? 'http://127.0.0.1:8080');
const ok = (t) => console.log(`ok ${t}`);
const bad = (t) => console.log(`fail ${t}`);
const report = (cond, good, badText) => (cond ? ok(good) : bad(badText));
const info = (t) => console.error(`[ddb_crosscheck ${cmd}] ${t}`);
const eg = (a) => `${a.length} e.g. ${a.slice(0, 5).join(' | ')}`;

const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB ?? process.env.AWS_ENDPOINT_URL;
const ddb = new DynamoDBClient({
  region: process.env.AWS_REGION ?? 'us-east-1',
  endpoint,
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'AKIDKEELTEST',
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'keel-test-secret',
  },
  maxAttempts: 3,
});

// ---- the layout (include/keel/store.h + the plugin's contract) ----
const GSI = 'customer_id-created_at-index';
const LAYOUT = {
  order_id: 'S', customer_id: 'S', status: 'S', confirmation_number: 'S', error: 'S',
  payload_hash: 'S', order: 'S', message_id: 'S', created_at: 'N', updated_at: 'N', version: 'N',
};
const REQUIRED = ['order_id', 'customer_id', 'status', 'payload_hash', 'order', 'created_at', 'updated_at', 'version'];

// Problems of one item against the layout ([] when fine).
function layoutProblems(item) {
  const p = [];
  for (const [name, av] of Object.entries(item)) {
    const types = Object.keys(av);
    if (!(name in LAYOUT)) p.push(`unexpected attribute ${name}`);
    else if (types.length !== 1 || types[0] !== LAYOUT[name]) p.push(`${name} is ${types.join(',')}, want ${LAYOUT[name]}`);
  }
  for (const name of REQUIRED) if (!(name in item)) p.push(`missing ${name}`);
  for (const name of ['confirmation_number', 'error', 'message_id']) {
    if (item[name]?.S === '') p.push(`${name} is "" (absent when none)`);
  }
  for (const name of ['created_at', 'updated_at', 'version']) {
    if (item[name]?.N !== undefined && !/^\d+$/.test(item[name].N)) p.push(`${name} N is not an integer: ${item[name].N}`);
  }
  if (item.created_at?.N && item.created_at.N.length !== 13) p.push(`created_at ${item.created_at.N} is not epoch ms`);
  if (item.payload_hash?.S && !/^[0-9a-f]{64}$/.test(item.payload_hash.S)) p.push(`payload_hash ${item.payload_hash.S} is not lowercase hex sha256`);
  if (item.order?.S && item.payload_hash?.S) {
    const h = crypto.createHash('sha256').update(item.order.S, 'utf8').digest('hex');
    if (h !== item.payload_hash.S) p.push('payload_hash is not sha256(order)');
  }
  if (item.order?.S) {
    try { JSON.parse(item.order.S); } catch { p.push('order is not JSON'); }
  }
  return p;
}

// An item without its order text, for messages.
const brief = (it) => it && Object.fromEntries(Object.entries(it).filter(([k]) => k !== 'order').map(([k, v]) => [k, Object.values(v)[0]]));

// ---- HTTP to keel ----
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
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
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, error: e.code || e.message, text: '' }));
    if (body) req.write(body);
    req.end();
  });
}

async function pool(items, concurrency, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) { const k = next++; await fn(items[k], k); }
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

const pick = (arr, n) => {
  const a = [...arr];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, n);
};

const deepEqual = (a, b) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

// The GSI, newest first, every page.
async function queryCustomer(customer, limit) {
  const items = [];
  let start;
  let pages = 0;
  do {
    const r = await ddb.send(new QueryCommand({
      TableName: table, IndexName: GSI, KeyConditionExpression: 'customer_id = :c',
      ExpressionAttributeValues: { ':c': { S: customer } }, ScanIndexForward: false,
      ExclusiveStartKey: start, Limit: limit,
    }));
    items.push(...(r.Items ?? []));
    start = r.LastEvaluatedKey;
    pages++;
  } while (start && pages < 10000);
  return { items, pages };
}

// ---- commands ----
async function tableCmd() {
  const r = await ddb.send(new DescribeTableCommand({ TableName: table }));
  const t = r.Table;
  const ks = JSON.stringify(t.KeySchema);
  const attr = Object.fromEntries((t.AttributeDefinitions ?? []).map((a) => [a.AttributeName, a.AttributeType]));
  report(ks === JSON.stringify([{ AttributeName: 'order_id', KeyType: 'HASH' }]) && attr.order_id === 'S',
    `table ${table}: key order_id (S, HASH), status ${t.TableStatus}`, `table ${table} key schema ${ks}, attributes ${JSON.stringify(attr)}`);
  const g = (t.GlobalSecondaryIndexes ?? []).find((x) => x.IndexName === GSI);
  const gks = g && JSON.stringify(g.KeySchema);
  report(g && gks === JSON.stringify([{ AttributeName: 'customer_id', KeyType: 'HASH' }, { AttributeName: 'created_at', KeyType: 'RANGE' }]) &&
    g.Projection?.ProjectionType === 'ALL' && attr.customer_id === 'S' && attr.created_at === 'N',
  `GSI ${GSI}: customer_id (S, HASH), created_at (N, RANGE), projection ALL, status ${g?.IndexStatus}`,
  `GSI: ${JSON.stringify(t.GlobalSecondaryIndexes)} attributes ${JSON.stringify(attr)}`);
}

async function items() {
  const acked = readAcked(args.acked);
  const sample = pick(acked, Number(args.sample ?? 100));
  const layout = [], diffs = [];
  await pool(sample, 8, async (o) => {
    const [g, k] = await Promise.all([
      ddb.send(new GetItemCommand({ TableName: table, Key: { order_id: { S: o.id } }, ConsistentRead: true })),
      request('GET', `/api/v1/orders/${encodeURIComponent(o.id)}`),
    ]);
    const it = g.Item;
    if (!it) { diffs.push(`${o.id}: GetItem found nothing`); return; }
    const p = layoutProblems(it);
    if (p.length) layout.push(`${o.id}: ${p.join('; ')}`);
    const why = [];
    if (it.order_id?.S !== o.id) why.push(`order_id ${it.order_id?.S}`);
    if (it.customer_id?.S !== o.customer) why.push(`customer_id ${it.customer_id?.S} want ${o.customer}`);
    if (it.status?.S !== 'CONFIRMED') why.push(`status ${it.status?.S}`);
    if ('error' in it) why.push(`error ${it.error?.S}`);
    if (k.status !== 200) why.push(`keel GET ${k.status}`);
    else {
      if (it.confirmation_number?.S !== k.json.confirmation_number) {
        why.push(`confirmation_number ${it.confirmation_number?.S}, keel GET shows ${k.json.confirmation_number}`);
      }
      let order = null;
      try { order = JSON.parse(it.order?.S ?? ''); } catch { /* reported by the layout check */ }
      if (!deepEqual(order, k.json.order)) why.push(`order attribute differs from keel's GET order: ${it.order?.S?.slice(0, 150)}`);
      const c = Date.parse(k.json.created_at), u = Date.parse(k.json.updated_at);
      if (!(Math.abs(c - Number(it.created_at?.N)) < 1000)) why.push(`created_at ${it.created_at?.N} vs GET ${k.json.created_at}`);
      if (!(Math.abs(u - Number(it.updated_at?.N)) < 1000)) why.push(`updated_at ${it.updated_at?.N} vs GET ${k.json.updated_at}`);
      // 1 when the store step created the record (its QUEUED write had not landed), else >= 2.
      if (!(Number(it.version?.N) >= 1)) why.push(`version ${it.version?.N}`);
      if (Number(it.updated_at?.N) < Number(it.created_at?.N)) why.push('updated_at before created_at');
    }
    if (why.length) diffs.push(`${o.id}: ${why.join('; ')}`);
  });
  report(layout.length === 0, `GetItem of ${sample.length} orders: exactly the layout's attributes with their types (S/N), none empty`, `layout: ${eg(layout)}`);
  report(diffs.length === 0, `GetItem of ${sample.length} orders: CONFIRMED, confirmation_number/order/timestamps as keel's GET shows`, `items: ${eg(diffs)}`);

  // The GSI by customer: exactly the customer's acknowledged orders, newest first.
  const byCustomer = new Map();
  for (const o of acked) {
    if (!byCustomer.has(o.customer)) byCustomer.set(o.customer, new Set());
    byCustomer.get(o.customer).add(o.id);
  }
  const customers = pick([...byCustomer.keys()], Number(args.customers ?? 3));
  const qerr = [];
  let total = 0, pages = 0;
  for (const c of customers) {
    const { items: got, pages: p } = await queryCustomer(c, 37);
    pages += p;
    total += got.length;
    const want = byCustomer.get(c);
    const seen = new Set();
    let prev = Infinity;
    for (const it of got) {
      const id = it.order_id?.S;
      if (seen.has(id)) {
        const first = got.find((x) => x.order_id?.S === id);
        const g = await ddb.send(new GetItemCommand({ TableName: table, Key: { order_id: { S: id } }, ConsistentRead: true }));
        qerr.push(`${c}: ${id} twice in the GSI: ${JSON.stringify(brief(first))} and ${JSON.stringify(brief(it))}; GetItem: ${JSON.stringify(brief(g.Item))}`);
      }
      seen.add(id);
      if (!want.has(id)) qerr.push(`${c}: unexpected ${id}`);
      const ca = Number(it.created_at?.N);
      if (ca > prev) qerr.push(`${c}: not newest first at ${id}`);
      prev = ca;
      if (it.status?.S !== 'CONFIRMED' || !it.confirmation_number?.S) qerr.push(`${c}: ${id} ${it.status?.S} ${it.confirmation_number?.S}`);
      const p2 = layoutProblems(it);
      if (p2.length) qerr.push(`${c}: ${id} ${p2.join('; ')}`);
    }
    for (const id of want) if (!seen.has(id)) qerr.push(`${c}: ${id} missing from the GSI`);
  }
  report(qerr.length === 0 && total > 0, `GSI ${GSI} Query of ${customers.length} customers (${pages} pages, ${total} items): exactly their orders, once each, newest first, CONFIRMED`, `GSI query: ${eg(qerr)} (${total} items)`);
}

async function foreign() {
  const prefix = args.prefix ?? `XCHK${process.pid}`;
  const customer = `${prefix}-CUST`;
  const now = Date.now();
  // The order text: keel's canonical form, so that re-POSTing it is a
  // replay. With --acked, an order keel stored is the template (its ids
  // replaced); else a compact snake_case order.
  let template = null;
  if (args.acked) {
    for (const o of pick(readAcked(args.acked), 5)) {
      const g = await ddb.send(new GetItemCommand({ TableName: table, Key: { order_id: { S: o.id } }, ConsistentRead: true }));
      if (g.Item?.order?.S) { template = { text: g.Item.order.S, id: o.id, customer: o.customer }; break; }
    }
  }
  const mk = (n, createdAt, number) => {
    const id = `${prefix}-SDK-${n}`;
    const order = template
      ? template.text.split(template.id).join(id).split(template.customer).join(customer)
      : JSON.stringify({
        order_id: id, customer_id: customer, amount: 12.5,
        items: [{ product_id: 'PROD-001', name: `SDK item ${n}`, quantity: 2, price: 6.25 }],
      });
    const hash = crypto.createHash('sha256').update(order, 'utf8').digest('hex');
    return {
      id, order, number, createdAt,
      item: {
        order_id: { S: id }, customer_id: { S: customer }, status: { S: 'CONFIRMED' },
        confirmation_number: { S: number }, payload_hash: { S: hash }, order: { S: order },
        created_at: { N: String(createdAt) }, updated_at: { N: String(createdAt + 5) }, version: { N: '2' },
      },
    };
  };
  const older = mk(1, now - 60000, 'KEEL-20250101-0000000017');
  const newer = mk(2, now - 1000, 'KEEL-20250101-0000000025');
  for (const o of [older, newer]) {
    await ddb.send(new PutItemCommand({ TableName: table, Item: o.item }));
  }
  info(`put ${older.id}, ${newer.id}`);
  for (const o of [older, newer]) {
    const r = await request('GET', `/api/v1/orders/${encodeURIComponent(o.id)}`);
    const why = [];
    if (r.status !== 200) why.push(`status ${r.status} ${r.text.slice(0, 200)}`);
    else {
      const j = r.json;
      if (j.order_id !== o.id) why.push(`order_id ${j.order_id}`);
      if (j.customer_id !== customer) why.push(`customer_id ${j.customer_id}`);
      if (j.status !== 'CONFIRMED') why.push(`status ${j.status}`);
      if (j.confirmation_number !== o.number) why.push(`confirmation_number ${j.confirmation_number}`);
      if (Date.parse(j.created_at) !== o.createdAt && Math.abs(Date.parse(j.created_at) - o.createdAt) >= 1000) why.push(`created_at ${j.created_at} want ${new Date(o.createdAt).toISOString()}`);
      if (Math.abs(Date.parse(j.updated_at) - (o.createdAt + 5)) >= 1000) why.push(`updated_at ${j.updated_at}`);
      if (!deepEqual(j.order, JSON.parse(o.order))) why.push(`order ${JSON.stringify(j.order)}`);
      if ('error' in j) why.push(`error ${j.error}`);
    }
    report(why.length === 0, `keel's GET /api/v1/orders/${o.id} answers the item the SDK wrote`, `GET of the SDK's item ${o.id}: ${why.join('; ')}: ${r.text.slice(0, 300)}`);
  }
  // The listing, one per page: newest first, then null.
  const listed = [];
  let cursor = null, pages = 0, lerr = '';
  for (; pages < 10; pages++) {
    let path = `/api/v1/orders?customer_id=${encodeURIComponent(customer)}&limit=1`;
    if (cursor) path += `&cursor=${encodeURIComponent(cursor)}`;
    const r = await request('GET', path);
    if (r.status !== 200 || !Array.isArray(r.json?.orders)) { lerr = `GET ${path}: ${r.status} ${r.text.slice(0, 200)}`; break; }
    listed.push(...r.json.orders);
    cursor = r.json.next_cursor;
    if (cursor === null) break;
  }
  const ids = listed.map((o) => `${o.order_id}:${o.status}:${o.confirmation_number}`);
  report(!lerr && ids.length === 2 && listed[0].order_id === newer.id && listed[1].order_id === older.id &&
    listed.every((o) => o.status === 'CONFIRMED') && listed[0].confirmation_number === newer.number,
  `keel lists the SDK's 2 items by customer, newest first, one per page (${pages + 1} pages)`,
  `listing of ${customer}: ${lerr || JSON.stringify(ids)}`);
  // The same order through the API: a replay (200, the SDK's number), not a new order.
  const r = await request('POST', '/api/v1/orders', newer.order);
  report(r.status === 200 && r.json?.status === 'CONFIRMED' && r.json?.confirmation_number === newer.number,
    `re-POSTing the SDK's stored order answers 200 CONFIRMED with its number`,
    `re-POST of the SDK's order (canonical text ${newer.order}): ${r.status} ${r.text.slice(0, 300)}`);
  const changed = JSON.parse(newer.order);
  changed.items = [...changed.items, { product_id: 'PROD-999', name: 'one more', quantity: 1, price: 1 }];
  for (const k of ['amount', 'total_amount', 'totalAmount']) if (typeof changed[k] === 'number') changed[k] += 1;
  const r2 = await request('POST', '/api/v1/orders', JSON.stringify(changed));
  report(r2.status === 409, 'POSTing another payload under the SDK\'s order id answers 409', `POST of a changed order: ${r2.status} ${r2.text.slice(0, 200)}`);
  // keel left the SDK's items alone.
  const g = await ddb.send(new GetItemCommand({ TableName: table, Key: { order_id: { S: newer.id } }, ConsistentRead: true }));
  report(g.Item && g.Item.version?.N === '2' && g.Item.status?.S === 'CONFIRMED' && g.Item.confirmation_number?.S === newer.number,
    'the SDK\'s item is unchanged after keel read it and refused the changed payload', `item after: ${JSON.stringify(g.Item)}`);
}

async function repairGsi() {
  const acked = readAcked(args.acked);
  const customers = [...new Set(acked.map((o) => o.customer))];
  const repaired = [];
  for (const c of customers) {
    const { items: entries } = await queryCustomer(c, 100);
    for (const e of entries) {
      const id = e.order_id.S;
      const g = await ddb.send(new GetItemCommand({ TableName: table, Key: { order_id: { S: id } }, ConsistentRead: true }));
      const it = g.Item;
      if (it && it.created_at?.N === e.created_at?.N && it.customer_id?.S === e.customer_id?.S) continue;
      repaired.push(`${id} (index: ${e.status?.S} created_at ${e.created_at?.N}; item: ${it ? `${it.status?.S} created_at ${it.created_at?.N}` : 'none'})`);
      await ddb.send(new PutItemCommand({ TableName: table, Item: e }));
      if (it) await ddb.send(new PutItemCommand({ TableName: table, Item: it }));
      else await ddb.send(new DeleteItemCommand({ TableName: table, Key: { order_id: { S: id } } }));
    }
  }
  console.log(`repaired ${repaired.length}`);
  for (const r of repaired) console.log(`stale-index ${r}`);
  ok(`checked the index of ${customers.length} customers: ${repaired.length} stale dynalite index entries removed${repaired.length ? `: ${repaired.slice(0, 3).join(', ')}` : ''}`);
}

const commands = { table: tableCmd, items, foreign, 'repair-gsi': repairGsi };
if (!commands[cmd]) {
  console.error(`usage: node ddb_crosscheck.mjs ${Object.keys(commands).join('|')} --table=T ...`);
  process.exit(2);
}
try {
  await commands[cmd]();
} catch (e) {
  bad(`${cmd}: ${e.name ?? 'error'}: ${e.message}`);
}
agent.destroy();
ddb.destroy();
