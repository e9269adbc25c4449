/**
 * The counting core (nodes/core/meter/metering.ts) against a real kernel, in a network namespace this
 * test builds (veth lan0/lan1): the accuracy traps that must show in the status.
 *
 * - No privilege is real: the commands run as nobody with no capabilities (`setpriv`), so nft
 *   gets the kernel's own refusal.
 * - Flow offloading needs the nf_flow_table module, which this machine's kernel does not have
 *   (`add flowtable` fails with "No such file or directory"), so that one answer is a stand-in:
 *   `nft -j list flowtables` returns the flowtable of an OpenWrt fw4 router with offloading on
 *   (JSON shape of nftables 1.0.6); every other command runs for real in the namespace.
 * Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { InterfaceMissingError } from '../../nodes/core/meter/iface-stats';
import { commandReader, type KernelReader } from '../../nodes/core/meter/kernel-reader';
import { MeteringCore } from '../../nodes/core/meter/metering';
import { addressKey } from '../../nodes/core/meter/nft-accounting';
import { inNetns, type CommandRunner } from '../../nodes/core/runner';
import { processRunner } from '../../nodes/lib/process-runner';
import { MeterChild } from '../helpers/meter-child';
import { assertRoot, NS_PREFIX } from '../lab/lab';

const NS = `${NS_PREFIX}${process.pid}-${randomBytes(2).toString('hex')}-m`;
const sh = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const tables = () => sh(['ip', 'netns', 'exec', NS, 'nft', 'list', 'tables']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const SNAPSHOT = { ts: 1, clients: [{ mac: '3c:22:fb:10:00:01', ip: '10.77.0.152', ip6: ['fd00:77::101'] }] };

const FW4_FLOWTABLE = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { flowtable: { family: 'inet', name: 'ft', table: 'fw4', handle: 2, hook: 'ingress', prio: -100, dev: ['br-lan', 'wan'], flags: ['offload'] } },
  ],
});

describe('counter core: accuracy traps reported, not silently wrong (real kernel in a namespace)', function () {
  this.timeout(20_000);
  const real = () => inNetns(processRunner, NS);

  before(() => {
    assertRoot();
    sh(['ip', 'netns', 'add', NS]);
    sh(['ip', '-n', NS, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
    sh(['ip', '-n', NS, 'link', 'set', 'lan0', 'up']);
  });
  after(() => {
    try {
      sh(['ip', 'netns', 'del', NS]);
    } catch {
      /* gone */
    }
  });

  it('without privilege (nobody, no capabilities): interface rates only, and the warning says how to fix it', async () => {
    const unprivileged: CommandRunner = {
      run: (argv, o) => real().run(['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps=-all', ...argv], o),
      watch: () => {
        throw new Error('not used');
      },
    };
    const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner: unprivileged, now: () => performance.now() });
    await core.start();
    await sleep(150);
    const out = await core.tick(SNAPSHOT);
    assert.equal(out.metering.perClient, 'unavailable');
    assert.equal(out.metering.warning, 'interface rates only: no privilege for nft (run Node-RED as root or give it CAP_NET_ADMIN)');
    assert.equal(typeof out.totals.rxBps, 'number', 'reading interface counters needs no privilege');
    assert.equal(out.clients[0].rxBps, null);
    assert.ok(!tables().includes('equalnet'), 'nothing was created');
    await core.close(); // nothing of ours to remove: no second refusal
  });

  it('flow offloading on the router (a flowtable): per-client rates flagged as too low', async () => {
    const withFlowtable: CommandRunner = {
      run: async (argv, o) =>
        argv.join(' ') === 'nft -j list flowtables' ? { exitCode: 0, stdout: FW4_FLOWTABLE, stderr: '' } : real().run(argv, o),
      watch: () => {
        throw new Error('not used');
      },
    };
    const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner: withFlowtable, now: () => performance.now() });
    await core.start();
    const out = await core.tick(SNAPSHOT);
    assert.equal(out.metering.perClient, 'nft');
    assert.match(out.metering.warning!, /flow offloading is on \(flowtable inet fw4 ft \(hardware offload\)\): offloaded traffic bypasses the counters/);
    await core.close();
    assert.ok(!tables().includes('equalnet'));
  });

  it('ticks that arrive together are counted one after the other; close waits for them and removes the table', async () => {
    const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner: real(), now: () => performance.now() });
    await core.start();
    const second = { ts: 2, clients: [{ mac: '3c:22:fb:10:00:02', ip: '10.77.0.153', ip6: [] }] };
    const [a, b] = await Promise.all([core.tick(SNAPSHOT), core.tick(second)]);
    assert.equal(a.clients[0].mac, '3c:22:fb:10:00:01');
    assert.equal(b.clients[0].mac, '3c:22:fb:10:00:02');
    const list = sh(['ip', 'netns', 'exec', NS, 'nft', 'list', 'table', 'inet', 'equalnet_acct_lan0']);
    assert.ok(list.includes('10.77.0.153') && !list.includes('10.77.0.152'));
    await Promise.all([core.tick(SNAPSHOT), core.close()]);
    assert.ok(!tables().includes('equalnet'));
  });

  it('bad input is refused before any command runs', async () => {
    let ran = 0;
    const counting: CommandRunner = {
      run: (argv, o) => {
        ran++;
        return real().run(argv, o);
      },
      watch: () => {
        throw new Error('not used');
      },
    };
    const core = new MeteringCore({ iface: 'lan0', perClient: false, smoothingS: 0 }, { runner: counting, now: () => performance.now() });
    assert.throws(() => core.tick({ clients: [{ mac: '3c:22:fb:10:00:01', ip: '10.0.0.1 } ; flush ruleset' }] }), /payload\.clients\[0\]\.ip/);
    assert.equal(ran, 0);
    assert.throws(() => new MeteringCore({ iface: '../x', perClient: false, smoothingS: 0 }, { runner: counting, now: () => 0 }), /interface/);
    assert.throws(() => new MeteringCore({ iface: 'lan0', perClient: false, smoothingS: -1 }, { runner: counting, now: () => 0 }), /smoothing/);
  });

  describe('the netlink reader failing (a reader that fails on demand, over the real commands)', () => {
    /** Reads what the commands read, but says it is the netlink reader, and fails when told to. */
    function flakyReader(fail: { sets?: Error; link?: Error }) {
      const commands = commandReader(real());
      const calls = { sets: 0, link: 0, closed: 0 };
      const reader: KernelReader = {
        via: 'netlink',
        readSets: (table, sets) => (calls.sets++, fail.sets ? Promise.reject(fail.sets) : commands.readSets(table, sets)),
        readLink: (iface) => (calls.link++, fail.link ? Promise.reject(fail.link) : commands.readLink(iface)),
        close: () => void calls.closed++,
      };
      return { reader, calls };
    }

    it('while it works, the snapshot says the counters came over netlink', async () => {
      const { reader, calls } = flakyReader({});
      const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner: real(), reader, now: () => performance.now() });
      await core.start();
      const out = await core.tick(SNAPSHOT);
      assert.equal(out.metering.via, 'netlink');
      assert.equal(out.metering.perClient, 'nft');
      assert.equal(core.fallbackReason, null);
      assert.ok(calls.sets >= 1 && calls.link >= 1);
      await core.close();
      assert.equal(calls.closed, 1, 'closed with the node');
    });

    it('a failure of the netlink read switches to nft and ip for good, in the same tick, and says why', async () => {
      const { reader, calls } = flakyReader({ sets: new Error('netlink: no answer within 2000 ms') });
      const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner: real(), reader, now: () => performance.now() });
      await core.start();
      const out = await core.tick(SNAPSHOT);
      assert.equal(out.metering.via, 'commands');
      assert.equal(out.metering.perClient, 'nft', 'per-client counting goes on');
      assert.equal(out.metering.warning, null);
      assert.match(core.fallbackReason!, /^netlink read failed \(netlink: no answer within 2000 ms\), reading with nft and ip from now on$/);
      assert.equal(calls.closed, 1, 'the failed reader is closed');
      const before = { ...calls };
      await sleep(150);
      const next = await core.tick(SNAPSHOT);
      assert.deepEqual(calls, before, 'not asked again');
      assert.equal(next.clients[0].rxBps, 0, 'rates from the commands');
      await core.close();
    });

    it('a missing interface is a fact, not a failure of the reader: no switch', async () => {
      const { reader } = flakyReader({ link: new InterfaceMissingError('lan0') });
      const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner: real(), reader, now: () => performance.now() });
      await core.start();
      const out = await core.tick(SNAPSHOT);
      assert.equal(out.metering.via, 'netlink');
      assert.equal(out.metering.ifaceState, null);
      assert.match(out.metering.warning!, /interface counters unreadable: interface "lan0" does not exist/);
      assert.equal(core.fallbackReason, null);
      await core.close();
    });
  });
  it('counts at most the client cap per client: the kernel sets never pass it, whatever snapshot comes in (real nft)', async () => {
    const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0, maxClients: 5 }, { runner: real(), now: () => performance.now() });
    try {
      await core.start();
      const clients = Array.from({ length: 40 }, (_, i) => ({
        mac: `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`,
        ip: `10.77.1.${i + 1}`,
        ip6: [`fd00:77::1:${(i + 1).toString(16)}`],
      }));
      await core.tick({ ts: 1, clients });
      await sleep(150);
      const out = await core.tick({ ts: 2, clients });
      const elements = (set: string) => {
        const doc = JSON.parse(sh(['ip', 'netns', 'exec', NS, 'nft', '-j', 'list', 'set', 'inet', 'equalnet_acct_lan0', set])) as { nftables: { set?: { elem?: unknown[]; size?: number } }[] };
        const found = doc.nftables.find((i) => i.set)!.set!;
        return { n: (found.elem ?? []).length, size: found.size };
      };
      assert.deepEqual(elements('up4'), { n: 5, size: 5 });
      assert.deepEqual(elements('down6'), { n: 5, size: 20 });
      assert.equal(out.clients.filter((c) => c.rxBps !== null).length, 5, 'the first five (the cap chose them upstream) are counted');
      assert.ok(out.clients.slice(5).every((c) => c.rxBps === null && c.txBps === null));
      assert.match(out.metering.warning ?? '', /35 clients beyond the cap of 5 not counted per client/);
    } finally {
      await core.close();
    }
  });
});

