import { priorityProblem, rateOf, severityProblem, snapshotClients, timeOf, type Severity } from '../contract/message';
import type Database from 'better-sqlite3';
import { InputError } from '../contract/errors';
import { clientMac, isLocallyAdministered } from '../contract/mac';
import { formatTimestamp, localCalendar, type Calendar } from './calendar';
import { macParam, objectParam, QUERY_LIMITS, textParam, timeParam } from './params';
import { openDatabase } from './schema';
import type { AlertRow, DeviceEntry } from './types';

export interface Retention {
  /** Raw rows (one per client per resolution). */
  rawDays: number;
  hourlyDays: number;
  dailyDays: number;
  alertDays: number;
  /** A device unseen this long leaves the registry, unless the user named it or set its priority; 0 = never. */
  expireDays: number;
}

export const DEFAULT_RETENTION: Readonly<Retention> = Object.freeze({
  rawDays: 7,
  hourlyDays: 90,
  dailyDays: 1830,
  alertDays: 90,
  expireDays: 30,
});

export interface StoreOptions {
  file: string;
  /** Milliseconds since the epoch; injected so tests and benches control time. */
  clock?: () => number;
  calendar?: Calendar;
  /** Length of a raw row, seconds (ticks are summed in memory until it is over). */
  resolutionSec?: number;
  retention?: Partial<Retention>;
  /** Highest priority number a `device` command may set. */
  maxPriority?: number;
  /** Called after each commit of usage, with the ticks (their ts) it made durable. */
  onCommit?: (tickTs: number[]) => void;
  /**
   * Devices the registry holds at most (default 8,192: twice the largest client cap). A new device
   * past it makes room by removing, with its history, the device seen the longest ago that has
   * no name and no priority and is not in the snapshot; when there is none, the new device is
   * not registered (its traffic still counts in the totals). A MAC spray cannot grow the file.
   */
  maxDevices?: number;
}

export const DEFAULT_MAX_DEVICES = 8192;

/** A row landing on a bucket a device already has: volumes add up, peaks keep the larger. */
const ADD_TO_BUCKET = `ms = ms + excluded.ms, samples = samples + excluded.samples,
          rx_bytes = rx_bytes + excluded.rx_bytes, tx_bytes = tx_bytes + excluded.tx_bytes,
          alloc_rx_bytes = alloc_rx_bytes + excluded.alloc_rx_bytes, alloc_tx_bytes = alloc_tx_bytes + excluded.alloc_tx_bytes,
          peak_rx_bps = max(peak_rx_bps, excluded.peak_rx_bps), peak_tx_bps = max(peak_tx_bps, excluded.peak_tx_bps),
          peak_bps = max(peak_bps, excluded.peak_bps), client_ms = client_ms + excluded.client_ms`;
/** ...and the newest known priority wins. */
const KEEP_PRIORITY = 'priority = coalesce(excluded.priority, priority)';

export { SEVERITIES, type Severity } from '../contract/message';

/** What alert-rule sends (topic "alert"); the original's field names are accepted too. */
export interface AlertInput {
  type: string;
  severity: Severity;
  message: string;
  mac?: string;
  ip?: string;
  ts?: number;
}

interface Acc {
  ms: number;
  samples: number;
  rx: number;
  tx: number;
  allocRx: number;
  allocTx: number;
  peakRx: number;
  peakTx: number;
  peak: number;
  clientMs: number;
  priority: number | null;
}

interface Seen {
  firstSec: number;
  lastSec: number;
  ip: string | null;
  addresses: Set<string>;
  hostname?: string;
  vendor?: string;
  deviceType?: string;
  randomized?: boolean;
}

interface OpenSession {
  id: number;
  endSec: number;
  writtenEndSec: number;
  ip: string | null;
}

interface Pending {
  bucket: number;
  rows: Map<number, Acc>;
  seen: Map<number, Seen>;
  ticks: number[];
}

export interface ParsedClient {
  mac: string;
  rxBps: number;
  txBps: number;
  allocRxBps: number;
  allocTxBps: number;
  priority: number | null;
  ip: string | null;
  ip6: string[];
  hostname?: string;
  vendor?: string;
  deviceType?: string;
  randomized?: boolean;
}

export interface ParsedSnapshot {
  ts: number;
  clients: ParsedClient[];
  totals: { rxBps: number; txBps: number } | null;
}

const DEFAULT_TICK_MS = 2000;
const TIERS = ['usage_raw', 'usage_hourly', 'usage_daily', 'usage_monthly'] as const;
export type Tier = (typeof TIERS)[number];

