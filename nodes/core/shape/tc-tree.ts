/**
 * The vocabulary of the HTB trees EqualNet builds, shared by the plan (tc-plan), what is read back
 * from the kernel (tc-read), the diff (tc-diff) and the commands (tc-commands): handles, the
 * planned and the installed shapes, the u32 hash buckets, the quantum from the weight.
 */
export type Direction = 'down' | 'up';

export type LeafKind = 'fq_codel' | 'sfq' | 'bfifo';

export const HTB_MAJOR = 'eb';

export const ROOT_MINOR = 1;

export const DEFAULT_MINOR = 0xffff;

/** HTB cannot shape below this; the floor for a valid allocation. */
export const MIN_RATE_BPS = 8_000;

export const HASH_TABLE = { 4: '100', 6: '600' } as const;

/** u32 filter priorities (tc "pref"): one protocol per priority. */
export const FILTER_PREF = { 4: 10, 6: 11 } as const;

/**
 * Bytes a FIFO leaf holds: 100 ms of the whole link, at least two 64 KB GSO packets. Counted in
 * bytes, not packets: with GSO a "packet" is up to 64 KB, and a 1,000-packet pfifo (the default
 * txqueuelen) held megabytes, seconds of queue in front of a 2 Mbit/s class: its TCP flow swung
 * by ±20 % from tick to tick and the loop could not tell a busy client from a slowing one.
 */
export function fifoLimitBytes(totalBps: number): number {
  return Math.max(2 * 65_536, Math.round((totalBps / 8) * 0.1));
}

export interface PlannedClass {
  minor: number;
  rateBps: number;
  ceilBps: number;
  prio: number;
  /** The client's weight: HTB lends what is spare among classes of one prio in proportion to quantum. */
  weight?: number;
  /** The client it is for; absent for the root and default classes. */
  mac?: string;
}

export interface PlannedFilter {
  family: 4 | 6;
  /** Canonical text: dotted quad, or eight lower-case 4-digit hex groups. */
  address: string;
  minor: number;
}

export interface DirectionPlan {
  direction: Direction;
  /** The device the tree sits on: the LAN interface (down) or the IFB (up). */
  dev: string;
  totalBps: number;
  /** Client classes and the default class, by minor (the root class is `totalBps`). */
  classes: Map<number, PlannedClass>;
  filters: PlannedFilter[];
  /** Client classes made at HTB's 8 kbit/s minimum because their allocation was below it. */
  raisedToMinimum?: number;
}

export interface TreePlan {
  iface: string;
  ifb: string;
  leaf: LeafKind;
  down: DirectionPlan;
  up: DirectionPlan;
}

/** Where the address bytes sit in the packet (network header offset): dst on download, src on upload. */
export function matchOffset(family: 4 | 6, direction: Direction): number {
  if (family === 4) return direction === 'down' ? 16 : 12;
  return direction === 'down' ? 24 : 8;
}

/** The 16 bytes of an IPv6 address (validated with isIPv6 first). */
export function ipv6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  const groupsOf = (part: string) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const head = groupsOf(halves[0]);
  const tail = halves.length > 1 ? groupsOf(halves[1]) : [];
  const words = halves.length > 1 ? [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail] : head;
  return words.flatMap((w) => [w >> 8, w & 255]);
}

// Every tick sees the same addresses again: remembering their canonical form keeps a 1,000-client
// plan well under a millisecond's worth of address parsing.
const canonicalCache = new Map<string, string>();

const CANONICAL_CACHE_MAX = 65_536;

/** IPv6 addresses already put in canonical form (so already checked): not parsed again. */
export const knownIPv6 = { has: (address: string): boolean => canonicalCache.has(address) };

export function canonicalIPv6(address: string): string {
  const known = canonicalCache.get(address);
  if (known !== undefined) return known;
  const b = ipv6Bytes(address);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16).padStart(4, '0'));
  const canonical = groups.join(':');
  if (canonicalCache.size >= CANONICAL_CACHE_MAX) canonicalCache.clear();
  canonicalCache.set(address, canonical);
  return canonical;
}

/** The u32 hash bucket of an address: its last byte. */
export function bucketOf(filter: Pick<PlannedFilter, 'family' | 'address'>): number {
  if (filter.family === 4) return Number(filter.address.slice(filter.address.lastIndexOf('.') + 1));
  return parseInt(filter.address.slice(-2), 16);
}

export const hex = (n: number) => n.toString(16);

export const classIdOf = (minor: number) => `${HTB_MAJOR}:${hex(minor)}`;

/** Weights run 1..20 (maxPriority is at most 20). */
export const MAX_WEIGHT = 20;

/**
 * Bytes a class of weight 1 may send per turn when HTB lends it spare capacity. HTB sends at least
 * one packet per turn, and with GSO a packet is up to 64 KB (24 KB seen in the lab at 20 Mbit/s):
 * a quantum below the packet size lends per packet, roughly equally, whatever the weights; that is
 * why the allocator keeps what is lent small and puts the shares in the rates. A quantum of a GSO
 * packet per weight was tried: classes within their rate are served in the same turns, and a
 * 2 Mbit/s class, its tokens capped at its small burst while a weight-5 class sent 320 KiB, got
 * 6.3 % below its rate (docs/tc-shaper.md).
 */
export const QUANTUM_PER_WEIGHT = 8_000;

/** HTB's quantum from the weight: spare capacity is lent in proportion to it (at most 160,000 bytes). */
export function quantumFor(weight = 1): number {
  return QUANTUM_PER_WEIGHT * Math.max(1, Math.min(MAX_WEIGHT, weight));
}

export interface InstalledClass {
  minor: number;
  rateBps: number;
  ceilBps: number;
  prio: number;
  /** Bytes per lending turn, when the kernel showed it (`tc -d`). */
  quantum?: number;
}

export interface InstalledFilter {
  family: 4 | 6;
  address: string;
  minor: number;
  /** u32 handle, `ht:bucket:item` in hex, as `tc filter del ... handle` wants it. */
  handle: string;
}

/** `ours`: our HTB; `default`: the device's own (handle 0:, e.g. noqueue, pfifo_fast); else foreign. */
export type RootState = 'ours' | 'default' | 'missing-device' | { foreign: string };

export interface InstalledDirection {
  direction: Direction;
  dev: string;
  root: RootState;
  rootClass: { rateBps: number; ceilBps: number } | null;
  classes: Map<number, InstalledClass>;
  /** Leaf qdisc kind under each class. */
  leaves: Map<number, string>;
  /** Both hash tables and both hashing filters are in place. */
  hashTables: boolean;
  filters: InstalledFilter[];
  /** The plan's filter list these filters were installed from, for a cheap "nothing changed" check. */
  plannedFilters?: readonly { family: 4 | 6; address: string; minor: number }[];
}

/** `stale`: our redirect, to an IFB that has gone (tc prints its target as `*`). */
export type IngressState = 'ours' | 'stale' | 'none' | { foreign: string };

export interface InstalledTree {
  ifbExists: boolean;
  ingress: IngressState;
  down: InstalledDirection;
  up: InstalledDirection;
}

export function emptyDirection(direction: Direction, dev: string, root: RootState = 'default'): InstalledDirection {
  return { direction, dev, root, rootClass: null, classes: new Map(), leaves: new Map(), hashTables: false, filters: [] };
}

/** What a fresh interface looks like: no tree, no IFB, no ingress. */
export function emptyTree(iface: string, ifb: string): InstalledTree {
  return { ifbExists: false, ingress: 'none', down: emptyDirection('down', iface), up: emptyDirection('up', ifb) };
}
