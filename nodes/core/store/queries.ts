import type Database from 'better-sqlite3';
import { InputError } from '../contract/errors';
import { formatDate, formatHour, formatTimestamp } from './calendar';
import { alertFilter, alertRow, type AlertTableRow } from './alerts';
import { countParam, objectParam, QUERY_LIMITS } from './params';
import { type Tier, type UsageStore } from './store';
import type { AlertRow, BandwidthRow, ClientSummary, ConsumerRow, DayRow, DeviceEntry, HourlyRow, Report, SessionRow } from './types';

/** bytes over ms -> Mbit/s */
const mbps = (bytes: number, ms: number) => (ms > 0 ? (bytes * 8) / ms / 1000 : 0);
const mb = (bytes: number) => bytes / 1e6;

interface Sums {
  device_id: number;
  ms: number;
  samples: number;
  rx: number;
  tx: number;
  peak: number;
}

/** Where a query reads: a time window split into tiers, coarse in the middle, fine at the edges. */
interface Window {
  fromSec: number;
  toSec: number;
}

export type QueryType = 'bandwidth' | 'hourly' | 'top' | 'report' | 'client' | 'history' | 'alerts' | 'registry';
export const QUERY_TYPES: readonly QueryType[] = ['bandwidth', 'hourly', 'top', 'report', 'client', 'history', 'alerts', 'registry'];

export interface QueryResult {
  type: QueryType;
  payload: unknown;
  /** What was read: the window and the tier, for the curious and for charts' axes. */
  meta: Record<string, unknown>;
}

/**
 * The reports, over a UsageStore. Every method validates its parameters first (InputError) and
 * reads only committed rows; what is still summed in memory (at most one raw bucket) is not seen.
 */
export class UsageQueries {
  private readonly db: Database.Database;
  private readonly sumsStmt: Record<Tier, Database.Statement>;
  private readonly seriesStmt: Record<Tier, Database.Statement>;
  private readonly rawTotalsStmt: Database.Statement;
  private readonly hourOfDayStmt: Database.Statement;
  private readonly devicesStmt: Database.Statement;

  constructor(private readonly store: UsageStore) {
    this.db = store.db;
    // Per device, one range each (rows are keyed by device first), summed by SQLite.
    const sums = (t: Tier) =>
      this.db.prepare(
        t === 'usage_raw'
          ? `SELECT device_id, sum(ms) AS ms, sum(samples) AS samples, sum(rx_bytes) AS rx, sum(tx_bytes) AS tx, max(peak_bps) AS peak
             FROM usage_raw WHERE bucket >= ? AND bucket < ? GROUP BY device_id`
          : `
        SELECT i.id AS device_id, sum(u.ms) AS ms, sum(u.samples) AS samples, sum(u.rx_bytes) AS rx, sum(u.tx_bytes) AS tx, max(u.peak_bps) AS peak
        FROM (SELECT 0 AS id UNION ALL SELECT id FROM devices) i CROSS JOIN ${t} u
        WHERE u.device_id = i.id AND u.bucket >= ? AND u.bucket < ?
        GROUP BY i.id`,
      );
    this.sumsStmt = { usage_raw: sums('usage_raw'), usage_hourly: sums('usage_hourly'), usage_daily: sums('usage_daily'), usage_monthly: sums('usage_monthly') };
    const series = (t: Tier) =>
      this.db.prepare(`
        SELECT bucket, ms, samples, rx_bytes, tx_bytes, alloc_rx_bytes, alloc_tx_bytes, peak_rx_bps, peak_tx_bps, peak_bps, client_ms
        FROM ${t} WHERE device_id = ? AND bucket >= ? AND bucket < ? ORDER BY bucket`);
    this.seriesStmt = {
      usage_raw: series('usage_raw'),
      usage_hourly: series('usage_hourly'),
      usage_daily: series('usage_daily'),
      usage_monthly: series('usage_monthly'),
    };
    this.hourOfDayStmt = this.db.prepare(`
      SELECT eqn_hour_of_day(bucket) AS hour, sum(rx_bytes + tx_bytes) AS bytes, sum(ms) AS ms
      FROM usage_hourly WHERE device_id = 0 AND bucket >= ? AND bucket < ? GROUP BY 1`);
    this.devicesStmt = this.db.prepare('SELECT id, mac, name, hostname, ip, vendor, device_type FROM devices');
    // The literal 0 lets SQLite use the partial index of interface rows.
    this.rawTotalsStmt = this.db.prepare(`
      SELECT bucket, ms, samples, rx_bytes, tx_bytes, alloc_rx_bytes, alloc_tx_bytes, peak_rx_bps, peak_tx_bps, peak_bps, client_ms
      FROM usage_raw WHERE device_id = 0 AND bucket >= ? AND bucket < ? ORDER BY bucket`);
  }

