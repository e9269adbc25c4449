import { isRate, rateOf, rateProblem, snapshotClients, timeOf } from '../contract/message';
import { InputError } from '../contract/errors';
import { clientMac, clientPath } from '../contract/mac';
import type { ClientInfo } from './alert';
import type { Direction } from './options';

/**
 * A client as the rules see it, checked. Rates in bits/s, seen from the client (down = rx). One
 * flat object a client a tick, its figures inline (read them with bpsOf, allocOf, ceilOf): three
 * objects of two rates each per client made a third of the rules' garbage (issue 17).
 */
export interface ClientSample extends ClientInfo {
  priority: number | null;
  downBps: number;
  upBps: number;
  /** The allocator's expected share (else its rate) per direction, or null before priority-allocator. */
  allocDownBps: number | null;
  allocUpBps: number | null;
  vendor: string | null;
  hostname: string | null;
  /** The allocation's ceil per direction (below the link: a cap or a throttle, limits.ts), or null. */
  ceilDownBps: number | null;
  ceilUpBps: number | null;
  /** Quota levels usage-store found first reached on this tick (client.quota.crossed), or none. */
  quotaCrossed: readonly QuotaCrossing[];
}

/** What the client moved in direction `d`, bits/s. */
export const bpsOf = (c: ClientSample, d: Direction): number => (d === 'down' ? c.downBps : c.upBps);
/** The share the allocator expects the client to get in `d`, or null before priority-allocator. */
export const allocOf = (c: ClientSample, d: Direction): number | null => (d === 'down' ? c.allocDownBps : c.allocUpBps);
/** The client's ceil in `d`, or null. */
export const ceilOf = (c: ClientSample, d: Direction): number | null => (d === 'down' ? c.ceilDownBps : c.ceilUpBps);

/** A quota level first reached, as usage-store marks it on the client (quota.ts's QuotaEvent). */
export interface QuotaCrossing {
  period: 'daily' | 'monthly';
  level: 'warning' | 'exceeded';
  usedBytes: number;
  limitBytes: number;
  action: 'alert' | 'throttle';
  throttleBps: number | null;
  /** ms: when the period resets (the throttle lifts). */
  resetsAt: number;
}

const NONE: readonly never[] = Object.freeze([]);

function crossings(value: unknown, i: number): readonly QuotaCrossing[] {
  const q = value as { crossed?: unknown } | null | undefined;
  if (q === undefined || q === null || q.crossed === undefined) return NONE;
  if (!Array.isArray(q.crossed)) throw new InputError(`${clientPath(i)}.quota.crossed`, 'must be an array (as usage-store sends)');
  return q.crossed.map((c: Record<string, unknown>, k: number) => {
    const ok =
      c && typeof c === 'object' &&
      (c.period === 'daily' || c.period === 'monthly') &&
      (c.level === 'warning' || c.level === 'exceeded') &&
      isRate(c.usedBytes) && isRate(c.limitBytes) && isRate(c.resetsAt) &&
      (c.action === 'alert' || c.action === 'throttle') &&
      (c.throttleBps === null || isRate(c.throttleBps));
    if (!ok) throw new InputError(`${clientPath(i)}.quota.crossed[${k}]`, 'must be { period: daily|monthly, level: warning|exceeded, usedBytes, limitBytes, action, throttleBps, resetsAt } (as usage-store sends)');
    return c as unknown as QuotaCrossing;
  });
}

/** A rate at `payload.clients[i].<field>`, 0 when absent: the path is written out only for an error. */
function clientRate(value: unknown, i: number, field: string): number {
  return rateProblem(value) === null ? ((value as number | null | undefined) ?? 0) : rateOf(value, `${clientPath(i)}.${field}`);
}

export interface SnapshotView {
  ts: number;
  clients: ClientSample[];
  totalBps: Record<Direction, number>;
  /** Link speed per direction (allocation.*.totalBps), or null. */
  linkBps: Record<Direction, number> | null;
  guaranteeBps: Record<Direction, number> | null;
  /** arp-discover's `capped` (more devices present than the client cap), or null. */
  capped: { limit: number; seen: number; left: number } | null;
  /** arp-discover's `limited` (new MACs held back by the per-minute limit), or null. */
  limited: { perMinute: number; ignored: number } | null;
}

function counts<K extends string>(value: unknown, keys: readonly K[], path: string): Record<K, number> | null {
  if (value === undefined || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof value !== 'object' || keys.some((k) => typeof v[k] !== 'number' || !Number.isInteger(v[k]) || (v[k] as number) < 0)) {
    throw new InputError(path, `must be { ${keys.join(', ')} } with whole numbers ≥ 0 (as arp-discover sends), got ${JSON.stringify(value)?.slice(0, 80)}`);
  }
  return Object.fromEntries(keys.map((k) => [k, v[k] as number])) as Record<K, number>;
}


function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

export function labelOf(c: { name?: unknown; hostname?: unknown; ip?: unknown }, mac: string): string {
  return text(c.name) ?? text(c.hostname) ?? text(c.ip) ?? mac;
}


interface Read {
  /** The client list and its length when read: a snapshot changed in place since is read again. */
  clients: unknown[];
  length: number;
  view: SnapshotView;
  /** The first client without an allocation, or -1. */
  missingAlloc: number;
}

/**
 * Snapshots read, by payload object. The rules of a chain (alert-rule's output 3) get the very
 * same object one after the other: the first reads it, the others take its reading. Weak: a
 * snapshot no rule holds is forgotten with it.
 */
