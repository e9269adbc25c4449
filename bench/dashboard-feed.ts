/**
 * The LAN the dashboard bench shows: N devices as the snapshots iface-counter would send, built
 * without a kernel (the bench runs in dry-run, as any user). The devices are the pipeline bench's
 * (bench/pipeline-lan.ts: MACs of ten real vendors' blocks, one in ten locally administered, four
 * in five named by DHCP), with what arp-discover would add: the vendor from the IEEE registry
 * (nodes/core/discover/oui.ts), the device type and icon from its table (device-type.ts), an IPv6
 * ULA for every device and a global one for every third. Rates: one device in ten is busy (1 to
 * 6 Mbit/s down, a different tenth every 30 s as in the pipeline bench), the others light (2 to
 * 60 kbit/s); every rate changes every tick. Deterministic: the same tick gives the same snapshot.
 */
import { createContext, Script } from 'node:vm';
import { AllocatorController } from '../nodes/core/allocate/allocation';
import { NO_LIMITS } from '../nodes/core/contract/limits';
import { isLocallyAdministered } from '../nodes/core/contract/mac';
import type { Client, Snapshot } from '../nodes/core/contract/types';
import { DeviceTypeTable } from '../nodes/core/discover/device-type';
import { defaultOuiIndex } from '../nodes/core/discover/oui';
import { busyDevices, deviceOf } from './pipeline-lan';

export const PHASE_TICKS = 15; // 30 s at a 2 s tick

/** A number in [0, 1) from two integers (a 32-bit integer hash): the same for the same pair. */
function unit(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 13), 0x45d9f3b);
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}

export class DashboardLan {
  private readonly devices: Client[];
  private readonly since: number;

  constructor(readonly size: number, since = Date.now()) {
    this.since = since;
    const oui = defaultOuiIndex();
    const types = new DeviceTypeTable();
    this.devices = Array.from({ length: size }, (_, i) => {
      const d = deviceOf(i);
      const vendor = oui.lookup(d.mac)?.vendor ?? null;
      const host = (10 + i).toString(16);
      return {
        mac: d.mac,
        ip: d.ip,
        ip6: i % 3 === 0 ? [`fd00:88::${host}`, `2001:db8:88:0:${host}:5eff:fe00:${host}`] : [`fd00:88::${host}`],
        hostname: d.hostname,
        vendor,
        ...types.classify(d.hostname, vendor),
        randomizedMac: isLocallyAdministered(d.mac),
      };
    });
  }

  /** The snapshot of tick `tick` (0, 1, …), stamped `ts`. */
  snapshot(tick: number, ts = Date.now(), iface = 'br-lan'): Snapshot {
    const busy = new Set(busyDevices(this.size, Math.floor(tick / PHASE_TICKS)).map((d) => d.index));
    let rx = 0;
    let tx = 0;
    const clients = this.devices.map((d, i) => {
      const r = unit(i, tick);
      const s = unit(tick, i + 7919);
      const rxBps = Math.round(busy.has(i) ? 1e6 + 5e6 * r : 2e3 + 58e3 * r);
      const txBps = Math.round(busy.has(i) ? 2e5 + 1.3e6 * s : 1e3 + 19e3 * s);
      rx += rxBps;
      tx += txBps;
      return { ...d, name: null, firstSeen: this.since, lastSeen: ts, rxBps, txBps };
    });
    return { ts, iface, totals: { rxBps: rx, txBps: tx }, clients };
  }
}

/**
 * What the dashboard's Devices and Overview functions get per tick at `size` devices: the lan's
 * snapshot after priority-allocator (the default flow's settings: 100 / 20 Mbit/s, priorities 1-5,
 * 10 % guarantee) and with usage-store's fields (docs/message.md: every registered client has
 * `limits` and `quota`; one in 25 has a maximum and a daily quota). Two ticks, `first` and `next`:
 * in `next` a `changedShare` of the devices (every tenth-ish, spread) have other rates and more
 * bytes used; the rest are equal in value (fresh objects, as each tick's snapshot is). Alternating
 * them, every tick changes that share of the devices back and forth.
 */