const emptyAcc = (): Acc => ({
  ms: 0,
  samples: 0,
  rx: 0,
  tx: 0,
  allocRx: 0,
  allocTx: 0,
  peakRx: 0,
  peakTx: 0,
  peak: 0,
  clientMs: 0,
  priority: null,
});


const optText = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value.slice(0, 200) : undefined);

/** Validates a pipeline snapshot completely before anything is stored. */
export function parseSnapshot(payload: unknown, now: number): ParsedSnapshot {
  snapshotClients(payload);
  const p = payload as { ts?: unknown; clients: unknown[]; totals?: { rxBps?: unknown; txBps?: unknown } };
  const ts = timeOf(p.ts, 'payload.ts', () => now);
  const seen = new Set<string>();
  const clients = p.clients.map((raw, i): ParsedClient => {
    const path = `payload.clients[${i}]`;
    const mac = clientMac(raw, path, seen);
    const c = raw as Record<string, unknown>;
    const alloc = (c.alloc ?? {}) as { down?: { rateBps?: unknown; expectedBps?: unknown }; up?: { rateBps?: unknown; expectedBps?: unknown } };
    const priority = typeof c.priority === 'number' && Number.isInteger(c.priority) ? c.priority : null;
    return {
      mac,
      rxBps: rateOf(c.rxBps, `${path}.rxBps`),
      txBps: rateOf(c.txBps, `${path}.txBps`),
      // "allocated" is the share it was expected to get (older snapshots: the rate)
      allocRxBps: rateOf(alloc.down?.expectedBps ?? alloc.down?.rateBps, `${path}.alloc.down.expectedBps`),
      allocTxBps: rateOf(alloc.up?.expectedBps ?? alloc.up?.rateBps, `${path}.alloc.up.expectedBps`),
      priority,
      ip: optText(c.ip) ?? null,
      ip6: Array.isArray(c.ip6) ? c.ip6.filter((a): a is string => typeof a === 'string' && a !== '').slice(0, 16) : [],
      hostname: optText(c.hostname),
      vendor: optText(c.vendor),
      deviceType: optText(c.deviceType),
      randomized: typeof c.randomizedMac === 'boolean' ? c.randomizedMac : undefined,
    };
  });
  let totals: ParsedSnapshot['totals'] = null;
  if (p.totals !== undefined && p.totals !== null) {
    if (typeof p.totals !== 'object') throw new InputError('payload.totals', 'must be { rxBps, txBps }');
    totals = { rxBps: rateOf(p.totals.rxBps, 'payload.totals.rxBps'), txBps: rateOf(p.totals.txBps, 'payload.totals.txBps') };
  }
  return { ts, clients, totals };
}

interface DeviceRow {
  id: number;
  mac: string;
  name: string | null;
  priority: number | null;
  device_type: string | null;
  vendor: string | null;
  hostname: string | null;
  ip: string | null;
  randomized: number;
  first_seen: number;
  last_seen: number;
  expired_at: number | null;
}

/**
 * The usage store without Node-RED: ingests snapshots, keeps the device registry, rollups and
 * alerts in one SQLite file, and answers the queries (see queries.ts). Every write is one
 * transaction; ticks are summed in memory until their raw bucket is over, then the bucket is
 * written to all three tiers at once, so every tier is current up to the last commit.
 */
export class UsageStore {
  readonly db: Database.Database;
  readonly file: string;
  readonly clock: () => number;
  readonly calendar: Calendar;
  readonly resolutionSec: number;
  readonly retention: Retention;
  maxPriority: number;
  private readonly onCommit?: (ticks: number[]) => void;
  private readonly macToId = new Map<string, number>();
  readonly maxDevices: number;
  /** Open connection sessions: their end moves every commit in memory, and is written when the
   *  device leaves, at each hourly rollup and at close (so a crash loses at most an hour of it). */
  private readonly sessions = new Map<number, OpenSession | null>();
  /** What was last written per device (metadata, addresses), so unchanged facts are not rewritten. */
  private readonly written = new Map<number, { meta: string; addresses: Set<string> }>();
  private rolledUntil = 0;
  private pending: Pending | null = null;
  private lastTickMs: number | null = null;
  private nominalTickMs = DEFAULT_TICK_MS;
  private lastRetentionHour = -1;
  private closed = false;
  private readonly stmt: ReturnType<UsageStore['prepare']>;

