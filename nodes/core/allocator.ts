/**
 * Priority-aware, work-conserving bandwidth allocation for one direction of a link.
 *
 * Priority 1 is the highest; a client of priority p weighs w = maxPriority - p + 1.
 *
 * The policy (README, "What priority means"): under contention each busy client i gets
 * max(g, w_i × L), where g is the guarantee and the level L is such that the busy clients' shares
 * add up to the link less what the other clients use. A client that wants less gets what it wants;
 * what idle clients do not use (their guarantees included) goes to the busy ones by weight.
 *
 * A client is *busy* when it wants more than it has: it ran at (or near) the rate it was given, or
 * its use is not measured at all. A busy client's demand is the whole link: its measured rate is
 * censored by the shaping (a throttled client measures exactly its allocation), so it cannot say
 * how much more it wants; it is given its weighted share instead, and the loop
 * measure -> allocate -> shape converges to the policy from any starting split.
 *
 * What goes to the kernel (HTB) is chosen so that the kernel, not the lending order, delivers it:
 *   - rate of a busy client = its weighted share max(g, w × L_r) of what the others have reserved;
 *   - rate of a client that is not busy = what it uses plus headroom, at least a small floor
 *     (min(g, 0.25 % of the link, ≥ 8 kbit/s)): not its whole guarantee, which would sit unused and
 *     could only reach the busy clients through HTB's lending;
 *   - ceil = the whole link for everyone, so what is not used is lent at once;
 *   - the same HTB prio for every client (lending among equal prios goes by quantum, which the
 *     shaper sets in proportion to weight; different prios would lend in strict order).
 * The rates add up to the link (less than 1 bit/s per client of rounding).
 *
 * `expectedBps` is what a client can count on now: for a busy client its rate plus its weighted
 * part of what the others leave unused, for the others their rate.
 *
 * All quantities are whole bits per second held in doubles, so every sum is exact (< 2^53) and
 * the result depends neither on the order of the clients nor on anything but the input.
 */

export interface AllocationPolicy {
  totalBps: number;
  maxPriority: number;
  /** Minimum share of a busy client, percent of the total (capped at total / n). */
  minPercent: number;
  /** Room above measured use for a client that is not busy, percent (at least MIN_HEADROOM). */
  headroomPercent: number;
}

export interface DirectionDemand {
  priority: number;
  /** What the client used over the last tick, bit/s; null when it is not measured. */
  usedBps: number | null;
  /** It ran at or near its rate: it wants more than it has (see `wantsMore`). */
  wantsMore: boolean;
}

export interface DirectionResult {
  guaranteeBps: number;
  /** The rate a client that is not busy gets at least. */
  floorBps: number;
  /** HTB rate per client, in input order. */
  rateBps: Float64Array;
  /** The share a client is expected to get now, in input order. */
  expectedBps: Float64Array;
  /** 1 where the client was treated as busy (wanting the whole link). */
  busy: Uint8Array;
  ceilBps: number;
}

/** HTB cannot shape below this. */
export const MIN_RATE_BPS = 8_000;
/** Headroom is never below this, so that a client using its rate is told apart from one below it. */
export const MIN_HEADROOM = 0.1;
/** Every client class has this HTB prio (0 is reserved for what an operator may want ahead of all). */
export const CLIENT_HTB_PRIO = 1;

/** The weight a priority carries: the highest priority (1) weighs maxPriority, the lowest 1. */
export function weightOf(priority: number, maxPriority: number): number {
  return maxPriority - priority + 1;
}

export function guaranteeOf(policy: AllocationPolicy, clientCount: number): number {
  if (clientCount === 0) return 0;
  return Math.floor(Math.min((policy.minPercent / 100) * policy.totalBps, policy.totalBps / clientCount));
}

/**
 * The rate a client that is not busy keeps at least: 0.25 % of the link (50 kbit/s of 20 Mbit/s,
 * enough for an idle phone's chatter), so that little waits to be lent: HTB lends per packet turn,
 * and with GSO packets of tens of KB its lending follows the weights only roughly.
 */
export function floorOf(policy: AllocationPolicy, guaranteeBps: number): number {
  return Math.min(guaranteeBps, Math.max(MIN_RATE_BPS, Math.floor(policy.totalBps / 400)));
}

