/**
 * Child process of store-crash.spec: ingests ticks of 250 clients as fast as it can, one raw
 * bucket per tick, and reports each commit on stdout (synchronously, so a reported tick has been
 * committed before the line leaves). The parent kills it with SIGKILL at a random moment.
 * Usage: node store-crash-child.js <db file> <first tick ms>
 */
import { writeSync } from 'node:fs';
import { fixedOffsetCalendar } from '../../nodes/core/store/calendar';
import { UsageStore } from '../../nodes/core/store/store';

export const CLIENTS = 250;
/** Download rate of client i at tick k, bits/s; the parent recomputes it to check what it reads. */
export const rxBpsOf = (k: number, i: number) => ((k % 1000) + i + 1) * 8000;

if (require.main === module) {
  const [file, first] = process.argv.slice(2);
  let ts = Number(first);
  const store = new UsageStore({
    file,
    clock: () => ts,
    calendar: fixedOffsetCalendar(0),
    resolutionSec: 1,
    onCommit: (ticks) => writeSync(1, `c ${ticks.join(' ')}\n`),
  });
  const macs = Array.from({ length: CLIENTS }, (_, i) => `a4:5e:60:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
  writeSync(1, 'ready\n');
  for (let k = 0; ; k++) {
    store.ingest({ ts, clients: macs.map((mac, i) => ({ mac, ip: `10.0.${i >> 8}.${i & 255}`, rxBps: rxBpsOf(k, i), txBps: 1000 })) });
    ts += 1000;
  }
}
