/**
 * Ingest: each snapshot summed in memory into the current raw bucket (a row per device and the
 * totals row, device 0), new devices registered as they appear; once the bucket is over, its
 * commit: the raw rows (every tier at once for a bucket already rolled up) and the registry's
 * bookkeeping in one transaction, then the hour's rollup and, once an hour, the retention job.
 */
import type { QuotaEvent, QuotaTracker } from './quota';
import { parseSnapshot, type ParsedClient } from './snapshot';
import type { DeviceRegistry } from './registry';
import type { RetentionJob } from './retention';
import type { Rollups } from './rollup';
import type { Seen, SessionTracker } from './sessions';
import { TIERS, type StoreContext } from './statements';

/** One device's ticks in the current raw bucket: volumes in bytes, peaks in bit/s. */
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

/** The raw bucket being summed: usage per device, what was seen of each, and its ticks' ts. */
interface Pending {
  bucket: number;
  rows: Map<number, Acc>;
  seen: Map<number, Seen>;
  ticks: number[];
}

const DEFAULT_TICK_MS = 2000;

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

export class Ingester {
  private pending: Pending | null = null;
  private lastTickMs: number | null = null;
  private nominalTickMs = DEFAULT_TICK_MS;
  /** The MACs of the last snapshot ingested, in order (parseSnapshot's shortcut for the same clients). */
  private lastMacs: readonly string[] = [];
  /** The clients of the snapshot being ingested, read into these objects tick after tick (parseSnapshot's pool). */
  private readonly parsed: ParsedClient[] = [];
  /** Each client's volume of this tick for the quotas, [id, rx bytes, tx bytes] flat: reused tick after tick. */
  private volumes = new Float64Array(0);

  constructor(
    private readonly ctx: StoreContext,
    private readonly registry: DeviceRegistry,
    private readonly sessions: SessionTracker,
    private readonly rollups: Rollups,
    private readonly retention: RetentionJob,
    /** Called after each commit of usage, with the ticks (their ts) it made durable. */
    private readonly onCommit?: (ticks: number[]) => void,
    /** Quota use, counted from the same per-tick volumes (quota.ts). */
    private readonly quota?: QuotaTracker,
  ) {}

  /**
   * Adds one snapshot. Returns whether a raw bucket was committed (the previous one, now over).
   * An invalid snapshot throws InputError and changes nothing.
   */
  ingest(payload: unknown): { committed: boolean; newDevices: string[]; unregistered: number; quotaEvents: QuotaEvent[]; throttleChanged: boolean } {
    const snap = parseSnapshot(payload, this.ctx.clock(), this.lastMacs, this.parsed);
    this.lastMacs = snap.macs;
    const sec = Math.floor(snap.ts / 1000);
    const bucket = Math.floor(sec / this.ctx.resolutionSec) * this.ctx.resolutionSec;
    let committed = false;
    if (this.pending && this.pending.bucket !== bucket) committed = this.flush();

    let newDevices = snap.clients.filter((c) => !this.registry.has(c.mac));
    let unregistered = 0;
    if (newDevices.length > 0) {
      const room = this.registry.makeRoom(newDevices.length, snap.clients, (id) => {
        this.pending?.rows.delete(id);
        this.pending?.seen.delete(id);
        this.quota?.forget(id);
      });
      unregistered = newDevices.length - room;
      newDevices = newDevices.slice(0, room);
      this.registry.register(newDevices, sec);
    }
    // a device the full registry had no room for is counted in the totals only
    const clients = unregistered > 0 ? snap.clients.filter((c) => this.registry.has(c.mac)) : snap.clients;

    const dt = this.tickMs(snap.ts);
    const pending: Pending = (this.pending ??= { bucket, rows: new Map(), seen: new Map(), ticks: [] as number[] });
    pending.ticks.push(snap.ts);
    let rx = 0;
    let tx = 0;
    let allocRx = 0;
    let allocTx = 0;
    if (this.volumes.length < 3 * clients.length) this.volumes = new Float64Array(3 * Math.max(clients.length, 64));
    const volumes = this.volumes;
    let counted = 0;
    // indexed loops: a tick runs too seldom for V8 to optimise its iterators away
    for (let i = 0; i < clients.length; i++) {
      const c = clients[i];
      const id = this.registry.idOf(c.mac) as number;
      add(pending.rows, id, c.rxBps, c.txBps, c.allocRxBps, c.allocTxBps, dt, 0, c.priority);
      if (this.quota && dt > 0) {
        volumes[counted++] = id;
        volumes[counted++] = (c.rxBps * dt) / 8000;
        volumes[counted++] = (c.txBps * dt) / 8000;
      }
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
      for (let j = 0; j < c.ip6.length; j++) seen.addresses.add(c.ip6[j]);
      if (!seen.ip && c.ip6.length > 0) seen.ip = c.ip6[0];
      if (c.hostname) seen.hostname = c.hostname;
      if (c.vendor) seen.vendor = c.vendor;
      if (c.deviceType) seen.deviceType = c.deviceType;
      if (c.randomized !== undefined) seen.randomized = c.randomized;
    }
    const totals = snap.totals ?? { rxBps: rx, txBps: tx };
    add(pending.rows, 0, totals.rxBps, totals.txBps, allocRx, allocTx, dt, snap.clients.length * dt, null);
    const quota = this.quota ? this.quota.tick(sec, volumes.subarray(0, counted)) : { events: [], throttleChanged: false };
    return { committed, newDevices: newDevices.map((c) => c.mac), unregistered, quotaEvents: quota.events, throttleChanged: quota.throttleChanged };
  }

