import { readFileSync } from 'node:fs';
import { isLocallyAdministered } from '../contract/mac';

/**
 * Vendor lookup in the IEEE registry. The IEEE hands out three sizes of block: MA-L (24-bit
 * prefix, the classic OUI), MA-M (28-bit) and MA-S (36-bit, and the older IAB). A small
 * manufacturer's MA-S block lies inside some other organisation's MA-L range, so the longest
 * prefix must be tried first: MA-S, then MA-M, then MA-L.
 */
export type OuiBlock = 'MA-S' | 'MA-M' | 'MA-L';

export interface VendorMatch {
  vendor: string;
  block: OuiBlock;
  /** The matched prefix, upper-case hex without separators (6, 7 or 9 digits). */
  prefix: string;
}

const BLOCK_OF_LENGTH: Record<number, OuiBlock> = { 9: 'MA-S', 7: 'MA-M', 6: 'MA-L' };
const LENGTHS = [9, 7, 6] as const;

/** The registry's organisation name: the first line of the entry (the rest is its postal address). */
export function organisationName(entry: string): string {
  const nl = entry.indexOf('\n');
  return (nl === -1 ? entry : entry.slice(0, nl)).trim();
}

export class OuiIndex {
  /** One map per prefix length; keys are upper-case hex. */
  private readonly byLength = new Map<number, Map<string, string>>(LENGTHS.map((n) => [n, new Map<string, string>()]));
  /** The same maps in LENGTHS order, for the hot path. */
  private readonly maps = LENGTHS.map((n) => this.byLength.get(n)!);

  /**
   * @param registry oui-data's format: `{ "<hex prefix>": "<Organisation>\n<address...>" }`,
   *   prefixes of 6 (MA-L), 7 (MA-M) or 9 (MA-S) hex digits. Other lengths are ignored.
   */
  constructor(registry: Record<string, string>) {
    for (const [key, entry] of Object.entries(registry)) {
      const map = this.byLength.get(key.length);
      if (!map || typeof entry !== 'string' || !/^[0-9A-Fa-f]+$/.test(key)) continue;
      map.set(key.toUpperCase(), organisationName(entry));
    }
  }

  get size(): number {
    let n = 0;
    for (const map of this.byLength.values()) n += map.size;
    return n;
  }

  /**
   * Vendor of a normalised MAC (`aa:bb:cc:dd:ee:ff`), or null. A locally administered
   * (randomized) MAC never gets one: its first octets are chosen by the device, not the IEEE.
   */
  lookup(mac: string): VendorMatch | null {
    if (isLocallyAdministered(mac)) return null;
    // "aa:bb:cc:dd:ee:ff" -> "AABBCCDDE": the 9 hex digits the longest block needs
    const u = mac.toUpperCase();
    const hex9 = u.slice(0, 2) + u.slice(3, 5) + u.slice(6, 8) + u.slice(9, 11) + u[12];
    for (let i = 0; i < LENGTHS.length; i++) {
      const n = LENGTHS[i];
      const prefix = hex9.slice(0, n);
      const vendor = this.maps[i].get(prefix);
      if (vendor !== undefined) return { vendor, block: BLOCK_OF_LENGTH[n], prefix };
    }
    return null;
  }

  /** MA-L entries only, for comparison with other registries. */
  *maL(): IterableIterator<[string, string]> {
    yield* this.byLength.get(6)!.entries();
  }
}

let shared: OuiIndex | null = null;

/**
 * The index built once from the oui-data package (5 MB of JSON, ~60 ms to load), shared by every
 * node in the process.
 */
export function defaultOuiIndex(): OuiIndex {
  if (!shared) {
    const file = require.resolve('oui-data');
    shared = new OuiIndex(JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>);
  }
  return shared;
}
