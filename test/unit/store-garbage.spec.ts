/**
 * usage-store's tick without garbage it does not need (issue 17): the same snapshot parsed, the
 * same snapshot sent on, as the straightforward code gave. The reference implementations below are
 * the code before the change (parseSnapshot) and what withQuota promises (docs/message.md): each
 * registered client copied with `limits` and `quota` (times in ms) added, the input not changed.
 */
import assert from 'node:assert/strict';
import { InputError } from '../../nodes/core/contract/errors';
import { clientMac } from '../../nodes/core/contract/mac';
import { rateOf, snapshotClients, timeOf } from '../../nodes/core/contract/message';
import { PIPELINE_CLIENT_KEYS, withLimitsAndQuota } from '../../nodes/core/store/client-copy';
import { parseSnapshot, type ParsedClient } from '../../nodes/core/store/snapshot';
import type { QuotaEvent, UsageStore } from '../../nodes/core/store/store';
import { Clock, local, openStore, TempDir } from './store-fixtures';

/** parseSnapshot as it was: a path string per client, ip6 filtered into a new array, a set of MACs every tick. */
function referenceParse(payload: unknown, now: number) {
  snapshotClients(payload);
  const p = payload as { ts?: unknown; clients: unknown[]; totals?: { rxBps?: unknown; txBps?: unknown } };
  const ts = timeOf(p.ts, 'payload.ts', () => now);
  const seen = new Set<string>();
  const optText = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value.slice(0, 200) : undefined);
  const clients = p.clients.map((raw, i) => {
    const path = `payload.clients[${i}]`;
    const mac = clientMac(raw, path, seen);
    const c = raw as Record<string, unknown>;
    const alloc = (c.alloc ?? {}) as { down?: { rateBps?: unknown; expectedBps?: unknown }; up?: { rateBps?: unknown; expectedBps?: unknown } };
    return {
      mac,
      rxBps: rateOf(c.rxBps, `${path}.rxBps`),
      txBps: rateOf(c.txBps, `${path}.txBps`),
      allocRxBps: rateOf(alloc.down?.expectedBps ?? alloc.down?.rateBps, `${path}.alloc.down.expectedBps`),
      allocTxBps: rateOf(alloc.up?.expectedBps ?? alloc.up?.rateBps, `${path}.alloc.up.expectedBps`),
      priority: typeof c.priority === 'number' && Number.isInteger(c.priority) ? c.priority : null,
      ip: optText(c.ip) ?? null,
      ip6: Array.isArray(c.ip6) ? c.ip6.filter((a): a is string => typeof a === 'string' && a !== '').slice(0, 16) : [],
      hostname: optText(c.hostname),
      vendor: optText(c.vendor),
      deviceType: optText(c.deviceType),
      randomized: typeof c.randomizedMac === 'boolean' ? c.randomizedMac : undefined,
    };
  });
  let totals = null;
  if (p.totals !== undefined && p.totals !== null) {
    if (typeof p.totals !== 'object') throw new InputError('payload.totals', 'must be { rxBps, txBps }');
    totals = { rxBps: rateOf(p.totals.rxBps, 'payload.totals.rxBps'), txBps: rateOf(p.totals.txBps, 'payload.totals.txBps') };
  }
  return { ts, clients, totals };
}

