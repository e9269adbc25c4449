import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocateDirection, guaranteeOf, htbPrioOf, type AllocationPolicy, type DirectionDemand } from '../../nodes/core/allocator';

const RUNS = { numRuns: 1000 };

interface Case {
  policy: AllocationPolicy;
  demands: DirectionDemand[];
}

/** Random links from 1 kbit/s to 10 Gbit/s, 1..60 clients, idle ones, tiny and huge demands. */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    totalBps: fc.integer({ min: 1_000, max: 10_000_000_000 }),
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
          demandBps: fc.oneof(
            fc.constant(0),
            fc.integer({ min: 0, max: Math.ceil(policy.totalBps / n) }),
            fc.integer({ min: 0, max: policy.totalBps * 2 }),
          ),
        }),
        { minLength: n, maxLength: n },
      ),
    }),
  );

const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0);

describe('allocator core: properties over random inputs', () => {
  it('never hands out more than the link', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        assert.ok(sum(allocateDirection(demands, policy).rateBps) <= policy.totalBps);
      }),
      RUNS,
    );
  });

  it('gives every client at least the guarantee g = min(minPercent × total, total / n)', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const g = Math.floor(Math.min((policy.minPercent / 100) * policy.totalBps, policy.totalBps / demands.length));
        const result = allocateDirection(demands, policy);
        assert.equal(result.guaranteeBps, g);
        for (const rate of result.rateBps) assert.ok(rate >= g, `rate ${rate} < guarantee ${g}`);
      }),
      RUNS,
    );
  });

  it('among clients that want more than they get, a higher priority never gets less', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const { rateBps } = allocateDirection(demands, policy);
        const starved = demands.map((d, i) => ({ ...d, rate: rateBps[i] })).filter((c) => c.rate < c.demandBps);
        for (const a of starved) {
          for (const b of starved) {
            if (a.priority < b.priority) assert.ok(a.rate >= b.rate, `priority ${a.priority} got ${a.rate} < priority ${b.priority} got ${b.rate}`);
          }
        }
      }),
      RUNS,
    );
  });

  it('hands out the whole link (less under 1 bit/s per client of rounding)', () => {
    // Always, and so in particular when total demand is at least the link.
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        const handedOut = sum(allocateDirection(demands, policy).rateBps);
        assert.ok(policy.totalBps - handedOut < demands.length, `${policy.totalBps - handedOut} bit/s left over`);
      }),
      RUNS,
    );
  });

  it('gives every client at least its demand when the demands fit the link', () => {
    // A client's demand counts at least its guarantee: with g reserved for everyone, demands
    // "fit" when the sum of max(g, demand) is within the link.
    const fitting = caseArb.filter(({ policy, demands }) => {
      const g = guaranteeOf(policy, demands.length);
      return sum(demands.map((d) => Math.max(g, d.demandBps))) <= policy.totalBps;
    });
    fc.assert(
      fc.property(fitting, ({ policy, demands }) => {
        const { rateBps } = allocateDirection(demands, policy);
        demands.forEach((d, i) => assert.ok(rateBps[i] >= d.demandBps, `client ${i} got ${rateBps[i]} < demand ${d.demandBps}`));
      }),
      RUNS,
    );
  });

  it('does not depend on the order of the clients', () => {
    fc.assert(
      fc.property(caseArb, fc.integer(), ({ policy, demands }, seed) => {
        const order = demands.map((_, i) => i);
        let s = seed;
        for (let i = order.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) & 0x7fffffff;
          const j = s % (i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
        const straight = allocateDirection(demands, policy).rateBps;
        const shuffled = allocateDirection(order.map((i) => demands[i]), policy).rateBps;
        order.forEach((original, k) => assert.equal(shuffled[k], straight[original]));
      }),
      RUNS,
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(caseArb, ({ policy, demands }) => {
        assert.deepEqual(allocateDirection(demands, policy), allocateDirection(demands, policy));
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

describe('allocator core: HTB prio follows priority', () => {
  it('maps 1 to 0 and maxPriority to 7, never inverting the order', () => {
    for (let max = 2; max <= 20; max++) {
      assert.equal(htbPrioOf(1, max), 0);
      assert.equal(htbPrioOf(max, max), 7);
      for (let p = 2; p <= max; p++) assert.ok(htbPrioOf(p, max) >= htbPrioOf(p - 1, max));
    }
  });
});
