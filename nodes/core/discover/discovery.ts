import { COMMAND_NAMES } from '../contract/limits';
import { priorityProblem } from '../contract/message';
import { DeviceTypeTable, UNKNOWN_DEVICE, type DeviceType } from './device-type';
import { InputError } from '../contract/errors';
import { ifaceNameProblem } from '../contract/iface';
import { isIPv4, isIPv6, isLinkLocalIPv6 } from '../contract/ip';
import { hostnameFromLeases, parseDnsmasqLeases, type ParsedLeases } from './leases';
import { isLocallyAdministered, normalizeMac } from '../contract/mac';
import { neighbourEntries, neighboursOf, NeighbourTracker, type Neighbour, type TrackedNeighbour } from './neighbours';
import { InterfaceMissingError } from '../meter/iface-stats';
import type { OuiIndex } from './oui';
import { allNodesPingArgv, arpScanArgv, parseArpScan, parseGetentHosts, parseIPv4Prefixes, parsePingReplies, SWEEP_MIN_PREFIX } from './probe';
import { CommandError, runChecked, type CommandRunner } from '../runner';

/** A device on the LAN, as arp-discover puts it in `payload.clients`. */
export interface DiscoveredClient {
  mac: string;
  /** IPv4 address, or null for an IPv6-only device. */
  ip: string | null;
  /** Routable IPv6 addresses (global and ULA; link-local ones never cross the router). */
  ip6: string[];
  hostname: string | null;
  /** IEEE registry organisation; null for a randomized MAC or an unregistered prefix. */
  vendor: string | null;
  deviceType: string;
  /** Font Awesome 4.7 icon name. */
  icon: string;
  /** Friendly name set with a `device` command, or null. */
  name: string | null;
  randomizedMac: boolean;
  /** Set only when a `device` command gave this MAC a priority. */
  priority?: number;
  /** Unix ms: first time this run saw it present, last evidence that it is there. */
  firstSeen: number;
  lastSeen: number;
}

export interface DiscoverySnapshot {
  ts: number;
  iface: string;
  clients: DiscoveredClient[];
  /** Present only when more devices were present than the client cap: who was left out. */
  capped?: CapReport;
  /** Present only when new MACs were held back by the per-minute limit at this scan. */
  limited?: LimitReport;
}

/** `limit`: the client cap; `seen`: devices present; `left`: present but not in `clients`. */
export interface CapReport {
  limit: number;
  seen: number;
  left: number;
}

/** `perMinute`: the new-MAC limit; `ignored`: new MACs held back at this scan (seen again later, they are counted again). */
export interface LimitReport {
  perMinute: number;
  ignored: number;
}

export type PresenceEventKind = 'joined' | 'left';

export interface PresenceEvent {
  event: PresenceEventKind;
  ts: number;
  iface: string;
  client: DiscoveredClient;
  /** True for the clients found by the first scan after a (re)start: already there, not arriving. */
  initial: boolean;
}

export interface ScanResult {
  snapshot: DiscoverySnapshot;
  events: PresenceEvent[];
  /** Things that degraded the scan without stopping it (leases unreadable, probe missing, ...). */
  warnings: string[];
}

/** What a `device` command may set per MAC. */
export interface DeviceSettings {
  name?: string;
  priority?: number;
  deviceType?: string;
  icon?: string;
}

export interface DiscoveryOptions {
  iface: string;
  /** Ask the LAN actively (arp-scan, ping ff02::1) so silent devices show up. */
  probe: boolean;
  probeIntervalMs: number;
  /** A client with no sign of life for this long is marked gone. */
  absenceMs: number;
  /** dnsmasq leases file; '' for none. */
  leasesFile: string;
  reverseDns: boolean;
  maxPriority: number;
  deviceTypes: DeviceTypeTable;
  /** At most this many clients in a snapshot (the config's client cap); default 1,024. */
  clientCap?: number;
  /** At most this many MACs never seen before are taken in per minute; default 60. */
  newMacsPerMinute?: number;
}

/** What says a file changed: another file (inode), another size, modification or change time. */
export interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/**
 * A file modified this recently may change again within its timestamp's granularity without its
 * stamp changing (git's "racy" files): it is read again until its stamp is older than this.
 */
const RACY_MS = 2_000;

export interface DiscoveryDeps {
  runner: CommandRunner;
  /**
   * Reads the neighbour table of an interface without a process (netlink, in Node-RED's own
   * namespace): entries as `ip -j -s neigh show dev IFACE` prints them. Without it, or when it
   * fails for another reason than a missing interface, `ip` is run.
   */
  readNeighbours?: (iface: string) => Promise<readonly unknown[]>;
  readFile: (path: string) => Promise<string>;
  /**
   * The leases file's identity and version, to read it only when it changed (the file changes
   * when a lease does, not every tick). Without it, the file is read every scan.
   */
  statFile?: (path: string) => Promise<FileStamp>;
  now: () => number;
  oui: Pick<OuiIndex, 'lookup'>;
}

/**
 * What is known of a MAC whose presence is tracked (bounded by trackLimitFor(clientCap)): its
 * presence, and what the last client made for it was made from, so that a tick rebuilds only
 * what changed.
 */
