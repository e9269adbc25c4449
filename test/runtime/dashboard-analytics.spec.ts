// The dashboard example's Analytics and Device pages (issue 16) on a real Node-RED, seen in Debian's
// Chromium (playwright-core): the numbers on screen equal the HTTP API's for the same period, the
// period menus change them, a rename and a priority set on the Device page are in the API, every
// browser sees its own device, and the empty and error states show. Older history (3 and 10 days
// ago, and a device that has left, known by its hostname only) is written into the example's
// SQLite file while Node-RED is stopped; the sample pipeline adds the last minutes (the store's
// resolution there is 10 s). Set-up: test/helpers/dashboard.ts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { restartWith, startDashboard, until, type Dashboard } from '../helpers/dashboard';
import { worrying } from '../helpers/runtime';

const LAPTOP = 'a4:5e:60:00:00:01';
export const TV = 'dc:a6:32:00:00:02';
/** A printer that left 10 days ago: never named, known by the hostname it announced. */
const PRINTER = { mac: '00:1b:a9:00:00:07', hostname: 'old-printer', ip: '192.168.1.40' };
export const UNKNOWN = '02:00:00:00:00:99';
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
      const names = (await page.locator('table.equalnet-top tbody td:nth-child(2)').allInnerTexts()).map((t) => t.trim());
      if (hours === 720) {
        // the printer left 10 days ago: it keeps the name usage-store knows (its hostname), not its MAC
        assert.deepEqual([...names].sort(), [...SAMPLE_NAMES, PRINTER.hostname].sort());
        assert.equal((await page.locator(`table.equalnet-breakdown tr[data-mac="${PRINTER.mac}"] td.label`).innerText()).trim(), PRINTER.hostname);
      } else assert.deepEqual([...names].sort(), SAMPLE_NAMES);
      await page.screenshot({ path: join(d.shots, `analytics-${hours}h.png`), fullPage: true });
    }
    // the periods differ: 7 days hold the laptop's hour 3 days ago, 30 days the printer's too
    const totals = await Promise.all([1, 7, 30].map(async (n) => (await d.api(`/api/analytics/report/${n}`)).body.total_download_mb as number));
    assert.ok(totals[0] < totals[1] && totals[1] < totals[2], JSON.stringify(totals));
  });

  it('nothing worrying in Node-RED\'s log', () => {
    assert.deepEqual(worrying(d.nodeRed.log()), []);
  });
});
