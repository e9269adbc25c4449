import { isIPv4, isIPv6 } from '../contract/ip';
import { normalizeMac } from '../contract/mac';

/**
 * One usable entry of the kernel's neighbour table (`ip -j -s neigh show dev IFACE`).
 * `confirmedS` is how many seconds ago the kernel last had proof the neighbour is there
 * (a reply, a TCP ACK): the liveness signal discovery uses. `updated` is not one: the kernel
 * resets it on its own timer transitions (REACHABLE -> STALE) without hearing from anybody.
 */
export interface Neighbour {
  ip: string;
  family: 4 | 6;
  mac: string;
  state: NeighbourState;
  confirmedS: number | null;
}

/** States that say something is (or recently was) at this address. */
export type NeighbourState = 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE' | 'PERMANENT';

const CANONICAL_MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** INCOMPLETE / FAILED: the kernel asked and nobody answered. NOARP / NONE: not a host. */
const LIVE_STATES: ReadonlySet<string> = new Set<NeighbourState>(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT']);

export interface ParsedNeighbours {
  neighbours: Neighbour[];
  /** Entries that were skipped because they were not understood, with why (for a warning). */
  malformed: string[];
}

/** Multicast / broadcast link-layer addresses (group bit set): not a device. */
function isGroupMac(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 0x01) !== 0;
}

/** The first live state of an entry's state list (the kernel lists one, `ip` may list flags too), or undefined. */
function liveState(states: unknown): NeighbourState | undefined {
  if (!Array.isArray(states)) return undefined;
  for (const s of states) if (typeof s === 'string' && LIVE_STATES.has(s)) return s as NeighbourState;
  return undefined;
}

function confirmedOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * Turns one JSON entry of `ip -j neigh` into a Neighbour, or explains why it is not one.
 * Returns null (no problem) for entries that are fine but not a present host (FAILED, NOARP, ...).
 */
function toNeighbour(raw: unknown): Neighbour | null | string {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return 'not an object';
  const e = raw as Record<string, unknown>;
  if (typeof e.dst !== 'string') return 'no "dst" address';
  const family = e.dst.includes(':') ? (isIPv6(e.dst) ? 6 : 0) : isIPv4(e.dst) ? 4 : 0;
  if (family === 0) return `"${String(e.dst).slice(0, 50)}" is not an IP address`;
  const state = liveState(e.state);
  if (!state) return null; // FAILED, INCOMPLETE, NOARP, NONE: nobody is there
  if (e.lladdr === undefined) return null;
  // the kernel prints MACs in canonical form already; normalise only what is not
  const mac = typeof e.lladdr === 'string' && CANONICAL_MAC.test(e.lladdr) ? e.lladdr : normalizeMac(e.lladdr);
  if (!mac) return `"${String(e.lladdr).slice(0, 30)}" is not a MAC address`;
  if (isGroupMac(mac) || mac === '00:00:00:00:00:00') return null;
  return { ip: e.dst, family, mac, state, confirmedS: confirmedOf(e.confirmed) };
}

/**
 * The entries of `ip -j [-s] neigh show dev IFACE` output, unchecked. Never throws: output that is
 * not a JSON array yields no entries and one malformed note.
 */
export function neighbourEntries(json: string): { entries: readonly unknown[]; malformed: string[] } {
  let data: unknown;
  try {
    data = JSON.parse(json.trim() === '' ? '[]' : json);
  } catch (err) {
    return { entries: [], malformed: [`neighbour table is not JSON: ${(err as Error).message}`] };
  }
  if (!Array.isArray(data)) return { entries: [], malformed: ['neighbour table is not a JSON array'] };
  return { entries: data, malformed: [] };
}

/**
 * Parses the output of `ip -j [-s] neigh show dev IFACE`. Never throws: output that is not JSON
 * at all yields no neighbours and one malformed note; a bad entry is skipped and noted, the
 * rest is kept.
 */
export function parseNeighbours(json: string): ParsedNeighbours {
  const { entries, malformed } = neighbourEntries(json);
  return malformed.length > 0 ? { neighbours: [], malformed } : neighboursOf(entries);
}

/**
 * The usable neighbours among entries as `ip -j -s neigh` prints them (or as the netlink reader
 * makes them, meter/netlink-codec.ts's parseNeighbourEntry): a bad entry is skipped and noted.
 */
export function neighboursOf(data: readonly unknown[]): ParsedNeighbours {
  const neighbours: Neighbour[] = [];
  const malformed: string[] = [];
  for (let i = 0; i < data.length; i++) {
    const result = toNeighbour(data[i]);
    if (typeof result === 'string') malformed.push(`entry ${i}: ${result}`);
    else if (result) neighbours.push(result);
  }
  return { neighbours, malformed };
}

/**
 * A line of `ip monitor neigh` ("10.0.0.5 dev br-lan lladdr aa:bb:.. REACHABLE", "Deleted ...",
 * or something unexpected). Only used to notice that the table changed; returns the MAC if the
 * line names one, else null. Never throws.
 */
export function macOfMonitorLine(line: string): string | null {
  const m = /\blladdr\s+(\S+)/.exec(line);
  return m ? normalizeMac(m[1]) : null;
}

/** A usable entry as NeighbourTracker keeps it from one read to the next. */
export interface TrackedNeighbour extends Neighbour {
  /** The entry's `lladdr` text as read: the same text at the same address next time needs no checks. */
  lladdr: string | null;
  /** Number of the read that last listed it. */
  read: number;
  /** The read before that one listed it too (same address, same MAC). */
  listedBefore: boolean;
  /** Another MAC listed at the same address (a table being rewritten, or hand-made input). */
  next: TrackedNeighbour | null;
}

