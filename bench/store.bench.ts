// usage-store: ingest throughput, one tick, and every query on a database as big as a year of 250 clients.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixedOffsetCalendar } from '../nodes/core/store/calendar';
import { UsageQueries } from '../nodes/core/store/queries';
import { UsageStore, type StoreOptions } from '../nodes/core/store/store';
import { AllocatorController } from '../nodes/core/allocate/allocation';
import type { AllocationCase } from './allocated';
import { counterTicks, FLOW_OPTIONS } from './allocator.bench';
import { printTable, timeIt } from './stats';

const CLIENTS = 250;
const calendar = fixedOffsetCalendar(60);
const T0 = Date.UTC(2026, 0, 1);
const macOf = (i: number) => `a4:5e:60:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const clientsAt = (k: number) =>
  Array.from({ length: CLIENTS }, (_, i) => ({
    mac: macOf(i),
    ip: `10.0.${i >> 8}.${i & 255}`,
    rxBps: ((k + i) % 97) * 100_000,
    txBps: ((k + i) % 13) * 50_000,
    alloc: { down: { rateBps: 400_000, ceilBps: 1e8, prio: 3 }, up: { rateBps: 80_000, ceilBps: 2e7, prio: 3 } },
    priority: 3,
  }));

function open(file: string, clock: { ms: number }, options: Partial<StoreOptions> = {}) {
  return new UsageStore({ file, clock: () => clock.ms, calendar, ...options });
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const fileSize = (file: string) => statSync(file).size + (safeSize(`${file}-wal`) ?? 0);
function safeSize(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

function ingestBenches(dir: string): void {
  const rows: Record<string, string | number>[] = [];
  // Worst case: every tick ends a raw bucket, so every client row is written to all three tiers.
  {
    const clock = { ms: T0 };
    const store = open(join(dir, 'ingest-commit.db'), clock, { resolutionSec: 1 });
    const ticks = 400;
    const snapshots = Array.from({ length: ticks }, (_, k) => ({ ts: T0 + k * 1000, clients: clientsAt(k) }));
    store.ingest(snapshots[0]); // registers the devices
    const start = process.hrtime.bigint();
    for (let k = 1; k < ticks; k++) {
      clock.ms = snapshots[k].ts;
      store.ingest(snapshots[k]);
    }
    store.flush();
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    rows.push({ case: 'ingest, a commit every tick (res 1 s)', 'client rows/s': Math.round(((ticks - 1) * CLIENTS) / s), target: '≥ 200000' });
    store.close();
  }
  // Normal: ticks every 2 s summed in memory, a commit a minute.
  {
    const clock = { ms: T0 };
    const store = open(join(dir, 'ingest-minute.db'), clock, { resolutionSec: 60 });
    const ticks = 3000;
    const snapshots = Array.from({ length: 60 }, (_, k) => clientsAt(k));
    store.ingest({ ts: T0, clients: snapshots[0] });
    const start = process.hrtime.bigint();
    for (let k = 1; k < ticks; k++) {
      clock.ms = T0 + k * 2000;
      store.ingest({ ts: clock.ms, clients: snapshots[k % 60] });
    }
    store.flush();
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    rows.push({ case: 'ingest, ticks 2 s apart, a commit a minute', 'client rows/s': Math.round(((ticks - 1) * CLIENTS) / s), target: '≥ 200000' });

    // One tick of 250 clients: summed in memory (29 of 30 ticks), and the tick that commits a minute.
    let k = ticks;
    const inMemory = timeIt(() => {
      k++;
      clock.ms = T0 + Math.floor(k / 29) * 60_000 + (k % 29) * 2000 + 1000; // stays inside one minute
      store.ingest({ ts: clock.ms, clients: snapshots[k % 60] });
    }, 1000);
    let minute = Math.ceil(clock.ms / 60_000) + 10;
    const committing = timeIt(() => {
      minute++;
      clock.ms = minute * 60_000;
      store.ingest({ ts: clock.ms, clients: snapshots[minute % 60] });
    }, 300);
    printTable(rows);
    console.log('');
    printTable([
      { tick: '250 clients, summed in memory', 'median ms': inMemory.medianMs.toFixed(3), 'p95 ms': inMemory.p95Ms.toFixed(3), target: '< 2' },
      { tick: '250 clients, commits a raw minute', 'median ms': committing.medianMs.toFixed(3), 'p95 ms': committing.p95Ms.toFixed(3), target: '< 2' },
    ]);
    store.close();
  }
}

/** A year of 250 clients, written straight into the tiers (what a year of ticks would leave behind under the default retention). */
export function generateYear(store: UsageStore, nowSec: number): Record<string, number> {
  const db = store.db;
  const r = store.retention;
  const counts: Record<string, number> = {};
  const insert = (table: string) =>
    db.prepare(
      `INSERT INTO ${table} (bucket, device_id, ms, samples, rx_bytes, tx_bytes, alloc_rx_bytes, alloc_tx_bytes, peak_rx_bps, peak_tx_bps, peak_bps, client_ms, priority)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  db.transaction(() => {
    const addDevice = db.prepare('INSERT INTO devices (id, mac, name, priority, device_type, vendor, ip, randomized, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)');
    const addMac = db.prepare('INSERT INTO device_macs (mac, device_id) VALUES (?, ?)');
    const addAddress = db.prepare('INSERT INTO device_addresses (device_id, address, first_seen, last_seen) VALUES (?, ?, ?, ?)');
    for (let i = 1; i <= CLIENTS; i++) {
      addDevice.run(i, macOf(i - 1), i % 3 === 0 ? `Device ${i}` : null, i % 5 === 0 ? 1 + (i % 5) : null, 'phone', 'Apple', `10.0.0.${i}`, nowSec - 365 * 86400, nowSec);
      addMac.run(macOf(i - 1), i);
      addAddress.run(i, `10.0.0.${i}`, nowSec - 365 * 86400, nowSec);
      addAddress.run(i, `fd00::${i.toString(16)}`, nowSec - 365 * 86400, nowSec);
    }
  })();
  const fill = (table: string, stepSec: number, fromSec: number) => {
    const stmt = insert(table);
    let n = 0;
    const chunk = 200_000;
    let bucket = Math.floor(fromSec / stepSec) * stepSec;
    while (bucket < nowSec) {
      db.transaction(() => {
        for (let c = 0; c < chunk && bucket < nowSec; bucket += stepSec) {
          const ms = stepSec * 1000;
          let totalRx = 0;
          let totalTx = 0;
          for (let id = 1; id <= CLIENTS; id++, c++) {
            const rxBps = ((bucket / stepSec + id) % 97) * 100_000;
            const txBps = ((bucket / stepSec + id) % 13) * 50_000;
            const rx = Math.round((rxBps * ms) / 8000);
            const tx = Math.round((txBps * ms) / 8000);
            totalRx += rx;
            totalTx += tx;
            stmt.run(bucket, id, ms, stepSec / 2, rx, tx, rx, tx, rxBps, txBps, rxBps + txBps, 0, 3);
          }
          stmt.run(bucket, 0, ms, stepSec / 2, totalRx, totalTx, totalRx, totalTx, 97e5, 13e5, 11e6, CLIENTS * ms, null);
          n += CLIENTS + 1;
        }
      })();
    }
    counts[table] = n;
  };
  fill('usage_raw', store.resolutionSec, nowSec - r.rawDays * 86400);
  fill('usage_hourly', 3600, nowSec - r.hourlyDays * 86400);
  fill('usage_daily', 86400, nowSec - 365 * 86400);
  db.exec(`INSERT INTO usage_monthly SELECT eqn_month_start(bucket), device_id, sum(ms), sum(samples), sum(rx_bytes), sum(tx_bytes),
             sum(alloc_rx_bytes), sum(alloc_tx_bytes), max(peak_rx_bps), max(peak_tx_bps), max(peak_bps), sum(client_ms), max(priority)
           FROM usage_daily GROUP BY 1, 2`);
  counts.usage_monthly = (db.prepare('SELECT count(*) AS n FROM usage_monthly').get() as { n: number }).n;
  // Whole hours are rolled up, as the store leaves them; the current hour is in raw rows only.
  db.prepare('UPDATE rollup_state SET until = ?').run(store.calendar.hourStart(nowSec));
  db.transaction(() => {
    const session = db.prepare('INSERT INTO device_sessions (device_id, start_ts, end_ts, ip_address) VALUES (?, ?, ?, ?)');
    let n = 0;
    for (let day = r.hourlyDays; day > 0; day--) {
      for (let id = 1; id <= CLIENTS; id++) {
        const start = nowSec - day * 86400 + (id % 24) * 1800;
        session.run(id, start, start + 3 * 3600, `10.0.0.${id}`);
        session.run(id, start + 6 * 3600, start + 9 * 3600, `10.0.0.${id}`);
        n += 2;
      }
    }
    counts.device_sessions = n;
    const alert = db.prepare('INSERT INTO alerts (ts, alert_type, severity, message, ip_address, mac_address) VALUES (?, ?, ?, ?, ?, ?)');
    const types = ['bandwidth_limit', 'new_device', 'priority_starvation', 'unusual_traffic'];
    const severities = ['warning', 'info', 'warning', 'error'];
    n = 0;
    for (let t = nowSec - r.alertDays * 86400; t < nowSec; t += 1800, n++) {
      alert.run(t * 1000, types[n % 4], severities[n % 4], `alert ${n} for client ${n % CLIENTS}`, `10.0.0.${(n % CLIENTS) + 1}`, macOf(n % CLIENTS));
    }
    counts.alerts = n;
  })();
  return counts;
}

