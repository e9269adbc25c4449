import assert from 'node:assert/strict';
import { InterfaceMissingError } from '../../nodes/core/meter/iface-stats';
import { DeviceTypeTable } from '../../nodes/core/discover/device-type';
import { Discovery, type DiscoveryOptions } from '../../nodes/core/discover/discovery';
import { InputError } from '../../nodes/core/contract/errors';
import { defaultOuiIndex } from '../../nodes/core/discover/oui';
import { CommandError, inNetns } from '../../nodes/core/runner';
import { fixture, neighJson, RecordedRunner } from './arp-helpers';

const START = Date.UTC(2026, 10, 25, 12, 0, 0);
const LEASES = '/var/lib/misc/dnsmasq.leases';

function setup(
  options: Partial<DiscoveryOptions> = {},
  files: Record<string, string | Error> = { [LEASES]: fixture('dnsmasq.leases') },
  readNeighbours?: (iface: string) => Promise<readonly unknown[]>,
) {
  const clock = { t: START };
  const runner = new RecordedRunner();
  const discovery = new Discovery(
    {
      iface: 'br-lan',
      probe: false,
      probeIntervalMs: 10_000,
      absenceMs: 60_000,
      leasesFile: LEASES,
      reverseDns: false,
      maxPriority: 5,
      deviceTypes: new DeviceTypeTable(),
      ...options,
    },
    {
      runner,
      readNeighbours,
      now: () => clock.t,
      oui: defaultOuiIndex(),
      readFile: async (path) => {
        const f = files[path];
        if (f instanceof Error) throw f;
        if (f === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
        return f;
      },
    },
  );
  return { clock, runner, discovery };
}

const NEIGH = 'ip -j -s neigh show dev br-lan';

describe('arp-discover: who is on the LAN (core, recorded command output)', () => {
  describe('the snapshot', () => {
    it('lists every device of the recorded lab with MAC, IPv4, IPv6, hostname, vendor, type and icon', async () => {
      const { runner, discovery } = setup();
      runner.on(NEIGH, fixture('neigh.json'));
      const { snapshot, warnings } = await discovery.scan();
      assert.deepEqual(warnings, []);
      assert.equal(snapshot.iface, 'br-lan');
      assert.equal(snapshot.clients.length, 10);
      const iphone = snapshot.clients.find((c) => c.mac === '3c:22:fb:10:00:01')!;
      assert.deepEqual(
        { ...iphone, firstSeen: 0, lastSeen: 0 },
        {
          mac: '3c:22:fb:10:00:01',
          ip: '10.77.0.152',
          ip6: ['fd00:77::101'],
          hostname: 'iPhone-Anna',
          vendor: 'Apple, Inc.',
          deviceType: 'phone',
          icon: 'fa-mobile',
          name: null,
          randomizedMac: false,
          firstSeen: 0,
          lastSeen: 0,
        },
      );
      const pixel = snapshot.clients.find((c) => c.mac === 'da:a1:19:10:00:0a')!;
      assert.equal(pixel.randomizedMac, true);
      // the kernel heard from some devices before this first scan: their presence began then
      for (const c of snapshot.clients) assert.ok(c.firstSeen <= c.lastSeen, `${c.mac}: first seen ${c.firstSeen} after last seen ${c.lastSeen}`);
      assert.ok(snapshot.clients.some((c) => c.lastSeen < snapshot.ts), 'the fixture has no entry older than the scan');
      assert.equal(pixel.vendor, null);
      assert.equal(pixel.deviceType, 'phone', 'from its hostname Pixel-7');
      const tv = snapshot.clients.find((c) => c.mac === '10:4f:a8:10:00:08')!;
      assert.equal(tv.ip, null, 'IPv6-only');
      assert.deepEqual(tv.ip6, ['fd00:77::108']);
      assert.equal(snapshot.clients.find((c) => c.mac === '70:b3:d5:01:60:09')!.vendor, 'Guardian Controls International Ltd');
      // IPv4 clients in address order, IPv6-only ones last
      assert.deepEqual(snapshot.clients.map((c) => c.ip).slice(0, 3), ['10.77.0.106', '10.77.0.115', '10.77.0.116']);
      assert.equal(snapshot.clients[9].mac, '10:4f:a8:10:00:08');
    });

    it('names a device the leases do not know by reverse DNS, when asked to', async () => {
      const { runner, discovery } = setup({ reverseDns: true });
      runner.on(NEIGH, fixture('neigh.json'));
      runner.on('getent hosts', { exitCode: 2, stdout: '', stderr: '' });
      runner.on('getent hosts fd00:77::108', 'fd00:77::108    bravia-tv.lab\n');
      const { snapshot } = await discovery.scan();
      assert.equal(snapshot.clients.find((c) => c.mac === '10:4f:a8:10:00:08')!.hostname, 'bravia-tv.lab');
      const lookups = runner.calls.filter((c) => c[0] === 'getent');
      assert.deepEqual(lookups, [['getent', 'hosts', 'fd00:77::108']], 'only for the device the leases do not name');
      await discovery.scan();
      assert.equal(runner.calls.filter((c) => c[0] === 'getent').length, 1, 'answers are cached');
    });

    it('runs every command as an argv array with the interface as one argument', async () => {
      const { runner, discovery } = setup({ probe: true });
      runner.on(NEIGH, '[]').on('ip -j -4 addr', fixture('addr.json')).on('arp-scan', '').on('ping', { exitCode: 1, stdout: '', stderr: '' });
      await discovery.scan();
      assert.deepEqual(runner.calls.find((c) => c[0] === 'arp-scan'), [
        'arp-scan', '--interface=br-lan', '--plain', '--quiet', '--retry=2', '--timeout=150', '--bandwidth=1000000', '--localnet',
      ]);
      assert.deepEqual(runner.calls.find((c) => c[0] === 'ping'), ['ping', '-6', '-n', '-c', '2', '-i', '0.2', '-w', '1', '-I', 'br-lan', 'ff02::1']);
      const wrapped = new RecordedRunner().on('ip netns exec lab-r ip', '[]');
      await inNetns(wrapped, 'lab-r').run(['ip', '-j', 'neigh']);
      assert.deepEqual(wrapped.calls, [['ip', 'netns', 'exec', 'lab-r', 'ip', '-j', 'neigh']]);
    });
  });

  describe('presence: joined and left', () => {
    it('reports the devices found by the first scan as joined, marked initial', async () => {
      const { runner, discovery } = setup();
      runner.on(NEIGH, neighJson([{ ip: '10.0.0.5', mac: '3c:22:fb:00:00:05' }]));
      const { events } = await discovery.scan();
      assert.deepEqual(events.map((e) => [e.event, e.client.mac, e.initial]), [['joined', '3c:22:fb:00:00:05', true]]);
    });

    it('reports a device that appears later as joined at once, even before the kernel confirmed it', async () => {
      const { clock, runner, discovery } = setup();
      runner.on(NEIGH, neighJson([{ ip: '10.0.0.5', mac: '3c:22:fb:00:00:05' }]));
      await discovery.scan();
      clock.t += 2000;
      // a new entry, created STALE by the device's ARP request: the kernel backdates "confirmed"
      runner.on(NEIGH, neighJson([{ ip: '10.0.0.5', mac: '3c:22:fb:00:00:05' }, { ip: '10.0.0.6', mac: '5c:49:7d:00:00:06', state: 'STALE', confirmed: 60 }]));
      const { events, snapshot } = await discovery.scan();
      assert.deepEqual(events.map((e) => [e.event, e.client.mac, e.initial]), [['joined', '5c:49:7d:00:00:06', false]]);
      assert.equal(snapshot.clients.length, 2);
    });

    it('marks a device gone once it has shown no sign of life for the absence time, not before', async () => {
      const { clock, runner, discovery } = setup({ absenceMs: 30_000 });
      runner.on(NEIGH, neighJson([{ ip: '10.0.0.5', mac: '3c:22:fb:00:00:05', confirmed: 0 }]));
      await discovery.scan();
      // it stops answering: the entry stays STALE, its confirmation ages
      for (const age of [10, 20, 30]) {
        clock.t = START + age * 1000;
        runner.on(NEIGH, neighJson([{ ip: '10.0.0.5', mac: '3c:22:fb:00:00:05', state: 'STALE', confirmed: age }]));
        const { events, snapshot } = await discovery.scan();
        assert.deepEqual(events, [], `still present after ${age} s`);
        assert.equal(snapshot.clients.length, 1);
      }
      clock.t = START + 31_000;
      runner.on(NEIGH, neighJson([{ ip: '10.0.0.5', mac: '3c:22:fb:00:00:05', state: 'STALE', confirmed: 31 }]));
      const { events, snapshot } = await discovery.scan();
      assert.deepEqual(events.map((e) => [e.event, e.client.mac, e.client.hostname]), [['left', '3c:22:fb:00:00:05', null]]);
      assert.equal(snapshot.clients.length, 0);
      clock.t += 1000;
      assert.deepEqual((await discovery.scan()).events, [], 'left is reported once');
    });

    it('does not count FAILED or INCOMPLETE entries as present', async () => {
      const { runner, discovery } = setup();
      runner.on(NEIGH, neighJson([{ ip: '10.0.0.7', mac: '3c:22:fb:00:00:07', state: 'FAILED' }, { ip: '10.0.0.8', state: 'INCOMPLETE' }]));
      const { snapshot, events } = await discovery.scan();
      assert.deepEqual(snapshot.clients, []);
      assert.deepEqual(events, []);
    });

    it('keeps a silent device present while it answers the probe, and lets it go when it stops', async () => {
      const { clock, runner, discovery } = setup({ probe: true, probeIntervalMs: 5_000, absenceMs: 20_000 });
      const stale = (confirmed: number) => neighJson([{ ip: '10.77.0.152', mac: '3c:22:fb:10:00:01', state: 'STALE', confirmed }]);
      runner.on(NEIGH, stale(600)).on('ip -j -4 addr', fixture('addr.json')).on('ping', { exitCode: 1, stdout: '', stderr: '' });
      runner.on('arp-scan', '10.77.0.152\t3c:22:fb:10:00:01\n');
      const first = await discovery.scan();
      assert.equal(first.snapshot.clients.length, 1, 'present: it answered ARP, though the kernel last confirmed it 10 min ago');
      clock.t += 2_000;
      await discovery.scan();
      assert.equal(runner.calls.filter((c) => c[0] === 'arp-scan').length, 1, 'not probed again before the probe interval');
      runner.on('arp-scan', '');
      for (let s = 5; s <= 25; s += 5) {
        clock.t = START + s * 1000;
        runner.on(NEIGH, stale(600 + s));
        const { events } = await discovery.scan();
        if (s <= 20) assert.deepEqual(events, [], `${s} s`);
        else assert.deepEqual(events.map((e) => e.event), ['left']);
      }
    });

    it('finds an IPv6-only device by its answer to ff02::1, through the neighbour table', async () => {
      const { runner, discovery } = setup({ probe: true, absenceMs: 5_000 });
      runner.on(NEIGH, neighJson([{ ip: 'fd00:77::108', mac: '10:4f:a8:10:00:08', state: 'STALE', confirmed: 900 }]));
      runner.on('ip -j neigh show', neighJson([{ ip: 'fe80::124f:a8ff:fe10:8', mac: '10:4f:a8:10:00:08', state: 'STALE' }]));
      runner.on('ip -j -4 addr', fixture('addr.json')).on('arp-scan', '');
      runner.on('ping', fixture('ping-all-nodes.txt'));
      const { snapshot } = await discovery.scan();
      assert.deepEqual(snapshot.clients.map((c) => [c.mac, c.ip, c.ip6]), [['10:4f:a8:10:00:08', null, ['fd00:77::108']]]);
    });
  });

  describe('the neighbour table read without a process (netlink, as on a router)', () => {
    it('gives the same snapshot as `ip -j -s neigh`, and runs no ip neigh', async () => {
      const viaIp = setup();
      viaIp.runner.on(NEIGH, fixture('neigh.json'));
      const entries = JSON.parse(fixture('neigh.json')) as unknown[];
      const asked: string[] = [];
      const viaNetlink = setup(undefined, undefined, async (iface) => (asked.push(iface), entries));
      const [a, b] = [await viaIp.discovery.scan(), await viaNetlink.discovery.scan()];
      assert.deepEqual(b.snapshot, a.snapshot);
      assert.deepEqual(b.warnings, []);
      assert.deepEqual(asked, ['br-lan']);
      assert.deepEqual(viaNetlink.runner.calls.filter((c) => c.includes('neigh')), []);
    });

    it('falls back to ip for that scan when netlink fails, with a warning; a missing interface is an error as with ip', async () => {
      const { runner, discovery } = setup(undefined, undefined, async () => {
        throw new Error('netlink: no answer within 2000 ms');
      });
      runner.on(NEIGH, fixture('neigh.json'));
      const { snapshot, warnings } = await discovery.scan();
      assert.equal(snapshot.clients.length, 10);
      assert.deepEqual(warnings, ['the neighbour table was read with ip: netlink failed (netlink: no answer within 2000 ms)']);
      const missing = setup(undefined, undefined, async (iface) => {
        throw new InterfaceMissingError(iface);
      });
      await assert.rejects(missing.discovery.scan(), /interface "br-lan" does not exist/);
      assert.deepEqual(missing.runner.calls, []);
    });
  });

  describe('when things go wrong', () => {
    it('refuses a bad interface name before any command runs', () => {
      for (const iface of ['eth0; rm -rf /', '../x', 'a'.repeat(20), '-x', '']) {
        const runner = new RecordedRunner();
        assert.throws(() => setup({ iface }), (err: Error) => err instanceof InputError && /^iface: /.test(err.message), iface);
        assert.deepEqual(runner.calls, []);
      }
      assert.throws(() => inNetns(new RecordedRunner(), 'x; reboot'), /not a valid network namespace name/);
    });

    it('says clearly when `ip` is missing or not permitted', async () => {
      const { runner, discovery } = setup();
      runner.on(NEIGH, new CommandError('missing', ['ip'], ''));
      await assert.rejects(discovery.scan(), (err: CommandError) => err.kind === 'missing' && /"ip" is not installed/.test(err.message));
      runner.on(NEIGH, { exitCode: 2, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted' });
      await assert.rejects(discovery.scan(), (err: CommandError) => err.kind === 'permission' && /CAP_NET_ADMIN/.test(err.message));
      runner.on(NEIGH, '[]');
      assert.deepEqual((await discovery.scan()).snapshot.clients, [], 'and works again once fixed');
    });

    it('goes on with a warning when the leases file is unreadable or malformed', async () => {
      const missing = setup({}, {});
      missing.runner.on(NEIGH, fixture('neigh.json'));
      const a = await missing.discovery.scan();
      assert.equal(a.snapshot.clients.length, 10);
      assert.ok(a.snapshot.clients.every((c) => c.hostname === null));
      assert.match(a.warnings[0], /leases file .* unreadable \(ENOENT\)/);

      const garbage = setup({}, { [LEASES]: `\u0000\u0001 nonsense\n${fixture('dnsmasq.leases')}` });
      garbage.runner.on(NEIGH, fixture('neigh.json'));
      const b = await garbage.discovery.scan();
      assert.match(b.warnings[0], /1 line\(s\) not understood/);
      assert.equal(b.snapshot.clients.find((c) => c.mac === '3c:22:fb:10:00:01')!.hostname, 'iPhone-Anna');
    });

    it('survives a malformed neighbour table, with a warning', async () => {
      const { runner, discovery } = setup();
      runner.on(NEIGH, '[{"dst":"10.0.0.5","lladdr":"3c:22:fb:00:00:05","state":["REACHABLE"]},{"dst":"x"},42]');
      const { snapshot, warnings } = await discovery.scan();
      assert.equal(snapshot.clients.length, 1);
      assert.match(warnings[0], /2 neighbour entries not understood/);
      runner.on(NEIGH, 'not json at all');
      assert.match((await discovery.scan()).warnings[0], /not JSON/);
    });

    it('goes on passively, with a warning, when a prober is missing', async () => {
      const { runner, discovery } = setup({ probe: true });
      runner.on(NEIGH, neighJson([{ ip: '10.0.0.5', mac: '3c:22:fb:00:00:05' }])).on('ip -j -4 addr', fixture('addr.json'));
      runner.on('arp-scan', new CommandError('missing', ['arp-scan'], '')).on('ping', new CommandError('missing', ['ping'], ''));
      const { snapshot, warnings } = await discovery.scan();
      assert.equal(snapshot.clients.length, 1);
      assert.equal(warnings.length, 2);
      assert.match(warnings[0], /IPv4 probe \(arp-scan\) unavailable.*"arp-scan" is not installed/);
    });
  });

  describe('the device command', () => {
    it('sets a friendly name, priority, type and icon per MAC, applied to the last snapshot and remembered', async () => {
      const { runner, discovery } = setup();
      runner.on(NEIGH, fixture('neigh.json'));
      await discovery.scan();
      const { mac, snapshot } = discovery.setDevice({ mac: '3C-22-FB-10-00-01', name: "Anna's phone", priority: 1, icon: 'fa-star' });
      assert.equal(mac, '3c:22:fb:10:00:01');
      const c = snapshot!.clients.find((x) => x.mac === mac)!;
      assert.deepEqual([c.name, c.priority, c.icon, c.deviceType], ["Anna's phone", 1, 'fa-star', 'phone']);
      const next = (await discovery.scan()).snapshot.clients.find((x) => x.mac === mac)!;
      assert.equal(next.name, "Anna's phone", 'kept for later scans');
      assert.deepEqual(discovery.rememberedDevices, [[mac, { name: "Anna's phone", priority: 1, icon: 'fa-star' }]]);
      discovery.setDevice({ mac, priority: null, icon: '' });
      assert.deepEqual(discovery.rememberedDevices, [[mac, { name: "Anna's phone" }]], 'null or "" clears a field');
    });

    it('refuses a bad command without changing anything', () => {
      const { discovery } = setup();
      const bad: [unknown, RegExp][] = [
        [null, /^payload: a device command needs/],
        [{ mac: 'nope' }, /^payload\.mac: /],
        [{ mac: '3c:22:fb:00:00:01', priority: 6 }, /^payload\.priority: must be a whole number from 1 \(highest\) to 5/],
        [{ mac: '3c:22:fb:00:00:01', priority: 1.5 }, /^payload\.priority/],
        [{ mac: '3c:22:fb:00:00:01', name: 'x'.repeat(65) }, /^payload\.name/],
        [{ mac: '3c:22:fb:00:00:01', icon: 'javascript:alert(1)' }, /^payload\.icon/],
        [{ mac: '3c:22:fb:00:00:01', owner: 'me' }, /^payload\.owner: unknown field/],
      ];
      for (const [payload, message] of bad) {
        assert.throws(() => discovery.setDevice(payload), (err: Error) => err instanceof InputError && message.test(err.message), JSON.stringify(payload));
      }
      assert.deepEqual(discovery.rememberedDevices, []);
    });
  });
});
