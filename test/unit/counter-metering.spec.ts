/**
 * The counting core (nodes/core/metering.ts) against a real kernel, in a network namespace this
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
import { MeteringCore } from '../../nodes/core/metering';
import { inNetns, type CommandRunner } from '../../nodes/core/runner';
import { execaRunner } from '../../nodes/lib/execa-runner';
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
  const real = () => inNetns(execaRunner, NS);

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
});
