import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AllocatorController, ECHO_WAIT_MS, MAX_REMEMBERED } from '../../nodes/core/allocate/allocation';
import { allocateArrays, allocateDirection, busyThresholds, fillLevels, guaranteeOf, MIN_BUSY_TICKS, wantsMore, weightOf, type AllocationPolicy, type DirectionDemand } from '../../nodes/core/allocate/allocator';

const RUNS = { numRuns: 1000 };

interface Case {
  policy: AllocationPolicy;
  demands: DirectionDemand[];
}

/** Random links from 100 kbit/s to 10 Gbit/s, 1..60 clients, busy, idle and light ones, unmeasured ones. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    totalBps: fc.integer({ min: 100_000, max: 10_000_000_000 }),
    maxPriority: fc.integer({ min: 2, max: 10 }),
    minPercent: fc.integer({ min: 0, max: 100 }),
    headroomPercent: fc.integer({ min: 0, max: 100 }),
    n: fc.integer({ min: 1, max: 60 }),
  })
  .chain(({ n, ...policy }) =>
    fc.record({
      policy: fc.constant(policy),
      demands: fc.array(
        fc.record({
          priority: fc.integer({ min: 1, max: policy.maxPriority }),
          usedBps: fc.oneof(
            fc.constant(0),
            fc.constant(null),
            fc.integer({ min: 0, max: Math.ceil(policy.totalBps / n) }),
            fc.integer({ min: 0, max: policy.totalBps }),
          ),
          wantsMore: fc.boolean(),
        }),
        { minLength: n, maxLength: n },
      ),
    }),
  );

const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);
const isBusy = (d: DirectionDemand) => d.wantsMore || d.usedBps === null;

describe('allocator core: properties over random inputs', () => {
  it('hands out the whole link and never more (less under 1 bit/s per client of rounding)', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const handedOut = sum(allocateDirection(demands, policy).rateBps);
        assert.ok(handedOut <= policy.totalBps, `${handedOut} > ${policy.totalBps}`);
        assert.ok(policy.totalBps - handedOut < 2 * demands.length, `${policy.totalBps - handedOut} bit/s left over`);
      }),
      RUNS,
    );
  });

  it('expects every busy client to get at least the guarantee g = min(minPercent × total, total / n); rates are at least the floor', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const g = Math.floor(Math.min((policy.minPercent / 100) * policy.totalBps, policy.totalBps / demands.length));
        const result = allocateDirection(demands, policy);
        assert.equal(result.guaranteeBps, g);
        assert.ok(result.floorBps <= g);
        // the floor holds where the link has room for it next to what light clients use
        const roomy = demands.reduce((a, d) => a + (isBusy(d) ? result.floorBps : Math.max(result.floorBps, d.usedBps ?? 0)), 0) <= policy.totalBps;
        demands.forEach((d, i) => {
          // (less 1 bit/s of rounding where headroom had to shrink to fit)
          if (roomy) assert.ok(result.rateBps[i] >= result.floorBps - 1, `rate ${result.rateBps[i]} < floor ${result.floorBps}`);
          if (isBusy(d)) assert.ok(result.expectedBps[i] >= g, `busy client ${i}: expected ${result.expectedBps[i]} < guarantee ${g}`);
        });
      }),
      RUNS,
    );
  });

  it('shares among busy clients by weight: max(g, w × L), so a higher priority never gets less', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const { rateBps, expectedBps, guaranteeBps } = allocateDirection(demands, policy);
        const busy = demands.map((d, i) => ({ w: weightOf(d.priority, policy.maxPriority), rate: rateBps[i], expected: expectedBps[i], busy: isBusy(d) })).filter((c) => c.busy);
        for (const a of busy) {
          for (const b of busy) {
            if (a.w > b.w) {
              assert.ok(a.expected >= b.expected, `expected: weight ${a.w} ${a.expected} < weight ${b.w} ${b.expected}`);
            }
            // above the guarantee, the share per unit of weight is the same level L for all
            if (a.expected > guaranteeBps + 1 && b.expected > guaranteeBps + 1) assert.ok(Math.abs(a.expected / a.w - b.expected / b.w) <= 1, `levels ${a.expected / a.w} and ${b.expected / b.w}`);
          }
        }
      }),
      RUNS,
    );
  });

  it('gives a client that is not busy at least what it uses, or its weighted share if that is less', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const { rateBps, expectedBps, guaranteeBps } = allocateDirection(demands, policy);
        const level = Math.max(0, ...demands.map((d, i) => (isBusy(d) && expectedBps[i] > guaranteeBps + 1 ? expectedBps[i] / weightOf(d.priority, policy.maxPriority) : 0)));
        demands.forEach((d, i) => {
          if (isBusy(d)) return;
          const used = Math.min(policy.totalBps, Math.ceil(d.usedBps ?? 0));
          assert.ok(rateBps[i] >= Math.min(used, guaranteeBps), `client ${i}: ${rateBps[i]} below min(used ${used}, g ${guaranteeBps})`);
          if (rateBps[i] < used) assert.ok(rateBps[i] / weightOf(d.priority, policy.maxPriority) >= level - 1, `client ${i} short of its use below the busy level`);
        });
      }),
      RUNS,
    );
  });

  it('expects busy clients to get, by weight, what the others leave unused, never more than the link in all', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const { rateBps, expectedBps } = allocateDirection(demands, policy);
        let inUse = 0;
        demands.forEach((d, i) => {
          if (isBusy(d)) {
            assert.ok(expectedBps[i] >= rateBps[i]);
            inUse += expectedBps[i];
          } else {
            assert.equal(expectedBps[i], rateBps[i]);
            inUse += Math.min(rateBps[i], Math.ceil(d.usedBps ?? 0));
          }
        });
        // (a light client that uses more than its rate is held below its use: it is busy next tick)
        // (nor one held at the floor: HTB gives it the floor even where its weighted share is less)
        const { floorBps } = allocateDirection(demands, policy);
        const settled = demands.every((d, i) => isBusy(d) || ((d.usedBps ?? 0) <= rateBps[i] && ((d.usedBps ?? 0) === 0 || rateBps[i] > floorBps)));
        if (settled) assert.ok(inUse <= policy.totalBps + 2 * demands.length, `${inUse} expected in use > ${policy.totalBps}`);
      }),
      RUNS,
    );
  });

  it('does not depend on the order of the clients, and is deterministic', () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ policy, demands }, seed) => {
        const order = demands.map((_, i) => i);
        let s = seed;
        for (let i = order.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) & 0x7fffffff;
          const j = s % (i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
        const straight = allocateDirection(demands, policy);
        const shuffled = allocateDirection(order.map((i) => demands[i]), policy);
        order.forEach((original, k) => {
          assert.equal(shuffled.rateBps[k], straight.rateBps[original]);
          assert.equal(shuffled.expectedBps[k], straight.expectedBps[original]);
        });
        assert.deepEqual(allocateDirection(demands, policy), straight);
      }),
      RUNS,
    );
  });

  it('lets every client borrow up to the whole link (work-conserving ceiling)', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const result = allocateDirection(demands, policy);
        assert.equal(result.ceilBps, policy.totalBps);
        for (const rate of result.rateBps) assert.ok(rate <= result.ceilBps);
      }),
      RUNS,
    );
  });
});

describe('allocator core: the fill level', () => {
  it('solves min(cap, max(floor, w × λ)) = amount exactly on a worked case', () => {
    // w 5, 3, 1 over 20 with floors 2: 5L + 3L + max(2, L) = 20 -> L = 20/9, the last at L
    const levels = fillLevels(Float64Array.of(2e6, 2e6, 2e6), Float64Array.of(20e6, 20e6, 20e6), Float64Array.of(5, 3, 1), 20e6);
    assert.deepEqual(Array.from(levels), [11_111_111, 6_666_666, 2_222_222]);
    // with the last one's weighted share under the floor: 5L + 3L + 2 = 12 -> L = 1.25
    const floored = fillLevels(Float64Array.of(2e6, 2e6, 2e6), Float64Array.of(12e6, 12e6, 12e6), Float64Array.of(5, 3, 1), 12e6);
    assert.deepEqual(Array.from(floored), [6_250_000, 3_750_000, 2_000_000]);
  });

  it('treats a client whose use is not measured as busy, and tells busy from not busy by its rate', () => {
    const policy: AllocationPolicy = { totalBps: 20e6, maxPriority: 5, minPercent: 10, headroomPercent: 20 };
    const t = busyThresholds(policy);
    // last tick: this rate, busy or not, and the same use as now (steady, not growing)
    const steady = (used: number, rateBps: number, busyTicks = 0) => wantsMore(used, t, rateBps, busyTicks, used);
    assert.equal(wantsMore(null, t, 1e6, 0, 0), true);
    assert.equal(steady(0.99e6, 1e6), true, 'at its rate (IP bytes vs frames)');
    assert.equal(steady(1e6 / 1.2, 1e6), false, 'using what it was given headroom for');
    // once busy, a dip to 80 % of its rate (a TCP flow on a busy router) keeps it busy; a second
    // dip in a row, or stopping, does not
    assert.equal(wantsMore(0.8e6, t, 1e6, MIN_BUSY_TICKS, 0.99e6), true);
    assert.equal(wantsMore(0.8e6, t, 1e6, MIN_BUSY_TICKS, 0.8e6), false);
    // near its rate (GSO packets make a small class's tick-to-tick use jumpy) it stays, tick after tick
    assert.equal(wantsMore(0.86e6, t, 1e6, MIN_BUSY_TICKS, 0.86e6), true);
    assert.equal(steady(0.8e6, 1e6, 0), false);
    assert.equal(steady(0.1e6, 1e6, MIN_BUSY_TICKS), false);
    // just become busy: kept busy for its first MIN_BUSY_TICKS ticks, even using nothing (its TCP
    // waiting for a retransmission after it was held at its floor)
    for (let ticks = 1; ticks < MIN_BUSY_TICKS; ticks++) assert.equal(steady(0, 1e6, ticks), true);
    // headroom 0 still leaves a margin (MIN_HEADROOM): at its rate is busy, 10 % under is not
    const tight = busyThresholds({ ...policy, headroomPercent: 0 });
    assert.equal(wantsMore(0.99e6, tight, 1e6, 0, 0.99e6), true);
    assert.equal(wantsMore(1e6 / 1.1, tight, 1e6, 0, 1e6 / 1.1), false);
    // growing: 10 % more than last tick and at least half its rate (a flow held at its rate, or
    // starting at its floor); growing far below its rate is not
    assert.equal(wantsMore(0.8e6, t, 1e6, 0, 0.6e6), true);
    assert.equal(wantsMore(0.3e6, t, 1e6, 0, 0.1e6), false);
    // seen for the first time: compared with the floor, nothing to grow from
    assert.equal(wantsMore(49_000, t, 50_000, 0, Number.NaN), true);
    assert.equal(wantsMore(10_000, t, 50_000, 0, Number.NaN), false);
  });

});

/**
 * The loop measure -> allocate -> shape, closed over a model of what HTB does with the rates: each
 * client gets min(what it wants, its rate), and what is left is lent by weight (same prio,
 * quantum in proportion to weight) to those that want more, up to the link. The lab tests check
 * the same against the real kernel; this checks the loop from many starting points quickly.
 */
