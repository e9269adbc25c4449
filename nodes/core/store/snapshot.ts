/**
 * A pipeline snapshot (topic "snapshot": `{ ts, clients: [...], totals? }`) checked completely
 * and reduced to what the store keeps of it, before anything is stored: rates, the expected
 * shares, priorities and the facts a device is known by (addresses, hostname, vendor, type).
 */
import { rateOf, snapshotClients, timeOf } from '../contract/message';
import { InputError } from '../contract/errors';
import { clientMac } from '../contract/mac';

export interface ParsedClient {
  mac: string;
  rxBps: number;
  txBps: number;
  allocRxBps: number;
  allocTxBps: number;
  priority: number | null;
  ip: string | null;
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
}

const optText = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value.slice(0, 200) : undefined);

/** Validates a pipeline snapshot completely before anything is stored. */
export function parseSnapshot(payload: unknown, now: number): ParsedSnapshot {
  snapshotClients(payload);
  const p = payload as { ts?: unknown; clients: unknown[]; totals?: { rxBps?: unknown; txBps?: unknown } };
  const ts = timeOf(p.ts, 'payload.ts', () => now);
  const seen = new Set<string>();
  const clients = p.clients.map((raw, i): ParsedClient => {
    const path = `payload.clients[${i}]`;
    const mac = clientMac(raw, path, seen);
    const c = raw as Record<string, unknown>;
    const alloc = (c.alloc ?? {}) as { down?: { rateBps?: unknown; expectedBps?: unknown }; up?: { rateBps?: unknown; expectedBps?: unknown } };
    const priority = typeof c.priority === 'number' && Number.isInteger(c.priority) ? c.priority : null;
    return {
      mac,
      rxBps: rateOf(c.rxBps, `${path}.rxBps`),
      txBps: rateOf(c.txBps, `${path}.txBps`),
      // "allocated" is the share it was expected to get (older snapshots: the rate)
      allocRxBps: rateOf(alloc.down?.expectedBps ?? alloc.down?.rateBps, `${path}.alloc.down.expectedBps`),
      allocTxBps: rateOf(alloc.up?.expectedBps ?? alloc.up?.rateBps, `${path}.alloc.up.expectedBps`),
      priority,
      ip: optText(c.ip) ?? null,
      ip6: Array.isArray(c.ip6) ? c.ip6.filter((a): a is string => typeof a === 'string' && a !== '').slice(0, 16) : [],
      hostname: optText(c.hostname),
      vendor: optText(c.vendor),
      deviceType: optText(c.deviceType),
      randomized: typeof c.randomizedMac === 'boolean' ? c.randomizedMac : undefined,
    };
  });
  let totals: ParsedSnapshot['totals'] = null;
  if (p.totals !== undefined && p.totals !== null) {
    if (typeof p.totals !== 'object') throw new InputError('payload.totals', 'must be { rxBps, txBps }');
    totals = { rxBps: rateOf(p.totals.rxBps, 'payload.totals.rxBps'), txBps: rateOf(p.totals.txBps, 'payload.totals.txBps') };
  }
  return { ts, clients, totals };
}