function yearBench(dir: string): void {
  const file = join(dir, 'year.db');
  const nowSec = Math.floor(Date.UTC(2027, 0, 1, 15, 30) / 1000);
  const clock = { ms: nowSec * 1000 };
  let store = open(file, clock);
  const started = Date.now();
  const counts = generateYear(store, nowSec);
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.db.exec('ANALYZE');
  store.close();
  const generatedIn = (Date.now() - started) / 1000;
  store = open(file, clock); // reopened as a restart would
  const q = new UsageQueries(store);
  const size = fileSize(file);
  console.log(
    `\ngenerated in ${generatedIn.toFixed(1)} s: ${Object.entries(counts)
      .map(([t, n]) => `${t} ${n.toLocaleString('en')}`)
      .join(', ')}`,
  );
  console.log(`file ${mb(size)} (target < 500 MB); retention raw ${store.retention.rawDays} d, hourly ${store.retention.hourlyDays} d, daily 365 d\n`);

  const queries: [string, Record<string, unknown>][] = [
    ['bandwidth 24 h (raw)', { type: 'bandwidth', hours: 24 }],
    ['bandwidth 168 h (hourly)', { type: 'bandwidth', hours: 168 }],
    ['bandwidth 8760 h (daily)', { type: 'bandwidth', hours: 8760 }],
    ['hourly 24 h', { type: 'hourly', hours: 24 }],
    ['hourly 168 h', { type: 'hourly', hours: 168 }],
    ['top 10, 24 h', { type: 'top', limit: 10 }],
    ['top 10, 30 days', { type: 'top', limit: 10, hours: 720 }],
    ['top 10, 365 days', { type: 'top', limit: 10, hours: 8760 }],
    ['report 7 days', { type: 'report', days: 7 }],
    ['report 30 days', { type: 'report', days: 30 }],
    ['report 365 days', { type: 'report', days: 365 }],
    ['client 24 h', { type: 'client', mac: macOf(7), hours: 24 }],
    ['client 30 days', { type: 'client', mac: macOf(7), hours: 720 }],
    ['client breakdown 24 h', { type: 'client', hours: 24 }],
    ['history of a device, 30 days', { type: 'history', mac: macOf(7), days: 30 }],
    ['history of all, 7 days', { type: 'history', days: 7 }],
    ['alerts, latest 50', { type: 'alerts' }],
    ['alerts, warning, 24 h', { type: 'alerts', severity: 'warning', hours: 24 }],
    ['alerts of a device', { type: 'alerts', mac: macOf(7) }],
    ['registry', { type: 'registry' }],
  ];
  const results = queries.map(([name, payload]) => {
    const t = timeIt(() => q.run(payload), 30, 3);
    const out = q.run(payload).payload;
    const n = Array.isArray(out) ? out.length : Array.isArray((out as { devices?: unknown[] }).devices) ? (out as { devices: unknown[] }).devices.length : 1;
    return { query: name, rows: n, 'median ms': t.medianMs.toFixed(2), 'p95 ms': t.p95Ms.toFixed(2), ok: t.medianMs < 20 ? 'yes' : 'NO' };
  });
  printTable(results);
  const retention = timeIt(() => store.runRetention(), 5, 1);
  console.log(`\nretention job on this file: median ${retention.medianMs.toFixed(1)} ms (runs once an hour)`);
  store.close();
}

