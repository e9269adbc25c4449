/**
 * The priority promise, kept by the kernel: the whole loop iface-counter (nft counters) ->
 * priority-allocator -> tc-shaper (HTB, enforce) ticks every 2 s in the lab router's namespace,
 * as the default flow does, while iperf3 TCP flows run between clients and the WAN namespace.
 *
 * What each client got is read from the kernel's own HTB class counters (bytes of whole frames,
 * headers included, over a window of several seconds), the same unit HTB's rates are in. The
 * policy share it is compared with is computed here, independently of the allocator: busy clients
 * get max(g, w × L) where their shares add up to the link less what the other classes used.
 * Nothing is mocked; needs root (it never skips).
 */
import assert from 'node:assert/strict';
import { AllocatorController } from '../../nodes/core/allocate/allocation';
import { fillLevels, weightOf } from '../../nodes/core/allocate/allocator';
import { MeteringCore } from '../../nodes/core/meter/metering';
import { inNetns } from '../../nodes/core/runner';
import { Shaper } from '../../nodes/core/shape/tc-apply';
import { DEFAULT_MINOR } from '../../nodes/core/shape/tc-tree';
import { ifbNameFor, MAX_PACKET_BYTES } from '../../nodes/core/shape/tc-plan';
import { processRunner } from '../../nodes/lib/process-runner';
import { htbClassRates } from './htb-stats';
import { DEFAULT_CLIENTS, Lab, WAN } from './lab';

const MBIT = 1e6;
const LINK_MBPS = 20;
const TICK_MS = 2000;
const NAMES = ['iphone', 'galaxy', 'pi', 'laptop', 'extender', 'plug', 'echo', 'sensor'];
const TOLERANCE = 0.1;