function htbModel(rates: number[], weights: number[], wants: number[], link: number): number[] {
  const got = rates.map((r, i) => Math.min(r, wants[i]));
  let spare = link - got.reduce((a, b) => a + b, 0);
  for (let round = 0; round < 50 && spare > 1; round++) {
    const hungry = got.map((g, i) => (g < wants[i] ? i : -1)).filter((i) => i >= 0);
    if (!hungry.length) break;
    const w = hungry.reduce((a, i) => a + weights[i], 0);
    let lent = 0;
    for (const i of hungry) {
      const give = Math.min(wants[i] - got[i], (spare * weights[i]) / w);
      got[i] += give;
      lent += give;
    }
    spare -= lent;
  }
  return got;
}

/** The policy: busy clients at max(g, w × L) where they add up to the link less what the others use. */
function policyShares(weights: number[], wants: number[], link: number, g: number): number[] {
  const share = wants.map(() => 0);
  let busy = wants.map((_, i) => i);
  for (;;) {
    const fixed = wants.reduce((a, want, i) => a + (busy.includes(i) ? 0 : want), 0);
    const level = fillLevels(Float64Array.from(busy, () => g), Float64Array.from(busy, () => link), Float64Array.from(busy, (i) => weights[i]), link - fixed);
    const under = busy.filter((i, k) => wants[i] < level[k]);
    busy.forEach((i, k) => (share[i] = level[k]));
    if (!under.length) break;
    busy = busy.filter((i) => !under.includes(i));
    for (const i of under) share[i] = wants[i];
  }
  return share;
}

