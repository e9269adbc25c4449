/**
 * tc-shaper against the real kernel: the lab's router shapes its LAN (br-lan egress for download,
 * an IFB fed from br-lan's ingress for upload) and iperf3 (Debian) measures what each client gets
 * from / to the WAN namespace. Needs root; without it this fails (it never skips).
 *
 * Frame vs payload: HTB counts whole Ethernet frames (skb->len, 14-byte header included; for GSO
 * packets the kernel adds every segment's headers), iperf3 reports TCP payload. A full-size segment
 * is 1514 bytes on the wire here (MTU 1500 + 14) carrying 1448 bytes of payload over IPv4 (20 IP +
 * 32 TCP with timestamps) or 1428 over IPv6 (40 + 32). So a class shaped at R bit/s carries
 * R x 1448/1514 (0.956) of payload over IPv4 and R x 1428/1514 (0.943) over IPv6: the expected
 * iperf3 figure is the allocation times that factor. What is asserted is what the kernel counted
 * per class (frames, `tc -s class show`) against the class's rate, ±5 %: iperf3's own figure
 * moves with how a busy machine schedules it (an IPv6 upload 5.22 % off was seen with one core
 * taken by another job); it is shown next to it.
 */
import assert from 'node:assert/strict';
import { AllocatorController } from '../../nodes/core/allocate/allocation';
import { inNetns } from '../../nodes/core/runner';
import { Shaper, type ShapingReport } from '../../nodes/core/shape/tc-apply';
import { differs } from '../../nodes/core/shape/tc-diff';
import { ifbNameFor, MAX_PACKET_BYTES } from '../../nodes/core/shape/tc-plan';
import { processRunner } from '../../nodes/lib/process-runner';
import { htbClassRates } from './htb-stats';
import { DEFAULT_CLIENTS, Lab, WAN, type LabClient } from './lab';

const MBIT = 1e6;
const LINK_MBPS = 20;
const PAYLOAD_PER_FRAME = { 4: 1448 / 1514, 6: 1428 / 1514 } as const;
const TOLERANCE = 0.05;
const SECONDS = 6;
const PORTS = [5201, 5202, 5203, 5204];

interface Measured {
  bps: number;
  intervals: { start: number; end: number; bps: number }[];
}

const pick = (...names: string[]) => DEFAULT_CLIENTS.filter((c) => names.includes(c.name));

