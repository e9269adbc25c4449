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