  /** Runs a `query` command: payload { type, ...parameters }. */
  run(payload: unknown): QueryResult {
    const p = objectParam(payload, 'payload', '{ "type": "top", "limit": 10 }');
    switch (p.type) {
      case 'bandwidth':
        return this.bandwidth(countParam(p.hours ?? p.n, 'payload.hours', QUERY_LIMITS.maxHours, 24));
      case 'hourly':
        return this.hourly(countParam(p.hours ?? p.n, 'payload.hours', QUERY_LIMITS.maxHours, 24));
      case 'top':
        return this.top(countParam(p.limit ?? p.n, 'payload.limit', QUERY_LIMITS.maxLimit, 10), countParam(p.hours, 'payload.hours', QUERY_LIMITS.maxHours, 24));
      case 'report':
        return this.report(countParam(p.days ?? p.n, 'payload.days', QUERY_LIMITS.maxDays, 7));
      case 'client':
        return this.client(p, countParam(p.hours ?? p.n, 'payload.hours', QUERY_LIMITS.maxHours, 24));
      case 'history':
        return this.history(p, countParam(p.days ?? p.n, 'payload.days', QUERY_LIMITS.maxDays, 7), countParam(p.limit, 'payload.limit', QUERY_LIMITS.maxLimit, 100));
      case 'alerts':
        return this.alerts(p);
      case 'registry':
        return { type: 'registry', payload: { devices: this.store.registry(p.includeExpired === true) }, meta: {} };
      default:
        throw new InputError('payload.type', `must be one of ${QUERY_TYPES.join(', ')}, got ${JSON.stringify(p.type)}`);
    }
  }

  private nowSec(): number {
    return Math.floor(this.store.clock() / 1000);
  }

  /** The last `hours` whole hours, the current one included. */
  private hoursWindow(hours: number): Window {
    const now = this.nowSec();
    return { fromSec: this.store.calendar.hourStart(now) - (hours - 1) * 3600, toSec: now + 1 };
  }

  /** The last `days` calendar days, today included. */
  private daysWindow(days: number): Window {
    const now = this.nowSec();
    return { fromSec: this.dayStartBack(this.store.calendar.dayStart(now), days - 1), toSec: now + 1 };
  }

  private dayStartBack(dayStart: number, days: number): number {
    let d = dayStart;
    for (let i = 0; i < days; i++) d = this.store.calendar.dayStart(d - 1);
    return d;
  }

  /**
   * Sums per device over a window, reading as few rows as possible: monthly rows for whole months,
   * daily rows for whole days, hourly rows for the rest, raw rows after the rollup mark.
   */
  private sums({ fromSec, toSec }: Window): Map<number, Sums> {
    const cal = this.store.calendar;
    const until = this.store.rollupUntil;
    const segments: [Tier, number, number][] = [];
    const end = Math.min(toSec, until);
    if (fromSec < end) {
      let firstDay = cal.dayStart(fromSec);
      if (firstDay < fromSec) firstDay = cal.nextDayStart(fromSec);
      const lastDay = cal.dayStart(end);
      if (firstDay < lastDay) {
        segments.push(['usage_hourly', fromSec, firstDay], ['usage_hourly', lastDay, end]);
        let firstMonth = cal.monthStart(firstDay);
        if (firstMonth < firstDay) firstMonth = cal.nextMonthStart(firstDay);
        const lastMonth = cal.monthStart(lastDay);
        if (firstMonth < lastMonth) {
          segments.push(['usage_daily', firstDay, firstMonth], ['usage_monthly', firstMonth, lastMonth], ['usage_daily', lastMonth, lastDay]);
        } else {
          segments.push(['usage_daily', firstDay, lastDay]);
        }
      } else {
        segments.push(['usage_hourly', fromSec, end]);
      }
    }
    segments.push(['usage_raw', Math.max(fromSec, until), toSec]);
    const total = new Map<number, Sums>();
    for (const [tier, from, to] of segments) {
      if (from >= to) continue;
      for (const r of this.sumsStmt[tier].all(from, to) as Sums[]) {
        const t = total.get(r.device_id);
        if (!t) total.set(r.device_id, r);
        else {
          t.ms += r.ms;
          t.samples += r.samples;
          t.rx += r.rx;
          t.tx += r.tx;
          t.peak = Math.max(t.peak, r.peak);
        }
      }
    }
    return total;
  }

