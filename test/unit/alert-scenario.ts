/**
 * A long, busy, deterministic life of a LAN for the nine alert rules (issue 17's equivalence
 * check): 120 devices, a few dozen present at a time, joining, leaving, coming back under another
 * name or address, swapping places in the snapshot, bursting over their allocation, starving,
 * filling the link, crossing quotas; `joined` / `left` events and a registry. Thresholds short, so
 * every rule raises and clears many times. Every alert of every rule, in order, is the result.
 * Takes the engine class, so the same life can be run by another version of the code.
 */
import type { AlertEngine } from '../../nodes/core/alerts/engine';
import { RULE_KINDS } from '../../nodes/core/alerts/options';

type EngineClass = new (...args: ConstructorParameters<typeof AlertEngine>) => Pick<AlertEngine, 'handle'>;

const T0 = Date.UTC(2026, 2, 10, 7, 0);
const macOf = (i: number) => `0a:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

export function runScenario(Engine: EngineClass, ticks = 1500): unknown[] {
  let seed = 2026;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  let now = T0;
  const short: Record<string, Record<string, unknown>> = {
    over_allocation: { holdSec: 4, clearSec: 4, cooldownSec: 20 },
    new_device: { waitSec: 6 },
    priority_starvation: { holdSec: 4, clearSec: 4, cooldownSec: 20 },
    unusual_traffic: { holdSec: 2, clearSec: 4, cooldownSec: 20, baselineMin: 2, warmupMin: 1, minMbps: 0.5, sigma: 2 },
    link_saturation: { holdSec: 6, clearSec: 6, cooldownSec: 30 },
    device_gone: { goneSec: 12, cooldownSec: 0 },
    client_cap: { holdSec: 4, clearSec: 6, cooldownSec: 20 },
  };
  const engines = RULE_KINDS.map((kind) => ({ kind, engine: new Engine(kind, short[kind] ?? {}, { now: () => now, hourOf: (t: number) => new Date(t).getUTCHours() }) }));
  const out: unknown[] = [];
  const feed = (tick: number, topic: string, payload: unknown) => {
    for (const { kind, engine } of engines) {
      for (const a of engine.handle(topic, payload)) out.push({ tick, kind, a });
    }
  };
  // devices: a pool; some present; names and addresses change now and then
  const pool = Array.from({ length: 120 }, (_, i) => ({
    mac: macOf(i),
    ip: `10.1.0.${i + 2}`,
    name: i % 4 === 0 ? `dev-${i}` : null,
    hostname: i % 3 === 0 ? null : `host-${i}`,
    vendor: i % 2 ? 'Apple, Inc.' : null,
    priority: 1 + (i % 5),
    level: rand(),
  }));
  let present = pool.slice(0, 40).map((_, i) => i);
  feed(0, 'registry', { devices: pool.slice(0, 20).map((d) => ({ mac: d.mac, firstSeenTs: T0 - 86_400_000 })) });
  const LINK = { down: 100e6, up: 20e6 };
  for (let tick = 1; tick <= ticks; tick++) {
    now = T0 + tick * 2000;
    // leave, join, come back renamed, swap places
    if (rand() < 0.08 && present.length > 10) present.splice(Math.floor(rand() * present.length), 1);
    if (rand() < 0.08) {
      const i = Math.floor(rand() * pool.length);
      if (!present.includes(i)) present.push(i);
    }
    if (rand() < 0.03) {
      const d = pool[Math.floor(rand() * pool.length)];
      d.name = rand() < 0.5 ? `renamed-${tick}` : null;
      d.ip = `10.1.${1 + Math.floor(rand() * 3)}.${2 + Math.floor(rand() * 200)}`;
    }
    if (rand() < 0.05) {
      const a = Math.floor(rand() * present.length);
      const b = Math.floor(rand() * present.length);
      [present[a], present[b]] = [present[b], present[a]];
    }
    if (rand() < 0.02) present = present.slice().reverse();
    const saturated = Math.floor(tick / 120) % 3 === 1;
    const n = present.length;
    const share = { down: LINK.down / n, up: LINK.up / n };
    let rx = 0;
    let tx = 0;
    const clients = present.map((i, k) => {
      const d = pool[i];
      const burst = (tick + i * 7) % 90 < 12 ? 6 : 1;
      const busy = (i + Math.floor(tick / 50)) % 6 === 0;
      const rxBps = Math.round(share.down * (busy ? 1.1 : 0.2 + d.level * 0.5) * burst * (saturated ? 1.5 : 1) * (0.9 + 0.2 * rand()));
      const txBps = Math.round(share.up * (busy ? 1.05 : 0.1 + d.level * 0.4) * (0.9 + 0.2 * rand()));
      rx += rxBps;
      tx += txBps;
      const capped = i % 17 === 0;
      const c: Record<string, unknown> = {
        mac: d.mac,
        ip: d.ip,
        ip6: i % 5 === 0 ? [`fd00::${i.toString(16)}`] : [],
        hostname: d.hostname,
        vendor: d.vendor,
        name: d.name,
        priority: d.priority,
        rxBps,
        txBps,
        alloc: {
          down: { rateBps: Math.round(share.down * 0.5), ceilBps: capped ? 5e6 : LINK.down, prio: 1, expectedBps: Math.round(share.down * (0.6 + (5 - d.priority) * 0.1)), weight: 6 - d.priority, busy },
          up: { rateBps: Math.round(share.up * 0.5), ceilBps: capped ? 1e6 : LINK.up, prio: 1, expectedBps: Math.round(share.up * 0.8), weight: 6 - d.priority, busy },
        },
      };
      if (k % 7 === tick % 7 && rand() < 0.05) {
        c.quota = {
          dailyUsedBytes: 9e8,
          crossed: [{ period: rand() < 0.5 ? 'daily' : 'monthly', level: rand() < 0.5 ? 'warning' : 'exceeded', usedBytes: 9e8, limitBytes: 1e9, action: rand() < 0.5 ? 'alert' : 'throttle', throttleBps: 1e6, resetsAt: now + 3_600_000 }],
        };
      } else if (i % 9 === 0) c.quota = { dailyUsedBytes: 1e6 };
      return c;
    });
    const snapshot: Record<string, unknown> = {
      ts: now,
      iface: 'br-lan',
      totals: { rxBps: rx, txBps: tx },
      clients,
      allocation: {
        maxPriority: 5,
        minPercent: 10,
        down: { totalBps: LINK.down, guaranteeBps: LINK.down / n / 2, allocatedBps: LINK.down },
        up: { totalBps: LINK.up, guaranteeBps: LINK.up / n / 2, allocatedBps: LINK.up },
      },
    };
    if (Math.floor(tick / 200) % 4 === 2) snapshot.capped = { limit: 40, seen: 40 + (tick % 5), left: tick % 5 };
    if (tick % 50 === 25) snapshot.limited = { perMinute: 60, ignored: 3 };
    feed(tick, 'snapshot', snapshot);
    // arp-discover's events now and then
    if (rand() < 0.02) {
      const d = pool[Math.floor(rand() * pool.length)];
      feed(tick, rand() < 0.5 ? 'left' : 'joined', { ts: now, client: { mac: d.mac, ip: d.ip, hostname: d.hostname, vendor: d.vendor, name: d.name } });
    }
  }
  return out;
}
