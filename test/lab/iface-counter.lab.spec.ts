/**
 * iface-counter against real traffic: iperf3 flows of a set rate from lab clients through the
 * lab router to the WAN namespace, counted by the kernel (nftables sets in the router namespace,
 * the bridge's own counters) and read by the node in a real Node-RED runtime. Needs root; without
 * it this fails (it never skips). Traffic stays inside the lab's namespaces.
 */
import assert from 'node:assert/strict';
import { configNodeModule, catchNodeModule, getNode, load, nextMessage, record, startServer, stopServer, type FlowNode } from '../helpers/node-red';
import { MeterChild } from '../helpers/meter-child';
import { DEFAULT_CLIENTS, Lab, WAN, type LabClient } from './lab';

const counterModule = require('../../nodes/iface-counter');

/** Ticks for the accuracy tests: the shipped flow's 2 s, so the jitter of a read weighs half what it would at 1 s. */
const TICK_MS = 2000;
/** Ticks where only the shape of the reaction matters (stops, flushes). */
const QUICK_TICK_MS = 1000;
const PAYLOAD_BYTES = 1400;

type Rated = { mac: string; rxBps: number | null; txBps: number | null };
type Out = { topic: string; payload: { totals: { rxBps: number | null; txBps: number | null }; clients: Rated[]; metering: { perClient: string; warning: string | null; via: string } } };

