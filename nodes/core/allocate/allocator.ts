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
 *   - rate of a client that is not busy = what it uses plus headroom, at least a small floor
 *     (min(g, 0.25 % of the link, ≥ 8 kbit/s)) and at most a busy client's share at its weight:
 *     not its whole guarantee, which would sit unused and could only reach the busy clients
 *     through HTB's lending;
 *   - rate of a busy client = its share less its weighted part of what the others were given and
 *     do not use, which HTB lends back to it;
 *   - ceil = the whole link for everyone, so what is not used is lent at once; a device with a
 *     maximum (or a throttle, limits.ts) has its cap as ceil, and its share, rate and expected
 *     share never exceed it: what it cannot take goes to the others by weight (the cap is the one
 *     exception to "a higher priority never gets less than a lower one"; a cap below the
 *     guarantee wins over the guarantee);
 *   - the same HTB prio for every client (lending among equal prios goes by quantum, which the
 *     shaper sets in proportion to weight; different prios would lend in strict order).
 * The rates add up to the link (less than 2 bit/s per client of rounding).
 *
 * `expectedBps` is what a client can count on now: for a busy client its share, for the others
 * their rate.
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

/** Arrays a caller lends allocateArrays for its results (at least n long), so a tick allocates none. */
export interface DirectionBuffers {
  busy: Uint8Array;
  share: Float64Array;
  rate: Float64Array;
  expected: Float64Array;
  /** Each client's ceil, when a client has a cap. */
  ceil?: Float64Array;
}

