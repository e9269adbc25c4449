// The dashboard example's Analytics and Device pages (issue 16) on a real Node-RED, seen in Debian's
// Chromium (playwright-core): the numbers on screen equal the HTTP API's for the same period, the
// period menus change them, a rename and a priority set on the Device page are in the API, every
// browser sees its own device, and the empty and error states show. Older history (3 and 10 days
// ago, and a device that has left, known by its hostname only) is written into the example's
// SQLite file while Node-RED is stopped; the sample pipeline adds the last minutes (the store's
// resolution there is 10 s). Set-up: test/helpers/dashboard.ts.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { DASHBOARD_FLOW, pagePath, restartWith, startDashboard, until, type Dashboard } from '../helpers/dashboard';
import { worrying } from '../helpers/runtime';

const LAPTOP = 'a4:5e:60:00:00:01';
const TV = 'dc:a6:32:00:00:02';
/** A printer that left 10 days ago: never named, known by the hostname it announced. */
const PRINTER = { mac: '00:1b:a9:00:00:07', hostname: 'old-printer', ip: '192.168.1.40' };
const UNKNOWN = '02:00:00:00:00:99';
const SAMPLE_NAMES = ['console', 'sensor', 'tv', 'work-laptop'];

const hourStart = (sec: number) => { const d = new Date(sec * 1000); d.setMinutes(0, 0, 0); return d.getTime() / 1000; };
const dayStart = (sec: number) => { const d = new Date(sec * 1000); d.setHours(0, 0, 0, 0); return d.getTime() / 1000; };
const monthStart = (sec: number) => { const d = new Date(sec * 1000); d.setDate(1); d.setHours(0, 0, 0, 0); return d.getTime() / 1000; };

/**
 * An hour of traffic `daysAgo` days back at 12:00, for `deviceId` and the interface (device 0), in
 * the hourly, daily and monthly tiers (added to what is there), as usage-store's rollup writes it.
 */
function seedHour(db: Database.Database, deviceId: number, daysAgo: number, rxMbps: number, txMbps: number): number {
  const d = new Date();
  d.setDate(d.getDate() - daysAgo);
  d.setHours(12, 0, 0, 0);
  const sec = d.getTime() / 1000;
  const ms = 3_600_000;
  const rx = Math.round((rxMbps * 1e6 * 3600) / 8);
  const tx = Math.round((txMbps * 1e6 * 3600) / 8);
  for (const [table, bucket] of [['usage_hourly', hourStart(sec)], ['usage_daily', dayStart(sec)], ['usage_monthly', monthStart(sec)]] as const) {
    for (const id of [deviceId, 0]) {
      db.prepare(
        `INSERT INTO ${table} (bucket, device_id, ms, samples, rx_bytes, tx_bytes, alloc_rx_bytes, alloc_tx_bytes, peak_rx_bps, peak_tx_bps, peak_bps, client_ms, priority)
         VALUES (?, ?, ?, 1800, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
         ON CONFLICT (device_id, bucket) DO UPDATE SET ms = ms + excluded.ms, samples = samples + excluded.samples, rx_bytes = rx_bytes + excluded.rx_bytes,
           tx_bytes = tx_bytes + excluded.tx_bytes, alloc_rx_bytes = alloc_rx_bytes + excluded.alloc_rx_bytes, alloc_tx_bytes = alloc_tx_bytes + excluded.alloc_tx_bytes,
           peak_rx_bps = max(peak_rx_bps, excluded.peak_rx_bps), peak_tx_bps = max(peak_tx_bps, excluded.peak_tx_bps), peak_bps = max(peak_bps, excluded.peak_bps), client_ms = client_ms + excluded.client_ms`,
      ).run(bucket, id, ms, rx, tx, rx, tx, rxMbps * 1e6, txMbps * 1e6, (rxMbps + txMbps) * 1e6, id === 0 ? ms : 0);
    }
  }
  return sec;
}

