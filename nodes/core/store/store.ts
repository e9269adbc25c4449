/**
 * The usage store's front: UsageStore opens the SQLite file, checks the options, prepares the
 * statements and puts the parts together, each in its own module: ingest.ts (snapshots summed in
 * memory, commits), sessions.ts (what a commit records about devices), rollup.ts (hourly, daily,
 * monthly tiers), registry.ts and device-command.ts (the device registry and its `device`
 * command), retention.ts, alerts.ts. What the parts define is re-exported from here.
 */
import type Database from 'better-sqlite3';
import { InputError } from '../contract/errors';
import { normalizeMac } from '../contract/mac';
import { changeAlerts, storeAlert, type AlertAction } from './alerts';
import { applyDelivery, deliveryFrom, type Delivery } from '../alerts/delivery';
import { localCalendar, type Calendar } from './calendar';
import { DeviceCommand } from './device-command';
import { Ingester } from './ingest';
import { DeviceRegistry } from './registry';
import { RetentionJob, retentionOf, type Retention, type RetentionResult } from './retention';
import { Rollups } from './rollup';
import type { DeviceLimits } from '../contract/limits';
import { QuotaTracker, type QuotaCounts, type QuotaEvent, type QuotaUse } from './quota';
import { withLimitsAndQuota } from './client-copy';
import { openDatabase } from './schema';
import { SessionTracker } from './sessions';
import { prepareStatements, type StoreContext } from './statements';
import type { AlertRow, DeviceEntry } from './types';

export { SEVERITIES, type Severity } from '../contract/message';
export { type AlertInput } from './alerts';
export { DEFAULT_RETENTION, type Retention, type RetentionResult } from './retention';
export { parseSnapshot, type ParsedClient, type ParsedSnapshot } from './snapshot';
export { type Tier } from './statements';
export { type QuotaCounts, type QuotaEvent, type QuotaUse } from './quota';

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
  /** What counts against a quota: download and upload ("both", the default) or download only. */
  quotaCounts?: QuotaCounts;
}

