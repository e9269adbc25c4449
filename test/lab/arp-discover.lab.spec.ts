/**
 * arp-discover against a real LAN: the lab's namespaces, the kernel's neighbour table, dnsmasq's
 * leases and DNS, arp-scan and ping. Needs root; without it this fails (it never skips).
 */
import assert from 'node:assert/strict';
import { DeviceTypeTable } from '../../nodes/core/discover/device-type';
import { Discovery } from '../../nodes/core/discover/discovery';
import { neighboursOf } from '../../nodes/core/discover/neighbours';
import { MeterChild } from '../helpers/meter-child';
import { defaultOuiIndex } from '../../nodes/core/discover/oui';
import { inNetns } from '../../nodes/core/runner';
import { processRunner } from '../../nodes/lib/process-runner';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  catchNodeModule,
  configNodeModule,
  getNode,
  load,
  nextMessage,
  record,
  startServer,
  stopServer,
  type FlowNode,
} from '../helpers/node-red';
import { assertRoot, DEFAULT_CLIENTS, Lab } from './lab';

const arpModule = require('../../nodes/arp-discover');

type Client = { mac: string; ip: string | null; ip6: string[]; hostname: string | null; vendor: string | null; randomizedMac: boolean; deviceType: string };
type Snap = { topic: string; payload: { clients: Client[] } };
type Event = { topic: string; payload: { event: string; ts: number; client: Client; initial: boolean } };

/** The routable IPv6 address and hostname each lab client must be found with. */
function expectClients(lab: Lab, clients: Client[]): void {
  assert.equal(clients.length, lab.clients.size, `found ${clients.map((c) => c.mac).join(', ')}`);
  for (const c of lab.clients.values()) {
    const found = clients.find((x) => x.mac === c.mac);
    assert.ok(found, `${c.spec.name} (${c.mac}) not found`);
    assert.equal(found.ip, c.ipv4, `${c.spec.name} IPv4`);
    assert.deepEqual(found.ip6, [c.ipv6], `${c.spec.name} IPv6`);
    assert.equal(found.vendor, c.spec.expectedVendor, `${c.spec.name} vendor`);
    assert.equal(found.randomizedMac, c.spec.expectedVendor === null, `${c.spec.name} randomizedMac`);
    // DHCP clients are named by the leases; the IPv6-only one by reverse DNS (with the lab's domain)
    const hostname = c.ipv4 ? c.spec.hostname : `${c.spec.hostname}.lab`;
    assert.equal(found.hostname, hostname, `${c.spec.name} hostname`);
  }
}

