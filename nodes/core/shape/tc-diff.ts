/**
 * The fewest tc commands that turn what is installed into the plan. Identical input gives no
 * command at all; a rate or ceil within `thresholdPercent` of the installed one is left alone, so
 * the allocator's small tick-to-tick movements do not churn classes.
 */
import { classCommand, filterAdd, filterDelete, hashTableCommands, ingressCommands, leafCommand, skeletonCommands } from './tc-commands';
import { bucketOf, classIdOf, emptyDirection, HASH_TABLE, hex, quantumFor, ROOT_MINOR, type DirectionPlan, type InstalledClass, type InstalledDirection, type InstalledTree, type LeafKind, type PlannedClass, type PlannedFilter, type TreePlan } from './tc-tree';

export interface DiffOptions {
  /** Rate and ceil changes up to this share of the installed value are not sent. */
  thresholdPercent: number;
}

export interface DirectionCounts {
  classesAdded: number;
  classesChanged: number;
  classesRemoved: number;
  filtersAdded: number;
  filtersRemoved: number;
}

export interface TreeDiff {
  commands: string[][];
  /** What the kernel holds once the commands have run. */
  next: InstalledTree;
  down: DirectionCounts;
  up: DirectionCounts;
}

/** The root class follows the link speed closely: only tc's rounding when read back is tolerated. */
const ROOT_TOLERANCE_PERCENT = 0.5;

export function differs(installed: number, desired: number, percent: number): boolean {
  return Math.abs(installed - desired) > (percent / 100) * Math.max(installed, desired);
}

/** Filters by family, then address: the address strings are reused tick after tick, so their hashes are cached. */
class ByAddress<T extends Pick<PlannedFilter, 'family' | 'address'>> {
  private readonly v4 = new Map<string, T>();
  private readonly v6 = new Map<string, T>();
  private mapOf(family: 4 | 6): Map<string, T> {
    return family === 4 ? this.v4 : this.v6;
  }
  set(f: T): void {
    this.mapOf(f.family).set(f.address, f);
  }
  get(f: Pick<PlannedFilter, 'family' | 'address'>): T | undefined {
    return this.mapOf(f.family).get(f.address);
  }
}

/** A planned class as the kernel holds it once sent (what `tc -d class show` reads back). */
function installedAs(c: PlannedClass): InstalledClass {
  return { minor: c.minor, rateBps: c.rateBps, ceilBps: c.ceilBps, prio: c.prio, quantum: quantumFor(c.weight) };
}

/** parseInt(text.slice(from, to), 16) without the slice: the hex digits from `from` on (NaN when none). */
function hexAt(text: string, from: number, to: number): number {
  let n = 0;
  let i = from;
  for (; i < to; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (digit < 0) break;
    n = n * 16 + digit;
  }
  return i === from ? Number.NaN : n;
}

/** Keeps the filters that already point to the right class; removes the rest; adds the missing ones with free handles. */
function diffFilters(plan: DirectionPlan, installed: InstalledDirection, next: InstalledDirection, counts: DirectionCounts, filterDeletes: string[][], filterAdds: string[][]): void {
  // filters: keep the ones that already point to the right class, remove the rest
  const desired = new ByAddress<PlannedFilter>();
  for (const f of plan.filters) desired.set(f);
  /** The planned filters an installed one already is. */
  const kept = new Set<PlannedFilter>();
  for (const f of installed.filters) {
    const want = desired.get(f);
    if (want && want.minor === f.minor && plan.classes.has(f.minor)) {
      next.filters.push(f);
      kept.add(want);
    } else {
      filterDeletes.push(filterDelete(plan.dev, f));
      counts.filtersRemoved++;
    }
  }
  const missing = kept.size === plan.filters.length ? [] : plan.filters.filter((f) => !kept.has(f));
  if (missing.length > 0) {
    // item handles in use in the hash buckets (family x 256 + bucket) the new filters go to, so
    // each takes the next free one
    const used = new Map<number, Set<number>>();
    const buckets = missing.map(bucketOf);
    for (let i = 0; i < missing.length; i++) {
      const key = missing[i].family * 256 + buckets[i];
      if (!used.has(key)) used.set(key, new Set());
    }
    for (const f of next.filters) {
      // handle: table:bucket:item, in hex
      const first = f.handle.indexOf(':');
      const second = f.handle.indexOf(':', first + 1);
      const bucket = first < 0 ? Number.NaN : hexAt(f.handle, first + 1, second < 0 ? f.handle.length : second);
      const items = used.get(f.family * 256 + bucket);
      if (items) items.add(second < 0 ? Number.NaN : hexAt(f.handle, second + 1, f.handle.length));
    }
    for (let i = 0; i < missing.length; i++) {
      const f = missing[i];
      const bucket = buckets[i];
      const items = used.get(f.family * 256 + bucket)!;
      let item = 0x800;
      while (items.has(item)) item++;
      items.add(item);
      const handle = `${HASH_TABLE[f.family]}:${hex(bucket)}:${hex(item)}`;
      filterAdds.push(filterAdd(plan, f, handle));
      next.filters.push({ family: f.family, address: f.address, minor: f.minor, handle });
      counts.filtersAdded++;
    }
  }
}