  /** Time a tick stands for: since the previous tick, or the usual interval after a gap or restart. */
  private tickMs(ts: number): number {
    const previous = this.lastTickMs;
    this.lastTickMs = ts;
    if (previous === null) return this.nominalTickMs;
    const gap = ts - previous;
    if (gap === 0) return 0;
    const maxGap = Math.max(2 * this.ctx.resolutionSec * 1000, 120_000);
    if (gap < 0 || gap > maxGap) return this.nominalTickMs;
    this.nominalTickMs = gap;
    return gap;
  }

  /**
   * Writes the summed ticks of the current raw bucket, in one transaction: raw rows, and what
   * changed in the registry. Once an hour is over, its raw rows are summed into the hourly and
   * daily tiers (one more transaction, which also moves the rollup mark), so queries read the
   * tiers up to the mark and raw rows after it, and the tiers always agree.
   */
  flush(): boolean {
    const { db, stmt, calendar } = this.ctx;
    const p = this.pending;
    if (!p) return false;
    this.pending = null;
    // A bucket already rolled up (the clock went back) goes to every tier at once.
    const late = p.bucket < this.rollups.until;
    const buckets = [p.bucket, calendar.hourStart(p.bucket), calendar.dayStart(p.bucket), calendar.monthStart(p.bucket)];
    db.transaction(() => {
      // forEach and the values as arguments: no pair and no array per row
      p.rows.forEach((a, id) => {
        for (let t = 0; t < (late ? TIERS.length : 1); t++) {
          stmt.upsert[t].run(
            buckets[t],
            id,
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
          );
        }
      });
      this.sessions.record(p.seen, p.bucket);
    })();
    this.onCommit?.(p.ticks);
    this.rollups.upTo(calendar.hourStart(p.bucket));
    this.retention.hourly(Math.floor(this.ctx.clock() / 1000));
    return true;
  }

  /**
   * For a timer: commits the summed ticks once their bucket is over (ticks may have stopped) and
   * runs the retention job once an hour. Returns whether something was committed.
   */
  maintain(): boolean {
    const nowSec = Math.floor(this.ctx.clock() / 1000);
    if (this.pending && nowSec >= this.pending.bucket + this.ctx.resolutionSec) return this.flush();
    this.retention.hourly(nowSec);
    return false;
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
