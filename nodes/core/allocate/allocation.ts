import { allocateArrays, busyThresholds, CLIENT_HTB_PRIO, MIN_BUSY_TICKS, wantsMore, directionBuffers, floorOf, guaranteeOf, weightOf, type AllocationPolicy, type DirectionResult } from './allocator';
import { InputError } from '../contract/errors';
import { clientMac, clientPath, normalizeMac } from '../contract/mac';
import { priorityProblem, rateProblem, snapshotClients } from '../contract/message';
import { capsOf } from '../contract/limits';
import { parseRegistry } from '../contract/registry';
import { applySettingsCommand, DEFAULT_SETTINGS, LIMITS, mbpsToBps, percentProblem, toNumber, type Settings } from '../contract/settings';
import type { Client, ClientAlloc, DirectionAlloc, Snapshot } from '../contract/types';
import { allocatedClient } from './client-copy';

/** What the allocator needs to know, in the units the editor shows. */
export interface AllocatorOptions {
  downMbps: number;
  upMbps: number;
  maxPriority: number;
  minPercent: number;
  headroomPercent: number;
  /** Priority of a client nobody has set one for. */
  defaultPriority: number;
  /** The config node's client cap: a link must carry 8 kbit/s for each of that many clients. */
  clientCap?: number;
}

export function optionsFrom(settings: Settings, node: { headroomPercent: number; defaultPriority: number }): AllocatorOptions {
  return {
    downMbps: settings.downMbps,
    upMbps: settings.upMbps,
    maxPriority: settings.maxPriority,
    minPercent: settings.minPercent,
    headroomPercent: node.headroomPercent,
    defaultPriority: node.defaultPriority,
    clientCap: settings.clientCap,
  };
}

/** Per direction: the link, the guarantee of a busy client, the floor of one that is not, what was handed out, how many were busy. */
export interface DirectionSummary {
  totalBps: number;
  guaranteeBps: number;
  floorBps: number;
  allocatedBps: number;
  busy: number;
}

/** Summary added to the snapshot as `payload.allocation`. */
export interface AllocationSummary {
  maxPriority: number;
  minPercent: number;
  down: DirectionSummary;
  up: DirectionSummary;
}

/** Priorities remembered by MAC at most: usage-store's registry keeps 8,192 devices. */
export const MAX_REMEMBERED = 8_192;
/** How long a priority command's echo in the registry is waited for (the store answers in milliseconds). */
export const ECHO_WAIT_MS = 10_000;
/** Priority commands per MAC waited for at most. */
const MAX_UNCONFIRMED = 16;

/**
 * What a client was handed last, updated in place tick after tick (no object made per client per
 * tick; a plain object, not a typed array: thousands of small ArrayBuffers weigh on every GC).
 */
interface Handed {
  down: number;
  up: number;
  /** Ticks in a row it has been busy (0: not busy last tick). */
  busyDown: number;
  busyUp: number;
  usedDown: number;
  usedUp: number;
  /** The allocation it was last written in. */
  stamp: number;
  /**
   * What its client carried last as `alloc`: handed on again while every figure in it is the same
   * (a light client's rate is its floor tick after tick), so an unchanged allocation makes no
   * objects. Never changed once handed out: a new one is made when anything in it changes.
   */
  alloc: ClientAlloc | null;
}

interface Validated {
  snapshot: Snapshot;
  macs: string[];
  /** Each client's rxBps and txBps, NaN where not measured: read once, in validation. */
  rx: Float64Array;
  tx: Float64Array;
  /** Each client's own priority, 0 where it has none. */
  priority: Float64Array;
  busy: { down: Uint8Array; up: Uint8Array };
  /** What each client was handed last (its entry of `rates`), found once per allocate() (in classify). */
  handed: (Handed | undefined)[];
}

/** The buffers of one set of validation's arrays (rates down and up, priority), n entries each. */
function readArrays(n: number): { rx: ArrayBuffer; tx: ArrayBuffer; prio: ArrayBuffer } {
  return { rx: new ArrayBuffer(8 * n), tx: new ArrayBuffer(8 * n), prio: new ArrayBuffer(8 * n) };
}

export type AllocatedSnapshot = Snapshot & { allocation: AllocationSummary };

/** Whether a direction's allocation handed out last holds these very figures (so it can be handed out again). */
export function sameAlloc(a: DirectionAlloc | undefined, rateBps: number, ceilBps: number, expectedBps: number, weight: number, busy: boolean): boolean {
  return a !== undefined && a.rateBps === rateBps && a.ceilBps === ceilBps && a.prio === CLIENT_HTB_PRIO && a.expectedBps === expectedBps && a.weight === weight && a.busy === busy;
}