export const DEFAULT_MAX_DEVICES = 8192;

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
  readonly maxDevices: number;
  /** What the parts share: the file, its statements, the clock, the calendar, the resolution. */
  private readonly ctx: StoreContext;
  private readonly sessions: SessionTracker;
  private readonly devices: DeviceRegistry;
  private readonly rollups: Rollups;
  private readonly retentionJob: RetentionJob;
  private readonly ingester: Ingester;
  private readonly deviceCommand: DeviceCommand;
  private readonly quota: QuotaTracker;
  private closed = false;

  constructor(options: StoreOptions) {
    this.file = options.file;
    this.clock = options.clock ?? Date.now;
    this.calendar = options.calendar ?? localCalendar;
    this.resolutionSec = options.resolutionSec ?? 60;
    if (!Number.isInteger(this.resolutionSec) || this.resolutionSec < 1 || this.resolutionSec > 3600 || 3600 % this.resolutionSec !== 0) {
      throw new InputError('resolutionSec', `must divide an hour (1, 2, 5, 10, 15, 30, 60, ... 3600 s), got ${options.resolutionSec}`);
    }
    this.retention = retentionOf(options.retention);
    this.maxPriority = options.maxPriority ?? 20;
    this.maxDevices = options.maxDevices ?? DEFAULT_MAX_DEVICES;
    if (!Number.isInteger(this.maxDevices) || this.maxDevices < 1 || this.maxDevices > 1_000_000) {
      throw new InputError('maxDevices', `must be a whole number from 1 to 1000000, got ${options.maxDevices}`);
    }
    this.db = openDatabase(this.file, this.calendar);
    const ctx = (this.ctx = { db: this.db, stmt: prepareStatements(this.db), clock: this.clock, calendar: this.calendar, resolutionSec: this.resolutionSec });
    this.sessions = new SessionTracker(ctx);
    this.devices = new DeviceRegistry(ctx, this.sessions, this.maxDevices);
    this.rollups = new Rollups(ctx, this.sessions);
    this.retentionJob = new RetentionJob(ctx, this.retention, this.rollups, this.devices, this.sessions);
    try {
      this.quota = new QuotaTracker(ctx, () => this.rollups.until, options.quotaCounts ?? 'both');
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.devices.quotaUse = (id) => this.quota.use(id);
    this.ingester = new Ingester(ctx, this.devices, this.sessions, this.rollups, this.retentionJob, options.onCommit, this.quota);
    this.deviceCommand = new DeviceCommand(ctx, this.devices, this.retention, () => this.maxPriority, () => this.settle(), (rowsMoved) => {
      // the registry goes out after every device command, with who is throttled now
      this.quota.loadLimits();
      if (rowsMoved) this.quota.invalidate();
      this.quota.refreshThrottled();
    });
  }

  /** End of a device's open session as known in memory (written to the file at most an hour later). */
  openSessionEnd(deviceId: number, sessionId: number): number | undefined {
    return this.sessions.openSessionEnd(deviceId, sessionId);
  }

  /** Raw rows before this (unix seconds, an hour start) are summed into the hourly and daily tiers. */
  get rollupUntil(): number {
    return this.rollups.until;
  }

  // ---------------------------------------------------------------- ingest (ingest.ts)

  /**
   * Adds one snapshot. Returns whether a raw bucket was committed (the previous one, now over).
   * An invalid snapshot throws InputError and changes nothing.
   */
  ingest(payload: unknown): { committed: boolean; newDevices: string[]; unregistered: number; quotaEvents: QuotaEvent[]; throttleChanged: boolean } {
    this.assertOpen();
    return this.ingester.ingest(payload);
  }

  // ---------------------------------------------------------------- quotas (quota.ts)

  /** A device's quota use now, by MAC (any MAC merged into it); null for a MAC never registered. */
  quotaOf(mac: string): QuotaUse | null {
    const id = this.devices.idOf(mac);
    return id === undefined ? null : this.quota.use(id);
  }

  /** The registry id of a MAC (any MAC merged into a device), if registered. */
  deviceIdOf(mac: string): number | undefined {
    return this.devices.idOf(mac);
  }

  /** A registered device's limits by id. */
  limitsOfId(id: number): DeviceLimits {
    return this.quota.limitsOf(id);
  }

  /** The quota use of a registered device by id. */
  quotaOfId(id: number): QuotaUse {
    return this.quota.use(id);
  }

  /**
   * The snapshot with each registered client's quota use and limits added (`quota`, `limits`; times
   * in ms), and the levels first reached on this tick (`quota.crossed`, from ingest's quotaEvents),
   * for alert-rule, the dashboard and the API. New client objects: `payload` is not changed.
   */
  withQuota(payload: unknown, events: QuotaEvent[]): unknown {
    const p = payload as { clients: Record<string, unknown>[] };
    let byDevice: Map<number, QuotaEvent[]> | null = null;
    for (const e of events) {
      byDevice ??= new Map();
      byDevice.set(e.deviceId, [...(byDevice.get(e.deviceId) ?? []), e]);
    }
    const clients = new Array(p.clients.length);
    for (let i = 0; i < p.clients.length; i++) {
      const c = p.clients[i];
      // the MAC is canonical after the allocator: looked up as is first
      let id = typeof c.mac === 'string' ? this.devices.idOf(c.mac) : undefined;
      if (id === undefined) {
        const mac = normalizeMac(c.mac);
        id = mac === null ? undefined : this.devices.idOf(mac);
      }
      if (id === undefined) {
        clients[i] = c;
        continue;
      }
      const quota = this.quota.use(id, true) as QuotaUse & { crossed?: unknown[] };
      const mine = byDevice?.get(id);
      if (mine) {
        quota.crossed = mine.map((e) => ({
          period: e.period,
          level: e.level,
          usedBytes: e.usedBytes,
          limitBytes: e.limitBytes,
          action: e.action,
          throttleBps: e.throttleBps,
          resetsAt: e.resetsAt * 1000,
        }));
      }
      clients[i] = withLimitsAndQuota(c, this.quota.limitsOf(id), quota);
    }
    return Object.assign({}, p, { clients });
  }

  /** What counts against a quota. */
  get quotaCounts(): QuotaCounts {
    return this.quota.counts;
  }

  /** Writes the summed ticks of the current raw bucket now (see Ingester.flush). Returns whether there were any. */
  flush(): boolean {
    this.assertOpen();
    return this.ingester.flush();
  }

  /**
   * For a timer: commits the summed ticks once their bucket is over (ticks may have stopped) and
   * runs the retention job once an hour. Returns whether something was committed.
   */
  maintain(): boolean {
    this.assertOpen();
    return this.ingester.maintain();
  }

  // ---------------------------------------------------------------- retention (retention.ts)

  /** Prunes every tier past its retention, expires stale devices, and returns freed space. */
  runRetention(): RetentionResult {
    this.assertOpen();
    return this.retentionJob.run();
  }

  // ---------------------------------------------------------------- alerts (alerts.ts)

  storeAlert(payload: unknown): AlertRow {
    this.assertOpen();
    return storeAlert(this.ctx, payload);
  }

  /** `alert-state` command: acknowledge or clear alerts by id or by filter (alerts.ts). */
  changeAlerts(payload: unknown): { action: AlertAction; changed: number; ids: number[] | null } {
    this.assertOpen();
    return changeAlerts(this.db, payload, this.clock(), (mac) => this.device(this.resolveDevice({ mac })).macs);
  }

  // ---------------------------------------------------------------- alert delivery (alerts/delivery.ts)

  /** The alert delivery settings in force (defaults until set). */
  delivery(): Delivery {
    this.assertOpen();
    const row = this.db.prepare("SELECT value FROM app_settings WHERE key = 'alert_delivery'").get() as { value: string } | undefined;
    return deliveryFrom(row?.value);
  }

  /** `delivery` command: changes the fields given (InputError, nothing changes, for a bad one) and keeps them in the file. */
  setDelivery(payload: unknown): Delivery {
    this.assertOpen();
    const next = applyDelivery(this.delivery(), payload);
    this.db
      .prepare("INSERT INTO app_settings (key, value, updated_at) VALUES ('alert_delivery', ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")
      .run(JSON.stringify(next), Math.round(this.clock()));
    return next;
  }

  // ---------------------------------------------------------------- registry (registry.ts, device-command.ts)

  /** The device a `mac` or `ip` names; InputError when nobody has seen it. */
  resolveDevice(p: Record<string, unknown>, path = 'payload'): number {
    return this.devices.resolveDevice(p, path);
  }

  resolveMac(value: unknown, path: string): number {
    return this.devices.resolveMac(value, path);
  }

  device(id: number): DeviceEntry {
    return this.devices.device(id);
  }

  /** Devices in the registry (not expired), for a status line. */
  deviceCount(): number {
    this.assertOpen();
    return this.devices.count();
  }

  /**
   * The number of priorities changed: kept priorities now below the lowest are moved to it (never
   * refused later). Returns how many devices moved.
   */
  setMaxPriority(maxPriority: number): number {
    this.assertOpen();
    this.maxPriority = maxPriority;
    return this.devices.capPriorities(maxPriority);
  }

  /** Every device, most recently seen first; expired ones only when asked. */
  registry(includeExpired = false): DeviceEntry[] {
    this.assertOpen();
    return this.devices.list(includeExpired);
  }

  /** `device` command: set, merge, expire or forget (see DeviceCommand.run). */
  command(payload: unknown): { action: string; device?: DeviceEntry; changed: number } {
    this.assertOpen();
    return this.deviceCommand.run(payload);
  }

  // ---------------------------------------------------------------- lifecycle

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Writes what is summed in memory, then closes the file. Safe to call twice. */
  close(): void {
    if (this.closed) return;
    try {
      this.settle();
      this.db.pragma('optimize');
    } finally {
      this.closed = true;
      this.db.close();
    }
  }

  /** Writes what is summed in memory and every session end kept there. */
  private settle(): void {
    this.ingester.flush();
    this.sessions.sync();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`the usage database "${this.file}" is closed`);
  }
}