const reads = new WeakMap<object, Read>();

/**
 * Checks a pipeline snapshot completely before any rule looks at it, so a bad one changes no
 * state. `needsAlloc`: the rule compares with the allocation, so every client must carry one.
 * The view is shared by every rule that reads the same snapshot object: read only.
 */
export function readSnapshot(payload: unknown, now: () => number, needsAlloc: boolean): SnapshotView {
  let read = payload !== null && typeof payload === 'object' ? reads.get(payload) : undefined;
  const clients = (payload as { clients?: unknown } | null)?.clients;
  if (!read || read.clients !== clients || read.length !== (clients as unknown[]).length) {
    read = parseSnapshot(payload, now);
    reads.set(payload as object, read);
  }
  if (needsAlloc && read.missingAlloc >= 0) {
    throw new InputError(`payload.clients[${read.missingAlloc}].alloc`, 'missing: this rule compares with the allocation, so wire alert-rule after priority-allocator');
  }
  return read.view;
}

/**
 * The MACs of the last snapshot read (canonical, no duplicates), in order: while a snapshot's are
 * the same strings (the usual tick) they need no check and no set to find duplicates. One array,
 * whichever rule read it.
 */
let lastMacs: readonly string[] = NONE;

function parseSnapshot(payload: unknown, now: () => number): Read {
  snapshotClients(payload);
  const p = payload as Record<string, unknown> & { clients: unknown[] };
  const ts = timeOf(p.ts, 'payload.ts', now);
  const n = p.clients.length;
  let same = lastMacs.length === n;
  let seen: Set<string> | null = null;
  let missingAlloc = -1;
  let sumDown = 0;
  let sumUp = 0;
  const clients: ClientSample[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const c = p.clients[i] as Record<string, unknown>;
    let mac: string;
    if (same && c !== null && typeof c === 'object' && !Array.isArray(c) && c.mac === lastMacs[i]) mac = lastMacs[i];
    else {
      if (same) {
        same = false;
        seen = new Set(lastMacs.slice(0, i));
      }
      mac = clientMac(c, i, (seen ??= new Set()));
    }
    const down = clientRate(c.rxBps, i, 'rxBps');
    const up = clientRate(c.txBps, i, 'txBps');
    sumDown += down;
    sumUp += up;
    let allocDown: number | null = null;
    let allocUp: number | null = null;
    let ceilDown: number | null = null;
    let ceilUp: number | null = null;
    const alloc = c.alloc as { down?: { rateBps?: unknown; expectedBps?: unknown; ceilBps?: unknown }; up?: { rateBps?: unknown; expectedBps?: unknown; ceilBps?: unknown } } | undefined;
    if (alloc && typeof alloc === 'object') {
      if (!isRate(alloc.down?.rateBps) || !isRate(alloc.up?.rateBps)) {
        throw new InputError(`${clientPath(i)}.alloc`, 'must be { down: { rateBps }, up: { rateBps } } with rates ≥ 0 (as priority-allocator sends)');
      }
      // the share a client is expected to get now (its rate plus what HTB lends it by weight)
      allocDown = isRate(alloc.down.expectedBps) ? alloc.down.expectedBps : alloc.down.rateBps;
      allocUp = isRate(alloc.up.expectedBps) ? alloc.up.expectedBps : alloc.up.rateBps;
      if (isRate(alloc.down.ceilBps) && isRate(alloc.up.ceilBps)) {
        ceilDown = alloc.down.ceilBps;
        ceilUp = alloc.up.ceilBps;
      }
    } else if (missingAlloc < 0) {
      missingAlloc = i;
    }
    const priority = typeof c.priority === 'number' && Number.isFinite(c.priority) ? c.priority : null;
    const ip = text(c.ip) ?? (Array.isArray(c.ip6) && typeof c.ip6[0] === 'string' ? (c.ip6[0] as string) : null);
    clients[i] = {
      mac,
      ip,
      label: labelOf(c, mac),
      priority,
      downBps: down,
      upBps: up,
      allocDownBps: allocDown,
      allocUpBps: allocUp,
      vendor: text(c.vendor),
      hostname: text(c.hostname),
      ceilDownBps: ceilDown,
      ceilUpBps: ceilUp,
      quotaCrossed: crossings(c.quota, i),
    };
  }
  if (!same) lastMacs = clients.map((c) => c.mac);
  const totals = p.totals as { rxBps?: unknown; txBps?: unknown } | undefined;
  const totalBps = {
    down: totals && isRate(totals.rxBps) ? totals.rxBps : sumDown,
    up: totals && isRate(totals.txBps) ? totals.txBps : sumUp,
  };
  const a = p.allocation as { down?: { totalBps?: unknown; guaranteeBps?: unknown }; up?: { totalBps?: unknown; guaranteeBps?: unknown } } | undefined;
  const linkBps = a && isRate(a.down?.totalBps) && isRate(a.up?.totalBps) ? { down: a.down.totalBps, up: a.up.totalBps } : null;
  const guaranteeBps =
    a && isRate(a.down?.guaranteeBps) && isRate(a.up?.guaranteeBps) ? { down: a.down.guaranteeBps, up: a.up.guaranteeBps } : null;
  const capped = counts(p.capped, ['limit', 'seen', 'left'] as const, 'payload.capped');
  const limited = counts(p.limited, ['perMinute', 'ignored'] as const, 'payload.limited');
  return { clients: p.clients, length: p.clients.length, view: { ts, clients, totalBps, linkBps, guaranteeBps, capped, limited }, missingAlloc };
}
