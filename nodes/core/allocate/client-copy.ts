/**
 * The client priority-allocator sends on: a copy of the client it received with its canonical
 * `mac`, its `priority` and its `alloc` (the client received is not changed: the message it came
 * in may still be read).
 *
 * Object.assign onto `{}` grows the copy's property store a few fields at a time: a client of the
 * pipeline (15 fields once allocated) left stores behind and cost about 250 bytes before its
 * allocation (bench/garbage). A client with the fields iface-counter sends, in their order, is
 * copied by one literal instead, made at its size. Any other client (another flow's, one with a
 * priority from the registry, which arp-discover puts before the rates) is copied by
 * Object.assign: the same fields and values either way, in the same order.
 */
import type { Client, ClientAlloc } from '../contract/types';

/** A client's fields as iface-counter sends it: arp-discover's (its describe(), in its order), then the two rates. */
export const METERED_CLIENT_KEYS: readonly string[] = Object.freeze([
  'mac',
  'ip',
  'ip6',
  'hostname',
  'vendor',
  'deviceType',
  'icon',
  'name',
  'randomizedMac',
  'firstSeen',
  'lastSeen',
  'rxBps',
  'txBps',
]);

/**
 * Whether `c`'s own enumerable fields are exactly `keys`, in that order (symbols: none). A plain
 * object's for...in lists its own fields (then any enumerable ones of Object.prototype: a
 * mismatch); the prototype is checked once rather than each field's ownership (five times slower).
 */
export function hasKeys(c: object, keys: readonly string[]): boolean {
  if (Object.getPrototypeOf(c) !== Object.prototype) return false;
  let i = 0;
  for (const key in c) {
    if (key !== keys[i++]) return false;
  }
  return i === keys.length && Object.getOwnPropertySymbols(c).length === 0;
}

/** A new object: `c`'s fields with `mac`, `priority` and `alloc` set (the last two added after the others when `c` has none). */
export function allocatedClient(c: Client, mac: string, priority: number, alloc: ClientAlloc): Client {
  if (hasKeys(c, METERED_CLIENT_KEYS)) {
    return {
      mac,
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
      priority,
      alloc,
    };
  }
  const out: Client = Object.assign({}, c);
  out.mac = mac;
  out.priority = priority;
  out.alloc = alloc;
  return out;
}