interface Presence {
  mac: string;
  firstSeen: number;
  lastSeen: number;
  present: boolean;
  /**
   * The kernel confirmed it at least once (REACHABLE, DELAY, PROBE, PERMANENT) or it answered a
   * probe. A MAC only ever listed STALE is what `ip neigh add ... nud stale` or one ARP request
   * leaves behind: it is gone after STALE_ONLY_ABSENCE_MS, not after the full absence time.
   */
  confirmed: boolean;
  /** Number of the last snapshot that listed it (-1: none yet); in the last one, it keeps its place at the cap boundary (no flapping). */
  inSnapshot: number;
  /** This scan's entries (a present MAC's, during a scan only). */
  entries: readonly Neighbour[];
  /** Made once per MAC, when it is first described: its vendor never changes. */
  described: Described | null;
}

/** What a client's fields were computed from last time, and the fields (see Discovery.clientOf). */
interface Described {
  vendor: string | null;
  randomizedMac: boolean;
  /** The addresses `ip` and `ip6` were computed from: the entries' addresses, in their order. */
  addresses: string[];
  ip: string | null;
  /** Shared by the clients of every tick until the addresses change: never changed once made. */
  ip6: string[];
  /** The hostname `guess` was made for (undefined: none yet). */
  guessedFor: string | null | undefined;
  guess: DeviceType;
}

/** What a scan saw, before its clients are made (see Discovery.observe). */
interface Observation {
  t: number;
  initial: boolean;
  /** Present and within the cap: the clients to make. */
  admitted: Presence[];
  /** How many were present. */
  present: number;
  ignored: number;
  left: PresenceEvent[];
}

const NO_ENTRIES: readonly Neighbour[] = Object.freeze([]);
const NO_NAMES: ReadonlyMap<string, string> = new Map();

const COMMAND_TIMEOUT_MS = 5_000;
const DNS_TIMEOUT_MS = 1_000;
const DNS_CACHE_MS = 10 * 60_000;
const DNS_CACHE_MAX = 4096;
const TEXT_LIMIT = 64;
const FORGET_AFTER_MS = 7 * 24 * 3600_000;
/** Presence of a MAC the kernel never confirmed lasts at most this long (see Presence.confirmed). */
export const STALE_ONLY_ABSENCE_MS = 60_000;
const RATE_WINDOW_MS = 60_000;
/** Device settings (names, priorities) and registry MACs kept at most: the largest client cap. */
export const DEVICES_MAX = 4096;

export const DISCOVERY_LIMITS = Object.freeze({
  minAbsenceMs: 1_000,
  maxAbsenceMs: 24 * 3600_000,
  minProbeIntervalMs: 1_000,
  maxProbeIntervalMs: 3600_000,
  minClientCap: 1,
  maxClientCap: 4096,
  defaultClientCap: 1024,
  minNewMacsPerMinute: 1,
  maxNewMacsPerMinute: 10_000,
  defaultNewMacsPerMinute: 60,
});

/**
 * MACs whose presence is tracked at most (present and recently absent): four times the cap, and
 * at least 1,024. Absent ones are forgotten oldest first when it is full; when every tracked MAC
 * is present, new ones wait (counted as held back).
 */
export const trackLimitFor = (clientCap: number): number => Math.max(1024, 4 * clientCap);

function textProblem(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > TEXT_LIMIT || /[\u0000-\u001f]/.test(value)) {
    return `must be text of at most ${TEXT_LIMIT} characters without control characters`;
  }
  return null;
}

/** Validates the options the node reads from the editor; throws an Error saying what to fix. */
export function checkDiscoveryOptions(o: DiscoveryOptions): DiscoveryOptions {
  const iface = ifaceNameProblem(o.iface);
  if (iface) throw new InputError('iface', `${iface}; choose the LAN interface in the EqualNet config`);
  if (!Number.isFinite(o.absenceMs) || o.absenceMs < DISCOVERY_LIMITS.minAbsenceMs || o.absenceMs > DISCOVERY_LIMITS.maxAbsenceMs) {
    throw new InputError('absence', `must be from ${DISCOVERY_LIMITS.minAbsenceMs / 1000} s to 24 h`);
  }
  if (!Number.isFinite(o.probeIntervalMs) || o.probeIntervalMs < DISCOVERY_LIMITS.minProbeIntervalMs || o.probeIntervalMs > DISCOVERY_LIMITS.maxProbeIntervalMs) {
    throw new InputError('probeInterval', `must be from ${DISCOVERY_LIMITS.minProbeIntervalMs / 1000} s to 1 h`);
  }
  if (o.leasesFile.includes('\0')) throw new InputError('leasesFile', 'must not contain NUL characters');
  const cap = o.clientCap ?? DISCOVERY_LIMITS.defaultClientCap;
  if (!Number.isInteger(cap) || cap < DISCOVERY_LIMITS.minClientCap || cap > DISCOVERY_LIMITS.maxClientCap) {
    throw new InputError('clientCap', `must be a whole number from ${DISCOVERY_LIMITS.minClientCap} to ${DISCOVERY_LIMITS.maxClientCap}, got ${JSON.stringify(o.clientCap)}`);
  }
  const rate = o.newMacsPerMinute ?? DISCOVERY_LIMITS.defaultNewMacsPerMinute;
  if (!Number.isInteger(rate) || rate < DISCOVERY_LIMITS.minNewMacsPerMinute || rate > DISCOVERY_LIMITS.maxNewMacsPerMinute) {
    throw new InputError('newMacsPerMinute', `must be a whole number from ${DISCOVERY_LIMITS.minNewMacsPerMinute} to ${DISCOVERY_LIMITS.maxNewMacsPerMinute}, got ${JSON.stringify(o.newMacsPerMinute)}`);
  }
  return { ...o, clientCap: cap, newMacsPerMinute: rate };
}

