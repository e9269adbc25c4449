/**
 * The fewest tc commands that turn what is installed into the plan. Identical input gives no
 * command at all; a rate or ceil within `thresholdPercent` of the installed one is left alone, so
 * the allocator's small tick-to-tick movements do not churn classes.
 */
import { classCommand, filterAdd, filterDelete, hashTableCommands, ingressCommands, leafCommand, skeletonCommands } from './tc-commands';
import { bucketOf, classIdOf, emptyDirection, HASH_TABLE, hex, quantumFor, ROOT_MINOR, type DirectionPlan, type InstalledClass, type InstalledDirection, type InstalledFilter, type InstalledTree, type LeafKind, type PlannedClass, type PlannedFilter, type TreePlan } from './tc-tree';

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
  has(f: Pick<PlannedFilter, 'family' | 'address'>): boolean {
    return this.mapOf(f.family).has(f.address);
  }
  get size(): number {
    return this.v4.size + this.v6.size;
  }
}

/** A planned class as the kernel holds it once sent (what `tc -d class show` reads back). */
function installedAs(c: PlannedClass): InstalledClass {
  return { minor: c.minor, rateBps: c.rateBps, ceilBps: c.ceilBps, prio: c.prio, quantum: quantumFor(c.weight) };
}

/** Keeps the filters that already point to the right class; removes the rest; adds the missing ones with free handles. */
function diffFilters(plan: DirectionPlan, installed: InstalledDirection, next: InstalledDirection, counts: DirectionCounts, filterDeletes: string[][], filterAdds: string[][]): void {
  // filters: keep the ones that already point to the right class, remove the rest
  const desired = new ByAddress<PlannedFilter>();
  for (const f of plan.filters) desired.set(f);
  const kept = new ByAddress<InstalledFilter>();
  for (const f of installed.filters) {
    const want = desired.get(f);
    if (want && want.minor === f.minor && plan.classes.has(f.minor)) {
      next.filters.push(f);
      kept.set(f);
    } else {
      filterDeletes.push(filterDelete(plan.dev, f));
      counts.filtersRemoved++;
    }
  }
  const missing = kept.size === plan.filters.length ? [] : plan.filters.filter((f) => !kept.has(f));
  if (missing.length > 0) {
    // item handles in use per hash bucket (family x 256 + bucket), so a new filter takes the next free one
    const used = new Map<number, Set<number>>();
    const slot = (family: 4 | 6, bucket: number) => {
      const key = family * 256 + bucket;
      let items = used.get(key);
      if (!items) used.set(key, (items = new Set()));
      return items;
    };
    for (const f of next.filters) {
      const [, bucket, item] = f.handle.split(':');
      slot(f.family, parseInt(bucket, 16)).add(parseInt(item, 16));
    }
    for (const f of missing) {
      const bucket = bucketOf(f);
      const items = slot(f.family, bucket);
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
  if (!before || before.length !== now.length) return false;
  for (let i = 0; i < now.length; i++) {
    const a = before[i];
    const b = now[i];
    if (a.minor !== b.minor || a.address !== b.address || a.family !== b.family) return false;
  }
  return true;
}

function diffDirection(plan: DirectionPlan, installedIn: InstalledDirection, leaf: LeafKind, options: DiffOptions): { commands: string[][]; next: InstalledDirection; counts: DirectionCounts } {
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

  // classes
  const classDeletes: string[][] = [];
  for (const minor of [...installed.classes.keys()].sort((a, b) => a - b)) {
    if (plan.classes.has(minor)) continue;
    classDeletes.push(['class', 'del', 'dev', plan.dev, 'classid', classIdOf(minor)]);
    counts.classesRemoved++;
  }
  const classWrites: string[][] = [];
  const ordered = [...plan.classes.values()].sort((a, b) => a.minor - b.minor);
  for (const c of ordered) {
    const have = installed.classes.get(c.minor);
    if (!have) {
      classWrites.push(classCommand('add', plan.dev, c), leafCommand('add', plan.dev, c.minor, leaf, plan.totalBps));
      next.classes.set(c.minor, installedAs(c));
      next.leaves.set(c.minor, leaf);
      counts.classesAdded++;
      continue;
    }
    const quantumMoved = have.quantum !== undefined && have.quantum !== quantumFor(c.weight);
    const change = have.prio !== c.prio || quantumMoved || differs(have.rateBps, c.rateBps, options.thresholdPercent) || differs(have.ceilBps, c.ceilBps, options.thresholdPercent);
    if (change) {
      classWrites.push(classCommand('change', plan.dev, c));
      next.classes.set(c.minor, installedAs(c));
      counts.classesChanged++;
    } else {
      next.classes.set(c.minor, have);
    }
    const leafNow = installed.leaves.get(c.minor);
    if (leafNow !== leaf) classWrites.push(leafCommand(leafNow ? 'replace' : 'add', plan.dev, c.minor, leaf, plan.totalBps));
    next.leaves.set(c.minor, leaf);
  }
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

