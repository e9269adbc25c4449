/**
 * iface-counter's behaviour without Node-RED: validate the snapshot, keep the kernel's counters in
 * step with its clients, read them, and turn them into rates per client and for the interface.
 */
import { clientAddresses, snapshotClients } from '../contract/message';
import { RateMeter, type MeterOptions } from './counters';
import { InputError } from '../contract/errors';
import { ifaceNameProblem } from '../contract/iface';
import { InterfaceMissingError, type IfaceCounters } from './iface-stats';
import { commandReader, type KernelReader } from './kernel-reader';
import { clientMac, normalizeMac } from '../contract/mac';
import { isIPv4, isIPv6 } from '../contract/ip';
import { addressKey, DEFAULT_MAX_ELEMENTS, NftAccounting, setBounds, type ElementCounter, type TableCounters } from './nft-accounting';
import { CommandError, type CommandRunner } from '../runner';
import type { Client, Snapshot } from '../contract/types';

export interface MeteringOptions {
  iface: string;
  /** Create the nft table for per-client counters (needs root / CAP_NET_ADMIN). */
  perClient: boolean;
  /** EWMA time constant, s; 0 = off. */
  smoothingS: number;
  /**
   * Clients counted per client at most (the config's client cap, default 1,024): the nft sets hold
   * this many IPv4 and four times as many IPv6 addresses. Clients beyond it, in snapshot order, get
   * `rxBps: null` and a warning; a snapshot from anywhere cannot grow the kernel's sets past it.
   */
  maxClients?: number;
  /** How often to look for flowtables, and to retry nft after it was missing or refused. */
  recheckMs?: number;
  meter?: Partial<Omit<MeterOptions, 'smoothingS'>>;
}

export interface MeteringDeps {
  runner: CommandRunner;
  /**
   * A faster way to read the same counters (the netlink reader, when Node-RED runs in the
   * router's namespace). Without it, or after it failed, counters are read with nft and ip.
   */
  reader?: KernelReader | null;
  /** Monotonic ms (performance.now): elapsed time between reads. */
  now: () => number;
}

/**
 * How per-client rates were obtained this tick:
 * nft: counted in the kernel; off: the setting is off; unavailable: nft missing, refused or failing.
 */
export type PerClientSource = 'nft' | 'off' | 'unavailable';

export interface Metering {
  perClient: PerClientSource;
  /** What limits the numbers, in words a user can act on; null when nothing does. */
  warning: string | null;
  /** The interface's operstate (UP, DOWN, …), null if it could not be read. */
  ifaceState: string | null;
  /** How the counters were read this tick: over netlink in-process, or with the nft and ip commands. */
  via: KernelReader['via'];
}

/** A client as iface-counter sends it: rates are null where they are unknown (see `metering`). */
export type MeteredClient = Omit<Client, 'rxBps' | 'txBps'> & { rxBps: number | null; txBps: number | null };
export interface MeteredSnapshot extends Omit<Snapshot, 'totals' | 'clients'> {
  iface: string;
  totals: { rxBps: number | null; txBps: number | null };
  clients: MeteredClient[];
  metering: Metering;
}

export const PER_CLIENT_OFF_HINT = 'per-client rates off: turn on "Per client" in iface-counter (needs root or CAP_NET_ADMIN)';
const DEFAULT_RECHECK_MS = 30_000;

/**
 * A snapshot checked by validateSnapshot, with its clients' address keys laid out flat: client i's
 * are `keys[keyStart[i]]` up to `keys[keyStart[i + 1] - 1]` (no array and no object per client).
 */
export interface ValidSnapshot {
  snapshot: Snapshot;
  /** The snapshot's clients, in its order (its own array: read only). */
  clients: readonly Client[];
  /** Canonical keys of the clients' addresses (addressKey), client after client. */
  keys: string[];
  /** The same addresses as the clients spell them (what nft is given), `keys` index for index. */
  addresses: string[];
  keyStart: Int32Array;
}

