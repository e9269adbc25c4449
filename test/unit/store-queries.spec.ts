import assert from 'node:assert/strict';
import type { UsageQueries } from '../../nodes/core/store/queries';
import { scheduledReport } from '../../nodes/core/store/report';
import type { UsageStore } from '../../nodes/core/store/store';
import type { AlertRow, ClientSummary, ConsumerRow, DeviceEntry, HourlyRow, Report, SessionRow, BandwidthRow } from '../../nodes/core/store/types';
import { A, B, Clock, local, MBIT, openStore, TempDir, ticks } from './store-fixtures';

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} ≠ ${b}`);

/**
 * One scenario, every query checked against numbers worked out by hand:
 *  - 2026-03-10 09:00–10:00 (local, UTC+2): A downloads 8 Mbit/s and uploads 2, B downloads 4;
 *    the interface counts 13 down / 2 up (1 Mbit/s nobody claimed).
 *  - 2026-03-11 20:00–20:30: A alone downloads 16 Mbit/s; no totals, so the clients' sum.
 *  - now = 2026-03-11 21:00. Ticks every 2 s, raw rows of 60 s.
 * Volumes: A 3600 + 900 MB then 3600 MB; B 1800 MB; interface 5850 / 900 MB then 3600 / 0 MB.
 */
describe('usage store: every query against hand-computed numbers', () => {
  const dir = new TempDir();
  const clock = new Clock(0);
  let store: UsageStore;
  let q: UsageQueries;

  before(() => {
    ({ store, queries: q } = openStore(dir.file(), clock));
    ticks(
      store,
      clock,
      local(2026, 3, 10, 9),
      local(2026, 3, 10, 10),
      [
        { mac: A, ip: '192.168.1.10', rxBps: 8 * MBIT, txBps: 2 * MBIT, vendor: 'Apple', deviceType: 'phone', hostname: 'annas-iphone' },
        { mac: B, ip: '192.168.1.11', rxBps: 4 * MBIT, txBps: 0 },
      ],
      { rxBps: 13 * MBIT, txBps: 2 * MBIT },
    );
    ticks(store, clock, local(2026, 3, 11, 20), local(2026, 3, 11, 20, 30), [{ mac: A, ip: '192.168.1.10', rxBps: 16 * MBIT, txBps: 0 }]);
    const alert = (at: number, payload: Record<string, unknown>) => {
      clock.ms = at;
      store.storeAlert(payload);
    };
    alert(local(2026, 3, 10, 9, 30), { type: 'new_device', severity: 'info', message: 'New device connected: Apple phone at 192.168.1.10', mac: A, ip: '192.168.1.10' });
    alert(local(2026, 3, 10, 9, 45), { type: 'bandwidth_limit', severity: 'warning', message: 'Client A is using 95.0% of allocated bandwidth', mac: A });
    alert(local(2026, 3, 11, 20, 10), { type: 'priority_starvation', severity: 'warning', message: 'Low priority P5 client uses 2x more' });
    alert(local(2026, 3, 11, 20, 20), { type: 'unusual_traffic', severity: 'error', message: 'Unusual traffic detected from 192.168.1.10', ip: '192.168.1.10' });
    clock.ms = local(2026, 3, 11, 21);
    store.flush();
  });
  after(() => {
    store.close();
    dir.remove();
  });

  describe('bandwidth: the interface over the last N hours, newest first', () => {
    it('returns one raw row a minute with Mbit/s averages and the client count', () => {
      const rows = q.run({ type: 'bandwidth', hours: 2 }).payload as BandwidthRow[];
      assert.equal(rows.length, 30);
      assert.deepEqual(rows[0], { timestamp: '2026-03-11 20:29:00', ts: local(2026, 3, 11, 20, 29), seconds: 60, total_upload: 0, total_download: 16, total_clients: 1 });
      assert.equal(rows[29].timestamp, '2026-03-11 20:00:00');
    });
    it('switches to hourly rows past 48 hours', () => {
      const result = q.run({ type: 'bandwidth', hours: 72 });
      assert.equal(result.meta.tier, 'usage_hourly');
      const rows = result.payload as BandwidthRow[];
      assert.deepEqual(
        rows.map((r) => [r.timestamp, r.total_download, r.total_upload, r.total_clients, r.seconds]),
        [
          ['2026-03-11 20:00:00', 16, 0, 1, 1800],
          ['2026-03-10 09:00:00', 13, 2, 2, 3600],
        ],
      );
    });
  });

  describe('hourly: one row per hour, the original statistics', () => {
    it('covers the last N hours, current one included', () => {
      assert.deepEqual(q.run({ type: 'hourly', hours: 24 }).payload as HourlyRow[], [
        { hour: '2026-03-11 20:00', ts: local(2026, 3, 11, 20), avg_upload: 0, avg_download: 16, peak_upload: 0, peak_download: 16, avg_clients: 1 },
      ]);
      const rows = q.run({ type: 'hourly', hours: 48 }).payload as HourlyRow[];
      assert.deepEqual(rows[0], { hour: '2026-03-10 09:00', ts: local(2026, 3, 10, 9), avg_upload: 2, avg_download: 13, peak_upload: 2, peak_download: 13, avg_clients: 2 });
      assert.equal(rows.length, 2);
    });
  });

  describe('top: the biggest consumers over a period', () => {
    it('ranks by download + upload and reports average rate and volume', () => {
      const rows = q.run({ type: 'top', limit: 10, hours: 48 }).payload as ConsumerRow[];
      assert.deepEqual(
        rows.map((r) => [r.mac, r.ip_address, r.total_usage, r.download_mb, r.upload_mb, r.sessions, r.connected_seconds]),
        [
          [A, '192.168.1.10', 8100, 7200, 900, 2700, 5400],
          [B, '192.168.1.11', 1800, 1800, 0, 1800, 3600],
        ],
      );
      close(rows[0].avg_usage, 12, 'A avg');
      close(rows[1].avg_usage, 4, 'B avg');
      assert.equal(rows[0].vendor, 'Apple');
      assert.equal(rows[0].device_type, 'phone');
      // the hostname usage-store keeps: a name for a device nobody named, also after it left
      assert.deepEqual(rows.map((r) => [r.name, r.hostname]), [[null, 'annas-iphone'], [null, null]]);
    });
    it('keeps only the first N, and only the period asked for (24 h by default)', () => {
      assert.deepEqual((q.run({ type: 'top', limit: 1, hours: 48 }).payload as ConsumerRow[]).map((r) => r.mac), [A]);
      const day = q.run({ type: 'top', limit: 10 }).payload as ConsumerRow[];
      assert.deepEqual(day.map((r) => [r.mac, r.total_usage, r.avg_usage]), [[A, 3600, 16]]);
    });
  });

  describe('report: N-day summary', () => {
    it('matches the original fields and adds totals, top, days and alert counts', () => {
      const r = q.run({ type: 'report', days: 2 }).payload as Report;
      assert.equal(r.period_days, 2);
      assert.equal(r.unique_clients, 2);
      close(r.avg_bandwidth, 8.8, 'avg_bandwidth'); // 9900 MB * 8 / 9000 client-seconds
      assert.equal(r.peak_bandwidth, 16);
      assert.equal(r.peak_hour, '20:00'); // 16 Mbit/s against 15 at 09:00
      close(r.peak_traffic, 16, 'peak_traffic');
      assert.equal(r.total_download_mb, 9450);
      assert.equal(r.total_upload_mb, 900);
      assert.equal(r.from, '2026-03-10 00:00:00');
      assert.deepEqual(r.days, [
        { date: '2026-03-10', ts: local(2026, 3, 10), download_mb: 5850, upload_mb: 900, avg_clients: 2 },
        { date: '2026-03-11', ts: local(2026, 3, 11), download_mb: 3600, upload_mb: 0, avg_clients: 1 },
      ]);
      assert.deepEqual(r.top.map((c) => c.mac), [A, B]);
      assert.deepEqual(r.alerts, { info: 1, warning: 2, error: 1, success: 0 });
    });
    it('covers today only for N = 1', () => {
      const r = q.run({ type: 'report', days: 1 }).payload as Report;
      assert.deepEqual([r.unique_clients, r.total_download_mb, r.peak_hour], [1, 3600, '20:00']);
    });
    it('scheduled daily report: yesterday, with a subject and text and HTML bodies', () => {
      const ready = scheduledReport(store, q, { period: 'daily' });
      assert.equal(ready.subject, 'EqualNet daily report: 2026-03-10');
      assert.equal(ready.data.total_download_mb, 5850);
      assert.equal(ready.data.peak_hour, '09:00');
      assert.match(ready.text, /Downloaded 5\.85 GB, uploaded 900\.0 MB by 2 clients/);
      assert.match(ready.html, /<h2>EqualNet daily report: 2026-03-10<\/h2>/);
      assert.match(ready.html, /<td>192\.168\.1\.10<\/td><td>4\.50 GB<\/td>/);
    });
    it('scheduled weekly and monthly reports cover the 7 days before today and the previous month', () => {
      assert.equal(scheduledReport(store, q, { period: 'weekly' }).subject, 'EqualNet weekly report: 2026-03-04 – 2026-03-10');
      const monthly = scheduledReport(store, q, { period: 'monthly' });
      assert.equal(monthly.subject, 'EqualNet monthly report: 2026-02-01 – 2026-02-28');
      assert.equal(monthly.data.unique_clients, 0);
    });
  });

  describe('client: one device in detail, or every client\'s share', () => {
    it('sums one device and gives an hourly series', () => {
      const c = q.run({ type: 'client', mac: A.toUpperCase(), hours: 48 }).payload as ClientSummary;
      close(c.avg_usage, 12, 'avg_usage');
      assert.equal(c.peak_usage, 16);
      close(c.avg_upload, 900 * 8 / 5400, 'avg_upload');
      close(c.avg_download, 7200 * 8 / 5400, 'avg_download');
      assert.deepEqual([c.data_points, c.download_mb, c.upload_mb], [2700, 7200, 900]);
      assert.deepEqual(c.series.map((s) => [s.timestamp, s.download, s.upload]), [
        ['2026-03-10 09:00:00', 8, 2],
        ['2026-03-11 20:00:00', 16, 0],
      ]);
    });
    it('finds a device by its IP address', () => {
      assert.equal((q.run({ type: 'client', ip: '192.168.1.11', hours: 48 }).payload as ClientSummary).mac, B);
    });
    it('without a device, lists every client with its share', () => {
      const rows = q.run({ type: 'client', hours: 48 }).payload as ConsumerRow[];
      close(rows[0].share_percent as number, (100 * 8100) / 9900, 'A share');
      close(rows[1].share_percent as number, (100 * 1800) / 9900, 'B share');
    });
  });

  describe('history: when a device was connected', () => {
    it('lists the sessions of one device, newest first', () => {
      const { device, sessions } = q.run({ type: 'history', mac: A, days: 7 }).payload as { device: DeviceEntry; sessions: SessionRow[] };
      assert.equal(device.mac, A);
      assert.deepEqual(sessions.map((s) => [s.start, s.end, s.durationSec, s.ip]), [
        ['2026-03-11 20:00:00', '2026-03-11 20:29:58', 1798, '192.168.1.10'],
        ['2026-03-10 09:00:00', '2026-03-10 09:59:58', 3598, '192.168.1.10'],
      ]);
    });
    it('lists every device\'s sessions without a MAC, and only those in the window', () => {
      const all = q.run({ type: 'history', days: 7 }).payload as SessionRow[];
      assert.deepEqual(all.map((s) => [s.mac, s.start]), [
        [A, '2026-03-11 20:00:00'],
        [A, '2026-03-10 09:00:00'],
        [B, '2026-03-10 09:00:00'],
      ]);
      assert.deepEqual((q.run({ type: 'history', days: 1 }).payload as SessionRow[]).map((s) => s.mac), [A]);
    });
  });

  describe('alerts: filtered by severity, type, device and time', () => {
    const types = (payload: Record<string, unknown>) => (q.run({ type: 'alerts', ...payload }).payload as AlertRow[]).map((a) => a.alert_type);
    it('returns every alert newest first, in the original field names', () => {
      const rows = q.run({ type: 'alerts' }).payload as AlertRow[];
      assert.deepEqual(rows.map((a) => a.type), ['unusual_traffic', 'priority_starvation', 'bandwidth_limit', 'new_device']);
      assert.deepEqual(
        { ...rows[3], id: 0 },
        {
          id: 0,
          timestamp: '2026-03-10 09:30:00',
          ts: local(2026, 3, 10, 9, 30),
          type: 'new_device',
          alert_type: 'new_device',
          severity: 'info',
          message: 'New device connected: Apple phone at 192.168.1.10',
          ip_address: '192.168.1.10',
          mac_address: A,
          acknowledged: false,
          acknowledged_at: null,
          acknowledgedTs: null,
        },
      );
    });
    it('filters', () => {
      assert.deepEqual(types({ severity: 'warning' }), ['priority_starvation', 'bandwidth_limit']);
      assert.deepEqual(types({ severity: ['warning', 'error'], hours: 2 }), ['unusual_traffic', 'priority_starvation']);
      assert.deepEqual(types({ alertType: 'new_device' }), ['new_device']);
      assert.deepEqual(types({ mac: A }), ['bandwidth_limit', 'new_device']);
      assert.deepEqual(types({ since: '2026-03-11T00:00:00+02:00' }), ['unusual_traffic', 'priority_starvation']);
      assert.deepEqual(types({ until: local(2026, 3, 10, 9, 45) }), ['new_device']);
      assert.deepEqual(types({ text: 'UNUSUAL' }), ['unusual_traffic']);
      assert.deepEqual(types({ limit: 1 }), ['unusual_traffic']);
    });
  });

  describe('registry', () => {
    it('lists devices with what the pipeline told about them', () => {
      const devices = q.run({ type: 'registry' }).payload as { devices: DeviceEntry[] };
      assert.deepEqual(
        devices.devices.map((d) => [d.mac, d.ip, d.vendor, d.deviceType, d.firstSeen, d.lastSeen, d.randomizedMac]),
        [
          [A, '192.168.1.10', 'Apple', 'phone', '2026-03-10 09:00:00', '2026-03-11 20:29:58', false],
          [B, '192.168.1.11', null, null, '2026-03-10 09:00:00', '2026-03-10 09:59:58', false],
        ],
      );
    });
  });
});

describe('usage store: the hour in progress is read from raw rows until it is rolled up', () => {
  const dir = new TempDir();
  const clock = new Clock(0);
  let store: UsageStore;
  let q: UsageQueries;
  before(() => {
    ({ store, queries: q } = openStore(dir.file(), clock));
    // 09:00–10:00 rolled up once 10:00 is committed; 10:00–10:30 still raw at 10:30
    ticks(store, clock, local(2026, 4, 2, 9), local(2026, 4, 2, 10, 30), [{ mac: A, rxBps: 8 * MBIT, txBps: 0 }]);
    clock.ms = local(2026, 4, 2, 10, 30);
    store.flush();
    assert.equal(store.rollupUntil * 1000, local(2026, 4, 2, 10));
  });
  after(() => {
    store.close();
    dir.remove();
  });

  it('hourly, top, client, bandwidth over hourly rows and the report all include it', () => {
    assert.deepEqual((q.run({ type: 'hourly', hours: 3 }).payload as HourlyRow[]).map((h) => [h.hour, h.avg_download, h.avg_clients]), [
      ['2026-04-02 09:00', 8, 1],
      ['2026-04-02 10:00', 8, 1],
    ]);
    assert.deepEqual((q.run({ type: 'top' }).payload as ConsumerRow[]).map((r) => [r.mac, r.download_mb, r.sessions]), [[A, 5400, 2700]]);
    assert.equal((q.run({ type: 'client', mac: A, hours: 2 }).payload as ClientSummary).series[1].timestamp, '2026-04-02 10:00:00');
    assert.deepEqual((q.run({ type: 'bandwidth', hours: 72 }).payload as BandwidthRow[]).map((r) => [r.timestamp, r.seconds]), [
      ['2026-04-02 10:00:00', 1800],
      ['2026-04-02 09:00:00', 3600],
    ]);
    const report = q.run({ type: 'report', days: 1 }).payload as Report;
    assert.deepEqual([report.total_download_mb, report.days.length, report.days[0].download_mb], [5400, 1, 5400]);
  });

  it('a tick for an hour already rolled up (the clock went back) lands in every tier', () => {
    clock.ms = local(2026, 4, 2, 9, 59, 0);
    store.ingest({ ts: clock.ms, clients: [{ mac: A, rxBps: 8 * MBIT, txBps: 0 }] }); // new bucket: commits 10:29
    clock.ms = local(2026, 4, 2, 10, 31);
    store.ingest({ ts: clock.ms, clients: [{ mac: A, rxBps: 8 * MBIT, txBps: 0 }] }); // commits the late 09:59 bucket
    const hours = q.run({ type: 'hourly', hours: 3 }).payload as HourlyRow[];
    assert.equal(hours[0].hour, '2026-04-02 09:00');
    // the late tick stood for the usual 2 s: 2 MB more in the 09:00 hour, in the hourly and daily rows alike
    const [top] = q.run({ type: 'top', hours: 2 }).payload as ConsumerRow[];
    assert.equal(top.download_mb, 5400 + 2);
    assert.equal((q.run({ type: 'report', days: 1 }).payload as Report).total_download_mb, 5400 + 2);
  });
});
