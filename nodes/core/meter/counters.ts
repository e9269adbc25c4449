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
}

const TWO_32 = 2 ** 32;

/** One read's outcome given the previous baseline: pure, so every edge case is a unit test. */
export function nextRate(prev: Baseline | undefined, bytes: number, atMs: number, epoch: string | number | undefined, o: MeterOptions): RateResult & { keepBaseline: boolean } {
  if (!prev) return { bps: null, event: 'first', keepBaseline: false };
  if (prev.epoch !== epoch) return { bps: prev.bps, event: 'reset', keepBaseline: false };
  const elapsedMs = atMs - prev.atMs;
  if (!(elapsedMs >= o.minIntervalMs)) return { bps: prev.bps, event: 'too-soon', keepBaseline: true };
  let delta = bytes - prev.bytes;
  let event: RateEvent = 'ok';
  if (delta < 0) {
    const wrapped = bytes + TWO_32 - prev.bytes;
    const plausibleWrap = o.counterBits === 32 && prev.bytes < TWO_32 && bytes < TWO_32 && prev.bytes >= TWO_32 / 2 && (wrapped * 8000) / elapsedMs <= o.maxBps;
    if (!plausibleWrap) return { bps: prev.bps, event: 'reset', keepBaseline: false };
    delta = wrapped;
    event = 'wrap';
  }
  const raw = (delta * 8000) / elapsedMs;
  if (!Number.isFinite(raw) || raw > o.maxBps) return { bps: prev.bps, event: 'absurd', keepBaseline: false };
  if (o.smoothingS > 0 && prev.bps !== null) {
    const alpha = 1 - Math.exp(-elapsedMs / (o.smoothingS * 1000));
    return { bps: prev.bps + alpha * (raw - prev.bps), event, keepBaseline: false };
  }
  return { bps: raw, event, keepBaseline: false };
}

/**
 * Rates for many counters, each under a key (e.g. `down:10.77.0.152`). Time is whatever clock
 * the caller reads the counters with, in ms: it must be monotonic (performance.now()), since a
 * wall clock that steps would make a rate out of nothing.
 */
export class RateMeter {
  readonly options: MeterOptions;
  private readonly baselines = new Map<string, Baseline>();

  constructor(options: Partial<MeterOptions> = {}) {
    this.options = { ...DEFAULT_METER_OPTIONS, ...options };
    if (!(this.options.smoothingS >= 0)) throw new Error(`smoothing must be ≥ 0 s, got ${this.options.smoothingS}`);
  }

  /** A new read of counter `key`: its value in bytes, when it was read, and its epoch. */
  update(key: string, bytes: number, atMs: number, epoch?: string | number): RateResult {
    const prev = this.baselines.get(key);
    const result = nextRate(prev, bytes, atMs, epoch, this.options);
    if (!result.keepBaseline) {
      // in place: a router's few thousand counters are updated every tick
      if (prev) {
        prev.bytes = bytes;
        prev.atMs = atMs;
        prev.epoch = epoch;
        prev.bps = result.bps;
      } else this.baselines.set(key, { bytes, atMs, epoch, bps: result.bps });
    }
    return { bps: result.bps, event: result.event };
  }

  /**
   * A counter known to start at `bytes` at `atMs` (an nft element just added is 0), so its first
   * read already gives a rate. Keeps the rate it had, if any.
   */
  prime(key: string, bytes: number, atMs: number, epoch?: string | number): void {
    this.baselines.set(key, { bytes, atMs, epoch, bps: this.baselines.get(key)?.bps ?? null });
  }

  /** The last rate of a counter that could not be read this time (held, not invented). */
  hold(key: string): number | null {
    return this.baselines.get(key)?.bps ?? null;
  }

  has(key: string): boolean {
    return this.baselines.has(key);
  }

  /** Forgets every counter not in `keys` (clients that left). */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.baselines.keys()) if (!keys.has(key)) this.baselines.delete(key);
  }

  get size(): number {
    return this.baselines.size;
  }
}