type Dir = 'down' | 'up';
interface Flow {
  name: string;
  family: 4 | 6;
  streams?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The policy, written out again: busy at max(g, w × L), adding up to what the others leave. */
function policyShares(weights: number[], linkBps: number, othersBps: number, g: number): number[] {
  const n = weights.length;
  const level = fillLevels(new Float64Array(n).fill(g), new Float64Array(n).fill(linkBps), Float64Array.from(weights), linkBps - othersBps);
  return Array.from(level);
}

describe('priority in the kernel: weighted shares under contention, the loop closed over real counters (lab, iperf3)', function () {
  this.timeout(180_000);
  let lab: Lab;
  let shaper: Shaper;
  let meter: MeteringCore;
  let allocator: AllocatorController;
  const priorities = new Map<string, number>();
  let timer: NodeJS.Timeout | null = null;
  let ticking: Promise<void> = Promise.resolve();
  let ticks = 0;
  let lastError: Error | null = null;
  const tables: string[] = [];
  let port = 5300;
  /** Per client, what the loop saw and did on each tick: shown with a failure, so a CI log explains it. */
  const trace = new Map<string, string[]>();

  before(async () => {
    lab = await Lab.create({ clients: DEFAULT_CLIENTS.filter((c) => NAMES.includes(c.name)) });
    const runner = inNetns(processRunner, lab.routerNs);
    shaper = new Shaper({ iface: lab.lanIface, mode: 'enforce', thresholdPercent: 5 }, runner);
    await shaper.start();
    meter = new MeteringCore({ iface: lab.lanIface, perClient: true, smoothingS: 0 }, { runner, now: () => performance.now() });
    await meter.start();
  });

  after(async () => {
    stopLoop();
    await ticking;
    if (tables.length) console.log('\n' + tables.join('\n\n'));
    await meter?.close();
    if (shaper) await shaper.stop(false);
    await lab?.destroy();
  });

  /** One tick of the pipeline, as the default flow runs it. */
  async function tick(): Promise<void> {
    const clients = NAMES.map((n) => {
      const c = lab.clients.get(n)!;
      return { mac: c.mac, ip: c.ipv4, ip6: [c.ipv6], priority: priorities.get(n) ?? 3 };
    });
    const metered = await meter.tick({ ts: Date.now(), iface: lab.lanIface, clients });
    const allocated = allocator.allocate(metered);
    const report = await shaper.shape(allocated);
    if (report.error) throw new Error(report.error);
    ticks++;
    const t = ((performance.now() - loopStart) / 1000).toFixed(1);
    NAMES.forEach((n, i) => {
      const c = allocated.clients[i];
      const mb = (bps: number | null | undefined) => (bps === undefined || bps === null ? '-' : (bps / MBIT).toFixed(2));
      const dir = (used: number | null | undefined, a: { rateBps: number; busy?: boolean }) => `${mb(used)}/${mb(a.rateBps)}${a.busy ? '*' : ''}`;
      const lines = trace.get(n) ?? [];
      lines.push(`${t}s down ${shaper.ids.down.minorFor(c.mac).toString(16)} ${dir(c.rxBps, c.alloc!.down)} up ${shaper.ids.up.minorFor(c.mac).toString(16)} ${dir(c.txBps, c.alloc!.up)}`);
      if (lines.length > 16) lines.shift();
      trace.set(n, lines);
    });
  }

  let loopStart = 0;
  function startLoop(prios: Record<string, number>): void {
    stopLoop();
    trace.clear();
    loopStart = performance.now();
    priorities.clear();
    for (const n of NAMES) priorities.set(n, prios[n] ?? 3);
    allocator = new AllocatorController({ downMbps: LINK_MBPS, upMbps: LINK_MBPS, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 });
    lastError = null;
    const run = () => {
      ticking = ticking.then(tick).catch((err: Error) => {
        lastError = err;
      });
    };
    run();
    timer = setInterval(run, TICK_MS);
  }

  function stopLoop(): void {
    if (timer) clearInterval(timer);
    timer = null;
  }

  /** Starts a saturating iperf3 TCP flow; returns a stop function. */
  function flow(f: Flow, dir: Dir, seconds: number): () => void {
    const p = port++;
    const server = lab.spawnIn(lab.wanNs, ['iperf3', '--server', '--one-off', '--port', String(p)]);
    const argv = ['iperf3', '--client', f.family === 4 ? WAN.wan4 : WAN.wan6, '--port', String(p), '--time', String(seconds), '--parallel', String(f.streams ?? 1)];
    if (dir === 'down') argv.push('--reverse');
    let client: ReturnType<Lab['spawnIn']> | null = null;
    // the server needs a moment to listen
    const started = setTimeout(() => (client = lab.spawnIn(lab.clients.get(f.name)!.ns, argv)), 300);
    return () => {
      clearTimeout(started);
      client?.stop();
      server.stop();
    };
  }

  /** What each client's class carried over `ms`, bit/s of frames, and what all classes carried. */
  async function measure(dir: Dir, ms: number): Promise<{ byName: Map<string, number>; totalBps: number; seconds: number }> {
    const rates = await htbClassRates(lab, dir === 'down' ? lab.lanIface : ifbNameFor(lab.lanIface), ms);
    const byName = new Map<string, number>();
    let totalBps = 0;
    const current = new Map(NAMES.map((n) => [shaper.ids[dir].minorFor(lab.clients.get(n)!.mac), n]));
    for (const [minor, bps] of rates) {
      if (minor === 1) continue; // the root class counts everything again
      const name = current.get(minor);
      // a class made afresh in the window (tc-plan's freshClassNeeded) leaves its old one behind:
      // that one is gone from the second reading and counts for nobody
      if (!name && minor !== DEFAULT_MINOR) continue;
      totalBps += bps;
      if (name) byName.set(name, bps);
    }
    return { byName, totalBps, seconds: ms / 1000 };
  }

  /** Compares the busy clients with their policy shares; returns the rows for the table. */
  function check(title: string, busy: Flow[], m: { byName: Map<string, number>; totalBps: number; seconds: number }, tolerance = TOLERANCE): void {
    const names = busy.map((f) => f.name);
    const othersBps = m.totalBps - names.reduce((s, n) => s + (m.byName.get(n) ?? 0), 0);
    const g = Math.floor(Math.min(0.1 * LINK_MBPS * MBIT, (LINK_MBPS * MBIT) / NAMES.length));
    const weights = names.map((n) => weightOf(priorities.get(n)!, 5));
    const shares = policyShares(weights, LINK_MBPS * MBIT, othersBps, g);
    const rows = busy.map((f, i) => {
      const got = m.byName.get(f.name) ?? 0;
      return { f, p: priorities.get(f.name)!, w: weights[i], share: shares[i], got, off: got / shares[i] - 1 };
    });
    tables.push(
      [
        `      ${title} (link ${LINK_MBPS} Mbit/s of frames; others used ${(othersBps / MBIT).toFixed(2)}; after ${ticks} ticks)`,
        '      client        prio  weight  share Mbit/s  measured Mbit/s  off %',
        ...rows.map((r) => `      ${`${r.f.name} (IPv${r.f.family}${r.f.streams ? ` x${r.f.streams}` : ''})`.padEnd(14)}${String(r.p).padStart(4)}${String(r.w).padStart(8)}${(r.share / MBIT).toFixed(2).padStart(14)}${(r.got / MBIT).toFixed(2).padStart(17)}${(r.off * 100).toFixed(1).padStart(7)}`),
      ].join('\n'),
    );
    assert.equal(lastError, null, `the loop failed: ${lastError?.message}`);
    // HTB counts a class's bytes a whole packet at a time, and a GSO packet is up to 64 KB: over a
    // window of a few seconds one packet more or less at its edge is 64 KB whatever the share
    // (a 2.22 Mbit/s client sends ~17 in 4 s), so that much is allowed on top of the tolerance
    const edge = (MAX_PACKET_BYTES * 8) / m.seconds;
    // with a failure, the last ticks of each client it names: used/rate Mbit/s, * busy, class minor
    const traced = (names: string[]) => names.map((n) => `\n${n}, tick by tick (used/rate Mbit/s, * busy; class minor):\n  ${(trace.get(n) ?? []).join('\n  ')}`).join('');
    const beyond = (r: (typeof rows)[number]) => Math.abs(r.got - r.share) > tolerance * r.share + edge;
    // Below its share while the link had room for the difference is its sender's doing, not the
    // shaping's (ceil = the link: nothing held it; seen with a core kept busy, iperf3 starved). Below
    // its share while the others took the link is what this test is for.
    const unusedBps = LINK_MBPS * MBIT - m.totalBps;
    const senderLimited = (r: (typeof rows)[number]) => r.got < r.share && r.share - r.got <= unusedBps;
    for (const r of rows.filter((r) => beyond(r) && senderLimited(r))) {
      tables.push(`      ${title}: ${r.f.name} sent ${(r.got / MBIT).toFixed(2)} of its ${(r.share / MBIT).toFixed(2)} Mbit/s with ${(unusedBps / MBIT).toFixed(2)} Mbit/s of the link unused: its sender's limit${traced([r.f.name])}`);
    }
    if (process.env.EQUALNET_LAB_TRACE) tables.push(traced(names));
    const problems = rows.filter((r) => beyond(r) && !senderLimited(r)).map((r) => `${r.f.name}: ${(r.got / MBIT).toFixed(2)} Mbit/s, share ${(r.share / MBIT).toFixed(2)} (${(r.off * 100).toFixed(1)} %)`);
    const problemNames = rows.filter((r) => beyond(r) && !senderLimited(r)).map((r) => r.f.name);
    assert.deepEqual(problems, [], `${title}${traced(problemNames)}`);
    // priority order strict: a higher weight gets more whenever its share is larger
    // (a sender-limited client took less than it was let: not the order's doing)
    for (const a of rows) for (const b of rows) if (a.w > b.w && a.share > b.share * 1.1 && !(beyond(a) && senderLimited(a))) assert.ok(a.got > b.got, `${title}: priority ${a.p} got ${a.got}, priority ${b.p} got ${b.got}${traced([a.f.name, b.f.name])}`);
  }

  /** Runs `body` with the loop ticking at these priorities; every flow it starts is stopped after. */
  async function withLoop(prios: Record<string, number>, body: (start: (f: Flow, dir: Dir, seconds: number) => void) => Promise<void>): Promise<void> {
    startLoop(prios);
    const stops: (() => void)[] = [];
    try {
      await body((f, dir, seconds) => stops.push(flow(f, dir, seconds)));
    } finally {
      stops.forEach((s) => s());
      stopLoop();
      await ticking;
    }
  }

  async function scenario(dir: Dir, prios: Record<string, number>, busy: Flow[], o: { settleMs?: number; windowMs?: number; title: string; tolerance?: number }): Promise<void> {
    const settle = o.settleMs ?? 8000;
    const windowMs = o.windowMs ?? 10_000; // a 2 Mbit/s TCP flow sends ~8 GSO packets a tick: over 10 s its sawtooth averages out
    await withLoop(prios, async (start) => {
      for (const f of busy) start(f, dir, Math.ceil((settle + windowMs) / 1000) + 3);
      await sleep(settle);
      check(o.title, busy, await measure(dir, windowMs), o.tolerance);
    });
  }

  const mixed = { iphone: 1, galaxy: 3, pi: 5, laptop: 2, extender: 4, plug: 3, echo: 5, sensor: 2 };
  for (const dir of ['down', 'up'] as Dir[]) {
    for (const family of [4, 6] as const) {
      it(`${dir}load over IPv${family}: three busy clients at priorities 1, 3, 5 and five idle ones each get their weighted share ±10 %`, async () => {
        await scenario(dir, mixed, [{ name: 'iphone', family }, { name: 'galaxy', family }, { name: 'pi', family }], { title: `${dir} IPv${family}: p1 / p3 / p5 busy, 5 idle` });
      });
    }
  }

  it('worst order (lowest priority first, the highest joins seconds later): converges within 10 s and stays', async () => {
    await withLoop(mixed, async (start) => {
      start({ name: 'pi', family: 4 }, 'down', 40);
      await sleep(4000);
      start({ name: 'galaxy', family: 4 }, 'down', 36);
      await sleep(4000);
      start({ name: 'iphone', family: 4 }, 'down', 32);
      const busy: Flow[] = [{ name: 'iphone', family: 4 }, { name: 'galaxy', family: 4 }, { name: 'pi', family: 4 }];
      // within 10 s (5 ticks) of the last one joining, and still there 8 s later
      await sleep(7000);
      check('worst order, 7-10 s after the last joined', busy, await measure('down', 3000));
      await sleep(1000);
      check('worst order, 11-19 s after the last joined', busy, await measure('down', 8000));
    });
  });

  it('a priority changed mid-flow (as the API sends it) moves the shares within 6 s', async () => {
    const busy: Flow[] = [{ name: 'iphone', family: 4 }, { name: 'galaxy', family: 4 }, { name: 'pi', family: 4 }];
    await withLoop(mixed, async (start) => {
      for (const f of busy) start(f, 'down', 32);
      await sleep(6000);
      // over 6 s, as the other cases: a 2 Mbit/s TCP flow swings from one second to the next
      check('before: pi at priority 5', busy, await measure('down', 6000));
      // what equalnet-api's POST /api/priority/:id sends the allocator: a priority command
      // and, as the node does, the re-allocated last snapshot goes on to the shaper at once
      ticking = ticking.then(async () => {
        const { snapshot } = allocator.setPriority({ mac: lab.clients.get('pi')!.mac, priority: 1 });
        priorities.set('pi', 1);
        const report = await shaper.shape(snapshot);
        if (report.error) throw new Error(report.error);
      });
      await sleep(4000);
      check('pi 5 -> 1: 4 s later, over the next 2 s', busy, await measure('down', 2000));
    });
  });

  it('equal priorities, 8 flows against 1 and 1: each device gets a third ±5 %', async () => {
    const same = { iphone: 2, galaxy: 2, pi: 2 };
    await scenario('down', same, [{ name: 'iphone', family: 4, streams: 8 }, { name: 'galaxy', family: 4 }, { name: 'pi', family: 4 }], { title: 'equal priority, 8 flows vs 1 vs 1', tolerance: 0.05 });
  });

  it('one busy client alone gets at least 90 % of the link; a second joining gets its share within 6 s', async () => {
    await withLoop(mixed, async (start) => {
      start({ name: 'galaxy', family: 4 }, 'up', 30);
      await sleep(6000);
      const got = (await measure('up', 3000)).byName.get('galaxy')!;
      tables.push(`      up: galaxy (p3) alone: ${(got / MBIT).toFixed(2)} Mbit/s of ${LINK_MBPS}`);
      assert.ok(got >= 0.9 * LINK_MBPS * MBIT, `alone: ${(got / MBIT).toFixed(2)} Mbit/s`);
      start({ name: 'iphone', family: 4 }, 'up', 20);
      await sleep(4300);
      check('up: iphone (p1) joined galaxy (p3) 4 s ago, over the next 2 s', [{ name: 'iphone', family: 4 }, { name: 'galaxy', family: 4 }], await measure('up', 2000));
    });
  });

  for (const seed of [7, 21, 1999]) {
    it(`seeded random priorities for four busy clients (seed ${seed}): each within ±10 % of its share, order strict`, async () => {
      let s = seed;
      const rand = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      const prios: Record<string, number> = {};
      for (const n of NAMES) prios[n] = 1 + Math.floor(rand() * 5);
      const dir: Dir = rand() < 0.5 ? 'down' : 'up';
      const family = rand() < 0.5 ? 4 : 6;
      const busy = ['iphone', 'galaxy', 'pi', 'laptop'].map((name) => ({ name, family }) as Flow);
      await scenario(dir, prios, busy, { title: `seed ${seed}: ${dir} IPv${family}, priorities ${busy.map((f) => prios[f.name]).join(' / ')}` });
    });
  }
});