interface IperfReport {
  end: { sum: { bits_per_second: number; lost_percent?: number } };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (measured: number, reference: number) => ((measured - reference) / reference) * 100;
const mbps = (bps: number | null) => (bps === null ? 'null' : (bps / 1e6).toFixed(3));

describe('iface-counter on the lab LAN (nftables counters and interface counters in the router namespace, iperf3 traffic)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let iphone: LabClient;
  let galaxy: LabClient;
  let tv: LabClient;
  let table = '';
  const servers: { stop: () => void }[] = [];

  const flow = (): FlowNode[] => [
    { id: 't1', type: 'tab', label: 'lab' },
    { id: 'cfg', type: 'equalnet-config', iface: lab.lanIface, downMbps: '100', upMbps: '20', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile: 'x.db' },
    { id: 'counter', type: 'iface-counter', z: 't1', config: 'cfg', perClient: true, smoothing: '0', netns: lab.routerNs, wires: [['out']] },
    { id: 'out', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
  ];

  /** The snapshot arp-discover would send for these lab clients. */
  const snapshot = () => ({
    ts: Date.now(),
    iface: lab.lanIface,
    clients: [iphone, galaxy, tv].map((c) => ({ mac: c.mac, ip: c.ipv4, ip6: [c.ipv6], hostname: c.spec.hostname })),
  });

  async function tick(): Promise<Out> {
    getNode('counter').receive({ payload: snapshot() } as never);
    return nextMessage<Out>('out', 10_000);
  }

  const rateOf = (out: Out, c: LabClient) => out.payload.clients.find((x) => x.mac === c.mac)!;

  /** Runs iperf3 (UDP at `mbit` Mbit/s) from a client to the WAN: `down` = reverse mode, the WAN sends. */
  function iperf(c: LabClient, opts: { down: boolean; mbit: number; seconds: number; port: number; v6?: boolean }): Promise<IperfReport> {
    const target = opts.v6 ? WAN.wan6 : WAN.wan4;
    const argv = ['iperf3', '--client', target, '--port', String(opts.port), '--udp', '--bitrate', `${opts.mbit}M`, '--length', String(PAYLOAD_BYTES), '--time', String(opts.seconds), '--json'];
    if (opts.down) argv.push('--reverse');
    return lab.exec(c.ns, argv, (opts.seconds + 10) * 1000).then((out) => JSON.parse(out) as IperfReport);
  }

  /**
   * Ticks every second while a flow runs; returns the ticks whose whole window lies inside the flow
   * (the first second is skipped: iperf3's control connection and start-up).
   */
  async function ticksDuring(flows: Promise<unknown>, seconds: number, next: () => Promise<Out> = tick): Promise<Out[]> {
    const started = Date.now();
    await sleep(1200);
    await next(); // baseline inside the flow
    const inside: Out[] = [];
    // only windows that end at least 0.5 s before the flow does
    while (Date.now() - started + TICK_MS < seconds * 1000 - 500) {
      await sleep(TICK_MS);
      inside.push(await next());
    }
    await flows;
    return inside;
  }

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

  before(async () => {
    lab = await Lab.create({ clients: DEFAULT_CLIENTS.filter((c) => ['iphone', 'galaxy', 'tv'].includes(c.name)) });
    iphone = lab.clients.get('iphone')!;
    galaxy = lab.clients.get('galaxy')!;
    tv = lab.clients.get('tv')!;
    table = `equalnet_acct_${lab.lanIface.replace(/[^A-Za-z0-9_]/g, '_')}`;
    // two servers, so that two clients can run at once; both listen on IPv4 and IPv6
    servers.push(lab.spawnIn(lab.wanNs, ['iperf3', '--server', '--port', '5201']));
    servers.push(lab.spawnIn(lab.wanNs, ['iperf3', '--server', '--port', '5202']));
    await sleep(300);
    await startServer();
    await load([configNodeModule, counterModule, catchNodeModule], flow());
    record('out', 'caught');
    await sleep(500); // the node's first reading (table created) at deploy
  });
  let running = true;
  after(async () => {
    for (const s of servers) s.stop();
    if (running) await stopServer();
    await lab?.destroy();
  });

  it('creates its own table in the router namespace, with the clients\' addresses in it after the first tick', async () => {
    const out = await tick();
    assert.equal(out.topic, 'snapshot');
    assert.equal(out.payload.metering.perClient, 'nft');
    assert.equal(out.payload.metering.warning, null);
    assert.equal(out.payload.metering.via, 'commands', 'a node with a namespace setting reads with nft and ip in that namespace');
    const list = await lab.routerExec(['nft', 'list', 'table', 'inet', table]);
    for (const c of [iphone, galaxy]) assert.match(list, new RegExp(c.ipv4!.replace(/\./g, '\\.')));
    assert.match(list, /fd00:77::/);
  });

  /**
   * An 8 s iperf3 flow of 40 Mbit/s for client `c`, ticked with `next`: each tick's rate for `c`
   * is within ±5 % of what iperf3 reports, the interface rate within ±5 % of the sum of clients.
   */
  async function accuracy(c: LabClient, down: boolean, v6: boolean, next: () => Promise<Out>): Promise<void> {
    const seconds = 8;
    const run = iperf(c, { down, mbit: 40, seconds, port: 5201, v6 });
    const inside = await ticksDuring(run, seconds, next);
    const report = await run;
    const reference = report.end.sum.bits_per_second;
    const rates = inside.map((o) => (down ? rateOf(o, c).rxBps : rateOf(o, c).txBps)!);
    const sums = inside.map((o) => o.payload.clients.reduce((s, x) => s + ((down ? x.rxBps : x.txBps) ?? 0), 0));
    const ifaceRates = inside.map((o) => (down ? o.payload.totals.rxBps : o.payload.totals.txBps)!);
    const header = (v6 ? 48 : 28) / PAYLOAD_BYTES; // IP + UDP headers the node counts and iperf3 does not
    const errors = rates.map((r) => pct(r, reference));
    console.log(
      `      iperf3 ${(reference / 1e6).toFixed(3)} Mbit/s (lost ${report.end.sum.lost_percent?.toFixed(2) ?? '?'} %); node per tick ${rates.map(mbps).join(', ')} Mbit/s\n` +
        `      error vs iperf3: ${errors.map((e) => e.toFixed(2)).join(', ')} % (mean ${pct(mean(rates), reference).toFixed(2)} %; ` +
        `${(header * 100).toFixed(1)} % of it is the IP/UDP header iperf3 does not count: vs payload + headers ${pct(mean(rates), reference * (1 + header)).toFixed(2)} %)\n` +
        `      interface ${ifaceRates.map(mbps).join(', ')} Mbit/s vs sum of clients: ${ifaceRates.map((r, i) => pct(r, sums[i]).toFixed(2)).join(', ')} %`,
    );
    assert.ok(rates.length >= 2);
    for (const e of errors) assert.ok(Math.abs(e) <= 5, `per-client error ${e.toFixed(2)} % is over 5 %`);
    for (let i = 0; i < rates.length; i++) assert.ok(Math.abs(pct(ifaceRates[i], sums[i])) <= 5, `interface ${mbps(ifaceRates[i])} vs sum ${mbps(sums[i])}`);
    // the other direction and the other clients carry next to nothing
    for (const o of inside) {
      for (const x of o.payload.clients) if (x.mac !== c.mac) assert.ok((down ? x.rxBps! : x.txBps!) < 0.01 * reference, `${x.mac} shows ${mbps(down ? x.rxBps : x.txBps)} Mbit/s`);
    }
  }

  const cases: { who: () => LabClient; name: string; v6: boolean }[] = [
    { who: () => iphone, name: 'IPv4 client (iphone)', v6: false },
    { who: () => tv, name: 'IPv6-only client (tv)', v6: true },
  ];
  for (const { who, name, v6 } of cases) {
    for (const down of [true, false]) {
      it(`${name}, ${down ? 'download' : 'upload'} at 40 Mbit/s: its rate is within ±5 % of iperf3's, the interface rate matches the sum`, () =>
        accuracy(who(), down, v6, tick));
    }
  }

  it('tells two clients apart (iphone downloads 30, galaxy uploads 20 Mbit/s at once), and a client that stops drops to ~0 within two ticks', async () => {
    const seconds = 8;
    const a = iperf(iphone, { down: true, mbit: 30, seconds, port: 5201 });
    const b = iperf(galaxy, { down: false, mbit: 20, seconds, port: 5202 });
    const inside = await ticksDuring(Promise.all([a, b]), seconds);
    const [ra, rb] = [(await a).end.sum.bits_per_second, (await b).end.sum.bits_per_second];
    const iphoneRx = inside.map((o) => rateOf(o, iphone).rxBps!);
    const galaxyTx = inside.map((o) => rateOf(o, galaxy).txBps!);
    console.log(
      `      iphone ↓ iperf3 ${mbps(ra)}, node ${iphoneRx.map(mbps).join(', ')} (errors ${iphoneRx.map((r) => pct(r, ra).toFixed(2)).join(', ')} %)\n` +
        `      galaxy ↑ iperf3 ${mbps(rb)}, node ${galaxyTx.map(mbps).join(', ')} (errors ${galaxyTx.map((r) => pct(r, rb).toFixed(2)).join(', ')} %)`,
    );
    for (const r of iphoneRx) assert.ok(Math.abs(pct(r, ra)) <= 5);
    for (const r of galaxyTx) assert.ok(Math.abs(pct(r, rb)) <= 5);
    for (const o of inside) {
      assert.ok(rateOf(o, iphone).txBps! < 0.01 * rb, 'iphone does not upload');
      assert.ok(rateOf(o, galaxy).rxBps! < 0.01 * ra, 'galaxy does not download');
      assert.ok(rateOf(o, tv).rxBps! + rateOf(o, tv).txBps! < 0.01 * rb, 'tv is idle');
    }
    // both flows have ended (iperf3 returned): the next tick covers their tail, the one after is idle
    await sleep(QUICK_TICK_MS);
    const first = await tick();
    await sleep(QUICK_TICK_MS);
    const second = await tick();
    console.log(`      after the flows ended: iphone ↓ ${mbps(rateOf(first, iphone).rxBps)} then ${mbps(rateOf(second, iphone).rxBps)} Mbit/s; galaxy ↑ ${mbps(rateOf(first, galaxy).txBps)} then ${mbps(rateOf(second, galaxy).txBps)} Mbit/s`);
    assert.ok(rateOf(second, iphone).rxBps! < 0.01 * ra);
    assert.ok(rateOf(second, galaxy).txBps! < 0.01 * rb);
  });

  /** A 40 Mbit/s download by iphone, ticked with `next`, while `underneath` runs in the router namespace. */
  async function flushedUnderneath(underneath: readonly string[], next: () => Promise<Out>): Promise<void> {
    const seconds = 8;
    const run = iperf(iphone, { down: true, mbit: 40, seconds, port: 5201 });
    await sleep(1200);
    await next();
    await sleep(QUICK_TICK_MS);
    const before = await next();
    await lab.routerExec(underneath.map((a) => (a === 'TABLE' ? table : a)));
    const rates: (number | null)[] = [];
    // what the LAN interface sent in the same tick: the kernel's own count of the same interval
    const linkRates: (number | null)[] = [];
    for (let i = 0; i < 3; i++) {
      await sleep(QUICK_TICK_MS);
      const o = await next();
      rates.push(rateOf(o, iphone).rxBps);
      linkRates.push(o.payload.totals.rxBps);
      for (const x of o.payload.clients) {
        assert.ok(x.rxBps === null || x.rxBps >= 0, 'no negative rate');
        assert.ok(x.txBps === null || x.txBps >= 0, 'no negative rate');
      }
    }
    const report = await run;
    const reference = report.end.sum.bits_per_second;
    console.log(`      before ${mbps(rateOf(before, iphone).rxBps)}, then ${rates.map(mbps).join(', ')} Mbit/s (iperf3 ${mbps(reference)})`);
    const steady = rateOf(before, iphone).rxBps!;
    for (const r of rates) assert.ok(r !== null && r <= steady * 1.05, `spike: ${mbps(r)} Mbit/s after ${mbps(steady)}`);
    // repaired at the tick that noticed (which holds the last rate); counting real bytes again from
    // the next. Compared with the interface's counter over the same tick, not with iperf3's average:
    // on a busy machine a UDP sender catches up in bursts, and a short tick sees them (42.3 Mbit/s
    // against iperf3's 40 was seen); the interface carries the same bytes plus the idle clients' chatter.
    for (const i of [1, 2]) {
      const link = linkRates[i]!;
      // ±5 %: the two are read one after the other (nft, then the link), each over its own interval,
      // and a UDP sender on a busy machine sends in bursts (+3 % seen with a core kept busy)
      assert.ok(Math.abs(rates[i]! / link - 1) <= 0.05, `after repair: ${mbps(rates[i])} Mbit/s, the interface ${mbps(link)} in the same tick`);
    }
    assert.ok(Math.abs(pct(rates[2]!, reference)) <= 15, `after repair: ${mbps(rates[2])} Mbit/s, iperf3 ${mbps(reference)}: counting real traffic`);
    await lab.routerExec(['nft', 'list', 'table', 'inet', table]);
  }

  const FLUSHES = [
    ['the whole ruleset flushed (nft flush ruleset)', ['nft', 'flush', 'ruleset']],
    ['the download set emptied (nft flush set)', ['nft', 'flush', 'set', 'inet', 'TABLE', 'down4']],
    ['the table deleted', ['nft', 'delete', 'table', 'inet', 'TABLE']],
  ] as const;
  for (const [what, argv] of FLUSHES) {
    it(`${what} underneath during a 40 Mbit/s download: no spike, no negative rate, counting resumes`, () => flushedUnderneath(argv, tick));
  }

  it('bad input raises a catchable error and the node goes on', async () => {
    getNode('counter').receive({ payload: { clients: [{ mac: 'nope' }] } } as never);
    const caught = await nextMessage<{ error: { message: string } }>('caught');
    assert.match(caught.error.message, /payload\.clients\[0\]\.mac/);
    const out = await tick();
    assert.equal(out.payload.clients.length, 3);
  });

  it('clients that leave are taken out of the table; the table is deleted when the flow stops, nothing else touched', async () => {
    // another table in the same namespace, not ours: it must survive
    await lab.routerExec(['nft', 'add table inet someone_else; add chain inet someone_else c { type filter hook forward priority 0; policy accept; }']);
    getNode('counter').receive({ payload: { ts: Date.now(), clients: [{ mac: iphone.mac, ip: iphone.ipv4, ip6: [] }] } } as never);
    await nextMessage<Out>('out');
    const list = await lab.routerExec(['nft', '-j', 'list', 'table', 'inet', table]);
    assert.ok(list.includes(iphone.ipv4!));
    assert.ok(!list.includes(galaxy.ipv4!), 'galaxy gone from the sets');
    assert.ok(!/fd00:77::/.test(list), 'IPv6 addresses gone from the sets');
    running = false;
    await stopServer();
    const ruleset = await lab.routerExec(['nft', 'list', 'ruleset']);
    assert.ok(!ruleset.includes(table), 'our table is gone');
    assert.match(ruleset, /table inet someone_else/);
  });

  // The node above reads through `ip netns exec` (its namespace setting). On a router Node-RED runs
  // in the router's own namespace and reads over netlink; here the same core runs in a process
  // inside the lab router's namespace (the node's table is gone by now: one counter per interface).
  describe('read over netlink, from a process inside the router namespace (as Node-RED on the router)', () => {
    let meter: MeterChild;
    const viaNetlink = async (): Promise<Out> => {
      const payload = await meter.request<Out['payload']>('tick', snapshot());
      assert.equal(payload.metering.via, 'netlink');
      return { topic: 'snapshot', payload };
    };
    before(async () => {
      meter = new MeterChild(lab.routerNs, lab.lanIface);
      await viaNetlink();
    });
    after(() => meter?.close());

    for (const { who, name, v6 } of cases) {
      for (const down of [true, false]) {
        it(`${name}, ${down ? 'download' : 'upload'} at 40 Mbit/s over netlink: within ±5 % of iperf3, the interface rate matches the sum`, () =>
          accuracy(who(), down, v6, viaNetlink));
      }
    }
    for (const [what, argv] of FLUSHES.filter(([w]) => !w.includes('ruleset'))) {
      it(`${what} underneath, read over netlink: no spike, no negative rate, counting resumes`, () => flushedUnderneath(argv, viaNetlink));
    }
  });
});
