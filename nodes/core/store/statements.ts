/**
 * The usage store's prepared statements, made once when the file is opened and shared by its parts:
 * the usage tiers and how a row adds to a bucket (ingest, rollups, merges, pruning), the device
 * registry, addresses and sessions, alerts. Also what every part is handed: the open file, these
 * statements, the clock, the calendar and the raw resolution.
 */
import type Database from 'better-sqlite3';
import type { Calendar } from './calendar';

export const TIERS = ['usage_raw', 'usage_hourly', 'usage_daily', 'usage_monthly'] as const;
export type Tier = (typeof TIERS)[number];

/** A row landing on a bucket a device already has: volumes add up, peaks keep the larger. */
const ADD_TO_BUCKET = `ms = ms + excluded.ms, samples = samples + excluded.samples,
          rx_bytes = rx_bytes + excluded.rx_bytes, tx_bytes = tx_bytes + excluded.tx_bytes,
          alloc_rx_bytes = alloc_rx_bytes + excluded.alloc_rx_bytes, alloc_tx_bytes = alloc_tx_bytes + excluded.alloc_tx_bytes,
          peak_rx_bps = max(peak_rx_bps, excluded.peak_rx_bps), peak_tx_bps = max(peak_tx_bps, excluded.peak_tx_bps),
          peak_bps = max(peak_bps, excluded.peak_bps), client_ms = client_ms + excluded.client_ms`;
/** ...and the newest known priority wins. */
const KEEP_PRIORITY = 'priority = coalesce(excluded.priority, priority)';

export function prepareStatements(db: Database.Database) {
  const upsert = (table: Tier) =>
    db.prepare(`
        INSERT INTO ${table} (bucket, device_id, ms, samples, rx_bytes, tx_bytes, alloc_rx_bytes, alloc_tx_bytes,
                              peak_rx_bps, peak_tx_bps, peak_bps, client_ms, priority)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (device_id, bucket) DO UPDATE SET
          ${ADD_TO_BUCKET}, ${KEEP_PRIORITY}`);
  // Moves one device's rows onto another, adding where both have a bucket (merge of MACs).
  const moveRows = (table: Tier) =>
    db.prepare(`
        INSERT INTO ${table} (bucket, device_id, ms, samples, rx_bytes, tx_bytes, alloc_rx_bytes, alloc_tx_bytes,
                              peak_rx_bps, peak_tx_bps, peak_bps, client_ms, priority)
        SELECT bucket, @into, ms, samples, rx_bytes, tx_bytes, alloc_rx_bytes, alloc_tx_bytes,
               peak_rx_bps, peak_tx_bps, peak_bps, client_ms, priority
        FROM ${table} WHERE device_id = @from AND true
        ON CONFLICT (device_id, bucket) DO UPDATE SET
          ${ADD_TO_BUCKET}`);
  return {
    upsert: TIERS.map(upsert),
    moveRows: TIERS.map(moveRows),
    deleteRows: TIERS.map((t) => db.prepare(`DELETE FROM ${t} WHERE device_id = ?`)),
    // one range per device (rows are keyed by device first)
    pruneRows: TIERS.map((t) =>
      db.prepare(
        t === 'usage_raw'
          ? 'DELETE FROM usage_raw WHERE bucket < ?'
          : `DELETE FROM ${t} WHERE device_id IN (SELECT 0 UNION ALL SELECT id FROM devices) AND bucket < ?`,
      ),
    ),
    rollup: (['usage_hourly', 'usage_daily', 'usage_monthly'] as const).map((t) =>
      db.prepare(`
          INSERT INTO ${t} (bucket, device_id, ms, samples, rx_bytes, tx_bytes, alloc_rx_bytes, alloc_tx_bytes,
                            peak_rx_bps, peak_tx_bps, peak_bps, client_ms, priority)
          SELECT ${{ usage_hourly: 'eqn_hour_start', usage_daily: 'eqn_day_start', usage_monthly: 'eqn_month_start' }[t]}(u.bucket), u.device_id, sum(u.ms), sum(u.samples),
                 sum(u.rx_bytes), sum(u.tx_bytes), sum(u.alloc_rx_bytes), sum(u.alloc_tx_bytes),
                 max(u.peak_rx_bps), max(u.peak_tx_bps), max(u.peak_bps), sum(u.client_ms), max(u.priority)
          FROM usage_raw u
          WHERE u.bucket >= ? AND u.bucket < ?
          GROUP BY 1, 2
          ON CONFLICT (device_id, bucket) DO UPDATE SET
            ${ADD_TO_BUCKET}, ${KEEP_PRIORITY}`),
    ),
    setRolledUntil: db.prepare('UPDATE rollup_state SET until = ? WHERE id = 1'),
    getRolledUntil: db.prepare('SELECT until FROM rollup_state WHERE id = 1'),
    seenUntil: db.prepare('UPDATE devices SET last_seen = max(last_seen, ?) WHERE id = ?'),
    allMacs: db.prepare('SELECT mac, device_id FROM device_macs'),
    insertDevice: db.prepare(
      `INSERT INTO devices (mac, device_type, vendor, hostname, ip, randomized, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertMac: db.prepare('INSERT INTO device_macs (mac, device_id) VALUES (?, ?)'),
    touchDevice: db.prepare(`
        UPDATE devices SET last_seen = max(last_seen, @last), ip = coalesce(@ip, ip), hostname = coalesce(@hostname, hostname),
          vendor = coalesce(@vendor, vendor), device_type = coalesce(@deviceType, device_type),
          randomized = coalesce(@randomized, randomized), expired_at = NULL
        WHERE id = @id`),
    upsertAddress: db.prepare(`
        INSERT INTO device_addresses (device_id, address, first_seen, last_seen) VALUES (?, ?, ?, ?)
        ON CONFLICT (device_id, address) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`),
    lastSession: db.prepare('SELECT id, end_ts FROM device_sessions WHERE device_id = ? ORDER BY start_ts DESC LIMIT 1'),
    extendSession: db.prepare('UPDATE device_sessions SET end_ts = max(end_ts, ?), ip_address = coalesce(?, ip_address) WHERE id = ?'),
    insertSession: db.prepare('INSERT INTO device_sessions (device_id, start_ts, end_ts, ip_address) VALUES (?, ?, ?, ?)'),
    insertAlert: db.prepare(
      'INSERT INTO alerts (ts, alert_type, severity, message, ip_address, mac_address) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    deviceById: db.prepare('SELECT * FROM devices WHERE id = ?'),
    deviceIdByIp: db.prepare(`
        SELECT id FROM (
          SELECT id, last_seen FROM devices WHERE ip = @ip
          UNION ALL SELECT device_id, last_seen FROM device_addresses WHERE address = @ip)
        ORDER BY last_seen DESC LIMIT 1`),
    macsOf: db.prepare('SELECT mac FROM device_macs WHERE device_id = ?'),
    addressesOf: db.prepare('SELECT address FROM device_addresses WHERE device_id = ? ORDER BY last_seen DESC, address LIMIT 32'),
    setName: db.prepare('UPDATE devices SET name = ? WHERE id = ?'),
    setPriority: db.prepare('UPDATE devices SET priority = ? WHERE id = ?'),
    setType: db.prepare('UPDATE devices SET device_type = ? WHERE id = ?'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** What the store hands each of its parts. */
export interface StoreContext {
  readonly db: Database.Database;
  readonly stmt: Statements;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  readonly calendar: Calendar;
  /** Length of a raw row, seconds. */
  readonly resolutionSec: number;
}
