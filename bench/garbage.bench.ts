// What each node allocates per tick (garbage included): the garbage collector's work, and what
// makes V8's young generation grow (the RSS figure of bench/pipeline, docs/performance.md).
// Every bench/*.bench.js that exports `allocationCases()` (bench/allocated.ts) is measured in a
// child node with a young generation big enough that nothing is collected during a measure.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ALLOCATION_FLAGS, allocatedPerCall, type AllocationCase } from './allocated';
import { printTable } from './stats';

const CHILD = '--equalnet-garbage-child';

function cases(): AllocationCase[] {
  const all: AllocationCase[] = [];
  for (const file of readdirSync(__dirname).filter((f) => f.endsWith('.bench.js') && f !== 'garbage.bench.js').sort()) {
    const mod = require(join(__dirname, file)) as { allocationCases?: () => AllocationCase[] };
    if (mod.allocationCases) all.push(...mod.allocationCases());
  }
  return all;
}

function child(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  const rows = cases().map((c) => {
    collect?.(); // the cases before leave their garbage to the old generation: none of it falls into this measure
    const call = c.prepare();
    const bytes = allocatedPerCall(call, 20, 150); // warm: what the optimised code allocates, as in a process running for hours
    return { what: c.what, clients: c.clients, bytes, goal: c.goalBytes ?? null };
  });
  process.stdout.write(JSON.stringify(rows));
}

export function bench(): void {
  const out = execFileSync(process.execPath, [...ALLOCATION_FLAGS, '--expose-gc', __filename, CHILD], { maxBuffer: 16 * 2 ** 20 }).toString();
  const rows = JSON.parse(out) as { what: string; clients: number; bytes: number; goal: number | null }[];
  console.log('(bytes allocated per call, garbage included; node with a 256 MB young generation so nothing is collected mid-measure)');
  printTable(
    rows.map((r) => ({
      'one tick of': r.what,
      'kB a call': (r.bytes / 1024).toFixed(1),
      'bytes a client': (r.bytes / Math.max(1, r.clients)).toFixed(0),
      goal: r.goal === null ? '—' : `< ${(r.goal / 1024).toFixed(0)} kB`,
      result: r.goal === null ? '-' : r.bytes < r.goal ? 'ok' : 'NO',
    })),
  );
}

if (process.argv.includes(CHILD)) child();