export function directionBuffers(n: number): DirectionBuffers {
  return { busy: new Uint8Array(n), share: new Float64Array(n), rate: new Float64Array(n), expected: new Float64Array(n), ceil: new Float64Array(n) };
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
  /** The link: the ceil of every client without a cap. */
  ceilBps: number;
  /** Each client's ceil (its cap, at most the link), in input order; null when no client has a cap. */
  clientCeilBps: Float64Array | null;
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
 * A client that became busy stays busy for at least this many ticks, whatever it uses: its flow
 * started behind its small rate, and what it sent then may be lost (its class is made afresh, see
 * tc-plan's freshClassNeeded) or long delayed, so for a second or two after it is given its share
 * its TCP waits for a retransmission timer and uses next to nothing. Measured in the lab: judged
 * on that tick, it was given back its floor, and started over, again and again.
 */
export const MIN_BUSY_TICKS = 3;

/** A busy client using at least this share of its rate stays busy, tick after tick. */
export const NEAR_RATE = 0.85;

/** Growing: it used this much more than the tick before, and at least half its rate (then busy). */
export const GROWING = 1.1;

/**
 * Whether a client wants more than it has: its use is not measured; or it used at least the
 * middle between a client that is not busy (using 1 / (1 + headroom) of its rate) and its whole
 * rate; or, busy last tick, at least NEAR_RATE of its rate, or STAY_BUSY if the tick before it
 * used its rate (one dip, not two in a row: a client that keeps using 75-85 % of its share does
 * not want it all), or anything in its first MIN_BUSY_TICKS busy ticks; or it is growing (GROWING times last
 * tick's use, and at least half its rate): a TCP flow held by its rate uses only ~85 % of it, and
 * one that starts at its floor would otherwise stall there. Rates are what HTB counts (frames);
 * usage is counted at the IP layer, 1 % less for full frames: well inside the margins.
 * A client not seen before is compared with the floor (`rateBps`), and `usedBefore` is NaN.
 * Scalars, not an object: it runs for every client and direction each tick.
 */
export function wantsMore(usedBps: number | null | undefined, t: BusyThresholds, rateBps: number, busyTicks: number, usedBefore: number): boolean {
  if (usedBps === null || usedBps === undefined) return true;
  if (busyTicks > 0 && busyTicks < MIN_BUSY_TICKS) return true;
  if (usedBps >= rateBps * t.enter) return true;
  // busy: near its rate (a 2 Mbit/s class sends ~8 GSO packets a tick: ±12 % from one tick to
  // the next), or one dip down to STAY_BUSY, is not enough to leave; two dips in a row are
  if (busyTicks > 0 && usedBps >= rateBps * Math.min(t.enter, NEAR_RATE)) return true;
  if (busyTicks > 0 && usedBps >= rateBps * t.stay && usedBefore >= rateBps * t.enter) return true;
  return usedBps > usedBefore * GROWING && usedBps >= 0.5 * rateBps;
}

export interface BusyThresholds {
  enter: number;
  stay: number;
}

/** The fractions of its rate a client must use to become busy (`enter`) and to stay busy (`stay`). */
export function busyThresholds(policy: AllocationPolicy): BusyThresholds {
  const h = headroomOf(policy);
  return { enter: (1 + h / 2) / (1 + h), stay: Math.min(STAY_BUSY, 1 / (1 + h)) };
}

/**
 * The order in which allocateArrays and fill visit the clients: alike ones next to each other.
 * Their loops branch on what a client is (busy, at its use, capped) and on its weight; in input
 * order those come at random, and the CPU mispredicts about every other branch (10,000 clients:
 * 0.86 ms a direction in input order, 0.36 ms with alike ones together; bench/allocator). Only
 * the order of visiting changes, never a result: every sum they make is of whole numbers (exact
 * in any order, all < 2^53), each client's figures are worked out from its own inputs and those
 * sums, and fill's one step that depends on the order (taking back rounding bits) keeps input
 * order. Where a weight is not a whole number from 1 to MAX_ORDER_WEIGHT, input order.
 */
const MAX_ORDER_WEIGHT = 31;
/** Kinds of client, in the order they are visited (a key is kind × 32 + weight). */
const KIND_BUSY = 0;
const KIND_AT_USE = 1;
const KIND_LIGHT = 2;
const KIND_CAPPED = 3;
const KEYS = 4 * (MAX_ORDER_WEIGHT + 1);

/** Working arrays of allocateArrays (inputs of its fill, and the visiting order), kept between calls like fill's own. */
let directionScratch = {
  weight: new Float64Array(0),
  lower: new Float64Array(0),
  upper: new Float64Array(0),
  key: new Uint8Array(0),
  order: new Int32Array(0),
  counts: new Int32Array(KEYS),
};
function directionScratchFor(n: number): typeof directionScratch {
  if (directionScratch.weight.length < n) {
    const size = Math.max(n, 2 * directionScratch.weight.length);
    directionScratch = {
      weight: new Float64Array(size),
      lower: new Float64Array(size),
      upper: new Float64Array(size),
      key: new Uint8Array(size),
      order: new Int32Array(size),
      counts: new Int32Array(KEYS),
    };
  }
  return directionScratch;
}

/** Working arrays of fillLevels, kept between calls: a tick allocates nothing it can reuse. */
let scratch = { active: new Int32Array(0), next: new Int32Array(0), atFloor: new Float64Array(0), atCap: new Float64Array(0), identity: new Int32Array(0) };
function scratchFor(n: number): typeof scratch {
  if (scratch.active.length < n) {
    const size = Math.max(n, 2 * scratch.active.length);
    const identity = new Int32Array(size);
    for (let i = 0; i < size; i++) identity[i] = i;
    scratch = { active: new Int32Array(size), next: new Int32Array(size), atFloor: new Float64Array(size), atCap: new Float64Array(size), identity };
  }
  return scratch;
}

/**
 * The levels min(cap_i, max(floor_i, w_i × λ)), with λ such that they add up to `amount`
 * (everyone at cap when the caps add up to less). Requires floor ≤ cap and Σ floor ≤ amount.
 *
 * Each level is a nondecreasing piecewise-linear function of λ with breakpoints floor_i / w_i and
 * cap_i / w_i. λ is found by narrowing an interval (lo, hi) around it, as quickselect does: a client
 * with no breakpoint left inside the interval is settled (at its floor, at its cap, or w_i × λ)
 * and only summed from then on; the pivot is a sampled breakpoint of an unsettled client, so the
 * unsettled ones halve each round and the whole is O(n) expected (no sort: 10,000 clients in a
 * fraction of a millisecond). Levels are rounded down: the sum falls short of `amount` by less
 * than 1 bit/s per client.
 */
export function fillLevels(floor: Float64Array, cap: Float64Array, weight: Float64Array, amount: number): Float64Array {
  return fill(floor, cap, weight, amount).level;
}

/**
 * fillLevels, and the level λ it found (Infinity when everyone is at cap). `order`: the order to
 * visit the clients in (a permutation of 0..n-1; allocateArrays's, alike clients together), input
 * order when absent. The result does not depend on it: the interval ends where no breakpoint is
 * left inside it, which is the same two breakpoints around λ whatever the pivots were, and the
 * sums that give λ are of whole numbers (see allocateArrays).
 */
export function fill(
  floor: Float64Array,
  cap: Float64Array,
  weight: Float64Array,
  amount: number,
  level: Float64Array = new Float64Array(floor.length),
  order: Int32Array | null = null,
): { level: Float64Array; lambda: number } {
  const n = floor.length;
  let capSum = 0;
  for (let i = 0; i < n; i++) capSum += cap[i];
  if (capSum <= amount) {
    level.set(cap);
    return { level, lambda: Number.POSITIVE_INFINITY };
  }
  let lo = 0;
  let hi = Number.POSITIVE_INFINITY;
  // settled: a fixed part and a part that grows with λ
  let fixed = 0;
  let linearWeight = 0;
  const scratch = scratchFor(n);
  const visit = order ?? scratch.identity;
  let active = scratch.active;
  let next = scratch.next;
  const atFloor = scratch.atFloor;
  const atCap = scratch.atCap;
  let count = 0;
  for (let k = 0; k < n; k++) {
    const i = visit[k];
    // a client whose floor is its cap (idle, or held) is a constant: settled from the start
    if (floor[i] === cap[i]) fixed += floor[i];
    else {
      atFloor[i] = floor[i] / weight[i];
      atCap[i] = cap[i] / weight[i];
      active[count++] = i;
    }
  }
  let round = 0;
  while (count > 0) {
    // pivot: the median of three sampled breakpoints inside (lo, hi); each one of an unsettled
    // client, either of its breakpoints inside the interval, chosen by the hash's top bit
    let p1 = 0;
    let p2 = 0;
    let p3 = 0;
    for (let s = 0; s < 3; s++) {
      const h = Math.imul(round + s, 0x9e3779b1) >>> 0;
      const i = active[h % count];
      const floorInside = atFloor[i] > lo && atFloor[i] < hi;
      const capInside = atCap[i] > lo && atCap[i] < hi;
      const p = floorInside && (!capInside || h >>> 31 === 0) ? atFloor[i] : atCap[i];
      if (s === 0) p1 = p;
      else if (s === 1) p2 = p;
      else p3 = p;
    }
    const pivot = Math.max(Math.min(p1, p2), Math.min(Math.max(p1, p2), p3));
    round += 3;
    let used = fixed + linearWeight * pivot;
    for (let k = 0; k < count; k++) {
      const i = active[k];
      used += Math.min(cap[i], Math.max(floor[i], weight[i] * pivot));
    }
    if (used <= amount) lo = pivot;
    else hi = pivot;
    let kept = 0;
    for (let k = 0; k < count; k++) {
      const i = active[k];
      const a = atFloor[i];
      const b = atCap[i];
      if (b <= lo) fixed += cap[i];
      else if (a >= hi) fixed += floor[i];
      else if (a <= lo && b >= hi) linearWeight += weight[i];
      else next[kept++] = i;
    }
    const swap = active;
    active = next;
    next = swap;
    count = kept;
  }
  let lambda = linearWeight > 0 ? (amount - fixed) / linearWeight : lo;
  lambda = Math.min(Math.max(lambda, lo), hi);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const i = visit[k];
    level[i] = Math.floor(Math.min(cap[i], Math.max(floor[i], weight[i] * lambda)));
    sum += level[i];
  }
  // λ is a float: where it came out a hair high, take the excess bit back from free clients (in input order)
  for (let i = 0; sum > amount && i < n; i++) {
    if (level[i] > floor[i] && level[i] < cap[i]) {
      level[i] -= 1;
      sum -= 1;
    }
  }
  return { level, lambda };
}

/** Allocates one direction. Inputs must already be validated (see allocation.ts). */
export function allocateDirection(demands: readonly DirectionDemand[], policy: AllocationPolicy, caps?: Float64Array): DirectionResult {
  const n = demands.length;
  const priority = new Float64Array(n);
  const used = new Float64Array(n);
  const wants = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const d = demands[i];
    priority[i] = d.priority;
    used[i] = d.usedBps ?? Number.NaN;
    wants[i] = d.wantsMore ? 1 : 0;
  }
  return allocateArrays(priority, used, wants, policy, undefined, caps);
}

