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
