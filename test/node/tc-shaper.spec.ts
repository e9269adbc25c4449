// tc-shaper in a real Node-RED runtime, fed by the real priority-allocator. Enforcing runs against
// the real kernel inside a network namespace this test creates (a veth pair), never the machine's
// own interfaces; it needs root and fails without it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
  type FlowNode,
} from '../helpers/node-red';
import { inNetns, type CommandRunner, type SessionHandlers } from '../../nodes/core/runner';
import { Shaper } from '../../nodes/core/shape/tc-apply';
import { processRunner } from '../../nodes/lib/process-runner';
import { assertRoot } from '../lab/lab';

const allocatorModule = require('../../nodes/priority-allocator');
const shaperModule = require('../../nodes/tc-shaper');

const NS = `eqtc-${process.pid}-node`;
const sh = (...argv: string[]) => execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const inNs = (...argv: string[]) => sh('ip', 'netns', 'exec', NS, ...argv);

function flow(config: Record<string, unknown> = {}, shaper: Record<string, unknown> = {}): FlowNode[] {
  return [
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'equalnet-config', iface: 'lan0', downMbps: '20', upMbps: '10', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile: 'equalnet.db', ...config },
    { id: 'alloc', type: 'priority-allocator', z: 't1', config: 'cfg', defaultPriority: '3', headroomPercent: '20', wires: [['shaper']] },
    { id: 'shaper', type: 'tc-shaper', z: 't1', config: 'cfg', thresholdPercent: '5', keepShaping: false, netns: NS, ...shaper, wires: [['out']] },
    { id: 'out', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    { id: 'watcher', type: 'status', z: 't1', scope: ['shaper'], wires: [['statuses']] },
    { id: 'statuses', type: 'helper', z: 't1' },
  ];
}

async function start(f: FlowNode[]): Promise<void> {
  await load([configNodeModule, allocatorModule, shaperModule, catchNodeModule, statusNodeModule], f);
  record('out', 'caught', 'statuses');
}

const snapshot = () => ({
  ts: 1,
  clients: [
    { mac: '3c:22:fb:10:00:01', ip: '10.77.0.101', ip6: ['fd00:77::101'], priority: 1, rxBps: 20e6, txBps: 1e6 },
    { mac: '5c:49:7d:10:00:02', ip: '10.77.0.102', ip6: [], priority: 3, rxBps: 20e6, txBps: 1e6 },
  ],
});

type Shaping = { mode: string; commands: string[]; applied: boolean; leaf: string; leafNote: string | null; error: string | null; clients: number; rolledBack: boolean };
type Out = { topic: string; payload: { clients: unknown[]; shaping: Shaping } };

async function tick(payload: unknown = snapshot()): Promise<Out> {
  const out = nextMessage<Out>('out', 10_000);
  getNode('alloc').receive({ payload } as never);
  return out;
}

/** The last status the shaper showed, once it stops changing. */
async function lastStatus(): Promise<string> {
  let text = '';
  for (;;) {
    try {
      const m = await nextMessage<{ status: { text: string; fill: string } }>('statuses', 300);
      text = `${m.status.fill}: ${m.status.text}`;
    } catch {
      return text;
    }
  }
}

const rootQdisc = (dev: string) => inNs('tc', 'qdisc', 'show', 'dev', dev, 'root');
const linkExists = (dev: string) => {
  try {
    inNs('ip', 'link', 'show', 'dev', dev);
    return true;
  } catch {
    return false;
  }
};

