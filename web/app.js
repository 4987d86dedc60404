// keel orders page: no framework, no build step. Server data only ever
// reaches the DOM through textContent (never innerHTML).
'use strict';

const API = '/api/v1/orders';
const FINAL = ['CONFIRMED', 'FAILED'];
const $ = (sel, root = document) => root.querySelector(sel);

// el('td', {className: 'num'}, 'text', child): builds an element; strings become text nodes.
function el(tag, props = {}, ...children) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children.filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return e;
}
const show = (e, on) => { e.hidden = !on; };
function message(box, text, kind = 'error') {
  box.textContent = text || '';
  box.className = 'message ' + kind;
  show(box, !!text);
}

// ---- money: integer cents, so 3 x 19.99 is exactly 59.97 ----
const when = (iso) => { const d = new Date(iso); return iso && !isNaN(d) ? d.toLocaleString() : iso || ''; };
const cents = (v) => Math.round(parseFloat(v) * 100) || 0;
const money = (c) => (c / 100).toFixed(2);

// ---- HTTP ----
// api(path, opts): {status, body, retryAfter}; network failures become status 0.
async function api(path, opts = {}) {
  try {
    const r = await fetch(path, { headers: { Accept: 'application/json', ...(opts.headers || {}) }, ...opts });
    let body = null;
    try { body = await r.json(); } catch (_) { /* not JSON */ }
    return { status: r.status, body: body || {}, retryAfter: parseInt(r.headers.get('Retry-After'), 10) || 0 };
  } catch (err) {
    return { status: 0, body: { message: 'network error: ' + err.message }, retryAfter: 0 };
  }
}
const EXPLAIN = {
  0: 'Could not reach the server.', 400: 'The server could not read the request.',
  401: 'This server needs an API key.', 403: 'The API key was refused.',
  409: 'This order id was already used for a different order.', 413: 'The order is too large.',
  415: 'The request was not sent as JSON.', 429: 'Too many requests.',
  503: 'The service is busy or its storage is unavailable.',
};
function errorText(res) {
  const parts = [EXPLAIN[res.status] || 'Request failed (HTTP ' + res.status + ').'];
  if (res.body.message) parts.push(res.body.message);
  if (res.retryAfter) parts.push('Try again in ' + res.retryAfter + ' s.');
  if (res.body.request_id) parts.push('(request ' + res.body.request_id + ')');
  return parts.join(' ');
}

// ---- the order form ----
const form = $('#order-form');
const itemsBody = $('#items');
const formMsg = $('#form-message');
let orderId = newOrderId(); // client-chosen, so a retried submit is idempotent (200, not a duplicate)

function newOrderId() {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return 'WEB-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
}
function localNow() {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset(), d.getSeconds(), 0);
  return d.toISOString().slice(0, 19);
}
function addItem() {
  itemsBody.append($('#item-row').content.cloneNode(true));
  renumber();
  itemsBody.lastElementChild.querySelector('input').focus();
}
function renumber() {
  const rows = [...itemsBody.rows];
  rows.forEach((row, i) => {
    row.querySelectorAll('input').forEach((inp) => {
      inp.dataset.path = `items[${i}].${inp.name}`;
      inp.dataset.label ||= inp.getAttribute('aria-label');
      inp.setAttribute('aria-label', `${inp.dataset.label}, item ${i + 1}`);
    });
    row.querySelector('.remove').disabled = rows.length === 1;
  });
  updateTotal();
}
function lines() {
  return [...itemsBody.rows].map((row) => {
    const v = (n) => row.querySelector(`[name=${n}]`).value.trim();
    const num = (n) => (v(n) === '' ? null : Number(v(n))); // empty stays null: the server says what is missing
    return { product_id: v('product_id'), name: v('name'), quantity: num('quantity'), price: num('price'), row };
  });
}
function updateTotal() {
  let total = 0;
  for (const l of lines()) {
    const lt = Number.isInteger(l.quantity) ? l.quantity * cents(l.price) : 0;
    l.row.querySelector('.line-total').textContent = money(lt);
    total += lt;
  }
  $('#total').value = money(total);
  return total;
}
function buildOrder() {
  const f = form.elements;
  const date = f.order_date.value ? new Date(f.order_date.value) : null;
  const order = {
    order_id: orderId,
    customer_id: f.customer_id.value.trim(),
    items: lines().map((l) => ({ product_id: l.product_id, name: l.name, quantity: l.quantity, price: l.price })),
    shipping_address: { street: f.street.value.trim(), city: f.city.value.trim(), state: f.state.value.trim(), zip_code: f.zip_code.value.trim() },
    payment_method: f.payment_method.value,
    amount: updateTotal() / 100,
  };
  if (date && !isNaN(date)) order.order_date = date.toISOString().replace(/\.\d{3}Z$/, 'Z');
  order.items.forEach((it) => { if (!it.name) delete it.name; });
  return order;
}