/** A MAC's usable entries in the last read, in the table's order. */
export interface MacEntries {
  mac: string;
  entries: TrackedNeighbour[];
  read: number;
  /** How many of `entries` the read being made has set (the rest are the read before's). */
  count: number;
}

/**
 * The neighbour table, read after read, keeping what it already checked: an entry at an address
 * and with a MAC text it listed before is not validated again (IPv6 parsing, MAC normalising),
 * only its state and age are taken, into the same object. Each read tells which entries the read
 * before listed too (`listedBefore`), and groups the usable entries by MAC, in arrays that the
 * next read reuses. What one read does not list is forgotten: it holds at most one read's entries
 * (what the kernel's table holds for the interface).
 *
 * Entries and groups are updated by the next read: use them before it, never hand them out.
 */
export class NeighbourTracker {
  private readonly byAddress = new Map<string, TrackedNeighbour>();
  private readonly byMac = new Map<string, MacEntries>();
  /** The MACs of the last read, in the order of their first entry. */
  readonly macs: MacEntries[] = [];
  /** The last read's entries that were skipped as not understood, with why. */
  readonly malformed: string[] = [];
  private reads = 0;

  /** How many reads were made. */
  get readCount(): number {
    return this.reads;
  }

  /** How many entries it keeps (those of the last read, an entry listed twice once). */
  get size(): number {
    let n = 0;
    this.byAddress.forEach((head) => {
      for (let k: TrackedNeighbour | null = head; k; k = k.next) n++;
    });
    return n;
  }

  /** The last read's usable entries of `mac` (none if it listed none). */
  entriesOf(mac: string): readonly TrackedNeighbour[] {
    const group = this.byMac.get(mac);
    return group?.read === this.reads ? group.entries : [];
  }

  /** Whether the last read listed a usable entry of `mac`. */
  lists(mac: string): boolean {
    return this.byMac.get(mac)?.read === this.reads;
  }

  /** Takes the entries of a new read (as neighboursOf takes them). Never throws. */
  read(data: readonly unknown[]): void {
    const read = ++this.reads;
    const { macs } = this;
    let macCount = 0;
    this.malformed.length = 0;
    // the arrays are written over, not emptied and filled again: most reads list what the read
    // before did, in its order, and then nothing is written (an emptied array loses its storage)
    for (let i = 0; i < data.length; i++) {
      const n = this.entryOf(data[i], i, read);
      if (!n) continue;
      let group = this.byMac.get(n.mac);
      if (!group) this.byMac.set(n.mac, (group = { mac: n.mac, entries: [], read: 0, count: 0 }));
      if (group.read !== read) {
        group.read = read;
        group.count = 0;
        if (macs[macCount] !== group) macs[macCount] = group;
        macCount++;
      }
      if (group.entries[group.count] !== n) group.entries[group.count] = n;
      group.count++;
    }
    if (macs.length !== macCount) macs.length = macCount;
    for (let k = 0; k < macCount; k++) {
      const group = macs[k];
      if (group.entries.length !== group.count) group.entries.length = group.count;
    }
    // what this read did not list is forgotten (Map.forEach: no [key, value] pair per entry)
    this.byAddress.forEach((head, ip) => {
      let first: TrackedNeighbour | null = head;
      while (first && first.read !== read) first = first.next;
      if (!first) {
        this.byAddress.delete(ip);
        return;
      }
      for (let k = first; k.next; ) {
        if (k.next.read !== read) k.next = k.next.next;
        else k = k.next;
      }
      if (first !== head) this.byAddress.set(ip, first);
    });
    this.byMac.forEach((group, mac) => group.read === read || this.byMac.delete(mac));
  }

  private entryOf(raw: unknown, i: number, read: number): TrackedNeighbour | null {
    const e = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
    if (e && typeof e.dst === 'string') {
      let known = this.byAddress.get(e.dst) ?? null;
      while (known && (known.lladdr === null || known.lladdr !== e.lladdr)) known = known.next;
      if (known) {
        // checked when first listed: only the state and the age are new
        const state = liveState(e.state);
        return state ? this.listed(known, state, confirmedOf(e.confirmed), read) : null;
      }
    }
    const n = toNeighbour(raw);
    if (typeof n === 'string') {
      this.malformed.push(`entry ${i}: ${n}`);
      return null;
    }
    if (!n) return null;
    const head = this.byAddress.get(n.ip) ?? null;
    let known = head;
    while (known && known.mac !== n.mac) known = known.next;
    if (!known) {
      known = { ip: n.ip, family: n.family, mac: n.mac, state: n.state, confirmedS: n.confirmedS, lladdr: null, read: 0, listedBefore: false, next: head };
      this.byAddress.set(n.ip, known);
    }
    known.lladdr = typeof e!.lladdr === 'string' ? e!.lladdr : null;
    return this.listed(known, n.state, n.confirmedS, read);
  }

  private listed(k: TrackedNeighbour, state: NeighbourState, confirmedS: number | null, read: number): TrackedNeighbour {
    // the same address and MAC twice in one read: the second is an entry of its own, as before
    if (k.read === read) return { ...k, state, confirmedS, next: null };
    k.listedBefore = k.read === read - 1;
    k.read = read;
    k.state = state;
    k.confirmedS = confirmedS;
    return k;
  }
}
