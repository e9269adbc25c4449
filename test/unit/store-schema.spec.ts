import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { openDatabase, SCHEMA_VERSION, StoreError } from '../../nodes/core/store/schema';
import type { ConsumerRow, DeviceEntry, AlertRow } from '../../nodes/core/store/types';
import { A, B, calendar, Clock, local, MBIT, openStore, TempDir, ticks } from './store-fixtures';

const digest = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('usage store: the database file', () => {
  let dir: TempDir;
  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir.remove());

  describe('schema and migrations', () => {
    it('creates a new file at the latest version, in WAL mode', () => {
      const { store } = openStore(dir.file(), new Clock(local(2026, 1, 1)));
      assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(store.db.pragma('auto_vacuum', { simple: true }), 2);
      assert.equal(store.rollupUntil, 0);
      store.close();
    });

    it('upgrades an empty (0-byte) file', () => {
      writeFileSync(dir.file(), '');
      const { store, queries } = openStore(dir.file(), new Clock(local(2026, 1, 1)));
      assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.deepEqual(queries.run({ type: 'registry' }).payload, { devices: [] });
      store.close();
    });

    it('upgrades a file of the first schema, keeping its devices, usage and alerts', () => {
      // What EqualNet with schema 1 left behind: a named device, an hour of raw rows, an alert.
      const v1 = openDatabase(dir.file(), calendar, { upTo: 1 });
      assert.equal(v1.pragma('user_version', { simple: true }), 1);
      const t0 = local(2026, 5, 1, 10) / 1000;
      v1.prepare('INSERT INTO devices (id, mac, name, priority, device_type, vendor, first_seen, last_seen) VALUES (1, ?, ?, 2, ?, ?, ?, ?)').run(
        A,
        'Anna’s "phone"',
        'phone',
        'Apple',
        t0,
        t0 + 3599,
      );
      const raw = v1.prepare('INSERT INTO usage_raw VALUES (?, ?, 60000, 30, ?, ?, 0, 0, ?, ?, ?, ?, ?)');
      for (let m = 0; m < 60; m++) {
        raw.run(t0 + m * 60, 1, 60_000_000, 7_500_000, 8 * MBIT, 1 * MBIT, 9 * MBIT, 0, 2); // 8 down, 1 up Mbit/s
        raw.run(t0 + m * 60, 0, 60_000_000, 7_500_000, 8 * MBIT, 1 * MBIT, 9 * MBIT, 60_000, null);
      }
      v1.prepare("INSERT INTO alerts (ts, alert_type, severity, message, ip_address) VALUES (?, 'new_device', 'info', 'hello', '192.168.1.10')").run(t0 * 1000);
      v1.close();

      const clock = new Clock(local(2026, 5, 1, 12));
      const { store, queries } = openStore(dir.file(), clock);
      assert.equal(store.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      const [device] = (queries.run({ type: 'registry' }).payload as { devices: DeviceEntry[] }).devices;
      assert.deepEqual([device.mac, device.macs, device.name, device.priority, device.vendor], [A, [A], 'Anna’s "phone"', 2, 'Apple']);
      const [top] = queries.run({ type: 'top', hours: 24 }).payload as ConsumerRow[];
      assert.deepEqual([top.mac, top.download_mb, top.upload_mb, top.avg_usage], [A, 3600, 450, 9]);
      assert.deepEqual((queries.run({ type: 'hourly', hours: 24 }).payload as { hour: string }[]).map((h) => h.hour), ['2026-05-01 10:00']);
      const [alert] = queries.run({ type: 'alerts' }).payload as AlertRow[];
      assert.deepEqual([alert.type, alert.message, alert.mac_address], ['new_device', 'hello', null]);
      // and it keeps working: the same MAC lands on the same entry
      ticks(store, clock, local(2026, 5, 1, 12), local(2026, 5, 1, 12, 2), [{ mac: A, rxBps: 0, txBps: 0 }]);
      store.close();
      const again = openStore(dir.file(), clock);
      assert.equal((again.queries.run({ type: 'registry' }).payload as { devices: DeviceEntry[] }).devices.length, 1);
      again.store.close();
    });

    it('refuses a file of a newer schema and leaves it unchanged', () => {
      const { store } = openStore(dir.file(), new Clock(local(2026, 1, 1)));
      store.db.pragma(`user_version = ${SCHEMA_VERSION + 7}`);
      store.close();
      const before = digest(dir.file());
      assert.throws(
        () => openStore(dir.file(), new Clock(0)),
        (err: Error) => err instanceof StoreError && new RegExp(`schema version ${SCHEMA_VERSION + 7}, newer than this EqualNet understands \\(${SCHEMA_VERSION}\\).*not changed`).test(err.message),
      );
      assert.equal(digest(dir.file()), before);
    });

    it('refuses the original EqualNet Pro database and any other SQLite file', () => {
      const original = new Database(dir.file('equalnet.db'));
      original.exec('CREATE TABLE bandwidth_history (id INTEGER PRIMARY KEY); CREATE TABLE client_history (id INTEGER); CREATE TABLE client_metadata (ip_address TEXT); CREATE TABLE alerts (id INTEGER)');
      original.close();
      assert.throws(() => openStore(dir.file('equalnet.db'), new Clock(0)), /original EqualNet Pro \(Python\).*choose another database file/);
      const other = new Database(dir.file('other.db'));
      other.exec('CREATE TABLE recipes (id INTEGER)');
      other.close();
      assert.throws(() => openStore(dir.file('other.db'), new Clock(0)), /SQLite database of something else \(tables: recipes\)/);
    });
  });

  describe('paths that cannot be used give a clear error', () => {
    it('a corrupt file: named, not touched', () => {
      writeFileSync(dir.file(), Buffer.alloc(16_384, 0x5a));
      const before = digest(dir.file());
      assert.throws(
        () => openStore(dir.file(), new Clock(0)),
        (err: Error) => err instanceof StoreError && err.message.includes(dir.file()) && /not an SQLite database/.test(err.message),
      );
      assert.equal(digest(dir.file()), before);
    });
    it('a folder that does not exist', () => {
      assert.throws(() => openStore(dir.file('missing/usage.db'), new Clock(0)), /cannot open the usage database ".*missing\/usage\.db": its folder does not exist/);
    });
    it('a place nobody can write (inside a regular file, or /proc)', () => {
      writeFileSync(dir.file('plain'), 'x');
      assert.throws(() => openStore(dir.file('plain/usage.db'), new Clock(0)), /cannot open the usage database ".*plain\/usage\.db"/);
      assert.throws(() => openStore('/proc/equalnet-usage.db', new Clock(0)), /cannot be created or opened here/);
    });
  });

  describe('restarts', () => {
    it('keep names and priorities, and never lose the last minute summed in memory', () => {
      const clock = new Clock(local(2026, 4, 1, 8));
      let { store, queries } = openStore(dir.file(), clock);
      ticks(store, clock, local(2026, 4, 1, 8), local(2026, 4, 1, 8, 0, 30), [
        { mac: A, rxBps: 8 * MBIT, txBps: 0 },
        { mac: B, rxBps: 0, txBps: 0 },
      ]);
      store.command({ mac: A, name: 'Living room TV', priority: 1 });
      store.command({ ip: undefined, mac: B, priority: 4, deviceType: 'tv' });
      store.close(); // 30 s of ticks were only in memory
      ({ store, queries } = openStore(dir.file(), clock));
      const devices = (queries.run({ type: 'registry' }).payload as { devices: DeviceEntry[] }).devices;
      assert.deepEqual(
        devices.map((d) => [d.mac, d.name, d.priority, d.deviceType]).sort(),
        [
          [A, 'Living room TV', 1, null],
          [B, null, 4, 'tv'],
        ],
      );
      const [top] = queries.run({ type: 'top', hours: 1 }).payload as ConsumerRow[];
      assert.equal(top.download_mb, 30); // 8 Mbit/s for 30 s
      store.close();
    });
  });

  describe('retention', () => {
    it('prunes each tier at its own age and keeps answering from the coarser one', () => {
      const clock = new Clock(local(2026, 6, 1, 10));
      const { store, queries } = openStore(dir.file(), clock, { retention: { rawDays: 1, hourlyDays: 3, dailyDays: 10, alertDays: 2, expireDays: 0 } });
      ticks(store, clock, local(2026, 6, 1, 10), local(2026, 6, 1, 11), [{ mac: A, rxBps: 8 * MBIT, txBps: 0 }]);
      store.storeAlert({ type: 'new_device', severity: 'info', message: 'hi' });
      const count = (t: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
      // the hour is rolled up once it is over (here by the timer, as no tick comes)
      assert.deepEqual([count('usage_raw'), count('usage_hourly'), count('usage_daily')], [118, 0, 0]);
      clock.ms = local(2026, 6, 1, 11, 0, 30);
      assert.equal(store.maintain(), true);
      assert.deepEqual([count('usage_raw'), count('usage_hourly'), count('usage_daily')], [120, 2, 2]);

      clock.ms = local(2026, 6, 2, 12);
      assert.deepEqual(store.runRetention(), { rawDeleted: 120, hourlyDeleted: 0, dailyDeleted: 0, alertsDeleted: 0, devicesExpired: 0, devicesDeleted: 0 });
      clock.ms = local(2026, 6, 4, 12);
      assert.deepEqual(store.runRetention(), { rawDeleted: 0, hourlyDeleted: 2, dailyDeleted: 0, alertsDeleted: 1, devicesExpired: 0, devicesDeleted: 0 });
      const [top] = queries.run({ type: 'top', hours: 24 * 5 }).payload as ConsumerRow[];
      assert.deepEqual([top.mac, top.download_mb], [A, 3600]);
      clock.ms = local(2026, 6, 12);
      assert.equal(store.runRetention().dailyDeleted, 2);
      assert.deepEqual(queries.run({ type: 'top', hours: 24 * 30 }).payload, []);
      store.close();
    });

    it('keeps the file from growing: 24 days of 10 clients take no more room than 12 days', () => {
      const clock = new Clock(local(2026, 7, 1));
      const file = dir.file();
      const { store } = openStore(file, clock, { resolutionSec: 300, retention: { rawDays: 1, hourlyDays: 3, dailyDays: 5, alertDays: 5, expireDays: 0 } });
      const clients = Array.from({ length: 10 }, (_, i) => ({ mac: `a4:5e:60:00:01:${String(i).padStart(2, '0')}`, rxBps: (i + 1) * MBIT, txBps: MBIT }));
      const run = (days: number) => {
        const end = clock.ms + days * 86_400_000;
        ticks(store, clock, clock.ms, end, clients, undefined, 300_000);
        clock.ms = end;
        store.flush();
        store.db.pragma('wal_checkpoint(TRUNCATE)');
        return statSync(file).size;
      };
      const after12 = run(12);
      const after24 = run(12);
      assert.ok(after24 <= after12 * 1.05, `file grew from ${after12} to ${after24} bytes`);
      store.close();
    });
  });
});