/**
 * Which client of the snapshot being checked holds a key (a MAC, an address key): a Map kept from
 * one check to the next, entries of an earlier check counting as absent (its values are
 * `base + index`, small integers). A new Map and Set a tick, grown entry by entry, were a third of
 * the check's garbage. Bounded: entries of earlier checks are dropped once there are more than
 * twice the current snapshot's (plus 256), and all of them when the numbering wraps.
 */
export class ClaimTable {
  private readonly map = new Map<string, number>();
  private base = 0;
  private next = 0;
  private readonly dropOld = (v: number, key: string): void => {
    if (v < this.base) this.map.delete(key);
  };

  /** A new check of `n` clients. */
  begin(n: number): void {
    if (this.next + n >= 2 ** 30) {
      this.map.clear();
      this.next = 0;
    }
    this.base = this.next;
    this.next += n;
    if (this.map.size > 2 * n + 256) this.map.forEach(this.dropOld);
  }

  get(key: string): number | undefined {
    const v = this.map.get(key);
    return v === undefined || v < this.base ? undefined : v - this.base;
  }

  set(key: string, index: number): void {
    this.map.set(key, this.base + index);
  }

  /** Entries held, this check's and earlier ones' (for the bound's test). */
  get size(): number {
    return this.map.size;
  }
}

// validateSnapshot is synchronous and keeps nothing in these past its return: one pair serves every call.
const macOwners = new ClaimTable();
const addressOwners = new ClaimTable();

/**
 * IPv6 addresses already found valid: a router's clients bring the same ones every tick, and
 * isIPv6 splits each one into strings. Bounded (cleared when full), as addressKey's cache is.
 */
const validIPv6 = new Set<string>();

function isKnownIPv6(a: string): boolean {
  if (validIPv6.has(a)) return true;
  if (!isIPv6(a)) return false;
  if (validIPv6.size >= 65_536) validIPv6.clear();
  validIPv6.add(a);
  return true;
}

/**
 * Whether a client's addresses pass clientAddresses's checks, looked at in place (no path, no
 * copies): the usual case. Anything else goes to clientAddresses, which says what is wrong.
 */
function addressesValid(c: { ip?: unknown; ip6?: unknown }): boolean {
  const ip = c.ip;
  if (ip !== undefined && ip !== null && (typeof ip !== 'string' || !isIPv4(ip))) return false;
  const ip6 = c.ip6;
  if (ip6 === undefined || ip6 === null) return true;
  if (!Array.isArray(ip6)) return false;
  for (let j = 0; j < ip6.length; j++) {
    const a: unknown = ip6[j];
    if (typeof a !== 'string' || !isKnownIPv6(a)) return false;
  }
  return true;
}

const NO_ADDRESSES: readonly string[] = Object.freeze([]);

/**
 * The snapshot from arp-discover, checked completely before anything is counted: a MAC for
 * every client (once), addresses that are IPv4 / IPv6 (the same checks arp-discover uses), and
 * no address claimed by two clients (its bytes would be counted twice).
 */
