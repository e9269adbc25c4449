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
  let state: NeighbourState | undefined;
  if (Array.isArray(e.state)) {
    for (const s of e.state) {
      if (typeof s === 'string' && LIVE_STATES.has(s)) {
        state = s as NeighbourState;
        break;
      }
    }
  }
  if (!state) return null; // FAILED, INCOMPLETE, NOARP, NONE: nobody is there
  if (e.lladdr === undefined) return null;
  // the kernel prints MACs in canonical form already; normalise only what is not
  const mac = typeof e.lladdr === 'string' && CANONICAL_MAC.test(e.lladdr) ? e.lladdr : normalizeMac(e.lladdr);
  if (!mac) return `"${String(e.lladdr).slice(0, 30)}" is not a MAC address`;
  if (isGroupMac(mac) || mac === '00:00:00:00:00:00') return null;
  const confirmedS = typeof e.confirmed === 'number' && Number.isFinite(e.confirmed) && e.confirmed >= 0 ? e.confirmed : null;
  return { ip: e.dst, family, mac, state, confirmedS };
}

/**
 * Parses the output of `ip -j [-s] neigh show dev IFACE`. Never throws: output that is not JSON
 * at all yields no neighbours and one malformed note; a bad entry is skipped and noted, the
 * rest is kept.
 */
export function parseNeighbours(json: string): ParsedNeighbours {
  let data: unknown;
  try {
    data = JSON.parse(json.trim() === '' ? '[]' : json);
  } catch (err) {
    return { neighbours: [], malformed: [`neighbour table is not JSON: ${(err as Error).message}`] };
  }
  if (!Array.isArray(data)) return { neighbours: [], malformed: ['neighbour table is not a JSON array'] };
  return neighboursOf(data);
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