/**
 * Who is on the LAN, and who came and went. One instance per arp-discover node; it keeps the
 * presence of every MAC it has seen and the per-MAC device settings. Scans run one at a time
 * (a scan asked for while one runs waits for it), so presence is never updated twice at once.
 *
 * Presence: a MAC's `lastSeen` is the newest evidence that it is there: an answer to a probe
 * (now), a PERMANENT entry (now), an entry that appeared since the last scan (now: the kernel
 * just heard from it), or the kernel's own "confirmed N s ago" for the entry. FAILED and
 * INCOMPLETE entries are no evidence. A MAC is present while now − lastSeen ≤ absence; it
 * joins when it becomes present and leaves when it stops being so.
 */
export class Discovery {
  private readonly options: DiscoveryOptions;
  private readonly deps: DiscoveryDeps;
  private readonly presence = new Map<string, Presence>();
  private readonly devices = new Map<string, DeviceSettings>();
  /** MACs usage-store's registry knows (bounded by DEVICES_MAX): first in line for the cap, never rate limited. */
  private readonly registryMacs = new Set<string>();
  private windowStart = -Infinity;
  private windowCount = 0;
  private readonly clientCap: number;
  private readonly newMacsPerMinute: number;
  private readonly trackLimit: number;
  private readonly dnsCache = new Map<string, { name: string | null; until: number }>();
  /** The neighbour table as the last scans read it (what the scan before listed too). */
  private readonly table = new NeighbourTracker();
  /** Number of the snapshot being made (or last made): a Presence's `inSnapshot` is compared with it. */
  private snapshots = 0;
  /** Reused by every scan (scans run one at a time): present MACs, new MACs, MACs held back. */
  private readonly presentNow: Presence[] = [];
  private readonly fresh: string[] = [];
  private readonly held = new Set<string>();
  /** The leases file's last text and what was parsed from it. */
  private leasesText: string | null = null;
  /** The leases file's stamp when leasesText was read (null: read it). */
  private leasesStamp: FileStamp | null = null;
  private leases: ParsedLeases | null = null;
  private probeAnswers = new Map<string, number>(); // mac -> time it last answered a probe
  /** IPv4 addresses the last probe was answered from, for devices the kernel has no entry for. */
  private probeAddresses = new Map<string, string>(); // mac -> ip
  private lastProbeAt = -Infinity;
  private chain: Promise<unknown> = Promise.resolve();
  private last: DiscoverySnapshot | null = null;

  constructor(options: DiscoveryOptions, deps: DiscoveryDeps, devices: Iterable<[string, DeviceSettings]> = []) {
    this.options = checkDiscoveryOptions({ ...options });
    this.clientCap = this.options.clientCap!;
    this.newMacsPerMinute = this.options.newMacsPerMinute!;
    this.trackLimit = trackLimitFor(this.clientCap);
    this.deps = deps;
    for (const [mac, d] of devices) {
      if (this.devices.size >= DEVICES_MAX) break; // a context written by something else: keep the first ones
      const m = normalizeMac(mac);
      if (m && d && typeof d === 'object') this.devices.set(m, { ...d });
    }
  }

  /**
   * MACs usage-store's registry knows: they go first when the cap chooses, and are never held back
   * by the new-MAC limit. A registry message is the whole registry: it replaces the last one.
   * Keeps at most DEVICES_MAX; returns how many did not fit.
   */
  setKnown(macs: Iterable<string>): number {
    this.registryMacs.clear();
    let skipped = 0;
    for (const mac of macs) {
      const m = normalizeMac(mac);
      if (!m || this.registryMacs.has(m)) continue;
      if (this.registryMacs.size >= DEVICES_MAX) skipped++;
      else this.registryMacs.add(m);
    }
    return skipped;
  }

  /** Set by command, or in the registry: a device the owner knows. */
  private isKnown(mac: string): boolean {
    return this.devices.has(mac) || this.registryMacs.has(mac);
  }

  get iface(): string {
    return this.options.iface;
  }

  get lastSnapshot(): DiscoverySnapshot | null {
    return this.last;
  }

  /** Device settings set by command, for persistence. */
  get rememberedDevices(): [string, DeviceSettings][] {
    return [...this.devices.entries()].map(([mac, d]) => [mac, { ...d }]);
  }