  /**
   * Rows of one device in a tier, oldest first: the tier up to the rollup mark, then the raw rows
   * after it summed into the tier's buckets, so the current hour and day are complete.
   */
  private series(tier: Tier, deviceId: number, fromSec: number, toSec: number): SeriesRow[] {
    const raw = (from: number, to: number) =>
      (deviceId === 0 ? this.rawTotalsStmt.all(from, to) : this.seriesStmt.usage_raw.all(deviceId, from, to)) as SeriesRow[];
    if (tier === 'usage_raw') return raw(fromSec, toSec);
    const until = this.store.rollupUntil;
    const rows = this.seriesStmt[tier].all(deviceId, fromSec, Math.min(toSec, until)) as SeriesRow[];
    const tail = raw(Math.max(fromSec, until), toSec);
    if (tail.length === 0) return rows;
    const cal = this.store.calendar;
    const bucketOf = { usage_hourly: cal.hourStart, usage_daily: cal.dayStart, usage_monthly: cal.monthStart }[tier];
    const byBucket = new Map(rows.map((r) => [r.bucket, r]));
    for (const raw of tail) {
      const bucket = bucketOf(raw.bucket);
      const row = byBucket.get(bucket);
      if (!row) {
        const copy = { ...raw, bucket };
        byBucket.set(bucket, copy);
        rows.push(copy);
        continue;
      }
      row.ms += raw.ms;
      row.samples += raw.samples;
      row.rx_bytes += raw.rx_bytes;
      row.tx_bytes += raw.tx_bytes;
      row.alloc_rx_bytes += raw.alloc_rx_bytes;
      row.alloc_tx_bytes += raw.alloc_tx_bytes;
      row.peak_rx_bps = Math.max(row.peak_rx_bps, raw.peak_rx_bps);
      row.peak_tx_bps = Math.max(row.peak_tx_bps, raw.peak_tx_bps);
      row.peak_bps = Math.max(row.peak_bps, raw.peak_bps);
      row.client_ms += raw.client_ms;
    }
    return rows;
  }

  private consumers(all: Map<number, Sums>): ConsumerRow[] {
    const sums = new Map(all);
    sums.delete(0);
    type Row = { id: number; mac: string; name: string | null; hostname: string | null; ip: string | null; vendor: string | null; device_type: string | null };
    const devices = new Map<number, Row>(sums.size > 0 ? (this.devicesStmt.all() as Row[]).map((d) => [d.id, d]) : []);
    const rows = [...sums.values()].map((s): ConsumerRow => {
      const d = devices.get(s.device_id);
      return {
        mac: d?.mac ?? null,
        name: d?.name ?? null,
        hostname: d?.hostname ?? null,
        ip_address: d?.ip ?? null,
        vendor: d?.vendor ?? null,
        device_type: d?.device_type ?? null,
        avg_usage: mbps(s.rx + s.tx, s.ms),
        total_usage: mb(s.rx + s.tx),
        download_mb: mb(s.rx),
        upload_mb: mb(s.tx),
        sessions: s.samples,
        connected_seconds: s.ms / 1000,
      };
    });
    // Ties broken by MAC so the order never depends on insertion.
    return rows.sort((a, b) => b.total_usage - a.total_usage || (a.mac ?? '').localeCompare(b.mac ?? ''));
  }