/**
 * The same over arrays, one entry per client (what the node uses: no object per client):
 * `used` is NaN where it is not measured, `wants` 1 where the client is busy. `caps`: each
 * client's most, bit/s (Infinity: none; at least MIN_RATE_BPS), or absent when nobody has one.
 * `inputOrder`: visit the clients in input order (the straightforward way, slower; the tests
 * compare the two: the order changes no result).
 */
export function allocateArrays(
  priority: ArrayLike<number>,
  used: Float64Array,
  wants: Uint8Array,
  policy: AllocationPolicy,
  out?: DirectionBuffers,
  caps?: Float64Array | null,
  inputOrder = false,
): DirectionResult {
  const n = priority.length;
  // the caller's buffers (valid until its next call), or new arrays
  const own = (have: Float64Array | undefined) => (have && have.length >= n ? have.subarray(0, n) : new Float64Array(n));
  const total = Math.floor(policy.totalBps);
  const guaranteeBps = guaranteeOf(policy, n);
  const floorBps = floorOf(policy, guaranteeBps);
  const h = headroomOf(policy);
  const busy = out && out.busy.length >= n ? out.busy.subarray(0, n).fill(0) : new Uint8Array(n);
  // the policy: busy clients at max(g, w × L), the others at what they use (or their weighted share, if less)
  const work = directionScratchFor(n);
  const weight = work.weight.subarray(0, n);
  const shareLower = work.lower.subarray(0, n);
  const shareUpper = work.upper.subarray(0, n);
  const key = work.key;
  // each client's ceil: its cap (whole bits, at most the link), or the link
  let ceil: Float64Array | null = null;
  if (caps) {
    for (let i = 0; i < n && !ceil; i++) if (caps[i] < total) ceil = own(out?.ceil);
    if (ceil) for (let i = 0; i < n; i++) ceil[i] = Math.max(MIN_RATE_BPS, Math.min(total, Math.floor(caps[i])));
  }
  let ordered = !inputOrder;
  for (let i = 0; i < n; i++) {
    const w = weightOf(priority[i], policy.maxPriority);
    weight[i] = w;
    const most = ceil === null ? total : ceil[i];
    let kind = KIND_BUSY;
    if (wants[i] === 1 || Number.isNaN(used[i])) {
      busy[i] = 1;
      // a cap below the guarantee wins
      shareLower[i] = Math.min(guaranteeBps, most);
      shareUpper[i] = most;
    } else {
      shareUpper[i] = Math.min(most, Math.ceil(used[i]));
      shareLower[i] = Math.min(shareUpper[i], guaranteeBps);
      kind = shareLower[i] === shareUpper[i] ? KIND_AT_USE : KIND_LIGHT;
    }
    if (most < total) kind = KIND_CAPPED;
    if (w >= 1 && w <= MAX_ORDER_WEIGHT && (w | 0) === w) key[i] = kind * (MAX_ORDER_WEIGHT + 1) + w;
    else ordered = false;
  }
  // the visiting order: a counting sort by key (stable), or input order
  let order: Int32Array;
  if (ordered) {
    order = work.order;
    const counts = work.counts.fill(0);
    for (let i = 0; i < n; i++) counts[key[i]]++;
    for (let k = 0, at = 0; k < KEYS; k++) {
      const c = counts[k];
      counts[k] = at;
      at += c;
    }
    for (let i = 0; i < n; i++) order[counts[key[i]]++] = i;
  } else order = scratchFor(n).identity;
  const { level: share, lambda } = fill(shareLower, shareUpper, weight, total, own(out?.share), order);
  // The rates of the others: their share, and headroom above it (what they use plus h, at least
  // the floor), as far as a busy client of the same weight would get (w × L): headroom never
  // takes more than a share. The busy ones' rates follow from their shares below.
  const rateBps = own(out?.rate).fill(0);
  // what a light client keeps for sure (its share, lifted to the floor) and what is headroom above
  let base = 0;
  let extra = 0;
  let busyCount = 0;
  // what the busy ones keep for sure: the floor, or the cap of one held at its cap (lent nothing)
  let busyKept = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (busy[i]) {
      busyCount++;
      busyKept += ceil !== null && share[i] >= ceil[i] ? ceil[i] : floorBps;
      continue;
    }
    if (share[i] < shareUpper[i]) {
      // held below its use by the weights: no headroom (it is busy next tick)
      rateBps[i] = share[i];
      base += share[i];
      continue;
    }
    const reserve = Math.min(total, Math.max(floorBps, Math.ceil(used[i] * (1 + h))));
    rateBps[i] = Math.max(share[i], Math.min(reserve, Math.max(floorBps, Math.floor(weight[i] * lambda))));
    if (ceil !== null && rateBps[i] > ceil[i]) rateBps[i] = ceil[i];
    const kept = Math.max(share[i], Math.min(floorBps, rateBps[i]));
    base += kept;
    extra += rateBps[i] - kept;
  }
  // the busy ones keep at least the floor: where the headroom does not fit next to that, it
  // shrinks; where not even the light ones' floors fit (a link barely above n floors), they get their share
  const room = total - busyKept - base;
  if (extra > room) {
    for (let k = 0; k < n; k++) {
      const i = order[k];
      if (busy[i] || rateBps[i] <= share[i]) continue;
      const kept = Math.max(share[i], Math.min(floorBps, rateBps[i]));
      rateBps[i] = room >= 0 ? kept + Math.floor(((rateBps[i] - kept) * room) / extra) : share[i];
    }
  }

  let busyWeight = 0;
  let given = 0;
  // what the others were given and do not use: HTB lends it to the busy ones by weight, but
  // never past a ceil: a busy client held at its cap is given its cap as rate and lent nothing
  let spare = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (busy[i]) {
      if (ceil === null || share[i] < ceil[i]) busyWeight += weight[i];
    } else {
      given += rateBps[i];
      spare += rateBps[i] - Math.min(rateBps[i], share[i]);
    }
  }
  const expectedBps = own(out?.expected);
  expectedBps.set(rateBps);
  if (busyCount > 0) {
    // A busy client's rate is its share less its part of what will be lent: with the lending, it
    // gets the share. (Rates that were the shares, with the spare lent on top, would give the
    // clients held at g more than their share.)
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k];
      if (!busy[i]) continue;
      expectedBps[i] = share[i];
      rateBps[i] = ceil !== null && share[i] >= ceil[i] ? ceil[i] : Math.max(floorBps, Math.floor(share[i] - (spare * weight[i]) / busyWeight));
      if (ceil !== null && rateBps[i] > ceil[i]) rateBps[i] = ceil[i];
      sum += rateBps[i];
    }
    // where the floor lifted a rate, take it back from the others in proportion to what they have above it
    const excess = given + sum - total;
    if (excess > 0) {
      let above = 0;
      for (let k = 0; k < n; k++) {
        const i = order[k];
        if (busy[i] && (ceil === null || share[i] < ceil[i])) above += rateBps[i] - floorBps;
      }
      for (let k = 0; k < n && above > 0; k++) {
        const i = order[k];
        if (!busy[i] || (ceil !== null && share[i] >= ceil[i])) continue;
        const cut = Math.min(rateBps[i] - floorBps, Math.ceil((excess * (rateBps[i] - floorBps)) / above));
        rateBps[i] -= cut;
      }
    }
  } else {
    // nobody busy and capacity left: hand it out by weight, so the rates add up to the link
    let totalWeight = 0;
    for (let i = 0; i < n; i++) totalWeight += weight[i];
    const left = total - given;
    if (left >= n) {
      for (let i = 0; i < n; i++) {
        rateBps[i] += Math.floor((left * weight[i]) / totalWeight);
        if (ceil !== null && rateBps[i] > ceil[i]) rateBps[i] = ceil[i];
        expectedBps[i] = rateBps[i];
      }
    }
  }
  return { guaranteeBps, floorBps, rateBps, expectedBps, busy, ceilBps: total, clientCeilBps: ceil };
}
