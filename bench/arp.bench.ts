// arp-discover's per-tick work on a large LAN: parse `ip -j -s neigh` and look up every vendor.
import { parseNeighbours } from '../nodes/core/discover/neighbours';
import { defaultOuiIndex } from '../nodes/core/discover/oui';
import { printTable, timeIt } from './stats';

const ENTRIES = 5_000;
const TARGET_MS = 10;

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
  printTable([
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
  if (medianMs >= TARGET_MS) process.exitCode = 1;
}
