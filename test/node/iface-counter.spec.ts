/**
 * iface-counter in a real Node-RED runtime, against a real kernel: the test builds a network
 * namespace of its own (a veth pair lan0/lan1, named like the lab's so a crashed run is swept)
 * and points the node's Namespace setting at it; nft and ip run for real inside it. "nft not
 * installed" is real too: PATH is narrowed to a directory holding only `ip`, so `ip netns exec`
 * cannot find nft. No privilege and flow offloading are in test/unit/counter-metering.spec.ts
 * (an unprivileged process via setpriv; flowtables need a kernel module this machine lacks).
 * Traffic against real numbers is in test/lab/iface-counter.lab.spec.ts. Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catchNodeModule, configNodeModule, getNode, load, nextMessage, record, startServer, statusNodeModule, stopServer, withoutCommands, type FlowNode } from '../helpers/node-red';
import { assertRoot, NS_PREFIX } from '../lab/lab';
import { PER_CLIENT_OFF_HINT } from '../../nodes/core/meter/metering';

const counterModule = require('../../nodes/iface-counter');

const NS = `${NS_PREFIX}${process.pid}-${randomBytes(2).toString('hex')}-n`;
const TABLE = 'equalnet_acct_lan0';
const sh = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const inNs = (argv: string[]) => sh(['ip', 'netns', 'exec', NS, ...argv]);
const ourTable = () => {
  try {
    return inNs(['nft', 'list', 'table', 'inet', TABLE]);
  } catch {
    return null;
  }
};

type Status = { fill: string; text: string };
type Out = {
  topic: string;
  keep?: string;
  payload: { iface: string; totals: { rxBps: number | null; txBps: number | null }; clients: { mac: string; hostname?: string; rxBps: number | null; txBps: number | null }[]; metering: { perClient: string; warning: string | null; ifaceState: string | null; via: string } };
};

function flow(counter: Record<string, unknown> = {}, config: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'equalnet-config', iface: 'lan0', downMbps: '100', upMbps: '20', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile: 'x.db', ...config },
    { id: 'counter', type: 'iface-counter', z: 't1', config: 'cfg', perClient: true, smoothing: '0', netns: NS, wires: [['out']], ...counter },
    { id: 'out', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: ['counter'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    { id: 'watcher', type: 'status', z: 't1', scope: ['counter'], wires: [['statuses']] },
    { id: 'statuses', type: 'helper', z: 't1' },
  ];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Deploys, then waits past the node's first reading (at deploy) so that the first tick has rates. */
async function start(f: FlowNode[]): Promise<void> {
  await load([configNodeModule, counterModule, catchNodeModule, statusNodeModule], f);
  record('out', 'caught', 'statuses');
  await sleep(300);
}

async function statusAfter(predicate: (s: Status) => boolean): Promise<Status> {
  for (;;) {
    const s = (await nextMessage<{ status: Status } & { payload: unknown }>('statuses')).status;
    if (predicate(s)) return s;
  }
}

const SNAPSHOT = {
  ts: 1,
  iface: 'lan0',
  clients: [
    { mac: '3c:22:fb:10:00:01', ip: '10.77.0.152', ip6: ['fd00:77::101'], hostname: 'iPhone-Anna' },
    { mac: '10:4f:a8:10:00:08', ip: null, ip6: ['fd00:77::108'], hostname: 'bravia-tv' },
  ],
};

const send = (payload: unknown, extra: Record<string, unknown> = {}) => getNode('counter').receive({ payload, ...extra } as never);

