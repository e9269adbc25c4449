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

/** A MAC's class id, and when it was last used (the recently-used order, see ClassIds). */
interface IdEntry {
  minor: number;
  /** Position in the recently-used order: the table's Map iterates in increasing stamps. */
  stamp: number;
  /** The round it was last asked for in. */
  round: number;
}

/**
 * Class minors by MAC: the hash of the MAC, or the next free one after a collision.
 *
 * Bounded: the table holds the MACs of the current snapshot (a round, begun with `begin()`) and at
 * most `recent` MACs seen before, least recently used forgotten first, so its minors are recycled
 * for devices long gone and a stream of new MACs cannot fill the 65,533 ids. A device present keeps
 * its id from tick to tick (it is used every round, so never the least recently used) and across
 * restarts (`entries()`, in the node's context, has it). The probe for a free minor is bounded; a
 * snapshot that would need more ids than exist is an InputError, never an endless loop.
 *
 * The recently-used order is the Map's own order. Moving a MAC to its end on every use (a delete
 * and a set a client a tick, which also makes the Map rehash) is put off: uses of known MACs are
 * noted, and the moves are made only before the order is looked at (a new MAC, a renewal, a new
 * round, `entries()`), and not at all when the MACs used are already the Map's last ones in that
 * order (the same devices as last round: the usual tick). The order, the evictions and `entries()`
 * are the same as with a move on every use.
 */
