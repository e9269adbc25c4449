/**
 * arp-discover in a real Node-RED runtime. The kernel side is played by a stand-in `ip` script
 * put first on PATH: it answers with a neighbour table recorded in the lab, or with the exact
 * error text iproute2 prints without permission (we run as root, so a real refusal cannot be had
 * here), and it logs every call so a test can prove that no process was started. The node is given
 * a namespace setting, as in the lab and the demo, so that it reads the table with `ip` (through
 * the stand-in, which plays `ip netns exec` too); without one, as on a router, it reads the table
 * over netlink, in this process's own namespace (the last describe). The same node against the real
 * kernel is in test/lab/arp-discover.lab.spec.ts.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  catchNodeModule,
  configNodeModule,
  getNode,
  load,
  nextMessage,
  noMessage,
  record,
  startServer,
  statusNodeModule,
  stopServer,
  withoutCommands,
  type FlowNode,
} from '../helpers/node-red';
import { fixture } from '../unit/arp-helpers';

const arpModule = require('../../nodes/arp-discover');

const STUB_IP = `#!/bin/sh
# the node's namespace setting makes every command "ip netns exec NS ..."; the stand-in plays both
if [ "$1" = netns ] && [ "$2" = exec ]; then shift 3; [ "$1" = ip ] && shift; fi
echo "$*" >> "$(dirname "$0")/calls.log"
dir="$(dirname "$0")"
[ -f "$dir/stderr.txt" ] && cat "$dir/stderr.txt" >&2
[ -f "$dir/exit" ] && exit "$(cat "$dir/exit")"
case "$*" in
  "-j -s neigh show dev "*) cat "$dir/neigh.json" ;;
esac
exit 0
`;

let stubDir = '';
const originalPath = process.env.PATH;

function stub(files: { neigh?: string; stderr?: string; exit?: number; noIp?: boolean }) {
  for (const f of ['neigh.json', 'stderr.txt', 'exit', 'ip']) rmSync(join(stubDir, f), { force: true });
  if (!files.noIp) {
    writeFileSync(join(stubDir, 'ip'), STUB_IP);
    chmodSync(join(stubDir, 'ip'), 0o755);
  }
  writeFileSync(join(stubDir, 'neigh.json'), files.neigh ?? fixture('neigh.json'));
  if (files.stderr) writeFileSync(join(stubDir, 'stderr.txt'), files.stderr);
  if (files.exit !== undefined) writeFileSync(join(stubDir, 'exit'), String(files.exit));
}

const calls = () => (existsSync(join(stubDir, 'calls.log')) ? readFileSync(join(stubDir, 'calls.log'), 'utf8').trim().split('\n').filter(Boolean) : []);

/** The recorded leases, with expiry moved to an hour from now so the test does not age. */
function writeLeases(): string {
  const file = join(stubDir, 'dnsmasq.leases');
  const later = Math.floor(Date.now() / 1000) + 3600;
  writeFileSync(file, fixture('dnsmasq.leases').replace(/^\d+ /gm, `${later} `));
  return file;
}

function flow(arp: Record<string, unknown> = {}, config: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'equalnet-config', iface: 'br-lan', downMbps: '100', upMbps: '20', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile: 'x.db', ...config },
    {
      id: 'arp',
      type: 'arp-discover',
      z: 't1',
      config: 'cfg',
      probe: false,
      probeInterval: '30',
      absence: '300',
      leasesFile: join(stubDir, 'dnsmasq.leases'),
      reverseDns: false,
      watch: false,
      deviceTypes: '[]',
      netns: 'eqtest-router',
      wires: [['snapshots'], ['events']],
      ...arp,
    },
    { id: 'snapshots', type: 'helper', z: 't1' },
    { id: 'events', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: ['arp'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    { id: 'watcher', type: 'status', z: 't1', scope: ['arp'], wires: [['statuses']] },
    { id: 'statuses', type: 'helper', z: 't1' },
  ];
}

