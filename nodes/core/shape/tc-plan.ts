/**
 * The HTB tree a snapshot asks for, per direction, before anything is compared with the kernel.
 *
 * Download is shaped on egress of the LAN interface (classified by destination address), upload on
 * an IFB device fed from the LAN's ingress (classified by source address). Each tree:
 *
 *     eb:   htb root qdisc, default class eb:ffff
 *     eb:1  root class, rate = ceil = the link
 *       eb:<minor>  one class per client: rate = alloc.rateBps, ceil = alloc.ceilBps, prio = alloc.prio
 *       eb:ffff     traffic of hosts nobody allocated for (and ARP, ND)
 *     u32 hash tables 100: (IPv4) and 600: (IPv6), 256 buckets keyed on the address's last byte,
 *     so a packet is matched against the few addresses of one bucket, not all of them.
 *
 * The minor of a client's class comes from its MAC (FNV-1a), so the same device gets the same class
 * across restarts; a collision probes to the next free minor and is remembered, for the MACs present and
 * a bounded number of recent ones (ClassIds).
 */
import { clientAddresses, snapshotClients } from '../contract/message';
import { InputError } from '../contract/errors';
import { ifaceNameProblem } from '../contract/iface';
import { isLinkLocalIPv6 } from '../contract/ip';
import { clientMac, normalizeMac } from '../contract/mac';
import { canonicalIPv6, DEFAULT_MINOR, knownIPv6, MAX_WEIGHT, MIN_RATE_BPS, type Direction, type DirectionPlan, type InstalledTree, type LeafKind, type PlannedClass, type PlannedFilter, type TreePlan } from './tc-tree';

// ---------------------------------------------------------------------------------------------
// names and ids

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The IFB that carries the LAN's upload: `eqn-<iface>`, or a hash when that would be too long. */
export function ifbNameFor(iface: string): string {
  const problem = ifaceNameProblem(iface);
  if (problem) throw new InputError('iface', problem);
  const plain = `eqn-${iface}`;
  return plain.length <= 15 ? plain : `eqn-${fnv1a(iface).toString(16).padStart(8, '0')}`;
}

/** The minor a MAC hashes to: 2 .. 0xfffe (1 is the root class, 0xffff the default). */
export function preferredMinor(mac: string): number {
  return 2 + (fnv1a(mac) % 0xfffd);
}

/**
 * A client's class is made afresh (under another minor) when its rate is raised at least
 * FRESH_CLASS_RAISE times from a rate at which one packet can leave a debt longer than
 * MAX_CARRIED_DEBT_MS. HTB keeps a class's tokens as *time*: a packet sent at a small rate costs
 * its length / that rate (a 64 KB GSO packet at a 50 kbit/s floor: 10 s), and a larger rate set
 * later with `tc class change` does not shorten that debt; until it is paid the class cannot send
 * at its own rate, only borrow, and borrowing among equal prios goes per packet, not by weight.
 * Measured in the lab: a client raised from 50 kbit/s to 11 Mbit/s got 5.4 Mbit/s for 7 s while
 * the others borrowed its rate, and its TCP flow, starved, fell back to its floor. A new class
 * starts with full tokens. The old one goes with what it still queues (at the old rate, seconds of
 * backlog that TCP will send again anyway).
 * (Changing the HTB prio of the active class instead, so that it borrows first, was tried: this
 * kernel then stalled the class.)
 */
export const FRESH_CLASS_RAISE = 1.5;
/** The largest packet HTB may charge to a class, bytes: a GSO packet (gso_max_size 64 KiB). */
export const MAX_PACKET_BYTES = 65_536;
/** A debt up to this long is left to be paid (a 64 KB packet at 1 Mbit/s and more). */
export const MAX_CARRIED_DEBT_MS = 500;

/** Rates below this can carry a debt longer than MAX_CARRIED_DEBT_MS (1,048,576 bit/s). */
export const DEBT_RATE_BPS = (MAX_PACKET_BYTES * 8 * 1000) / MAX_CARRIED_DEBT_MS;