export function validateSnapshot(payload: unknown): ValidSnapshot {
  const list = snapshotClients(payload) as Client[];
  const p = payload as Record<string, unknown> & { clients: unknown[] };
  const n = list.length;
  macOwners.begin(n);
  addressOwners.begin(n);
  // sized once for every address the clients may have (grown push by push, the two arrays were
  // most of the check's garbage), cut to what they hold at the end
  let most = 0;
  for (let i = 0; i < n; i++) {
    const ip6 = (list[i] as { ip6?: unknown } | null)?.ip6;
    most += 1 + (Array.isArray(ip6) ? ip6.length : 0);
  }
  const keys = new Array<string>(most);
  const addresses = new Array<string>(most);
  let count = 0;
  const keyStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    keyStart[i] = count;
    const c = list[i];
    const mac = c && typeof c === 'object' && !Array.isArray(c) ? normalizeMac(c.mac) : null;
    if (mac === null || macOwners.get(mac) !== undefined) {
      // says what is wrong, in the words of the contract's check
      clientMac(c, i, new Set(mac === null ? [] : [mac]));
    }
    macOwners.set(mac!, i);
    let ip: string | null;
    let ip6: readonly string[];
    if (addressesValid(c)) {
      ip = c.ip ?? null;
      ip6 = c.ip6 ?? NO_ADDRESSES;
    } else ({ ip, ip6 } = clientAddresses(c, `payload.clients[${i}]`));
    for (let j = ip === null ? 0 : -1; j < ip6.length; j++) {
      const a = j < 0 ? ip! : ip6[j];
      const key = addressKey(a);
      const other = addressOwners.get(key);
      if (other === undefined) {
        addressOwners.set(key, i);
        keys[count] = key;
        addresses[count] = a;
        count++;
      } else if (other !== i) throw new InputError(`payload.clients[${i}]`, `address ${a} also belongs to payload.clients[${other}]`);
    }
  }
  keyStart[n] = count;
  keys.length = count;
  addresses.length = count;
  return { snapshot: p as unknown as Snapshot, clients: list, keys, addresses, keyStart };
}

function problemOf(err: unknown): { kind: CommandError['kind'] | 'other'; message: string } {
  if (err instanceof CommandError) return { kind: err.kind, message: err.message };
  return { kind: 'other', message: (err as Error)?.message ?? String(err) };
}

/** The key list of one shape of client, and an object of that shape (values null) with the two rates. */
interface ClientShape {
  keys: string[];
  template: Record<string, unknown>;
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Whether `o` enumerates exactly `keys`, its own, in that order (for-in: no array made). */
function hasKeys(o: object, keys: readonly string[]): boolean {
  let i = 0;
  for (const k in o) {
    if (i >= keys.length || keys[i] !== k || !own(o, k)) return false;
    i++;
  }
  return i === keys.length;
}

/**
 * The clients iface-counter sends: each a copy of the snapshot's client with its two rates,
 * `Object.assign({}, client)` then `rxBps` and `txBps` set. Objects of one shape share V8's hidden
 * class: `{ ...client, rxBps, txBps }` gave most clients a class of their own, which slowed every
 * later read of their fields in every node after this one (the allocator at 10,000 such clients:
 * 11-18 ms against 5.8-6.7 ms; docs/performance.md).
 *
 * Made field by field, a copy's property store grows several times over (about 450 bytes a client
 * for arp-discover's fourteen fields). A client whose keys are those of a shape seen before (a plain
 * object, same keys, same order: nearly every client) is instead copied onto a clone of that
 * shape's template, made in one piece: the same keys in the same order, the same values, the same
 * hidden class, half the bytes. At most four shapes are kept.
 */
class ClientCopies {
  private readonly shapes: ClientShape[] = [];
  private nextSlot = 0;

  withRates(client: Record<string, unknown>, rxBps: number | null, txBps: number | null): MeteredClient {
    const shape = this.shapeOf(client);
    const out = (shape ? Object.assign({ ...shape.template }, client) : Object.assign({}, client)) as MeteredClient;
    out.rxBps = rxBps;
    out.txBps = txBps;
    return out;
  }

  private shapeOf(client: object): ClientShape | null {
    if (Object.getPrototypeOf(client) !== Object.prototype) return null;
    for (const shape of this.shapes) if (hasKeys(client, shape.keys)) return shape;
    const keys: string[] = [];
    for (const k in client) {
      if (!own(client, k) || keys.length >= 64) return null;
      keys.push(k);
    }
    const template: Record<string, unknown> = {};
    for (const k of keys) template[k] = null;
    template.rxBps = null;
    template.txBps = null;
    const shape = { keys, template };
    this.shapes[this.nextSlot] = shape;
    this.nextSlot = (this.nextSlot + 1) % 4;
    return shape;
  }
}

/** Adds rates where both are known; null only when neither is. */
const addRate = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : a + b);