describe('allocator: the loop converges to the weighted shares from any starting point', () => {
  const LINK = 20e6;

  function run(prios: number[], wantsAt: (tick: number) => number[], ticks: number, controller = new AllocatorController({ downMbps: 20, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 })) {
    const macs = prios.map((_, i) => `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`);
    let used: (number | null)[] = prios.map(() => null);
    const history: number[][] = [];
    for (let t = 0; t < ticks; t++) {
      const out = controller.allocate({ ts: t, clients: prios.map((p, i) => ({ mac: macs[i], priority: p, rxBps: used[i], txBps: used[i] })) });
      const rates = out.clients.map((c) => c.alloc!.down.rateBps);
      const got = htbModel(rates, prios.map((p) => weightOf(p, 5)), wantsAt(t), LINK);
      history.push(got);
      used = got;
    }
    return history;
  }

  it('three busy clients at priorities 1, 3, 5 and five idle ones, the lowest started first: shares within 1 % by tick 5', () => {
    const prios = [1, 3, 5, 2, 2, 3, 4, 5];
    // 5 starts alone; 3 joins at tick 2; 1 at tick 4
    const wantsAt = (t: number) => [t >= 4 ? LINK : 0, t >= 2 ? LINK : 0, LINK, 0, 0, 0, 0, 0];
    const history = run(prios, wantsAt, 14);
    const g = guaranteeOf({ totalBps: LINK, maxPriority: 5, minPercent: 10, headroomPercent: 20 }, prios.length);
    const target = policyShares(prios.map((p) => weightOf(p, 5)), wantsAt(99), LINK, g);
    for (let t = 4 + 5; t < history.length; t++) {
      for (const i of [0, 1, 2]) assert.ok(Math.abs(history[t][i] / target[i] - 1) < 0.01, `tick ${t}: client ${i} got ${history[t][i]}, share ${target[i]}`);
    }
  });

  it('random priorities, demands and arrival order (seeded): every client that wants more than it uses gets within 8 % of its share after 5 ticks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ priority: fc.integer({ min: 1, max: 5 }), want: fc.oneof(fc.constant(LINK), fc.constant(0), fc.integer({ min: 100_000, max: 8_000_000 })), start: fc.integer({ min: 0, max: 4 }) }), { minLength: 2, maxLength: 12 }),
        (clients) => {
          const prios = clients.map((c) => c.priority);
          const wantsAt = (t: number) => clients.map((c) => (t >= c.start ? c.want : 0));
          const history = run(prios, wantsAt, 12);
          const g = guaranteeOf({ totalBps: LINK, maxPriority: 5, minPercent: 10, headroomPercent: 20 }, clients.length);
          const target = policyShares(prios.map((p) => weightOf(p, 5)), wantsAt(99), LINK, g);
          const last = history[history.length - 1];
          clients.forEach((c, i) => {
            if (c.want === 0) return;
            // 8 %: what light clients leave of their headroom is lent by weight to every client that
            // wants more, also to one whose share is just under what it wants (seen: up to 5.5 %,
            // a priority-5 client held at its guarantee that wants 5 % more than that)
            assert.ok(Math.abs(last[i] - target[i]) <= 0.08 * target[i] + 10_000, `client ${i} (p${c.priority}, wants ${c.want}): got ${last[i]}, share ${target[i]}`);
          });
        },
      ),
      { numRuns: 300, seed: 12 },
    );
  });

  it('a client that stops is given back within two ticks', () => {
    const prios = [1, 5];
    const wantsAt = (t: number) => [t < 6 ? LINK : 0, LINK];
    const history = run(prios, wantsAt, 10);
    assert.ok(history[7][1] >= 0.95 * LINK, `tick 7: ${history[7][1]}`);
  });
});