describe('iface-counter node (in a real Node-RED runtime, real kernel in a namespace of its own)', function () {
  this.timeout(30_000);
  const originalPath = process.env.PATH;

  before(() => {
    assertRoot();
    sh(['ip', 'netns', 'add', NS]);
    sh(['ip', '-n', NS, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
    sh(['ip', '-n', NS, 'link', 'set', 'lan0', 'up']);
    sh(['ip', '-n', NS, 'link', 'set', 'lan1', 'up']);
  });
  after(() => {
    process.env.PATH = originalPath;
    try {
      sh(['ip', 'netns', 'del', NS]);
    } catch {
      /* already gone */
    }
  });
  beforeEach(startServer);
  afterEach(async () => {
    process.env.PATH = originalPath;
    await stopServer();
  });

  describe('per-client counting on (a router, the lab, the demo)', () => {
    it('creates its table at deploy, fills it with the clients\' addresses, and sends rates for every client and the interface', async () => {
      await start(flow());
      send(SNAPSHOT, { keep: 'me' });
      const first = await nextMessage<Out>('out');
      // the clients' counters were created by this tick: a rate needs a second read
      assert.deepEqual(first.payload.clients.map((c) => c.rxBps), [null, null]);
      assert.equal(typeof first.payload.totals.rxBps, 'number', 'the first tick has interface rates: the node read the counters at deploy');
      await sleep(200);
      send(SNAPSHOT, { keep: 'me' });
      const out = await nextMessage<Out>('out');
      assert.equal(out.topic, 'snapshot');
      assert.equal(out.keep, 'me', 'the rest of the message is kept');
      assert.equal(out.payload.iface, 'lan0');
      assert.equal(out.payload.metering.perClient, 'nft');
      assert.equal(out.payload.metering.warning, null);
      assert.equal(out.payload.clients[0].hostname, 'iPhone-Anna', 'what arp-discover found is kept');
      for (const c of out.payload.clients) {
        assert.equal(typeof c.rxBps, 'number');
        assert.equal(typeof c.txBps, 'number');
      }
      const table = ourTable()!;
      for (const a of ['10.77.0.152', 'fd00:77::101', 'fd00:77::108']) assert.ok(table.includes(a), `${a} in ${table}`);
      const s = await statusAfter((x) => x.text.includes('Mbit/s'));
      assert.equal(s.fill, 'green');
      // nearly idle: the veth peer's own IPv6 router solicitations and MLD reports may show as 0.01
      assert.match(s.text, /^↓0\.0\d ↑0\.0\d Mbit\/s · 2 clients$/);
    });

    it('follows clients that join and leave, and deletes its table when the flow stops (and only it)', async () => {
      inNs(['nft', 'add table inet not_ours']);
      await start(flow());
      send(SNAPSHOT);
      await nextMessage<Out>('out');
      send({ ts: 2, clients: [SNAPSHOT.clients[1], { mac: 'dc:a6:32:10:00:03', ip: '10.77.0.160', ip6: [] }] });
      await nextMessage<Out>('out');
      const table = ourTable()!;
      assert.ok(!table.includes('10.77.0.152') && !table.includes('fd00:77::101'), 'the client that left is gone');
      assert.ok(table.includes('10.77.0.160') && table.includes('fd00:77::108'));
      await stopServer();
      assert.equal(ourTable(), null, 'our table is removed on close');
      assert.match(inNs(['nft', 'list', 'tables']), /table inet not_ours/);
      inNs(['nft', 'delete table inet not_ours']);
      await startServer(); // for afterEach
    });

    it('repairs its table when it is deleted underneath, without negative or null rates', async () => {
      await start(flow());
      send(SNAPSHOT);
      await nextMessage<Out>('out');
      await sleep(200);
      send(SNAPSHOT);
      await nextMessage<Out>('out');
      inNs(['nft', 'delete', 'table', 'inet', TABLE]);
      await sleep(200);
      send(SNAPSHOT);
      const out = await nextMessage<Out>('out');
      for (const c of out.payload.clients) assert.ok(c.rxBps !== null && c.rxBps >= 0);
      assert.ok(ourTable()?.includes('10.77.0.152'), 'rebuilt at once');
    });

    it('without nft on the machine: interface rates only, and the status says why', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'equalnet-counter-path-'));
      try {
        symlinkSync(sh(['sh', '-c', 'command -v ip']).trim(), join(dir, 'ip'));
        process.env.PATH = dir; // `ip` is there, `nft` is not: what a router without the nftables package looks like
        await start(flow());
        send(SNAPSHOT);
        const out = await nextMessage<Out>('out');
        assert.equal(out.payload.metering.perClient, 'unavailable');
        assert.match(out.payload.metering.warning!, /nft is not installed \(Debian package nftables\)/);
        assert.equal(out.payload.clients[0].rxBps, null);
        assert.equal(typeof out.payload.totals.rxBps, 'number', 'interface rates go on');
        const s = await statusAfter((x) => x.text.includes('Mbit/s'));
        assert.equal(s.fill, 'yellow');
        assert.match(s.text, /interface rates only: nft/);
      } finally {
        process.env.PATH = originalPath;
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('per-client counting off (the npm start default on a machine it does not know)', () => {
    it('gives interface rates, per-client rates as unavailable (null) with a hint, and creates nothing in the kernel', async () => {
      await start(flow({ perClient: false }));
      send(SNAPSHOT);
      const out = await nextMessage<Out>('out');
      assert.equal(out.payload.metering.perClient, 'off');
      assert.match(out.payload.metering.warning!, /turn on "Per client" in iface-counter/);
      assert.deepEqual(
        out.payload.clients.map((c) => [c.rxBps, c.txBps]),
        [[null, null], [null, null]],
      );
      assert.equal(typeof out.payload.totals.txBps, 'number');
      assert.equal(out.payload.metering.ifaceState !== null, true);
      assert.equal(ourTable(), null);
      const s = await statusAfter((x) => x.text.includes('Mbit/s'));
      assert.equal(s.fill, 'yellow');
      assert.match(s.text, /per-client rates off/);
    });
  });

  describe('bad input: a catchable error, and the node goes on', () => {
    const bad: [string, unknown, RegExp][] = [
      ['a payload that is not a snapshot', 'tick', /payload: must be a snapshot/],
      ['missing clients', { ts: 1 }, /payload: must be a snapshot object with a "clients" array/],
      ['a client without a MAC', { clients: [{ ip: '10.77.0.5' }] }, /payload\.clients\[0\]\.mac/],
      ['a malformed address', { clients: [{ mac: '3c:22:fb:10:00:01', ip: '10.77.0.5; flush ruleset' }] }, /payload\.clients\[0\]\.ip: must be an IPv4/],
      ['a MAC twice', { clients: [SNAPSHOT.clients[0], SNAPSHOT.clients[0]] }, /appears twice/],
    ];
    it('raises each to a Catch node naming the field, sends nothing for it, and counts the next snapshot as usual', async () => {
      await start(flow());
      for (const [what, payload, message] of bad) {
        send(payload);
        const caught = await nextMessage<{ error: { message: string } }>('caught');
        assert.match(caught.error.message, message, `${what}: ${caught.error.message}`);
      }
      send(SNAPSHOT);
      const out = await nextMessage<Out>('out');
      assert.equal(out.payload.clients.length, 2);
      assert.ok(!ourTable()!.includes('flush'));
    });
  });

  describe('in Node-RED\'s own network namespace (no namespace setting, as on a router): read over netlink', () => {
    // Only reads the machine's loopback counters (per-client counting off: nothing is created).
    it('gives the interface\'s rates read over netlink, without starting a process (PATH emptied: any command would fail)', async () => {
      const out = await withoutCommands(async () => {
        await start(flow({ perClient: false, netns: '' }, { iface: 'lo' }));
        await sleep(150);
        send({ ts: 1, iface: 'lo', clients: [] });
        return nextMessage<Out>('out');
      });
      assert.equal(out.payload.metering.warning, PER_CLIENT_OFF_HINT, 'no other warning: nothing was missing');
      assert.equal(out.payload.metering.via, 'netlink');
      assert.equal(out.payload.metering.perClient, 'off');
      assert.equal(typeof out.payload.totals.rxBps, 'number');
      assert.equal(out.payload.metering.ifaceState, 'UNKNOWN', 'loopback has no carrier state');
    });

    it('an interface that does not exist: red status, unknown totals, and it stays on netlink', async () => {
      await start(flow({ perClient: false, netns: '' }, { iface: 'nosuch0' }));
      send(SNAPSHOT);
      const out = await nextMessage<Out>('out');
      assert.deepEqual(out.payload.totals, { rxBps: null, txBps: null });
      assert.equal(out.payload.metering.via, 'netlink');
      assert.match(out.payload.metering.warning!, /interface "nosuch0" does not exist/);
      const s = await statusAfter((x) => x.fill === 'red');
      assert.match(s.text, /nosuch0/);
    });
  });

  describe('the example flow (examples/04-iface-counter.json)', () => {
    it('deploys with every node type registered, and its tick brings interface rates to the debug node', async () => {
      const example = JSON.parse(readFileSync(join(__dirname, '../../examples/04-iface-counter.json'), 'utf8')) as FlowNode[];
      // pointed at this test's namespace instead of the machine's own network
      for (const n of example) {
        if (n.type === 'equalnet-config') n.iface = 'lan0';
        if (n.type === 'arp-discover' || n.type === 'iface-counter') n.netns = NS;
        if (n.type === 'arp-discover') n.leasesFile = '';
      }
      const modules = ['20-inject', '21-debug', '25-catch', '90-comment'].map((m) => require(`@node-red/nodes/core/common/${m}`));
      await load([configNodeModule, require('../../nodes/arp-discover'), counterModule, ...modules], example);
      for (const n of example) if (n.type !== 'tab' && n.type !== 'equalnet-config') getNode(n.id); // throws if its type was not registered
      record('ex4.totals', 'ex4.errors');
      const out = await nextMessage<Out>('ex4.totals', 8000); // the inject fires once after 1 s
      assert.equal(out.payload.metering.perClient, 'off');
      getNode('ex4.bad').receive({} as never);
      const err = await nextMessage<{ error: { message: string } }>('ex4.errors');
      assert.match(err.error.message, /payload\.clients\[0\]\.mac/);
    });
  });

  describe('bad settings', () => {
    it('an invalid interface name in the config (shared validator): red status, raised to a Catch node', async () => {
      await start(flow({}, { iface: 'eth0; rm -rf /' }));
      send(SNAPSHOT);
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /not a valid interface name/);
      const s = await statusAfter((x) => x.fill === 'red');
      assert.match(s.text, /invalid/);
    });

    it('an invalid namespace name: red status before any process starts', async () => {
      await start(flow({ netns: 'lab; reboot' }));
      send(SNAPSHOT);
      assert.match((await nextMessage<{ error: { message: string } }>('caught')).error.message, /network namespace "lab; reboot" is not a valid/);
      const s = await statusAfter((x) => x.fill === 'red');
      assert.match(s.text, /network namespace/);
    });

    it('an interface that does not exist: red status, the snapshot still goes on with unknown totals', async () => {
      await start(flow({ perClient: false }, { iface: 'nosuch0' }));
      send(SNAPSHOT);
      const out = await nextMessage<Out>('out');
      assert.deepEqual(out.payload.totals, { rxBps: null, txBps: null });
      assert.equal(out.payload.metering.ifaceState, null);
      assert.match(out.payload.metering.warning!, /interface "nosuch0" does not exist/);
      const s = await statusAfter((x) => x.fill === 'red');
      assert.match(s.text, /nosuch0/);
    });
  });
});
