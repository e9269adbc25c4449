/**
 * A pipeline snapshot (topic "snapshot": `{ ts, clients: [...], totals? }`) checked completely
 * and reduced to what the store keeps of it, before anything is stored: rates, the expected
 * shares, priorities and the facts a device is known by (addresses, hostname, vendor, type).
 */
import { rateOf, rateProblem, snapshotClients, timeOf } from '../contract/message';
import { InputError } from '../contract/errors';
import { clientMac, clientPath } from '../contract/mac';

export interface ParsedClient {
  mac: string;
  rxBps: number;
  txBps: number;
  allocRxBps: number;
  allocTxBps: number;
  priority: number | null;
  ip: string | null;
  /** Read only (it may be the snapshot's own array). */
  ip6: string[];
  hostname?: string;
  vendor?: string;
  deviceType?: string;
  randomized?: boolean;
}

export interface ParsedSnapshot {
  ts: number;
  clients: ParsedClient[];
  totals: { rxBps: number; txBps: number } | null;
  /** The clients' MACs in order: `lastMacs` itself when they are the same. */
  macs: readonly string[];
}

const optText = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? (value.length > 200 ? value.slice(0, 200) : value) : undefined);

const NO_IP6: readonly string[] = Object.freeze([]);

const emptyClient = (): ParsedClient => ({
  mac: '',
  rxBps: 0,
  txBps: 0,
  allocRxBps: 0,
  allocTxBps: 0,
  priority: null,
  ip: null,
  ip6: NO_IP6 as string[],
  hostname: undefined,
  vendor: undefined,
  deviceType: undefined,
  randomized: undefined,
});

/** At most this many IPv6 addresses of a client are kept. */
const MAX_IP6 = 16;

/** A client's IPv6 addresses: the non-empty strings of `ip6`, at most MAX_IP6; the array itself when it is just that (read only). */
function ip6Of(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) return NO_IP6 as string[];
  let clean = value.length <= MAX_IP6;
  for (let i = 0; clean && i < value.length; i++) clean = typeof value[i] === 'string' && value[i] !== '';
  return clean ? (value as string[]) : value.filter((a): a is string => typeof a === 'string' && a !== '').slice(0, MAX_IP6);
}

/** A rate at `payload.clients[i].<field>`: the path is written out only for an error. */
function clientRate(value: unknown, i: number, field: string): number {
  return rateProblem(value) === null ? ((value as number | null | undefined) ?? 0) : rateOf(value, `${clientPath(i)}.${field}`);
}

/**
 * Validates a pipeline snapshot completely before anything is stored. The ParsedClients are read
 * only: a client's `ip6` may be the snapshot's own array. `lastMacs`: the MACs of the previous
 * snapshot parsed, in order (canonical, no duplicates); while this one's are the same strings,
 * they need no check and no set to find duplicates (the usual tick). `pool`: an array of
 * ParsedClients kept by the caller, written over and returned as `clients` (no object per client
 * a tick): valid until the next call with it, and partly written over by a snapshot refused.
 */
export function parseSnapshot(payload: unknown, now: number, lastMacs: readonly string[] = NO_IP6, pool?: ParsedClient[]): ParsedSnapshot {
  snapshotClients(payload);
  const p = payload as { ts?: unknown; clients: unknown[]; totals?: { rxBps?: unknown; txBps?: unknown } };
  const ts = timeOf(p.ts, 'payload.ts', () => now);
  const n = p.clients.length;
  let same = lastMacs.length === n;
  let seen: Set<string> | null = null;
  // the caller's objects, written over (its pool grows to the largest snapshot), or new ones
  const clients: ParsedClient[] = pool ?? new Array(n);
  if (clients.length > n) clients.length = n;
  for (let i = 0; i < n; i++) {
    const raw = p.clients[i];
    let mac: string;
    if (same && raw !== null && typeof raw === 'object' && !Array.isArray(raw) && (raw as { mac?: unknown }).mac === lastMacs[i]) mac = lastMacs[i];
    else {
      if (same) {
        same = false;
        seen = new Set(lastMacs.slice(0, i));
      }
      mac = clientMac(raw, i, (seen ??= new Set()));
    }
    const c = raw as Record<string, unknown>;
    const alloc = (c.alloc ?? {}) as { down?: { rateBps?: unknown; expectedBps?: unknown }; up?: { rateBps?: unknown; expectedBps?: unknown } };
    const priority = typeof c.priority === 'number' && Number.isInteger(c.priority) ? c.priority : null;
    const out = (clients[i] ??= emptyClient());
    out.mac = mac;
    out.rxBps = clientRate(c.rxBps, i, 'rxBps');
    out.txBps = clientRate(c.txBps, i, 'txBps');
    // "allocated" is the share it was expected to get (older snapshots: the rate)
    out.allocRxBps = clientRate(alloc.down?.expectedBps ?? alloc.down?.rateBps, i, 'alloc.down.expectedBps');
    out.allocTxBps = clientRate(alloc.up?.expectedBps ?? alloc.up?.rateBps, i, 'alloc.up.expectedBps');
    out.priority = priority;
    out.ip = optText(c.ip) ?? null;
    out.ip6 = ip6Of(c.ip6);
    out.hostname = optText(c.hostname);
    out.vendor = optText(c.vendor);
    out.deviceType = optText(c.deviceType);
    out.randomized = typeof c.randomizedMac === 'boolean' ? c.randomizedMac : undefined;
  }
  let totals: ParsedSnapshot['totals'] = null;
  if (p.totals !== undefined && p.totals !== null) {
    if (typeof p.totals !== 'object') throw new InputError('payload.totals', 'must be { rxBps, txBps }');
    totals = { rxBps: rateOf(p.totals.rxBps, 'payload.totals.rxBps'), txBps: rateOf(p.totals.txBps, 'payload.totals.txBps') };
  }
  const macs = same ? lastMacs : clients.map((c) => c.mac);
  return { ts, clients, totals, macs };
}
