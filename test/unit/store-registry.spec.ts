import assert from 'node:assert/strict';
import { InputError } from '../../nodes/core/contract/errors';
import type { UsageQueries } from '../../nodes/core/store/queries';
import type { UsageStore } from '../../nodes/core/store/store';
import type { ConsumerRow, DeviceEntry } from '../../nodes/core/store/types';
import { A, B, Clock, local, MBIT, openStore, TempDir, ticks } from './store-fixtures';

// Private (randomized) MACs: bit 1 of the first octet set, as phones use them.
const R1 = 'da:11:22:33:44:01';
const R2 = '3e:11:22:33:44:02';

const registry = (q: UsageQueries, includeExpired = false) => (q.run({ type: 'registry', includeExpired }).payload as { devices: DeviceEntry[] }).devices;
const count = (store: UsageStore, table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('usage store: device registry', () => {
  let dir: TempDir;
  let clock: Clock;
  let store: UsageStore;
  let q: UsageQueries;
  beforeEach(() => {
    dir = new TempDir();
    clock = new Clock(local(2026, 2, 1, 8));
    ({ store, queries: q } = openStore(dir.file(), clock, { maxPriority: 5 }));
  });
  afterEach(() => {
    if (store.isOpen) store.close();
    dir.remove();
  });

  describe('naming and prioritising', () => {
    it('stores names with quotes and SQL text literally', () => {
      ticks(store, clock, clock.ms, clock.ms + 4000, [{ mac: A, rxBps: 0, txBps: 0 }]);
      const names = [`Robert'); DROP TABLE devices;--`, `"quoted" 'single' \`back\``, `x' OR '1'='1`, 'Ünïcödé 📱 phone'];
      for (const name of names) {
        const result = store.command({ mac: A, name });
        assert.equal(result.device?.name, name);
        assert.equal(registry(q)[0].name, name);
      }
      assert.equal(count(store, 'devices'), 1);
      const merged = store.command({ action: 'merge', name: names[3] });
      assert.equal(merged.changed, 0);
    });

    it('sets, clears, and accepts the original API field friendly_name', () => {
      ticks(store, clock, clock.ms, clock.ms + 4000, [{ mac: A, ip: '192.168.1.10', rxBps: 0, txBps: 0 }]);
      store.command({ ip: '192.168.1.10', friendly_name: 'Laptop', priority: '2' });
      assert.deepEqual([registry(q)[0].name, registry(q)[0].priority], ['Laptop', 2]);
      store.command({ mac: A, name: '', priority: null });
      assert.deepEqual([registry(q)[0].name, registry(q)[0].priority], [null, null]);
    });
  });

  describe('merging randomized MACs into one entry', () => {
    beforeEach(() => {
      ticks(store, clock, local(2026, 2, 1, 8), local(2026, 2, 1, 8, 30), [{ mac: A, rxBps: 8 * MBIT, txBps: 0 }]);
      ticks(store, clock, local(2026, 2, 1, 9), local(2026, 2, 1, 9, 30), [{ mac: R1, rxBps: 4 * MBIT, txBps: 0 }]);
      ticks(store, clock, local(2026, 2, 1, 10), local(2026, 2, 1, 10, 30), [{ mac: R2, rxBps: 2 * MBIT, txBps: 0 }]);
      store.command({ mac: R1, name: "Anna's phone", priority: 1 });
      store.command({ mac: R2, name: "Anna's phone" });
    });

    it('marks private MACs as randomized', () => {
      assert.deepEqual(
        registry(q).map((d) => [d.mac, d.randomizedMac]),
        [
          [R2, true],
          [R1, true],
          [A, false],
        ],
      );
    });

    it('merges every entry with the same name into the latest seen, usage, settings and sessions included', () => {
      const result = store.command({ action: 'merge', name: "Anna's phone" });
      assert.equal(result.changed, 1);
      assert.deepEqual([result.device?.mac, result.device?.macs, result.device?.priority], [R2, [R2, R1], 1]);
      assert.equal(result.device?.firstSeen, '2026-02-01 09:00:00');
      const top = q.run({ type: 'top', hours: 24 }).payload as ConsumerRow[];
      assert.deepEqual(
        top.map((r) => [r.mac, r.download_mb]),
        [
          [A, 1800],
          [R2, 900 + 450],
        ],
      );
      const history = q.run({ type: 'history', mac: R1 }).payload as { sessions: unknown[] };
      assert.equal(history.sessions.length, 2);
      // the old MAC coming back lands on the merged entry
      ticks(store, clock, local(2026, 2, 1, 11), local(2026, 2, 1, 11, 1), [{ mac: R1, rxBps: 8 * MBIT, txBps: 0 }]);
      store.flush();
      assert.equal(registry(q).length, 2);
      assert.equal((q.run({ type: 'client', mac: R2 }).payload as { download_mb: number }).download_mb, 1350 + 60);
    });

    it('merges given MACs into a given entry, and keeps it merged after a restart', () => {
      store.command({ action: 'merge', from: [R1, R2], into: A });
      store.close();
      ({ store, queries: q } = openStore(dir.file(), clock));
      const devices = registry(q);
      assert.equal(devices.length, 1);
      assert.deepEqual([devices[0].mac, devices[0].macs, devices[0].name, devices[0].priority], [A, [A, R2, R1].sort((a, b) => (a === A ? -1 : b === A ? 1 : a.localeCompare(b))), "Anna's phone", 1]);
      const [top] = q.run({ type: 'top', hours: 24 }).payload as ConsumerRow[];
      assert.equal(top.download_mb, 1800 + 900 + 450);
    });

    it('rejects merging an unknown MAC and changes nothing', () => {
      assert.throws(() => store.command({ action: 'merge', from: 'de:ad:be:ef:00:00', into: A }), /payload.from: unknown device de:ad:be:ef:00:00/);
      assert.equal(registry(q).length, 3);
    });
  });

  describe('expiry of stale entries', () => {
    it('expires unnamed entries unseen for the set days, hides them, and brings them back when seen', () => {
      ticks(store, clock, local(2026, 2, 1, 8), local(2026, 2, 1, 8, 1), [
        { mac: A, rxBps: 0, txBps: 0 },
        { mac: R1, rxBps: 0, txBps: 0 },
        { mac: B, rxBps: 0, txBps: 0 },
      ]);
      store.command({ mac: B, name: 'Printer' });
      store.flush();
      clock.ms = local(2026, 3, 10);
      ticks(store, clock, clock.ms, clock.ms + 4000, [{ mac: A, rxBps: 0, txBps: 0 }]);
      store.flush(); // the first commit of a new hour runs the retention job
      assert.deepEqual(registry(q).map((d) => d.mac).sort(), [A, B]);
      assert.deepEqual(registry(q, true).filter((d) => d.expired).map((d) => d.mac), [R1]);
      ticks(store, clock, clock.ms, clock.ms + 4000, [{ mac: R1, rxBps: 0, txBps: 0 }]);
      store.flush();
      assert.equal(registry(q).length, 3);
    });

    it('by command, with days, optionally including named ones', () => {
      ticks(store, clock, clock.ms, clock.ms + 4000, [{ mac: A, rxBps: 0, txBps: 0 }]);
      store.command({ mac: A, name: 'Old laptop' });
      store.flush();
      clock.ms += 3 * 86_400_000;
      assert.equal(store.command({ action: 'expire', days: 2 }).changed, 0);
      assert.equal(store.command({ action: 'expire', days: 2, includeNamed: true }).changed, 1);
      assert.deepEqual(registry(q), []);
    });
  });

  describe('bad input is rejected with the field named, and changes nothing', () => {
    beforeEach(() => {
      ticks(store, clock, clock.ms, clock.ms + 4000, [{ mac: A, rxBps: 0, txBps: 0 }]);
      store.command({ mac: A, name: 'Kept', priority: 3 });
    });
    const cases: [string, unknown, RegExp][] = [
      ['unknown MAC', { mac: 'de:ad:be:ef:00:01', name: 'x' }, /payload.mac: unknown device de:ad:be:ef:00:01: it has never been seen/],
      ['not a MAC', { mac: 'not-a-mac', name: 'x' }, /payload.mac: "not-a-mac" is not a MAC address/],
      ['unknown IP', { ip: '10.9.9.9', name: 'x' }, /payload.ip: unknown device "10.9.9.9"/],
      ['priority 0', { mac: A, priority: 0 }, /payload.priority: must be a whole number from 1 \(highest\) to 5/],
      ['priority above max', { mac: A, priority: 6 }, /payload.priority/],
      ['priority NaN', { mac: A, priority: 'abc' }, /payload.priority/],
      ['a name too long', { mac: A, name: 'x'.repeat(101) }, /payload.name: must be at most 100 characters/],
      ['a name that is not text', { mac: A, name: { $ne: 1 } }, /payload.name: must be text/],
      ['nothing to set', { mac: A }, /nothing to set/],
      ['an unknown action', { action: 'rename', mac: A }, /payload.action: must be one of set, merge, expire, forget/],
      ['expire 0 days', { action: 'expire', days: 0 }, /payload.days: must be a number of days above 0/],
      ['not an object', 'A', /payload: must be an object/],
    ];
    for (const [what, payload, message] of cases) {
      it(what, () => {
        assert.throws(() => store.command(payload), (err: Error) => err instanceof InputError && message.test(err.message));
        const [d] = registry(q);
        assert.deepEqual([d.name, d.priority], ['Kept', 3]);
      });
    }
  });

  describe('bounded against a MAC spray (maxDevices)', () => {
    const spray = (i: number) => `02:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:99`;

    it('holds at most maxDevices: the unnamed, unprioritised device seen the longest ago goes first; named and prioritised ones stay', () => {
      const small = openStore(dir.file('small.db'), clock, { maxPriority: 5, maxDevices: 5 });
      try {
        ticks(small.store, clock, clock.ms, clock.ms + 2000, [{ mac: A, rxBps: 0, txBps: 0 }, { mac: B, rxBps: 0, txBps: 0 }]);
        small.store.command({ mac: A, name: 'Work laptop' });
        small.store.command({ mac: B, priority: 1 });
        // 40 sprayed MACs, one per minute (so each gets its own last_seen), while A stays
        for (let i = 0; i < 40; i++) {
          clock.ms += 60_000;
          const r = small.store.ingest({ ts: clock.ms, clients: [{ mac: A, rxBps: 1000, txBps: 0 }, { mac: spray(i), rxBps: 1000, txBps: 0 }] });
          assert.equal(r.unregistered, 0);
          assert.ok(count(small.store, 'devices') <= 5, `after ${i}: ${count(small.store, 'devices')} devices`);
        }
        const macs = registry(small.queries).map((d) => d.mac).sort();
        assert.deepEqual(macs, [A, B, spray(37), spray(38), spray(39)].sort());
        assert.equal(count(small.store, 'device_macs'), 5);
      } finally {
        small.store.close();
      }
    });

    it('does not register a new device when every one is named or prioritised, counts it in the totals, and says so', () => {
      const tiny = openStore(dir.file('tiny.db'), clock, { maxPriority: 5, maxDevices: 2 });
      try {
        ticks(tiny.store, clock, clock.ms, clock.ms + 2000, [{ mac: A, rxBps: 0, txBps: 0 }, { mac: B, rxBps: 0, txBps: 0 }]);
        tiny.store.command({ mac: A, name: 'A' });
        tiny.store.command({ mac: B, name: 'B' });
        clock.ms += 2000;
        const r = tiny.store.ingest({ ts: clock.ms, clients: [{ mac: spray(1), rxBps: MBIT, txBps: 0 }] });
        assert.equal(r.unregistered, 1);
        assert.deepEqual(r.newDevices, []);
        assert.equal(count(tiny.store, 'devices'), 2);
      } finally {
        tiny.store.close();
      }
    });

    it('refuses a maxDevices that is not a whole number from 1', () => {
      assert.throws(() => openStore(dir.file('bad.db'), clock, { maxDevices: 0 }), /maxDevices/);
    });
  });
});