async function start(f: FlowNode[]): Promise<void> {
  await load([configNodeModule, arpModule, catchNodeModule, statusNodeModule], f);
  record('snapshots', 'events', 'caught', 'statuses');
}

type Status = { status: { fill: string; text: string } };
type Snap = { topic: string; payload: { iface: string; clients: any[] } };

async function statusAfter(predicate: (s: Status['status']) => boolean): Promise<Status['status']> {
  for (;;) {
    const s = (await nextMessage<Status & { payload: unknown }>('statuses')).status;
    if (predicate(s)) return s;
  }
}

const tick = (payload: unknown = Date.now(), topic?: string) => getNode('arp').receive({ payload, topic } as never);

describe('arp-discover node (in a real Node-RED runtime)', () => {
  before(() => {
    stubDir = mkdtempSync(join(tmpdir(), 'equalnet-arp-stub-'));
  });
  after(() => {
    rmSync(stubDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    rmSync(join(stubDir, 'calls.log'), { force: true });
    process.env.PATH = `${stubDir}:${originalPath}`;
    await startServer();
  });
  afterEach(async () => {
    await stopServer();
    process.env.PATH = originalPath;
  });

  describe('bounds (a MAC spray: the neighbour table is the stand-in\'s, 30 entries)', () => {
    const sprayed = JSON.stringify(
      Array.from({ length: 30 }, (_, i) => ({ dst: `10.77.1.${i + 1}`, lladdr: `02:00:00:00:01:${(i + 1).toString(16).padStart(2, '0')}`, confirmed: 0, state: ['REACHABLE'] })),
    );

    it('puts at most the config\'s client cap in the snapshot and says in the status how many were left out and held back', async () => {
      stub({ neigh: sprayed });
      await start(flow({ leasesFile: '', newMacs: '25' }, { clientCap: '10' }));
      tick();
      const snap = await nextMessage<Snap & { payload: { capped: unknown; limited: unknown } }>('snapshots');
      assert.equal(snap.payload.clients.length, 10);
      assert.deepEqual(snap.payload.capped, { limit: 10, seen: 25, left: 15 });
      assert.deepEqual(snap.payload.limited, { perMinute: 25, ignored: 5 });
      const s = await statusAfter((x) => /clients/.test(x.text));
      assert.deepEqual([s.fill, s.text], ['yellow', '10 clients · 15 over cap 10 · 5 new MACs waiting']);
    });

    it('refuses a new-MAC limit out of range at deploy, with the reason', async () => {
      stub({ neigh: sprayed });
      await start(flow({ leasesFile: '', newMacs: '0' }));
      tick();
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /newMacsPerMinute: must be a whole number from 1 to 10000, got 0/);
      const s = await statusAfter(() => true);
      assert.equal(s.fill, 'red');
      await noMessage('snapshots', 200);
      assert.deepEqual(calls(), [], 'no process was started');
    });
  });

  describe('a tick', () => {
    it('sends the snapshot of the LAN on output 1 and joined events on output 2', async () => {
      stub({});
      writeLeases();
      await start(flow());
      tick();
      const snap = await nextMessage<Snap>('snapshots');
      assert.equal(snap.topic, 'snapshot');
      assert.equal(snap.payload.iface, 'br-lan');
      assert.equal(snap.payload.clients.length, 10);
      const iphone = snap.payload.clients.find((c) => c.mac === '3c:22:fb:10:00:01');
      assert.equal(iphone.hostname, 'iPhone-Anna');
      assert.equal(iphone.vendor, 'Apple, Inc.');
      assert.equal(iphone.ip, '10.77.0.152');
      assert.deepEqual(iphone.ip6, ['fd00:77::101']);
      const joined = [];
      for (let i = 0; i < 10; i++) joined.push(await nextMessage<{ topic: string; payload: any }>('events'));
      assert.ok(joined.every((m) => m.topic === 'joined' && m.payload.initial === true));
      assert.deepEqual(calls(), ['-j -s neigh show dev br-lan'], 'one command, the interface as its own argument');
      const s = await statusAfter((x) => x.text.includes('clients'));
      assert.deepEqual([s.fill, s.text], ['green', '10 clients on br-lan']);
    });

    it('warns when the leases file cannot be read, and discovers all the same', async () => {
      stub({});
      await start(flow({ leasesFile: join(stubDir, 'no-such.leases') }));
      tick();
      const snap = await nextMessage<Snap>('snapshots');
      assert.equal(snap.payload.clients.length, 10);
      assert.ok(snap.payload.clients.every((c) => c.hostname === null));
      const s = await statusAfter((x) => x.text.includes('clients'));
      assert.equal(s.fill, 'yellow');
      assert.match(s.text, /leases file/);
    });

    it('never stops on a malformed neighbour table: a warning, and the next tick works', async () => {
      stub({ neigh: '[{"dst":"10.0.0.5","lladdr":"3c:22:fb:00:00:05","state":["REACHABLE"]},{"dst":"10.0.0.6; reboot","lladdr":1}' });
      await start(flow());
      tick();
      const s = await statusAfter((x) => x.fill !== 'green' || x.text.includes('clients'));
      assert.equal(s.fill, 'yellow');
      assert.match(s.text, /not JSON|not understood/);
      assert.equal((await nextMessage<Snap>('snapshots')).payload.clients.length, 0);
      stub({ neigh: '[{"dst":"10.0.0.5","lladdr":"3c:22:fb:00:00:05","state":["REACHABLE"]},{"dst":"x"}]' });
      tick();
      assert.equal((await nextMessage<Snap>('snapshots')).payload.clients.length, 1);
      await noMessage('caught', 200);
    });
  });

  describe('bad configuration is refused before any process starts', () => {
    for (const iface of ['eth0; rm -rf /', '../x', 'a'.repeat(20)]) {
      it(`interface ${JSON.stringify(iface)}`, async () => {
        stub({});
        await start(flow({}, { iface }));
        tick();
        const caught = await nextMessage<{ error: { message: string } }>('caught');
        assert.match(caught.error.message, /EqualNet config ".*" is invalid: iface .*(not a valid interface name|longer than 15)/);
        const s = await statusAfter(() => true);
        assert.equal(s.fill, 'red');
        assert.match(s.text, /invalid/);
        await noMessage('snapshots', 200);
        assert.deepEqual(calls(), [], 'no process was started');
      });
    }

    it('a network namespace name that is not one', async () => {
      stub({});
      await start(flow({ netns: 'lab; reboot' }));
      tick();
      assert.match((await nextMessage<{ error: { message: string } }>('caught')).error.message, /network namespace "lab; reboot" is not a valid/);
      assert.equal((await statusAfter(() => true)).fill, 'red');
      assert.deepEqual(calls(), []);
    });
  });

  describe('when ip cannot run', () => {
    it('missing `ip` binary: red status, a clear error to Catch, and the flow keeps running', async () => {
      stub({ noIp: true });
      process.env.PATH = stubDir; // nothing called ip on it
      await start(flow());
      tick();
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /"ip" is not installed or not on PATH/);
      const s = await statusAfter((x) => x.fill === 'red');
      assert.match(s.text, /"ip" is not installed/);
      // the node still answers: a device command is taken, and once ip is there, ticks work again
      getNode('arp').receive({ topic: 'device', payload: { mac: '3c:22:fb:10:00:01', name: 'Anna' } } as never);
      await noMessage('caught', 200);
      stub({});
      process.env.PATH = `${stubDir}:${originalPath}`;
      tick();
      const snap = await nextMessage<Snap>('snapshots');
      assert.equal(snap.payload.clients.find((c) => c.mac === '3c:22:fb:10:00:01').name, 'Anna');
    });

    it('no permission: red status naming root / CAP_NET_ADMIN, error to Catch', async () => {
      stub({ stderr: 'RTNETLINK answers: Operation not permitted\n', exit: 2 });
      await start(flow());
      tick();
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /"ip" is not permitted \(run Node-RED as root or give it CAP_NET_ADMIN/);
      const s = await statusAfter((x) => x.fill === 'red');
      assert.match(s.text, /not permitted/);
      await noMessage('snapshots', 200);
    });
  });

  describe('the device command', () => {
    it('sets a friendly name and priority, and re-sends the snapshot at once', async () => {
      stub({});
      await start(flow());
      tick();
      await nextMessage<Snap>('snapshots');
      getNode('arp').receive({ topic: 'device', payload: { mac: '24:0a:c4:10:00:06', name: 'Kitchen plug', priority: 5, deviceType: 'smart plug' } } as never);
      const snap = await nextMessage<Snap>('snapshots');
      const plug = snap.payload.clients.find((c) => c.mac === '24:0a:c4:10:00:06');
      assert.deepEqual([plug.name, plug.priority, plug.deviceType], ['Kitchen plug', 5, 'smart plug']);
      assert.deepEqual(calls().length, 1, 'no new scan for a command');
    });

    it('refuses a bad device command with an error to Catch, nothing sent', async () => {
      stub({});
      await start(flow());
      tick();
      await nextMessage<Snap>('snapshots');
      getNode('arp').receive({ topic: 'device', payload: { mac: '24:0a:c4:10:00:06', priority: 9 } } as never);
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /payload\.priority: must be a whole number from 1 \(highest\) to 5/);
      await noMessage('snapshots', 200);
    });
  });

  describe('the registry from usage-store', () => {
    it('applies kept names and priorities to every MAC of a device, without a new scan', async () => {
      stub({});
      await start(flow());
      tick();
      await nextMessage<Snap>('snapshots');
      getNode('arp').receive({
        topic: 'registry',
        payload: { devices: [{ mac: '02:11:22:33:44:55', macs: ['02:11:22:33:44:55', '24:0a:c4:10:00:06'], name: 'Kitchen plug', priority: 4 }] },
      } as never);
      await noMessage('caught', 200);
      getNode('arp').receive({ topic: 'device', payload: { mac: '24:0a:c4:10:00:06', icon: 'fa-plug' } } as never);
      const snap = await nextMessage<Snap>('snapshots');
      const plug = snap.payload.clients.find((c) => c.mac === '24:0a:c4:10:00:06');
      assert.deepEqual([plug.name, plug.priority], ['Kitchen plug', 4]);
      assert.deepEqual(calls().length, 1, 'no new scan for the registry');
    });

    it('refuses a registry without devices with an error to Catch', async () => {
      stub({});
      await start(flow());
      getNode('arp').receive({ topic: 'registry', payload: { entries: [] } } as never);
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /payload\.devices: a registry message needs/);
    });
  });

  describe('in Node-RED\'s own network namespace (no namespace setting, as on a router): the table read over netlink', () => {
    it('reads the neighbour table without starting a process (PATH emptied: any command would fail)', async () => {
      const snap = await withoutCommands(async () => {
        // loopback: a table with no neighbours, on an interface every machine has
        await start(flow({ netns: '', leasesFile: '' }, { iface: 'lo' }));
        tick();
        const s = await nextMessage<Snap>('snapshots');
        await noMessage('caught', 100);
        return s;
      });
      assert.equal(snap.payload.iface, 'lo');
      assert.deepEqual(snap.payload.clients, []);
      assert.equal(existsSync(join(stubDir, 'calls.log')), false, 'no command was run');
      const s = await statusAfter((x) => x.text.includes('client'));
      assert.equal(s.fill, 'green');
    });

    it('an interface that does not exist: red status naming it, an error to Catch, as with ip', async () => {
      stub({});
      await start(flow({ netns: '' }, { iface: 'nosuch0' }));
      tick();
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /interface "nosuch0" does not exist/);
      const s = await statusAfter((x) => x.fill === 'red');
      assert.match(s.text, /nosuch0/);
      assert.equal(existsSync(join(stubDir, 'calls.log')), false, 'ip was not asked');
    });
  });
});