  constructor(options: StoreOptions) {
    this.file = options.file;
    this.clock = options.clock ?? Date.now;
    this.calendar = options.calendar ?? localCalendar;
    this.resolutionSec = options.resolutionSec ?? 60;
    if (!Number.isInteger(this.resolutionSec) || this.resolutionSec < 1 || this.resolutionSec > 3600 || 3600 % this.resolutionSec !== 0) {
      throw new InputError('resolutionSec', `must divide an hour (1, 2, 5, 10, 15, 30, 60, ... 3600 s), got ${options.resolutionSec}`);
    }
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    for (const [key, value] of Object.entries(this.retention)) {
      if (!Number.isFinite(value) || value < 0 || (key !== 'expireDays' && value === 0)) {
        throw new InputError(`retention.${key}`, `must be a number of days${key === 'expireDays' ? ' (0 = never)' : ' above 0'}, got ${value}`);
      }
    }
    this.maxPriority = options.maxPriority ?? 20;
    this.maxDevices = options.maxDevices ?? DEFAULT_MAX_DEVICES;
    if (!Number.isInteger(this.maxDevices) || this.maxDevices < 1 || this.maxDevices > 1_000_000) {
      throw new InputError('maxDevices', `must be a whole number from 1 to 1000000, got ${options.maxDevices}`);
    }
    this.onCommit = options.onCommit;
    this.db = openDatabase(this.file, this.calendar);
    this.stmt = this.prepare();
    for (const row of this.stmt.allMacs.all() as { mac: string; device_id: number }[]) this.macToId.set(row.mac, row.device_id);
    this.rolledUntil = (this.stmt.getRolledUntil.get() as { until: number }).until;
  }

  /** End of a device's open session as known in memory (written to the file at most an hour later). */
  openSessionEnd(deviceId: number, sessionId: number): number | undefined {
    const session = this.sessions.get(deviceId);
    return session && session.id === sessionId ? session.endSec : undefined;
  }

  /** Raw rows before this (unix seconds, an hour start) are summed into the hourly and daily tiers. */
  get rollupUntil(): number {
    return this.rolledUntil;
  }