function clearErrors() {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => { e.removeAttribute('aria-invalid'); e.removeAttribute('aria-describedby'); });
  message(formMsg, '');
}
// Shows each details[] entry next to the element whose data-path matches
// (items[1].quantity, shipping_address.city, amount, ...); the rest go to the form message.
function showFieldErrors(details) {
  const unplaced = [];
  details.forEach((d, i) => {
    const target = form.querySelector(`[data-path="${CSS.escape(d.path || '')}"]`);
    if (!target) { unplaced.push((d.path ? d.path + ': ' : '') + d.message); return; }
    const err = el('span', { className: 'field-error', id: 'err-' + i }, d.message);
    if (/^(INPUT|SELECT)$/.test(target.tagName)) {
      target.setAttribute('aria-invalid', 'true');
      target.setAttribute('aria-describedby', err.id);
      target.after(err);
    } else {
      target.append(err);
    }
  });
  message(formMsg, 'Please correct the highlighted fields.' + (unplaced.length ? ' ' + unplaced.join('; ') : ''));
  const first = form.querySelector('[aria-invalid]');
  if (first) first.focus();
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  clearErrors();
  const btn = $('#submit');
  btn.disabled = true;
  btn.textContent = 'Placing order…';
  const res = await api(API, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(buildOrder()) });
  btn.disabled = false;
  btn.textContent = 'Place order';
  if (res.status === 202 || res.status === 200) {
    message(formMsg, `Order ${res.body.order_id} accepted (${res.body.status}).`, 'ok');
    orderId = newOrderId();
    showOrder(res.body.order_id, res.body.status);
  } else if (res.status === 422 && Array.isArray(res.body.details)) {
    showFieldErrors(res.body.details);
  } else {
    message(formMsg, errorText(res));
  }
});
form.addEventListener('input', (ev) => {
  const t = ev.target;
  if (t.getAttribute('aria-invalid')) {
    t.removeAttribute('aria-invalid');
    if (t.nextElementSibling && t.nextElementSibling.classList.contains('field-error')) t.nextElementSibling.remove();
  }
  if (t.closest('#items')) updateTotal();
});
itemsBody.addEventListener('click', (ev) => {
  const b = ev.target.closest('.remove');
  if (b && itemsBody.rows.length > 1) { b.closest('tr').remove(); renumber(); }
});
$('#add-item').addEventListener('click', addItem);

// ---- one order: show it and poll until CONFIRMED or FAILED ----
const POLL = { first: 500, factor: 1.5, max: 5000, tries: 40 }; // about 2.5 minutes in all
let pollGen = 0; // bumping it cancels the running poll

function renderOrder(o) {
  $('#order-id').textContent = o.order_id;
  const st = $('#order-status');
  st.textContent = o.status;
  st.className = 'status s-' + String(o.status).toLowerCase();
  const rank = { QUEUED: 0, PROCESSING: 1, CONFIRMED: 3, FAILED: 2 }[o.status] ?? -1;
  [...$('#steps').children].forEach((li, i) => {
    li.className = i < rank ? 'done' : i === rank ? 'current' : '';
    if (li.dataset.s === 'DONE') li.textContent = o.status === 'FAILED' ? 'Failed' : 'Confirmed';
  });
  $('#steps').classList.toggle('failed', o.status === 'FAILED');
  $('#confirmation-number').textContent = o.confirmation_number || '';
  show($('#confirmation'), !!o.confirmation_number);
  const err = $('#order-error');
  err.textContent = o.status === 'FAILED' ? 'Failed: ' + (o.error || 'no reason given') : '';
  show(err, o.status === 'FAILED');
  const facts = $('#order-facts');
  facts.replaceChildren();
  const add = (k, v) => { if (v !== undefined && v !== null && v !== '') facts.append(el('dt', {}, k), el('dd', {}, v)); };
  const ord = o.order || {};
  add('Customer', o.customer_id);
  add('Items', (ord.items || []).map((i) => `${i.quantity} × ${i.name || i.product_id} @ ${Number(i.price).toFixed(2)}`).join(', '));
  if (ord.amount !== undefined) add('Total', Number(ord.amount).toFixed(2));
  const a = ord.shipping_address;
  if (a) add('Ship to', [a.street, a.city, a.state, a.zip_code].filter(Boolean).join(', '));
  add('Payment', ord.payment_method);
  add('Created', when(o.created_at));
  add('Updated', when(o.updated_at));
}

