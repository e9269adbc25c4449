import assert from 'node:assert/strict';
import {
  catchNodeModule,
  configNodeModule,
  getNode,
  load,
  drainMessages,
  nextMessage,
  noMessage,
  record,
  startServer,
  statusNodeModule,
  stopServer,
  type FlowNode,
} from '../helpers/node-red';

const allocatorModule = require('../../nodes/priority-allocator');

const MBIT = 1_000_000;

function flow(config: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 't1', type: 'tab', label: 'test' },
    {
      id: 'cfg',
      type: 'equalnet-config',
      iface: 'br-lan',
      downMbps: '100',
      upMbps: '20',
      maxPriority: '5',
      minPercent: '10',
      mode: 'dry-run',
      dbFile: 'equalnet.db',
      ...config,
    },
    { id: 'alloc', type: 'priority-allocator', z: 't1', config: 'cfg', defaultPriority: '3', headroomPercent: '20', wires: [['out']] },
    { id: 'out', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    { id: 'watcher', type: 'status', z: 't1', scope: ['alloc'], wires: [['statuses']] },
    { id: 'statuses', type: 'helper', z: 't1' },
  ];
}

async function start(f: FlowNode[]): Promise<void> {
  await load([configNodeModule, allocatorModule, catchNodeModule, statusNodeModule], f);
  record('out', 'caught', 'statuses');
}

const snapshot = () => ({
  ts: 1_700_000_000_000,
  iface: 'br-lan',
  clients: [
    { mac: 'A4:5E:60:00:00:01', ip: '192.168.1.10', priority: 1, rxBps: 60 * MBIT, txBps: 1 * MBIT },
    { mac: 'a4:5e:60:00:00:02', ip: '192.168.1.11', ip6: ['fd00::11'], priority: 2, rxBps: 50 * MBIT, txBps: 1 * MBIT },
    { mac: 'b8:27:eb:00:00:03', ip: '192.168.1.12', priority: 3, rxBps: 0, txBps: 0 },
    { mac: 'b8:27:eb:00:00:04', ip: '192.168.1.13', priority: 5, rxBps: 80 * MBIT, txBps: 10 * MBIT },
  ],
});

type Out = { topic: string; payload: { clients: Array<{ mac: string; priority: number; alloc: any }>; allocation: any } };

async function allocate(payload: unknown, topic?: string): Promise<Out> {
  const out = nextMessage<Out>('out');
  getNode('alloc').receive({ payload, topic } as never);
  return out;
}

async function rejected(payload: unknown, topic?: string): Promise<string> {
  getNode('alloc').receive({ payload, topic } as never);
  const msg = await nextMessage<{ error: { message: string } }>('caught');
  await noMessage('out', 300);
  return msg.error.message;
}

const rates = (out: Out, dir: 'down' | 'up') => Object.fromEntries(out.payload.clients.map((c) => [c.mac, c.alloc[dir].rateBps]));