  /**
   * Reads the neighbour table (and probes, if on and due), updates presence, and returns the
   * snapshot of present clients plus the joined/left events. Rejects with a CommandError if the
   * neighbour table cannot be read (no `ip`, no permission, no such interface).
   */
  async scan(opts: { allowProbe?: boolean } = {}): Promise<ScanResult> {
    // The probe runs outside the queue: a scan triggered by the watcher (an arrival) must not wait
    // behind the half second arp-scan and ping take.
    const probeWarnings = opts.allowProbe === false ? [] : await this.probeIfDue();
    const run = this.chain.then(() => this.scanNow());
    this.chain = run.catch(() => undefined);
    const result = await run;
    return probeWarnings.length === 0 ? result : { ...result, warnings: [...probeWarnings, ...result.warnings] };
  }

  private probing: Promise<string[]> | null = null;

  private probeIfDue(): Promise<string[]> {
    if (this.probing) return this.probing;
    if (!this.options.probe || this.deps.now() - this.lastProbeAt < this.options.probeIntervalMs) return Promise.resolve([]);
    this.lastProbeAt = this.deps.now();
    this.probing = this.probe().finally(() => (this.probing = null));
    return this.probing;
  }

  /** Fewer priorities (a config command): kept priorities below the new lowest move to it. Returns how many moved. */
  setMaxPriority(maxPriority: number): number {
    this.options.maxPriority = maxPriority;
    let moved = 0;
    for (const d of this.devices.values()) {
      if (d.priority !== undefined && d.priority > maxPriority) {
        d.priority = maxPriority;
        moved++;
      }
    }
    return moved;
  }