describe('allocator: config command bounds', () => {
  const options = { downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3, clientCap: 1024 };

  it('refuses a link too slow for 8 kbit/s per client at the client cap, and says to lower the cap', () => {
    const controller = new AllocatorController(options);
    assert.throws(() => controller.configure({ upload_bandwidth: 5 }), /payload\.upload_bandwidth: must be at least 8\.2 Mbit\/s for a client cap of 1024.*lower the client cap/);
    assert.throws(() => controller.configure({ downMbps: 1e-300 }), /payload\.downMbps: must be at least 0\.016 Mbit\/s/);
    assert.throws(() => controller.configure({ clientCap: 10 }), /payload\.clientCap: unknown setting/);
    assert.equal(controller.current.upMbps, 20, 'nothing changed');
    const small = new AllocatorController({ ...options, clientCap: 100 });
    assert.equal(small.configure({ upMbps: 5 }).options.upMbps, 5);
  });
});

describe('allocator: remembered priorities are bounded', () => {
  it('keeps at most MAX_REMEMBERED (8,192) priorities, the longest-unchanged dropped first', () => {
    const mac = (i: number) => `02:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`;
    const remembered: [string, number][] = Array.from({ length: MAX_REMEMBERED + 500 }, (_, i) => [mac(i), 1 + (i % 5)]);
    const controller = new AllocatorController({ downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 }, remembered);
    assert.equal(controller.rememberedPriorities.length, MAX_REMEMBERED);
    assert.ok(!controller.rememberedPriorities.some(([m]) => m === mac(0)), 'the oldest went');
    controller.applyRegistry({ devices: [{ macs: [mac(999_999)], priority: 2 }] });
    assert.equal(controller.rememberedPriorities.length, MAX_REMEMBERED);
    assert.deepEqual(controller.rememberedPriorities.at(-1), [mac(999_999), 2]);
  });
});

