// iface-counter's per-tick work for 1,000 clients (an IPv4 and an IPv6 address each, so 4,000
// counters in the kernel): read the counters (over netlink, as the node does on a router; and with
// nft -j + ip -j -s link, as it does with a namespace setting or without the netlink package),
// then compute the rates. Runs in a network namespace of its own (root), removed at the end.
// The measuring process itself runs inside the namespace, as Node-RED runs on a router: each
// command is then one process, not one more `ip netns exec` hop (~9 ms here) per command.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseLinkStats } from '../nodes/core/meter/iface-stats';
import { MeteringCore, validateSnapshot } from '../nodes/core/meter/metering';
import { commandReader } from '../nodes/core/meter/kernel-reader';
import { parseTableCounters, SET_NAMES, tableNameFor } from '../nodes/core/meter/nft-accounting';
import { runChecked } from '../nodes/core/runner';
import { processRunner } from '../nodes/lib/process-runner';
import { openNetlinkReader } from '../nodes/lib/netlink-reader';
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
      execFileSync('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', __filename, '--inside'], { stdio: 'inherit' });
    } catch {
      process.exitCode = 1;
    }
  } finally {
    sh(['ip', 'netns', 'del', ns]);
  }
}

type Timing = { medianMs: number; p95Ms: number };

/** The measurement, run inside the bench's namespace. */
async function measure(): Promise<void> {
  const runner = processRunner;
  const opened = openNetlinkReader();
  if (!opened.reader) console.log(`(${opened.problem}: only the nft/ip path is measured)`);
  const snap = snapshot(CLIENTS);
  const input = validateSnapshot(snap);
  const table = tableNameFor('lan0');

  // The node as it runs on a router: counters over netlink, in-process.
  const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner, reader: opened.reader, now: () => performance.now() });
  await core.start();
  const syncStart = performance.now();
  const first = await core.tick(snap); // fills the sets: 4,000 elements
  const syncMs = performance.now() - syncStart;
  const via = first.metering.via;

  const netlinkRead: Timing | null = opened.reader
    ? await timeAsync(() => Promise.all([opened.reader!.readSets(table, SET_NAMES), opened.reader!.readLink('lan0')]), RUNS)
    : null;

  // The same counters with the commands (what a node with a namespace setting uses, and the fallback).
  const commands = commandReader(runner);
  const nftArgv = ['nft', '-j', 'list', 'table', 'inet', table];
  const linkArgv = ['ip', '-j', '-s', 'link', 'show', 'dev', 'lan0'];
  let nftJson = '';
  let linkJson = '';
  const commandRead = await timeAsync(async () => {
    [nftJson, linkJson] = await Promise.all([runChecked(runner, nftArgv), runChecked(runner, linkArgv)]);
  }, RUNS);
  const nftAlone = await timeAsync(() => runChecked(runner, nftArgv), RUNS);
  const commandParse = timeIt(() => {
    parseTableCounters(nftJson, table);
    parseLinkStats(linkJson, 'lan0');
  }, 200);

  const counters = (await commands.readSets(table, SET_NAMES))!;
  const stats = await commands.readLink('lan0');
  let at = performance.now();
  const compute = timeIt(() => {
    at += 2000;
    core.compute(input, { stats, atMs: at }, null, { counters, atMs: at });
  }, 200);
  const validate = timeIt(() => validateSnapshot(snap), 200);
  const elements = [...Object.values(counters)].reduce((n, m) => n + m.size, 0);

  const tick = await timeAsync(() => core.tick(snap), RUNS);

  // memory over a long run: a router ticks every 2 s for months (43,200 ticks a day)
  const gc = (globalThis as { gc?: () => void }).gc;
  const memory = () => {
    gc?.();
    const m = process.memoryUsage();
    return { heapMB: m.heapUsed / 2 ** 20, externalMB: m.external / 2 ** 20, rssMB: m.rss / 2 ** 20 };
  };
  for (let i = 0; i < 200; i++) await core.tick(snap);
  const memBefore = memory();
  for (let i = 0; i < 2000; i++) await core.tick(snap);
  const memAfter = memory();
  await core.close();

  // the node with the commands only (a namespace setting, or no netlink package)
  const coreCommands = new MeteringCore({ iface: 'lan1', perClient: true, smoothingS: 0 }, { runner, now: () => performance.now() });
  await coreCommands.start();
  await coreCommands.tick(snap);
  const tickCommands = await timeAsync(() => coreCommands.tick(snap), RUNS);
  await coreCommands.close();

  const verdict = (t: Timing) => (t.medianMs < TARGET_MS ? 'ok' : 'TOO SLOW');
  const row = (work: string, t: Timing, target = '-') => ({
    work,
    'median ms': t.medianMs.toFixed(2),
    'p95 ms': t.p95Ms.toFixed(2),
    target,
    result: target === '-' ? '-' : verdict(t),
  });
  printTable([
    row(`one tick, ${CLIENTS} clients, read over ${via} (validate + read + rates)`, tick, `< ${TARGET_MS} ms`),
    ...(netlinkRead ? [row(`  kernel read over netlink: ${elements} set elements + link (dump + decode)`, netlinkRead)] : []),
    row(`  rate computation (${CLIENTS} clients, ${elements} counters)`, compute),
    row('  validate the snapshot', validate),
    row(`one tick, ${CLIENTS} clients, read with nft -j and ip -j (namespace setting / fallback)`, tickCommands),
    row('  kernel read: nft -j list table ‖ ip -j -s link', commandRead),
    row('    of which nft -j list table alone', nftAlone),
    row(`  parse (${elements} nft elements + link stats)`, commandParse),
    { work: `first fill of the sets (${elements} elements, one nft batch)`, 'median ms': syncMs.toFixed(1), 'p95 ms': '-', target: '-', result: '-' },
  ]);
  console.log(`(nft -j output: ${(nftJson.length / 1024).toFixed(0)} kB; measured inside the namespace, as Node-RED runs on a router)`);
  const mb = (v: number) => `${v.toFixed(1)} MB`;
  console.log(
    `memory over 2,000 more ticks over ${via}${gc ? ' (after a full GC)' : ' (no --expose-gc: without a GC first)'}: ` +
      `heap ${mb(memBefore.heapMB)} → ${mb(memAfter.heapMB)}, external ${mb(memBefore.externalMB)} → ${mb(memAfter.externalMB)}, RSS ${mb(memBefore.rssMB)} → ${mb(memAfter.rssMB)}`,
  );
  if (tick.medianMs >= TARGET_MS) process.exitCode = 1;
}

if (require.main === module && process.argv.includes('--inside')) {
  measure().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
