// The bounds that keep one MAC-spraying device from growing discovery without end: the client cap,
// the new-MAC limit, fast expiry of STALE-only entries, bounded device table. The neighbour table is
// fed (recorded runner): the lab test (test/lab/spray.lab.spec.ts) runs the same core against the kernel.
import assert from 'node:assert/strict';
import { DeviceTypeTable } from '../../nodes/core/discover/device-type';
import { DEVICES_MAX, Discovery, STALE_ONLY_ABSENCE_MS, trackLimitFor, type DiscoveryOptions } from '../../nodes/core/discover/discovery';
import { InputError } from '../../nodes/core/contract/errors';
import { defaultOuiIndex } from '../../nodes/core/discover/oui';
import { neighJson, RecordedRunner } from './arp-helpers';

const START = Date.UTC(2026, 10, 25, 12, 0, 0);
type Entry = { ip: string; mac: string; state?: string; confirmed?: number };

function setup(options: Partial<DiscoveryOptions> = {}) {
  const clock = { t: START };
  const table: { entries: Entry[] } = { entries: [] };
  const runner = new RecordedRunner();
  runner.on('ip -j -s neigh show dev br-lan', () => ({ exitCode: 0, stdout: neighJson(table.entries), stderr: '' }));
  const discovery = new Discovery(
    {
      iface: 'br-lan',
      probe: false,
      probeIntervalMs: 10_000,
      absenceMs: 300_000,
      leasesFile: '',
      reverseDns: false,
      maxPriority: 5,
      deviceTypes: new DeviceTypeTable(),
      clientCap: 8,
      newMacsPerMinute: 1000,
      ...options,
    },
    { runner, now: () => clock.t, oui: defaultOuiIndex(), readFile: async () => '' },
  );
  return { clock, table, discovery };
}

const mac = (i: number) => `02:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`;
const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const real = (i: number): Entry => ({ ip: `192.168.1.${i}`, mac: `3c:22:fb:00:00:${i.toString(16).padStart(2, '0')}`, state: 'REACHABLE' });
const spray = (from: number, n: number, state = 'STALE'): Entry[] => Array.from({ length: n }, (_, k) => ({ ip: ipOf(from + k), mac: mac(from + k), state }));