describe('priority-allocator node (in a real Node-RED runtime)', () => {
  beforeEach(startServer);
  afterEach(stopServer);

  describe('allocates a snapshot', () => {
    beforeEach(() => start(flow()));

    it('adds alloc per client for download and upload, and hands out the whole link', async () => {
      const out = await allocate(snapshot());
      assert.equal(out.topic, 'snapshot');
      // worked example of the README: priorities 1, 2, 3 (idle), 5 on 100 Mbit/s, three of them busy:
      // 5L + 4L + max(10, L) = 100 -> L = 10; the idle one keeps the floor (0.25 % of the link)
      const expected = Object.fromEntries(out.payload.clients.map((c) => [c.mac, c.alloc.down.expectedBps]));
      assert.deepEqual(expected, {
        'a4:5e:60:00:00:01': 50_000_000,
        'a4:5e:60:00:00:02': 40_000_000,
        'b8:27:eb:00:00:03': 250_000,
        'b8:27:eb:00:00:04': 10_000_000,
      });
      // rates: the shares less each one's weighted part of the idle floor, which HTB lends back
      assert.deepEqual(rates(out, 'down'), {
        'a4:5e:60:00:00:01': 49_875_000,
        'a4:5e:60:00:00:02': 39_900_000,
        'b8:27:eb:00:00:03': 250_000,
        'b8:27:eb:00:00:04': 9_975_000,
      });
      assert.deepEqual(out.payload.clients.map((c) => c.alloc.down.busy), [true, true, false, true]);
      for (const c of out.payload.clients) {
        assert.equal(c.alloc.down.ceilBps, 100 * MBIT);
        assert.equal(c.alloc.up.ceilBps, 20 * MBIT);
      }
      // one HTB prio for every client: lending goes by weight (quantum), not in strict prio order
      assert.deepEqual(out.payload.clients.map((c) => c.alloc.down.prio), [1, 1, 1, 1]);
      assert.deepEqual(out.payload.clients.map((c) => c.alloc.down.weight), [5, 4, 3, 1]);
      assert.ok(100 * MBIT - out.payload.allocation.down.allocatedBps < out.payload.clients.length);
      // rates are whole bits/s rounded down: less than 1 bit/s per client may stay unassigned
      assert.ok(20 * MBIT - out.payload.allocation.up.allocatedBps < out.payload.clients.length);
      assert.equal(out.payload.allocation.down.guaranteeBps, 10 * MBIT);
    });

    it('gives a client without a priority the default priority', async () => {
      const s = snapshot();
      delete (s.clients[2] as { priority?: number }).priority;
      const out = await allocate(s);
      assert.equal(out.payload.clients[2].priority, 3);
    });

    it('shows the client count and the link in the status', async () => {
      await allocate(snapshot());
      const { status: s } = await nextMessage<{ status: { fill: string; text: string } }>('statuses');
      assert.equal(s.fill, 'green');
      assert.match(s.text, /^4 clients · ↓100 ↑20.0 Mbit\/s$/);
    });
  });

  describe('priority command', () => {
    beforeEach(() => start(flow()));

    it('by IP: re-allocates at once and remembers the priority per MAC', async () => {
      const before = await allocate(snapshot());
      const after = await allocate({ ip: '192.168.1.13', priority: 1 }, 'priority');
      assert.equal(after.topic, 'snapshot');
      const lowest = after.payload.clients.find((c) => c.mac === 'b8:27:eb:00:00:04')!;
      assert.equal(lowest.priority, 1);
      assert.ok(rates(after, 'down')['b8:27:eb:00:00:04'] > rates(before, 'down')['b8:27:eb:00:00:04']);
      // the next snapshot still carries priority 5 for it: the command wins
      const next = await allocate(snapshot());
      assert.equal(next.payload.clients.find((c) => c.mac === 'b8:27:eb:00:00:04')!.priority, 1);
    });

    it('by MAC, in any case or separator, or by an IPv6 address', async () => {
      await allocate(snapshot());
      const byMac = await allocate({ mac: 'B8-27-EB-00-00-03', priority: 4 }, 'priority');
      assert.equal(byMac.payload.clients[2].priority, 4);
      const byIp6 = await allocate({ ip: 'fd00::11', priority: 5 }, 'priority');
      assert.equal(byIp6.payload.clients[1].priority, 5);
    });
  });

  describe('registry from usage-store', () => {
    beforeEach(() => start(flow()));

    it('takes the priorities kept there, for every MAC of a device, and re-allocates', async () => {
      await allocate(snapshot());
      const out = await allocate(
        {
          devices: [
            { mac: 'b8:27:eb:00:00:04', macs: ['b8:27:eb:00:00:04', '02:aa:bb:cc:dd:ee'], name: 'console', priority: 2 },
            { mac: 'b8:27:eb:00:00:03', macs: ['b8:27:eb:00:00:03'], name: null, priority: null },
          ],
        },
        'registry',
      );
      assert.equal(out.payload.clients.find((c) => c.mac === 'b8:27:eb:00:00:04')!.priority, 2);
      assert.equal(out.payload.clients.find((c) => c.mac === 'b8:27:eb:00:00:03')!.priority, 3);
      // the other MAC of the same device is known now: a priority command for it is accepted
      const byOtherMac = await allocate({ mac: '02:aa:bb:cc:dd:ee', priority: 1 }, 'priority');
      assert.equal(byOtherMac.topic, 'snapshot');
    });

    it('refuses a registry message without devices', async () => {
      assert.match(await rejected({ entries: [] }, 'registry'), /payload\.devices: a registry message needs/);
    });
  });

  describe('config command', () => {
    beforeEach(() => start(flow()));

    it('changes the link and re-allocates, also under the original API names', async () => {
      await allocate(snapshot());
      const out = await allocate({ total_bandwidth: 200, max_priority: 10, min_bandwidth_percent: 5 }, 'config');
      assert.equal(out.payload.allocation.down.totalBps, 200 * MBIT);
      assert.equal(out.payload.allocation.down.allocatedBps, 200 * MBIT);
      assert.equal(out.payload.allocation.maxPriority, 10);
      assert.equal(out.payload.allocation.down.guaranteeBps, 10 * MBIT);
    });

    it('fewer priorities: a priority kept or sent above the new lowest is taken as the lowest, never a refused tick', async () => {
      await allocate(snapshot());
      const kept = await allocate({ mac: 'b8:27:eb:00:00:03', priority: 5 }, 'priority');
      assert.equal(kept.payload.clients[2].priority, 5);
      const lowered = await allocate({ maxPriority: 3 }, 'config');
      assert.equal(lowered.payload.allocation.maxPriority, 3);
      assert.equal(lowered.payload.clients[2].priority, 3, 'the kept 5 moved to 3');
      // a snapshot made before the change (priority 4 from arp-discover's table) still allocates
      const stale = snapshot();
      stale.clients[0].priority = 4;
      const out = await allocate(stale);
      assert.equal(out.payload.clients[0].priority, 3);
      // and a command above the new lowest is refused with the range in force
      assert.match(await rejected({ mac: 'b8:27:eb:00:00:03', priority: 4 }, 'priority'), /payload\.priority: must be a whole number from 1 \(highest\) to 3/);
    });
  });

  describe('bad input raises a catchable error, changes nothing, and the next message works', () => {
    beforeEach(() => start(flow()));

    const badPriorities: unknown[] = [0, -1, 2.5, 'x', 6, null];
    const cases: Array<[string, unknown, string | undefined, RegExp]> = [
      // in a snapshot, 6 (above the 5 in force, below 20) is taken as 5: see 'config command'
      ...[0, -1, 2.5, 'x', 21]
        .map((p): [string, unknown, string | undefined, RegExp] => [
          `snapshot client priority ${JSON.stringify(p)}`,
          { clients: [{ mac: 'a4:5e:60:00:00:01', priority: p }] },
          undefined,
          /payload\.clients\[0\]\.priority: must be a whole number from 1 \(highest\) to 5 \(lowest\)/,
        ]),
      ...badPriorities.map((p): [string, unknown, string | undefined, RegExp] => [
        `priority command with priority ${JSON.stringify(p)}`,
        { ip: '192.168.1.10', priority: p },
        'priority',
        /payload\.priority: must be a whole number from 1 \(highest\) to 5/,
      ]),
      ['priority command for an unknown IP', { ip: '10.9.9.9', priority: 1 }, 'priority', /payload\.ip: unknown client "10\.9\.9\.9"/],
      ['priority command for an unknown MAC', { mac: '02:00:00:00:00:99', priority: 1 }, 'priority', /payload\.mac: unknown client 02:00:00:00:00:99/],
      ['priority command with a malformed MAC', { mac: 'zz:00', priority: 1 }, 'priority', /payload\.mac: "zz:00" is not a MAC address/],
      ['priority command without mac or ip', { priority: 1 }, 'priority', /needs a "mac" or an "ip"/],
      ['config total 0', { downMbps: 0 }, 'config', /payload\.downMbps: must be greater than 0 Mbit\/s/],
      ['config total -5', { total_bandwidth: -5 }, 'config', /payload\.total_bandwidth: must be greater than 0/],
      ['config total not a number', { downMbps: 'fast' }, 'config', /payload\.downMbps: must be a number of Mbit\/s, got "fast"/],
      ['config max priority above 20', { maxPriority: 50 }, 'config', /payload\.maxPriority: must be a whole number from 2 to 20/],
      ['config with a misspelt key', { downMbit: 10 }, 'config', /payload\.downMbit: unknown setting/],
      ['a msg without payload', undefined, undefined, /payload: must be a snapshot object with a "clients" array/],
      ['a payload without clients', { ts: 1 }, undefined, /payload: must be a snapshot object with a "clients" array/],
      ['a client without a MAC', { clients: [{ ip: '192.168.1.5' }] }, undefined, /payload\.clients\[0\]\.mac: nothing is not a MAC address/],
      ['the same MAC twice', { clients: [{ mac: 'a4:5e:60:00:00:01' }, { mac: 'A4-5E-60-00-00-01' }] }, undefined, /payload\.clients\[1\]\.mac: a4:5e:60:00:00:01 appears twice/],
      ['a negative rate', { clients: [{ mac: 'a4:5e:60:00:00:01', rxBps: -1 }] }, undefined, /payload\.clients\[0\]\.rxBps: must be a number of bits\/s ≥ 0/],
    ];

    for (const [name, payload, topic, expected] of cases) {
      it(name, async () => {
        // the allocator compares use with the rates it gave last tick (and keeps a new busy client
        // busy for MIN_BUSY_TICKS): let it settle first, until a tick gives what the one before gave
        let baseline = await allocate(snapshot());
        for (let i = 0; i < 10; i++) {
          const next = await allocate(snapshot());
          const same = JSON.stringify(next.payload) === JSON.stringify(baseline.payload);
          baseline = next;
          if (same) break;
        }
        // what the settling ticks showed
        await drainMessages('statuses');
        const message = await rejected(payload, topic);
        assert.match(message, expected);
        const after = await allocate(snapshot());
        assert.deepEqual(after.payload, baseline.payload, 'state changed by a rejected message');
        const statuses = [];
        for (let i = 0; i < 2; i++) statuses.push((await nextMessage<{ status: { fill: string } }>('statuses')).status.fill);
        // rejected, allocated again
        assert.deepEqual(statuses, ['red', 'green']);
      });
    }
  });

  describe('shared settings from environment variables (typed inputs)', () => {
    afterEach(() => {
      delete process.env.EQUALNET_TEST_DOWN;
    });

    it('reads the link speed from the named variable when the flow starts', async () => {
      process.env.EQUALNET_TEST_DOWN = '50';
      await start(flow({ downMbps: 'EQUALNET_TEST_DOWN', downMbpsType: 'env' }));
      const out = await allocate(snapshot());
      assert.equal(out.payload.allocation.down.totalBps, 50 * MBIT);
    });

    it('checks the variable\'s value like any other', async () => {
      process.env.EQUALNET_TEST_DOWN = 'lots';
      await start(flow({ downMbps: 'EQUALNET_TEST_DOWN', downMbpsType: 'env' }));
      assert.match(await rejected(snapshot()), /downMbps must be a number of Mbit\/s, got "lots"/);
    });
  });

  describe('invalid shared settings', () => {
    it('shows a red status naming the field, and raises it to a Catch node once, not on every tick', async () => {
      const f = flow({ downMbps: '-5' });
      await start(f);
      const message = await rejected(snapshot());
      assert.match(message, /EqualNet config ".*" is invalid: downMbps must be greater than 0 Mbit\/s, got -5/);
      for (let i = 0; i < 3; i++) getNode('alloc').receive({ payload: snapshot() });
      await noMessage('caught', 300);
      const statuses = (await drainMessages('statuses')) as { status: { fill: string; text: string } }[];
      assert.ok(statuses.length >= 3 && statuses.every((s) => s.status.fill === 'red' && /downMbps/.test(s.status.text)), JSON.stringify(statuses));
    });

    it('without a config node selected, says so', async () => {
      const f = flow();
      (f.find((n) => n.id === 'alloc') as FlowNode).config = '';
      await start(f);
      assert.match(await rejected(snapshot()), /no EqualNet config selected/);
    });
  });
});
