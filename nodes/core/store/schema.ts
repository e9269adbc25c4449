import Database from 'better-sqlite3';
import type { Calendar } from './calendar';

/** Something is wrong with the database file itself: it cannot be opened, read or upgraded. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

/**
 * The columns of every usage tier (raw, hourly, daily). Volumes are integrals over time, so a
 * coarser row is the plain sum of finer ones and averages stay exact: rate = bytes * 8 / seconds.
 * device_id 0 is the whole interface (the snapshot's totals); devices start at 1.
 * Raw rows are keyed by time first, so a commit appends to a few pages and pruning cuts one range;
 * rollups are keyed by device first, so a query reads one contiguous range per device.
 */
const USAGE_COLUMNS = `
  bucket INTEGER NOT NULL,          -- start of the bucket, unix seconds
  device_id INTEGER NOT NULL,       -- devices.id, or 0 for the interface totals
  ms INTEGER NOT NULL,              -- time covered by the ticks summed here
  samples INTEGER NOT NULL,         -- ticks summed here
  rx_bytes INTEGER NOT NULL,        -- downloaded by the client (egress of the LAN interface)
  tx_bytes INTEGER NOT NULL,        -- uploaded by the client
  alloc_rx_bytes INTEGER NOT NULL,  -- integral of the allocated download rate, in bytes
  alloc_tx_bytes INTEGER NOT NULL,
  peak_rx_bps INTEGER NOT NULL,
  peak_tx_bps INTEGER NOT NULL,
  peak_bps INTEGER NOT NULL,        -- highest rx + tx of one tick
  client_ms INTEGER NOT NULL,       -- interface row only: clients x ms, for the average client count
  priority INTEGER                  -- effective priority at the last tick
`;

type Migration = (db: Database.Database) => void;

/**
 * Schema versions, kept in PRAGMA user_version. Never edit a shipped step: add one. Each step runs
 * in one transaction with the version bump, so a crash mid-upgrade leaves the previous version.
 */
