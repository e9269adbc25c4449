/**
 * Priority-aware, work-conserving bandwidth allocation for one direction of a link.
 *
 * Priority 1 is the highest. Each client gets weight w = maxPriority - priority + 1 and:
 *   1. a guarantee g = min(minPercent × total, total / n), so guarantees never over-subscribe;
 *   2. the rest by weighted max-min fairness over measured demand (water-filling): a client that
 *      needs less than its weighted share is capped at its demand and the surplus flows on to
 *      the others in proportion to their weights;
 *   3. if every demand is met, headroom (demand × (1 + headroom)) the same way, so a client that
 *      is ramping up is not pinned to what it used two seconds ago;
 *   4. whatever is still left, by weight.
 * The rates always add up to the total (less < 1 bit/s per client of rounding), and the ceiling
 * is the whole link: HTB lends idle capacity at once and takes it back under contention.
 *
 * All quantities are whole bits per second held in doubles, so every sum below is exact
 * (< 2^53) and the result does not depend on the order of the clients.
 */

export interface AllocationPolicy {
  totalBps: number;
  maxPriority: number;
  /** Minimum guarantee per client, percent of the total (capped at total / n). */
  minPercent: number;
  /** Extra room given on top of measured demand once every demand is met, percent. */
  headroomPercent: number;
}

export interface DirectionDemand {
  priority: number;
  demandBps: number;
}

export interface DirectionResult {
  guaranteeBps: number;
  /** Rate per client, in input order. */
  rateBps: Float64Array;
  ceilBps: number;
  /** HTB prio per client, in input order. */
  prio: Uint8Array;
}

/** The weight a priority carries: the highest priority (1) weighs maxPriority, the lowest 1. */
export function weightOf(priority: number, maxPriority: number): number {
  return maxPriority - priority + 1;
}

/** HTB has eight priority levels (0 served first); spread 1..maxPriority over them, monotonically. */
export function htbPrioOf(priority: number, maxPriority: number): number {
  if (maxPriority <= 1) return 0;
  return Math.round(((priority - 1) * 7) / (maxPriority - 1));
}

export function guaranteeOf(policy: AllocationPolicy, clientCount: number): number {
  if (clientCount === 0) return 0;
  return Math.floor(Math.min((policy.minPercent / 100) * policy.totalBps, policy.totalBps / clientCount));
}

/**
 * Raises `level` towards `cap` by weighted max-min fairness, handing out at most `amount`.
 * Returns what could not be handed out because every client reached its cap.
 *
 * The fill level λ is found by binary search over the sorted breakpoints t_i = room_i / w_i:
 * at level λ the clients with t_i ≤ λ are capped and the rest hold w_i·λ, so
 * used(λ) = Σ_{t_i ≤ λ} room_i + λ·Σ_{t_i > λ} w_i, both sums exact.
 */
export function waterFill(level: Float64Array, cap: Float64Array, weight: Float64Array, amount: number): number {
  const n = level.length;
  if (amount <= 0 || n === 0) return Math.max(0, amount);
  const room = new Float64Array(n);
  let totalRoom = 0;
  for (let i = 0; i < n; i++) {
    room[i] = Math.max(0, cap[i] - level[i]);
    totalRoom += room[i];
  }
  if (totalRoom <= amount) {
    for (let i = 0; i < n; i++) level[i] += room[i];
    return amount - totalRoom;
  }
  const breakpoint = new Float64Array(n);
  for (let i = 0; i < n; i++) breakpoint[i] = room[i] / weight[i];
  const sorted = breakpoint.slice().sort();

  const cappedBelow = (t: number) => {
    let capped = 0;
    let freeWeight = 0;
    for (let i = 0; i < n; i++) {
      if (breakpoint[i] < t) capped += room[i];
      else freeWeight += weight[i];
    }
    return { capped, freeWeight };
  };
  // First breakpoint at which the clients below it, capped, plus everyone else at that level,
  // use at least `amount`. It exists: at the last breakpoint everyone is capped (totalRoom > amount).
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const t = sorted[mid];
    const { capped, freeWeight } = cappedBelow(t);
    // clients with breakpoint == t are capped at level t too: their room is w·t
    if (capped + t * freeWeight >= amount) hi = mid;
    else lo = mid + 1;
  }
  const { capped, freeWeight } = cappedBelow(sorted[lo]);
  const lambda = (amount - capped) / freeWeight;
  for (let i = 0; i < n; i++) {
    level[i] += breakpoint[i] < sorted[lo] ? room[i] : Math.min(room[i], Math.floor(weight[i] * lambda));
  }
  return 0;
}

/** Allocates one direction. Inputs must already be validated (see snapshot.ts). */
export function allocateDirection(demands: readonly DirectionDemand[], policy: AllocationPolicy): DirectionResult {
  const n = demands.length;
  const total = Math.floor(policy.totalBps);
  const guaranteeBps = guaranteeOf(policy, n);
  const level = new Float64Array(n).fill(guaranteeBps);
  const weight = new Float64Array(n);
  const demandCap = new Float64Array(n);
  const prio = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const d = demands[i];
    weight[i] = weightOf(d.priority, policy.maxPriority);
    prio[i] = htbPrioOf(d.priority, policy.maxPriority);
    demandCap[i] = Math.max(guaranteeBps, Math.ceil(d.demandBps));
  }

  let left = waterFill(level, demandCap, weight, total - guaranteeBps * n);
  if (left > 0) {
    const headroomCap = new Float64Array(n);
    const factor = 1 + policy.headroomPercent / 100;
    for (let i = 0; i < n; i++) headroomCap[i] = Math.max(demandCap[i], Math.ceil(demands[i].demandBps * factor));
    left = waterFill(level, headroomCap, weight, left);
  }
  if (left > 0) {
    let totalWeight = 0;
    for (let i = 0; i < n; i++) totalWeight += weight[i];
    for (let i = 0; i < n; i++) level[i] += Math.floor((left * weight[i]) / totalWeight);
  }
  return { guaranteeBps, rateBps: level, ceilBps: total, prio };
}
