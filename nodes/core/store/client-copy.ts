/**
 * The client usage-store sends on: a copy of the client it received with `limits` and `quota`
 * added (the client received is not changed: the message it came in may still be read).
 *
 * Object.assign onto `{}` grows the copy's property store a few fields at a time: a client of the
 * pipeline (17 fields) left three stores behind and cost about 600 bytes, a third of usage-store's
 * garbage a tick (bench/garbage). A client with the fields the pipeline gives it, in its order,
 * is copied by one literal instead, made at its size (about 250 bytes). Any other client (another
 * flow's, a priority set in the registry, which arp-discover puts before the rates) is copied by
 * Object.assign, as before: the same fields and values either way, in the same order.
 */
import { hasKeys, METERED_CLIENT_KEYS } from '../allocate/client-copy';

/**
 * A client's fields as it reaches usage-store in the default flow: arp-discover's (describe(),
 * in its order), iface-counter's rates, the allocator's priority and allocation.
 */
export const PIPELINE_CLIENT_KEYS: readonly string[] = Object.freeze([...METERED_CLIENT_KEYS, 'priority', 'alloc']);

/** A new object: `c`'s fields, then `limits` and `quota`. */
export function withLimitsAndQuota(c: Record<string, unknown>, limits: unknown, quota: unknown): Record<string, unknown> {
  if (hasKeys(c, PIPELINE_CLIENT_KEYS)) {
    return {
      mac: c.mac,
      ip: c.ip,
      ip6: c.ip6,
      hostname: c.hostname,
      vendor: c.vendor,
      deviceType: c.deviceType,
      icon: c.icon,
      name: c.name,
      randomizedMac: c.randomizedMac,
      firstSeen: c.firstSeen,
      lastSeen: c.lastSeen,
      rxBps: c.rxBps,
      txBps: c.txBps,
      priority: c.priority,
      alloc: c.alloc,
      limits,
      quota,
    };
  }
  const out = Object.assign({}, c);
  out.limits = limits;
  out.quota = quota;
  return out;
}