describe('tc-shaper on the lab router (real kernel, HTB + IFB, iperf3 through the router)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let shaper: Shaper;
  let allocator: AllocatorController;
  const table: Record<string, string | number>[] = [];

  before(async () => {
    lab = await Lab.create({ clients: pick('iphone', 'galaxy', 'pi', 'laptop', 'tv') });
    for (const port of PORTS) lab.spawnIn(lab.wanNs, ['iperf3', '--server', '--port', String(port)]);
    shaper = new Shaper({ iface: lab.lanIface, mode: 'enforce', thresholdPercent: 5 }, inNetns(processRunner, lab.routerNs));
    allocator = new AllocatorController({ downMbps: LINK_MBPS, upMbps: LINK_MBPS, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 });
  });

  after(async () => {
    if (table.length) {
      console.log('\n      measured (iperf3 payload; expected = HTB rate x payload/frame):');
      const keys = Object.keys(table[0]);
      const w = keys.map((k) => Math.max(k.length, ...table.map((r) => String(r[k] ?? '').length)));
      console.log('      ' + keys.map((k, i) => k.padStart(w[i])).join('  '));
      for (const r of table) console.log('      ' + keys.map((k, i) => String(r[k] ?? '').padStart(w[i])).join('  '));
    }
    if (shaper) {
      await shaper.stop(false);
      const left = await lab.routerExec(['tc', 'qdisc', 'show', 'dev', lab.lanIface]);
      assert.doesNotMatch(left, /htb|ingress/, 'the LAN is left as found');
    }
    await lab?.destroy();
  });

  const client = (name: string): LabClient => lab.clients.get(name)!;

  /** Allocates for exactly these clients (all wanting the whole link) and applies it. */
  async function shape(prios: [string, number][]): Promise<{ report: ShapingReport; alloc: Map<string, { down: number; up: number; guarantee: number }> }> {
    const snapshot = allocator.allocate({
      ts: Date.now(),
      clients: prios.map(([name, priority]) => {
        const c = client(name);
        return { mac: c.mac, ip: c.ipv4, ip6: [c.ipv6], priority, rxBps: LINK_MBPS * MBIT, txBps: LINK_MBPS * MBIT };
      }),
    });
    const report = await shaper.shape(snapshot);
    assert.equal(report.error, null, report.error ?? '');
    const alloc = new Map(
      snapshot.clients.map((c, i) => [prios[i][0], { down: c.alloc!.down.rateBps, up: c.alloc!.up.rateBps, guarantee: snapshot.allocation.down.guaranteeBps }]),
    );
    return { report, alloc };
  }

  async function iperf(name: string, port: number, o: { download: boolean; family: 4 | 6; seconds?: number; interval?: number; omit?: boolean }): Promise<Measured> {
    const argv = ['iperf3', '--client', o.family === 4 ? WAN.wan4 : WAN.wan6, '--port', String(port), '--time', String(o.seconds ?? SECONDS), '--json'];
    if (o.download) argv.push('--reverse');
    if (o.omit !== false) argv.push('--omit', '2');
    if (o.interval) argv.push('--interval', String(o.interval));
    let text = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      text = await lab.exec(client(name).ns, argv, 30_000).catch((err: Error) => err.message);
      if (!/unable to connect|server is busy/i.test(text)) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    const json = JSON.parse(text.slice(text.indexOf('{'))) as {
      end: { sum_received: { bits_per_second: number } };
      intervals: { sum: { start: number; end: number; bits_per_second: number; omitted: boolean } }[];
      error?: string;
    };
    if (json.error) throw new Error(`iperf3 from ${name}: ${json.error}`);
    return {
      bps: json.end.sum_received.bits_per_second,
      intervals: json.intervals.filter((i) => !i.sum.omitted).map((i) => ({ start: i.sum.start, end: i.sum.end, bps: i.sum.bits_per_second })),
    };
  }

  /**
   * Runs one saturating iperf3 per client at once and checks each against its allocation: what its
   * HTB class sent (frames, as the kernel counted them, from 2 s to 5.5 s into the run) against
   * its rate, ±5 %. iperf3's payload figure is shown next to it (expected: rate x payload/frame).
   */
  /** What the classes sent is read over this window; HTB counts whole packets, so one GSO packet (64 KB) more or less at its edge is allowed. */
  const WINDOW_MS = 3500;
  const EDGE_BPS = (MAX_PACKET_BYTES * 8) / (WINDOW_MS / 1000);

  async function measureAll(what: string, runs: { name: string; family: 4 | 6; rateBps: number }[], download: boolean, exact: boolean): Promise<number[]> {
    const dev = download ? lab.lanIface : ifbNameFor(lab.lanIface);
    const counted = (async () => {
      await new Promise((r) => setTimeout(r, 2000));
      return htbClassRates(lab, dev, WINDOW_MS);
    })();
    const results = await Promise.all(runs.map((r, i) => iperf(r.name, PORTS[i], { download, family: r.family })));
    const classes = await counted;
    const problems: string[] = [];
    const frames = runs.map((r, i) => {
      const m = results[i];
      const sent = classes.get(shaper.ids[download ? 'down' : 'up'].minorFor(client(r.name).mac)) ?? 0;
      const expected = r.rateBps * PAYLOAD_PER_FRAME[r.family];
      const off = sent / r.rateBps - 1;
      table.push({ test: what, client: `${r.name} (IPv${r.family})`, 'HTB rate Mbit/s': (r.rateBps / MBIT).toFixed(2), 'class sent Mbit/s': (sent / MBIT).toFixed(2), 'off %': (off * 100).toFixed(1), 'iperf3 payload': (m.bps / MBIT).toFixed(2), 'expected payload': (expected / MBIT).toFixed(2) });
      if (exact && Math.abs(sent - r.rateBps) > TOLERANCE * r.rateBps + EDGE_BPS) problems.push(`${r.name}: its class sent ${(sent / MBIT).toFixed(2)} Mbit/s, rate ${(r.rateBps / MBIT).toFixed(2)} ±5 % (${(off * 100).toFixed(1)} %)`);
      return sent;
    });
    assert.deepEqual(problems, []);
    return frames;
  }

  for (const download of [true, false]) {
    const dir = download ? 'down' : 'up';
    const label = download ? 'download (LAN egress)' : 'upload (IFB)';

    it(`${label}: 20 Mbit/s, priorities 1 and 3 both saturating: each gets its allocation within ±5 %`, async () => {
      const { alloc } = await shape([['iphone', 1], ['galaxy', 3]]);
      assert.ok(alloc.get('iphone')![dir] > alloc.get('galaxy')![dir]);
      await measureAll(`${dir} p1/p3`, [
        { name: 'iphone', family: 4, rateBps: alloc.get('iphone')![dir] },
        { name: 'galaxy', family: 4, rateBps: alloc.get('galaxy')![dir] },
      ], download, true);
    });

    it(`${label}: four clients at priorities 1, 2, 3, 5: the order follows priority and all get at least the guarantee`, async () => {
      const prios: [string, number][] = [['iphone', 1], ['galaxy', 2], ['pi', 3], ['laptop', 5]];
      const { alloc } = await shape(prios);
      const measured = await measureAll(`${dir} 4 mixed`, prios.map(([name]) => ({ name, family: 4 as const, rateBps: alloc.get(name)![dir] })), download, false);
      for (let i = 1; i < measured.length; i++) assert.ok(measured[i - 1] > measured[i], `priority ${prios[i - 1][1]} got ${measured[i - 1]}, priority ${prios[i][1]} got ${measured[i]}`);
      // HTB frames against the guarantee, with the same ±5 % as the exact cases: the lowest class
      // is a 2 Mbit/s TCP flow, which swings by a few percent over a 3.5 s window (−2.8 % seen)
      const guarantee = alloc.get('iphone')!.guarantee;
      // (and one GSO packet at the window's edge: 0.15 Mbit/s over 3.5 s, 7 % of a 2 Mbit/s class)
      measured.forEach((bps, i) => assert.ok(bps >= guarantee * (1 - TOLERANCE) - EDGE_BPS, `${prios[i][0]}: ${bps} below the guarantee's ${guarantee} bit/s`));
    });

    it(`${label}: the IPv6-only client (priority 1, over IPv6) and an IPv4 one (priority 3): each within ±5 %`, async () => {
      const { alloc } = await shape([['tv', 1], ['galaxy', 3]]);
      await measureAll(`${dir} v6-only p1 / v4 p3`, [
        { name: 'tv', family: 6, rateBps: alloc.get('tv')![dir] },
        { name: 'galaxy', family: 4, rateBps: alloc.get('galaxy')![dir] },
      ], download, true);
    });
  }

  it('stop one of two saturating downloads: the other borrows up to its ceil within 2 s', async () => {
    const { alloc } = await shape([['iphone', 1], ['galaxy', 3]]);
    const minor = shaper.ids.down.minorFor(client('galaxy').mac);
    const rate = alloc.get('galaxy')!.down;
    const ceil = LINK_MBPS * MBIT;
    // galaxy's class as the kernel counted it (frames): while both run (1 to 2.5 s), and from 1 s to
    // 2 s after iphone's 3 s download ended
    const t0 = performance.now();
    const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - (performance.now() - t0))));
    const counted = (async () => {
      await at(1000);
      const shared = (await htbClassRates(lab, lab.lanIface, 1500)).get(minor) ?? 0;
      await at(4000);
      const borrowed = (await htbClassRates(lab, lab.lanIface, 1000)).get(minor) ?? 0;
      return { shared, borrowed };
    })();
    await Promise.all([
      iperf('iphone', PORTS[0], { download: true, family: 4, seconds: 3, omit: false }),
      iperf('galaxy', PORTS[1], { download: true, family: 4, seconds: 6, omit: false }),
    ]);
    const { shared, borrowed } = await counted;
    table.push({ test: 'borrow', client: 'galaxy (IPv4)', 'HTB rate Mbit/s': (rate / MBIT).toFixed(2), 'class sent Mbit/s': `${(shared / MBIT).toFixed(2)} -> ${(borrowed / MBIT).toFixed(2)}`, 'off %': ((borrowed / ceil - 1) * 100).toFixed(1), 'iperf3 payload': '', 'expected payload': '' });
    assert.ok(Math.abs(shared / rate - 1) < TOLERANCE, `while shared: its class sent ${(shared / MBIT).toFixed(2)} Mbit/s, rate ${(rate / MBIT).toFixed(2)}`);
    assert.ok(borrowed >= ceil * (1 - TOLERANCE), `1 to 2 s after the other stopped: ${(borrowed / MBIT).toFixed(2)} Mbit/s, ceil ${(ceil / MBIT).toFixed(2)}`);
  });

  it('changing one client\'s priority sends only the classes whose rate, ceil, prio or weight really changed', async () => {
    const prios: [string, number][] = [['iphone', 1], ['galaxy', 2], ['pi', 3], ['laptop', 5], ['tv', 4]];
    await shape(prios);
    const before = shaper.plan(allocator.allocate({ ts: 1, clients: prios.map(([n, p]) => ({ mac: client(n).mac, ip: client(n).ipv4, ip6: [client(n).ipv6], priority: p, rxBps: 20e6, txBps: 20e6 })) }));
    const changed: [string, number][] = prios.map(([n, p]) => [n, n === 'laptop' ? 1 : p]);
    const { report } = await shape(changed);
    const after = shaper.plan(allocator.allocate({ ts: 2, clients: changed.map(([n, p]) => ({ mac: client(n).mac, ip: client(n).ipv4, ip6: [client(n).ipv6], priority: p, rxBps: 20e6, txBps: 20e6 })) }));
    let really = 0;
    for (const d of ['down', 'up'] as const) {
      for (const [minor, c] of after[d].classes) {
        const was = before[d].classes.get(minor)!;
        if (was.prio !== c.prio || was.weight !== c.weight || differs(was.rateBps, c.rateBps, 5) || differs(was.ceilBps, c.ceilBps, 5)) really++;
      }
    }
    console.log(`      laptop 5 -> 1 among 5 clients: ${report.commands.length} commands sent, ${really} classes really changed, of ${after.down.classes.size + after.up.classes.size}; tc ran ${report.applyMs?.toFixed(1)} ms`);
    assert.equal(report.commands.length, really);
    assert.ok(report.commands.every((c) => c.startsWith('class change ')), report.commands.join('\n'));
    // and the kernel holds what was sent
    const laptopMinor = [...after.down.classes.values()].find((c) => c.mac === client('laptop').mac)!.minor.toString(16);
    const shown = await lab.routerExec(['tc', '-d', 'class', 'show', 'dev', lab.lanIface, 'classid', `eb:${laptopMinor}`]);
    // one prio for every client; its weight (5 at priority 1) is in the quantum
    assert.match(shown, /prio 1 quantum 40000 /);
    const again = await shaper.shape(allocator.allocate({ ts: 3, clients: changed.map(([n, p]) => ({ mac: client(n).mac, ip: client(n).ipv4, ip6: [client(n).ipv6], priority: p, rxBps: 20e6, txBps: 20e6 })) }));
    assert.deepEqual(again.commands, [], 'the same input again: nothing sent');
  });
});
