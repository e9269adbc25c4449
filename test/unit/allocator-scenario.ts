/**
 * A long, changing life of a LAN for priority-allocator (issue 17's equivalence check): devices as
 * the pipeline sends them (arp-discover's fields, iface-counter's rates) and in other shapes,
 * joining, leaving, swapping places, busy and idle in turn, priorities set by command and by the
 * registry, caps and throttles from the registry, the link and the guarantee changed by a config
 * command. Every snapshot the controller sends, as JSON, in order, is the result. Each output is
 * deep-frozen as soon as it is made: a later tick that changed an object already sent would throw.
 * Takes the controller class, so the same life can be run by another version of the code.
 */
import type { AllocatorController } from '../../nodes/core/allocate/allocation';

type ControllerClass = new (...args: ConstructorParameters<typeof AllocatorController>) => Pick<AllocatorController, 'allocate' | 'setPriority' | 'applyRegistry' | 'configure' | 'settingsChanged'>;

const macOf = (i: number) => `0e:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export function runAllocatorScenario(Controller: ControllerClass, ticks = 800): string[] {
  let seed = 1717;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const controller = new Controller({ downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3, clientCap: 1024 });
  const out: string[] = [];
  const keep = (s: unknown) => {
    if (s) out.push(JSON.stringify(deepFreeze(s)));
  };
  const T0 = Date.UTC(2026, 2, 10, 7);
  let present = Array.from({ length: 60 }, (_, i) => i);
  const level = Array.from({ length: 150 }, () => rand());
  for (let tick = 1; tick <= ticks; tick++) {
    if (rand() < 0.06 && present.length > 5) present.splice(Math.floor(rand() * present.length), 1);
    if (rand() < 0.06) {
      const i = Math.floor(rand() * 150);
      if (!present.includes(i)) present.push(i);
    }
    if (rand() < 0.04) {
      const a = Math.floor(rand() * present.length);
      const b = Math.floor(rand() * present.length);
      [present[a], present[b]] = [present[b], present[a]];
    }
    const clients = present.map((i) => {
      // most of them busy for a while now and then (rates held at the floor, shares moving)
      const crowd = Math.floor(tick / 60) % 4 === 2;
      const busy = (i + Math.floor(tick / 40)) % 7 === 0 || (crowd && i % 3 !== 0);
      const idle = (i + Math.floor(tick / 25)) % 3 === 0;
      const rx = idle ? Math.round(3e3 + 2e4 * level[i]) : busy ? Math.round(3e6 + 9e6 * rand()) : Math.round(2e4 + 5e5 * rand());
      const tx = idle ? Math.round(1e3 + 1e4 * level[i]) : Math.round(1e4 + 2e5 * rand());
      const discovered: Record<string, unknown> = {
        mac: i % 23 === 5 ? macOf(i).toUpperCase() : macOf(i),
        ip: `10.2.0.${i + 2}`,
        ip6: i % 4 === 0 ? [`fd00::${i.toString(16)}`] : [],
        hostname: i % 3 ? `host-${i}` : null,
        vendor: null,
        deviceType: 'laptop',
        icon: 'laptop',
        name: null,
        randomizedMac: false,
        firstSeen: T0,
        lastSeen: T0 + tick * 2000,
      };
      // arp-discover's own priority (a registry's) comes before the rates; some clients of another shape
      if (i % 11 === 0) discovered.priority = 1 + (i % 5);
      const c = i % 13 === 0 ? { mac: discovered.mac, ip: discovered.ip, rxBps: rx, txBps: tx } : Object.assign({}, discovered);
      c.rxBps = (i % 29 === 0 && tick % 5 === 0) || (i % 31 === 3 && Math.floor(tick / 30) % 2 === 0) ? null : rx;
      c.txBps = tx;
      return c;
    });
    keep(controller.allocate(deepFreeze({ ts: T0 + tick * 2000, iface: 'br-lan', clients })));
    if (tick % 97 === 0) keep(controller.setPriority({ mac: macOf(present[Math.floor(rand() * present.length)]), priority: 1 + Math.floor(rand() * 5) }).snapshot);
    if (tick % 151 === 0) {
      const devices = present.slice(0, 12).map((i, k) => ({
        mac: macOf(i),
        macs: [macOf(i)],
        priority: k % 3 === 0 ? null : 1 + (k % 5),
        limits: k % 4 === 0 ? { maxDownBps: 2e6, maxUpBps: 5e5, quotaDailyBytes: null, quotaMonthlyBytes: null, quotaAction: 'alert', throttleBps: null } : k % 4 === 1 ? { maxDownBps: null, maxUpBps: null, quotaDailyBytes: 1e9, quotaMonthlyBytes: null, quotaAction: 'throttle', throttleBps: 1e6 } : undefined,
        quota: k % 4 === 1 ? { throttled: tick % 2 === 1 } : undefined,
      }));
      keep(controller.applyRegistry({ devices }).snapshot);
    }
    if (tick === 400) keep(controller.configure({ total_bandwidth: 50, min_bandwidth_percent: 5 }).snapshot);
    if (tick === 600) keep(controller.settingsChanged({ downMbps: 200, upMbps: 40, maxPriority: 4, minPercent: 10 }).snapshot);
  }
  return out;
}