/**
 * A busy client (the allocator's `busy`: it wants more than it has, so others contend for what it
 * does not send) raised from a rate below DEBT_RATE_BPS to one at least that and FRESH_CLASS_RAISE
 * times more: a client given its share of the link after it was held small. Other moves keep
 * their class: small rates among themselves (ACKs, a light client's headroom) owe little, and a
 * link nobody is busy on is lent to whoever asks.
 */
export function freshClassNeeded(installed: { rateBps: number } | undefined, next: { rateBps: number; busy?: boolean }): boolean {
  if (!installed || !(installed.rateBps > 0) || next.busy !== true) return false;
  return installed.rateBps < DEBT_RATE_BPS && next.rateBps >= DEBT_RATE_BPS && next.rateBps >= installed.rateBps * FRESH_CLASS_RAISE;
}

/** Client class minors: 2 .. 0xfffe. */
const FIRST_MINOR = 2;
const LAST_MINOR = 0xfffe;
const MINOR_COUNT = LAST_MINOR - FIRST_MINOR + 1;
/** MACs no longer in the snapshot whose class id is kept (least recently used forgotten first). */
export const RECENT_CLASS_IDS = 1024;
/** Entries taken from a remembered table at most: the largest snapshot (client cap 4,096) and the recent ones. */
export const REMEMBERED_CLASS_IDS_MAX = 4096 + RECENT_CLASS_IDS;

/**
 * Class minors by MAC: the hash of the MAC, or the next free one after a collision.
 *
 * Bounded: the table holds the MACs of the current snapshot (a round, begun with `begin()`) and at
 * most `recent` MACs seen before, least recently used forgotten first, so its minors are recycled
 * for devices long gone and a stream of new MACs cannot fill the 65,533 ids. A device present keeps
 * its id from tick to tick (it is used every round, so never the least recently used) and across
 * restarts (`entries()`, in the node's context, has it). The probe for a free minor is bounded; a
 * snapshot that would need more ids than exist is an InputError, never an endless loop.
 */
export class ClassIds {
  /** In use order: least recently used first. */
  private readonly byMac = new Map<string, number>();
  private readonly byMinor = new Map<number, string>();
  private round = new Set<string>();
  /** Minors given up by `renew` in this round: their classes are being removed. */
  private readonly retired = new Set<number>();
  /** Counts what changes `entries()` beyond its order: a MAC given a minor, renewed or forgotten. */
  changes = 0;

  /**
   * `remembered`: what `entries()` gave before a restart, as the node's context holds it. Anything
   * else in it (not a pair, a bad MAC, a minor out of range, a minor or MAC twice) is left out;
   * of a longer list only the last REMEMBERED_CLASS_IDS_MAX (the most recently used) are taken.
   */
  constructor(
    remembered: unknown = [],
    readonly recent: number = RECENT_CLASS_IDS,
  ) {
    const list = Array.isArray(remembered) ? remembered.slice(-REMEMBERED_CLASS_IDS_MAX) : [];
    for (const entry of list) {
      if (!Array.isArray(entry) || entry.length !== 2) continue;
      const [mac, minor] = entry as unknown[];
      const m = normalizeMac(mac);
      if (!m || typeof minor !== 'number' || !Number.isInteger(minor) || minor < FIRST_MINOR || minor > LAST_MINOR) continue;
      if (this.byMinor.has(minor) || this.byMac.has(m)) continue;
      this.byMac.set(m, minor);
      this.byMinor.set(minor, m);
    }
  }

  /** Starts a snapshot: MACs asked for from now on are the current ones, never forgotten in this round. */
  begin(): void {
    this.round = new Set();
    this.retired.clear();
  }