/** withQuota's promise, written plainly. */
function referenceWithQuota(store: UsageStore, payload: { clients: Record<string, unknown>[] }, events: QuotaEvent[]) {
  const clients = payload.clients.map((c) => {
    const id = store.deviceIdOf(c.mac as string);
    if (id === undefined) return c;
    const quota: Record<string, unknown> = { ...store.quotaOfId(id) };
    quota.dayResetsAt = (quota.dayResetsAt as number) * 1000;
    quota.monthResetsAt = (quota.monthResetsAt as number) * 1000;
    const mine = events.filter((e) => e.deviceId === id);
    if (mine.length > 0) {
      quota.crossed = mine.map((e) => ({ period: e.period, level: e.level, usedBytes: e.usedBytes, limitBytes: e.limitBytes, action: e.action, throttleBps: e.throttleBps, resetsAt: e.resetsAt * 1000 }));
    }
    return Object.assign({}, c, { limits: store.limitsOfId(id), quota });
  });
  return Object.assign({}, payload, { clients });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

let seed = 17;
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
const macOf = (i: number) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

/** A client as the pipeline makes it (arp-discover's fields, the rates, the allocation), or in another shape. */
function client(i: number, tick: number, shape: 'pipeline' | 'priority first' | 'short'): Record<string, unknown> {
  const d: Record<string, unknown> = {
    mac: macOf(i),
    ip: i % 7 === 0 ? null : `10.0.${i >> 8}.${(i & 255) + (tick % 3 === 0 && i % 5 === 0 ? 1 : 0)}`,
    ip6: i % 3 === 0 ? [`fd00::${i.toString(16)}`, `2001:db8::${i.toString(16)}`] : i % 11 === 0 ? ['', 'fd00::1', 7] : [],
    hostname: i % 4 === 0 ? null : `host-${i}`,
    vendor: i % 2 === 0 ? 'Apple, Inc.' : null,
    deviceType: 'phone',
    icon: 'phone',
    name: i % 6 === 0 ? `Device ${i}` : null,
    randomizedMac: i % 9 === 0,
    firstSeen: local(2026, 3, 1),
    lastSeen: local(2026, 3, 1) + tick * 2000,
  };
  if (shape === 'priority first') d.priority = 1 + (i % 5);
  d.rxBps = Math.round(rand() * 5e6);
  d.txBps = Math.round(rand() * 1e6);
  if (shape !== 'priority first') d.priority = 1 + ((i + tick) % 5);
  if (shape !== 'short') {
    d.alloc = {
      down: { rateBps: 400_000, ceilBps: 1e8, prio: 1, expectedBps: Math.round(rand() * 2e6), weight: 3, busy: false },
      up: { rateBps: 80_000, ceilBps: 2e7, prio: 1, expectedBps: Math.round(rand() * 4e5), weight: 3, busy: false },
    };
  }
  return d;
}

describe('usage-store: a tick without needless garbage gives what it gave', () => {
  let dir: TempDir;
  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir.remove());

  it('a client of the pipeline\'s fields is copied by the literal, any other by Object.assign: the same fields, values and order either way', () => {
    const limits = { maxDownBps: null };
    const quota = { dailyUsedBytes: 1 };
    for (const shape of ['pipeline', 'priority first', 'short'] as const) {
      const c = deepFreeze(client(3, 1, shape));
      if (shape === 'pipeline') assert.deepEqual(Object.keys(c), PIPELINE_CLIENT_KEYS);
      const out = withLimitsAndQuota(c, limits, quota);
      const expected = Object.assign({}, c, { limits, quota });
      assert.deepStrictEqual(out, expected);
      assert.equal(JSON.stringify(out), JSON.stringify(expected));
      assert.notEqual(out, c);
    }
    // a field inherited or a symbol is not one of the pipeline's: Object.assign's answer
    const sym = Symbol('extra');
    const withSymbol = Object.assign(client(4, 1, 'pipeline'), { [sym]: 1 });
    assert.equal((withLimitsAndQuota(withSymbol, limits, quota) as Record<symbol, unknown>)[sym], 1);
    const inherited = Object.assign(Object.create({ extra: 1 }), client(5, 1, 'pipeline'));
    assert.deepStrictEqual(withLimitsAndQuota(inherited, limits, quota), Object.assign({}, inherited, { limits, quota }));
  });

  it('parseSnapshot equals the code before on 300 random snapshots of changing clients, and refuses the same bad ones with the same words', () => {
    let last: readonly string[] = [];
    // ingest's way: one pool of objects written over tick after tick (compared before the next tick)
    const pool: ParsedClient[] = [];
    let macs = Array.from({ length: 40 }, (_, i) => i);
    for (let tick = 0; tick < 300; tick++) {
      // clients join, leave, swap places; now and then a bad field or a MAC twice
      if (tick % 7 === 3) macs = macs.filter((m) => m !== pick(macs));
      if (tick % 5 === 1) macs.push(100 + tick);
      if (tick % 13 === 6) [macs[2], macs[9]] = [macs[9], macs[2]];
      const clients: unknown[] = macs.map((m, k) => client(m, tick, k % 10 === 0 ? 'priority first' : k % 10 === 1 ? 'short' : 'pipeline'));
      const bad = tick % 17 === 8 ? pick(['twice', 'rate', 'mac', 'upper', 'alloc', 'object'] as const) : null;
      const at = Math.floor(rand() * clients.length);
      const c = clients[at] as Record<string, unknown>;
      if (bad === 'twice') clients.push({ ...(clients[0] as object) });
      if (bad === 'rate') c.txBps = -1;
      if (bad === 'mac') c.mac = 'nope';
      if (bad === 'upper') c.mac = (c.mac as string).toUpperCase();
      if (bad === 'alloc') c.alloc = { down: { expectedBps: 'x' } };
      if (bad === 'object') clients[at] = null;
      const payload = deepFreeze({ ts: 1e12 + tick * 2000, clients, totals: tick % 4 === 0 ? { rxBps: 5, txBps: 6 } : undefined });
      let expected: unknown;
      try {
        expected = referenceParse(payload, 0);
      } catch (err) {
        expected = err;
      }
      let got: ReturnType<typeof parseSnapshot> | undefined;
      try {
        got = parseSnapshot(payload, 0, last, pool);
        assert.equal(got.clients, pool);
      } catch (err) {
        assert.ok(expected instanceof InputError, `tick ${tick}: refused, but the code before took it: ${(err as Error).message}`);
        assert.equal((err as InputError).message, expected.message);
        assert.equal((err as InputError).path, expected.path);
        continue;
      }
      assert.ok(!(expected instanceof Error), `tick ${tick}: taken, but the code before refused it: ${(expected as Error)?.message}`);
      const { macs: gotMacs, ...rest } = got;
      assert.deepStrictEqual(rest, expected, `tick ${tick}`);
      assert.deepEqual(gotMacs, got.clients.map((x) => x.mac));
      last = gotMacs;
    }
  });

  it('withQuota equals its plain form tick after tick (joins, leaves, new addresses, priorities, quotas crossed and throttled), and changes nothing it got', () => {
    const clock = new Clock(local(2026, 3, 10, 23, 50));
    const { store } = openStore(dir.file(), clock);
    try {
      let macs = Array.from({ length: 30 }, (_, i) => i);
      let crossings = 0;
      for (let tick = 0; tick < 600; tick++) {
        if (tick === 1) {
          // quotas of a few devices, crossed within the run; one throttles
          store.command({ mac: macOf(2), quotaDailyMb: 20, quotaAction: 'throttle', throttleKbps: 1000 });
          store.command({ mac: macOf(5), quotaDailyMb: 50, quotaMonthlyMb: 100 });
          store.command({ mac: macOf(8), maxDownMbps: 5 });
        }
        if (tick % 9 === 4) macs = macs.filter((m) => m !== pick(macs));
        if (tick % 6 === 2) macs.push(200 + tick);
        clock.ms += 2000; // crosses midnight: the day's use starts again
        const payload = deepFreeze({ ts: clock.ms, iface: 'br-lan', clients: macs.map((m, k) => client(m, tick, k % 8 === 0 ? 'priority first' : 'pipeline')) });
        const { quotaEvents } = store.ingest(payload);
        crossings += quotaEvents.length;
        const got = store.withQuota(payload, quotaEvents) as { clients: unknown[] };
        const expected = referenceWithQuota(store, payload as unknown as { clients: Record<string, unknown>[] }, quotaEvents);
        assert.deepStrictEqual(got, expected, `tick ${tick}`);
        assert.equal(JSON.stringify(got), JSON.stringify(expected));
      }
      assert.ok(crossings >= 3, `quota levels were crossed (${crossings})`);
    } finally {
      store.close();
    }
  });
});