export class MeteringCore {
  readonly iface: string;
  /** Per address key: what the client downloads (the LAN interface sends) and uploads. */
  private readonly downMeter: RateMeter;
  private readonly upMeter: RateMeter;
  private readonly ifaceMeter: RateMeter;
  private readonly nft: NftAccounting | null;
  private nftProblem: { kind: string; message: string } | null = null;
  private nftRetryAt = 0;
  private flowtableCheckAt = 0;
  private flowtables: string[] = [];
  private readonly recheckMs: number;
  private readonly maxClients: number;
  /** Clients of the last snapshot not counted because the sets were full. */
  private overCap = 0;
  private busy: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** The commands path, always there; `reader` is the one in use (the faster one while it works). */
  private readonly commands: KernelReader;
  private reader: KernelReader;
  /** Why the faster reader was given up, once; null while it works (or there never was one). */
  private readerFailure: string | null = null;
  private readonly copies = new ClientCopies();

  constructor(
    options: MeteringOptions,
    private readonly deps: MeteringDeps,
  ) {
    const problem = ifaceNameProblem(options.iface);
    if (problem) throw new Error(`interface ${problem}`);
    if (!(options.smoothingS >= 0 && options.smoothingS <= 3600)) throw new Error(`smoothing must be from 0 to 3600 s, got ${options.smoothingS}`);
    this.iface = options.iface;
    this.downMeter = new RateMeter({ ...options.meter, smoothingS: options.smoothingS });
    this.upMeter = new RateMeter({ ...options.meter, smoothingS: options.smoothingS });
    this.ifaceMeter = new RateMeter({ ...options.meter, smoothingS: options.smoothingS });
    this.maxClients = options.maxClients ?? DEFAULT_MAX_ELEMENTS;
    this.nft = options.perClient ? new NftAccounting(deps.runner, options.iface, deps.now, this.maxClients) : null;
    this.recheckMs = options.recheckMs ?? DEFAULT_RECHECK_MS;
    this.commands = commandReader(deps.runner);
    this.reader = deps.reader ?? this.commands;
  }

  /** Why the netlink reader was given up (null if it is in use or there was none). */
  get fallbackReason(): string | null {
    return this.readerFailure;
  }

  /**
   * `work` with the current reader. A failure of the faster one (anything but a missing
   * interface) switches to the commands for good, which then get their say: a real problem
   * (no privilege, nft missing) is reported by them, in the words the user can act on.
   */
  private async withReader<T>(work: (reader: KernelReader) => Promise<T>): Promise<T> {
    const reader = this.reader;
    if (reader === this.commands) return work(reader);
    try {
      return await work(reader);
    } catch (err) {
      if (err instanceof InterfaceMissingError) throw err;
      if (this.reader === reader) {
        this.readerFailure = `${reader.via} read failed (${(err as Error).message}), reading with nft and ip from now on`;
        this.reader = this.commands;
        reader.close();
      }
      return work(this.commands);
    }
  }

  /** One at a time: ticks that arrive while one runs wait their turn. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.busy.then(work, work);
    this.busy = next.catch(() => undefined);
    return next;
  }

  /**
   * Creates the table (empty) and takes a first reading, so that the first snapshot already has
   * rates. Problems are not thrown: they show in the next tick's `metering`.
   */
  start(): Promise<void> {
    return this.serial(async () => {
      await this.prepareNft([]);
      const read = await this.readIface().catch(() => null);
      if (read) this.meterIface(read);
    });
  }

  /** Validates `payload` (throws InputError before anything happens), then counts. */
  tick(payload: unknown): Promise<MeteredSnapshot> {
    const input = validateSnapshot(payload);
    return this.serial(() => this.count(input));
  }

  private prime = (key: string, atMs: number, epoch: number) => {
    this.downMeter.prime(key, 0, atMs, epoch);
    this.upMeter.prime(key, 0, atMs, epoch);
  };

