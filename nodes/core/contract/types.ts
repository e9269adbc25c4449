/**
 * The message that flows through the EqualNet pipeline. Each node enriches the same snapshot,
 * so no node ever has to look back up the flow.
 *
 * Directions are seen from the client: rxBps is what the client downloads (egress of the LAN
 * interface on the router), txBps what it uploads (ingress of the LAN interface).
 */
export interface Snapshot {
  ts: number;
  iface?: string;
  totals?: { rxBps: number; txBps: number };
  clients: Client[];
  [extra: string]: unknown;
}

export interface Client {
  mac: string;
  /** null for an IPv6-only device */
  ip?: string | null;
  ip6?: string[];
  hostname?: string | null;
  vendor?: string | null;
  deviceType?: string;
  icon?: string;
  /** friendly name set by a `device` command */
  name?: string | null;
  randomizedMac?: boolean;
  /** ms timestamps of first and last sign of life (arp-discover) */
  firstSeen?: number;
  lastSeen?: number;
  priority?: number;
  /** bits/s the client downloads; null when not measured (iface-counter without per-client counting) */
  rxBps?: number | null;
  /** bits/s the client uploads; null when not measured */
  txBps?: number | null;
  alloc?: ClientAlloc;
  [extra: string]: unknown;
}

/** What the shaper enforces for one client in one direction. */
export interface DirectionAlloc {
  /** Guaranteed rate (HTB `rate`), bits per second. */
  rateBps: number;
  /** Upper bound the client may borrow up to when others are idle (HTB `ceil`), bits per second. */
  ceilBps: number;
  /** HTB class priority, 0 (served first) .. 7: the same for every client (lending by weight). */
  prio: number;
  /** The share the client is expected to get now, bits per second (what "allocated" shows). */
  expectedBps?: number;
  /** Its weight (maxPriority - priority + 1): HTB lends spare capacity in proportion to it. */
  weight?: number;
  /** It ran at or near its rate and is treated as wanting more (its demand is the whole link). */
  busy?: boolean;
}

export interface ClientAlloc {
  down: DirectionAlloc;
  up: DirectionAlloc;
}