/** The same filter list as the one installed last time (same order: the plan sorts by MAC)? */
function sameFilters(before: InstalledDirection['plannedFilters'], now: readonly PlannedFilter[]): boolean {
  if (before === now) return true; // the plan's list is kept while nothing in it changed
  if (!before || before.length !== now.length) return false;
  for (let i = 0; i < now.length; i++) {
    const a = before[i];
    const b = now[i];
    if (a.minor !== b.minor || a.address !== b.address || a.family !== b.family) return false;
  }
  return true;
}

/**
 * The usual tick: the installed direction already is the plan (every class there, none to change
 * or add or remove, every leaf right, the same filters). Then `next` is the installed direction
 * with the plan's filter list, its Maps shared (nobody changes them once made), and nothing is
 * sent: what the whole diff below gives in that case, without building anything.
 */
function alreadyInstalled(plan: DirectionPlan, installed: InstalledDirection, leaf: LeafKind, options: DiffOptions): InstalledDirection | null {
  if (installed.root !== 'ours' || !installed.hashTables || !installed.rootClass) return null;
  if (differs(installed.rootClass.rateBps, plan.totalBps, ROOT_TOLERANCE_PERCENT) || differs(installed.rootClass.ceilBps, plan.totalBps, ROOT_TOLERANCE_PERCENT)) return null;
  if (installed.classes.size !== plan.classes.size || installed.leaves.size !== plan.classes.size) return null;
  if (!sameFilters(installed.plannedFilters, plan.filters)) return null;
  // forEach, not for...of: no iterator result a class, even before this is optimised
  let same = true;
  plan.classes.forEach((c) => {
    if (!same) return;
    const have = installed.classes.get(c.minor);
    if (!have || installed.leaves.get(c.minor) !== leaf || classChanged(have, c, options)) same = false;
  });
  if (!same) return null;
  return {
    direction: plan.direction,
    dev: plan.dev,
    root: 'ours',
    rootClass: installed.rootClass,
    classes: installed.classes,
    leaves: installed.leaves,
    hashTables: true,
    filters: installed.filters,
    plannedFilters: plan.filters,
  };
}

/** A class is sent again when its prio or quantum changed, or its rate or ceil moved by more than the threshold. */
function classChanged(have: InstalledClass, c: PlannedClass, options: DiffOptions): boolean {
  const quantumMoved = have.quantum !== undefined && have.quantum !== quantumFor(c.weight);
  return have.prio !== c.prio || quantumMoved || differs(have.rateBps, c.rateBps, options.thresholdPercent) || differs(have.ceilBps, c.ceilBps, options.thresholdPercent);
}