export function headroomOf(policy: AllocationPolicy): number {
  return Math.max(MIN_HEADROOM, policy.headroomPercent / 100);
}

/**
 * A busy client stays busy while it uses at least this share of its rate: a TCP flow at its limit
 * dips for a tick now and then (more so on a busy router), and losing its share for one tick would
 * cost it far more than that dip. A client that stops falls far below and is given back at once.
 */
export const STAY_BUSY = 0.75;

/**
 * Whether a client wants more than it has: it used at least the middle between a client that is
 * not busy (using 1 / (1 + headroom) of its rate) and its whole rate, or, if it was busy last tick,
 * at least STAY_BUSY of its rate. Rates are what HTB counts (frames); usage is counted at the IP
 * layer, 1 % less for full frames: well inside the margin.
 */
export function wantsMore(usedBps: number | null, rateBps: number, policy: AllocationPolicy, wasBusy = false): boolean {
  if (usedBps === null) return true;
  const h = headroomOf(policy);
  const threshold = wasBusy ? Math.min(STAY_BUSY, 1 / (1 + h)) : (1 + h / 2) / (1 + h);
  return usedBps >= rateBps * threshold;
}

/**
 * The levels min(cap_i, max(floor_i, w_i × λ)), with λ such that they add up to `amount`
 * (everyone at cap when the caps add up to less). Requires floor ≤ cap and Σ floor ≤ amount.
 *
 * Each level is a nondecreasing piecewise-linear function of λ with breakpoints floor_i / w_i and
 * cap_i / w_i; λ is found by binary search over the sorted breakpoints (O(n log n)), then exactly:
 * used(λ) = Σ_{λ < f_i/w_i} floor_i + Σ_{λ ≥ c_i/w_i} cap_i + λ × Σ_{between} w_i.
 * Levels are rounded down: the sum falls short of `amount` by less than 1 bit/s per client.
 */
export function fillLevels(floor: Float64Array, cap: Float64Array, weight: Float64Array, amount: number): Float64Array {
  const n = floor.length;
  const level = new Float64Array(n);
  let capSum = 0;
  for (let i = 0; i < n; i++) capSum += cap[i];
  if (capSum <= amount) {
    level.set(cap);
    return level;
  }
  const points = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    points[2 * i] = floor[i] / weight[i];
    points[2 * i + 1] = cap[i] / weight[i];
  }
  points.sort();
  const used = (lambda: number) => {
    let fixed = 0;
    let freeWeight = 0;
    for (let i = 0; i < n; i++) {
      if (lambda * weight[i] <= floor[i]) fixed += floor[i];
      else if (lambda * weight[i] >= cap[i]) fixed += cap[i];
      else freeWeight += weight[i];
    }
    return { fixed, freeWeight };
  };
  // the last breakpoint at which no more than `amount` is used; λ lies between it and the next
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    const { fixed, freeWeight } = used(points[mid]);
    if (fixed + points[mid] * freeWeight <= amount) lo = mid;
    else hi = mid - 1;
  }
  const at = points[lo];
  // between `at` and the next breakpoint the set of free clients is fixed: the ones free just above `at`
  let fixed = 0;
  let freeWeight = 0;
  for (let i = 0; i < n; i++) {
    const fb = floor[i] / weight[i];
    const cb = cap[i] / weight[i];
    if (at < fb) fixed += floor[i];
    else if (at >= cb) fixed += cap[i];
    else freeWeight += weight[i];
  }
  const lambda = freeWeight > 0 ? (amount - fixed) / freeWeight : at;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    level[i] = Math.floor(Math.min(cap[i], Math.max(floor[i], weight[i] * lambda)));
    sum += level[i];
  }
  // λ is a float: where it came out a hair high, take the excess bit back from free clients
  for (let i = 0; sum > amount && i < n; i++) {
    if (level[i] > floor[i] && level[i] < cap[i]) {
      level[i] -= 1;
      sum -= 1;
    }
  }
  return level;
}