  /** Brings the table in step with `addresses`; false when per-client counting is not possible now. */
  private async prepareNft(addresses: string[]): Promise<boolean> {
    if (!this.nft || this.closed) return false;
    const now = this.deps.now();
    if (this.nftProblem && (this.nftProblem.kind === 'missing' || this.nftProblem.kind === 'permission') && now < this.nftRetryAt) return false;
    try {
      await this.nft.sync(addresses, this.prime);
      this.nftProblem = null;
      if (now >= this.flowtableCheckAt) {
        this.flowtableCheckAt = now + this.recheckMs;
        // a failed look does not stop counting; the flowtables found last time stay reported
        this.flowtables = await this.nft.flowtables().catch(() => this.flowtables);
      }
      return true;
    } catch (err) {
      this.nftProblem = problemOf(err);
      this.nftRetryAt = now + this.recheckMs;
      return false;
    }
  }

  private async readNft(): Promise<{ counters: TableCounters; atMs: number } | null> {
    if (!this.nft || this.nftProblem) return null;
    const before = this.deps.now();
    try {
      const counters = await this.withReader((reader) => this.nft!.read(reader));
      return counters ? { counters, atMs: (before + this.deps.now()) / 2 } : null;
    } catch (err) {
      this.nftProblem = problemOf(err);
      this.nftRetryAt = this.deps.now() + this.recheckMs;
      return null;
    }
  }

  private async readIface(): Promise<{ stats: IfaceCounters; atMs: number }> {
    const before = this.deps.now();
    const stats = await this.withReader((reader) => reader.readLink(this.iface));
    return { stats, atMs: (before + this.deps.now()) / 2 };
  }

  /**
   * The addresses that fit in the sets, clients taken in snapshot order (arp-discover puts the cap's
   * choice first); the clients left out are not counted per client.
   */
  private bounded(input: ValidSnapshot): ValidSnapshot {
    const bounds = setBounds(this.maxClients);
    let v4 = 0;
    let v6 = 0;
    let all4 = 0;
    for (let k = 0; k < input.keys.length; k++) if (!input.keys[k].includes(':')) all4++;
    // everything fits: every client is counted
    if (input.clients.length <= this.maxClients && all4 <= bounds[4] && input.keys.length - all4 <= bounds[6]) {
      this.overCap = 0;
      return input;
    }
    // the counted clients' keys only (given to nft as they are: a key is an address)
    const keys: string[] = [];
    const keyStart = new Int32Array(input.clients.length + 1);
    let counted = 0;
    let over = 0;
    for (let i = 0; i < input.clients.length; i++) {
      keyStart[i] = keys.length;
      const its = input.keys.slice(input.keyStart[i], input.keyStart[i + 1]);
      const n4 = its.filter((k) => !k.includes(':')).length;
      const n6 = its.length - n4;
      if (its.length === 0) continue;
      if (counted >= this.maxClients || v4 + n4 > bounds[4] || v6 + n6 > bounds[6]) {
        over++;
        continue;
      }
      counted++;
      v4 += n4;
      v6 += n6;
      keys.push(...its);
    }
    keyStart[input.clients.length] = keys.length;
    this.overCap = over;
    return { ...input, keys, addresses: keys, keyStart };
  }

  private async count(full: ValidSnapshot): Promise<MeteredSnapshot> {
    const input = this.bounded(full);
    const nftReady = await this.prepareNft(input.addresses);
    const [ifaceRead, nftRead] = await Promise.all([
      this.readIface().then(
        (r) => ({ ok: r, err: null }),
        (err: Error) => ({ ok: null, err }),
      ),
      nftReady ? this.readNft() : Promise.resolve(null),
    ]);
    // flushed underneath: repair now, so the next tick already has a rate (this one holds the last)
    if (nftReady && this.nft!.incomplete(input.addresses)) await this.prepareNft(input.addresses);
    return this.compute(input, ifaceRead.ok, ifaceRead.err, nftRead);
  }

  /** Seen from the clients: what the interface sends is their download. */
  private meterIface({ stats, atMs }: { stats: IfaceCounters; atMs: number }): MeteredSnapshot['totals'] {
    return {
      rxBps: this.ifaceMeter.update('tx', stats.txBytes, atMs, stats.ifindex).bps,
      txBps: this.ifaceMeter.update('rx', stats.rxBytes, atMs, stats.ifindex).bps,
    };
  }