  /**
   * Gives `mac` another minor than the one it has (its class is to be made afresh; see
   * `freshClassNeeded`); the old one is not handed out again in this round, while its class is
   * removed. Returns the old minor when no other is free.
   */
  renew(mac: string): number {
    const old = this.minorFor(mac);
    // the old one is still taken here, so a free one found is another
    const minor = this.freeFrom(old >= LAST_MINOR ? FIRST_MINOR : old + 1);
    if (minor === null) return old;
    this.byMinor.delete(old);
    this.retired.add(old);
    this.byMac.set(mac, minor);
    this.byMinor.set(minor, mac);
    this.changes++;
    return minor;
  }

  minorFor(mac: string): number {
    const known = this.byMac.get(mac);
    if (known !== undefined) {
      this.byMac.delete(mac); // most recently used now
      this.byMac.set(mac, known);
      this.round.add(mac);
      return known;
    }
    this.forgetOld(1);
    if (this.byMinor.size >= MINOR_COUNT) {
      throw new InputError('payload.clients', `no free tc class id for ${mac}: ${this.round.size} clients in one snapshot use all ${MINOR_COUNT}; lower the client cap`);
    }
    // a free minor exists (checked above), unless all the others were retired in this round
    const minor = this.freeFrom(preferredMinor(mac));
    if (minor === null) throw new InputError('payload.clients', `no free tc class id for ${mac} in this round`);
    this.byMac.set(mac, minor);
    this.byMinor.set(minor, mac);
    this.round.add(mac);
    this.changes++;
    return minor;
  }

  /** The first minor from `start` on (wrapping) neither in use nor retired in this round; bounded: MINOR_COUNT steps. */
  private freeFrom(start: number): number | null {
    let minor = start;
    for (let step = 0; step < MINOR_COUNT; step++) {
      if (!this.byMinor.has(minor) && !this.retired.has(minor)) return minor;
      minor = minor >= LAST_MINOR ? FIRST_MINOR : minor + 1;
    }
    return null;
  }

  /** Forgets least recently used MACs outside this round until `room` more fit within round + recent. */
  private forgetOld(room: number): void {
    for (const [mac, minor] of this.byMac) {
      if (this.byMac.size + room <= this.round.size + this.recent) return;
      if (this.round.has(mac)) return; // in use order: every one after it is in this round too
      this.byMac.delete(mac);
      this.byMinor.delete(minor);
      this.changes++;
    }
  }

  get size(): number {
    return this.byMac.size;
  }

  /** For the node's context (least recently used first), so ids, and a collision's resolution, survive a restart. */
  entries(): [string, number][] {
    return [...this.byMac.entries()];
  }
}

/**
 * Class ids per direction. The download tree (on the LAN interface) and the upload tree (on the
 * IFB) are separate HTB trees, so a client's class is made afresh in one of them without touching
 * the other: a download's class, and what it queues, stays when its ACKs' class is renewed (in
 * the lab that dropped a downloading client's queue mid-flow, -20 % over 10 s). Both start from
 * the MAC's hash, so the two minors are the same until one is renewed or collides.
 */
export class TreeIds {
  readonly down: ClassIds;
  readonly up: ClassIds;

  /** `remembered`: what `entries()` gave, `{ down, up }`; a plain list (before ids per direction) seeds both. */
  constructor(remembered: unknown = {}) {
    const r = remembered as { down?: unknown; up?: unknown } | null;
    const list = (dir: Direction) => (Array.isArray(remembered) ? remembered : typeof r === 'object' && r !== null ? (r[dir] ?? []) : []);
    this.down = new ClassIds(list('down'));
    this.up = new ClassIds(list('up'));
  }

  begin(): void {
    this.down.begin();
    this.up.begin();
  }

  entries(): { down: [string, number][]; up: [string, number][] } {
    return { down: this.down.entries(), up: this.up.entries() };
  }

  /**
   * Grows when `entries()` would give other pairs (not only another order): the node keeps them in
   * its context only then, not every tick.
   */
  get changes(): number {
    return this.down.changes + this.up.changes;
  }
}

// ---------------------------------------------------------------------------------------------
// addresses

