/**
 * Every tc command EqualNet sends, built in one place as token arrays (run with `tc -batch`, never
 * through a shell; every token was validated before): the skeleton of a tree (root qdisc, root
 * class, u32 hash tables), classes, leaves, address filters, the ingress redirect to the IFB, and
 * the teardown.
 */
import { DEFAULT_MINOR, type Direction, type DirectionPlan, FILTER_PREF, HASH_TABLE, HTB_MAJOR, type InstalledFilter, type InstalledTree, type LeafKind, type PlannedClass, type PlannedFilter, ROOT_MINOR, classIdOf, fifoLimitBytes, hex, matchOffset, quantumFor } from './tc-tree';

export function classCommand(verb: 'add' | 'change', dev: string, c: PlannedClass): string[] {
  const parent = c.minor === ROOT_MINOR ? `${HTB_MAJOR}:` : classIdOf(ROOT_MINOR);
  const argv = ['class', verb, 'dev', dev, 'parent', parent, 'classid', classIdOf(c.minor), 'htb', 'rate', `${c.rateBps}bit`, 'ceil', `${c.ceilBps}bit`];
  if (c.minor !== ROOT_MINOR) argv.push('prio', String(c.prio));
  argv.push('quantum', String(quantumFor(c.weight)));
  return argv;
}

export function leafCommand(verb: 'add' | 'replace', dev: string, minor: number, leaf: LeafKind, totalBps: number): string[] {
  const argv = ['qdisc', verb, 'dev', dev, 'parent', classIdOf(minor), leaf];
  if (leaf === 'bfifo') argv.push('limit', String(fifoLimitBytes(totalBps)));
  return argv;
}

export function filterMatch(f: PlannedFilter, direction: Direction): string[] {
  const side = direction === 'down' ? 'dst' : 'src';
  return f.family === 4 ? ['match', 'ip', side, `${f.address}/32`] : ['match', 'ip6', side, `${f.address}/128`];
}

export const protocolOf = (family: 4 | 6) => (family === 4 ? 'ip' : 'ipv6');

/** The root qdisc, root class and the two hash tables with their hashing filters. */
export function skeletonCommands(plan: DirectionPlan): string[][] {
  const dev = plan.dev;
  const out: string[][] = [
    ['qdisc', 'replace', 'dev', dev, 'root', 'handle', `${HTB_MAJOR}:`, 'htb', 'default', hex(DEFAULT_MINOR), 'r2q', '10'],
    classCommand('add', dev, { minor: ROOT_MINOR, rateBps: plan.totalBps, ceilBps: plan.totalBps, prio: 0 }),
  ];
  out.push(...hashTableCommands(plan));
  return out;
}

export function hashTableCommands(plan: DirectionPlan): string[][] {
  const out: string[][] = [];
  for (const family of [4, 6] as const) {
    const base = ['filter', 'add', 'dev', plan.dev, 'parent', `${HTB_MAJOR}:`, 'protocol', protocolOf(family), 'prio', String(FILTER_PREF[family])];
    const lastWord = matchOffset(family, plan.direction) + (family === 4 ? 0 : 12);
    out.push([...base, 'handle', `${HASH_TABLE[family]}:`, 'u32', 'divisor', '256']);
    out.push([...base, 'u32', 'match', 'u32', '0', '0', 'hashkey', 'mask', '0x000000ff', 'at', String(lastWord), 'link', `${HASH_TABLE[family]}:`]);
  }
  return out;
}

/** The LAN's ingress, redirected to the IFB so upload can be queued (sqm-scripts, Firewalla). */
export function ingressCommands(iface: string, ifb: string): string[][] {
  return [
    ['qdisc', 'add', 'dev', iface, 'handle', 'ffff:', 'ingress'],
    ['filter', 'add', 'dev', iface, 'parent', 'ffff:', 'protocol', 'all', 'prio', '1', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', ifb],
  ];
}

export const toBatch = (commands: readonly string[][]) => commands.map((c) => c.join(' ')).join('\n') + (commands.length ? '\n' : '');

export function filterDelete(dev: string, f: InstalledFilter): string[] {
  return ['filter', 'del', 'dev', dev, 'parent', `${HTB_MAJOR}:`, 'protocol', protocolOf(f.family), 'prio', String(FILTER_PREF[f.family]), 'handle', f.handle, 'u32'];
}

export function filterAdd(plan: DirectionPlan, f: PlannedFilter, handle: string): string[] {
  const ht = handle.slice(0, handle.lastIndexOf(':') + 1);
  return [
    'filter', 'add', 'dev', plan.dev, 'parent', `${HTB_MAJOR}:`, 'protocol', protocolOf(f.family), 'prio', String(FILTER_PREF[f.family]),
    'handle', handle, 'u32', 'ht', ht, ...filterMatch(f, plan.direction), 'flowid', classIdOf(f.minor),
  ];
}

/** Everything EqualNet put on the interface, removed (the IFB itself goes with `ip link del`). */
export function teardownCommands(installed: InstalledTree, iface: string): string[][] {
  const commands: string[][] = [];
  if (installed.ingress === 'ours' || installed.ingress === 'stale') commands.push(['qdisc', 'del', 'dev', iface, 'ingress']);
  if (installed.down.root === 'ours') commands.push(['qdisc', 'del', 'dev', iface, 'root']);
  return commands;
}