  /**
   * `bandwidth`: the interface over the last `hours`, newest first (the original's
   * /api/analytics/bandwidth/N). Raw rows up to 48 h, hourly rows up to the hourly retention,
   * daily rows beyond.
   */
  bandwidth(hours: number): QueryResult {
    const now = this.nowSec();
    const fromSec = now - hours * 3600;
    const r = this.store.retention;
    const tier: Tier = hours <= 48 && hours <= r.rawDays * 24 ? 'usage_raw' : hours <= r.hourlyDays * 24 ? 'usage_hourly' : 'usage_daily';
    const start = tier === 'usage_raw' ? fromSec : tier === 'usage_hourly' ? this.store.calendar.hourStart(fromSec) : this.store.calendar.dayStart(fromSec);
    const rows = this.series(tier, 0, start, now + 1);
    const payload: BandwidthRow[] = rows
      .filter((s) => s.ms > 0)
      .reverse()
      .map((s) => ({
        timestamp: formatTimestamp(this.store.calendar, s.bucket),
        ts: s.bucket * 1000,
        seconds: s.ms / 1000,
        total_upload: mbps(s.tx_bytes, s.ms),
        total_download: mbps(s.rx_bytes, s.ms),
        total_clients: s.client_ms / s.ms,
      }));
    return { type: 'bandwidth', payload, meta: { hours, tier, from: start * 1000, to: now * 1000 } };
  }

  /** `hourly`: one row per hour of the last `hours` (the original's /api/analytics/hourly/N), oldest first. */
  hourly(hours: number): QueryResult {
    const w = this.hoursWindow(hours);
    const rows = this.series('usage_hourly', 0, w.fromSec, w.toSec);
    const payload: HourlyRow[] = rows
      .filter((s) => s.ms > 0)
      .map((s) => ({
        hour: formatHour(this.store.calendar, s.bucket),
        ts: s.bucket * 1000,
        avg_upload: mbps(s.tx_bytes, s.ms),
        avg_download: mbps(s.rx_bytes, s.ms),
        peak_upload: s.peak_tx_bps / 1e6,
        peak_download: s.peak_rx_bps / 1e6,
        avg_clients: s.client_ms / s.ms,
      }));
    return { type: 'hourly', payload, meta: { hours, from: w.fromSec * 1000, to: w.toSec * 1000 } };
  }

  /** `top`: the `limit` biggest consumers (download + upload) of the last `hours` (default 24). */
  top(limit: number, hours: number): QueryResult {
    const w = this.hoursWindow(hours);
    return { type: 'top', payload: this.consumers(this.sums(w)).slice(0, limit), meta: { limit, hours, from: w.fromSec * 1000, to: w.toSec * 1000 } };
  }

  /** `report`: summary of the last `days` calendar days, today included (the original's /api/analytics/report/N). */
  report(days: number): QueryResult {
    const w = this.daysWindow(days);
    return { type: 'report', payload: this.summary(w, days), meta: { days, from: w.fromSec * 1000, to: w.toSec * 1000 } };
  }

