import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/**
 * Organisations, each once, in one string (or its UTF-8 bytes, read from the binary index): name i
 * is text.slice(start[i], start[i + 1] - 1), offsets in characters (or bytes).
 */
interface Names {
  text: string | Buffer;
  start: Uint32Array;
}

/** The binary index's first bytes: what it is, and which version of its layout. */
const MAGIC = 'EQOUIv1\n';
const HEADER_BYTES = 64;

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
    const { text, start } = this.names;
    return typeof text === 'string' ? text.slice(start[i], start[i + 1] - 1) : text.toString('utf8', start[i], start[i + 1] - 1);
  }

  /**
   * The index as bytes (`fromBinary` reads them back): 64 bytes of header (magic, table sizes,
   * the registry's version), the three tables' prefixes (float64) and organisation numbers
   * (uint32), the organisations' byte offsets, then their names in UTF-8. Little-endian.
   */
  toBinary(registryVersion: string): Buffer {
    const text = Buffer.from(typeof this.names.text === 'string' ? this.names.text : this.names.text.toString('utf8'), 'utf8');
    // offsets in bytes: names may hold letters outside ASCII
    const starts = new Uint32Array(this.names.start.length);
    for (let i = 0, at = 0; i + 1 < starts.length; i++) {
      at += Buffer.byteLength(this.name(i), 'utf8') + 1;
      starts[i + 1] = at;
    }
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0, 'latin1');
    this.tables.forEach((t, k) => header.writeUInt32LE(t.keys.length, 8 + 4 * k));
    header.writeUInt32LE(starts.length - 1, 20);
    header.writeUInt32LE(text.length, 24);
    header.write(registryVersion.slice(0, 32), 32, 'latin1');
    const parts: Buffer[] = [header];
    for (const t of this.tables) parts.push(Buffer.from(t.keys.buffer, t.keys.byteOffset, t.keys.byteLength));
    for (const t of this.tables) parts.push(Buffer.from(t.names.buffer, t.names.byteOffset, t.names.byteLength));
    parts.push(Buffer.from(starts.buffer), text);
    return Buffer.concat(parts);
  }

  /**
   * The index over `bytes` as `toBinary` wrote them, with no copy (the tables are views of it), or
   * null when they are not such an index or were made from another version of the registry.
   */
  static fromBinary(bytes: Buffer, registryVersion: string): OuiIndex | null {
    if (bytes.length < HEADER_BYTES || bytes.toString('latin1', 0, 8) !== MAGIC) return null;
    if (bytes.toString('latin1', 32, 64).replace(/\0+$/, '') !== registryVersion.slice(0, 32)) return null;
    // views need their elements aligned: a buffer from the shared pool is copied once
    const buf = bytes.byteOffset % 8 === 0 ? bytes : Buffer.from(bytes);
    const sizes = [0, 1, 2].map((k) => buf.readUInt32LE(8 + 4 * k));
    const nNames = buf.readUInt32LE(20);
    const textBytes = buf.readUInt32LE(24);
    const keysAt = HEADER_BYTES;
    const total = sizes.reduce((a, b) => a + b, 0);
    const namesAt = keysAt + 8 * total;
    const startsAt = namesAt + 4 * total;
    const textAt = startsAt + 4 * (nNames + 1);
    if (textAt + textBytes !== buf.length) return null;
    const index = Object.create(OuiIndex.prototype) as OuiIndex;
    let k = 0;
    const tables = sizes.map((n) => {
      const table = { keys: new Float64Array(buf.buffer, buf.byteOffset + keysAt + 8 * k, n), names: new Uint32Array(buf.buffer, buf.byteOffset + namesAt + 4 * k, n) };
      k += n;
      return table;
    });
    const names = { text: buf.subarray(textAt), start: new Uint32Array(buf.buffer, buf.byteOffset + startsAt, nNames + 1) };
    Object.assign(index, { tables, names });
    return index;
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

/** Where `npm run build` writes the binary index (scripts/build-oui.ts); shipped in the package. */
export const BINARY_INDEX_FILE = join(__dirname, '..', '..', '..', 'data', 'oui-index.bin');

/** The version of the oui-data package installed: a binary index made from another one is not used. */
export function registryVersion(): string {
  // its package.json is not exported: read beside the registry's file
  return String((JSON.parse(readFileSync(join(dirname(require.resolve('oui-data')), 'package.json'), 'utf8')) as { version?: unknown }).version ?? '?');
}

/** The index from oui-data's JSON (5 MB of text, ~90 ms): what the binary index is made from. */
export function indexFromRegistry(): OuiIndex {
  const text = readFileSync(require.resolve('oui-data'), 'utf8');
  const index = OuiIndex.fromRegistryText(text);
  // the registry's format changed under us: the plain parse, slower and larger, still works
  return index.size > 0 ? index : new OuiIndex(JSON.parse(text) as Record<string, string>);
}

/** The binary index, if it is there and made from the registry installed; else null. */
function binaryIndex(): OuiIndex | null {
  try {
    return OuiIndex.fromBinary(readFileSync(BINARY_INDEX_FILE), registryVersion());
  } catch {
    return null; // not built
  }
}

let shared: OuiIndex | null = null;

/**
 * The index, loaded once and kept, shared by every caller in the process (tests, benches, tools):
 * the binary index, else the one from the registry.
 */
export function defaultOuiIndex(): OuiIndex {
  return (shared ??= binaryIndex() ?? indexFromRegistry());
}

/**
 * What a node loads: the binary index afresh (cheap to load again), else the shared index from
 * the registry, which is kept (~90 ms to build: never built again after an idle minute).
 */
function nodeIndex(): OuiIndex {
  return binaryIndex() ?? defaultOuiIndex();
}

/** How long the vendor index stays loaded after its last lookup. */
export const OUI_IDLE_MS = 60_000;

/**
 * Vendor lookups for a long-running node: the index (1.4 MB) is loaded on the first lookup and
 * let go once no lookup came for OUI_IDLE_MS. arp-discover keeps each device's vendor, so lookups
 * come only with MACs it has not seen: in bursts at start, then rarely. Loading the binary index
 * takes about a millisecond; without it, the index built from the registry's JSON is kept for
 * good, as it always was (`nodeIndex`).
 */
export class LazyOuiIndex {
  private index: OuiIndex | null = null;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;

  constructor(
    private readonly load: () => OuiIndex = nodeIndex,
    private readonly idleMs = OUI_IDLE_MS,
    private readonly now: () => number = Date.now,
  ) {}

  get loaded(): boolean {
    return this.index !== null;
  }

  lookup(mac: string): VendorMatch | null {
    if (isLocallyAdministered(mac)) return null;
    this.index ??= this.load();
    this.last = this.now();
    if (!this.timer) this.arm(this.idleMs);
    return this.index.lookup(mac);
  }

  /** Lets the index go now (a node closing). */
  release(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.index = null;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      const idle = this.now() - this.last;
      if (idle >= this.idleMs) this.index = null;
      else this.arm(this.idleMs - idle);
    }, ms);
    this.timer.unref();
  }
}