function diffDirection(plan: DirectionPlan, installedIn: InstalledDirection, leaf: LeafKind, options: DiffOptions): { commands: string[][]; next: InstalledDirection; counts: DirectionCounts } {
  const same = alreadyInstalled(plan, installedIn, leaf, options);
  if (same) return { commands: [], next: same, counts: { classesAdded: 0, classesChanged: 0, classesRemoved: 0, filtersAdded: 0, filtersRemoved: 0 } };
  const commands: string[][] = [];
  const counts: DirectionCounts = { classesAdded: 0, classesChanged: 0, classesRemoved: 0, filtersAdded: 0, filtersRemoved: 0 };
  let installed = installedIn;
  // A tree of ours without its hash tables is a half-built leftover: start that direction afresh.
  if (installed.root === 'ours' && !installed.hashTables) {
    commands.push(['qdisc', 'del', 'dev', plan.dev, 'root']);
    installed = emptyDirection(plan.direction, plan.dev);
  }
  const next = emptyDirection(plan.direction, plan.dev, 'ours');
  next.hashTables = true;
  next.rootClass = { rateBps: plan.totalBps, ceilBps: plan.totalBps };

  const skeleton: string[][] = [];
  if (installed.root !== 'ours') {
    skeleton.push(...skeletonCommands(plan));
  } else if (!installed.rootClass) {
    skeleton.push(classCommand('add', plan.dev, { minor: ROOT_MINOR, rateBps: plan.totalBps, ceilBps: plan.totalBps, prio: 0 }));
  } else if (differs(installed.rootClass.rateBps, plan.totalBps, ROOT_TOLERANCE_PERCENT) || differs(installed.rootClass.ceilBps, plan.totalBps, ROOT_TOLERANCE_PERCENT)) {
    skeleton.push(classCommand('change', plan.dev, { minor: ROOT_MINOR, rateBps: plan.totalBps, ceilBps: plan.totalBps, prio: 0 }));
  } else {
    next.rootClass = installed.rootClass;
  }
  if (installed.root === 'ours' && !installed.hashTables) skeleton.push(...hashTableCommands(plan));

  const filterDeletes: string[][] = [];
  const filterAdds: string[][] = [];
  if (sameFilters(installed.plannedFilters, plan.filters)) {
    next.filters = installed.filters;
  } else {
    diffFilters(plan, installed, next, counts, filterDeletes, filterAdds);
  }
  next.plannedFilters = plan.filters;

  // classes: the few that change are sorted, not the whole tree
  const removed: number[] = [];
  for (const minor of installed.classes.keys()) if (!plan.classes.has(minor)) removed.push(minor);
  removed.sort((x, y) => x - y);
  const classDeletes: string[][] = [];
  for (const minor of removed) {
    classDeletes.push(['class', 'del', 'dev', plan.dev, 'classid', classIdOf(minor)]);
    counts.classesRemoved++;
  }
  // the plan's classes in the order of their minors, the order the kernel gets them in
  const minors = [...plan.classes.keys()].sort((x, y) => x - y);
  const classWrites: string[][] = [];
  let leavesRight = installed.leaves.size === plan.classes.size;
  for (const minor of minors) {
    const c = plan.classes.get(minor)!;
    const have = installed.classes.get(minor);
    if (!have) {
      classWrites.push(classCommand('add', plan.dev, c), leafCommand('add', plan.dev, minor, leaf, plan.totalBps));
      counts.classesAdded++;
      leavesRight = false;
      continue;
    }
    if (classChanged(have, c, options)) {
      classWrites.push(classCommand('change', plan.dev, c));
      counts.classesChanged++;
    }
    const leafNow = installed.leaves.get(minor);
    if (leafNow !== leaf) {
      classWrites.push(leafCommand(leafNow ? 'replace' : 'add', plan.dev, minor, leaf, plan.totalBps));
      leavesRight = false;
    }
  }
  // what the kernel holds then: the installed Maps themselves when they stay as they are (never changed once made)
  if (removed.length === 0 && counts.classesAdded === 0 && counts.classesChanged === 0 && installed.classes.size === plan.classes.size) {
    next.classes = installed.classes;
  } else {
    for (const minor of minors) {
      const c = plan.classes.get(minor)!;
      const have = installed.classes.get(minor);
      next.classes.set(minor, have && !classChanged(have, c, options) ? have : installedAs(c));
    }
  }
  if (leavesRight) next.leaves = installed.leaves;
  else for (const minor of minors) next.leaves.set(minor, leaf);
  // Removing filters before their class, adding classes before the filters that point to them.
  commands.push(...skeleton, ...filterDeletes, ...classDeletes, ...classWrites, ...filterAdds);
  return { commands, next, counts };
}

/** The commands for `tc -batch`, in an order the kernel accepts, and the state they lead to. */
export function diffTree(plan: TreePlan, installed: InstalledTree, options: DiffOptions): TreeDiff {
  const down = diffDirection(plan.down, installed.down, plan.leaf, options);
  const up = diffDirection(plan.up, installed.up, plan.leaf, options);
  const commands = [...down.commands, ...up.commands];
  // Redirect the LAN's ingress only once the IFB's tree is there.
  if (installed.ingress === 'stale') commands.push(['qdisc', 'del', 'dev', plan.iface, 'ingress']);
  if (installed.ingress !== 'ours') commands.push(...ingressCommands(plan.iface, plan.ifb));
  return { commands, next: { ifbExists: true, ingress: 'ours', down: down.next, up: up.next }, down: down.counts, up: up.counts };
}