export const MIGRATIONS: readonly Migration[] = [
  // 1: the first schema (EqualNet 0.1): registry by MAC, raw usage, alerts.
  (db) => {
    db.exec(`
      CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        mac TEXT NOT NULL UNIQUE,
        name TEXT,
        priority INTEGER,
        device_type TEXT,
        vendor TEXT,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
      );
      CREATE TABLE usage_raw (${USAGE_COLUMNS}, PRIMARY KEY (bucket, device_id)) WITHOUT ROWID;
      CREATE INDEX usage_raw_totals ON usage_raw (bucket) WHERE device_id = 0;
      CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        alert_type TEXT NOT NULL,
        severity TEXT NOT NULL,
        message TEXT NOT NULL,
        ip_address TEXT
      );
      CREATE INDEX alerts_ts ON alerts (ts);
    `);
  },
  // 2: rollups (hourly, daily, monthly), several MACs per device (randomized MACs merged), addresses and sessions seen,
  //    expiry, alerts by MAC, and the original EqualNet's table names as views.
  (db) => {
    db.exec(`
      ALTER TABLE devices ADD COLUMN hostname TEXT;
      ALTER TABLE devices ADD COLUMN ip TEXT;
      ALTER TABLE devices ADD COLUMN randomized INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE devices ADD COLUMN expired_at INTEGER;
      CREATE TABLE device_macs (mac TEXT PRIMARY KEY, device_id INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX device_macs_device ON device_macs (device_id);
      INSERT INTO device_macs (mac, device_id) SELECT mac, id FROM devices;
      CREATE TABLE device_addresses (
        device_id INTEGER NOT NULL,
        address TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (device_id, address)
      ) WITHOUT ROWID;
      CREATE TABLE device_sessions (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL,
        start_ts INTEGER NOT NULL,
        end_ts INTEGER NOT NULL,
        ip_address TEXT
      );
      CREATE INDEX device_sessions_device ON device_sessions (device_id, start_ts);
      CREATE INDEX device_sessions_end ON device_sessions (end_ts);
      CREATE TABLE usage_hourly (${USAGE_COLUMNS}, PRIMARY KEY (device_id, bucket)) WITHOUT ROWID;
      CREATE TABLE usage_daily (${USAGE_COLUMNS}, PRIMARY KEY (device_id, bucket)) WITHOUT ROWID;
      CREATE TABLE usage_monthly (${USAGE_COLUMNS}, PRIMARY KEY (device_id, bucket)) WITHOUT ROWID;
      -- Raw rows before 'until' are summed into the hourly and daily tiers; later ones not yet.
      CREATE TABLE rollup_state (id INTEGER PRIMARY KEY CHECK (id = 1), until INTEGER NOT NULL);
      ALTER TABLE alerts ADD COLUMN mac_address TEXT;
      CREATE INDEX alerts_mac ON alerts (mac_address, ts);
    `);
    for (const [table, fn] of [
      ['usage_hourly', 'eqn_hour_start'],
      ['usage_daily', 'eqn_day_start'],
      ['usage_monthly', 'eqn_month_start'],
    ]) {
      db.exec(`
        INSERT INTO ${table}
        SELECT ${fn}(bucket), device_id, sum(ms), sum(samples), sum(rx_bytes), sum(tx_bytes),
               sum(alloc_rx_bytes), sum(alloc_tx_bytes), max(peak_rx_bps), max(peak_tx_bps), max(peak_bps),
               sum(client_ms), max(priority)
        FROM usage_raw GROUP BY 1, 2`);
    }
    db.prepare('INSERT INTO rollup_state (id, until) VALUES (1, coalesce((SELECT eqn_hour_start(max(bucket)) + 3600 FROM usage_raw), 0))').run();
    db.exec(`
      CREATE VIEW bandwidth_history AS
        SELECT bucket AS id, datetime(bucket, 'unixepoch', 'localtime') AS timestamp,
               tx_bytes * 8000.0 / ms / 1e6 AS total_upload,
               rx_bytes * 8000.0 / ms / 1e6 AS total_download,
               client_ms * 1.0 / ms AS total_clients
        FROM usage_raw WHERE device_id = 0 AND ms > 0;
      CREATE VIEW client_history AS
        SELECT u.bucket AS id, datetime(u.bucket, 'unixepoch', 'localtime') AS timestamp,
               d.ip AS ip_address, d.mac AS mac_address, d.vendor, d.device_type, u.priority,
               (u.alloc_rx_bytes + u.alloc_tx_bytes) * 8000.0 / u.ms / 1e6 AS allocated_bandwidth,
               (u.rx_bytes + u.tx_bytes) * 8000.0 / u.ms / 1e6 AS used_bandwidth,
               u.tx_bytes * 8000.0 / u.ms / 1e6 AS upload_speed,
               u.rx_bytes * 8000.0 / u.ms / 1e6 AS download_speed
        FROM usage_raw u JOIN devices d ON d.id = u.device_id WHERE u.ms > 0;
    `);
  },
  // 3: per-device limits (issue 18): a maximum per direction, daily and monthly quotas and what a
  //    used-up quota does. NULL: not set (existing devices keep none; nothing else changes).
  (db) => {
    db.exec(`
      ALTER TABLE devices ADD COLUMN max_down_bps INTEGER;
      ALTER TABLE devices ADD COLUMN max_up_bps INTEGER;
      ALTER TABLE devices ADD COLUMN quota_daily_bytes INTEGER;
      ALTER TABLE devices ADD COLUMN quota_monthly_bytes INTEGER;
      ALTER TABLE devices ADD COLUMN quota_action TEXT NOT NULL DEFAULT 'alert';
      ALTER TABLE devices ADD COLUMN throttle_bps INTEGER;
    `);
  },
  // 4: the dashboard's Alerts and Settings pages (issue 16): an alert acknowledged or cleared
  //    (when, ms; NULL: not), and the alert delivery settings (recipient, MQTT topic prefix, kinds
  //    sent) as one JSON row. Existing alerts stay, neither acknowledged nor cleared.
  (db) => {
    db.exec(`
      ALTER TABLE alerts ADD COLUMN acknowledged_at INTEGER;
      ALTER TABLE alerts ADD COLUMN cleared_at INTEGER;
      CREATE INDEX alerts_type ON alerts (alert_type, ts);
      CREATE TABLE app_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Tables of the original EqualNet Pro (Python), whose file is also called equalnet.db by default. */
const ORIGINAL_TABLES = ['bandwidth_history', 'client_history', 'client_metadata'];

/** Calendar functions for SQL (rollups and migrations group by the router's wall clock). NULL stays NULL. */
function registerFunctions(db: Database.Database, calendar: Calendar): void {
  const fn = (name: string, f: (sec: number) => number) =>
    db.function(name, { deterministic: true }, (sec: unknown) => (sec === null || sec === undefined ? null : f(Number(sec))));
  fn('eqn_hour_start', calendar.hourStart);
  fn('eqn_day_start', calendar.dayStart);
  fn('eqn_month_start', calendar.monthStart);
  fn('eqn_hour_of_day', calendar.hourOfDay);
}

/**
 * Opens (creating if needed) and upgrades the usage database. Throws a StoreError that names the
 * file and says what to do when it cannot be used; a file it refuses is left untouched.
 */
export function openDatabase(file: string, calendar: Calendar, options: { upTo?: number } = {}): Database.Database {
  const target = options.upTo ?? SCHEMA_VERSION;
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (err) {
    throw new StoreError(`cannot open the usage database "${file}": ${reason(err)}`);
  }
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new StoreError(
        `the usage database "${file}" has schema version ${version}, newer than this EqualNet understands (${SCHEMA_VERSION}); ` +
          'update node-red-contrib-equalnet or choose another database file. The file was not changed.',
      );
    }
    if (version === 0) refuseForeign(db, file);
    const fresh = (db.pragma('page_count', { simple: true }) as number) === 0;
    // Must precede the first table; lets the retention job hand freed pages back to the file system.
    if (fresh) db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a crash or power loss never corrupts the file; power loss may lose the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    registerFunctions(db, calendar);
    for (let v = version; v < target; v++) {
      db.transaction(() => {
        MIGRATIONS[v](db);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
    return db;
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError(`cannot use the usage database "${file}": ${reason(err)}`);
  }
}

function refuseForeign(db: Database.Database, file: string): void {
  const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[]).map(
    (t) => t.name,
  );
  if (tables.length === 0) return;
  const original = ORIGINAL_TABLES.every((t) => tables.includes(t));
  throw new StoreError(
    original
      ? `"${file}" is a database of the original EqualNet Pro (Python), not of this package; choose another database file in the EqualNet config. The file was not changed.`
      : `"${file}" is an SQLite database of something else (tables: ${tables.slice(0, 5).join(', ')}); choose another database file. The file was not changed.`,
  );
}

function reason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'SQLITE_NOTADB') return 'the file is not an SQLite database (corrupt, or another kind of file); move it away or choose another file';
  if (e.code === 'SQLITE_CANTOPEN') return 'the file cannot be created or opened here (check the path and that Node-RED may write to its folder)';
  if (e.code === 'SQLITE_READONLY') return 'the file is read-only for Node-RED';
  if (e.code === 'SQLITE_CORRUPT') return 'the file is corrupt; move it away so a new one is created';
  if (e.code === 'SQLITE_FULL') return 'the disk is full';
  if (/directory does not exist/.test(e.message ?? '')) return 'its folder does not exist';
  return e.message ?? String(err);
}