export async function bench(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'equalnet-store-bench-'));
  try {
    ingestBenches(dir);
    yearBench(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `ticks` snapshots of `n` devices as usage-store gets them in the default flow: iface-counter's
 * (bench/allocator's counterTicks), allocated by priority-allocator, with tc-shaper's report.
 */
export function shapedTicks(n: number, ticks: number, t0 = Date.UTC(2026, 0, 5, 8)): Record<string, unknown>[] {
  const allocator = new AllocatorController(FLOW_OPTIONS);
  return counterTicks(n, ticks, t0).map((s) => ({ ...allocator.allocate(s), shaping: { mode: 'dry-run', clients: n, changes: 0 } }));
}

/** A store on a temporary file (removed when the process exits), its clock, and its devices registered by a first tick. */
function benchStore(first: Record<string, unknown>): { store: UsageStore; clock: { ms: number } } {
  const dir = mkdtempSync(join(tmpdir(), 'equalnet-store-garbage-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const clock = { ms: first.ts as number };
  const store = open(join(dir, 'garbage.db'), clock);
  store.ingest(first);
  return { store, clock };
}

/**
 * The snapshots usage-store sends on (withQuota's), `ticks` of them 2 s apart, each a new object
 * as in the flow: what the nine alert rules get (bench/alerts).
 */
export function storedTicks(n: number, ticks: number, t0 = Date.UTC(2026, 0, 5, 8)): Record<string, unknown>[] {
  const input = shapedTicks(n, ticks + 1, t0);
  const { store, clock } = benchStore(input[0]);
  const out = input.slice(1).map((s) => {
    clock.ms = s.ts as number;
    return store.withQuota(s, store.ingest(s).quotaEvents) as Record<string, unknown>;
  });
  store.close();
  return out;
}

/**
 * Garbage per tick (bench/garbage): usage-store's tick is ingest, then the snapshot it sends on
 * (withQuota). 29 ticks of 30 are summed in memory (ticks of one minute); the 30th commits the
 * minute to SQLite (a tick a minute apart).
 */
export function allocationCases(): AllocationCase[] {
  const minute = Date.UTC(2026, 0, 5, 8);
  const tick = (n: number, what: string, at: (k: number) => number, goalBytes: number): AllocationCase => ({
    what: `usage-store: ${what}, ${n.toLocaleString('en')} clients`,
    clients: n,
    goalBytes,
    prepare: () => {
      const snaps = shapedTicks(n, 30, minute);
      const { store, clock } = benchStore({ ...snaps[0], ts: minute - 60_000 });
      let k = 0;
      return () => {
        const s = snaps[k % snaps.length];
        s.ts = clock.ms = at(k++);
        return store.withQuota(s, store.ingest(s).quotaEvents);
      };
    },
  });
  // within one minute: the clock goes round its 30 ticks (a tick back in time counts as one tick)
  const inMemory = (k: number) => minute + (k % 30) * 2000;
  // goals: what issue 17's round reached plus ~20 % (250 clients: 474-519 kB before it, 108-165 kB
  // after, the most with another job on the machine: code not yet optimised makes garbage of its
  // own; the commit 731-809 -> 283 kB; 1,000 clients 1,566 -> 384-521 kB)
  return [
    tick(250, 'ingest and send on a tick (summed in memory)', inMemory, 195 * 1024),
    // (at 1,000 clients 50 of these would not fit the measure's young generation)
    tick(250, 'ingest and send on a tick that commits a minute', (k) => minute + (k + 1) * 60_000, 340 * 1024),
    tick(1_000, 'ingest and send on a tick (summed in memory)', inMemory, 630 * 1024),
  ];
}
