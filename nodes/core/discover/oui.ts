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

/**
 * One block size's prefixes, sorted, with each one's organisation as an index into the shared
 * name list: typed arrays, not a Map of 53,000 strings (8.5 MB of heap before; ~1 MB now).
 */
interface Table {
  /** The prefix as a number (36 bits at most: exact in a double), ascending. */
  keys: Float64Array;
  /** Index of its organisation in `Names`. */
  names: Uint32Array;
}

/** Organisations, each once, in one string: name i is text.slice(start[i], start[i + 1] - 1). */
interface Names {
  text: string;
  start: Uint32Array;
}

const HEX_KEY = /^[0-9A-Fa-f]+$/;
const HEX9 = /^[0-9A-Fa-f]{9}$/;

export class OuiIndex {
  /** In LENGTHS order: MA-S, MA-M, MA-L. */
  private readonly tables: Table[];
  private readonly names: Names;

  /**
   * @param registry oui-data's format: `{ "<hex prefix>": "<Organisation>\n<address...>" }`,
   *   prefixes of 6 (MA-L), 7 (MA-M) or 9 (MA-S) hex digits. Other lengths are ignored. Or the
   *   entries themselves: [prefix, organisation] (what `fromRegistryText` finds).
   */
  constructor(registry: Record<string, string> | Iterable<[string, string]>) {
    const entries = Symbol.iterator in registry ? (registry as Iterable<[string, string]>) : Object.entries(registry);
    const byLength = new Map<number, [number, number][]>(LENGTHS.map((n) => [n, []]));
    const nameIndex = new Map<string, number>();
    for (const [key, entry] of entries) {
      const list = byLength.get(key.length);
      if (!list || typeof entry !== 'string' || !HEX_KEY.test(key)) continue;
      const name = organisationName(entry);
      let i = nameIndex.get(name);
      if (i === undefined) nameIndex.set(name, (i = nameIndex.size));
      list.push([parseInt(key, 16), i]);
    }
    this.tables = LENGTHS.map((n) => {
      // a prefix listed twice: the last one wins, as in the JSON object
      const list = byLength.get(n)!.sort((x, y) => x[0] - y[0]);
      const kept = list.filter((e, k) => k === list.length - 1 || list[k + 1][0] !== e[0]);
      return { keys: Float64Array.from(kept, (e) => e[0]), names: Uint32Array.from(kept, (e) => e[1]) };
    });
    const all = [...nameIndex.keys()];
    const start = new Uint32Array(all.length + 1);
    for (let i = 0; i < all.length; i++) start[i + 1] = start[i] + all[i].length + 1;
    // joined into one flat string: no sliced string keeps the registry's text alive
    this.names = { text: all.join('\n') + '\n', start };
  }

  /**
   * The index from oui-data's JSON text, without parsing it whole: only each entry's prefix and
   * first line (its organisation) are read, so loading makes ~55,000 short strings instead of
   * 5 MB of addresses.
   */
  static fromRegistryText(text: string): OuiIndex {
    return new OuiIndex(registryEntries(text));
  }

  get size(): number {
    return this.tables.reduce((n, t) => n + t.keys.length, 0);
  }

  private name(i: number): string {
    return this.names.text.slice(this.names.start[i], this.names.start[i + 1] - 1);
  }

  /**
   * Vendor of a normalised MAC (`aa:bb:cc:dd:ee:ff`), or null. A locally administered
   * (randomized) MAC never gets one: its first octets are chosen by the device, not the IEEE.
   */
  lookup(mac: string): VendorMatch | null {
    if (isLocallyAdministered(mac)) return null;
    // "aa:bb:cc:dd:ee:ff" -> the first 9 hex digits as a number (36 bits: exact in a double)
    const hex9 = mac.slice(0, 2) + mac.slice(3, 5) + mac.slice(6, 8) + mac.slice(9, 11) + mac[12];
    if (!HEX9.test(hex9)) return null;
    const value = parseInt(hex9, 16);
    for (let t = 0; t < LENGTHS.length; t++) {
      const n = LENGTHS[t];
      const key = Math.floor(value / 16 ** (9 - n));
      const table = this.tables[t];
      const k = indexOf(table.keys, key);
      if (k >= 0) return { vendor: this.name(table.names[k]), block: BLOCK_OF_LENGTH[n], prefix: key.toString(16).toUpperCase().padStart(n, '0') };
    }
    return null;
  }

  /** MA-L entries only, for comparison with other registries. */
  *maL(): IterableIterator<[string, string]> {
    const table = this.tables[LENGTHS.indexOf(6)];
    for (let k = 0; k < table.keys.length; k++) yield [table.keys[k].toString(16).toUpperCase().padStart(6, '0'), this.name(table.names[k])];
  }
}

/** Binary search of a sorted array: the index of `key`, or -1. */
function indexOf(keys: Float64Array, key: number): number {
  let lo = 0;
  let hi = keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = keys[mid];
    if (v === key) return mid;
    if (v < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * [prefix, organisation] of each entry of oui-data's JSON text: `"<hex>": "<Organisation>\n…"`.
 * An organisation with an escape in it (a quote, a non-ASCII letter written \uXXXX) is decoded by
 * JSON.parse; text that is not the expected shape yields nothing, and the caller falls back.
 */
export function* registryEntries(text: string): IterableIterator<[string, string]> {
  const entry = /"([0-9A-Fa-f]{6,9})"\s*:\s*"((?:[^"\\]|\\[^n])*)/g;
  for (let m = entry.exec(text); m !== null; m = entry.exec(text)) {
    const raw = m[2];
    yield [m[1], raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw];
  }
}

let shared: OuiIndex | null = null;

/**
 * The index built once from the oui-data package (5 MB of JSON), on the first lookup's demand,
 * shared by every node in the process.
 */
export function defaultOuiIndex(): OuiIndex {
  if (!shared) {
    const text = readFileSync(require.resolve('oui-data'), 'utf8');
    const index = OuiIndex.fromRegistryText(text);
    // the registry's format changed under us: the plain parse, slower and larger, still works
    shared = index.size > 0 ? index : new OuiIndex(JSON.parse(text) as Record<string, string>);
  }
  return shared;
}
