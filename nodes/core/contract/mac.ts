import { InputError } from './errors';

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;

/** Canonical form of a MAC address (lower case, colon separated), or null if it is not one. */
export function normalizeMac(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  if (isCanonicalMac(value)) return value;
  if (!MAC.test(value)) return null;
  return value.toLowerCase().replace(/-/g, ':');
}

const COLON = 0x3a;
/** Lower-case hex digit: 0-9, a-f. */
const hex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);

/** aa:bb:cc:dd:ee:ff exactly (what every snapshot carries): checked by char codes, several times faster than the regex per client per tick. */
export function isCanonicalMac(value: string): boolean {
  if (value.length !== 17) return false;
  for (let i = 0; i < 17; i++) {
    const c = value.charCodeAt(i);
    if (i % 3 === 2 ? c !== COLON : !hex(c)) return false;
  }
  return true;
}

/** Locally administered (bit 1 of the first octet): what phones use for private addresses. */
export function isLocallyAdministered(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 0x02) !== 0;
}

/** A client's path in a snapshot: a number is its index, written out only when an error needs it. */
export function clientPath(where: string | number): string {
  return typeof where === 'number' ? `payload.clients[${where}]` : where;
}

/**
 * The canonical MAC of `payload.clients[i]` in a snapshot, checked the same way by every node:
 * an object, with a MAC, not already in `seen` (which it joins). `hint` ends the bad-MAC message.
 */
export function clientMac(raw: unknown, where: string | number, seen: Set<string>, hint = ''): string {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(clientPath(where), 'must be an object with a "mac"');
  const value = (raw as { mac?: unknown }).mac;
  const mac = normalizeMac(value);
  if (!mac) throw new InputError(`${clientPath(where)}.mac`, `${JSON.stringify(value) ?? 'nothing'} is not a MAC address${hint}`);
  if (seen.has(mac)) throw new InputError(`${clientPath(where)}.mac`, `${mac} appears twice`);
  seen.add(mac);
  return mac;
}
