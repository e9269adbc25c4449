/** Rates from counters (nodes/core/meter/counters.ts): deltas over real elapsed time, resets, wraps, EWMA. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_MAX_BPS, RateMeter } from '../../nodes/core/meter/counters';

describe('counter rates: bits/s from byte counters', () => {
  describe('deltas over the real elapsed time', () => {
    it('first read gives no rate; the second gives delta × 8 / elapsed', () => {
      const m = new RateMeter();
      assert.deepEqual(m.update('a', 1_000, 0), { bps: null, event: 'first' });
      assert.deepEqual(m.update('a', 251_000, 2000), { bps: 1_000_000, event: 'ok' });
    });

    it('uses the time that really passed, not a nominal tick (a late read is not a faster client)', () => {
      const m = new RateMeter();
      m.update('a', 0, 0);
      // 250 kB in 2.5 s (the tick came late): 800 kbit/s, not 1 Mbit/s
      assert.equal(m.update('a', 250_000, 2500).bps, 800_000);
    });

    it('a counter that did not move gives 0', () => {
      const m = new RateMeter();
      m.update('a', 5, 0);
      assert.equal(m.update('a', 5, 1000).bps, 0);
    });

    it('reads closer than minIntervalMs keep the baseline and repeat the last rate', () => {
      const m = new RateMeter({ minIntervalMs: 100 });
      m.update('a', 0, 0);
      m.update('a', 125_000, 1000); // 1 Mbit/s
      assert.deepEqual(m.update('a', 126_000, 1010), { bps: 1_000_000, event: 'too-soon' });
      // the next proper read measures from the kept baseline (t = 1000)
      assert.equal(m.update('a', 250_000, 2000).bps, 1_000_000);
    });

    it('a primed counter (an nft element just added, 0 bytes) gives a rate at its first read', () => {
      const m = new RateMeter();
      m.prime('a', 0, 0, 1);
      assert.deepEqual(m.update('a', 125_000, 1000, 1), { bps: 1_000_000, event: 'ok' });
    });
  });

  describe('reset, wrap, interface down/up: never negative, never absurd', () => {
    it('a counter that goes down (table flushed) is a new baseline; the last rate is held for that read', () => {
      const m = new RateMeter();
      m.update('a', 0, 0);
      m.update('a', 1_250_000, 1000); // 10 Mbit/s
      assert.deepEqual(m.update('a', 3_000, 2000), { bps: 10_000_000, event: 'reset' });
      assert.equal(m.update('a', 1_253_000, 3000).bps, 10_000_000);
    });

    it('a reset before any rate is known gives null, not 0 and not a guess', () => {
      const m = new RateMeter();
      m.update('a', 900, 0);
      assert.deepEqual(m.update('a', 100, 1000), { bps: null, event: 'reset' });
    });

    it('a new epoch (interface recreated: new ifindex) is a reset even when the value is higher', () => {
      const m = new RateMeter();
      m.update('a', 0, 0, 7);
      m.update('a', 125_000, 1000, 7);
      assert.deepEqual(m.update('a', 900_000_000, 2000, 8), { bps: 1_000_000, event: 'reset' });
      assert.equal(m.update('a', 900_125_000, 3000, 8).bps, 1_000_000);
    });

    it('interface down: the counter stands still, the rate is 0', () => {
      const m = new RateMeter();
      m.update('a', 0, 0, 3);
      m.update('a', 125_000, 1000, 3);
      assert.equal(m.update('a', 125_000, 2000, 3).bps, 0);
    });

    it('a 32-bit counter that wraps gives the right rate', () => {
      const m = new RateMeter({ counterBits: 32 });
      m.update('a', 2 ** 32 - 100_000, 0);
      assert.deepEqual(m.update('a', 25_000, 1000), { bps: 1_000_000, event: 'wrap' });
    });

    it('a 64-bit counter that goes down is never taken for a wrap', () => {
      const m = new RateMeter({ counterBits: 64 });
      m.update('a', 2 ** 32 - 100_000, 0);
      assert.equal(m.update('a', 25_000, 1000).event, 'reset');
    });

    it('a 32-bit counter that drops from its lower half is a reset, not a wrap', () => {
      const m = new RateMeter({ counterBits: 32 });
      m.update('a', 1_000_000, 0);
      assert.equal(m.update('a', 10, 1000).event, 'reset');
    });

    it('a jump to an absurd rate (above maxBps) is treated as a reset', () => {
      const m = new RateMeter();
      m.update('a', 0, 0);
      m.update('a', 1000, 1000);
      const r = m.update('a', 1e15, 2000);
      assert.equal(r.event, 'absurd');
      assert.equal(r.bps, 8000);
      assert.ok(DEFAULT_MAX_BPS >= 100e9);
    });

    it('property: whatever the counters do, every rate is null or a finite number from 0 to maxBps', () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ bytes: fc.oneof(fc.nat(), fc.double({ min: 0, max: 2 ** 64, noNaN: true }), fc.nat({ max: 2 ** 32 })), dt: fc.integer({ min: -50, max: 10_000 }), epoch: fc.nat({ max: 2 }) }), { maxLength: 40 }),
          fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>,
          fc.nat({ max: 30 }),
          (reads, counterBits, smoothingS) => {
            const m = new RateMeter({ counterBits, smoothingS, maxBps: 1e10 });
            let t = 0;
            for (const r of reads) {
              t += r.dt;
              const { bps } = m.update('k', r.bytes, t, r.epoch);
              if (bps !== null) assert.ok(Number.isFinite(bps) && bps >= 0 && bps <= 1e10, `rate ${bps}`);
            }
          },
        ),
        { numRuns: 1000 },
      );
    });
  });

  describe('EWMA smoothing (optional)', () => {
    it('off by default: a client that stops drops to 0 at the next read', () => {
      const m = new RateMeter();
      m.update('a', 0, 0);
      m.update('a', 1_250_000, 1000);
      assert.equal(m.update('a', 1_250_000, 2000).bps, 0);
    });

    it('with a time constant τ, a step moves the rate by 1 − e^(−Δt/τ) of the way', () => {
      const m = new RateMeter({ smoothingS: 2 });
      m.update('a', 0, 0);
      assert.equal(m.update('a', 1_250_000, 1000).bps, 10_000_000); // the first rate is taken as is
      const r = m.update('a', 1_250_000, 2000).bps!; // raw 0
      assert.ok(Math.abs(r - 10_000_000 * Math.exp(-0.5)) < 1, String(r));
    });

    it('the weight follows the real elapsed time: two 1 s steps equal one 2 s step', () => {
      const a = new RateMeter({ smoothingS: 3 });
      const b = new RateMeter({ smoothingS: 3 });
      for (const m of [a, b]) {
        m.update('k', 0, 0);
        m.update('k', 1_250_000, 1000);
      }
      a.update('k', 1_250_000, 2000);
      const ra = a.update('k', 1_250_000, 3000).bps!;
      const rb = b.update('k', 1_250_000, 3000).bps!;
      assert.ok(Math.abs(ra - rb) < 1e-6, `${ra} vs ${rb}`);
    });

    it('rejects a negative time constant', () => {
      assert.throws(() => new RateMeter({ smoothingS: -1 }), /smoothing/);
    });
  });

  describe('many counters', () => {
    it('retain forgets counters of clients that left; a client that comes back starts anew', () => {
      const m = new RateMeter();
      m.update('a', 0, 0);
      m.update('b', 0, 0);
      m.retain(new Set(['a']));
      assert.equal(m.size, 1);
      assert.equal(m.update('b', 100, 1000).event, 'first');
    });
  });

  describe('rounds: counters not touched in a round are forgotten (clients that left)', () => {
    it('retainRound keeps what was updated, held or primed since beginRound, as retain with those keys does', () => {
      const a = new RateMeter();
      const b = new RateMeter();
      for (const m of [a, b]) for (const k of ['x', 'y', 'z', 'w']) m.update(k, 0, 0);
      a.beginRound();
      assert.equal(a.updateBps('x', 250_000, 2000), 1_000_000);
      assert.equal(a.hold('y'), null);
      a.prime('v', 0, 2000);
      a.retainRound();
      b.retain(new Set(['x', 'y', 'v']));
      assert.equal(a.size, 3);
      for (const k of ['x', 'y', 'v', 'z', 'w']) assert.equal(a.has(k), k !== 'z' && k !== 'w', k);
      assert.equal(b.size, 2); // retain keeps keys, it does not make them
      a.beginRound();
      a.retainRound();
      assert.equal(a.size, 0);
    });

    it('updateBps gives update\'s rate, for every event', () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 5000 }), fc.integer({ min: 0, max: 2 })), { maxLength: 30 }), (reads) => {
          const a = new RateMeter({ smoothingS: 3 });
          const b = new RateMeter({ smoothingS: 3 });
          let t = 0;
          for (const [bytes, dt, epoch] of reads) {
            t += dt;
            assert.equal(a.updateBps('k', bytes, t, epoch), b.update('k', bytes, t, epoch).bps);
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