async function showOrder(id, status) {
  const gen = ++pollGen;
  const panel = $('#order-panel');
  show(panel, true);
  show($('#recheck'), false);
  if (status) renderOrder({ order_id: id, status });
  const note = $('#poll-note');
  let delay = POLL.first;
  for (let i = 0; i < POLL.tries; i++) {
    const res = await api(`${API}/${encodeURIComponent(id)}`);
    if (gen !== pollGen) return;
    if (res.status === 200) {
      renderOrder(res.body);
      if (FINAL.includes(res.body.status)) { note.textContent = ''; return; }
      note.textContent = 'checking for updates…';
    } else if (res.status === 404) {
      renderOrder({ order_id: id, status: 'UNKNOWN' });
      note.textContent = 'No order with this id.';
      return;
    } else {
      note.textContent = errorText(res);
    }
    await new Promise((r) => setTimeout(r, Math.max(delay, res.retryAfter * 1000)));
    if (gen !== pollGen) return;
    delay = Math.min(delay * POLL.factor, POLL.max);
  }
  note.textContent = 'Stopped checking; the order is not final yet.';
  show($('#recheck'), true);
}
$('#recheck').addEventListener('click', () => showOrder($('#order-id').textContent));

// ---- find orders ----
const findMsg = $('#find-message');
const list = $('#order-list');
let listQuery = null; // {customer_id, limit, cursor}

$('#lookup-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = ev.target.elements.id.value.trim();
  if (id) { message(findMsg, ''); showOrder(id); $('#order-panel').scrollIntoView({ behavior: 'smooth' }); }
});
$('#customer-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  listQuery = { customer_id: f.customer_id.value.trim(), limit: f.limit.value || '10', cursor: null };
  list.tBodies[0].replaceChildren();
  loadPage();
});
$('#more').addEventListener('click', loadPage);

async function loadPage() {
  const q = new URLSearchParams({ customer_id: listQuery.customer_id, limit: listQuery.limit });
  if (listQuery.cursor) q.set('cursor', listQuery.cursor);
  const more = $('#more');
  more.disabled = true;
  const res = await api(`${API}?${q}`);
  more.disabled = false;
  if (res.status !== 200) { message(findMsg, errorText(res)); return; }
  const orders = res.body.orders || [];
  for (const o of orders) {
    const link = el('button', { type: 'button', className: 'link' }, o.order_id);
    link.addEventListener('click', () => { showOrder(o.order_id); $('#order-panel').scrollIntoView({ behavior: 'smooth' }); });
    const amount = o.order && o.order.amount !== undefined ? Number(o.order.amount).toFixed(2) : '';
    list.tBodies[0].append(el('tr', {},
      el('td', {}, link),
      el('td', {}, el('span', { className: 'status s-' + String(o.status).toLowerCase() }, o.status)),
      el('td', { title: o.created_at || '' }, when(o.created_at)),
      el('td', { className: 'num' }, amount),
      el('td', {}, o.confirmation_number || '')));
  }
  const n = list.tBodies[0].rows.length;
  message(findMsg, n ? '' : `No orders for customer ${listQuery.customer_id}.`, 'info');
  show(list, n > 0);
  listQuery.cursor = res.body.next_cursor || null;
  show(more, !!listQuery.cursor);
}

// ---- start ----
form.elements.order_date.value = localNow();
addItem();
form.elements.customer_id.focus();
