/**
 * Bytes a piece of code allocates per call, garbage included: what feeds the garbage collector.
 * Run node with a young generation big enough that nothing is collected during the measure:
 *   node --min-semi-space-size=256 --max-semi-space-size=256 <script>
 * and new-space growth is then exactly what was allocated (objects too large for it go to the
 * large-object spaces, counted too). Without those flags a collection in the middle makes the
 * figure meaningless, so it refuses.
 */
import { GCProfiler, getHeapSpaceStatistics } from 'node:v8';

const SPACES = new Set(['new_space', 'new_large_object_space', 'large_object_space', 'old_space', 'code_space']);

function used(): number {
  let n = 0;
  for (const s of getHeapSpaceStatistics()) if (SPACES.has(s.space_name)) n += s.space_used_size;
  return n;
}

function newSpaceCapacity(): number {
  const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  return s ? s.space_size : 0;
}

export const ALLOCATION_FLAGS = ['--min-semi-space-size=256', '--max-semi-space-size=256'];

/**
 * Mean bytes allocated by one `fn()` over `calls` calls (after `warm` calls that are not counted,
 * so the JIT's own allocations are out). Synchronous code only.
 */
export function allocatedPerCall(fn: () => unknown, calls = 20, warm = 20): number {
  if (newSpaceCapacity() < 128 * 2 ** 20) {
    throw new Error(`run node with ${ALLOCATION_FLAGS.join(' ')} (the young generation must hold the whole measure)`);
  }
  for (let i = 0; i < warm; i++) fn();
  // a full collection V8 starts on its own (the old generation's growth) can still fall inside a
  // measure, which then comes out too small or negative: such a measure is taken again
  for (let attempt = 1; ; attempt++) {
    const gcs = new GCProfiler();
    gcs.start();
    const before = used();
    let keep: unknown = null;
    for (let i = 0; i < calls; i++) keep = fn();
    const after = used();
    if (keep === Symbol.for('never')) console.log(keep); // keeps the result alive until here
    const collected = (gcs.stop()?.statistics.length ?? 0) > 0;
    if (after >= before && !collected) return (after - before) / calls;
    if (attempt === 5) throw new Error('a garbage collection ran during each of 5 measures: fewer calls, or a bigger young generation');
  }
}

/**
 * One piece of a tick whose garbage is measured by `npm run bench` (bench/garbage.bench.ts): a
 * node bench file exports `allocationCases()` returning these. `prepare` builds the input (not
 * counted) and returns the call to measure; the call should do what one tick does at `clients`
 * clients (validation and output included), synchronously.
 */
export interface AllocationCase {
  /** e.g. "iface-counter: compute rates, 250 clients" */
  what: string;
  clients: number;
  prepare: () => () => unknown;
  /** Bytes per call it should stay under (the goal printed beside the figure), if any. */
  goalBytes?: number;
}
