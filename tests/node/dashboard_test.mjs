// Browser test of web/dashboard.html: drives Debian's chromium with
// playwright-core against a running keeld that has orders flowing, a poison
// order in the DLQ and a firing DLQ alarm (tests/integration/dashboard.sh).
// Usage: node dashboard_test.mjs BASE_URL SCREENSHOT_PATH
// Prints "ok   - ..." / "FAIL - ..." lines; exits 0 when every check passed.
import { chromium } from 'playwright-core';

const [base, shot] = process.argv.slice(2);
if (!base || !shot) {
  console.error('usage: node dashboard_test.mjs BASE_URL SCREENSHOT_PATH');
  process.exit(2);
}
const CHROMIUM = process.env.KEEL_CHROMIUM || '/usr/bin/chromium';
const CHART_TIMEOUT_MS = Number(process.env.KEEL_CHART_TIMEOUT_MS || 30000);

let failures = 0;
const ok = (msg) => console.log('ok   - ' + msg);
const fail = (msg) => { failures++; console.log('FAIL - ' + msg); };
const pageErrors = [];
const consoleErrors = [];

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(10000);
page.on('console', (m) => {
  if (m.type() === 'error' || m.type() === 'warning') {
    consoleErrors.push(m.text());
    console.log(`console.${m.type()}: ${m.text()} (${m.location().url})`);
  }
});
page.on('pageerror', (e) => { pageErrors.push(e.message); console.log('pageerror: ' + e.message); });
page.on('requestfailed', (r) => console.log(`request failed: ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));

const text = (sel) => page.locator(sel).textContent().then((t) => (t || '').trim());
async function step(name, fn) {
  try { await fn(); ok(name); return true; } catch (e) { fail(`${name}: ${e.message.split('\n')[0]}`); return false; }
}
function expect(cond, what) { if (!cond) throw new Error(what); }

try {
  await step('the order page links to the dashboard', async () => {
    await page.goto(base + '/', { waitUntil: 'load' });
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.waitForURL(/dashboard\.html$/);
    await page.getByRole('heading', { name: 'Queue depth' }).waitFor();
  });

  await step(`every chart has at least 2 points within ${CHART_TIMEOUT_MS / 1000} s`, async () => {
    try {
      await page.waitForFunction(() => {
        const c = [...document.querySelectorAll('canvas')];
        return c.length === 4 && c.every((x) => Number(x.dataset.points || 0) >= 2);
      }, null, { timeout: CHART_TIMEOUT_MS, polling: 500 });
    } finally {
      const counts = await page.$$eval('canvas', (cs) => cs.map((c) => `${c.id}=${c.dataset.points}`));
      console.log('# chart points: ' + counts.join(' '));
    }
  });

  await step('the charts have ink on them (non-blank canvases)', async () => {
    const inked = await page.$$eval('canvas', (cs) => cs.map((c) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let coloured = 0;
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
        if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++; // a series colour, not grey grid
      }
      return coloured;
    }));
    expect(inked.every((n) => n > 50), `coloured pixels per canvas: ${inked.join(', ')}`);
  });

  await step('the queue table shows orders with its DLQ depth', async () => {
    const row = page.locator('#queues tbody tr', { hasText: 'orders' });
    await row.waitFor();
    const dlq = Number((await row.locator('td').nth(4).textContent()).trim());
    expect(dlq >= 1, `DLQ column shows ${dlq}`);
    expect(Number(await text('#kpi-dlq')) >= 1, 'DLQ tile');
  });

  await step('throughput tiles show rates', async () => {
    for (const id of ['#kpi-accepted', '#kpi-processed', '#kpi-failed']) {
      const t = await text(id);
      expect(/^\d+(\.\d)?$/.test(t), `${id} shows '${t}'`);
    }
    const p99 = await text('#kpi-http-p99');
    expect(/ms|s$/.test(p99), `p99 tile shows '${p99}'`);
  });

  await step('the latest dead letter is listed with its reason and step', async () => {
    const row = page.locator('#dlq tbody tr').first();
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells[2].startsWith('POISON'), `order column: ${cells[2]}`);
    expect(cells[3] === 'gate', `step column: ${cells[3]}`);
    expect(cells[5].includes('fail_attr'), `reason column: ${cells[5]}`);
  });

  await step('the alarm shows FIRING', async () => {
    const alarm = page.locator('#alarms .alarm', { hasText: 'orders-dlq' });
    await alarm.waitFor();
    expect((await alarm.textContent()).includes('FIRING'), await alarm.textContent());
    expect(await page.locator('#alarm-tile.firing').count() === 1, 'alarm tile not marked firing');
  });

  await step('the pipeline step detail names the steps', async () => {
    const d = await text('#step-detail');
    expect(d.includes('confirm') && d.includes('store'), `step detail: '${d}'`);
  });

  // A picture with some history: up to 20 s more for longer lines (not a check).
  await page.waitForFunction(() => Number(document.querySelector('#chart-depth').dataset.points) >= 10,
    null, { timeout: 20000, polling: 500 }).catch(() => {});
  expect(await page.locator('#fetch-error').isHidden(), 'fetch error shown');
  await page.screenshot({ path: shot, fullPage: true });
  ok(`screenshot saved: ${shot}`);
} catch (e) {
  fail('unexpected: ' + e.message);
} finally {
  await browser.close();
}
if (pageErrors.length) fail(`page errors: ${pageErrors.join('; ')}`);
else ok('no page errors');
if (consoleErrors.length) fail(`console errors: ${consoleErrors.join('; ')}`);
else ok('no console errors or warnings');
process.exit(failures ? 1 : 0);
