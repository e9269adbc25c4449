/**
 * Per-device limits and quotas (issue 18), without the kernel: the allocator with caps, the one
 * check of a limit change, and the store's quota use over a real SQLite file with a test clock
 * (crossing midnight and the month's end, a restart, a migration from a file without limits).
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { AllocatorController } from '../../nodes/core/allocate/allocation';
import { allocateArrays, fillLevels, weightOf } from '../../nodes/core/allocate/allocator';
import { InputError } from '../../nodes/core/contract/errors';
import { API_NAMES, applyLimitChange, capsOf, COMMAND_NAMES, NO_LIMITS } from '../../nodes/core/contract/limits';
import { openDatabase } from '../../nodes/core/store/schema';
import type { DeviceEntry } from '../../nodes/core/store/types';
import { A, B, calendar, Clock, local, MBIT, openStore, TempDir, ticks } from './store-fixtures';

const policy = (totalBps: number) => ({ totalBps, maxPriority: 5, minPercent: 10, headroomPercent: 20 });

describe('limits: the allocator respects per-device caps', () => {
  it('a capped busy client alone on an idle link gets its cap as rate, ceil and expected share', () => {
    const r = allocateArrays([3, 3, 3], Float64Array.from([NaN, 0, 0]), Uint8Array.from([1, 0, 0]), policy(20 * MBIT), undefined, Float64Array.from([5 * MBIT, Infinity, Infinity]));
    assert.equal(r.clientCeilBps![0], 5 * MBIT);
    assert.equal(r.rateBps[0], 5 * MBIT);
    assert.equal(r.expectedBps[0], 5 * MBIT);
    assert.equal(r.clientCeilBps![1], 20 * MBIT);
    for (let i = 0; i < 3; i++) assert.ok(r.rateBps[i] <= r.clientCeilBps![i]);
  });

  it('the others share what a capped client cannot take by weight (weighted shares among them still hold)', () => {
    const prios = [1, 3, 5, 2];
    const r = allocateArrays(prios, Float64Array.from([NaN, NaN, NaN, NaN]), Uint8Array.from([1, 1, 1, 1]), policy(20 * MBIT), undefined, Float64Array.from([Infinity, 2 * MBIT, Infinity, Infinity]));
    assert.equal(r.expectedBps[1], 2 * MBIT);
    assert.equal(r.rateBps[1], 2 * MBIT);
    // the policy for the uncapped three over the link less the cap
    const w = [1, 5, 2].map((p) => weightOf(p, 5));
    const shares = fillLevels(new Float64Array(3).fill(2 * MBIT), new Float64Array(3).fill(20 * MBIT), Float64Array.from(w), 18 * MBIT);
    [0, 2, 3].forEach((i, k) => assert.ok(Math.abs(r.expectedBps[i] - shares[k]) <= 2, `client ${i}: ${r.expectedBps[i]} vs ${shares[k]}`));
    let sum = 0;
    for (let i = 0; i < 4; i++) sum += r.rateBps[i];
    assert.ok(sum <= 20 * MBIT);
  });

  it('a cap below the guarantee wins over the guarantee', () => {
    // guarantee 10 % of 20 Mbit/s = 2 Mbit/s; cap 0.5 Mbit/s
    const r = allocateArrays([1, 5], Float64Array.from([NaN, NaN]), Uint8Array.from([1, 1]), policy(20 * MBIT), undefined, Float64Array.from([500_000, Infinity]));
    assert.equal(r.guaranteeBps, 2 * MBIT);
    assert.equal(r.expectedBps[0], 500_000);
    assert.equal(r.rateBps[0], 500_000);
    assert.equal(r.expectedBps[1], 19.5 * MBIT);
  });

  it('random loads: every rate within its ceil and at least 8 kbit/s, the rates add up to at most the link', () => {
    let s = 42;
    const rand = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let round = 0; round < 300; round++) {
      const n = 1 + Math.floor(rand() * 12);
      const total = Math.round((1 + rand() * 99) * MBIT);
      const prio = Array.from({ length: n }, () => 1 + Math.floor(rand() * 5));
      const used = Float64Array.from({ length: n }, () => (rand() < 0.2 ? NaN : rand() * total * 0.5));
      const wants = Uint8Array.from({ length: n }, () => (rand() < 0.4 ? 1 : 0));
      const caps = Float64Array.from({ length: n }, () => (rand() < 0.4 ? Math.round(8000 + rand() * total) : Infinity));
      const r = allocateArrays(prio, used, wants, policy(total), undefined, caps);
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const ceil = r.clientCeilBps ? r.clientCeilBps[i] : r.ceilBps;
        assert.ok(r.rateBps[i] <= ceil, `round ${round}: rate ${r.rateBps[i]} above ceil ${ceil}`);
        assert.ok(r.rateBps[i] >= 8000 || r.rateBps[i] >= Math.min(ceil, r.floorBps) - 1, `round ${round}: rate ${r.rateBps[i]}`);
        assert.ok(r.expectedBps[i] <= ceil, `round ${round}: expected ${r.expectedBps[i]} above ceil ${ceil}`);
        if (caps[i] !== Infinity) assert.equal(ceil, Math.min(total, caps[i]));
        sum += r.rateBps[i];
      }
      assert.ok(sum <= total + n, `round ${round}: ${sum} > ${total}`);
    }
  });

  it('AllocatorController: the registry limits become each MAC\'s ceil; a throttled device is held at its throttle both ways; a new registry lifts it', () => {
    const alloc = new AllocatorController({ downMbps: 20, upMbps: 10, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 });
    const snap = { ts: 1, clients: [{ mac: A, rxBps: null, txBps: null }, { mac: B, rxBps: null, txBps: null }] };
    alloc.allocate(snap);
    const limits = { ...NO_LIMITS, maxDownBps: 5 * MBIT, quotaDailyBytes: 20e6, quotaAction: 'throttle', throttleBps: 1_000_000 };
    let out = alloc.applyRegistry({ devices: [{ mac: A, macs: [A], name: null, priority: null, limits, quota: { throttled: false } }] }).snapshot!;
    assert.equal(out.clients[0].alloc!.down.ceilBps, 5 * MBIT);
    assert.equal(out.clients[0].alloc!.up.ceilBps, 10 * MBIT);
    assert.equal(out.clients[1].alloc!.down.ceilBps, 20 * MBIT);
    assert.ok(out.clients[0].alloc!.down.rateBps <= 5 * MBIT);
    out = alloc.applyRegistry({ devices: [{ mac: A, macs: [A], name: null, priority: null, limits, quota: { throttled: true } }] }).snapshot!;
    assert.equal(out.clients[0].alloc!.down.ceilBps, 1_000_000);
    assert.equal(out.clients[0].alloc!.up.ceilBps, 1_000_000);
    assert.equal(out.clients[0].alloc!.down.rateBps, 1_000_000);
    out = alloc.applyRegistry({ devices: [{ mac: A, macs: [A], name: null, priority: null, limits: NO_LIMITS }] }).snapshot!;
    assert.equal(out.clients[0].alloc!.down.ceilBps, 20 * MBIT);
  });

  it('a registry entry with bad limits is refused with the field named', () => {
    const alloc = new AllocatorController({ downMbps: 20, upMbps: 10, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 });
    assert.throws(() => alloc.applyRegistry({ devices: [{ mac: A, limits: { maxDownBps: -1 } }] }), (e: Error) => e instanceof InputError && /payload\.devices\[0\]\.limits\.maxDownBps/.test(e.message));
    assert.throws(() => alloc.applyRegistry({ devices: [{ mac: A, limits: { quotaAction: 'block' } }] }), /quotaAction/);
  });
});

describe('limits: one check of a limit change (device command and API names)', () => {
  it('applies Mbit/s, MB and kbit/s; null clears; absent keeps', () => {
    const l = applyLimitChange(NO_LIMITS, { max_download: 5, max_upload: '2.5', quota_daily_mb: 20, quota_action: 'throttle', throttle_kbps: 1000 }, API_NAMES);
    assert.deepEqual(l, { maxDownBps: 5_000_000, maxUpBps: 2_500_000, quotaDailyBytes: 20_000_000, quotaMonthlyBytes: null, quotaAction: 'throttle', throttleBps: 1_000_000 });
    const m = applyLimitChange(l, { maxDownMbps: null, quotaMonthlyMb: 1000 }, COMMAND_NAMES);
    assert.equal(m.maxDownBps, null);
    assert.equal(m.maxUpBps, 2_500_000);
    assert.equal(m.quotaMonthlyBytes, 1e9);
    assert.deepEqual(capsOf(m, true), { down: 1_000_000, up: 1_000_000 });
    assert.deepEqual(capsOf(m, false), { down: Infinity, up: 2_500_000 });
  });

  const bad: [Record<string, unknown>, RegExp][] = [
    [{ max_download: 0 }, /max_download: must be a number from 0.008 to 100000 Mbit\/s/],
    [{ max_download: -5 }, /max_download/],
    [{ max_upload: '5 Mbit' }, /max_upload/],
    [{ max_upload: 1e9 }, /max_upload/],
    [{ quota_daily_mb: 0.5 }, /quota_daily_mb: must be a number from 1/],
    [{ quota_monthly_mb: true }, /quota_monthly_mb/],
    [{ quota_action: 'block' }, /quota_action: must be "alert" or "throttle"/],
    [{ quota_action: 'throttle' }, /throttle_kbps: "quota_action": "throttle" needs a throttle rate/],
    [{ throttle_kbps: 4 }, /throttle_kbps: must be a whole number from 8/],
    [{ throttle_kbps: 100.5 }, /throttle_kbps/],
  ];
  for (const [change, reason] of bad) {
    it(`refuses ${JSON.stringify(change)} with the field and the reason`, () => {
      assert.throws(() => applyLimitChange(NO_LIMITS, change, API_NAMES, 'body'), (e: Error) => e instanceof InputError && reason.test(e.message));
    });
  }
});

describe('limits: quotas in the usage store (real SQLite file, test clock)', () => {
  let dir: TempDir;
  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir.remove());

  const entry = (store: ReturnType<typeof openStore>['store'], mac: string) => store.registry().find((d) => d.mac === mac) as DeviceEntry;

  it('a device command sets, keeps and clears limits; the registry carries them; a bad one changes nothing', () => {
    const clock = new Clock(local(2026, 3, 10, 12));
    const { store } = openStore(dir.file(), clock);
    ticks(store, clock, clock.ms, clock.ms + 4000, [{ mac: A, rxBps: 0, txBps: 0 }]);
    const r = store.command({ mac: A, maxDownMbps: 5, quotaDailyMb: 20, quotaAction: 'throttle', throttleKbps: 1000 });
    assert.deepEqual(r.device!.limits, { maxDownBps: 5e6, maxUpBps: null, quotaDailyBytes: 20e6, quotaMonthlyBytes: null, quotaAction: 'throttle', throttleBps: 1e6 });
    assert.throws(() => store.command({ mac: A, maxUpMbps: 0, name: 'kept?' }), /payload\.maxUpMbps/);
    assert.equal(entry(store, A).name, null);
    assert.throws(() => store.command({ mac: A, throttleKbps: null }), /throttleKbps/);
    assert.equal(entry(store, A).limits.throttleBps, 1e6);
    store.command({ mac: A, maxDownMbps: null, quotaAction: 'alert' });
    assert.equal(entry(store, A).limits.maxDownBps, null);
    assert.equal(entry(store, A).limits.quotaAction, 'alert');
    store.close();
  });

  it('counts from the ticks, announces 80 % and 100 % once each, throttles within the tick, keeps it over a restart and lifts it at midnight (the test clock)', () => {
    const clock = new Clock(local(2026, 3, 10, 23, 50));
    const file = dir.file();
    let { store } = openStore(file, clock);
    ticks(store, clock, clock.ms, clock.ms + 2000, [{ mac: A, rxBps: 0, txBps: 0 }, { mac: B, rxBps: 0, txBps: 0 }]);
    store.command({ mac: A, quotaDailyMb: 20, quotaAction: 'throttle', throttleKbps: 1000 });
    // 16 Mbit/s down + 4 up = 2.5 MB a second: 5 MB a 2 s tick
    const events: { level: string; usedBytes: number; tick: number }[] = [];
    let changedAt = -1;
    for (let k = 1; k <= 8; k++) {
      clock.ms += 2000;
      const r = store.ingest({ ts: clock.ms, clients: [{ mac: A, rxBps: 16 * MBIT, txBps: 4 * MBIT }, { mac: B, rxBps: MBIT, txBps: 0 }] });
      for (const e of r.quotaEvents) events.push({ level: e.level, usedBytes: e.usedBytes, tick: k });
      if (r.throttleChanged && changedAt < 0) changedAt = k;
    }
    // 5 MB per tick: 15 MB after 3, 20 MB after 4 (80 % was reached on the 4th too: only "exceeded" goes out)
    assert.deepEqual(events.map((e) => [e.level, e.tick]), [['exceeded', 4]]);
    assert.equal(events[0].usedBytes, 20e6);
    assert.equal(changedAt, 4);
    assert.equal(store.quotaOf(A)!.throttled, true);
    assert.equal(store.quotaOf(A)!.dailyUsedBytes, 40e6);
    assert.equal(store.quotaOf(B)!.throttled, false);
    assert.equal(entry(store, A).quota!.throttled, true);
    store.close();

    // restart: the use is read back from the file, still throttled, no second event
    ({ store } = openStore(file, clock));
    assert.equal(store.quotaOf(A)!.dailyUsedBytes, 40e6);
    assert.equal(store.quotaOf(A)!.throttled, true);
    clock.ms += 2000;
    let r = store.ingest({ ts: clock.ms, clients: [{ mac: A, rxBps: MBIT, txBps: 0 }] });
    assert.deepEqual(r.quotaEvents, []);
    assert.equal(r.throttleChanged, false);

    // the test clock crosses midnight: the first tick of the new day lifts it
    clock.ms = local(2026, 3, 11, 0, 0, 1);
    r = store.ingest({ ts: clock.ms, clients: [{ mac: A, rxBps: MBIT, txBps: 0 }] });
    assert.equal(r.throttleChanged, true);
    assert.equal(store.quotaOf(A)!.throttled, false);
    assert.equal(store.quotaOf(A)!.dailyUsedBytes, 0.25e6);
    store.close();
  });

  it('a day that ended while the store was closed starts at zero when it opens; a month quota spans the days; download only when set', () => {
    const clock = new Clock(local(2026, 1, 31, 20));
    const file = dir.file();
    let { store } = openStore(file, clock, { quotaCounts: 'download' });
    ticks(store, clock, clock.ms, clock.ms + 2000, [{ mac: A, rxBps: 0, txBps: 0 }]);
    store.command({ mac: A, quotaDailyMb: 10, quotaMonthlyMb: 100 });
    const w: string[] = [];
    for (let k = 0; k < 10; k++) {
      clock.ms += 2000;
      for (const e of store.ingest({ ts: clock.ms, clients: [{ mac: A, rxBps: 4 * MBIT, txBps: 40 * MBIT }] }).quotaEvents) w.push(`${e.period} ${e.level}`);
    }
    // 1 MB of download a tick (upload not counted): warning at 8 MB, exceeded at 10 MB
    assert.deepEqual(w, ['daily warning', 'daily exceeded']);
    assert.equal(store.quotaOf(A)!.throttled, false, 'action "alert": never throttled');
    store.close();
    // Node-RED down over midnight and the month's end: opened on Feb 1st
    clock.ms = local(2026, 2, 1, 9);
    ({ store } = openStore(file, clock, { quotaCounts: 'download' }));
    assert.equal(store.quotaOf(A)!.dailyUsedBytes, 0);
    assert.equal(store.quotaOf(A)!.monthlyUsedBytes, 0);
    store.close();
    // and opened on Jan 31st again (the clock went back): the month's use is the day's
    clock.ms = local(2026, 1, 31, 21);
    ({ store } = openStore(file, clock, { quotaCounts: 'download' }));
    assert.equal(store.quotaOf(A)!.monthlyUsedBytes, 10e6);
    assert.equal(store.quotaOf(A)!.dailyUsedBytes, 10e6);
    store.close();
  });

  it('use read back across the rollup mark (daily tier before it, raw rows after it) is counted once', () => {
    const clock = new Clock(local(2026, 3, 10, 8));
    const file = dir.file();
    let { store } = openStore(file, clock);
    // two hours at 1 MB/s: the first hour is rolled up when the second is committed
    ticks(store, clock, local(2026, 3, 10, 8), local(2026, 3, 10, 10, 1), [{ mac: A, rxBps: 8 * MBIT, txBps: 0 }]);
    const counted = store.quotaOf(A)!.dailyUsedBytes;
    store.close();
    assert.ok(store.rollupUntil >= local(2026, 3, 10, 9) / 1000);
    ({ store } = openStore(file, clock));
    assert.equal(store.quotaOf(A)!.dailyUsedBytes, counted);
    assert.equal(counted, (2 * 3600 + 60) * 1e6);
    store.close();
  });

  it('a file of schema 2 (no limits) is upgraded keeping its devices and usage', () => {
    const file = dir.file();
    const db = openDatabase(file, calendar, { upTo: 2 });
    db.prepare("INSERT INTO devices (id, mac, name, priority, first_seen, last_seen) VALUES (1, ?, 'tv', 2, 1, 1)").run(A);
    db.prepare('INSERT INTO device_macs (mac, device_id) VALUES (?, 1)').run(A);
    db.close();
    const clock = new Clock(local(2026, 3, 10, 8));
    const { store } = openStore(file, clock);
    const tv = entry(store, A);
    assert.equal(tv.name, 'tv');
    assert.equal(tv.priority, 2);
    assert.deepEqual(tv.limits, NO_LIMITS);
    store.close();
    const raw = new Database(file);
    assert.equal(raw.pragma('user_version', { simple: true }), 4, 'and on to schema 4 (alerts acknowledged or cleared, alert delivery)');
    raw.close();
  });

  it('a device with a limit is neither removed to make room nor expired (unless asked)', () => {
    const clock = new Clock(local(2026, 3, 10, 8));
    const { store } = openStore(dir.file(), clock, { maxDevices: 2 });
    ticks(store, clock, clock.ms, clock.ms + 2000, [{ mac: A, rxBps: 0, txBps: 0 }]);
    store.command({ mac: A, maxUpMbps: 1 });
    clock.ms += 120_000;
    ticks(store, clock, clock.ms, clock.ms + 2000, [{ mac: B, rxBps: 0, txBps: 0 }]);
    ticks(store, clock, clock.ms + 2000, clock.ms + 4000, [{ mac: 'b8:27:eb:00:00:03', rxBps: 0, txBps: 0 }]);
    assert.ok(store.registry().some((d) => d.mac === A));
    assert.ok(!store.registry().some((d) => d.mac === B));
    clock.ms += 400 * 86_400_000;
    store.command({ action: 'expire', days: 30 });
    assert.deepEqual(store.registry(true).map((d) => [d.mac, d.expired]).sort(), [[A, false], ['b8:27:eb:00:00:03', true]]);
    store.close();
  });
});