  /** Summary of a window of whole days (scheduled reports pass past days; the query includes today). */
  summary(w: Window, days: number): Report {
    const cal = this.store.calendar;
    const sums = this.sums(w);
    const consumers = this.consumers(sums);
    const total = sums.get(0);
    let clientBytes = 0;
    let clientMs = 0;
    let peak = 0;
    for (const [id, s] of sums) {
      if (id === 0) continue;
      clientBytes += s.rx + s.tx;
      clientMs += s.ms;
      peak = Math.max(peak, s.peak);
    }
    // Peak hour of day over the hourly rows still kept, and the raw rows not rolled up yet.
    const until = this.store.rollupUntil;
    const byHour = new Map<number, { bytes: number; ms: number }>();
    const addHour = (hour: number, bytes: number, ms: number) => {
      const acc = byHour.get(hour) ?? { bytes: 0, ms: 0 };
      acc.bytes += bytes;
      acc.ms += ms;
      byHour.set(hour, acc);
    };
    for (const h of this.hourOfDayStmt.all(w.fromSec, Math.min(w.toSec, until)) as { hour: number; bytes: number; ms: number }[]) addHour(h.hour, h.bytes, h.ms);
    for (const r of this.rawTotalsStmt.all(Math.max(w.fromSec, until), w.toSec) as SeriesRow[]) addHour(cal.hourOfDay(r.bucket), r.rx_bytes + r.tx_bytes, r.ms);
    let peakHour = -1;
    let peakTraffic = 0;
    for (const [hour, acc] of [...byHour].sort((a, b) => a[0] - b[0])) {
      const traffic = mbps(acc.bytes, acc.ms);
      if (peakHour === -1 || traffic > peakTraffic) {
        peakHour = hour;
        peakTraffic = traffic;
      }
    }
    const daysRows = this.dayRows(w);
    const alerts = { info: 0, warning: 0, error: 0, success: 0 };
    for (const a of this.db
      .prepare('SELECT severity, count(*) AS n FROM alerts WHERE ts >= ? AND ts < ? GROUP BY severity')
      .all(w.fromSec * 1000, w.toSec * 1000) as { severity: keyof typeof alerts; n: number }[]) {
      if (a.severity in alerts) alerts[a.severity] = a.n;
    }
    return {
      period_days: days,
      unique_clients: consumers.length,
      avg_bandwidth: mbps(clientBytes, clientMs),
      peak_bandwidth: peak / 1e6,
      peak_hour: peakHour === -1 ? 'N/A' : `${String(peakHour).padStart(2, '0')}:00`,
      peak_traffic: peakTraffic,
      from: formatTimestamp(cal, w.fromSec),
      to: formatTimestamp(cal, w.toSec),
      fromTs: w.fromSec * 1000,
      toTs: w.toSec * 1000,
      total_download_mb: mb(total?.rx ?? 0),
      total_upload_mb: mb(total?.tx ?? 0),
      top: consumers.slice(0, 5),
      days: daysRows,
      alerts,
    };
  }

  /** One row per calendar day of the window: daily rows, and hourly rows for a day not yet whole. */
  private dayRows(w: Window): DayRow[] {
    const cal = this.store.calendar;
    const byDay = new Map<number, { rx: number; tx: number; ms: number; clientMs: number }>();
    const addRow = (day: number, s: SeriesRow) => {
      const acc = byDay.get(day) ?? { rx: 0, tx: 0, ms: 0, clientMs: 0 };
      acc.rx += s.rx_bytes;
      acc.tx += s.tx_bytes;
      acc.ms += s.ms;
      acc.clientMs += s.client_ms;
      byDay.set(day, acc);
    };
    // Daily rows include the hours rolled up so far; series() adds the rest of today.
    for (const s of this.series('usage_daily', 0, cal.dayStart(w.fromSec), w.toSec)) addRow(s.bucket, s);
    return [...byDay]
      .sort((a, b) => a[0] - b[0])
      .map(([day, acc]) => ({
        date: formatDate(cal, day),
        ts: day * 1000,
        download_mb: mb(acc.rx),
        upload_mb: mb(acc.tx),
        avg_clients: acc.ms > 0 ? acc.clientMs / acc.ms : 0,
      }));
  }

  /**
   * `client`: with a mac or ip, that device over the last `hours` (the original's
   * /api/analytics/client/IP/N) with a series for a chart; without, every client's share.
   */
  client(p: Record<string, unknown>, hours: number): QueryResult {
    const w = this.hoursWindow(hours);
    const meta = { hours, from: w.fromSec * 1000, to: w.toSec * 1000 };
    if ((p.mac === undefined || p.mac === null) && (p.ip === undefined || p.ip === null)) {
      const rows = this.consumers(this.sums(w));
      const all = rows.reduce((sum, r) => sum + r.total_usage, 0);
      for (const r of rows) r.share_percent = all > 0 ? (100 * r.total_usage) / all : 0;
      return { type: 'client', payload: rows, meta };
    }
    const id = this.store.resolveDevice(p);
    const device = this.store.device(id);
    const s = this.sums(w).get(id);
    const tier: Tier = hours <= this.store.retention.hourlyDays * 24 ? 'usage_hourly' : 'usage_daily';
    const start = tier === 'usage_hourly' ? w.fromSec : this.store.calendar.dayStart(w.fromSec);
    const series = this.series(tier, id, start, w.toSec)
      .filter((r) => r.ms > 0)
      .map((r) => ({
        timestamp: formatTimestamp(this.store.calendar, r.bucket),
        ts: r.bucket * 1000,
        download: mbps(r.rx_bytes, r.ms),
        upload: mbps(r.tx_bytes, r.ms),
      }));
    const payload: ClientSummary = {
      mac: device.mac,
      name: device.name,
      ip_address: device.ip,
      hours,
      avg_usage: s ? mbps(s.rx + s.tx, s.ms) : 0,
      peak_usage: s ? s.peak / 1e6 : 0,
      avg_upload: s ? mbps(s.tx, s.ms) : 0,
      avg_download: s ? mbps(s.rx, s.ms) : 0,
      data_points: s?.samples ?? 0,
      download_mb: mb(s?.rx ?? 0),
      upload_mb: mb(s?.tx ?? 0),
      series,
    };
    return { type: 'client', payload, meta: { ...meta, tier } };
  }

