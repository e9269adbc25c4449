// Alert rules per tick for 1,000 clients: every rule kind on the same snapshot, as a flow with one
// alert-rule node of each kind does. Goal: all six under 5 ms per tick.
import { AlertEngine } from '../nodes/core/alerts/engine';
import { RULE_KINDS, type RuleKind } from '../nodes/core/alerts/options';
import type { AllocationCase } from './allocated';
import { printTable, timeIt } from './stats';
import { storedTicks } from './store.bench';

const CLIENTS = 1_000;
const VARIANTS = 64;
const LINK = { down: 1e9, up: 1e8 };

/** Snapshots as priority-allocator sends them: a contended link, rates changing from tick to tick. */
function snapshots(n: number, seed = 7) {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const base = Array.from({ length: n }, (_, i) => ({
    mac: `02:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`,
    ip: `10.0.${(i >> 8) & 255}.${i & 255}`,
    name: `client-${i}`,
    priority: 1 + (i % 5),
    rate: { down: LINK.down / n, up: LINK.up / n },
    level: rand(),
  }));
  return Array.from({ length: VARIANTS }, (_, v) => {
    // a few clients come and go, some leave for a while; some burst for 16 s; the link fills up
    // for a quarter of the cycle
    const load = v >= 32 && v < 48 ? 1.4 : 1;
    const clients = base
      .filter((_, i) => (i + v) % 97 !== 0 && !(i % 50 === 7 && v < 48))
      .map((c, i) => {
        const burst = ((i + Math.floor(v / 8) * 37) % 211 === 0 ? 20 : 1) * load;
        const rx = c.rate.down * (0.2 + 1.1 * c.level) * (0.9 + 0.2 * rand()) * burst;
        const tx = c.rate.up * (0.2 + 1.1 * c.level) * (0.9 + 0.2 * rand()) * burst;
        return {
          mac: c.mac,
          ip: c.ip,
          ip6: [],
          name: c.name,
          priority: c.priority,
          rxBps: Math.round(rx),
          txBps: Math.round(tx),
          alloc: {
            down: { rateBps: c.rate.down, ceilBps: LINK.down, prio: c.priority },
            up: { rateBps: c.rate.up, ceilBps: LINK.up, prio: c.priority },
          },
        };
      });
    const sum = (k: 'rxBps' | 'txBps') => clients.reduce((a, c) => a + c[k], 0);
    return {
      ts: 0,
      iface: 'br-lan',
      totals: { rxBps: sum('rxBps'), txBps: sum('txBps') },
      clients,
      allocation: {
        maxPriority: 5,
        minPercent: 10,
        down: { totalBps: LINK.down, guaranteeBps: LINK.down / n, allocatedBps: LINK.down },
        up: { totalBps: LINK.up, guaranteeBps: LINK.up / n, allocatedBps: LINK.up },
      },
    };
  });
}

/** Defaults, except: no registry to wait for, and gone after 60 s so devices leave within the cycle. */
const THRESHOLDS: Partial<Record<RuleKind, Record<string, unknown>>> = { new_device: { waitSec: 0 }, device_gone: { goneSec: 60, cooldownSec: 0 } };

export async function bench(): Promise<void> {
  const snaps = snapshots(CLIENTS);
  let ts = Date.UTC(2026, 0, 5, 8);
  const engines = (kinds: readonly RuleKind[]) =>
    kinds.map((kind) => new AlertEngine(kind, THRESHOLDS[kind] ?? {}, { now: () => ts, hourOf: (t) => new Date(t).getUTCHours() }));
  let tick = 0;
  let alerts = 0;
  const runTick = (list: AlertEngine[]) => {
    ts += 2000;
    const base = snaps[tick++ % VARIANTS];
    // a new payload every tick, as in a flow (the rules of a chain keep their reading of a payload
    // object: the same object with its fields changed would be read as it was)
    const clients = base.clients.slice();
    // one device never seen before in every tick
    clients[0] = { ...clients[0], mac: `06:00:${[16, 8, 0].map((b) => ((tick >> b) & 255).toString(16).padStart(2, '0')).join(':')}:01` };
    const snap = { ...base, ts, clients };
    for (const e of list) alerts += e.handle('snapshot', snap).length;
  };
  const rows: Record<string, string | number>[] = [];
  const measure = (label: string, kinds: readonly RuleKind[]) => {
    const list = engines(kinds);
    // past the 30-minute warm-up of unusual_traffic, so its baselines are judged too
    for (let i = 0; i < 1000; i++) runTick(list);
    alerts = 0;
    const runs = 500;
    const t = timeIt(() => runTick(list), runs, 0);
    rows.push({ rules: label, clients: CLIENTS, 'median ms/tick': t.medianMs.toFixed(3), 'p95 ms/tick': t.p95Ms.toFixed(3), 'alerts in 500 ticks': alerts });
    return t;
  };
  for (const kind of RULE_KINDS) measure(kind, [kind]);
  const all = measure('all six', RULE_KINDS);
  console.log(`alert rules, ${CLIENTS} clients, one tick = one snapshot through one engine of each kind`);
  printTable(rows);
  console.log(`all six rule kinds: ${all.medianMs.toFixed(2)} ms median, ${all.p95Ms.toFixed(2)} ms p95 per tick (goal < 5 ms)`);
}

/**
 * Garbage per tick (bench/garbage): the default flow's nine alert rules (one of each kind, default
 * thresholds) chained, each handed the same snapshot object as usage-store sends it, one after
 * the other. Every call is a snapshot object not seen before (64 of them, more than a measure
 * takes), as every tick is.
 */
export function allocationCases(): AllocationCase[] {
  return [250, 1_000].map((n) => ({
    what: `alert rules: the nine of the default flow on a snapshot, ${n.toLocaleString('en')} clients`,
    clients: n,
    // what issue 17's round reached (250 clients: 345 -> 86-99 kB; 1,000: 931 -> 336-338 kB), plus ~20 %
    goalBytes: (n === 250 ? 120 : 410) * 1024,
    prepare: () => {
      const snaps = storedTicks(n, 64);
      let ts = snaps[0].ts as number;
      const list = RULE_KINDS.map((kind) => new AlertEngine(kind, kind === 'new_device' ? { waitSec: 0 } : {}, { now: () => ts }));
      let k = 0;
      return () => {
        const s = snaps[k++ % snaps.length];
        s.ts = ts += 2000;
        let alerts = 0;
        for (const e of list) alerts += e.handle('snapshot', s).length;
        return alerts;
      };
    },
  }));
}

if (require.main === module) void bench();