  /**
   * `device` command: `{ mac, name?, priority?, deviceType?, icon? }`; null or "" clears a field.
   * Validates everything before changing anything. Returns the MAC's settings now in force and
   * the last snapshot with them applied (null before the first scan).
   */
  setDevice(payload: unknown): { mac: string; device: DeviceSettings; snapshot: DiscoverySnapshot | null } {
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new InputError('payload', 'a device command needs { "mac": "..", "name"?, "priority"?, "deviceType"?, "icon"? }');
    }
    const p = payload as Record<string, unknown>;
    const mac = normalizeMac(p.mac);
    if (!mac) throw new InputError('payload.mac', `${JSON.stringify(p.mac)} is not a MAC address`);
    const next: DeviceSettings = { ...this.devices.get(mac) };
    // a device's limits (maxDownMbps, quotaDailyMb, ...) are usage-store's: taken and left alone here
    const known = new Set(['mac', 'name', 'priority', 'deviceType', 'icon', ...Object.values(COMMAND_NAMES)]);
    for (const key of Object.keys(p)) {
      if (!known.has(key)) throw new InputError(`payload.${key}`, `unknown field (known: mac, name, priority, deviceType, icon, ${Object.values(COMMAND_NAMES).join(', ')})`);
    }
    const clears = (v: unknown) => v === null || v === '';
    for (const field of ['name', 'deviceType'] as const) {
      const v = p[field];
      if (v === undefined) continue;
      if (clears(v)) delete next[field];
      else {
        const problem = textProblem(v);
        if (problem) throw new InputError(`payload.${field}`, problem);
        next[field] = (v as string).trim();
      }
    }
    if (p.icon !== undefined) {
      if (clears(p.icon)) delete next.icon;
      else if (typeof p.icon !== 'string' || !/^fa-[a-z0-9-]{1,40}$/.test(p.icon)) {
        throw new InputError('payload.icon', 'must be a Font Awesome 4 icon name such as "fa-mobile"');
      } else next.icon = p.icon;
    }
    if (p.priority !== undefined) {
      if (clears(p.priority)) delete next.priority;
      else if (priorityProblem(p.priority, this.options.maxPriority)) throw new InputError('payload.priority', priorityProblem(p.priority, this.options.maxPriority)!);
      else next.priority = p.priority as number;
    }
    if (Object.keys(next).length === 0) this.devices.delete(mac);
    else {
      if (!this.devices.has(mac) && this.devices.size >= DEVICES_MAX) {
        throw new InputError('payload.mac', `the device table is full (${DEVICES_MAX} MACs with a name, priority, type or icon); clear one first`);
      }
      this.devices.set(mac, next);
    }
    if (this.last) {
      this.last = { ...this.last, clients: this.last.clients.map((c) => (c.mac === mac ? this.describe(c) : c)) };
    }
    return { mac, device: { ...next }, snapshot: this.last };
  }

  /**
   * The entries of the interface's neighbour table: over netlink if given, else (or if that
   * fails) from `ip` (with its ages, `-s`, or without: `withAges`). `malformed`: why output of
   * `ip` had no entries at all (not JSON).
   */
  private async neighbourTable(iface: string, warnings: string[], withAges = true): Promise<{ entries: readonly unknown[]; malformed: string[] }> {
    const { readNeighbours, runner } = this.deps;
    if (readNeighbours) {
      try {
        return { entries: await readNeighbours(iface), malformed: [] };
      } catch (err) {
        if (err instanceof InterfaceMissingError) throw err;
        warnings.push(`the neighbour table was read with ip: netlink failed (${(err as Error).message})`);
      }
    }
    return neighbourEntries(await runChecked(runner, ['ip', '-j', ...(withAges ? ['-s'] : []), 'neigh', 'show', 'dev', iface], { timeoutMs: COMMAND_TIMEOUT_MS }));
  }

  private async scanNow(): Promise<ScanResult> {
    const warnings: string[] = [];
    const table = await this.neighbourTable(this.options.iface, warnings);
    const t = this.deps.now();
    this.readTable(table.entries, table.malformed, warnings);
    const leases = this.leasesFrom(await this.readLeasesText(warnings), warnings);
    const seen = this.observe(leases, t);
    const names = this.options.reverseDns ? await this.reverseNames(seen.admitted, leases, t) : NO_NAMES;
    return this.publish(seen, leases, names, warnings);
  }

  /**
   * A scan's synchronous work in one call, once the neighbour table and the leases file are read:
   * the entries as the netlink reader gives them (or `ip -j -s neigh` prints them), the leases
   * file's text (null: none). What a tick costs without its I/O (bench/arp.bench.ts measures it);
   * the same steps as scan() without reverse DNS and probes. Not while a scan runs.
   */
  scanEntries(entries: readonly unknown[], leasesText: string | null, t: number): ScanResult {
    const warnings: string[] = [];
    this.readTable(entries, [], warnings);
    const leases = this.leasesFrom(leasesText, warnings);
    return this.publish(this.observe(leases, t), leases, NO_NAMES, warnings);
  }

  private readTable(entries: readonly unknown[], unreadable: string[], warnings: string[]): void {
    this.table.read(entries);
    const malformed = unreadable.length > 0 ? unreadable : this.table.malformed;
    if (malformed.length > 0) {
      warnings.push(`${malformed.length} neighbour entr${malformed.length === 1 ? 'y' : 'ies'} not understood (${malformed[0]})`);
    }
  }

  /**
   * Presence from the table just read (and the probe's answers): who is present, who joined, who
   * left; the cap and the new-MAC limit applied.
   */
  private observe(leases: ParsedLeases | null, t: number): Observation {
    const { table, presentNow, fresh, held } = this;
    const snapshot = ++this.snapshots;
    const initial = table.readCount === 1;
    presentNow.length = 0;
    fresh.length = 0;
    if (held.size > 0) held.clear();
    const left: PresenceEvent[] = [];
    // MACs never seen before: taken in at most newMacsPerMinute a minute (known devices always),
    // and only while the presence table has room; confirmed entries before STALE-only ones
    if (t - this.windowStart >= RATE_WINDOW_MS) {
      this.windowStart = t;
      this.windowCount = 0;
    }
    for (const { mac } of table.macs) if (!this.presence.has(mac)) fresh.push(mac);
    for (const mac of this.probeAnswers.keys()) if (!table.lists(mac) && !this.presence.has(mac)) fresh.push(mac);
    if (fresh.length > 0) {
      const confirmedEntry = (mac: string) => this.probeAnswers.has(mac) || table.entriesOf(mac).some((e) => e.state !== 'STALE');
      fresh.sort((a, b) => Number(this.isKnown(b)) - Number(this.isKnown(a)) || Number(confirmedEntry(b)) - Number(confirmedEntry(a)) || (a < b ? -1 : 1));
    }
    let room = this.trackLimit - this.presence.size;
    if (room < fresh.length) room += this.forgetAbsent(fresh.length - room);
    let ignored = 0;
    for (const mac of fresh) {
      const known = this.isKnown(mac);
      if (room <= 0 || (!known && this.windowCount >= this.newMacsPerMinute)) {
        held.add(mac);
        ignored++;
        continue;
      }
      room--;
      if (!known) this.windowCount++;
    }
    // every MAC the table lists, then those only the probe heard, then those only remembered
    // (Map.forEach: no iterator result per MAC; a MAC deleted meanwhile is not visited)
    for (const { mac, entries } of table.macs) if (!held.has(mac)) this.update(mac, entries, initial, leases, t, left);
    this.probeAnswers.forEach((_, mac) => {
      if (!table.lists(mac) && !held.has(mac)) this.update(mac, NO_ENTRIES, initial, leases, t, left);
    });
    this.presence.forEach((_, mac) => {
      if (!table.lists(mac) && !this.probeAnswers.has(mac)) this.update(mac, NO_ENTRIES, initial, leases, t, left);
    });
    // probe answers are kept only for MACs whose presence is tracked
    this.probeAnswers.forEach((_, mac) => this.presence.has(mac) || this.probeAnswers.delete(mac));
    this.probeAddresses.forEach((_, mac) => this.presence.has(mac) || this.probeAddresses.delete(mac));
    // the cap: known devices first, then those already in the snapshot, then the longest present
    const admitted = this.choose(presentNow, snapshot);
    return { t, initial, admitted, present: presentNow.length, ignored, left };
  }

  /** One MAC's presence from this scan's evidence (see the class's comment). */
  private update(mac: string, entries: readonly Neighbour[], initial: boolean, leases: ParsedLeases | null, t: number, left: PresenceEvent[]): void {
    let evidence = -Infinity;
    let confirmed = false;
    for (const e of entries) {
      // an entry the read before did not list just appeared: the kernel just heard from it
      const appeared = !initial && !(e as TrackedNeighbour).listedBefore;
      // how long before t the kernel last heard from it
      const ageMs = e.state === 'PERMANENT' || e.confirmedS === null || appeared ? 0 : e.confirmedS * 1000;
      evidence = Math.max(evidence, t - ageMs);
      if (e.state !== 'STALE') confirmed = true;
    }
    const probedAt = this.probeAnswers.get(mac);
    if (probedAt !== undefined) {
      evidence = Math.max(evidence, probedAt);
      confirmed = true;
    }
    const p = this.presence.get(mac);
    confirmed = confirmed || (p?.confirmed ?? false) || this.isKnown(mac);
    const lastSeen = p ? Math.max(p.lastSeen, evidence) : evidence;
    const absence = confirmed ? this.options.absenceMs : Math.min(this.options.absenceMs, STALE_ONLY_ABSENCE_MS);
    const present = t - lastSeen <= absence;
    if (present) {
      // a presence begins at its oldest evidence: the kernel may have heard from it before our first scan
      const firstSeen = p?.present ? p.firstSeen : Math.min(t, lastSeen);
      // updated in place: nothing outside this class holds a Presence
      const q = p ?? this.track(mac);
      q.firstSeen = firstSeen;
      q.lastSeen = lastSeen;
      q.present = true;
      q.confirmed = confirmed;
      q.entries = this.addressOf(mac, entries);
      this.presentNow.push(q);
    } else if (p?.present) {
      if (p.inSnapshot === this.snapshots - 1) {
        // the client it was in the last snapshot (made again if a device command replaced it there)
        const before = this.last?.clients.find((c) => c.mac === mac);
        left.push({ event: 'left', ts: t, iface: this.options.iface, client: before ?? this.clientOf(p, NO_ENTRIES, leases, null, this.deps.now()), initial: false });
      }
      p.lastSeen = lastSeen;
      p.present = false;
      p.confirmed = confirmed;
      p.entries = NO_ENTRIES;
    } else if (t - lastSeen > FORGET_AFTER_MS) {
      this.presence.delete(mac); // randomized MACs rotate: do not keep every one ever seen
      this.probeAnswers.delete(mac);
    } else if (lastSeen > -Infinity) {
      const q = p ?? this.track(mac);
      if (!p) q.firstSeen = t;
      q.lastSeen = lastSeen;
      q.present = false;
      q.confirmed = confirmed;
    }
  }

  private track(mac: string): Presence {
    const p: Presence = { mac, firstSeen: -Infinity, lastSeen: -Infinity, present: false, confirmed: false, inSnapshot: -1, entries: NO_ENTRIES, described: null };
    this.presence.set(mac, p);
    return p;
  }

  /** A MAC's entries, with the address it answered the last probe from if the kernel has no entry for it. */
  private addressOf(mac: string, entries: readonly Neighbour[]): readonly Neighbour[] {
    const ip = this.probeAddresses.get(mac);
    if (!ip || entries.some((e) => e.ip === ip)) return entries;
    return [...entries, { ip, family: 4, mac, state: 'REACHABLE', confirmedS: null }];
  }

  /** The snapshot and the events of a scan: a client made for each admitted MAC. */
  private publish(seen: Observation, leases: ParsedLeases | null, names: ReadonlyMap<string, string>, warnings: string[]): ScanResult {
    const { t, initial, admitted } = seen;
    const { iface } = this.options;
    const snapshotNo = this.snapshots;
    const leaseNow = this.deps.now();
    const clients = admitted.map((p) => this.clientOf(p, p.entries, leases, names.get(p.mac) ?? null, leaseNow));
    clients.sort(compareClients);
    const events: PresenceEvent[] = [];
    for (const client of clients) {
      if (this.presence.get(client.mac)!.inSnapshot !== snapshotNo - 1) events.push({ event: 'joined', ts: t, iface, client, initial });
    }
    for (const p of admitted) p.inSnapshot = snapshotNo;
    for (const e of seen.left) events.push(e);
    const snapshot: DiscoverySnapshot = { ts: t, iface, clients };
    if (seen.present > clients.length) snapshot.capped = { limit: this.clientCap, seen: seen.present, left: seen.present - clients.length };
    if (seen.ignored > 0) snapshot.limited = { perMinute: this.newMacsPerMinute, ignored: seen.ignored };
    this.last = snapshot;
    return { snapshot, events, warnings };
  }

  /** At most clientCap of the present MACs, in a stable order of preference (see observe). */
  private choose(present: Presence[], snapshot: number): Presence[] {
    if (present.length <= this.clientCap) return present;
    const rank = (p: Presence) => (this.isKnown(p.mac) ? 0 : 2) + (p.inSnapshot === snapshot - 1 ? 0 : 1);
    const keyed = present.map((item) => ({ item, rank: rank(item), first: item.firstSeen }));
    keyed.sort((a, b) => a.rank - b.rank || a.first - b.first || (a.item.mac < b.item.mac ? -1 : 1));
    return keyed.slice(0, this.clientCap).map((k) => k.item);
  }

  /** Forgets up to `n` absent MACs, the longest gone first; returns how many. */
  private forgetAbsent(n: number): number {
    const absent = [...this.presence].filter(([, p]) => !p.present).sort((a, b) => a[1].lastSeen - b[1].lastSeen);
    const gone = absent.slice(0, n);
    for (const [mac] of gone) {
      this.presence.delete(mac);
      this.probeAnswers.delete(mac);
      this.probeAddresses.delete(mac);
    }
    return gone.length;
  }

  /** How many MACs' presence is tracked now (bounded by trackLimitFor(clientCap)). */
  get trackedCount(): number {
    return this.presence.size;
  }

  /**
   * The client of a tracked MAC, made fresh (a client already sent is never changed): what did
   * not change since its last client (vendor, addresses, device type) is taken from that one.
   */
  private clientOf(p: Presence, entries: readonly Neighbour[], leases: ParsedLeases | null, dnsName: string | null, leaseNow: number): DiscoveredClient {
    const { mac } = p;
    let d = p.described;
    if (!d) {
      const vendor = this.deps.oui.lookup(mac)?.vendor ?? null;
      d = p.described = { vendor, randomizedMac: isLocallyAdministered(mac), addresses: [], ip: null, ip6: [], guessedFor: undefined, guess: UNKNOWN_DEVICE };
      setAddresses(d, entries);
    } else if (!sameAddresses(d.addresses, entries)) setAddresses(d, entries);
    const hostname = (leases && hostnameFromLeases(leases, mac, leaseNow)) ?? dnsName;
    if (d.guessedFor !== hostname) {
      d.guess = this.options.deviceTypes.classify(hostname, d.vendor);
      d.guessedFor = hostname;
    }
    return clientRecord(mac, d.ip, d.ip6, hostname, d.vendor, d.guess, this.devices.get(mac), d.randomizedMac, p.firstSeen, p.lastSeen);
  }

  /** A client described again (a device command changed its settings): vendor, type, name, priority. */
  private describe(c: DiscoveredClient): DiscoveredClient {
    const vendor = this.deps.oui.lookup(c.mac)?.vendor ?? null;
    const guess = this.options.deviceTypes.classify(c.hostname, vendor);
    return clientRecord(c.mac, c.ip, c.ip6, c.hostname, vendor, guess, this.devices.get(c.mac), c.randomizedMac, c.firstSeen, c.lastSeen);
  }

  /** The leases file's text; null without one, or when it is unreadable (said in `warnings`). */
  private async readLeasesText(warnings: string[]): Promise<string | null> {
    const file = this.options.leasesFile;
    if (!file) return null;
    const { readFile, statFile, now } = this.deps;
    try {
      let stamp: FileStamp | null = null;
      if (statFile) {
        const s = await statFile(file);
        const last = this.leasesStamp;
        if (last && this.leasesText !== null && sameStamp(s, last) && now() - s.mtimeMs >= RACY_MS) return this.leasesText;
        stamp = { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
      }
      // the stamp taken before reading: a change made meanwhile is read again next time
      const text = await readFile(file);
      this.leasesStamp = stamp;
      return text;
    } catch (err) {
      this.leasesStamp = null;
      const e = err as NodeJS.ErrnoException;
      warnings.push(`leases file ${file} unreadable (${e.code ?? e.message}); hostnames from it are missing`);
      return null;
    }
  }

  private leasesFrom(text: string | null, warnings: string[]): ParsedLeases | null {
    if (text === null) return null;
    const file = this.options.leasesFile;
    // the file changes when a lease does, not every tick: the same text is not parsed again
    if (text !== this.leasesText) {
      this.leasesText = text;
      this.leases = parseDnsmasqLeases(text);
    }
    const leases = this.leases!;
    if (leases.malformed.length > 0) {
      warnings.push(`leases file ${file}: ${leases.malformed.length} line(s) not understood (${leases.malformed[0]})`);
    }
    return leases;
  }

  /** Asks the LAN; returns warnings (a missing prober degrades discovery to passive, it does not stop it). */
  private async probe(): Promise<string[]> {
    const { runner, now } = this.deps;
    const { iface } = this.options;
    const warnings: string[] = [];
    const v4 = (async () => {
      const addrs = parseIPv4Prefixes(await runChecked(runner, ['ip', '-j', '-4', 'addr', 'show', 'dev', iface], { timeoutMs: COMMAND_TIMEOUT_MS }));
      if (addrs.length === 0) return;
      const sweepable = addrs.some((a) => a.prefixlen >= SWEEP_MIN_PREFIX);
      const known = this.last?.clients.map((c) => c.ip).filter((ip): ip is string => ip !== null) ?? [];
      if (!sweepable && known.length === 0) return;
      const out = await runChecked(runner, arpScanArgv(iface, sweepable ? 'localnet' : known), { timeoutMs: COMMAND_TIMEOUT_MS });
      const t = now();
      this.probeAddresses = new Map();
      for (const a of parseArpScan(out)) {
        // bounded like presence: answers beyond it are seen again at the next probe
        if (!this.presence.has(a.mac) && this.probeAnswers.size >= this.trackLimit) continue;
        this.probeAnswers.set(a.mac, t);
        this.probeAddresses.set(a.mac, a.ip);
      }
    })();
    const v6 = (async () => {
      const result = await runner.run(allNodesPingArgv(iface), { timeoutMs: COMMAND_TIMEOUT_MS });
      if (result.exitCode > 1) throw new CommandError('failed', allNodesPingArgv(iface), result.stderr.trim().slice(0, 200));
      const replies = parsePingReplies(result.stdout);
      if (replies.length === 0) return;
      // map the (link-local) answers to MACs through the table the answers just refreshed
      const { neighbours } = neighboursOf((await this.neighbourTable(iface, [], false)).entries);
      const macOf = new Map(neighbours.map((n) => [n.ip.toLowerCase(), n.mac]));
      const t = now();
      for (const ip of replies) {
        const mac = macOf.get(ip);
        if (mac && (this.presence.has(mac) || this.probeAnswers.size < this.trackLimit)) this.probeAnswers.set(mac, t);
      }
    })();
    const results = await Promise.allSettled([v4, v6]);
    results.forEach((r, i) => {
      if (r.status === 'rejected') {
        warnings.push(`${i === 0 ? 'IPv4 probe (arp-scan)' : 'IPv6 probe (ping)'} unavailable, discovery is passive for it: ${(r.reason as Error).message}`);
      }
    });
    return warnings;
  }

  /** Reverse DNS (`getent hosts`, the router's own resolver) for present clients the leases do not name. */
  private async reverseNames(present: { mac: string; entries: readonly Neighbour[] }[], leases: ParsedLeases | null, t: number): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    if (!this.options.reverseDns) return names;
    await Promise.all(
      present.map(async ({ mac, entries }) => {
        if (leases && hostnameFromLeases(leases, mac, t)) return;
        const ips = entries.map((e) => e.ip).filter((ip) => isIPv4(ip) || (isIPv6(ip) && !isLinkLocalIPv6(ip)));
        ips.sort((a, b) => Number(isIPv6(a)) - Number(isIPv6(b)));
        for (const ip of ips) {
          const name = await this.lookupName(ip, t);
          if (name) {
            names.set(mac, name);
            return;
          }
        }
      }),
    );
    return names;
  }

  private async lookupName(ip: string, t: number): Promise<string | null> {
    const cached = this.dnsCache.get(ip);
    if (cached && cached.until > t) return cached.name;
    let name: string | null = null;
    try {
      const result = await this.deps.runner.run(['getent', 'hosts', ip], { timeoutMs: DNS_TIMEOUT_MS });
      name = result.exitCode === 0 ? parseGetentHosts(result.stdout) : null;
    } catch {
      name = null; // no resolver answer in time: no name, try again after the cache time
    }
    if (this.dnsCache.size >= DNS_CACHE_MAX) {
      for (const [key, entry] of this.dnsCache) if (entry.until <= t) this.dnsCache.delete(key);
      if (this.dnsCache.size >= DNS_CACHE_MAX) this.dnsCache.clear();
    }
    this.dnsCache.set(ip, { name, until: t + DNS_CACHE_MS });
    return name;
  }
}