describe('arp-discover bounds: a MAC-spraying device cannot evict the real devices or grow the node', () => {
  it('puts at most the cap in the snapshot, says what was left out, and keeps the devices that were there first', async () => {
    const { clock, table, discovery } = setup();
    table.entries = [1, 2, 3].map(real);
    await discovery.scan();
    clock.t += 2000;
    table.entries = [...[1, 2, 3].map(real), ...spray(0, 50, 'REACHABLE')];
    const { snapshot, events } = await discovery.scan();
    assert.equal(snapshot.clients.length, 8);
    assert.deepEqual(snapshot.capped, { limit: 8, seen: 53, left: 45 });
    for (const i of [1, 2, 3]) assert.ok(snapshot.clients.some((c) => c.mac === real(i).mac), `real device ${i} kept`);
    assert.equal(events.filter((e) => e.event === 'joined').length, 5, 'joined only for the ones let in');
  });

  it('is stable at the boundary: the same clients tick after tick while the spray goes on', async () => {
    const { clock, table, discovery } = setup();
    table.entries = spray(0, 20, 'REACHABLE');
    const first = (await discovery.scan()).snapshot.clients.map((c) => c.mac).sort();
    for (let tick = 1; tick <= 10; tick++) {
      clock.t += 2000;
      table.entries = [...spray(0, 20, 'REACHABLE'), ...spray(1000 * tick, 20, 'REACHABLE')];
      const now = (await discovery.scan()).snapshot.clients.map((c) => c.mac).sort();
      assert.deepEqual(now, first, `tick ${tick}`);
    }
  });

  it('puts a named device (or one the registry knows) in, ahead of an older unknown one', async () => {
    const { clock, table, discovery } = setup({ clientCap: 2 });
    table.entries = spray(0, 3, 'REACHABLE');
    await discovery.scan();
    discovery.setDevice({ mac: mac(2), name: 'Work laptop' });
    discovery.setKnown([mac(1)]);
    clock.t += 2000;
    const { snapshot } = await discovery.scan();
    assert.deepEqual(snapshot.clients.map((c) => c.mac).sort(), [mac(1), mac(2)]);
    assert.deepEqual(snapshot.capped, { limit: 2, seen: 3, left: 1 });
  });

  it('takes in at most newMacsPerMinute never-seen MACs a minute; the rest wait and are counted; known MACs always come in', async () => {
    const { clock, table, discovery } = setup({ clientCap: 1000, newMacsPerMinute: 10 });
    discovery.setDevice({ mac: real(9).mac, priority: 1 });
    table.entries = [...spray(0, 30, 'REACHABLE'), real(9)];
    const a = await discovery.scan();
    assert.equal(a.snapshot.clients.length, 11, '10 new ones + the known one');
    assert.ok(a.snapshot.clients.some((c) => c.mac === real(9).mac));
    assert.deepEqual(a.snapshot.limited, { perMinute: 10, ignored: 20 });
    clock.t += 30_000;
    const b = await discovery.scan();
    assert.equal(b.snapshot.clients.length, 11, 'same minute: nobody new');
    assert.deepEqual(b.snapshot.limited, { perMinute: 10, ignored: 20 });
    clock.t += 31_000;
    const c = await discovery.scan();
    assert.equal(c.snapshot.clients.length, 21, 'next minute: 10 more');
    clock.t += 61_000;
    const d = await discovery.scan();
    assert.equal(d.snapshot.clients.length, 31);
    assert.equal(d.snapshot.limited, undefined);
  });

  it('lets a MAC the kernel only ever listed STALE go after 60 s, a confirmed one after the full absence time', async () => {
    const { clock, table, discovery } = setup({ clientCap: 100 });
    table.entries = [...spray(0, 5, 'STALE'), real(1)];
    await discovery.scan();
    // both entries age in the kernel: no new confirmation
    table.entries = [...spray(0, 5, 'STALE').map((e) => ({ ...e, confirmed: 61 })), { ...real(1), state: 'STALE', confirmed: 61 }];
    clock.t += STALE_ONLY_ABSENCE_MS + 1000;
    const { snapshot, events } = await discovery.scan();
    assert.deepEqual(snapshot.clients.map((c) => c.mac), [real(1).mac]);
    assert.equal(events.filter((e) => e.event === 'left').length, 5);
  });

  it('tracks at most trackLimitFor(cap) MACs however many are offered over time, and never hangs', async () => {
    const { clock, table, discovery } = setup({ clientCap: 8, newMacsPerMinute: 10_000 });
    const limit = trackLimitFor(8);
    for (let wave = 0; wave < 20; wave++) {
      table.entries = spray(wave * 500, 500, 'REACHABLE');
      clock.t += 2000;
      const { snapshot } = await discovery.scan();
      assert.ok(snapshot.clients.length <= 8);
      assert.ok(discovery.trackedCount <= limit, `wave ${wave}: ${discovery.trackedCount} tracked`);
    }
    // 10,000 offered; the ones gone from the table are forgotten first when there is no room
    assert.equal(discovery.trackedCount, limit);
  });

  it('takes a device command that carries limits (usage-store keeps them) and applies its own fields; an unknown field is still refused', () => {
    const { discovery } = setup();
    const r = discovery.setDevice({ mac: mac(1), name: 'console', maxDownMbps: 3, maxUpMbps: 3, quotaDailyMb: 2000, quotaAction: 'throttle', throttleKbps: 1000 });
    assert.equal(r.device.name, 'console');
    assert.throws(() => discovery.setDevice({ mac: mac(1), maxDown: 3 }), (err: Error) => err instanceof InputError && /payload\.maxDown: unknown field/.test(err.message));
  });

  it('refuses a device command past DEVICES_MAX with a clear error, and loses nothing', () => {
    const { discovery } = setup();
    for (let i = 0; i < DEVICES_MAX; i++) discovery.setDevice({ mac: mac(i), priority: 2 });
    assert.throws(() => discovery.setDevice({ mac: mac(DEVICES_MAX), name: 'one too many' }), (err: Error) => err instanceof InputError && /device table is full/.test(err.message));
    // changing or clearing one that is there still works
    discovery.setDevice({ mac: mac(5), name: 'printer' });
    discovery.setDevice({ mac: mac(6), priority: null });
    discovery.setDevice({ mac: mac(DEVICES_MAX), name: 'now it fits' });
    assert.equal(discovery.rememberedDevices.length, DEVICES_MAX);
    assert.equal(discovery.setKnown(Array.from({ length: DEVICES_MAX + 3 }, (_, i) => mac(i))), 3);
  });

  it('refuses a client cap or new-MAC limit out of range', () => {
    assert.throws(() => setup({ clientCap: 0 }), /clientCap/);
    assert.throws(() => setup({ clientCap: 5000 }), /clientCap/);
    assert.throws(() => setup({ newMacsPerMinute: 0 }), /newMacsPerMinute/);
    assert.throws(() => setup({ newMacsPerMinute: 1.5 }), /newMacsPerMinute/);
  });
});