export function pageSnapshots(size: number, changedShare = 0.1): { first: Snapshot; next: Snapshot } {
  const lan = new DashboardLan(size, 1_700_000_000_000);
  const base = lan.snapshot(0, 1_700_000_002_000);
  const every = Math.max(1, Math.round(1 / changedShare));
  const later = {
    ...base,
    clients: base.clients.map((c, i) => (i % every === 3 % every ? { ...c, rxBps: (c.rxBps as number) + 150_000 + i * 10, txBps: (c.txBps as number) + 40_000 } : { ...c })),
  };
  // one allocator for both ticks: it hands out last tick's allocation objects again where they did not change
  const allocator = new AllocatorController({ downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3, clientCap: 1024 });
  const withStore = (s: Snapshot, tick: number): Snapshot => {
    const a = allocator.allocate(s);
    const clients = a.clients.map((c, i) => {
      const quotaSet = i % 25 === 7;
      const limits = quotaSet ? { maxDownBps: 5e6, maxUpBps: null, quotaDailyBytes: 2e9, quotaMonthlyBytes: null, quotaAction: 'throttle', throttleBps: 256e3 } : NO_LIMITS;
      const used = 1e6 * (i + 1) + (tick && i % every === 3 % every ? 5e7 : 0);
      const quota = {
        dailyUsedBytes: used, monthlyUsedBytes: used * 10, dailyBytes: limits.quotaDailyBytes, monthlyBytes: limits.quotaMonthlyBytes,
        action: limits.quotaAction, throttled: false, dayResetsAt: 1_700_006_400_000, monthResetsAt: 1_701_388_800_000,
      };
      return Object.assign({}, c, { limits, quota });
    });
    return { ...a, clients };
  };
  return { first: withStore(base, 0), next: withStore(later, 1) };
}

/**
 * A function node's code run as Node-RED runs it, once compiled: `msg`, a node context and a flow
 * context of its own (Maps), `Date` (the clock given). The unit specs (test/unit/dashboard-*.spec.ts)
 * run the flow's functions the same way.
 */
export function functionRunner(node: { func?: string; initialize?: string }, clock: { now: number } = { now: 1_000_000 }) {
  const store = new Map<string, unknown>();
  const flowStore = new Map<string, unknown>();
  const context = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) };
  const flow = { get: (k: string) => flowStore.get(k), set: (k: string, v: unknown) => void flowStore.set(k, v) };
  const FakeDate = { now: () => clock.now };
  if (node.initialize) new Function('context', 'Date', node.initialize)(context, FakeDate);
  const body = new Function('msg', 'context', 'flow', 'Date', node.func ?? '') as (msg: unknown, c: unknown, f: unknown, d: unknown) => unknown;
  const run = (msg: unknown) => body(msg, context, flow, FakeDate);
  return Object.assign(run, { store, flowStore, clock });
}

/**
 * The same code run as Node-RED 4.1's function node runs it (@node-red/nodes core/function/
 * 10-function.js): the code inside `(async function(msg, __send__, __done__) { var node = {…}; … })`,
 * compiled once as a vm.Script in a context of its own and run with `runInContext` for each message.
 * Unlike a function made once, that gives each run fresh feedback (the script's function is bound
 * anew each run): the code runs in V8's interpreter every time, as in the Node-RED process, and
 * whatever the interpreter boxes (numbers with a fraction, for-of's results) is garbage too. A call
 * returns the promise of the message(s) (the code runs to its end synchronously: it awaits nothing).
 */
export function nodeRedRunner(node: { func?: string; initialize?: string }, clock: { now: number } = { now: 1_000_000 }) {
  const store = new Map<string, unknown>();
  const flowStore = new Map<string, unknown>();
  const FakeDate = { now: () => clock.now };
  const noop = () => undefined;
  const sandbox: Record<string, unknown> = {
    Date: FakeDate,
    __node__: { id: 'bench', name: 'bench', path: 'bench', outputCount: 1, log() {}, error() {}, warn() {}, debug() {}, trace() {}, on() {}, status() {}, send() {} },
    context: { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) },
    flow: { get: (k: string) => flowStore.get(k), set: (k: string, v: unknown) => void flowStore.set(k, v) },
  };
  const context = createContext(sandbox);
  if (node.initialize) new Script(`(async function(__send__) { ${node.initialize}\n})(() => {});`).runInContext(context);
  const script = new Script(
    'var results = null;results = (async function(msg,__send__,__done__){ var __msgid__ = msg._msgid;var node = {id:__node__.id,name:__node__.name,path:__node__.path,' +
      'outputCount:__node__.outputCount,log:__node__.log,error:__node__.error,warn:__node__.warn,debug:__node__.debug,trace:__node__.trace,on:__node__.on,' +
      'status:__node__.status,send:function(msgs,cloneMsg){ __node__.send(__send__,__msgid__,msgs,cloneMsg);},done:__done__};\n' +
      (node.func ?? '') +
      '\n})(msg,__send__,__done__);',
  );
  const run = (msg: unknown): Promise<unknown> => {
    sandbox.msg = msg;
    sandbox.__send__ = noop;
    sandbox.__done__ = noop;
    script.runInContext(context);
    return sandbox.results as Promise<unknown>;
  };
  return Object.assign(run, { store, flowStore, clock });
}