/** A dotted IPv4 address as a number, read digit by digit (it runs for every comparison of a sort). */
function ipv4Number(ip: string): number {
  let value = 0;
  let part = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      value = value * 256 + part;
      part = 0;
    } else part = part * 10 + (c - 48);
  }
  return value * 256 + part;
}

function compareIPv4(a: string, b: string): number {
  return ipv4Number(a) - ipv4Number(b);
}

/** IPv4 clients in address order, then IPv6-only ones by MAC: a stable order for tables and diffs. */
function compareClients(a: DiscoveredClient, b: DiscoveredClient): number {
  if (a.ip && b.ip) return compareIPv4(a.ip, b.ip);
  if (a.ip) return -1;
  if (b.ip) return 1;
  return a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0;
}

/**
 * A client's record: every client is made here, with its fields in one order (one hidden class
 * for all of them). `guess`: the device-type table's; `settings`: the device command's.
 */
function clientRecord(
  mac: string,
  ip: string | null,
  ip6: string[],
  hostname: string | null,
  vendor: string | null,
  guess: DeviceType,
  settings: DeviceSettings | undefined,
  randomizedMac: boolean,
  firstSeen: number,
  lastSeen: number,
): DiscoveredClient {
  const client: DiscoveredClient = {
    mac,
    ip,
    ip6,
    hostname,
    vendor,
    deviceType: settings?.deviceType ?? guess.deviceType,
    icon: settings?.icon ?? guess.icon,
    name: settings?.name ?? null,
    randomizedMac,
    firstSeen,
    lastSeen,
  };
  if (settings?.priority !== undefined) client.priority = settings.priority;
  return client;
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

function sameAddresses(addresses: readonly string[], entries: readonly Neighbour[]): boolean {
  if (addresses.length !== entries.length) return false;
  for (let i = 0; i < entries.length; i++) if (addresses[i] !== entries[i].ip) return false;
  return true;
}

/** A client's IPv4 address (the lowest) and its routable IPv6 ones (lower-case, each once, sorted), from its entries. */
function setAddresses(d: Described, entries: readonly Neighbour[]): void {
  const ipv4 = entries.filter((e) => e.family === 4).map((e) => e.ip).sort(compareIPv4);
  d.ip = ipv4[0] ?? null;
  d.ip6 = [...new Set(entries.filter((e) => e.family === 6 && !isLinkLocalIPv6(e.ip)).map((e) => e.ip.toLowerCase()))].sort();
  d.addresses = entries.map((e) => e.ip);
}