  private prepare() {
    const db = this.db;
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

  // ---------------------------------------------------------------- ingest

  /**
   * Adds one snapshot. Returns whether a raw bucket was committed (the previous one, now over).
   * An invalid snapshot throws InputError and changes nothing.
   */
  ingest(payload: unknown): { committed: boolean; newDevices: string[]; unregistered: number } {
    this.assertOpen();
    const snap = parseSnapshot(payload, this.clock());
    const sec = Math.floor(snap.ts / 1000);
    const bucket = Math.floor(sec / this.resolutionSec) * this.resolutionSec;
    let committed = false;
    if (this.pending && this.pending.bucket !== bucket) committed = this.flush();

    let newDevices = snap.clients.filter((c) => !this.macToId.has(c.mac));
    let unregistered = 0;
    if (newDevices.length > 0) {
      const room = this.makeRoom(newDevices.length, snap.clients);
      unregistered = newDevices.length - room;
      newDevices = newDevices.slice(0, room);
      this.register(newDevices, sec);
    }
    // a device the full registry had no room for is counted in the totals only
    const clients = unregistered > 0 ? snap.clients.filter((c) => this.macToId.has(c.mac)) : snap.clients;

    const dt = this.tickMs(snap.ts);
    const pending: Pending = (this.pending ??= { bucket, rows: new Map(), seen: new Map(), ticks: [] as number[] });
    pending.ticks.push(snap.ts);
    let rx = 0;
    let tx = 0;
    let allocRx = 0;
    let allocTx = 0;
    for (const c of clients) {
      const id = this.macToId.get(c.mac) as number;
      add(pending.rows, id, c.rxBps, c.txBps, c.allocRxBps, c.allocTxBps, dt, 0, c.priority);
      rx += c.rxBps;
      tx += c.txBps;
      allocRx += c.allocRxBps;
      allocTx += c.allocTxBps;
      let seen = pending.seen.get(id);
      if (!seen) {
        seen = { firstSec: sec, lastSec: sec, ip: null, addresses: new Set() };
        pending.seen.set(id, seen);
      }
      seen.lastSec = Math.max(seen.lastSec, sec);
      seen.firstSec = Math.min(seen.firstSec, sec);
      if (c.ip) {
        seen.ip = c.ip;
        seen.addresses.add(c.ip);
      }
      for (const a of c.ip6) seen.addresses.add(a);
      if (!seen.ip && c.ip6.length > 0) seen.ip = c.ip6[0];
      if (c.hostname) seen.hostname = c.hostname;
      if (c.vendor) seen.vendor = c.vendor;
      if (c.deviceType) seen.deviceType = c.deviceType;
      if (c.randomized !== undefined) seen.randomized = c.randomized;
    }
    const totals = snap.totals ?? { rxBps: rx, txBps: tx };
    add(pending.rows, 0, totals.rxBps, totals.txBps, allocRx, allocTx, dt, snap.clients.length * dt, null);
    return { committed, newDevices: newDevices.map((c) => c.mac), unregistered };
  }

  /**
   * Room for `wanted` new devices within maxDevices: removes expired devices, then those seen the
   * longest ago, that have no name and no priority and are not in `present`. Returns how many fit (≤ wanted).
   */
  private makeRoom(wanted: number, present: ParsedClient[]): number {
    const total = (this.db.prepare('SELECT count(*) AS n FROM devices').get() as { n: number }).n;
    const over = total + wanted - this.maxDevices;
    if (over <= 0) return wanted;
    const keep = new Set<number>();
    for (const c of present) {
      const id = this.macToId.get(c.mac);
      if (id !== undefined) keep.add(id);
    }
    const candidates = this.db
      .prepare('SELECT id FROM devices WHERE name IS NULL AND priority IS NULL ORDER BY expired_at IS NULL, last_seen ASC, id ASC LIMIT ?')
      .all(over + keep.size) as { id: number }[];
    const victims = candidates.map((r) => r.id).filter((id) => !keep.has(id)).slice(0, over);
    this.db.transaction(() => {
      for (const id of victims) {
        this.deleteDevice(id);
        this.pending?.rows.delete(id);
        this.pending?.seen.delete(id);
      }
    })();
    return wanted - (over - victims.length);
  }

  /** Time a tick stands for: since the previous tick, or the usual interval after a gap or restart. */
  private tickMs(ts: number): number {
    const previous = this.lastTickMs;
    this.lastTickMs = ts;
    if (previous === null) return this.nominalTickMs;
    const gap = ts - previous;
    if (gap === 0) return 0;
    const maxGap = Math.max(2 * this.resolutionSec * 1000, 120_000);
    if (gap < 0 || gap > maxGap) return this.nominalTickMs;
    this.nominalTickMs = gap;
    return gap;
  }

  private register(clients: ParsedClient[], sec: number): void {
    this.db.transaction(() => {
      for (const c of clients) {
        const randomized = c.randomized ?? isLocallyAdministered(c.mac);
        const id = Number(
          this.stmt.insertDevice.run(c.mac, c.deviceType ?? null, c.vendor ?? null, c.hostname ?? null, c.ip, randomized ? 1 : 0, sec, sec)
            .lastInsertRowid,
        );
        this.stmt.insertMac.run(c.mac, id);
        this.macToId.set(c.mac, id);
        this.sessions.set(id, null);
      }
    })();
  }

  /**
   * Writes the summed ticks of the current raw bucket, in one transaction: raw rows, and what
   * changed in the registry. Once an hour is over, its raw rows are summed into the hourly and
   * daily tiers (one more transaction, which also moves the rollup mark), so queries read the
   * tiers up to the mark and raw rows after it, and the tiers always agree.
   */
  flush(): boolean {
    this.assertOpen();
    const p = this.pending;
    if (!p) return false;
    this.pending = null;
    // A bucket already rolled up (the clock went back) goes to every tier at once.
    const late = p.bucket < this.rolledUntil;
    const buckets = [p.bucket, this.calendar.hourStart(p.bucket), this.calendar.dayStart(p.bucket), this.calendar.monthStart(p.bucket)];
    this.db.transaction(() => {
      for (const [id, a] of p.rows) {
        const values = [
          Math.round(a.ms),
          a.samples,
          Math.round(a.rx),
          Math.round(a.tx),
          Math.round(a.allocRx),
          Math.round(a.allocTx),
          Math.round(a.peakRx),
          Math.round(a.peakTx),
          Math.round(a.peak),
          Math.round(a.clientMs),
          a.priority,
        ];
        for (let t = 0; t < (late ? TIERS.length : 1); t++) this.stmt.upsert[t].run(buckets[t], id, ...values);
      }
      this.recordSeen(p);
    })();
    this.onCommit?.(p.ticks);
    const hour = this.calendar.hourStart(p.bucket);
    if (hour > this.rolledUntil) this.rollup(hour);
    const nowHour = this.calendar.hourStart(Math.floor(this.clock() / 1000));
    if (nowHour !== this.lastRetentionHour) {
      this.lastRetentionHour = nowHour;
      this.runRetention();
    }
    return true;
  }

  /** Registry bookkeeping of one commit: new facts, addresses and sessions; unchanged ones cost nothing. */
  private recordSeen(p: Pending): void {
    const gapSec = Math.max(300, 3 * this.resolutionSec);
    for (const [id, s] of p.seen) {
      let w = this.written.get(id);
      const meta = JSON.stringify([s.ip, s.hostname, s.vendor, s.deviceType, s.randomized]);
      if (!w || w.meta !== meta) {
        this.stmt.touchDevice.run({
          id,
          last: s.lastSec,
          ip: s.ip,
          hostname: s.hostname ?? null,
          vendor: s.vendor ?? null,
          deviceType: s.deviceType ?? null,
          randomized: s.randomized === undefined ? null : s.randomized ? 1 : 0,
        });
        w = { meta, addresses: w?.addresses ?? new Set() };
        this.written.set(id, w);
      }
      for (const address of s.addresses) {
        if (w.addresses.has(address)) continue;
        this.stmt.upsertAddress.run(id, address, s.firstSec, s.lastSec);
        w.addresses.add(address);
      }
      let session = this.sessions.get(id);
      if (session === undefined) {
        const row = this.stmt.lastSession.get(id) as { id: number; end_ts: number } | undefined;
        session = row ? { id: row.id, endSec: row.end_ts, writtenEndSec: row.end_ts, ip: null } : null;
      }
      if (session && s.firstSec - session.endSec <= gapSec) {
        session.endSec = Math.max(session.endSec, s.lastSec);
        session.ip = s.ip ?? session.ip;
      } else {
        if (session) this.closeSession(id, session);
        const sid = Number(this.stmt.insertSession.run(id, s.firstSec, s.lastSec, s.ip).lastInsertRowid);
        session = { id: sid, endSec: s.lastSec, writtenEndSec: s.lastSec, ip: s.ip };
        this.stmt.seenUntil.run(s.lastSec, id);
      }
      this.sessions.set(id, session);
    }
    // Devices that left: their session ends where they were last seen.
    for (const [id, session] of this.sessions) {
      if (session && !p.seen.has(id) && p.bucket - session.endSec > gapSec) {
        this.closeSession(id, session);
        this.sessions.delete(id);
      }
    }
  }

  private closeSession(id: number, session: OpenSession): void {
    if (session.endSec === session.writtenEndSec) return;
    this.stmt.extendSession.run(session.endSec, session.ip, session.id);
    this.stmt.seenUntil.run(session.endSec, id);
    session.writtenEndSec = session.endSec;
  }

  /** Writes every session end and last-seen time kept in memory, and forgets what was written. */
  private syncRegistry(): void {
    this.db.transaction(() => {
      for (const [id, session] of this.sessions) if (session) this.closeSession(id, session);
    })();
    this.written.clear();
  }

  /** Sums the raw rows of whole hours before `until` into the hourly and daily tiers. */
  private rollup(until: number): void {
    const from = this.rolledUntil;
    this.db.transaction(() => {
      for (const stmt of this.stmt.rollup) stmt.run(from, until);
      this.stmt.setRolledUntil.run(until);
    })();
    this.rolledUntil = until;
    this.syncRegistry();
  }

  /**
   * For a timer: commits the summed ticks once their bucket is over (ticks may have stopped) and
   * runs the retention job once an hour. Returns whether something was committed.
   */
  maintain(): boolean {
    this.assertOpen();
    const nowSec = Math.floor(this.clock() / 1000);
    if (this.pending && nowSec >= this.pending.bucket + this.resolutionSec) return this.flush();
    const hour = this.calendar.hourStart(nowSec);
    if (hour !== this.lastRetentionHour) {
      this.lastRetentionHour = hour;
      this.runRetention();
    }
    return false;
  }

  // ---------------------------------------------------------------- retention

  /** Prunes every tier past its retention, expires stale devices, and returns freed space. */
  runRetention(): { rawDeleted: number; hourlyDeleted: number; dailyDeleted: number; alertsDeleted: number; devicesExpired: number; devicesDeleted: number } {
    this.assertOpen();
    const nowSec = Math.floor(this.clock() / 1000);
    const r = this.retention;
    const cut = (days: number) => nowSec - Math.round(days * 86400);
    // Hours that are over are rolled up even when no tick came to do it.
    const hour = this.calendar.hourStart(nowSec);
    if (hour > this.rolledUntil) this.rollup(hour);
    const result = this.db.transaction(() => {
      const [rawDeleted, hourlyDeleted, dailyDeleted] = [r.rawDays, r.hourlyDays, r.dailyDays, r.dailyDays].map(
        // raw rows wait for their rollup; a month goes once it is wholly past the daily retention
        (days, t) => this.stmt.pruneRows[t].run(t === 0 ? Math.min(cut(days), this.rolledUntil) : t === 3 ? this.calendar.monthStart(cut(days)) : cut(days)).changes,
      );
      const alertsDeleted = this.db.prepare('DELETE FROM alerts WHERE ts < ?').run(cut(r.alertDays) * 1000).changes;
      this.db.prepare('DELETE FROM device_sessions WHERE end_ts < ?').run(cut(r.hourlyDays));
      const devicesExpired = r.expireDays > 0 ? this.expire(r.expireDays, false) : 0;
      // An expired device whose last usage rows are gone too leaves no trace worth keeping.
      const gone = this.db
        .prepare('SELECT id FROM devices WHERE expired_at IS NOT NULL AND last_seen < ?')
        .all(cut(r.dailyDays)) as { id: number }[];
      for (const { id } of gone) this.deleteDevice(id);
      this.written.clear(); // an expired device seen again must be written (and so un-expired)
      return { rawDeleted, hourlyDeleted, dailyDeleted, alertsDeleted, devicesExpired, devicesDeleted: gone.length };
    })();
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    if (free > 256 && free > pages / 10) this.db.pragma(`incremental_vacuum(${Math.min(free, 10_000)})`);
    return result;
  }

  private deleteDevice(id: number): void {
    for (const t of this.stmt.deleteRows) t.run(id);
    this.db.prepare('DELETE FROM device_addresses WHERE device_id = ?').run(id);
    this.db.prepare('DELETE FROM device_sessions WHERE device_id = ?').run(id);
    for (const { mac } of this.stmt.macsOf.all(id) as { mac: string }[]) this.macToId.delete(mac);
    this.db.prepare('DELETE FROM device_macs WHERE device_id = ?').run(id);
    this.db.prepare('DELETE FROM devices WHERE id = ?').run(id);
    this.sessions.delete(id);
    this.written.delete(id);
  }

  /** Marks devices unseen for `days` as expired; named or prioritised ones only if `includeNamed`. */
  private expire(days: number, includeNamed: boolean): number {
    const nowSec = Math.floor(this.clock() / 1000);
    return this.db
      .prepare(
        `UPDATE devices SET expired_at = ? WHERE expired_at IS NULL AND last_seen < ?
         ${includeNamed ? '' : 'AND name IS NULL AND priority IS NULL'}`,
      )
      .run(nowSec, nowSec - Math.round(days * 86400)).changes;
  }

  // ---------------------------------------------------------------- alerts

  storeAlert(payload: unknown): AlertRow {
    this.assertOpen();
    const a = objectParam(payload, 'payload', '{ "type": "new_device", "severity": "info", "message": "..." }');
    const type = textParam(a.type ?? a.alert_type, 'payload.type', 100);
    if (!type) throw new InputError('payload.type', 'an alert needs a type such as "bandwidth_limit"');
    const severity = a.severity ?? 'info';
    if (severityProblem(severity)) throw new InputError('payload.severity', severityProblem(severity)!);
    if (typeof a.message !== 'string' || a.message.trim() === '') throw new InputError('payload.message', 'an alert needs a message');
    const message = a.message.slice(0, QUERY_LIMITS.maxMessageLength);
    const mac = a.mac === undefined || a.mac === null ? null : macParam(a.mac, 'payload.mac');
    const ip = textParam(a.ip ?? a.ip_address, 'payload.ip', 64);
    const ts = a.ts === undefined || a.ts === null ? this.clock() : timeParam(a.ts, 'payload.ts');
    const id = Number(this.stmt.insertAlert.run(Math.round(ts), type, severity, message, ip, mac).lastInsertRowid);
    return {
      id,
      timestamp: formatTimestamp(this.calendar, Math.floor(ts / 1000)),
      ts: Math.round(ts),
      type,
      alert_type: type,
      severity: severity as string,
      message,
      ip_address: ip,
      mac_address: mac,
    };
  }

  // ---------------------------------------------------------------- registry

  /** The device a `mac` or `ip` names; InputError when nobody has seen it. */
  resolveDevice(p: Record<string, unknown>, path = 'payload'): number {
    if (p.mac !== undefined && p.mac !== null) return this.resolveMac(p.mac, `${path}.mac`);
    if (p.ip !== undefined && p.ip !== null) {
      const ip = String(p.ip);
      const row = this.stmt.deviceIdByIp.get({ ip }) as { id: number } | undefined;
      if (!row) throw new InputError(`${path}.ip`, `unknown device ${JSON.stringify(ip)}: no device has used this address`);
      return row.id;
    }
    throw new InputError(path, 'needs a "mac" or an "ip"');
  }

  resolveMac(value: unknown, path: string): number {
    const mac = macParam(value, path);
    const id = this.macToId.get(mac);
    if (id === undefined) throw new InputError(path, `unknown device ${mac}: it has never been seen on the LAN`);
    return id;
  }

  device(id: number): DeviceEntry {
    const row = this.stmt.deviceById.get(id) as DeviceRow | undefined;
    if (!row) throw new InputError('payload', `device ${id} no longer exists`);
    return this.entry(row);
  }

  private entry(row: DeviceRow): DeviceEntry {
    const lastSeen = Math.max(row.last_seen, this.sessions.get(row.id)?.endSec ?? 0);
    const macs = (this.stmt.macsOf.all(row.id) as { mac: string }[]).map((m) => m.mac);
    macs.sort((a, b) => (a === row.mac ? -1 : b === row.mac ? 1 : a.localeCompare(b)));
    return {
      mac: row.mac,
      macs,
      name: row.name,
      priority: row.priority,
      deviceType: row.device_type,
      vendor: row.vendor,
      hostname: row.hostname,
      ip: row.ip,
      addresses: (this.stmt.addressesOf.all(row.id) as { address: string }[]).map((a) => a.address),
      randomizedMac: row.randomized === 1,
      firstSeen: formatTimestamp(this.calendar, row.first_seen),
      lastSeen: formatTimestamp(this.calendar, lastSeen),
      firstSeenTs: row.first_seen * 1000,
      lastSeenTs: lastSeen * 1000,
      expired: row.expired_at !== null,
    };
  }

  /** Devices in the registry (not expired), for a status line. */
  deviceCount(): number {
    this.assertOpen();
    return (this.db.prepare('SELECT count(*) AS n FROM devices WHERE expired_at IS NULL').get() as { n: number }).n;
  }

  /**
   * The number of priorities changed: kept priorities now below the lowest are moved to it (never
   * refused later). Returns how many devices moved.
   */
  setMaxPriority(maxPriority: number): number {
    this.assertOpen();
    this.maxPriority = maxPriority;
    return this.db.prepare('UPDATE devices SET priority = ? WHERE priority > ?').run(maxPriority, maxPriority).changes;
  }

  /** Every device, most recently seen first; expired ones only when asked. */
  registry(includeExpired = false): DeviceEntry[] {
    this.assertOpen();
    const rows = this.db
      .prepare(`SELECT * FROM devices ${includeExpired ? '' : 'WHERE expired_at IS NULL'} ORDER BY last_seen DESC, id`)
      .all() as DeviceRow[];
    return rows.map((r) => this.entry(r));
  }

  /**
   * `device` command. Actions:
   *  - set (default): { mac | ip, name?, priority?, deviceType? } (also the original's friendly_name);
   *    null or '' clears a name, null a priority
   *  - merge: { from: mac | mac[], into: mac } or { name } (all entries with that name into the latest seen)
   *  - expire: { days?, includeNamed? }: expires entries unseen for `days` (default: the node's setting)
   *  - forget: { mac }: removes a device and its usage rows
   */
  command(payload: unknown): { action: string; device?: DeviceEntry; changed: number } {
    this.assertOpen();
    const p = objectParam(payload, 'payload', '{ "mac": "a4:5e:60:..", "name": "Anna\'s phone" }');
    const action = p.action === undefined ? 'set' : p.action;
    switch (action) {
      case 'set':
      case 'name':
      case 'priority':
        return this.set(p);
      case 'merge':
        return this.merge(p);
      case 'expire': {
        const days = p.days === undefined ? this.retention.expireDays : Number(p.days);
        if (typeof p.days === 'boolean' || !Number.isFinite(days) || days <= 0) {
          throw new InputError('payload.days', `must be a number of days above 0, got ${JSON.stringify(p.days ?? days)}`);
        }
        this.flush();
        this.syncRegistry();
        return { action: 'expire', changed: this.db.transaction(() => this.expire(days, p.includeNamed === true))() };
      }
      case 'forget': {
        this.flush();
        this.syncRegistry();
        const id = this.resolveDevice(p);
        this.db.transaction(() => this.deleteDevice(id))();
        return { action: 'forget', changed: 1 };
      }
      default:
        throw new InputError('payload.action', `must be one of set, merge, expire, forget, got ${JSON.stringify(action)}`);
    }
  }

  private set(p: Record<string, unknown>) {
    const id = this.resolveDevice(p);
    const hasName = 'name' in p || 'friendly_name' in p;
    const name = hasName ? textParam('name' in p ? p.name : p.friendly_name, 'payload.name', QUERY_LIMITS.maxNameLength) : undefined;
    let priority: number | null | undefined;
    if ('priority' in p) {
      priority = p.priority === null ? null : typeof p.priority === 'string' && p.priority.trim() !== '' ? Number(p.priority) : (p.priority as number);
      if (priority !== null && priorityProblem(priority, this.maxPriority)) throw new InputError('payload.priority', `${priorityProblem(p.priority, this.maxPriority)} (or null)`);
    }
    const deviceType = 'deviceType' in p ? textParam(p.deviceType, 'payload.deviceType', 40) : undefined;
    if (name === undefined && priority === undefined && deviceType === undefined) {
      throw new InputError('payload', 'nothing to set: send "name", "priority" or "deviceType"');
    }
    this.db.transaction(() => {
      if (name !== undefined) this.stmt.setName.run(name, id);
      if (priority !== undefined) this.stmt.setPriority.run(priority, id);
      if (deviceType !== undefined) this.stmt.setType.run(deviceType, id);
    })();
    return { action: 'set', device: this.device(id), changed: 1 };
  }

  private merge(p: Record<string, unknown>) {
    let into: number;
    let from: number[];
    if (p.name !== undefined) {
      const name = textParam(p.name, 'payload.name', QUERY_LIMITS.maxNameLength);
      const ids = (this.db.prepare('SELECT id FROM devices WHERE name = ? ORDER BY last_seen DESC, id DESC').all(name) as { id: number }[]).map((r) => r.id);
      if (ids.length === 0) throw new InputError('payload.name', `no device is named ${JSON.stringify(name)}`);
      [into, ...from] = ids;
    } else {
      into = this.resolveMac(p.into, 'payload.into');
      const list = Array.isArray(p.from) ? p.from : [p.from];
      if (p.from === undefined || list.length === 0) throw new InputError('payload.from', 'a merge needs "from" (a MAC or a list of MACs) and "into"');
      from = list.map((mac, i) => this.resolveMac(mac, Array.isArray(p.from) ? `payload.from[${i}]` : 'payload.from'));
      from = [...new Set(from)].filter((id) => id !== into);
    }
    this.flush();
    this.syncRegistry();
    this.db.transaction(() => {
      for (const id of from) this.mergeOne(id, into);
    })();
    return { action: 'merge', device: this.device(into), changed: from.length };
  }

  private mergeOne(from: number, into: number): void {
    for (let t = 0; t < TIERS.length; t++) {
      this.stmt.moveRows[t].run({ from, into });
      this.stmt.deleteRows[t].run(from);
    }
    this.db
      .prepare(
        `INSERT INTO device_addresses (device_id, address, first_seen, last_seen)
         SELECT ?, address, first_seen, last_seen FROM device_addresses WHERE device_id = ? AND true
         ON CONFLICT (device_id, address) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)`,
      )
      .run(into, from);
    this.db.prepare('DELETE FROM device_addresses WHERE device_id = ?').run(from);
    this.db.prepare('UPDATE device_sessions SET device_id = ? WHERE device_id = ?').run(into, from);
    this.db
      .prepare(
        `UPDATE devices SET
           name = coalesce(name, (SELECT name FROM devices WHERE id = @from)),
           priority = coalesce(priority, (SELECT priority FROM devices WHERE id = @from)),
           device_type = coalesce(device_type, (SELECT device_type FROM devices WHERE id = @from)),
           first_seen = min(first_seen, (SELECT first_seen FROM devices WHERE id = @from)),
           last_seen = max(last_seen, (SELECT last_seen FROM devices WHERE id = @from)),
           expired_at = NULL
         WHERE id = @into`,
      )
      .run({ from, into });
    for (const { mac } of this.stmt.macsOf.all(from) as { mac: string }[]) this.macToId.set(mac, into);
    this.db.prepare('UPDATE device_macs SET device_id = ? WHERE device_id = ?').run(into, from);
    this.db.prepare('DELETE FROM devices WHERE id = ?').run(from);
    this.sessions.delete(from);
    this.sessions.delete(into);
    this.written.delete(from);
    this.written.delete(into);
  }

  // ---------------------------------------------------------------- lifecycle

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Writes what is summed in memory, then closes the file. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
      this.syncRegistry();
      this.db.pragma('optimize');
    } finally {
      this.closed = true;
      this.db.close();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`the usage database "${this.file}" is closed`);
  }
}

function add(
  rows: Map<number, Acc>,
  id: number,
  rxBps: number,
  txBps: number,
  allocRxBps: number,
  allocTxBps: number,
  dtMs: number,
  clientMs: number,
  priority: number | null,
): void {
  let a = rows.get(id);
  if (!a) {
    a = emptyAcc();
    rows.set(id, a);
  }
  a.ms += dtMs;
  a.samples += 1;
  a.rx += (rxBps * dtMs) / 8000;
  a.tx += (txBps * dtMs) / 8000;
  a.allocRx += (allocRxBps * dtMs) / 8000;
  a.allocTx += (allocTxBps * dtMs) / 8000;
  a.peakRx = Math.max(a.peakRx, rxBps);
  a.peakTx = Math.max(a.peakTx, txBps);
  a.peak = Math.max(a.peak, rxBps + txBps);
  a.clientMs += clientMs;
  if (priority !== null) a.priority = priority;
}