  /** `history`: connection sessions over the last `days`, newest first; of one device, or of all. */
  history(p: Record<string, unknown>, days: number, limit: number): QueryResult {
    const w = this.daysWindow(days);
    const cal = this.store.calendar;
    const one = p.mac !== undefined || p.ip !== undefined;
    const id = one ? this.store.resolveDevice(p) : null;
    const rows = this.db
      .prepare(
        `SELECT s.id, s.device_id, s.start_ts, s.end_ts, s.ip_address, d.mac, d.name FROM device_sessions s JOIN devices d ON d.id = s.device_id
         WHERE s.end_ts >= ? AND s.start_ts < ? ${one ? 'AND s.device_id = ?' : ''}
         ORDER BY s.start_ts DESC, d.mac LIMIT ?`,
      )
      .all(...(one ? [w.fromSec, w.toSec, id, limit] : [w.fromSec, w.toSec, limit])) as {
      id: number;
      device_id: number;
      start_ts: number;
      end_ts: number;
      ip_address: string | null;
      mac: string;
      name: string | null;
    }[];
    for (const r of rows) r.end_ts = Math.max(r.end_ts, this.store.openSessionEnd(r.device_id, r.id) ?? 0);
    const sessions: SessionRow[] = rows.map((r) => ({
      mac: r.mac,
      name: r.name,
      start: formatTimestamp(cal, r.start_ts),
      end: formatTimestamp(cal, r.end_ts),
      startTs: r.start_ts * 1000,
      endTs: r.end_ts * 1000,
      durationSec: r.end_ts - r.start_ts,
      ip: r.ip_address,
    }));
    const meta = { days, limit, from: w.fromSec * 1000, to: w.toSec * 1000 };
    if (id === null) return { type: 'history', payload: sessions, meta };
    const device: DeviceEntry = this.store.device(id);
    return { type: 'history', payload: { device, sessions }, meta };
  }

  /**
   * `alerts`: newest first. Filters (alerts.ts's alertFilter): severity (one or a list), type (one
   * or a list), mac, since / until (ms or ISO date) or hours, text, acknowledged, includeCleared;
   * limit (default 50, the original's). Cleared alerts are not listed unless asked.
   */
  alerts(p: Record<string, unknown>): QueryResult {
    const { where, args } = alertFilter(p, this.store.clock(), (mac) => this.store.device(this.store.resolveDevice({ mac })).macs);
    const limit = countParam(p.limit, 'payload.limit', QUERY_LIMITS.maxLimit, 50);
    const rows = this.db
      .prepare(`SELECT * FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, id DESC LIMIT ?`)
      .all(...args, limit) as AlertTableRow[];
    const payload: AlertRow[] = rows.map((r) => alertRow(this.store.calendar, r));
    return { type: 'alerts', payload, meta: { limit } };
  }
}

interface SeriesRow {
  bucket: number;
  ms: number;
  samples: number;
  rx_bytes: number;
  tx_bytes: number;
  alloc_rx_bytes: number;
  alloc_tx_bytes: number;
  peak_rx_bps: number;
  peak_tx_bps: number;
  peak_bps: number;
  client_ms: number;
}