// ---------------------------------------------------------------------------------------------
// validation and planning

interface ValidClient {
  mac: string;
  ip: string | null;
  ip6: string[];
  down: ValidAlloc;
  up: ValidAlloc;
}

interface ValidAlloc {
  rateBps: number;
  ceilBps: number;
  prio: number;
  weight: number;
  busy: boolean;
  /** Allocated below HTB's 8 kbit/s: planned at 8 kbit/s. */
  raised: boolean;
}

const fmt = (bps: number) => `${(bps / 1e6).toFixed(3)} Mbit/s`;

function totalOf(payload: Record<string, unknown>, direction: Direction): number {
  const allocation = payload.allocation as Record<string, Record<string, unknown>> | undefined;
  const total = allocation?.[direction]?.totalBps;
  if (typeof total !== 'number' || !Number.isFinite(total) || total < MIN_RATE_BPS) {
    throw new InputError(`payload.allocation.${direction}.totalBps`, `must be the link speed in bit/s (at least ${MIN_RATE_BPS}), got ${JSON.stringify(total)}; put priority-allocator before tc-shaper`);
  }
  return total;
}

function directionAlloc(value: unknown, path: string, totalBps: number) {
  if (typeof value !== 'object' || value === null) throw new InputError(path, 'missing: every client needs an allocation (put priority-allocator before tc-shaper)');
  const a = value as Record<string, unknown>;
  for (const key of ['rateBps', 'ceilBps']) {
    const v = a[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(`${path}.${key}`, `must be a number of bit/s, got ${JSON.stringify(v)}`);
    if (!(v > 0)) throw new InputError(`${path}.${key}`, `must be above 0 bit/s, got ${v}`);
    if (v > totalBps) throw new InputError(`${path}.${key}`, `${fmt(v)} is above the link's ${fmt(totalBps)}`);
  }
  // More clients than the link has 8 kbit/s for (4,096 on a 20 Mbit/s uplink) get a share below
  // what HTB can shape: such a class is made at 8 kbit/s (its guarantee cannot be kept in full then:
  // the kernel lends what the others leave), and the report says how many.
  const raised = (a.rateBps as number) < MIN_RATE_BPS;
  const rateBps = Math.max(MIN_RATE_BPS, a.rateBps as number);
  const ceilBps = Math.max(MIN_RATE_BPS, a.ceilBps as number);
  if (ceilBps < rateBps) throw new InputError(`${path}.ceilBps`, `${fmt(ceilBps)} is below the rate ${fmt(rateBps)}`);
  const prio = a.prio;
  if (typeof prio !== 'number' || !Number.isInteger(prio) || prio < 0 || prio > 7) throw new InputError(`${path}.prio`, `must be a whole number from 0 to 7 (HTB prio), got ${JSON.stringify(prio)}`);
  const weight = a.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 1 || weight > MAX_WEIGHT) throw new InputError(`${path}.weight`, `must be a whole number from 1 to ${MAX_WEIGHT}, got ${JSON.stringify(weight)}`);
  // busy: the allocator found it wanting more than it has (see freshClassNeeded); anything but true is not
  return { rateBps: Math.round(rateBps), ceilBps: Math.round(ceilBps), prio, weight, busy: a.busy === true, raised };
}