/** Download and upload averaged over the rows' time, as the page's "bandwidth trend" does. */
function trendOf(rows: Array<{ seconds: number; total_download: number; total_upload: number }>) {
  const seconds = rows.reduce((s, r) => s + r.seconds, 0);
  return {
    rows: rows.length,
    avgDownload: rows.reduce((s, r) => s + r.total_download * r.seconds, 0) / seconds,
    avgUpload: rows.reduce((s, r) => s + r.total_upload * r.seconds, 0) / seconds,
  };
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

describe('dashboard example: the Analytics and Device pages, seen in Chromium', function () {
  this.timeout(240_000);
  let d: Dashboard;
  let page: Page;
  const inject = (id: string) => fetch(`${d.base}/inject/${id}`, { method: 'POST' });
  const num = async (p: Page, selector: string) => Number(await p.locator(selector).first().getAttribute('data-value'));

  before(async () => {
    d = await startDashboard('equalnet-analytics');
    // the sample devices registered by usage-store (its first commit, 10 s)
    await until('the laptop in usage-store', async () => (await d.api(`/api/history/${LAPTOP}`)).status, (s) => s === 200, 30_000);
    await restartWith(d, () => {
      const db = new Database(join(d.userDir, 'equalnet-dashboard-example.db'));
      try {
        const laptop = (db.prepare('SELECT id FROM devices WHERE mac = ?').get(LAPTOP) as { id: number }).id;
        seedHour(db, laptop, 3, 40, 4);
        const tenDaysAgo = Math.floor(Date.now() / 1000) - 10 * 86400;
        const printer = Number(
          db.prepare('INSERT INTO devices (mac, hostname, vendor, ip, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)').run(PRINTER.mac, PRINTER.hostname, 'Hewlett Packard', PRINTER.ip, tenDaysAgo - 3600, tenDaysAgo).lastInsertRowid,
        );
        db.prepare('INSERT INTO device_macs (mac, device_id) VALUES (?, ?)').run(PRINTER.mac, printer);
        db.prepare('INSERT INTO device_addresses (device_id, address, first_seen, last_seen) VALUES (?, ?, ?, ?)').run(printer, PRINTER.ip, tenDaysAgo - 3600, tenDaysAgo);
        const at = seedHour(db, printer, 10, 90, 1);
        db.prepare('INSERT INTO device_sessions (device_id, start_ts, end_ts, ip_address) VALUES (?, ?, ?, ?)').run(printer, at, at + 3600, PRINTER.ip);
      } finally {
        db.close();
      }
    });
    page = d.page;
  });

  after(async () => {
    await d?.close();
  });

  it('Analytics: trend, top 10, per-device breakdown and N-day report equal the API\'s for the period chosen in its menu', async () => {
    await d.open('Analytics');
    for (const [hours, days] of [[24, 1], [168, 7], [720, 30]]) {
      if (hours !== 24) await page.getByLabel('analytics period').selectOption(String(hours));
      // the API before and after the page's figures: equal (no commit in between), the page equal to them
      const api = async () => {
        const [bandwidth, top, all, report] = await Promise.all([
          d.api(`/api/analytics/bandwidth/${hours}`),
          d.api(`/api/analytics/top/10?hours=${hours}`),
          d.api(`/api/analytics/top/10000?hours=${hours}`),
          d.api(`/api/analytics/report/${days}`),
        ]);
        for (const r of [bandwidth, top, all, report]) assert.equal(r.status, 200, JSON.stringify(r.body));
        return {
          trend: trendOf(bandwidth.body),
          top: top.body.map((r: { mac: string; total_usage: number }) => [r.mac, r.total_usage]),
          breakdown: all.body.slice(0, 50).map((r: { mac: string; download_mb: number; upload_mb: number }) => [r.mac, r.download_mb, r.upload_mb]),
          report: [report.body.period_days, report.body.total_download_mb, report.body.total_upload_mb, report.body.unique_clients, report.body.avg_bandwidth, report.body.peak_bandwidth, report.body.days.length],
          names: top.body.map((r: { mac: string }) => r.mac),
        };
      };
      const shown = async () => ({
        trend: { rows: Number(await page.locator('.equalnet-trend .fig').getAttribute('data-rows')), avgDownload: await num(page, '.equalnet-trend .avg-download'), avgUpload: await num(page, '.equalnet-trend .avg-upload') },
        top: await page.locator('table.equalnet-top tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-mac'), Number(tr.querySelector('.total')!.getAttribute('data-value'))])),
        breakdown: await page.locator('table.equalnet-breakdown tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-mac'), Number(tr.querySelector('.down')!.getAttribute('data-value')), Number(tr.querySelector('.up')!.getAttribute('data-value'))])),
        report: await Promise.all(['data-days', '.total-download', '.total-upload', '.unique-clients', '.avg-bandwidth', '.peak-bandwidth'].map((s) => (s === 'data-days' ? page.locator('.equalnet-report-figures').getAttribute('data-days').then(Number) : num(page, `.equalnet-report-figures ${s}`)))).then(async (r) => [...r, await page.locator('table.equalnet-report tbody tr').count()]),
      });
      const same = (a: Awaited<ReturnType<typeof api>>, b: Awaited<ReturnType<typeof shown>>) =>
        a.trend.rows === b.trend.rows && close(a.trend.avgDownload, b.trend.avgDownload) && close(a.trend.avgUpload, b.trend.avgUpload) &&
        JSON.stringify(a.top) === JSON.stringify(b.top) && JSON.stringify(a.breakdown) === JSON.stringify(b.breakdown) && JSON.stringify(a.report) === JSON.stringify(b.report);
      let last: unknown;
      await until(
        `the Analytics page for ${hours} h equal to the API`,
        async () => {
          const before = await api();
          await inject('equalnet.dash.query.top');
          await new Promise((r) => setTimeout(r, 1500));
          const page_ = await shown();
          const after = await api();
          last = { before, page: page_ };
          return JSON.stringify(before) === JSON.stringify(after) && same(before, page_);
        },
        (ok) => ok,
        40_000,
      ).catch((err) => assert.fail(`${err.message}\n${JSON.stringify(last)}`));
      // the trend drawn: a point per row up to 120
      assert.equal(Number(await page.locator('.equalnet-trend svg').getAttribute('data-points')), Math.min(120, (last as { before: { trend: { rows: number } } }).before.trend.rows));
      const names = (await page.locator('table.equalnet-top tbody td:nth-child(2)').allInnerTexts()).map((t) => t.trim());
      if (hours === 720) {
        // the printer left 10 days ago: it keeps the name usage-store knows (its hostname), not its MAC
        assert.deepEqual([...names].sort(), [...SAMPLE_NAMES, PRINTER.hostname].sort());
        assert.equal((await page.locator(`table.equalnet-breakdown tr[data-mac="${PRINTER.mac}"] td.label`).innerText()).trim(), PRINTER.hostname);
      } else assert.deepEqual([...names].sort(), SAMPLE_NAMES);
      await page.screenshot({ path: join(d.shots, `analytics-${hours}h.png`), fullPage: true });
    }
    // the hourly pattern (last 24 h): a pair of bars per hour of /api/analytics/hourly/24
    await until(
      'the hourly pattern\'s hours equal the API\'s',
      async () => {
        await inject('equalnet.dash.query.hourly');
        await new Promise((r) => setTimeout(r, 500));
        const shown = Number(await page.locator('.equalnet-hourly svg').getAttribute('data-hours'));
        return shown === (await d.api('/api/analytics/hourly/24')).body.length && shown >= 1;
      },
      (ok) => ok,
      20_000,
    );
    assert.equal(await page.locator('.equalnet-hourly svg rect').count(), 2 * Number(await page.locator('.equalnet-hourly svg').getAttribute('data-hours')));
    // the periods differ: 7 days hold the laptop's hour 3 days ago, 30 days the printer's too
    const totals = await Promise.all([1, 7, 30].map(async (n) => (await d.api(`/api/analytics/report/${n}`)).body.total_download_mb as number));
    assert.ok(totals[0] < totals[1] && totals[1] < totals[2], JSON.stringify(totals));
  });

  // ---- the Device page

  /** Sends `topic` from the Device page's template of `p` (what its buttons and a Devices row send). */
  const send = (p: Page, topic: string, payload: Record<string, unknown>) =>
    p.evaluate(([t, m]) => {
      const w = window as unknown as { angular: { element: (e: Element) => { scope: () => { send: (msg: unknown) => void } } } };
      w.angular.element(document.querySelector('.equalnet-device')!).scope().send({ topic: t, payload: m });
    }, [topic, payload] as const);
  /** Opens the device page of `mac` in `p` as a user does: a click on its name in the Devices table. */
  const clickRow = async (p: Page, mac: string) => {
    await p.goto('about:blank');
    await p.goto(d.base + pagePath('Devices'));
    await p.locator(`table.equalnet-devices tbody tr[data-mac="${mac}"] a.open`).click({ timeout: 15_000 });
    await p.locator('md-toolbar').getByText('Device', { exact: true }).first().waitFor({ timeout: 10_000 });
  };
  /**
   * Opens the device page of a device that is not on the Devices page (it left, or was never
   * seen) in `p`: the same message, { topic: "device.open", payload: { mac } }, sent from the
   * Device page's own template (reached through AngularJS's debug info, which the dashboard turns
   * off: the page is reloaded with it once), as any flow may send it to "open a device page".
   */
  const openDevice = async (p: Page, mac: string) => {
    if (!p.url().endsWith('/ui/#!/5')) await p.goto(`${d.base}/ui/#!/5`);
    await p.locator('.equalnet-device').waitFor({ timeout: 10_000 });
    if (!(await p.evaluate(() => window.name === 'NG_ENABLE_DEBUG_INFO!' || Boolean((window as unknown as { angular: { element: (e: Element) => { scope: () => unknown } } }).angular.element(document.querySelector('.equalnet-device')!).scope())))) {
      await Promise.all([p.waitForEvent('load'), p.evaluate(() => (window as unknown as { angular: { reloadWithDebugInfo: () => void } }).angular.reloadWithDebugInfo())]);
      await p.locator('.equalnet-device').waitFor({ timeout: 10_000 });
    }
    await send(p, 'device.open', { mac });
  };
  /** What the Device page of `p` shows of the device's traffic, sessions and alerts. */
  const deviceShown = async (p: Page) => ({
    mac: await p.locator('.equalnet-device [data-mac]').getAttribute('data-mac'),
    label: (await p.locator('.equalnet-device .device-label').innerText()).trim(),
    traffic: await Promise.all(['.download-mb', '.upload-mb', '.avg-download', '.avg-upload', '.peak'].map((s) => num(p, `table.device-traffic ${s}`))),
    points: (await p.locator('.equalnet-device svg').count()) ? Number(await p.locator('.equalnet-device svg').getAttribute('data-points')) : 0,
    sessions: await p.locator('table.device-sessions tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-start'))),
    alerts: await p.locator('ul.device-alerts li').evaluateAll((lis) => lis.map((li) => Number(li.getAttribute('data-id')))),
  });
  /** The same from the API: /api/analytics/client/:id/:hours, /api/history/:id, /api/alerts (the device's). */
  const deviceApi = async (mac: string, hours: number) => {
    const [client, history, alerts] = await Promise.all([d.api(`/api/analytics/client/${mac}/${hours}`), d.api(`/api/history/${mac}?days=${hours / 24}&limit=100`), d.api(`/api/alerts?hours=${hours}&limit=10000`)]);
    assert.equal(client.status, 200, JSON.stringify(client.body));
    assert.equal(history.status, 200, JSON.stringify(history.body));
    const c = client.body;
    return {
      mac,
      label: history.body.device.name || history.body.device.hostname || mac,
      traffic: [c.download_mb, c.upload_mb, c.avg_download, c.avg_upload, c.peak_usage],
      points: c.series.length,
      sessions: history.body.sessions.map((s: { start: string }) => s.start),
      alerts: alerts.body.filter((a: { mac_address: string }) => a.mac_address === mac).slice(0, 50).map((a: { id: number }) => a.id),
    };
  };
  const PERIOD_NAMES: Record<number, string> = { 24: 'last 24 h', 168: 'last 7 days', 720: 'last 30 days' };
  /** The page of `p` asks again, as a user makes it: another period in its menu, then `hours` again. */
  const reask = async (p: Page, hours: number) => {
    for (const h of [hours === 24 ? 168 : 24, hours]) {
      await p.getByLabel('device period').selectOption(String(h));
      await until(`the Device page over the ${PERIOD_NAMES[h]}`, async () => (await p.locator('.equalnet-device h4').first().innerText()).trim(), (t) => t === `Traffic, ${PERIOD_NAMES[h]}`);
    }
  };
  /** The page of `p` equal to the API for `mac` over `hours`, read between two equal answers of the API. */
  const deviceEqualsApi = async (p: Page, mac: string, hours: number) => {
    let last: unknown;
    await until(
      `the Device page of ${mac} for ${hours} h equal to the API`,
      async () => {
        const before = await deviceApi(mac, hours);
        await reask(p, hours);
        const shown = await deviceShown(p);
        const after = await deviceApi(mac, hours);
        last = { before, shown };
        return JSON.stringify(before) === JSON.stringify(after) && JSON.stringify(before) === JSON.stringify(shown);
      },
      (ok) => ok,
      40_000,
    ).catch((err) => assert.fail(`${err.message}\n${JSON.stringify(last)}`));
    return last as { shown: Awaited<ReturnType<typeof deviceShown>> };
  };

  it('Device page: no device chosen yet; a click on a Devices row opens its page; its traffic, sessions and alerts equal the API\'s, for 24 h and 7 days', async () => {
    await page.goto(`${d.base}/ui/#!/5`);
    await page.locator('.equalnet-device-none').waitFor({ timeout: 10_000 });
    await clickRow(page, LAPTOP);
    await until('the laptop on the Device page', () => page.locator('.equalnet-device .device-label').innerText(), (t) => t.trim() === 'work-laptop');
    assert.equal((await page.locator('.equalnet-device h4').first().innerText()).trim(), 'Traffic, last 24 h');
    const day = await deviceEqualsApi(page, LAPTOP, 24);
    assert.ok(day.shown.traffic[0] > 0 && day.shown.points >= 1 && day.shown.sessions.length >= 1, JSON.stringify(day.shown));
    await page.getByLabel('device period').selectOption('168');
    const week = await deviceEqualsApi(page, LAPTOP, 168);
    // the hour written 3 days ago: 40 Mbit/s for an hour, 18,000 MB more
    assert.ok(week.shown.traffic[0] >= day.shown.traffic[0] + 18_000, JSON.stringify([day.shown.traffic, week.shown.traffic]));
    assert.equal(week.shown.points, day.shown.points + 1);
    await page.screenshot({ path: join(d.shots, 'device-laptop-7d.png'), fullPage: true });
  });

  it('Device page: two browsers, two devices: each sees its own', async () => {
    const other = await d.browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      await clickRow(other, TV);
      await until('the tv in the second browser', () => other.locator('.equalnet-device .device-label').innerText(), (t) => t.trim() === 'tv');
      await deviceEqualsApi(other, TV, 24);
      // the first browser still shows the laptop, over the 7 days it chose
      assert.equal((await page.locator('.equalnet-device .device-label').innerText()).trim(), 'work-laptop');
      assert.equal(await page.getByLabel('device period').inputValue(), '168');
      assert.equal(await other.getByLabel('device period').inputValue(), '24');
    } finally {
      await other.close();
    }
  });

  it('Device page: a rename and a priority set there are in the API (usage-store and the allocator)', async () => {
    await page.getByLabel('device name').fill('Anna laptop');
    await page.getByRole('button', { name: 'Rename' }).click();
    await until('the new name in the API', async () => (await d.api(`/api/history/${LAPTOP}`)).body.device.name, (n) => n === 'Anna laptop');
    await until('the new name on the page', () => page.locator('.equalnet-device .device-label').innerText(), (t) => t.trim() === 'Anna laptop');
    await page.getByLabel('device priority').selectOption('3');
    await until('priority 3 in usage-store', async () => (await d.api(`/api/history/${LAPTOP}`)).body.device.priority, (p) => p === 3);
    await until('priority 3 at the allocator', async () => (await d.api('/api/clients')).body.find((c: { mac: string }) => c.mac === LAPTOP).priority, (p) => p === 3);
    assert.equal(await page.getByLabel('device priority').inputValue(), '3');
    // the choices are the link's priorities in force (1 to 5 in the example), and "not set" (the allocator's default)
    assert.deepEqual(await page.getByLabel('device priority').locator('option').allInnerTexts(), ['not set', '1', '2', '3', '4', '5']);
  });

  it('Device page: a device that left (empty over 24 h, its session over 30 days), an unknown device, and back to Devices', async () => {
    await openDevice(page, PRINTER.mac);
    await until('the printer by its hostname', () => page.locator('.equalnet-device .device-label').innerText(), (t) => t.trim() === PRINTER.hostname);
    // over 24 h: the printer left 10 days ago
    for (const empty of ['.traffic-empty', '.sessions-empty', '.alerts-empty']) await page.locator(`.equalnet-device ${empty}`).waitFor({ timeout: 10_000 });
    assert.equal((await page.locator('.equalnet-device .traffic-empty').innerText()).trim(), 'No traffic recorded for this device in the last 24 h.');
    await page.screenshot({ path: join(d.shots, 'device-empty.png'), fullPage: true });
    await page.getByLabel('device period').selectOption('720');
    const month = await deviceEqualsApi(page, PRINTER.mac, 720);
    assert.equal(month.shown.sessions.length, 1);
    assert.equal(month.shown.traffic[0], 40_500);
    await openDevice(page, UNKNOWN);
    await page.locator('.equalnet-device-unknown').waitFor({ timeout: 10_000 });
    assert.match(await page.locator('.equalnet-device-unknown').innerText(), /Unknown device 02:00:00:00:00:99: usage-store has never seen it/);
    await page.getByRole('button', { name: '← Devices' }).click();
    await page.locator('md-toolbar').getByText('Devices', { exact: true }).first().waitFor({ timeout: 10_000 });
  });

  it('nothing worrying in Node-RED\'s log', () => {
    assert.deepEqual(worrying(d.nodeRed.log()), []);
  });
});

