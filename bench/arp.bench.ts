// arp-discover's per-tick work on a large LAN: parse `ip -j -s neigh` and look up every vendor.
import { DeviceTypeTable } from '../nodes/core/discover/device-type';
import { Discovery } from '../nodes/core/discover/discovery';
import { parseNeighbours } from '../nodes/core/discover/neighbours';
import { defaultOuiIndex } from '../nodes/core/discover/oui';
import type { AllocationCase } from './allocated';
import { deviceOf } from './pipeline-lan';
import { printTable, timeIt } from './stats';

const ENTRIES = 5_000;
const TARGET_MS = 10;
const TICK_DEVICES = 1_000;
/** A tick's share of the process's CPU goal (< 1 % at a 2 s tick is 20 ms for every node together). */
const TICK_TARGET_MS = 3;

/** A neighbour table as the kernel prints it: IPv4 and IPv6 entries, MACs from real blocks and randomized ones. */
export function neighbourTable(n: number): string {
  const prefixes = ['3c:22:fb', '5c:49:7d', 'dc:a6:32', '3c:a9:f4', '50:c7:bf', '24:0a:c4', '74:c2:46', '10:4f:a8', '70:b3:d5', 'da:a1:19'];
  const hex = (v: number) => v.toString(16).padStart(2, '0');
  const states = ['REACHABLE', 'STALE', 'DELAY', 'FAILED'];
  const entries = [];
  for (let i = 0; i < n; i++) {
    const mac = `${prefixes[i % prefixes.length]}:${hex((i >> 16) & 255)}:${hex((i >> 8) & 255)}:${hex(i & 255)}`;
    const dst = i % 3 === 2 ? `fd00:77::${i.toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    entries.push({ dst, lladdr: mac, refcnt: 1, used: 3, confirmed: i % 90, updated: 3, probes: 0, state: [states[i % states.length]] });
  }
  return JSON.stringify(entries);
}

/** One tick of a LAN as arp-discover reads it: the neighbour entries (as the netlink reader makes them) and the leases file. */
export interface LanTick {
  entries: { dst: string; state: string[]; lladdr?: string; confirmed?: number }[];
  leases: string;
}

/**
 * A home LAN of `n` devices, tick by tick (2 s apart), as the kernel and dnsmasq describe it: the
 * pipeline bench's devices (bench/pipeline-lan.ts: ten real vendors' blocks, one in ten a private
 * MAC, four in five named by DHCP) with an IPv4 entry each, a ULA for two in three, a global IPv6
 * address for one in three and a link-local one for one in two; REACHABLE, STALE and DELAY entries
 * whose "confirmed" ages grow and reset, a few FAILED ones; DHCPv4 leases for the named devices,
 * DHCPv6 ones (DUID-LL) for one in three. The entries come in one fixed order, as the kernel's
 * hash table gives them; each tick's are new objects with new strings, as the reader makes them.
 */
export function lanTick(n: number, tick: number): LanTick {
  const entries: LanTick['entries'] = [];
  const v4: string[] = [];
  const v6: string[] = [];
  const expiry = 1_900_000_000;
  for (let i = 0; i < n; i++) {
    const d = deviceOf(i);
    const host = (10 + i).toString(16);
    const age = (i * 7 + tick * 2) % 40;
    const state = i % 4 === 1 ? 'STALE' : i % 17 === 3 ? 'DELAY' : 'REACHABLE';
    const entry = (dst: string, extra = 0) => entries.push({ dst: `${dst}`, state: [state], lladdr: `${d.mac}`, confirmed: age + extra });
    entry(d.ip);
    if (i % 3 !== 2) entry(`fd00:88::${host}`, 1);
    if (i % 3 === 0) entry(`2001:db8:88:0:${host}:5eff:fe00:${host}`, 2);
    if (i % 2 === 0) entry(`fe80::${host}:5eff:fe00:${host}`, 3);
    if (i % 50 === 7) entries.push({ dst: `10.88.200.${i % 250}`, state: ['FAILED'] });
    if (d.hostname) v4.push(`${expiry + i} ${d.mac} ${d.ip} ${d.hostname} 01:${d.mac}`);
    if (i % 3 === 0) v6.push(`${expiry + i} ${i + 1} 2001:db8:88:0:${host}:5eff:fe00:${host} ${d.hostname ?? '*'} 00:03:00:01:${d.mac}`);
  }
  // the kernel's order: fixed, not the devices' order
  const order = entries.map((e, k) => ({ e, key: (Math.imul(k + 1, 0x9e3779b1) >>> 0) % 100_003 })).sort((a, b) => a.key - b.key);
  return { entries: order.map((o) => o.e), leases: [...v4, 'duid 00:01:00:01:2c:5e:10:aa:02:00:00:88:00:01', ...v6].join('\n') + '\n' };
}

const TICK_MS = 2_000;
const RING = 16;

/**
 * arp-discover's steady tick on a LAN of `n` devices (every one present, nobody new): a Discovery
 * as the default flow configures it (leases file, no probe, no reverse DNS), fed RING different
 * ticks of lanTick in turn. Each call is one tick's synchronous work, entries to snapshot.
 */
export function discoveryTicks(n: number): { discovery: Discovery; tick: () => ReturnType<Discovery['scanEntries']> } {
  const ticks = Array.from({ length: RING }, (_, k) => lanTick(n, k));
  let t = Date.UTC(2026, 10, 29, 12, 0, 0);
  let k = 0;
  const discovery = new Discovery(
    {
      iface: 'br-lan',
      probe: false,
      probeIntervalMs: 30_000,
      absenceMs: 300_000,
      leasesFile: '/var/lib/misc/dnsmasq.leases',
      reverseDns: false,
      maxPriority: 5,
      deviceTypes: new DeviceTypeTable(),
      clientCap: 1024,
      newMacsPerMinute: 10_000,
    },
    {
      runner: { run: () => Promise.reject(new Error('no commands in this bench')), watch: () => ({ stop() {} }) },
      readFile: () => Promise.reject(new Error('no files in this bench')),
      now: () => t,
      oui: defaultOuiIndex(),
    },
  );
  const tick = () => {
    const { entries, leases } = ticks[k++ % RING];
    t += TICK_MS;
    return discovery.scanEntries(entries, leases, t);
  };
  // every device present (the first tick takes them in), the JIT settled: about 8 MB of garbage
  for (let i = 0, warm = Math.ceil(16_000 / n); i < warm; i++) tick();
  return { discovery, tick };
}

/** One tick's garbage (bench/garbage.bench.ts): before this round 1.4 MB at 250 devices in this mix (0.69 MB a tick in the pipeline bench's). */
export function allocationCases(): AllocationCase[] {
  // reached: 49.5 kB at 250, 196 kB at 1,000; a fresh client object each (144 bytes: a client
  // already sent is never reused) is most of it
  return [
    { n: 250, goalBytes: 60_000 },
    { n: 1000, goalBytes: 235_000 },
  ].map(({ n, goalBytes }) => ({
    what: `arp-discover: neighbour entries + leases to snapshot, ${n} devices`,
    clients: n,
    prepare: () => discoveryTicks(n).tick,
    goalBytes,
  }));
}

export async function bench(): Promise<void> {
  const table = neighbourTable(ENTRIES);
  const loadStart = process.hrtime.bigint();
  const oui = defaultOuiIndex();
  const loadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
  let vendors = 0;
  const { medianMs, p95Ms } = timeIt(() => {
    const { neighbours } = parseNeighbours(table);
    vendors = 0;
    for (const n of neighbours) if (oui.lookup(n.mac)) vendors++;
  }, 100);
  const { tick } = discoveryTicks(TICK_DEVICES);
  const perTick = timeIt(tick, 200);
  printTable([
    {
      work: `one tick, entries + leases to snapshot, ${TICK_DEVICES} devices`,
      'median ms': perTick.medianMs.toFixed(2),
      'p95 ms': perTick.p95Ms.toFixed(2),
      target: `< ${TICK_TARGET_MS} ms`,
      result: perTick.medianMs < TICK_TARGET_MS ? 'ok' : 'TOO SLOW',
    },
    {
      work: `parse + vendor lookup, ${ENTRIES} entries`,
      'median ms': medianMs.toFixed(2),
      'p95 ms': p95Ms.toFixed(2),
      target: `< ${TARGET_MS} ms`,
      result: medianMs < TARGET_MS ? 'ok' : 'TOO SLOW',
    },
    { work: `registry load (once per process, ${oui.size} prefixes)`, 'median ms': loadMs.toFixed(0), 'p95 ms': '-', target: '-', result: '-' },
  ]);
  console.log(`(${vendors} of the live entries got a vendor; randomized MACs and FAILED entries get none)`);
  if (medianMs >= TARGET_MS || perTick.medianMs >= TICK_TARGET_MS) process.exitCode = 1;
}
