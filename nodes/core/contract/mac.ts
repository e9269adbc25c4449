import { InputError } from './errors';

const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const CANONICAL_MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** Canonical form of a MAC address (lower case, colon separated), or null if it is not one. */
export function normalizeMac(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  if (CANONICAL_MAC.test(value)) return value;
  if (!MAC.test(value)) return null;
  return value.toLowerCase().replace(/-/g, ':');
}

/** Locally administered (bit 1 of the first octet): what phones use for private addresses. */
export function isLocallyAdministered(mac: string): boolean {
  return (parseInt(mac.slice(0, 2), 16) & 0x02) !== 0;
}

/**
 * The canonical MAC of `payload.clients[i]` in a snapshot, checked the same way by every node:
 * an object, with a MAC, not already in `seen` (which it joins). `hint` ends the bad-MAC message.
 */
export function clientMac(raw: unknown, path: string, seen: Set<string>, hint = ''): string {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(path, 'must be an object with a "mac"');
  const value = (raw as { mac?: unknown }).mac;
  const mac = normalizeMac(value);
  if (!mac) throw new InputError(`${path}.mac`, `${JSON.stringify(value) ?? 'nothing'} is not a MAC address${hint}`);
  if (seen.has(mac)) throw new InputError(`${path}.mac`, `${mac} appears twice`);
  seen.add(mac);
  return mac;
}