describe('allocator: the fast paths change no result (issue 17)', () => {
  it('allocateArrays visiting alike clients together gives what visiting them in input order gives, to the bit', () => {
    const arb = fc
      .record({
        totalBps: fc.oneof(fc.integer({ min: 100_000, max: 10_000_000_000 }), fc.constantFrom(20_000_000, 1_000_000_000)),
        maxPriority: fc.integer({ min: 2, max: 20 }),
        minPercent: fc.integer({ min: 0, max: 100 }),
        headroomPercent: fc.integer({ min: 0, max: 100 }),
        n: fc.integer({ min: 1, max: 400 }),
        capped: fc.boolean(),
      })
      .chain(({ n, capped, ...policy }) =>
        fc.record({
          policy: fc.constant(policy),
          clients: fc.array(
            fc.record({
              priority: fc.integer({ min: 1, max: policy.maxPriority }),
              used: fc.oneof(fc.constant(0), fc.constant(Number.NaN), fc.integer({ min: 0, max: Math.ceil((4 * policy.totalBps) / n) }), fc.double({ min: 0, max: policy.totalBps, noNaN: true })),
              wants: fc.boolean(),
              cap: capped ? fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.integer({ min: 8_000, max: policy.totalBps })) : fc.constant(Number.POSITIVE_INFINITY),
            }),
            { minLength: n, maxLength: n },
          ),
        }),
      );
    fc.assert(
      fc.property(arb, ({ policy, clients }) => {
        const priority = clients.map((c) => c.priority);
        const used = Float64Array.from(clients, (c) => c.used);
        const wants = Uint8Array.from(clients, (c) => (c.wants ? 1 : 0));
        const caps = Float64Array.from(clients, (c) => c.cap);
        const fast = allocateArrays(priority, used, wants, policy, undefined, caps);
        const straight = allocateArrays(priority, used, wants, policy, undefined, caps, true);
        assert.deepStrictEqual(fast, straight);
      }),
      { numRuns: 1500, seed: 17 },
    );
  });

  it('a controller fed the same clients in the same order (its shortcuts: MACs and last tick\'s entries taken whole) hands each MAC what one fed them in a new order each tick does', () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 80 }),
      ticks: fc.integer({ min: 2, max: 8 }),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      prioritySet: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ n, ticks, seed, prioritySet }) => {
        let s = seed;
        const rand = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
        const options = { downMbps: 50, upMbps: 10, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 };
        const straight = new AllocatorController(options);
        const turned = new AllocatorController(options);
        const macs = Array.from({ length: n }, (_, i) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
        const want = macs.map(() => (rand() < 0.3 ? 0 : rand() < 0.5 ? 50e6 : Math.floor((rand() * 100e6) / n)));
        const prio = macs.map(() => (rand() < 0.3 ? undefined : 1 + Math.floor(rand() * 5)));
        let last = new Map<string, { down: number; up: number }>();
        for (let t = 0; t < ticks; t++) {
          // each client uses what it wants, at most about what it was given (null: not measured yet)
          const clients = macs.map((mac, i) => {
            const given = last.get(mac);
            const rxBps = given ? Math.floor(Math.min(want[i], given.down * (0.8 + 0.4 * rand()))) : t === 0 ? null : 0;
            const txBps = given ? Math.floor(Math.min(want[i] / 10, given.up * (0.8 + 0.4 * rand()))) : null;
            return prio[i] === undefined ? { mac, ip: `10.0.0.${i}`, rxBps, txBps } : { mac, ip: `10.0.0.${i}`, priority: prio[i], rxBps, txBps };
          });
          const shift = 1 + (t % Math.max(1, n - 1));
          const order = clients.map((_, k) => (k + shift) % n);
          const a = straight.allocate({ ts: t, clients });
          // new objects, new MAC strings (upper case: validated the long way), another order
          const b = turned.allocate({ ts: t, clients: order.map((k) => ({ ...clients[k], mac: clients[k].mac.toUpperCase() })) });
          const byMac = new Map(b.clients.map((c) => [c.mac, c]));
          for (const c of a.clients) {
            const other = byMac.get(c.mac)!;
            assert.deepStrictEqual(c.alloc, other.alloc, `tick ${t} ${c.mac}`);
            assert.equal(c.priority, other.priority);
          }
          assert.deepStrictEqual(a.allocation, b.allocation);
          last = new Map(a.clients.map((c) => [c.mac, { down: c.alloc!.down.rateBps, up: c.alloc!.up.rateBps }]));
          if (prioritySet && t === 1) {
            straight.setPriority({ mac: macs[0], priority: 1 });
            turned.setPriority({ mac: macs[0], priority: 1 });
          }
        }
      }),
      { numRuns: 300, seed: 17 },
    );
  });
});

