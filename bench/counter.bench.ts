// iface-counter's per-tick work for 1,000 clients (an IPv4 and an IPv6 address each, so 4,000
// counters in the kernel): read the counters (nft -j + ip -j -s link, in parallel, as a tick does),
// parse them, compute the rates. Runs in a network namespace of its own (root), removed at the end.
// The measuring process itself runs inside the namespace, as Node-RED runs on a router: each
// command is then one process, not one more `ip netns exec` hop (~9 ms here) per command.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseLinkStats } from '../nodes/core/iface-stats';
import { MeteringCore, validateSnapshot } from '../nodes/core/metering';
import { parseTableCounters, tableNameFor } from '../nodes/core/nft-accounting';
import { runChecked } from '../nodes/core/runner';
import { execaRunner } from '../nodes/lib/execa-runner';
import { printTable, timeIt } from './stats';

const CLIENTS = 1_000;
const TARGET_MS = 20;
const RUNS = 40;

const sh = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

function snapshot(n: number, dualStack = true) {
  const hex = (v: number) => v.toString(16).padStart(2, '0');
  return {
    ts: Date.now(),
    clients: Array.from({ length: n }, (_, i) => ({
      mac: `3c:22:fb:00:${hex(i >> 8)}:${hex(i & 255)}`,
      ip: `10.78.${(i + 1) >> 8}.${(i + 1) & 255}`,
      ip6: dualStack ? [`fd00:78::${(i + 1).toString(16)}`] : [],
    })),
  };
}

async function timeAsync(fn: () => Promise<unknown>, runs: number, warmup = 5): Promise<{ medianMs: number; p95Ms: number }> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { medianMs: at(0.5), p95Ms: at(0.95) };
}

export async function bench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('needs root (a network namespace with an nftables table); not run');
    process.exitCode = 1;
    return;
  }
  const ns = `eqlab-${process.pid}-${randomBytes(2).toString('hex')}-b`;
  sh(['ip', 'netns', 'add', ns]);
  try {
    sh(['ip', '-n', ns, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
    sh(['ip', '-n', ns, 'link', 'set', 'lan0', 'up']);
    sh(['ip', '-n', ns, 'link', 'set', 'lan1', 'up']);
    try {
      execFileSync('ip', ['netns', 'exec', ns, process.execPath, __filename, '--inside'], { stdio: 'inherit' });
    } catch {
      process.exitCode = 1;
    }
  } finally {
    sh(['ip', 'netns', 'del', ns]);
  }
}

/** The measurement, run inside the bench's namespace. */
async function measure(): Promise<void> {
  {
    const runner = execaRunner;
    const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner, now: () => performance.now() });
    await core.start();
    const snap = snapshot(CLIENTS);
    const input = validateSnapshot(snap);
    const syncStart = performance.now();
    await core.tick(snap); // fills the sets: 4,000 elements
    const syncMs = performance.now() - syncStart;

    const table = tableNameFor('lan0');
    const nftArgv = ['nft', '-j', 'list', 'table', 'inet', table];
    const linkArgv = ['ip', '-j', '-s', 'link', 'show', 'dev', 'lan0'];
    let nftJson = '';
    let linkJson = '';
    const read = await timeAsync(async () => {
      [nftJson, linkJson] = await Promise.all([runChecked(runner, nftArgv), runChecked(runner, linkArgv)]);
    }, RUNS);
    const nftAlone = await timeAsync(() => runChecked(runner, nftArgv), RUNS);

    let at = performance.now();
    const parse = timeIt(() => {
      parseTableCounters(nftJson, table);
      parseLinkStats(linkJson, 'lan0');
    }, 200);
    const counters = parseTableCounters(nftJson, table);
    const stats = parseLinkStats(linkJson, 'lan0');
    const compute = timeIt(() => {
      at += 2000;
      core.compute(input, { stats, atMs: at }, null, { counters, atMs: at });
    }, 200);
    const elements = [...Object.values(counters)].reduce((n, m) => n + m.size, 0);

    const tick = await timeAsync(() => core.tick(snap), RUNS);
    await core.close();

    // the same with IPv4-only clients: half the elements, to show what the read scales with
    const core4 = new MeteringCore({ iface: 'lan1', perClient: true, smoothingS: 0 }, { runner, now: () => performance.now() });
    await core4.start();
    const snap4 = snapshot(CLIENTS, false);
    await core4.tick(snap4);
    const tick4 = await timeAsync(() => core4.tick(snap4), RUNS);
    await core4.close();

    const row = (work: string, t: { medianMs: number; p95Ms: number }, target = '-') => ({
      work,
      'median ms': t.medianMs.toFixed(2),
      'p95 ms': t.p95Ms.toFixed(2),
      target,
      result: target === '-' ? '-' : t.medianMs < TARGET_MS ? 'ok' : 'TOO SLOW',
    });
    printTable([
      row(`one tick, ${CLIENTS} clients (validate + read + parse + rates)`, tick, `< ${TARGET_MS} ms`),
      row('  kernel read: nft -j list table ‖ ip -j -s link', read),
      row('    of which nft -j list table alone', nftAlone),
      row(`  parse (${elements} nft elements + link stats)`, parse),
      row(`  rate computation (${CLIENTS} clients, ${elements} counters)`, compute),
      row('  validate the snapshot', timeIt(() => validateSnapshot(snap), 200)),
      row(`one tick, ${CLIENTS} IPv4-only clients (${2 * CLIENTS} nft elements)`, tick4),
      { work: `first fill of the sets (${elements} elements, one nft batch)`, 'median ms': syncMs.toFixed(1), 'p95 ms': '-', target: '-', result: '-' },
    ]);
    console.log(`(nft -j output: ${(nftJson.length / 1024).toFixed(0)} kB; measured inside the namespace, one process per command)`);
    if (tick.medianMs >= TARGET_MS) process.exitCode = 1;
  }
}

if (require.main === module && process.argv.includes('--inside')) {
  measure().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