/** Names a `config` command accepts: ours, and those of the original EqualNet Pro API. */
/** The allocator node's own options a config command may set; the others are the config node's (SETTING_ALIASES). */
export const ALLOCATOR_KEYS: readonly string[] = ['headroomPercent', 'defaultPriority'];

/**
 * The options after a `config` command (ours or the original API's names), or an InputError
 * naming the first bad field. The shared settings are checked by settings.ts's one check (the
 * config node applies them to every node; `mode` is not the allocator's and is left alone), the
 * allocator's own options here. A lower number of priorities takes the default priority down
 * with it, unless the command sets a default priority above it: that is refused.
 */
export function applyConfigCommand(current: AllocatorOptions, payload: unknown): AllocatorOptions {
  const cap = current.clientCap ?? DEFAULT_SETTINGS.clientCap;
  const { settings } = applySettingsCommand({ ...DEFAULT_SETTINGS, ...current, clientCap: cap }, payload, ALLOCATOR_KEYS);
  const next: AllocatorOptions = { ...current, downMbps: settings.downMbps, upMbps: settings.upMbps, maxPriority: settings.maxPriority, minPercent: settings.minPercent };
  const own = payload as Record<string, unknown>;
  if (Object.hasOwn(own, 'headroomPercent')) {
    const problem = percentProblem(own.headroomPercent);
    if (problem) throw new InputError('payload.headroomPercent', problem);
    next.headroomPercent = toNumber(own.headroomPercent);
  }
  if (Object.hasOwn(own, 'defaultPriority')) {
    const problem = priorityProblem(toNumber(own.defaultPriority), next.maxPriority);
    if (problem) throw new InputError('payload.defaultPriority', problem);
    next.defaultPriority = toNumber(own.defaultPriority);
  } else next.defaultPriority = Math.min(next.defaultPriority, next.maxPriority);
  return next;
}

/**
 * The priority-allocator's state and behaviour, without Node-RED: remembered priorities per MAC,
 * the options in force, and the last snapshot (so a command can be applied at once).
 * Every method validates completely before it changes anything, so a rejected message leaves
 * the state exactly as it was.
 */
export class AllocatorController {
  private options: AllocatorOptions;
  private readonly priorities: Map<string, number>;
  /**
   * The last valid snapshot as received, with its clients' canonical MACs and whether each was
   * busy (wanted more than its rate) per direction, so a command re-allocates it the same way.
   */
  private last: Validated | null = null;
  /** The rates handed out last, and who was busy, by MAC: what a client's use is compared with to tell it is busy. */
  private rates = new Map<string, Handed>();
  /**
   * Per MAC, the most a device may use now (its maximum, or its throttle while a used-up quota
   * throttles it), bit/s, Infinity where none: from usage-store's registry, replaced whole by
   * each one (so it never holds more than the registry's devices' MACs).
   */
  private caps = new Map<string, { down: number; up: number }>();
  private stamp = 0;
  /**
   * Priority commands taken here at once and not yet seen back in usage-store's registry, per MAC,
   * oldest first. The API and the dashboard send a command both here and to usage-store, whose
   * registry then comes back: after two quick commands (3, then 2) the registry that follows the
   * first still says 3 and arrives after the second. Without this, that echo put the device back
   * to 3 for a tick. An echo confirms its command (and any older one); while a newer command is
   * still on its way through the store, the registry's older value is not applied.
   */
  private readonly unconfirmed = new Map<string, { priority: number; at: number }[]>();
  /** Work arrays of compute(), reused tick after tick (the results are copied into the output). */
  private buffers = { priorities: new Float64Array(0), down: directionBuffers(0), up: directionBuffers(0) };
  /**
   * Two sets of the arrays validation reads the clients into, used in turn: the one the last
   * snapshot does not hold is written (so a snapshot refused half-way changes nothing kept).
   */
  private reads = [readArrays(0), readArrays(0)];

  /** @param clock what ECHO_WAIT_MS is measured with (tests pass their own) */
  constructor(
    options: AllocatorOptions,
    priorities: Iterable<[string, number]> = [],
    private readonly clock: () => number = Date.now,
  ) {
    this.options = { ...options };
    this.priorities = new Map();
    for (const [mac, p] of priorities) this.remember(mac, p);
  }