/** Checks everything that will reach tc; throws an InputError naming the field, before anything runs. */
export function validateForShaping(payload: unknown): { clients: ValidClient[]; downBps: number; upBps: number } {
  snapshotClients(payload);
  const p = payload as Record<string, unknown>;
  const downBps = totalOf(p, 'down');
  const upBps = totalOf(p, 'up');
  const seenMac = new Set<string>();
  const seenAddress = new Map<string, string>();
  const clients = (p.clients as unknown[]).map((raw, i): ValidClient => {
    const path = `payload.clients[${i}]`;
    const mac = clientMac(raw, path, seenMac, " (aa:bb:cc:dd:ee:ff); a client is shaped by its MAC's class");
    const c = raw as Record<string, unknown>;
    const claim = (address: string, field: string) => {
      const other = seenAddress.get(address);
      if (other && other !== mac) throw new InputError(field, `${address} is also claimed by ${other}`);
      seenAddress.set(address, mac);
    };
    const given = clientAddresses(c, path, knownIPv6);
    const ip = given.ip;
    if (ip) claim(ip, `${path}.ip`);
    const ip6: string[] = [];
    given.ip6.forEach((a, j) => {
      if (isLinkLocalIPv6(a)) return; // never routed, so never shaped
      const canonical = canonicalIPv6(a);
      if (!ip6.includes(canonical)) {
        claim(canonical, `${path}.ip6[${j}]`);
        ip6.push(canonical);
      }
    });
    const alloc = c.alloc as Record<string, unknown> | undefined;
    if (typeof alloc !== 'object' || alloc === null) throw new InputError(`${path}.alloc`, 'missing: every client needs an allocation (put priority-allocator before tc-shaper)');
    return {
      mac,
      ip,
      ip6,
      down: directionAlloc(alloc.down, `${path}.alloc.down`, downBps),
      up: directionAlloc(alloc.up, `${path}.alloc.up`, upBps),
    };
  });
  return { clients, downBps, upBps };
}

/**
 * Unknown hosts (and ARP, ND) share a small guaranteed rate, 0.25 % of the link, and may borrow
 * the whole link after the clients (prio 7: lent only what the clients leave).
 */
export function defaultClassFor(totalBps: number): PlannedClass {
  return { minor: DEFAULT_MINOR, rateBps: Math.max(MIN_RATE_BPS, Math.round(totalBps / 400)), ceilBps: totalBps, prio: 7 };
}

export interface PlanSettings {
  iface: string;
  leaf: LeafKind;
}

/** The desired tree for a snapshot. Throws an InputError (nothing planned) on anything invalid. */
export function planTree(payload: unknown, settings: PlanSettings, ids: TreeIds, installed?: InstalledTree | null): TreePlan {
  const problem = ifaceNameProblem(settings.iface);
  if (problem) throw new InputError('iface', problem);
  const { clients, downBps, upBps } = validateForShaping(payload);
  const ifb = ifbNameFor(settings.iface);
  // sorted, so that who wins a hash collision does not depend on the order of the clients
  const sorted = [...clients].sort((a, b) => (a.mac < b.mac ? -1 : 1));
  const direction = (dir: Direction, dev: string, totalBps: number): DirectionPlan => {
    const classes = new Map<number, PlannedClass>();
    const filters: PlannedFilter[] = [];
    // every client's id first, then the renewals: a renewed class never takes the id another
    // client of this snapshot already has
    const known = sorted.map((c) => ids[dir].minorFor(c.mac));
    for (let i = 0; i < sorted.length; i++) {
      const c = sorted[i];
      const minor = installed && freshClassNeeded(installed[dir].classes.get(known[i]), c[dir]) ? ids[dir].renew(c.mac) : known[i];
      const { rateBps, ceilBps, prio, weight } = c[dir];
      classes.set(minor, { minor, mac: c.mac, rateBps, ceilBps, prio, weight });
      if (c.ip) filters.push({ family: 4, address: c.ip, minor });
      for (const a of c.ip6) filters.push({ family: 6, address: a, minor });
    }
    classes.set(DEFAULT_MINOR, defaultClassFor(totalBps));
    let raisedToMinimum = 0;
    for (const c of sorted) if (c[dir].raised) raisedToMinimum++;
    return { direction: dir, dev, totalBps: Math.round(totalBps), classes, filters, raisedToMinimum };
  };
  return {
    iface: settings.iface,
    ifb,
    leaf: settings.leaf,
    down: direction('down', settings.iface, downBps),
    up: direction('up', ifb, upBps),
  };
}

// ---------------------------------------------------------------------------------------------
// commands (tc -batch lines as token arrays; every token is validated above, none is quoted)

