/**
 * The message contract between the nodes, in one place: the topics, and the checks of the fields
 * every stage relies on (snapshot shape, MAC, addresses, rates, times, priority, severity). Each
 * stage validates a message completely before it changes anything, with these checks, so a field
 * means the same and is refused with the same words wherever it arrives. The shapes themselves
 * are in types.ts (Snapshot, Client, DirectionAlloc); docs/message.md describes them.
 */
import { isIPv4, isIPv6 } from './ip';
import { InputError } from './errors';

export { clientMac, normalizeMac } from './mac';
export type { Client, ClientAlloc, DirectionAlloc, Snapshot } from './types';

/** Every topic a node of ours sends or takes. */
export const TOPIC = Object.freeze({
  /** The pipeline's message: arp-discover -> iface-counter -> priority-allocator -> tc-shaper -> usage-store -> alert-rule. */
  snapshot: 'snapshot',
  /** { mac | ip, priority }: to priority-allocator. */
  priority: 'priority',
  /** A config command (SETTING_ALIASES and the allocator's own keys): to priority-allocator, which hands it to the config node. */
  config: 'config',
  /** { devices }: usage-store's device registry, to arp-discover and priority-allocator. */
  registry: 'registry',
  /** A device command: name, priority, merge, expire, forget (usage-store, arp-discover). */
  device: 'device',
  /** A question for usage-store (analytics, alerts); the answer comes back with its type as topic. */
  query: 'query',
  /** A report for usage-store to build (html, text or json). */
  report: 'report',
  /** An alert, from alert-rule: stored by usage-store, sent on to e-mail, MQTT, the dashboard. */
  alert: 'alert',
  /** { action: "acknowledge" | "clear", ids | all + filters }: to usage-store (the Alerts page). */
  alertState: 'alert-state',
  /** Alert delivery settings (recipient, MQTT prefix, kinds sent): to usage-store, which keeps them and answers with those in force. */
  delivery: 'delivery',
  /** arp-discover's second output: a device joined or left the LAN. */
  joined: 'joined',
  left: 'left',
} as const);

export type Topic = (typeof TOPIC)[keyof typeof TOPIC];

/** The clients array of a snapshot, or the InputError every stage gives for anything else. */
export function snapshotClients(payload: unknown): unknown[] {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload) || !Array.isArray((payload as { clients?: unknown }).clients)) {
    throw new InputError('payload', 'must be a snapshot object with a "clients" array');
  }
  return (payload as { clients: unknown[] }).clients;
}

/** A rate in bits/s: a finite number ≥ 0. */
export const isRate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** Null when `value` is a rate or absent (null / undefined: not measured); the reason otherwise. */
export function rateProblem(value: unknown): string | null {
  if (value === undefined || value === null || isRate(value)) return null;
  return `must be a number of bits/s ≥ 0, got ${JSON.stringify(value)}`;
}

/** A rate in bits/s, 0 when absent; an InputError at `path` otherwise. */
export function rateOf(value: unknown, path: string): number {
  const problem = rateProblem(value);
  if (problem) throw new InputError(path, problem);
  return (value as number | null | undefined) ?? 0;
}

/** A time in ms since 1970, `now()` when absent; an InputError at `path` otherwise. */
export function timeOf(value: unknown, path: string, now: () => number): number {
  if (value === undefined || value === null) return now();
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InputError(path, `must be a time in ms since 1970, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Priority 1 (highest) .. maxPriority (lowest), a whole number. */
export function priorityProblem(value: unknown, maxPriority: number): string | null {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > maxPriority) {
    return `must be a whole number from 1 (highest) to ${maxPriority} (lowest), got ${JSON.stringify(value)}`;
  }
  return null;
}

/** Alert severities, as the original stored them. */
export const SEVERITIES = ['info', 'warning', 'error', 'success'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const isSeverity = (value: unknown): value is Severity => typeof value === 'string' && (SEVERITIES as readonly string[]).includes(value);

export function severityProblem(value: unknown): string | null {
  return isSeverity(value) ? null : `must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(value)}`;
}

/**
 * A client's addresses, checked: `ip` an IPv4 address or absent, `ip6` an array of IPv6 addresses
 * or absent. Returned as given (canonical forms are the shaper's business). `known6`: addresses
 * already checked on an earlier tick (the shaper's cache of canonical forms), not parsed again.
 */
export function clientAddresses(client: { ip?: unknown; ip6?: unknown }, path: string, known6?: { has(address: string): boolean }): { ip: string | null; ip6: string[] } {
  let ip: string | null = null;
  if (client.ip !== undefined && client.ip !== null) {
    if (typeof client.ip !== 'string' || !isIPv4(client.ip)) throw new InputError(`${path}.ip`, `must be an IPv4 address or null, got ${JSON.stringify(client.ip)?.slice(0, 60)}`);
    ip = client.ip;
  }
  const ip6: string[] = [];
  if (client.ip6 !== undefined && client.ip6 !== null) {
    if (!Array.isArray(client.ip6)) throw new InputError(`${path}.ip6`, `must be an array of IPv6 addresses, got ${JSON.stringify(client.ip6)?.slice(0, 60)}`);
    client.ip6.forEach((a: unknown, j: number) => {
      if (typeof a !== 'string' || (!known6?.has(a) && !isIPv6(a))) throw new InputError(`${path}.ip6[${j}]`, `must be an IPv6 address, got ${JSON.stringify(a)?.slice(0, 60)}`);
      ip6.push(a);
    });
  }
  return { ip, ip6 };
}