describe('tc-shaper node (in a real Node-RED runtime)', function () {
  this.timeout(30_000);
  before(() => {
    assertRoot();
    sh('ip', 'netns', 'add', NS);
    inNs('ip', 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1');
    inNs('ip', 'link', 'set', 'lan0', 'up');
    inNs('ip', 'link', 'set', 'lan1', 'up');
  });
  after(() => {
    try {
      sh('ip', 'netns', 'del', NS);
    } catch {
      /* already gone */
    }
  });
  beforeEach(startServer);
  afterEach(stopServer);

  describe('dry-run (the default)', () => {
    it('sends the snapshot on with the plan in payload.shaping and the status, and touches nothing', async () => {
      await start(flow());
      const out = await tick();
      assert.equal(out.topic, 'snapshot');
      assert.equal(out.payload.clients.length, 2);
      const s = out.payload.shaping;
      assert.equal(s.mode, 'dry-run');
      assert.equal(s.applied, false);
      assert.ok(s.commands.length > 20, `${s.commands.length} commands`);
      assert.ok(s.commands.some((c) => /^class add dev lan0 parent eb:1 classid eb:[0-9a-f]+ htb rate \d+bit ceil 20000000bit prio 1 quantum 40000/.test(c)));
      assert.match(rootQdisc('lan0'), /noqueue/);
      assert.equal(linkExists('eqn-lan0'), false);
      assert.match(await lastStatus(), /dry-run · 2 clients · \d+ tc cmds planned/);
    });

    it('an unchanged tick plans no command', async () => {
      await start(flow());
      // the allocator compares what clients used with the rates it gave (and holds a client that
      // became busy for 3 ticks): the same made-up use settles within a few ticks (a real
      // client's use follows its rate); from then on nothing is planned
      let settled = -1;
      for (let i = 0; i < 8 && settled < 0; i++) if ((await tick()).payload.shaping.commands.length === 0) settled = i;
      assert.ok(settled >= 0, 'settled within 8 ticks');
      const out = await tick();
      assert.deepEqual(out.payload.shaping.commands, []);
      assert.match(await lastStatus(), /no change planned/);
    });
  });

  describe('bad input', () => {
    it('is refused with an error a Catch node receives; nothing is sent, nothing applied', async () => {
      await start(flow({ mode: 'enforce' }));
      const bad = { ts: 1, clients: [{ mac: '3c:22:fb:10:00:01', ip: '10.0.0.1; tc qdisc del dev eth0 root', alloc: { down: { rateBps: 1e6, ceilBps: 2e7, prio: 0 }, up: { rateBps: 1e6, ceilBps: 1e7, prio: 0 } } }], allocation: { down: { totalBps: 2e7 }, up: { totalBps: 1e7 } } };
      getNode('shaper').receive({ payload: bad } as never);
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /payload\.clients\[0\]\.ip: must be an IPv4 address or null/);
      await noMessage('out', 200);
      assert.match(rootQdisc('lan0'), /noqueue/);
    });
  });

  describe('enforce', () => {
    it('applies the tree, and on redeploy leaves the interface as it was found (qdiscs and IFB removed)', async () => {
      await start(flow({ mode: 'enforce' }));
      const out = await tick();
      assert.equal(out.payload.shaping.error, null);
      assert.equal(out.payload.shaping.applied, true);
      assert.match(rootQdisc('lan0'), /qdisc htb eb: root/);
      assert.match(inNs('tc', 'qdisc', 'show', 'dev', 'lan0', 'ingress'), /ingress ffff:/);
      assert.match(rootQdisc('eqn-lan0'), /qdisc htb eb: root/);
      assert.match(await lastStatus(), /shaping 2 clients · \d+ tc cmds/);
      // once the allocator has settled on the same (made-up) use, a tick sends nothing
      for (let i = 0; i < 3; i++) await tick();
      const again = await tick();
      assert.deepEqual(again.payload.shaping.commands, []);
      await stopServer();
      await startServer();
      assert.match(rootQdisc('lan0'), /noqueue/);
      assert.doesNotMatch(inNs('tc', 'qdisc', 'show', 'dev', 'lan0'), /ingress/);
      assert.equal(linkExists('eqn-lan0'), false);
    });

    it('with "keep shaping" the tree survives a redeploy, and the next start adopts it: zero commands', async () => {
      await start(flow({ mode: 'enforce' }, { keepShaping: true }));
      await tick();
      await stopServer();
      await startServer();
      assert.match(rootQdisc('lan0'), /qdisc htb eb: root/);
      await start(flow({ mode: 'enforce' }, { keepShaping: false }));
      const out = await tick();
      assert.deepEqual(out.payload.shaping.commands, []);
      assert.ok(out.payload.shaping.clients === 2);
      await stopServer();
      await startServer();
      assert.match(rootQdisc('lan0'), /noqueue/);
      assert.equal(linkExists('eqn-lan0'), false);
    });

    it('a kernel that refuses (no such device): red status with its message, the snapshot still sent on, the error caught', async () => {
      await start(flow({ mode: 'enforce', iface: 'nosuch0' }));
      const out = nextMessage<Out>('out', 10_000);
      getNode('alloc').receive({ payload: snapshot() } as never);
      const caught = await nextMessage<{ error: { message: string } }>('caught', 10_000);
      assert.match(caught.error.message, /Cannot find device "nosuch0"/);
      assert.equal((await out).payload.clients.length, 2);
      assert.match(await lastStatus(), /^red: .*Cannot find device/);
    });

    it('a rejected batch: red status with the kernel\'s message, the previous tree restored, the next tick works', async () => {
      await start(flow({ mode: 'enforce' }));
      await tick();
      const before = inNs('tc', 'class', 'show', 'dev', 'lan0');
      // someone deletes the IFB under our feet: the next change to the upload tree is rejected
      inNs('ip', 'link', 'del', 'eqn-lan0');
      const changed = snapshot();
      changed.clients[1].priority = 1;
      const out = await tick(changed);
      const s = out.payload.shaping;
      // the kept tc knew eqn-lan0's index: the kernel's "No such device", on the line naming it
      assert.match(s.error ?? '', /No such device \(line \d+: [^)]*eqn-lan0|Cannot find device "eqn-lan0"/);
      assert.match(await lastStatus(), /^red: /);
      assert.equal(s.rolledBack, true);
      assert.equal(inNs('tc', 'class', 'show', 'dev', 'lan0').split('\n').length, before.split('\n').length);
      // read back after the failure: the next tick rebuilds what is missing
      const next = await tick(changed);
      assert.equal(next.payload.shaping.error, null);
      assert.match(rootQdisc('eqn-lan0'), /qdisc htb eb: root/);
    });
  });

  describe('without privilege (the core, every command run as nobody through setpriv: the kernel\'s own refusal)', () => {
    const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    // as a recorded runner would be (a process per batch), or keeping tc running (what Node-RED does)
    const asNobody = (runner: CommandRunner, kept = false): CommandRunner => ({
      run: (argv, options) => runner.run([...NOBODY, ...argv], options),
      watch: (argv, onLine, onExit) => runner.watch(argv, onLine, onExit),
      ...(kept ? { session: (argv: readonly string[], handlers: SessionHandlers) => runner.session!([...NOBODY, ...argv], handlers) } : {}),
    });
    const payload = () => ({
      ts: 1,
      clients: [{ mac: '3c:22:fb:10:00:01', ip: '10.77.0.101', ip6: [], alloc: { down: { rateBps: 5e6, ceilBps: 2e7, prio: 0 }, up: { rateBps: 5e6, ceilBps: 1e7, prio: 0 } } }],
      allocation: { down: { totalBps: 2e7 }, up: { totalBps: 1e7 } },
    });

    for (const kept of [false, true]) {
      it(`on a clean interface: the error says CAP_NET_ADMIN with the kernel's words, nothing is changed (${kept ? 'tc kept running' : 'a tc per batch'})`, async () => {
        const shaper = new Shaper({ iface: 'lan0', mode: 'enforce', thresholdPercent: 5 }, asNobody(inNetns(processRunner, NS), kept));
        const report = await shaper.shape(payload());
        await shaper.stop(false);
        assert.equal(report.applied, false);
        assert.match(report.error ?? '', /not permitted .*CAP_NET_ADMIN.*Operation not permitted/);
        assert.match(report.leafNote ?? '', /leaf not checked/);
        assert.match(rootQdisc('lan0'), /noqueue/);
        assert.equal(linkExists('eqn-lan0'), false);
      });
    }

    it('over a tree a privileged run left: the tree is kept as it was', async () => {
      const root = new Shaper({ iface: 'lan0', mode: 'enforce', thresholdPercent: 5 }, inNetns(processRunner, NS));
      assert.equal((await root.shape(payload())).error, null);
      const classes = inNs('tc', 'class', 'show', 'dev', 'lan0');
      const changed = payload();
      changed.clients[0].alloc.down.rateBps = 9e6;
      const nobody = new Shaper({ iface: 'lan0', mode: 'enforce', thresholdPercent: 5 }, asNobody(inNetns(processRunner, NS)));
      const report = await nobody.shape(changed);
      assert.match(report.error ?? '', /Operation not permitted/);
      assert.equal(report.rolledBack, false);
      assert.equal(inNs('tc', 'class', 'show', 'dev', 'lan0'), classes);
      await root.stop(false);
      assert.match(rootQdisc('lan0'), /noqueue/);
    });
  });

  describe('setup problems', () => {
    it('a config without interface: red status, the snapshot still goes on', async () => {
      await start(flow({ iface: '' }));
      const out = await tick();
      assert.equal(out.payload.clients.length, 2);
      const caught = await nextMessage<{ error: { message: string } }>('caught');
      assert.match(caught.error.message, /no LAN interface/);
    });
  });
});