  /**
   * Keeps a priority by MAC; the map holds at most MAX_REMEMBERED (the registry's own bound), the
   * longest-unchanged dropped first, so whatever feeds it cannot grow the node's memory or context.
   */
  private remember(mac: string, priority: number): void {
    this.priorities.delete(mac);
    this.priorities.set(mac, priority);
    if (this.priorities.size > MAX_REMEMBERED) this.priorities.delete(this.priorities.keys().next().value as string);
  }

  get current(): Readonly<AllocatorOptions> {
    return this.options;
  }

  /** Priorities set by command, for persistence. */
  get rememberedPriorities(): [string, number][] {
    return [...this.priorities.entries()];
  }

  /** Allocates a snapshot from arp-discover / iface-counter. */
  allocate(payload: unknown): AllocatedSnapshot {
    const validated = this.validateSnapshot(payload);
    this.classify(validated);
    const result = this.compute(validated);
    this.last = validated;
    return result;
  }

  /**
   * Busy = used at or near the rate it was given (its measured rate is censored by the shaping),
   * or not measured. A client seen for the first time is compared with the floor a client that is
   * not busy gets.
   */
  private classify(v: Validated): void {
    const o = this.options;
    const { rx, tx } = v;
    const n = v.macs.length;
    // one lookup per client, kept for compute() to update in place; the same clients in the same
    // order as last tick (the usual case: validation then keeps last tick's array of MACs) need
    // none: last tick's array, each entry written by its compute(), is taken whole
    const prev = this.last;
    if (prev !== null && v.macs === prev.macs) v.handed = prev.handed;
    else {
      const same = prev !== null && prev.macs.length === n;
      v.handed = new Array(n);
      for (let i = 0; i < n; i++) {
        const mac = v.macs[i];
        v.handed[i] = same && prev.macs[i] === mac && prev.handed[i] !== undefined ? prev.handed[i] : this.rates.get(mac);
      }
    }
    // both directions in one loop, each field named, not looked up by a key (it runs per client)
    const down = this.policy(o.downMbps);
    const up = this.policy(o.upMbps);
    const downFloor = floorOf(down, guaranteeOf(down, n));
    const upFloor = floorOf(up, guaranteeOf(up, n));
    // the thresholds worked out once per direction, not per client
    const downT = busyThresholds(down);
    const upT = busyThresholds(up);
    const busyDown = new Uint8Array(n);
    const busyUp = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const h = v.handed[i];
      // NaN: not measured (null for wantsMore)
      const rxBps = rx[i] === rx[i] ? rx[i] : null;
      const txBps = tx[i] === tx[i] ? tx[i] : null;
      if (h) {
        busyDown[i] = wantsMore(rxBps, downT, h.down, h.busyDown, h.usedDown) ? 1 : 0;
        busyUp[i] = wantsMore(txBps, upT, h.up, h.busyUp, h.usedUp) ? 1 : 0;
      } else {
        busyDown[i] = wantsMore(rxBps, downT, downFloor, 0, Number.NaN) ? 1 : 0;
        busyUp[i] = wantsMore(txBps, upT, upFloor, 0, Number.NaN) ? 1 : 0;
      }
    }
    v.busy.down = busyDown;
    v.busy.up = busyUp;
  }

  private policy(totalMbps: number): AllocationPolicy {
    const o = this.options;
    return { totalBps: mbpsToBps(totalMbps), maxPriority: o.maxPriority, minPercent: o.minPercent, headroomPercent: o.headroomPercent };
  }

  /** `priority` command: { mac | ip, priority }. Returns the re-allocated last snapshot, if any. */
  setPriority(payload: unknown): { mac: string; priority: number; snapshot: AllocatedSnapshot | null } {
    if (!payload || typeof payload !== 'object') {
      throw new InputError('payload', 'a priority command needs { mac or ip, priority }');
    }
    const p = payload as Record<string, unknown>;
    const mac = this.resolveClient(p);
    const problem = priorityProblem(p.priority, this.options.maxPriority);
    if (problem) throw new InputError('payload.priority', problem);
    this.remember(mac, p.priority as number);
    this.awaitEcho(mac, p.priority as number);
    return { mac, priority: p.priority as number, snapshot: this.last && this.compute(this.last) };
  }

  /**
   * `registry` message from usage-store: the priorities kept there (set in the dashboard or the
   * API) become this node's, for every MAC of each device. A priority outside 1..maxPriority is
   * skipped and reported. Returns the re-allocated last snapshot, if any.
   */
  applyRegistry(payload: unknown): { applied: number; skipped: string[]; snapshot: AllocatedSnapshot | null } {
    const devices = parseRegistry(payload);
    const skipped: string[] = [];
    let applied = 0;
    const caps = new Map<string, { down: number; up: number }>();
    for (const device of devices) {
      const cap = capsOf(device.limits, device.throttled);
      if (cap.down !== Number.POSITIVE_INFINITY || cap.up !== Number.POSITIVE_INFINITY) {
        for (const mac of device.macs) if (caps.size < MAX_REMEMBERED) caps.set(mac, cap);
      }
    }
    this.caps = caps;
    for (const device of devices) {
      if (device.priority === null) continue;
      if (priorityProblem(device.priority, this.options.maxPriority)) {
        skipped.push(`${device.macs[0]} has priority ${device.priority}, above ${this.options.maxPriority}`);
        continue;
      }
      // a device's priority is one: while any of its MACs waits for a newer command, none takes
      // the older value (each MAC's list is settled: no short-circuit)
      let settled = true;
      for (const mac of device.macs) settled = this.echoSettled(mac, device.priority) && settled;
      if (settled) for (const mac of device.macs) this.remember(mac, device.priority);
      applied++;
    }
    return { applied, skipped, snapshot: this.last && this.compute(this.last) };
  }

  /** A priority command applied here: its echo in the registry is waited for (see `unconfirmed`). */
  private awaitEcho(mac: string, priority: number): void {
    const now = this.clock();
    const list = (this.unconfirmed.get(mac) ?? []).filter((e) => now - e.at < ECHO_WAIT_MS);
    list.push({ priority, at: now });
    // bounded: MACs as the remembered priorities are, commands per MAC by a short list
    this.unconfirmed.delete(mac);
    this.unconfirmed.set(mac, list.slice(-MAX_UNCONFIRMED));
    if (this.unconfirmed.size > MAX_REMEMBERED) this.unconfirmed.delete(this.unconfirmed.keys().next().value as string);
  }

  /**
   * Whether the registry's priority for `mac` is to be applied. It is the echo of a command still
   * waited for: that command and older ones are confirmed, and it applies only if no newer one is
   * still on its way. Any other value (set elsewhere, or the store refused the command) applies,
   * and nothing is waited for any more. Commands not echoed within ECHO_WAIT_MS are forgotten.
   */
  private echoSettled(mac: string, priority: number): boolean {
    const list = this.unconfirmed.get(mac);
    if (!list) return true;
    const now = this.clock();
    const fresh = list.filter((e) => now - e.at < ECHO_WAIT_MS);
    const k = fresh.findIndex((e) => e.priority === priority);
    const newer = k === -1 ? [] : fresh.slice(k + 1);
    if (newer.length === 0) this.unconfirmed.delete(mac);
    else this.unconfirmed.set(mac, newer);
    return newer.length === 0;
  }

  /** `config` command: any of the options, by our names or the original API's. */
  configure(payload: unknown): { options: AllocatorOptions; snapshot: AllocatedSnapshot | null } {
    this.options = applyConfigCommand(this.options, payload);
    return { options: { ...this.options }, snapshot: this.last && this.compute(this.last) };
  }

  /**
   * The shared settings changed (the config node applied a config command): the link, the number
   * of priorities, the guarantee. Lowering the number of priorities moves every priority kept here
   * (and the default) that is now out of range to the new lowest; never a refused tick. Returns
   * how many kept priorities moved, and the re-allocated last snapshot, if any.
   */
  settingsChanged(shared: Pick<AllocatorOptions, 'downMbps' | 'upMbps' | 'maxPriority' | 'minPercent'>): { clamped: number; snapshot: AllocatedSnapshot | null } {
    const { downMbps, upMbps, maxPriority, minPercent } = shared;
    this.options = { ...this.options, downMbps, upMbps, maxPriority, minPercent, defaultPriority: Math.min(this.options.defaultPriority, maxPriority) };
    let clamped = 0;
    for (const [mac, p] of this.priorities) {
      if (p <= maxPriority) continue;
      this.priorities.set(mac, maxPriority);
      clamped++;
    }
    return { clamped, snapshot: this.last && this.compute(this.last) };
  }

  private resolveClient(p: Record<string, unknown>): string {
    if (p.mac !== undefined) {
      const mac = normalizeMac(p.mac);
      if (!mac) throw new InputError('payload.mac', `${JSON.stringify(p.mac)} is not a MAC address`);
      const known = this.priorities.has(mac) || this.last?.macs.includes(mac);
      if (!known) throw new InputError('payload.mac', `unknown client ${mac}: not in the last snapshot`);
      return mac;
    }
    if (p.ip !== undefined) {
      const ip = String(p.ip);
      const index = this.last ? this.last.snapshot.clients.findIndex((c) => c.ip === ip || (c.ip6 ?? []).includes(ip)) : -1;
      if (index < 0) throw new InputError('payload.ip', `unknown client ${JSON.stringify(p.ip)}: no client with this address in the last snapshot`);
      return this.last!.macs[index];
    }
    throw new InputError('payload', 'a priority command needs a "mac" or an "ip"');
  }

  /** Checks everything the allocation relies on, without copying: the output is built once, in compute. */
  private validateSnapshot(payload: unknown): Validated {
    snapshotClients(payload);
    const snapshot = payload as Snapshot;
    const clients = snapshot.clients;
    const n = clients.length;
    let set = this.reads[0].rx === this.last?.rx.buffer ? this.reads[1] : this.reads[0];
    if (set.rx.byteLength < 8 * n) {
      set = readArrays(Math.max(n, 2 * (set.rx.byteLength / 8)));
      this.reads[this.reads[0].rx === this.last?.rx.buffer ? 1 : 0] = set;
    }
    const rx = new Float64Array(set.rx, 0, n);
    const tx = new Float64Array(set.tx, 0, n);
    const prio = new Float64Array(set.prio, 0, n);
    const maxPriority = this.options.maxPriority;
    // The same clients in the same order as last tick (the usual case) have no duplicate MAC, so
    // the set that finds duplicates is only filled from the first client that differs.
    const before = this.last?.macs;
    let same = before !== undefined && before.length === n;
    let seen: Set<string> | null = null;
    // the MACs: last tick's array itself while they are the same, a new one from the first that differs
    let macs: string[] | null = same ? null : new Array(n);
    for (let i = 0; i < n; i++) {
      const client = clients[i] as Client | null;
      let mac: string | null = null;
      if (same) {
        const value = client !== null && typeof client === 'object' ? client.mac : null;
        // last tick's MAC is canonical: the same string needs no check of its characters
        mac = value === before![i] ? value : normalizeMac(value);
        if (mac === null || mac !== before![i]) {
          same = false;
          macs = before!.slice(0, i);
          macs.length = n;
          seen = new Set(before!.slice(0, i));
        }
      }
      // the path is written out only for an error: building it for every client cost a tenth of a tick
      if (!same) mac = clientMac(client, i, (seen ??= new Set()));
      const { rxBps, txBps, priority } = client as Client;
      const rxProblem = rateProblem(rxBps);
      if (rxProblem) throw new InputError(`${clientPath(i)}.rxBps`, rxProblem);
      const txProblem = rateProblem(txBps);
      if (txProblem) throw new InputError(`${clientPath(i)}.txBps`, txProblem);
      // above the lowest priority in force is taken as the lowest (effectivePriority): the
      // snapshot may have been made before the number of priorities was lowered
      if (priority !== undefined && priority !== null && priorityProblem(priority, LIMITS.maxMaxPriority)) {
        throw new InputError(`${clientPath(i)}.priority`, priorityProblem(priority, maxPriority)!);
      }
      if (macs !== null) macs[i] = mac!;
      rx[i] = rxBps ?? Number.NaN;
      tx[i] = txBps ?? Number.NaN;
      prio[i] = priority ?? 0;
    }
    macs ??= before!;
    return { snapshot, macs, rx, tx, priority: prio, busy: { down: new Uint8Array(0), up: new Uint8Array(0) }, handed: [] };
  }

  private compute({ snapshot, macs, rx, tx, priority, busy, handed }: Validated): AllocatedSnapshot {
    const o = this.options;
    const n = snapshot.clients.length;
    if (this.buffers.priorities.length < n) {
      const size = Math.max(n, 2 * this.buffers.priorities.length);
      this.buffers = { priorities: new Float64Array(size), down: directionBuffers(size), up: directionBuffers(size) };
    }
    const buffers = this.buffers;
    // remembered priority (set by command) wins over the snapshot's, which wins over the default
    const priorities = buffers.priorities.subarray(0, n);
    const remembered = this.priorities.size > 0 ? this.priorities : null;
    for (let i = 0; i < n; i++) {
      const p = remembered?.get(macs[i]) ?? (priority[i] > 0 ? priority[i] : o.defaultPriority);
      priorities[i] = Math.min(p, o.maxPriority);
    }
    // each client's cap per direction, only when a device has one (limits.ts)
    let caps: { down: Float64Array; up: Float64Array } | null = null;
    if (this.caps.size > 0) {
      for (let i = 0; i < n; i++) {
        const cap = this.caps.get(macs[i]);
        if (!cap) continue;
        caps ??= { down: new Float64Array(n).fill(Number.POSITIVE_INFINITY), up: new Float64Array(n).fill(Number.POSITIVE_INFINITY) };
        caps.down[i] = cap.down;
        caps.up[i] = cap.up;
      }
    }
    const down = allocateArrays(priorities, rx, busy.down, this.policy(o.downMbps), buffers.down, caps?.down);
    const up = allocateArrays(priorities, tx, busy.up, this.policy(o.upMbps), buffers.up, caps?.up);
    const rates = this.rates;
    const stamp = ++this.stamp;
    const downCeil = down.clientCeilBps;
    const upCeil = up.clientCeilBps;
    const clients: Client[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const c = snapshot.clients[i];
      const weight = weightOf(priorities[i], o.maxPriority);
      let h = handed[i];
      if (!h) {
        h = rates.get(macs[i]);
        if (!h) rates.set(macs[i], (h = { down: 0, up: 0, busyDown: 0, busyUp: 0, usedDown: 0, usedUp: 0, stamp: 0, alloc: null }));
        handed[i] = h;
      }
      h.down = down.rateBps[i];
      h.up = up.rateBps[i];
      // busy because it is not measured (NaN): no hold (MIN_BUSY_TICKS) once it is
      const usedDown = rx[i];
      const usedUp = tx[i];
      h.busyDown = down.busy[i] === 0 ? 0 : usedDown === usedDown ? h.busyDown + 1 : MIN_BUSY_TICKS;
      h.busyUp = up.busy[i] === 0 ? 0 : usedUp === usedUp ? h.busyUp + 1 : MIN_BUSY_TICKS;
      h.usedDown = usedDown === usedDown ? usedDown : 0;
      h.usedUp = usedUp === usedUp ? usedUp : 0;
      h.stamp = stamp;
      // last tick's allocation objects again where nothing in them changed, new ones where it did.
      // Frozen: messages sent before share them, so a function node downstream that wrote to one
      // would change those messages and what this compares with (it gets a TypeError instead)
      const last = h.alloc;
      const downAlloc = sameAlloc(last?.down, down.rateBps[i], downCeil === null ? down.ceilBps : downCeil[i], down.expectedBps[i], weight, down.busy[i] === 1)
        ? last!.down
        : Object.freeze({ rateBps: down.rateBps[i], ceilBps: downCeil === null ? down.ceilBps : downCeil[i], prio: CLIENT_HTB_PRIO, expectedBps: down.expectedBps[i], weight, busy: down.busy[i] === 1 });
      const upAlloc = sameAlloc(last?.up, up.rateBps[i], upCeil === null ? up.ceilBps : upCeil[i], up.expectedBps[i], weight, up.busy[i] === 1)
        ? last!.up
        : Object.freeze({ rateBps: up.rateBps[i], ceilBps: upCeil === null ? up.ceilBps : upCeil[i], prio: CLIENT_HTB_PRIO, expectedBps: up.expectedBps[i], weight, busy: up.busy[i] === 1 });
      const alloc = last !== null && downAlloc === last.down && upAlloc === last.up ? last : Object.freeze({ down: downAlloc, up: upAlloc });
      h.alloc = alloc;
      // one literal for a client of iface-counter's fields, else Object.assign (client-copy.ts)
      clients[i] = allocatedClient(c, macs[i], priorities[i], alloc);
    }
    // only the clients of this snapshot are kept
    if (rates.size > clients.length) for (const [mac, handed] of rates) if (handed.stamp !== stamp) rates.delete(mac);
    const summary = (r: DirectionResult): DirectionSummary => {
      let allocatedBps = 0;
      let busyCount = 0;
      for (let i = 0; i < n; i++) {
        allocatedBps += r.rateBps[i];
        busyCount += r.busy[i];
      }
      return { totalBps: r.ceilBps, guaranteeBps: r.guaranteeBps, floorBps: r.floorBps, allocatedBps, busy: busyCount };
    };
    return {
      ...snapshot,
      ts: typeof snapshot.ts === 'number' ? snapshot.ts : Date.now(),
      clients,
      allocation: { maxPriority: o.maxPriority, minPercent: o.minPercent, down: summary(down), up: summary(up) },
    };
  }

}