/** Allocates one direction. Inputs must already be validated (see allocation.ts). */
export function allocateDirection(demands: readonly DirectionDemand[], policy: AllocationPolicy): DirectionResult {
  const n = demands.length;
  const total = Math.floor(policy.totalBps);
  const guaranteeBps = guaranteeOf(policy, n);
  const floorBps = floorOf(policy, guaranteeBps);
  const h = headroomOf(policy);
  const weight = new Float64Array(n);
  const busy = new Uint8Array(n);
  // the policy: busy clients at max(g, w × L), the others at what they use (or their weighted share, if less)
  const shareLower = new Float64Array(n);
  const shareUpper = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = demands[i];
    weight[i] = weightOf(d.priority, policy.maxPriority);
    if (d.wantsMore || d.usedBps === null) {
      busy[i] = 1;
      shareLower[i] = guaranteeBps;
      shareUpper[i] = total;
    } else {
      shareUpper[i] = Math.min(total, Math.ceil(d.usedBps));
      shareLower[i] = Math.min(shareUpper[i], guaranteeBps);
    }
  }
  const share = fillLevels(shareLower, shareUpper, weight, total);
  // the rates of the others: their share, and headroom above it (at least the floor) where the
  // weights leave room for it; the busy ones' rates follow from their shares below
  const rateLower = new Float64Array(n);
  const rateUpper = new Float64Array(n);
  let lowerSum = 0;
  for (let i = 0; i < n; i++) {
    if (busy[i]) {
      rateLower[i] = Math.min(floorBps, share[i]);
      rateUpper[i] = total;
    } else if (share[i] < shareUpper[i]) {
      // held below its use by the weights: no headroom (it is busy next tick)
      rateLower[i] = rateUpper[i] = share[i];
    } else {
      rateLower[i] = Math.max(share[i], floorBps);
      rateUpper[i] = Math.max(rateLower[i], Math.min(total, Math.ceil((demands[i].usedBps as number) * (1 + h))));
    }
    lowerSum += rateLower[i];
  }
  // on a link barely above n floors, the floors of the light clients may not fit next to the shares
  if (lowerSum > total) for (let i = 0; i < n; i++) if (!busy[i]) rateLower[i] = share[i];
  const rateBps = fillLevels(rateLower, rateUpper, weight, total);

  let busyWeight = 0;
  let given = 0;
  // what the others were given and do not use: HTB lends it to the busy ones by weight
  let spare = 0;
  for (let i = 0; i < n; i++) {
    if (busy[i]) busyWeight += weight[i];
    else {
      given += rateBps[i];
      spare += rateBps[i] - Math.min(rateBps[i], share[i]);
    }
  }
  const expectedBps = Float64Array.from(rateBps);
  if (busyWeight > 0) {
    // A busy client's rate is its share less its part of what will be lent: with the lending, it
    // gets the share. (Rates that were the shares, with the spare lent on top, would give the
    // clients held at g more than their share.)
    let sum = 0;
    for (let i = 0; i < n; i++) {
      if (!busy[i]) continue;
      expectedBps[i] = share[i];
      rateBps[i] = Math.max(floorBps, Math.floor(share[i] - (spare * weight[i]) / busyWeight));
      sum += rateBps[i];
    }
    // where the floor lifted a rate, take it back from the others in proportion to what they have above it
    let excess = given + sum - total;
    if (excess > 0) {
      let above = 0;
      for (let i = 0; i < n; i++) if (busy[i]) above += rateBps[i] - floorBps;
      for (let i = 0; i < n && above > 0; i++) {
        if (!busy[i]) continue;
        const cut = Math.min(rateBps[i] - floorBps, Math.ceil((excess * (rateBps[i] - floorBps)) / above));
        rateBps[i] -= cut;
      }
      excess = 0;
    }
  } else {
    // nobody busy and capacity left: hand it out by weight, so the rates add up to the link
    let totalWeight = 0;
    for (let i = 0; i < n; i++) totalWeight += weight[i];
    const left = total - given;
    if (left >= n) {
      for (let i = 0; i < n; i++) {
        rateBps[i] += Math.floor((left * weight[i]) / totalWeight);
        expectedBps[i] = rateBps[i];
      }
    }
  }
  return { guaranteeBps, floorBps, rateBps, expectedBps, busy, ceilBps: total };
}