export class ClassIds {
  /** In use order (least recently used first), once `flush()`ed. */
  private readonly byMac = new Map<string, IdEntry>();
  private readonly byMinor = new Map<number, string>();
  /** The current round (see `begin`) and how many MACs were asked for in it. */
  private round = 0;
  private roundSize = 0;
  /** Known MACs used since the last flush, in order; their moves to the end are still to be made. */
  private readonly touched: string[] = [];
  private touchedCount = 0;
  /** The touched MACs' stamps so far ran one after another (so they may already be the Map's end). */
  private touchedInOrder = true;
  private lastTouchedStamp = 0;
  private nextStamp = 0;
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
      this.byMac.set(m, { minor, stamp: this.nextStamp++, round: -1 });
      this.byMinor.set(minor, m);
    }
  }

  /** Starts a snapshot: MACs asked for from now on are the current ones, never forgotten in this round. */
  begin(): void {
    this.flush();
    this.round++;
    this.roundSize = 0;
    if (this.retired.size > 0) this.retired.clear();
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
    this.byMac.get(mac)!.minor = minor;
    this.byMinor.set(minor, mac);
    this.changes++;
    return minor;
  }

  minorFor(mac: string): number {
    const known = this.byMac.get(mac);
    if (known !== undefined) {
      if (known.round !== this.round) {
        known.round = this.round;
        this.roundSize++;
      }
      this.touch(mac, known); // most recently used now
      return known.minor;
    }
    this.flush();
    this.forgetOld(1);
    if (this.byMinor.size >= MINOR_COUNT) {
      throw new InputError('payload.clients', `no free tc class id for ${mac}: ${this.roundSize} clients in one snapshot use all ${MINOR_COUNT}; lower the client cap`);
    }
    // a free minor exists (checked above), unless all the others were retired in this round
    const minor = this.freeFrom(preferredMinor(mac));
    if (minor === null) throw new InputError('payload.clients', `no free tc class id for ${mac} in this round`);
    this.byMac.set(mac, { minor, stamp: this.nextStamp++, round: this.round });
    this.byMinor.set(minor, mac);
    this.roundSize++;
    this.changes++;
    return minor;
  }

  /** Notes a use of a known MAC; `flush()` makes it the most recently used. */
  private touch(mac: string, entry: IdEntry): void {
    if (this.touchedCount >= 2 * this.byMac.size + 16) this.flush(); // bounded, however often it is asked between rounds
    if (this.touchedCount === 0) this.touchedInOrder = true;
    else if (entry.stamp !== this.lastTouchedStamp + 1) this.touchedInOrder = false;
    this.lastTouchedStamp = entry.stamp;
    this.touched[this.touchedCount++] = mac;
  }

  /**
   * Makes the noted uses: each MAC used moves to the end, in the order of use. Nothing to move when
   * their stamps ran one after another up to the last stamp given: stamps are unique and increase
   * along the Map, so those MACs are then exactly the Map's end, already in that order.
   */
  private flush(): void {
    const n = this.touchedCount;
    if (n === 0) return;
    this.touchedCount = 0;
    if (this.touchedInOrder && this.lastTouchedStamp === this.nextStamp - 1) return;
    for (let i = 0; i < n; i++) {
      const mac = this.touched[i];
      const entry = this.byMac.get(mac);
      if (entry === undefined) continue; // cannot happen: nothing is forgotten before a flush
      this.byMac.delete(mac);
      this.byMac.set(mac, entry);
      entry.stamp = this.nextStamp++;
    }
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

  /** Forgets least recently used MACs outside this round until `room` more fit within round + recent (after a flush). */
  private forgetOld(room: number): void {
    for (const [mac, entry] of this.byMac) {
      if (this.byMac.size + room <= this.roundSize + this.recent) return;
      if (entry.round === this.round) return; // in use order: every one after it is in this round too
      this.byMac.delete(mac);
      this.byMinor.delete(entry.minor);
      this.changes++;
    }
  }

  get size(): number {
    return this.byMac.size;
  }

  /** For the node's context (least recently used first), so ids, and a collision's resolution, survive a restart. */
  entries(): [string, number][] {
    this.flush();
    const out: [string, number][] = [];
    for (const [mac, entry] of this.byMac) out.push([mac, entry.minor]);
    return out;
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
  ip6: readonly string[];
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

const MAC_HINT = " (aa:bb:cc:dd:ee:ff); a client is shaped by its MAC's class";

function totalOf(payload: Record<string, unknown>, direction: Direction): number {
  const allocation = payload.allocation as Record<string, Record<string, unknown>> | undefined;
  const total = allocation?.[direction]?.totalBps;
  if (typeof total !== 'number' || !Number.isFinite(total) || total < MIN_RATE_BPS) {
    throw new InputError(`payload.allocation.${direction}.totalBps`, `must be the link speed in bit/s (at least ${MIN_RATE_BPS}), got ${JSON.stringify(total)}; put priority-allocator before tc-shaper`);
  }
  return total;
}

function directionAlloc(value: unknown, path: string, totalBps: number): ValidAlloc {
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

/** What `directionAlloc` read of one direction's allocation, as given. */
interface AllocInputs {
  rateBps: unknown;
  ceilBps: unknown;
  prio: unknown;
  weight: unknown;
  busy: boolean;
}

const sameAllocInputs = (a: Record<string, unknown>, kept: AllocInputs) =>
  a.rateBps === kept.rateBps && a.ceilBps === kept.ceilBps && a.prio === kept.prio && a.weight === kept.weight && (a.busy === true) === kept.busy;

function keepAllocInputs(a: Record<string, unknown>, kept: AllocInputs): void {
  kept.rateBps = a.rateBps;
  kept.ceilBps = a.ceilBps;
  kept.prio = a.prio;
  kept.weight = a.weight;
  kept.busy = a.busy === true;
}

const sameAlloc = (a: ValidAlloc, b: ValidAlloc) =>
  a.rateBps === b.rateBps && a.ceilBps === b.ceilBps && a.prio === b.prio && a.weight === b.weight && a.busy === b.busy && a.raised === b.raised;

/** The same strings in the same order (a list with holes or anything but strings never is). */
function sameStrings(given: unknown, kept: readonly string[] | null): boolean {
  if (given === undefined || given === null) return kept === null;
  if (!Array.isArray(given) || kept === null || given.length !== kept.length) return false;
  for (let i = 0; i < kept.length; i++) if (typeof given[i] !== 'string' || given[i] !== kept[i]) return false;
  return true;
}

/** One direction of a client as last planned: its class and filters, and what they were made from. */
interface PlannedSide {
  /** This round's minor from the ids, before a renewal. */
  known: number;
  cls: PlannedClass | null;
  clsFrom: ValidAlloc | null;
  filters: PlannedFilter[];
  filtersMinor: number;
  filtersIp: string | null;
  filtersIp6: readonly string[] | null;
}

/** A client as last seen: its inputs as given, what validation made of them, what was planned. */
interface ClientMemo {
  /** The PlanCache round it was last seen in (the same MAC twice in one round is refused). */
  round: number;
  ip: unknown;
  ip6: string[] | null;
  downIn: AllocInputs;
  upIn: AllocInputs;
  valid: ValidClient;
  down: PlannedSide;
  up: PlannedSide;
}

interface Claim {
  mac: string;
  round: number;
}

const plannedSide = (): PlannedSide => ({ known: 0, cls: null, clsFrom: null, filters: [], filtersMinor: -1, filtersIp: null, filtersIp6: null });

/** Kept entries beyond the current snapshot's before the stale ones are dropped. */
const CACHE_SLACK = 64;

/**
 * What planning keeps from one tick to the next, so that a tick where most clients are as they
 * were builds little: per MAC the client's inputs as given and what they gave (its validated form,
 * its planned classes and filters, reused while equal), the addresses claimed (a round stamp, not
 * a Map a tick), the clients in MAC order, and the last plan (its class Maps and filter lists are
 * reused when nothing in them changed). Every check runs for every client every tick: what is
 * reused is what the same inputs gave before, and a client whose inputs differ in anything goes
 * through the whole validation again. Objects handed out (in a TreePlan) are never changed after.
 * Bounded: the MACs and addresses of the current snapshot, and up to as many again plus a few
 * stale ones, dropped when there are more.
 */
export class PlanCache {
  private round = 0;
  private readonly memos = new Map<string, ClientMemo>();
  private readonly claims = new Map<string, Claim>();
  private claimed = 0;
  private totals = { down: Number.NaN, up: Number.NaN };
  /** This round's clients, in the snapshot's order (the first `count`). */
  private readonly order: ClientMemo[] = [];
  /** The clients of the last plan, by MAC. */
  private sorted: ClientMemo[] = [];
  private last: { round: number; count: number; plan: TreePlan } | null = null;
  private readonly defaults = new Map<number, PlannedClass>();
  private readonly noneSeen = new Set<string>();

  /**
   * Checks everything that will reach tc; throws an InputError naming the field, before anything
   * runs. Leaves the round's clients in `order`; tells whether they are the last plan's.
   */
  private validate(payload: unknown, last: PlanCache['last']): { count: number; downBps: number; upBps: number; sameClients: boolean } {
    const list = snapshotClients(payload);
    const p = payload as Record<string, unknown>;
    const downBps = totalOf(p, 'down');
    const upBps = totalOf(p, 'up');
    if (downBps !== this.totals.down || upBps !== this.totals.up) {
      // what was valid was valid against the link's speed
      if (this.memos.size > 0) this.memos.clear();
      this.totals = { down: downBps, up: upBps };
    }
    const round = this.round;
    this.claimed = 0;
    let sameClients = last !== null && list.length === last.count;
    for (let i = 0; i < list.length; i++) {
      const raw = list[i];
      const given = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
      const mac = given ? normalizeMac(given.mac) : null;
      if (given === null || mac === null) {
        clientMac(raw, `payload.clients[${i}]`, this.noneSeen, MAC_HINT); // throws
        throw new InputError(`payload.clients[${i}]`, 'must be an object with a "mac"');
      }
      let memo = this.memos.get(mac);
      if (memo !== undefined && memo.round === round) throw new InputError(`payload.clients[${i}].mac`, `${mac} appears twice`);
      if (memo === undefined || last === null || memo.round !== last.round) sameClients = false;
      if (memo === undefined || !this.unchanged(given, memo) || !this.claimAll(memo.valid)) {
        memo = this.validateClient(given, i, mac, downBps, upBps, memo);
      }
      memo.round = round;
      this.order[i] = memo;
    }
    if (this.order.length > list.length) this.order.length = list.length;
    this.prune(list.length);
    return { count: list.length, downBps, upBps, sameClients };
  }

  /** The client's inputs are the ones its memo was made from (so they are valid against the same link). */
  private unchanged(c: Record<string, unknown>, memo: ClientMemo): boolean {
    if ((c.ip ?? null) !== memo.ip || !sameStrings(c.ip6, memo.ip6)) return false;
    const alloc = c.alloc as Record<string, unknown> | null | undefined;
    if (typeof alloc !== 'object' || alloc === null) return false;
    const down = alloc.down as Record<string, unknown> | null | undefined;
    const up = alloc.up as Record<string, unknown> | null | undefined;
    return typeof down === 'object' && down !== null && typeof up === 'object' && up !== null && sameAllocInputs(down, memo.downIn) && sameAllocInputs(up, memo.upIn);
  }

  /** Claims a valid client's addresses for this round; false (claims made so far kept) on an address another client has. */
  private claimAll(v: ValidClient): boolean {
    if (v.ip !== null && this.claim(v.ip, v.mac) !== null) return false;
    for (let i = 0; i < v.ip6.length; i++) if (this.claim(v.ip6[i], v.mac) !== null) return false;
    return true;
  }

  /** The MAC that already claimed `address` in this round, or null (then it is `mac`'s). */
  private claim(address: string, mac: string): string | null {
    const held = this.claims.get(address);
    if (held === undefined) {
      this.claims.set(address, { mac, round: this.round });
    } else {
      if (held.round === this.round && held.mac !== mac) return held.mac;
      held.mac = mac;
      held.round = this.round;
    }
    this.claimed++;
    return null;
  }

  /**
   * The whole validation of one client (errors name its fields, in the order of the fields), but
   * what is given as it was last time is not parsed again: addresses as they were only have to be
   * claimed again, a direction's allocation as it was keeps its validated form. Keeps what it made
   * in the client's memo.
   */
  private validateClient(c: Record<string, unknown>, i: number, mac: string, downBps: number, upBps: number, memo: ClientMemo | undefined): ClientMemo {
    const path = `payload.clients[${i}]`;
    const before = memo?.valid;
    let ip: string | null;
    let ip6: readonly string[];
    if (memo !== undefined && before !== undefined && (c.ip ?? null) === memo.ip && sameStrings(c.ip6, memo.ip6) && this.claimAll(before)) {
      ip = before.ip;
      ip6 = before.ip6;
    } else {
      const claim = (address: string, field: string) => {
        const other = this.claim(address, mac);
        if (other !== null) throw new InputError(field, `${address} is also claimed by ${other}`);
      };
      const given = clientAddresses(c, path, knownIPv6);
      ip = given.ip;
      if (ip) claim(ip, `${path}.ip`);
      const routable: string[] = [];
      given.ip6.forEach((a, j) => {
        if (isLinkLocalIPv6(a)) return; // never routed, so never shaped
        const canonical = canonicalIPv6(a);
        if (!routable.includes(canonical)) {
          claim(canonical, `${path}.ip6[${j}]`);
          routable.push(canonical);
        }
      });
      // what did not change keeps its object, so the plan can tell (by identity) what it may reuse
      ip6 = before && sameStrings(routable, before.ip6) ? before.ip6 : routable;
    }
    const alloc = c.alloc as Record<string, unknown> | undefined;
    if (typeof alloc !== 'object' || alloc === null) throw new InputError(`${path}.alloc`, 'missing: every client needs an allocation (put priority-allocator before tc-shaper)');
    const side = (dir: Direction, totalBps: number): ValidAlloc => {
      const given = alloc[dir];
      if (memo !== undefined && before !== undefined && typeof given === 'object' && given !== null && sameAllocInputs(given as Record<string, unknown>, dir === 'down' ? memo.downIn : memo.upIn)) return before[dir];
      const valid = directionAlloc(given, `${path}.alloc.${dir}`, totalBps);
      return before && sameAlloc(valid, before[dir]) ? before[dir] : valid;
    };
    const down = side('down', downBps);
    const up = side('up', upBps);
    const valid: ValidClient = { mac, ip, ip6, down, up };
    const kept = memo ?? { round: this.round, ip: null, ip6: null, downIn: {} as AllocInputs, upIn: {} as AllocInputs, valid, down: plannedSide(), up: plannedSide() };
    kept.ip = c.ip ?? null;
    if (!sameStrings(c.ip6, kept.ip6)) kept.ip6 = Array.isArray(c.ip6) ? (c.ip6.slice() as string[]) : null;
    keepAllocInputs(alloc.down as Record<string, unknown>, kept.downIn);
    keepAllocInputs(alloc.up as Record<string, unknown>, kept.upIn);
    kept.valid = valid;
    if (!memo) this.memos.set(mac, kept);
    return kept;
  }

  /** Drops the MACs and addresses of earlier rounds once they are more than the current ones and a few. */
  private prune(count: number): void {
    if (this.memos.size > 2 * count + CACHE_SLACK) {
      for (const [mac, memo] of this.memos) if (memo.round !== this.round) this.memos.delete(mac);
    }
    if (this.claims.size > 2 * this.claimed + CACHE_SLACK) {
      for (const [address, held] of this.claims) if (held.round !== this.round) this.claims.delete(address);
    }
  }

  /** The validated clients of a snapshot, in its order (throws an InputError on anything invalid). */
  validClients(payload: unknown): { clients: ValidClient[]; downBps: number; upBps: number } {
    this.last = null;
    this.round++;
    const { count, downBps, upBps } = this.validate(payload, null);
    return { clients: this.order.slice(0, count).map((m) => m.valid), downBps, upBps };
  }

  private defaultClass(totalBps: number): PlannedClass {
    let c = this.defaults.get(totalBps);
    if (c === undefined) {
      if (this.defaults.size >= 4) this.defaults.clear();
      this.defaults.set(totalBps, (c = defaultClassFor(totalBps)));
    }
    return c;
  }

  /** One direction's classes and filters, each client's kept while what it was made from is the same. */
  private planDirection(dir: Direction, dev: string, totalBps: number, before: DirectionPlan | null, sorted: readonly ClientMemo[], sameClients: boolean, ids: TreeIds, installed: InstalledTree | null | undefined): DirectionPlan {
    // (indexed loops: this runs for every client every tick, and stays cheap even before it is optimised)
    const classIds = ids[dir];
    // every client's id first, then the renewals: a renewed class never takes the id another
    // client of this snapshot already has
    for (let i = 0; i < sorted.length; i++) sorted[i][dir].known = classIds.minorFor(sorted[i].valid.mac);
    const installedClasses = installed ? installed[dir].classes : null;
    let sameClasses = before !== null && sameClients;
    let sameFilters = sameClasses;
    let raisedToMinimum = 0;
    for (let i = 0; i < sorted.length; i++) {
      const side = sorted[i][dir];
      const c = sorted[i].valid;
      const a = c[dir];
      const minor = installedClasses && freshClassNeeded(installedClasses.get(side.known), a) ? classIds.renew(c.mac) : side.known;
      if (side.cls === null || side.cls.minor !== minor || side.clsFrom !== a) {
        side.cls = { minor, mac: c.mac, rateBps: a.rateBps, ceilBps: a.ceilBps, prio: a.prio, weight: a.weight };
        side.clsFrom = a;
        sameClasses = false;
      }
      if (side.filtersMinor !== minor || side.filtersIp !== c.ip || side.filtersIp6 !== c.ip6) {
        const filters: PlannedFilter[] = [];
        if (c.ip) filters.push({ family: 4, address: c.ip, minor });
        for (let j = 0; j < c.ip6.length; j++) filters.push({ family: 6, address: c.ip6[j], minor });
        side.filters = filters;
        side.filtersMinor = minor;
        side.filtersIp = c.ip;
        side.filtersIp6 = c.ip6;
        sameFilters = false;
      }
      if (a.raised) raisedToMinimum++;
    }
    const defaultClass = this.defaultClass(totalBps);
    if (before !== null && before.classes.get(DEFAULT_MINOR) !== defaultClass) sameClasses = false;
    let classes: Map<number, PlannedClass>;
    if (sameClasses) classes = before!.classes;
    else {
      classes = new Map();
      for (let i = 0; i < sorted.length; i++) {
        const cls = sorted[i][dir].cls!;
        classes.set(cls.minor, cls);
      }
      classes.set(DEFAULT_MINOR, defaultClass);
    }
    let filters: PlannedFilter[];
    if (sameFilters) filters = before!.filters;
    else {
      filters = [];
      for (let i = 0; i < sorted.length; i++) {
        const own = sorted[i][dir].filters;
        for (let j = 0; j < own.length; j++) filters.push(own[j]);
      }
    }
    const total = Math.round(totalBps);
    if (before !== null && sameClasses && sameFilters && before.dev === dev && before.totalBps === total && before.raisedToMinimum === raisedToMinimum) return before;
    return { direction: dir, dev, totalBps: total, classes, filters, raisedToMinimum };
  }

  /** See `planTree`. */
  plan(payload: unknown, settings: PlanSettings, ids: TreeIds, installed?: InstalledTree | null): TreePlan {
    const problem = ifaceNameProblem(settings.iface);
    if (problem) throw new InputError('iface', problem);
    const last = this.last;
    this.last = null; // until this plan is whole
    this.round++;
    const { count, downBps, upBps, sameClients } = this.validate(payload, last);
    const ifb = ifbNameFor(settings.iface);
    // sorted, so that who wins a hash collision does not depend on the order of the clients
    // (the same clients as the last plan: the same order)
    const sorted = sameClients ? this.sorted : (this.sorted = this.order.slice(0, count).sort((a, b) => (a.valid.mac < b.valid.mac ? -1 : 1)));
    const down = this.planDirection('down', settings.iface, downBps, last ? last.plan.down : null, sorted, sameClients, ids, installed);
    const up = this.planDirection('up', ifb, upBps, last ? last.plan.up : null, sorted, sameClients, ids, installed);
    const before = last?.plan;
    const plan: TreePlan = before && before.down === down && before.up === up && before.iface === settings.iface && before.leaf === settings.leaf ? before : { iface: settings.iface, ifb, leaf: settings.leaf, down, up };
    this.last = { round: this.round, count, plan };
    return plan;
  }
}

/** Checks everything that will reach tc; throws an InputError naming the field, before anything runs. */
export function validateForShaping(payload: unknown): { clients: ValidClient[]; downBps: number; upBps: number } {
  return new PlanCache().validClients(payload);
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

/**
 * The desired tree for a snapshot. Throws an InputError (nothing planned) on anything invalid.
 * `cache`: what the previous ticks planned (the shaper keeps one), so that clients as they were
 * reuse what they gave; without one everything is made afresh. The same either way.
 */
export function planTree(payload: unknown, settings: PlanSettings, ids: TreeIds, installed?: InstalledTree | null, cache: PlanCache = new PlanCache()): TreePlan {
  return cache.plan(payload, settings, ids, installed);
}

// ---------------------------------------------------------------------------------------------
// commands (tc -batch lines as token arrays; every token is validated above, none is quoted)