describe('dashboard example: the Analytics and Device pages with nothing recorded, then with a usage-store that cannot answer', function () {
  this.timeout(120_000);
  let d: Dashboard;

  before(async () => {
    // the example without its sample clients: usage-store runs, nothing is recorded
    const flow = DASHBOARD_FLOW.map((n) => (n.id === 'dash.sample' ? { ...n, d: true } : n));
    assert.ok(flow.some((n) => n.id === 'dash.sample' && n.d === true), 'the sample clients inject is dash.sample');
    d = await startDashboard('equalnet-analytics-empty', flow);
  });

  after(async () => {
    await d?.close();
  });

  it('Analytics with nothing recorded: every part says so', async () => {
    await d.open('Analytics');
    const text = async (selector: string) => (await d.page.locator(selector).first().innerText()).trim();
    await until('the trend\'s empty state', () => text('.equalnet-analytics-empty'), (t) => t === 'No traffic recorded in the last 24 h.', 20_000);
    assert.equal(await text('.equalnet-breakdown-empty'), 'No device used the network in this period.');
    assert.equal(await text('.equalnet-report-empty'), 'Nothing recorded in this period.');
    assert.equal(await d.page.locator('table.equalnet-top tbody tr').count(), 0);
    assert.ok((await d.page.locator('body').innerText()).includes('No usage recorded yet in this period.'));
    assert.equal((await d.page.locator('.equalnet-hourly-empty').innerText()).trim(), 'No usage recorded yet.');
    assert.ok(!(await d.page.locator('body').innerText()).includes('undefined'));
    await d.page.screenshot({ path: join(d.shots, 'analytics-empty.png'), fullPage: true });
  });

  it('a usage-store whose file is broken does not answer: both pages say so after 15 s', async () => {
    await restartWith(d, () => {
      const file = join(d.userDir, 'equalnet-dashboard-example.db');
      for (const f of [`${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
      writeFileSync(file, 'not a database, '.repeat(512));
    });
    await d.open('Analytics');
    await until('the Analytics page\'s error state', async () => (await d.page.locator('.equalnet-analytics-error').innerText()).trim(), (t) => /^No answer from usage-store: is it running\?/.test(t), 25_000);
    await d.page.goto(`${d.base}/ui/#!/5`);
    await d.page.locator('.equalnet-device').waitFor({ timeout: 10_000 });
    await d.page.evaluate(() => {
      (window as unknown as { angular: { reloadWithDebugInfo: () => void } }).angular.reloadWithDebugInfo();
    });
    await d.page.waitForLoadState('load');
    await d.page.locator('.equalnet-device').waitFor({ timeout: 10_000 });
    await d.page.evaluate(() => {
      const w = window as unknown as { angular: { element: (e: Element) => { scope: () => { send: (msg: unknown) => void } } } };
      w.angular.element(document.querySelector('.equalnet-device')!).scope().send({ topic: 'device.open', payload: { mac: 'a4:5e:60:00:00:01' } });
    });
    await d.page.locator('.equalnet-device-loading').waitFor({ timeout: 5_000 });
    await until('the Device page\'s error state', async () => (await d.page.locator('.equalnet-device-error').first().innerText()).trim(), (t) => /^No answer from usage-store: is it running\?/.test(t), 25_000);
    await d.page.screenshot({ path: join(d.shots, 'device-no-answer.png'), fullPage: true });
    // the file is left as it was: usage-store refuses it, it does not overwrite it
    assert.ok(d.nodeRed.log().includes('usage database'), 'usage-store says why');
  });
});