describe('counter core over netlink, as on a router: its own sockets in the namespace it runs in (real kernel, ping traffic)', function () {
  this.timeout(30_000);
  const R = `${NS_PREFIX}${process.pid}-${randomBytes(2).toString('hex')}-r`;
  const C = `${NS_PREFIX}${process.pid}-${randomBytes(2).toString('hex')}-c`;
  const CLIENT = { mac: '3c:22:fb:10:00:01', ip: '10.77.0.152', ip6: ['fd00:77::101'] };
  const snapshot = () => ({ ts: Date.now(), clients: [CLIENT] });
  let meter: MeterChild;
  type Out = Awaited<ReturnType<MeteringCore['tick']>>;
  type Sets = Record<string, Record<string, { bytes: number; packets: number }>>;
  type Compared = Record<'netlink' | 'commands' | 'netlinkAfter', { sets: Sets | null; link: { ifindex: number; operstate: string; rxBytes: number; txBytes: number } }>;

  before(async () => {
    assertRoot();
    sh(['ip', 'netns', 'add', R]);
    sh(['ip', 'netns', 'add', C]);
    sh(['ip', '-n', R, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', C]);
    sh(['ip', 'netns', 'exec', R, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.lan0.accept_dad=0']);
    sh(['ip', 'netns', 'exec', C, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.eth0.accept_dad=0']);
    sh(['ip', '-n', R, 'addr', 'add', '10.77.0.1/24', 'dev', 'lan0']);
    sh(['ip', '-n', R, 'addr', 'add', 'fd00:77::1/64', 'dev', 'lan0', 'nodad']);
    sh(['ip', '-n', C, 'addr', 'add', '10.77.0.152/24', 'dev', 'eth0']);
    sh(['ip', '-n', C, 'addr', 'add', 'fd00:77::101/64', 'dev', 'eth0', 'nodad']);
    sh(['ip', '-n', R, 'link', 'set', 'lan0', 'up']);
    sh(['ip', '-n', C, 'link', 'set', 'eth0', 'up']);
    meter = new MeterChild(R, 'lan0');
  });
  after(async () => {
    await meter?.close();
    for (const ns of [R, C]) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* gone */
      }
    }
  });

  const ping = (target: string, count: number) => sh(['ip', 'netns', 'exec', C, 'ping', '-q', '-c', String(count), '-i', '0.01', '-s', '1000', '-W', '1', target]);

  it('reads the same counters as nft -j and ip -j, byte for byte, after IPv4 and IPv6 traffic', async () => {
    const first = await meter.request<Out>('tick', snapshot());
    assert.equal(first.metering.via, 'netlink');
    assert.equal(first.metering.perClient, 'nft');
    ping('10.77.0.1', 20);
    ping('fd00:77::1', 10);
    const { netlink, commands, netlinkAfter } = await meter.request<Compared>('compare');
    // IPv4 has no chatter of its own here: byte for byte
    assert.deepEqual([netlink.sets!.up4, netlink.sets!.down4], [commands.sets!.up4, commands.sets!.down4]);
    // IPv6 neighbour discovery from the client's address may pass between the reads: in between
    for (const set of ['up6', 'down6'] as const) {
      assert.deepEqual(Object.keys(commands.sets![set]), Object.keys(netlink.sets![set]));
      for (const [key, c] of Object.entries(commands.sets![set])) {
        const [a, b] = [netlink.sets![set][key], netlinkAfter.sets![set][key]];
        assert.ok(a.packets <= c.packets && c.packets <= b.packets && a.bytes <= c.bytes && c.bytes <= b.bytes, `${set} ${key}: ${JSON.stringify([a, c, b])}`);
      }
    }
    const key6 = addressKey('fd00:77::101');
    const sets = netlink.sets!;
    // 20 echo requests up and 20 replies down, 1,000 bytes of payload + ICMP 8 + IPv4 20 each
    assert.deepEqual(sets.up4['10.77.0.152'], { packets: 20, bytes: 20 * 1028 });
    assert.deepEqual(sets.down4['10.77.0.152'], { packets: 20, bytes: 20 * 1028 });
    // IPv6: the same with a 40-byte header, plus a few neighbour discovery packets
    assert.ok(sets.up6[key6].packets >= 10 && sets.up6[key6].bytes >= 10 * 1048, JSON.stringify(sets.up6));
    assert.ok(sets.down6[key6].packets >= 10 && sets.down6[key6].bytes >= 10 * 1048, JSON.stringify(sets.down6));
    assert.equal(netlink.link.ifindex, commands.link.ifindex);
    assert.equal(netlink.link.operstate, commands.link.operstate);
    // read one after the other: the link's own chatter may pass in between, so the commands' bytes
    // lie between netlink's before and after (equal when nothing passed)
    for (const key of ['rxBytes', 'txBytes'] as const) {
      assert.ok(netlink.link[key] <= commands.link[key] && commands.link[key] <= netlinkAfter.link[key], `${key}: netlink ${netlink.link[key]}, commands ${commands.link[key]}, netlink again ${netlinkAfter.link[key]}`);
    }
    assert.ok(netlink.link.rxBytes > 30 * 1028);
  });

  it('gives the client\'s rates over netlink while it pings, and repairs a table deleted underneath without a spike', async () => {
    await meter.request<Out>('tick', snapshot());
    const pinging = new Promise<void>((resolve) => {
      setTimeout(() => {
        ping('10.77.0.1', 100); // 100 × 1,028 bytes each way over ~1.2 s
        resolve();
      }, 10);
    });
    await pinging;
    const during = await meter.request<Out>('tick', snapshot());
    const c = during.clients[0];
    assert.equal(during.metering.via, 'netlink');
    assert.ok(c.rxBps! > 0 && c.txBps! > 0, `rates ${c.rxBps} / ${c.txBps}`);
    sh(['ip', 'netns', 'exec', R, 'nft', 'delete', 'table', 'inet', 'equalnet_acct_lan0']);
    const noticed = await meter.request<Out>('tick', snapshot());
    assert.equal(noticed.metering.via, 'netlink', 'a table gone is not a failure of the reader');
    assert.ok(noticed.clients[0].rxBps === null || noticed.clients[0].rxBps <= c.rxBps!, 'no spike: the last rate is held');
    await sleep(300);
    const after = await meter.request<Out>('tick', snapshot());
    assert.equal(after.clients[0].rxBps, 0, 'counting again, from the rebuilt table');
    assert.match(sh(['ip', 'netns', 'exec', R, 'nft', 'list', 'table', 'inet', 'equalnet_acct_lan0']), /10\.77\.0\.152/);
  });

  it('without privilege (nobody): interface rates over netlink go on; per-client rates unavailable, and the warning says how to fix it', async () => {
    const nobody = new MeterChild(R, 'lan0', { unprivileged: true });
    try {
      await nobody.request<Out>('tick', snapshot());
      await sleep(150);
      const out = await nobody.request<Out>('tick', snapshot());
      assert.equal(out.metering.via, 'netlink', 'reading a link needs no privilege');
      assert.equal(typeof out.totals.rxBps, 'number');
      assert.equal(out.metering.perClient, 'unavailable');
      assert.equal(out.metering.warning, 'interface rates only: no privilege for nft (run Node-RED as root or give it CAP_NET_ADMIN)');
      assert.equal(out.clients[0].rxBps, null);
    } finally {
      await nobody.close();
    }
  });
});