  /** Counters → rates → the output snapshot. Synchronous: this is what the bench times as "computation". */
  compute(
    input: ValidSnapshot,
    ifaceRead: { stats: IfaceCounters; atMs: number } | null,
    ifaceError: Error | null,
    nftRead: { counters: TableCounters; atMs: number } | null,
  ): MeteredSnapshot {
    const totals = ifaceRead ? this.meterIface(ifaceRead) : { rxBps: null, txBps: null };

    const perClient: PerClientSource = !this.nft ? 'off' : nftRead ? 'nft' : 'unavailable';
    // the meters forget the counters of clients that left: those not read or held this round
    this.downMeter.beginRound();
    this.upMeter.beginRound();
    // this runs for every address of every client each tick: the meters are keyed by the address
    // key itself, so no key string is built per address
    const rate = (meter: RateMeter, counters: Map<string, ElementCounter> | undefined, key: string): number | null => {
      const counter = counters?.get(key);
      // not read (nft unavailable this tick) or flushed underneath (re-added at the next tick): hold
      if (!nftRead || !counter) return meter.hold(key);
      return meter.updateBps(key, counter.bytes, nftRead.atMs, this.nft!.epochOf(key));
    };
    const sets = nftRead?.counters;
    const { keys, keyStart } = input;
    const clients = input.clients.map((client, i): MeteredClient => {
      if (perClient === 'off' || keyStart[i] === keyStart[i + 1]) return this.copies.withRates(client, null, null);
      let rx: number | null = null;
      let tx: number | null = null;
      for (let k = keyStart[i]; k < keyStart[i + 1]; k++) {
        const key = keys[k];
        const v4 = !key.includes(':');
        rx = addRate(rx, rate(this.downMeter, v4 ? sets?.down4 : sets?.down6, key));
        tx = addRate(tx, rate(this.upMeter, v4 ? sets?.up4 : sets?.up6, key));
      }
      // a client without addresses cannot be counted (above); one whose counters exist but moved nothing is 0
      return this.copies.withRates(client, rx, tx);
    });
    if (perClient === 'nft') {
      this.downMeter.retainRound();
      this.upMeter.retainRound();
    }

    return {
      ...input.snapshot,
      iface: this.iface,
      totals,
      clients,
      metering: { perClient, warning: this.warning(ifaceError), ifaceState: ifaceRead?.stats.operstate ?? null, via: this.reader.via },
    };
  }

  private warning(ifaceError: Error | null): string | null {
    const parts: string[] = [];
    if (ifaceError) parts.push(`interface counters unreadable: ${ifaceError.message}`);
    if (!this.nft) parts.push(PER_CLIENT_OFF_HINT);
    else if (this.nftProblem) {
      const { kind, message } = this.nftProblem;
      if (kind === 'missing') parts.push(`interface rates only: nft is not installed (Debian package nftables)`);
      else if (kind === 'permission') parts.push(`interface rates only: no privilege for nft (run Node-RED as root or give it CAP_NET_ADMIN)`);
      else parts.push(`per-client counters failed, interface rates only this tick: ${message}`);
    }
    if (this.nft && this.overCap > 0) {
      parts.push(`${this.overCap} client${this.overCap === 1 ? '' : 's'} beyond the cap of ${this.maxClients} not counted per client`);
    }
    if (this.nft && this.flowtables.length > 0) {
      parts.push(`flow offloading is on (flowtable ${this.flowtables.join(', ')}): offloaded traffic bypasses the counters, per-client rates are too low`);
    }
    return parts.length > 0 ? parts.join('; ') : null;
  }

  /** Removes the table (the only kernel object this node made). Waits for a tick in progress. */
  close(): Promise<void> {
    this.closed = true;
    return this.serial(async () => {
      try {
        await this.nft?.remove();
      } finally {
        this.reader.close();
      }
    });
  }
}