describe('allocator: a priority command and its echo in the registry', () => {
  // The API and the dashboard send a priority command to the allocator and to usage-store; the
  // store's registry comes back to the allocator afterwards. Two quick commands: the first one's
  // registry arrives after the second command.
  const options = { downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 };
  const A = '00:11:22:33:44:01';
  const B = '00:11:22:33:44:02';
  const snapshot = { ts: 1, clients: [A, B].map((mac, i) => ({ mac, ip: `10.0.0.${i + 2}`, rxBps: 0, txBps: 0 })) };
  const registry = (priority: number, macs = [A]) => ({ devices: [{ mac: macs[0], macs, priority }] });
  const priorityOf = (c: AllocatorController, mac: string) => c.allocate(snapshot).clients.find((x) => x.mac === mac)!.priority;
  const shown = (r: { snapshot: { clients: { mac: string; priority?: number }[] } | null }) => r.snapshot!.clients.find((x) => x.mac === A)!.priority;

  it('the first command\'s echo, arriving after the second command, does not put the first priority back', () => {
    const c = new AllocatorController(options);
    c.allocate(snapshot);
    assert.equal(shown(c.setPriority({ mac: A, priority: 3 })), 3);
    assert.equal(shown(c.setPriority({ mac: A, priority: 2 })), 2);
    assert.equal(shown(c.applyRegistry(registry(3))), 2, 'the echo of "3" while "2" is on its way');
    assert.equal(shown(c.applyRegistry(registry(2))), 2);
    assert.equal(priorityOf(c, A), 2);
    // nothing is waited for any more: the next registry applies as it is
    assert.equal(shown(c.applyRegistry(registry(4))), 4);
  });

  it('the same priority sent twice, then another: each echo is matched in order', () => {
    const c = new AllocatorController(options);
    c.allocate(snapshot);
    for (const p of [4, 4, 1]) c.setPriority({ mac: A, priority: p });
    const seen = [4, 4, 1].map((p) => shown(c.applyRegistry(registry(p))));
    assert.deepEqual(seen, [1, 1, 1]);
  });

  it('a priority the allocator did not send (set elsewhere, or the store refused the command) applies at once', () => {
    const c = new AllocatorController(options);
    c.allocate(snapshot);
    c.setPriority({ mac: A, priority: 2 });
    assert.equal(shown(c.applyRegistry(registry(5))), 5);
    // and the command is no longer waited for: its late echo applies as any registry does
    assert.equal(shown(c.applyRegistry(registry(2))), 2);
  });

  it('an echo confirms older commands whose own echo was lost; other devices in the registry apply as usual', () => {
    const c = new AllocatorController(options);
    c.allocate(snapshot);
    c.setPriority({ mac: A, priority: 4 });
    c.setPriority({ mac: A, priority: 3 });
    c.setPriority({ mac: A, priority: 1 });
    const r = c.applyRegistry({ devices: [...registry(3).devices, { mac: B, macs: [B], priority: 5 }] });
    assert.equal(r.snapshot!.clients.find((x) => x.mac === A)!.priority, 1, '"1" still on its way');
    assert.equal(r.snapshot!.clients.find((x) => x.mac === B)!.priority, 5);
    assert.equal(shown(c.applyRegistry(registry(1))), 1);
    assert.equal(shown(c.applyRegistry(registry(4))), 4, 'nothing waited for: applies');
  });

  it('a device of two MACs: while a command for one of them waits for its echo, neither takes the older value', () => {
    const c = new AllocatorController(options);
    c.allocate(snapshot);
    const device = (priority: number) => ({ devices: [{ mac: A, macs: [A, B], priority }] });
    const both = (r: { snapshot: { clients: { mac: string; priority?: number }[] } | null }) => [A, B].map((m) => r.snapshot!.clients.find((x) => x.mac === m)!.priority);
    assert.deepEqual(both(c.applyRegistry(device(4))), [4, 4]);
    c.setPriority({ mac: A, priority: 3 });
    assert.deepEqual(both(c.setPriority({ mac: A, priority: 2 })), [2, 4]);
    // the echo of "3" for the device: A waits for "2", so B keeps 4 rather than taking 3
    assert.deepEqual(both(c.applyRegistry(device(3))), [2, 4]);
    assert.deepEqual(both(c.applyRegistry(device(2))), [2, 2]);
  });

  it('a command whose echo never comes is forgotten after ECHO_WAIT_MS', () => {
    let now = 1_000_000;
    const c = new AllocatorController(options, [], () => now);
    c.allocate(snapshot);
    c.setPriority({ mac: A, priority: 4 });
    c.setPriority({ mac: A, priority: 2 });
    // the echo of "4" came; "2"'s never does (the store was down)
    assert.equal(shown(c.applyRegistry(registry(4))), 2);
    now += ECHO_WAIT_MS;
    assert.equal(shown(c.applyRegistry(registry(4))), 4, 'after the wait, the store\'s priority is the one');
  });

  it('holds at most MAX_REMEMBERED MACs waiting for an echo', () => {
    const mac = (i: number) => `02:01:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:00:01`;
    // resolveClient wants a MAC it knows: remembered priorities count
    const many = new AllocatorController(options, Array.from({ length: MAX_REMEMBERED + 100 }, (_, i) => [mac(i), 3] as [string, number]));
    for (const [m] of many.rememberedPriorities) many.setPriority({ mac: m, priority: 2 });
    for (let i = 0; i < 300; i++) many.setPriority({ mac: many.rememberedPriorities[0][0], priority: 1 + (i % 5) });
    const waiting = (many as unknown as { unconfirmed: Map<string, unknown[]> }).unconfirmed;
    assert.ok(waiting.size <= MAX_REMEMBERED, `${waiting.size} MACs`);
    assert.ok([...waiting.values()].every((l) => l.length <= 16), 'a short list per MAC');
  });
});
