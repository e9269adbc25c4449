// Snapshots and recorded tc output for the tc-shaper's unit tests. The recorded output was taken
// from iproute2 6.1 on this machine's kernel (a veth pair in a namespace), by applying
// `snapshotOf(THREE)` with iface d0.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const tcFixture = (name: string): string => readFileSync(join(__dirname, '..', 'fixtures', 'tc', name), 'utf8');

export interface TestClient {
  mac: string;
  ip: string | null;
  ip6: string[];
  down: [number, number, number];
  up: [number, number, number];
}

export const THREE: TestClient[] = [
  { mac: '3c:22:fb:10:00:01', ip: '10.77.0.101', ip6: ['fd00:77::101', '2001:db8:1:2:3:4:5:1ff'], down: [12345678, 20e6, 0], up: [1500000, 20e6, 0] },
  { mac: '5c:49:7d:10:00:02', ip: '10.77.0.102', ip6: [], down: [7654322, 20e6, 2], up: [8000, 20e6, 2] },
  { mac: '10:4f:a8:10:00:08', ip: null, ip6: ['fd00:77::108'], down: [2e6, 19999999, 7], up: [18e6, 20e6, 7] },
];

export function snapshotOf(clients: TestClient[], downBps = 20e6, upBps = 20e6) {
  return {
    ts: 1,
    clients: clients.map((c) => ({
      mac: c.mac,
      ip: c.ip,
      ip6: c.ip6,
      alloc: {
        down: { rateBps: c.down[0], ceilBps: c.down[1], prio: c.down[2] },
        up: { rateBps: c.up[0], ceilBps: c.up[1], prio: c.up[2] },
      },
    })),
    allocation: { maxPriority: 5, minPercent: 10, down: { totalBps: downBps, guaranteeBps: 0, allocatedBps: 0 }, up: { totalBps: upBps, guaranteeBps: 0, allocatedBps: 0 } },
  };
}

/** n clients with one IPv4 and one IPv6 address each, rates adding up to the link. */
export function manyClients(n: number, totalBps = 1e9): TestClient[] {
  return Array.from({ length: n }, (_, i) => {
    const rate = Math.max(8000, Math.floor(totalBps / n));
    const prio = i % 5;
    return {
      mac: `02:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      ip6: [`fd00:77::${(i + 1).toString(16)}`],
      down: [rate, totalBps, prio],
      up: [rate, totalBps, prio],
    };
  });
}