describe('arp-discover on the lab LAN (network namespaces, real kernel, real dnsmasq)', function () {
  this.timeout(60_000);
  let lab: Lab;

  before(async () => {
    assertRoot();
    lab = await Lab.create();
  });
  after(async () => {
    await lab?.destroy();
  });

  it('the core finds every client with the right MAC, IPv4, IPv6, vendor and hostname; the randomized MAC is flagged', async () => {
    const discovery = new Discovery(
      {
        iface: lab.lanIface,
        probe: true,
        probeIntervalMs: 1000,
        absenceMs: 10_000,
        leasesFile: lab.leasesFile,
        reverseDns: true,
        maxPriority: 5,
        deviceTypes: new DeviceTypeTable(),
      },
      { runner: inNetns(processRunner, lab.routerNs), readFile: (p) => readFile(p, 'utf8'), now: Date.now, oui: defaultOuiIndex() },
    );
    const started = process.hrtime.bigint();
    const { snapshot, warnings } = await discovery.scan();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`      first scan with probe (arp-scan + ping ff02::1) and reverse DNS: ${ms.toFixed(0)} ms`);
    assert.deepEqual(warnings, []);
    expectClients(lab, snapshot.clients);
    const pixel = snapshot.clients.find((c) => c.mac === DEFAULT_CLIENTS.find((d) => d.name === 'pixel')!.mac)!;
    assert.equal(pixel.randomizedMac, true);
    assert.equal(pixel.vendor, null);
  });

  it('over netlink, from inside the router namespace as on a router, the neighbour table is what `ip -j -s neigh` shows: both families, every state, ages', async () => {
    // more kinds of entries than the lab's clients leave: permanent and stale, IPv6 with zero runs
    // to compress, an IPv4-mapped address, a NOARP entry that ip leaves out
    const added: string[][] = [
      ['10.77.0.240', 'lladdr', '3c:22:fb:00:00:f0', 'nud', 'permanent'],
      ['10.77.0.241', 'lladdr', 'da:a1:19:00:00:f1', 'nud', 'stale'],
      ['fd00:77::1:0:0:f2', 'lladdr', '24:0a:c4:00:00:f2', 'nud', 'reachable'],
      ['fd00:77:0:1::f3', 'lladdr', '50:c7:bf:00:00:f3', 'nud', 'permanent'],
      ['::ffff:10.77.0.244', 'lladdr', '3c:22:fb:00:00:f4', 'nud', 'permanent'],
      ['10.77.0.243', 'lladdr', '3c:22:fb:00:00:f3', 'nud', 'noarp'],
    ];
    let child: MeterChild | undefined;
    try {
      for (const a of added) execFileSync('ip', ['-n', lab.routerNs, 'neigh', 'replace', a[0], 'dev', lab.lanIface, ...a.slice(1)]);
      child = new MeterChild(lab.routerNs, lab.lanIface);
      type Entry = { dst: string; lladdr?: string; state: string[]; confirmed?: number };
      const { netlink, commands, netlinkAfter } = await child.request<{ netlink: Entry[]; commands: Entry[]; netlinkAfter: Entry[] }>('neighbours');
      const byDst = (list: Entry[]) => new Map(list.map((e) => [e.dst, e]));
      const [before, after] = [byDst(netlink), byDst(netlinkAfter)];
      assert.deepEqual([...before.keys()].sort(), commands.map((e) => e.dst).sort(), 'the same entries');
      for (const a of added.slice(0, 5)) assert.ok(before.has(a[0]), `${a[0]} read over netlink`);
      assert.ok(!before.has('10.77.0.243'), 'NOARP left out, as ip does');
      assert.ok(commands.length >= lab.clients.size + 5, `${commands.length} entries`);
      // an entry may change state between the reads (REACHABLE to STALE): it equals one of the two
      for (const c of commands) {
        const same = (e: Entry | undefined) => e !== undefined && e.lladdr === c.lladdr && JSON.stringify(e.state) === JSON.stringify(c.state);
        assert.ok(same(before.get(c.dst)) || same(after.get(c.dst)), `${c.dst}: ip ${JSON.stringify(c)}, netlink ${JSON.stringify(before.get(c.dst))} / ${JSON.stringify(after.get(c.dst))}`);
        const ages = [before.get(c.dst)!.confirmed!, after.get(c.dst)?.confirmed ?? before.get(c.dst)!.confirmed!];
        assert.ok(c.confirmed! >= Math.min(...ages) - 1 && c.confirmed! <= Math.max(...ages) + 1, `${c.dst}: confirmed ${c.confirmed} s ago by ip, ${ages.join(' / ')} by netlink`);
      }
      // what arp-discover makes of them is the same
      const neighbours = (list: Entry[]) => neighboursOf(list).neighbours.map((n) => `${n.ip} ${n.mac}`).sort();
      assert.deepEqual(neighbours(netlink), neighbours(commands));
    } finally {
      await child?.close();
      for (const a of added) spawnSync('ip', ['-n', lab.routerNs, 'neigh', 'del', a[0], 'dev', lab.lanIface]);
    }
  });

  describe('the node in a real Node-RED runtime, commands run in the router namespace', () => {
    const flow = (): FlowNode[] => [
      { id: 't1', type: 'tab', label: 'lab' },
      { id: 'cfg', type: 'equalnet-config', iface: 'br-lan', downMbps: '100', upMbps: '20', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile: 'x.db' },
      {
        id: 'arp',
        type: 'arp-discover',
        z: 't1',
        config: 'cfg',
        probe: true,
        probeInterval: '1',
        absence: '3',
        leasesFile: lab.leasesFile,
        reverseDns: true,
        watch: true,
        deviceTypes: '[]',
        netns: lab.routerNs,
        wires: [['snapshots'], ['events']],
      },
      { id: 'snapshots', type: 'helper', z: 't1' },
      { id: 'events', type: 'helper', z: 't1' },
      { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 't1' },
    ];
    let ticker: NodeJS.Timeout | null = null;
    const tick = () => getNode('arp').receive({ payload: Date.now() } as never);

    before(async () => {
      await startServer();
      await load([configNodeModule, arpModule, catchNodeModule], flow());
      record('snapshots', 'events', 'caught');
    });
    let running = true;
    after(async () => {
      if (ticker) clearInterval(ticker);
      if (running) await stopServer();
    });

    /** Commands the node has running in the router namespace (the watcher: `ip monitor neigh`). */
    const watchers = () =>
      execFileSync('ip', ['netns', 'pids', lab.routerNs])
        .toString()
        .split(/\s+/)
        .filter(Boolean)
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes('monitor neigh');
          } catch {
            return false; // gone meanwhile
          }
        });

    async function eventFor(mac: string, kind: string, timeoutMs: number): Promise<Event> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const e = await nextMessage<Event>('events', Math.max(1, deadline - Date.now()));
        if (e.payload.client.mac === mac && e.topic === kind) return e;
      }
    }

    it('sends a snapshot of every client, each reported joined', async () => {
      tick();
      const snap = await nextMessage<Snap>('snapshots', 10_000);
      expectClients(lab, snap.payload.clients);
      for (let i = 0; i < lab.clients.size; i++) {
        const e = await nextMessage<Event>('events');
        assert.equal(e.topic, 'joined');
        assert.equal(e.payload.initial, true);
      }
    });

    it('reports a client plugged in while running within 1 s, without waiting for a tick', async () => {
      // ticks keep coming as in the shipped flow, with probes, while the device arrives
      ticker = setInterval(tick, 2000);
      const spec = { name: 'newphone', mac: 'f0:db:f8:20:00:01', hostname: 'iPhone-Ben', expectedVendor: 'Apple, Inc.' };
      const waiting = eventFor(spec.mac, 'joined', 5000).then((e) => ({ e, at: Date.now() }));
      const client = await lab.addClient(spec);
      const { e, at } = await waiting;
      const fromLinkUp = at - client.linkUpAt;
      console.log(`      joined reported ${fromLinkUp} ms after the link came up (device had DHCP and had talked after ${client.readyAt - client.linkUpAt} ms)`);
      assert.ok(fromLinkUp < 1000, `took ${fromLinkUp} ms`);
      assert.equal(e.payload.initial, false);
      assert.equal(e.payload.client.vendor, 'Apple, Inc.');
    });

    it('reports a client unplugged as gone after the absence time (3 s), not before', async () => {
      const galaxy = lab.clients.get('galaxy')!;
      const removedAt = Date.now();
      await lab.removeClient('galaxy');
      const e = await eventFor(galaxy.mac, 'left', 10_000);
      const after = Date.now() - removedAt;
      console.log(`      left reported ${after} ms after unplugging (absence time 3000 ms, probe every 1 s, tick every 2 s)`);
      assert.ok(after >= 3000 - 1000, `reported after only ${after} ms`); // last sign of life may precede the unplugging by < 1 s
      assert.ok(after < 3000 + 3000, `took ${after} ms`);
      assert.equal(e.payload.client.hostname, 'Galaxy-S23');
      tick();
      let snap = await nextMessage<Snap>('snapshots');
      while (snap.payload.clients.some((c) => c.mac === galaxy.mac)) snap = await nextMessage<Snap>('snapshots');
      assert.equal(snap.payload.clients.length, lab.clients.size);
    });

    it('stops its watcher when the flow stops', async () => {
      assert.equal(watchers().length, 1, 'one `ip monitor neigh` while running');
      if (ticker) clearInterval(ticker);
      running = false;
      await stopServer();
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(watchers(), []);
    });
  });
});
