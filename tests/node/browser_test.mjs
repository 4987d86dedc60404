// Browser test of web/: drives Debian's chromium with playwright-core against
// a running keeld. Usage: node browser_test.mjs BASE_URL SCREENSHOT_PATH
// Prints "ok   - ..." / "FAIL - ..." lines; exits 0 when every check passed.
import { chromium } from 'playwright-core';

const [base, shot] = process.argv.slice(2);
if (!base || !shot) {
  console.error('usage: node browser_test.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}
const CHROMIUM = process.env.KEEL_CHROMIUM || '/usr/bin/chromium';
const CONFIRM_TIMEOUT_MS = Number(process.env.KEEL_CONFIRM_TIMEOUT_MS || 30000);

let failures = 0;
const ok = (msg) => console.log('ok   - ' + msg);
const fail = (msg) => { failures++; console.log('FAIL - ' + msg); };
const pageErrors = [];

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
page.setDefaultTimeout(10000);
page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`console.${m.type()}: ${m.text()} (${m.location().url})`); });
page.on('pageerror', (e) => { pageErrors.push(e.message); console.log('pageerror: ' + e.message); });
page.on('requestfailed', (r) => console.log(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));

const customer = 'CUST-B' + Date.now().toString(36).toUpperCase();
const text = (sel) => page.locator(sel).textContent().then((t) => (t || '').trim());

async function step(name, fn) {
  try { await fn(); ok(name); return true; } catch (e) { fail(`${name}: ${e.message.split('\n')[0]}`); return false; }
}
function expect(cond, what) { if (!cond) throw new Error(what); }

try {
  await step('page loads with the order form and the API note', async () => {
    const res = await page.goto(base + '/', { waitUntil: 'load' });
    expect(res && res.status() === 200, `GET / answered ${res && res.status()}`);
    await page.getByRole('heading', { name: 'Place an order' }).waitFor();
    const note = await text('.note');
    for (const p of ['/api/v1/', '/healthz', '/readyz', '/metrics']) expect(note.includes(p), `note lacks ${p}: ${note}`);
    expect((await page.getByLabel('Order date').inputValue()).length >= 16, 'order date has no default');
  });

  await step('the form fills in the seed 004 order and totals 89.97', async () => {
    await page.locator('#order-form').getByLabel('Customer id').fill('bad id'); // refused by the server: shows a 422 below
    await page.getByLabel('Product id, item 1').fill('PROD-001');
    await page.getByLabel('Name, item 1').fill('Widget Pro');
    await page.getByLabel('Quantity, item 1').fill('2');
    await page.getByLabel('Price, item 1').fill('19.99');
    await page.getByRole('button', { name: 'Add item' }).click();
    await page.getByLabel('Product id, item 2').fill('PROD-002');
    await page.getByLabel('Name, item 2').fill('Super Gadget');
    await page.getByLabel('Quantity, item 2').fill('1');
    await page.getByLabel('Price, item 2').fill('49.99');
    await page.getByLabel('Street').fill('123 Main St');
    await page.getByLabel('City').fill('Anytown');
    await page.getByLabel('State').fill('CA');
    await page.getByLabel('Zip code').fill('12345');
    await page.getByLabel('Payment method').selectOption('credit_card');
    const total = await text('#total');
    expect(total === '89.97', `total shows ${total}`);
  });

  await step('a 422 shows its message next to the customer id field', async () => {
    await page.getByRole('button', { name: 'Place order' }).click();
    const err = page.locator('[data-path="customer_id"] + .field-error');
    await err.waitFor();
    expect((await err.textContent()).length > 0, 'empty field error');
    expect(await page.locator('#form-message').isVisible(), 'no form message');
  });

  let orderId = '';
  await step('the corrected order is accepted and shown QUEUED (or later)', async () => {
    await page.locator('#order-form').getByLabel('Customer id').fill(customer);
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.locator('#order-panel').waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelector('#order-id').textContent.trim() !== '');
    orderId = await text('#order-id');
    const st = await text('#order-status');
    expect(/^(QUEUED|PROCESSING|CONFIRMED)$/.test(st), `status shows '${st}'`);
    expect((await text('#form-message')).includes(orderId), 'form message lacks the order id');
    console.log(`# order ${orderId} for ${customer}: ${st}`);
  });

  let confirmed = false;
  if (orderId) {
    confirmed = await step(`the order is CONFIRMED with a confirmation number within ${CONFIRM_TIMEOUT_MS / 1000} s`, async () => {
      try {
        await page.waitForFunction(() => {
          const s = document.querySelector('#order-status').textContent;
          return document.querySelector('#confirmation-number').textContent.trim() !== '' || s === 'FAILED';
        }, null, { timeout: CONFIRM_TIMEOUT_MS });
      } catch (_) {
        const st = await text('#order-status');
        throw new Error(st === 'QUEUED' ? 'order stayed QUEUED: no pipeline confirms orders?'
          : `no confirmation number after ${CONFIRM_TIMEOUT_MS / 1000} s; status ${st}`);
      }
      const st = await text('#order-status');
      expect(st === 'CONFIRMED', `status is ${st}: ${await text('#order-error')}`);
      expect(await page.locator('#confirmation-number').isVisible(), 'confirmation number not visible');
      console.log(`# confirmation number ${await text('#confirmation-number')}`);
    });
  }

  await step('looking the order up by id shows it', async () => {
    await page.locator('#lookup-form').getByLabel('Order id').fill(orderId);
    await page.locator('#lookup-form').getByRole('button', { name: 'Look up' }).click();
    await page.waitForFunction((id) => document.querySelector('#order-id').textContent === id
      && document.querySelector('#order-facts').textContent.includes('Widget Pro'), orderId);
  });

  await step("listing the customer's orders shows the order", async () => {
    await page.locator('#customer-form').getByLabel('Customer id').fill(customer);
    await page.locator('#customer-form').getByRole('button', { name: 'List orders' }).click();
    const row = page.locator('#order-list tbody tr', { hasText: orderId });
    await row.waitFor();
    const st = (await row.locator('td').nth(1).textContent()).trim();
    expect(!confirmed || st === 'CONFIRMED', `listed with status ${st}`);
    expect((await row.locator('td').nth(3).textContent()).trim() === '89.97', 'listed total is not 89.97');
  });

  // Back to the order panel for the picture.
  await page.locator('#order-panel').scrollIntoViewIfNeeded();
  await page.screenshot({ path: shot, fullPage: true });
  ok(`screenshot saved: ${shot}`);
} catch (e) {
  fail('unexpected: ' + e.message);
} finally {
  await browser.close();
}
if (pageErrors.length) fail(`page errors: ${pageErrors.join('; ')}`);
else ok('no page errors');
process.exit(failures ? 1 : 0);
