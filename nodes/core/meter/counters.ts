/**
 * Rates from byte counters: bits/s over the real time between two reads of a counter, with the
 * ways a kernel counter misbehaves handled so that a rate is never negative and never absurd.
 *
 * - a counter that goes down was reset (a table flushed, an interface recreated, a driver
 *   reloaded): the sample becomes the new baseline and the last good rate is held for that tick;
 * - a 32-bit counter (old drivers, /sys on 32-bit kernels) that goes down from its upper half
 *   wrapped, and the delta is taken modulo 2^32 — if the rate that gives is plausible;
 * - an `epoch` that changes (the interface's ifindex, the generation of a set element) says the
 *   counter is a new one even when its value happens to be higher;
 * - a rate above `maxBps` is a counter that jumped, not traffic: it is treated as a reset;
 * - two reads closer than `minIntervalMs` give no new rate (the elapsed time would be mostly the
 *   jitter of starting a process): the baseline stays, the last rate is repeated.
 */

export interface MeterOptions {
  /** EWMA time constant in seconds; 0 = no smoothing (each rate is the plain delta / elapsed). */
  smoothingS: number;
  /** Rates above this are treated as a counter that jumped. */
  maxBps: number;
  /** Reads closer than this to the baseline do not make a new rate. */
  minIntervalMs: number;
  /** Width of the counters: 64 (nft, `ip -s` stats64) never wraps in practice; 32 may. */
  counterBits: 32 | 64;
}

/** 200 Gbit/s: more than any LAN interface of a home or office router moves. */
export const DEFAULT_MAX_BPS = 200e9;

export const DEFAULT_METER_OPTIONS: Readonly<MeterOptions> = Object.freeze({
  smoothingS: 0,
  maxBps: DEFAULT_MAX_BPS,
  minIntervalMs: 100,
  counterBits: 64,
});

/** What happened to a counter at one read. */
export type RateEvent = 'first' | 'ok' | 'wrap' | 'reset' | 'absurd' | 'too-soon';

export interface RateResult {
  /** bits/s; null while no rate is known (first read of a counter, with nothing to hold). */
  bps: number | null;
  event: RateEvent;
}

interface Baseline {
  bytes: number;
  atMs: number;
  epoch: string | number | undefined;
  bps: number | null;
  /** The last round (beginRound) it was updated, held or primed in. */
  round: number;
}

const TWO_32 = 2 ** 32;

// What decide() found (one call's outcome, read right after it: no object per counter per tick).
let decidedBps: number | null = null;
let decidedEvent: RateEvent = 'first';
let decidedKeep = false;

/** nextRate's work, its outcome left in the decided* variables. */
function decide(prev: Baseline | undefined, bytes: number, atMs: number, epoch: string | number | undefined, o: MeterOptions): void {
  decidedKeep = false;
  if (!prev) {
    decidedBps = null;
    decidedEvent = 'first';
    return;
  }
  decidedBps = prev.bps;
  if (prev.epoch !== epoch) {
    decidedEvent = 'reset';
    return;
  }
  const elapsedMs = atMs - prev.atMs;
  if (!(elapsedMs >= o.minIntervalMs)) {
    decidedEvent = 'too-soon';
    decidedKeep = true;
    return;
  }
  let delta = bytes - prev.bytes;
  let event: RateEvent = 'ok';
  if (delta < 0) {
    const wrapped = bytes + TWO_32 - prev.bytes;
    const plausibleWrap = o.counterBits === 32 && prev.bytes < TWO_32 && bytes < TWO_32 && prev.bytes >= TWO_32 / 2 && (wrapped * 8000) / elapsedMs <= o.maxBps;
    if (!plausibleWrap) {
      decidedEvent = 'reset';
      return;
    }
    delta = wrapped;
    event = 'wrap';
  }
  const raw = (delta * 8000) / elapsedMs;
  if (!Number.isFinite(raw) || raw > o.maxBps) {
    decidedEvent = 'absurd';
    return;
  }
  decidedEvent = event;
  if (o.smoothingS > 0 && prev.bps !== null) {
    const alpha = 1 - Math.exp(-elapsedMs / (o.smoothingS * 1000));
    decidedBps = prev.bps + alpha * (raw - prev.bps);
  } else decidedBps = raw;
}

/** One read's outcome given the previous baseline: pure, so every edge case is a unit test. */
export function nextRate(prev: Baseline | undefined, bytes: number, atMs: number, epoch: string | number | undefined, o: MeterOptions): RateResult & { keepBaseline: boolean } {
  decide(prev, bytes, atMs, epoch, o);
  return { bps: decidedBps, event: decidedEvent, keepBaseline: decidedKeep };
}

/**
 * Rates for many counters, each under a key (e.g. `down:10.77.0.152`). Time is whatever clock
 * the caller reads the counters with, in ms: it must be monotonic (performance.now()), since a
 * wall clock that steps would make a rate out of nothing.
 */
export class RateMeter {
  readonly options: MeterOptions;
  private readonly baselines = new Map<string, Baseline>();
  private round = 0;

  constructor(options: Partial<MeterOptions> = {}) {
    this.options = { ...DEFAULT_METER_OPTIONS, ...options };
    if (!(this.options.smoothingS >= 0)) throw new Error(`smoothing must be ≥ 0 s, got ${this.options.smoothingS}`);
  }

  /** A new read of counter `key`: its value in bytes, when it was read, and its epoch. */
  update(key: string, bytes: number, atMs: number, epoch?: string | number): RateResult {
    const bps = this.updateBps(key, bytes, atMs, epoch);
    return { bps, event: decidedEvent };
  }

  /** `update`'s rate alone (no result object: this runs for every counter every tick). */
  updateBps(key: string, bytes: number, atMs: number, epoch?: string | number): number | null {
    const prev = this.baselines.get(key);
    decide(prev, bytes, atMs, epoch, this.options);
    if (prev) prev.round = this.round;
    if (!decidedKeep) {
      // in place: a router's few thousand counters are updated every tick
      if (prev) {
        prev.bytes = bytes;
        prev.atMs = atMs;
        prev.epoch = epoch;
        prev.bps = decidedBps;
      } else this.baselines.set(key, { bytes, atMs, epoch, bps: decidedBps, round: this.round });
    }
    return decidedBps;
  }

  /**
   * A counter known to start at `bytes` at `atMs` (an nft element just added is 0), so its first
   * read already gives a rate. Keeps the rate it had, if any.
   */
  prime(key: string, bytes: number, atMs: number, epoch?: string | number): void {
    this.baselines.set(key, { bytes, atMs, epoch, bps: this.baselines.get(key)?.bps ?? null, round: this.round });
  }

  /** The last rate of a counter that could not be read this time (held, not invented). */
  hold(key: string): number | null {
    const b = this.baselines.get(key);
    if (!b) return null;
    b.round = this.round;
    return b.bps;
  }

  has(key: string): boolean {
    return this.baselines.has(key);
  }

  /** Forgets every counter not in `keys` (clients that left). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.baselines.keys()) if (!keys.has(key)) this.baselines.delete(key);
  }

  /**
   * Starts a round: `retainRound` then forgets every counter not updated, held or primed since,
   * as `retain` with the keys of the round would, without a set of them each tick.
   */
  beginRound(): void {
    this.round++;
  }

  retainRound(): void {
    this.baselines.forEach(this.forgetStale);
  }

  private readonly forgetStale = (b: Baseline, key: string): void => {
    if (b.round !== this.round) this.baselines.delete(key);
  };

  get size(): number {
    return this.baselines.size;
  }
}
