/**
 * iface-counter's whole tick over many ticks, through the netlink reader (its parser, the sets
 * kept between reads) and the nft batches, against a stand-in kernel (test/helpers/netlink-kernel.ts:
 * a unit test cannot have root and a namespace at each of 60 ticks; the real kernel is read by
 * counter-metering.spec.ts and the lab). Clients join, leave, change address and priority, an
 * address moves to another client, elements vanish underneath, the cap is reached.
 *
 * - Every output is frozen the moment it is handed out: a later tick that changed it would throw.
 * - The outputs of the whole run are hashed: the hash is the one the code before the garbage work
 *   of issue 17 gave (commit e71fc64), so the output did not change by a bit.
 * - The rates are checked against what the test counted.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ClaimTable, MeteringCore, validateSnapshot, type MeteredSnapshot } from '../../nodes/core/meter/metering';
import { tableNameFor, type SetName } from '../../nodes/core/meter/nft-accounting';
import { NetlinkReader } from '../../nodes/lib/netlink-reader';
import { FakeKernel } from '../helpers/netlink-kernel';

function mulberry32(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

interface Device {
  mac: string;
  ip: string | null;
  ip6: string[];
  hostname: string | null;
  priority: number;
  extra?: boolean;
}

/** Runs `ticks` ticks of a seeded LAN; returns every output and the kernel. */
async function run(seed: number, ticks: number, maxClients = 1024) {
  const rand = mulberry32(seed);
  const pick = <T>(a: T[]) => a[Math.floor(rand() * a.length)];
  const kernel = new FakeKernel(tableNameFor('lan0'), 'lan0');
  kernel.perMessage = 7; // several parts per dump
  let t = 1000;
  const core = new MeteringCore(
    { iface: 'lan0', perClient: true, smoothingS: seed % 2 === 0 ? 0 : 5, maxClients, recheckMs: 10_000 },
    { runner: kernel.runner(), reader: new NetlinkReader(kernel.socketClass() as never), now: () => t },
  );
  let next = 1;
  const newDevice = (): Device => {
    const n = next++;
    return {
      mac: `3c:22:fb:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`,
      ip: rand() < 0.1 ? null : `10.77.${n >> 8}.${n & 255}`,
      ip6: rand() < 0.3 ? [] : [`fd00:77::${n.toString(16)}`, ...(rand() < 0.3 ? [`2001:db8:0:1:${n.toString(16)}::2`] : [])],
      hostname: rand() < 0.5 ? `host-${n}` : null,
      priority: 1 + Math.floor(rand() * 5),
      ...(rand() < 0.2 ? { extra: true } : {}),
    };
  };
  let devices: Device[] = Array.from({ length: 12 }, newDevice);
  let objects = new Map<string, object>();
  const outputs: MeteredSnapshot[] = [];
  const texts: string[] = [];
  await core.start();
  for (let tick = 0; tick < ticks; tick++) {
    const r = rand();
    if (r < 0.15) devices.push(newDevice());
    else if (r < 0.25 && devices.length > 2) devices = devices.filter((d) => d !== pick(devices));
    else if (r < 0.35) pick(devices).ip = `10.77.200.${Math.floor(rand() * 250) + 1}`;
    else if (r < 0.42) pick(devices).ip6.push(`fd00:77:1::${Math.floor(rand() * 65535).toString(16)}`);
    else if (r < 0.48) pick(devices).priority = 1 + Math.floor(rand() * 5);
    else if (r < 0.54) {
      // an address moves from one client to another (a DHCP lease handed on)
      const from = pick(devices);
      const to = pick(devices);
      if (from !== to && from.ip) [to.ip, from.ip] = [from.ip, null];
    } else if (r < 0.6) {
      const d = pick(devices);
      const set = pick(['up4', 'down4', 'up6', 'down6'] as SetName[]);
      const a = set.endsWith('4') ? d.ip : d.ip6[0];
      if (a) kernel.drop(set, a);
    } else if (r < 0.62) kernel.apply(`delete table inet ${kernel.table}`); // the whole table gone underneath
    // distinct IPv4 addresses per snapshot (the node refuses two clients with one address)
    const seen = new Set<string>();
    for (const d of devices) {
      if (d.ip && seen.has(d.ip)) d.ip = null;
      if (d.ip) seen.add(d.ip);
      d.ip6 = d.ip6.filter((a) => !seen.has(a) && (seen.add(a), true));
    }
    // traffic since the last read
    for (const [set, elements] of kernel.sets) for (const e of elements.values()) kernel.count(set, e.address, rand() < 0.3 ? 0 : Math.floor(rand() * 5e6));
    kernel.link.rxBytes += Math.floor(rand() * 1e7);
    kernel.link.txBytes += Math.floor(rand() * 1e7);
    t += 1900 + Math.floor(rand() * 200);
    // arp-discover hands out a new object where a device changed, the same one otherwise (sometimes all new)
    const fresh = rand() < 0.3;
    const nextObjects = new Map<string, object>();
    const clients = devices.map((d) => {
      const text = JSON.stringify(d);
      const old = objects.get(text);
      const o = !fresh && old ? old : deepFreeze({ mac: d.mac, ip: d.ip, ip6: [...d.ip6], hostname: d.hostname, vendor: 'Acme', priority: d.priority, ...(d.extra ? { extra: 1 } : {}) });
      nextObjects.set(text, o);
      return o;
    });
    objects = nextObjects;
    const out = await core.tick({ ts: t, topic: 'snapshot', clients });
    texts.push(JSON.stringify(out));
    outputs.push(deepFreeze(out));
  }
  await core.close();
  return { outputs, texts, kernel };
}

describe('counter ticks (netlink reader + nft batches against a stand-in kernel)', () => {
  it('gives, tick after tick, the outputs the code before issue 17\'s garbage work gave (hash), and never changes one already handed out', async () => {
    const hashes: string[] = [];
    for (const [seed, max] of [
      [1, 1024],
      [2, 1024],
      [3, 9],
    ] as const) {
      const { outputs, texts } = await run(seed, 60, max);
      // frozen when handed out; still what they were
      outputs.forEach((o, i) => assert.equal(JSON.stringify(o), texts[i]));
      hashes.push(createHash('sha256').update(texts.join('\n')).digest('hex').slice(0, 16));
    }
    assert.deepEqual(hashes, HASHES);
  });

  it('rates are what the kernel counted: bits over the time between reads, summed over a client\'s addresses', async () => {
    const kernel = new FakeKernel(tableNameFor('lan0'), 'lan0');
    let t = 0;
    const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner: kernel.runner(), reader: new NetlinkReader(kernel.socketClass() as never), now: () => t });
    const snap = { ts: 1, clients: [{ mac: '3c:22:fb:00:00:01', ip: '10.77.0.2', ip6: ['fd00:77::2', 'FD00:77:0::3'] }, { mac: '3c:22:fb:00:00:02', ip: '10.77.0.3' }] };
    await core.start();
    await core.tick(snap);
    for (let i = 1; i <= 5; i++) {
      kernel.count('down4', '10.77.0.2', 1000 * i);
      kernel.count('down6', 'fd00:77::2', 500);
      kernel.count('down6', 'fd00:77::3', 250);
      kernel.count('up4', '10.77.0.3', 2 ** 33);
      t += 2000;
      const out = await core.tick(snap);
      assert.equal(out.metering.via, 'netlink');
      assert.equal(out.clients[0].rxBps, ((1000 * i + 750) * 8000) / 2000);
      assert.equal(out.clients[0].txBps, 0);
      assert.equal(out.clients[1].rxBps, 0);
      assert.equal(out.clients[1].txBps, (2 ** 33 * 8000) / 2000);
    }
    await core.close();
  });
});

describe('counter output clients: copies of the snapshot\'s, one hidden class', () => {
  it('each is Object.assign({}, client) with its two rates, key for key and in order, whatever shapes come in; those of one shape share the hidden class Object.assign gives', async () => {
    setFlagsFromString('--allow-natives-syntax');
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const kernel = new FakeKernel(tableNameFor('lan0'), 'lan0');
    let t = 0;
    const core = new MeteringCore({ iface: 'lan0', perClient: true, smoothingS: 0 }, { runner: kernel.runner(), reader: new NetlinkReader(kernel.socketClass() as never), now: () => t });
    // as parsed from JSON (an http in, a replay, a link from another flow): the objects' own classes differ from a literal's
    const arp = (i: number) => JSON.parse(JSON.stringify(arpLiteral(i))) as ReturnType<typeof arpLiteral>;
    const arpLiteral = (i: number) => ({ mac: `3c:22:fb:00:01:${i.toString(16).padStart(2, '0')}`, ip: `10.77.1.${i + 1}`, ip6: [`fd00:77::1:${i.toString(16)}`], hostname: i % 2 ? null : `h${i}`, vendor: 'Acme', deviceType: 'phone', icon: 'fa-mobile', name: null, randomizedMac: false, firstSeen: 1_795_953_602_000 + i, lastSeen: 1_795_953_858_000 + i });
    const inherited = Object.assign(Object.create({ inherited: 1 }), { mac: '3c:22:fb:00:02:01', ip: '10.77.2.1' });
    const wide: Record<string, unknown> = { mac: '3c:22:fb:00:02:02' };
    for (let k = 0; k < 70; k++) wide[`f${k}`] = k;
    const odd = [
      { ip: '10.77.2.3', mac: '3c:22:fb:00:02:03', hostname: 'reordered' },
      { mac: '3c:22:fb:00:02:04', rxBps: 5, ip: '10.77.2.4', txBps: 7, vendor: 'rates already there' },
      { mac: '3c:22:fb:00:02:05', ip: '10.77.2.5', [Symbol.for('s')]: 1 },
      { mac: '3c:22:fb:00:02:06', 2: 'an index key', ip: '10.77.2.6' },
      { mac: '3c:22:fb:00:02:07', a: 1 },
      { mac: '3c:22:fb:00:02:08', b: 1 },
      { mac: '3c:22:fb:00:02:09', c: 1 },
      { mac: '3c:22:fb:00:02:0a', d: 1 },
      inherited,
      wide,
      runInNewContext('({ mac: "3c:22:fb:00:02:0b", ip: "10.77.2.11" })'), // another realm's Object
    ];
    await core.start();
    for (let tick = 0; tick < 6; tick++) {
      const clients = [...Array.from({ length: 20 }, (_, i) => arp(i)), ...odd, ...Array.from({ length: 20 }, (_, i) => arp(20 + i))];
      for (const [set, elements] of kernel.sets) for (const e of elements.values()) kernel.count(set, e.address, 12_345 * (tick + 1));
      t += 2000;
      const out = await core.tick({ ts: 1, clients });
      out.clients.forEach((o, i) => {
        const ref = Object.assign({}, clients[i]) as Record<string | symbol, unknown>;
        ref.rxBps = o.rxBps;
        ref.txBps = o.txBps;
        assert.deepEqual(Reflect.ownKeys(o), Reflect.ownKeys(ref), `client ${i}'s keys`);
        assert.deepEqual(o, ref);
        assert.equal(Object.getPrototypeOf(o), Object.prototype);
      });
      if (tick > 0) assert.ok(out.clients.some((c) => typeof c.rxBps === 'number' && c.rxBps > 0));
      const arpOut = [...out.clients.slice(0, 20), ...out.clients.slice(20 + odd.length)];
      const ref = Object.assign({}, clients[0]) as Record<string, unknown>;
      ref.rxBps = 1.5;
      ref.txBps = 2.5;
      // from the second tick on: in the first ones the fields' representations settle (rates null,
      // then small integers, then doubles), which moves V8 to new classes whatever made the objects
      if (tick >= 2) {
        arpOut.forEach((o, i) => assert.ok(sameMap(o, arpOut[0]), `tick ${tick} client ${i}: one hidden class`));
        assert.ok(sameMap(arpOut[0], ref), 'the one Object.assign gives');
      }
    }
    await core.close();
  });
});

describe('counter validation: who holds a MAC or an address, kept between checks', () => {
  it('ClaimTable: entries of an earlier check count as absent, and the table stays within twice a check plus 256', () => {
    const table = new ClaimTable();
    for (let check = 0; check < 50; check++) {
      table.begin(100);
      for (let i = 0; i < 100; i++) {
        const key = `k${check * 37 + i}`; // a third of the keys new at each check
        assert.equal(table.get(key), undefined);
        table.set(key, i);
        assert.equal(table.get(key), i);
      }
      assert.ok(table.size <= 2 * 100 + 256 + 100, `size ${table.size}`);
    }
  });

  it('a MAC or an address given twice in one snapshot is refused, given again in the next is not', () => {
    const a = { mac: '3c:22:fb:00:00:01', ip: '10.77.0.2', ip6: ['fd00:77::2'] };
    const b = { mac: '3c:22:fb:00:00:02', ip: '10.77.0.3' };
    for (let i = 0; i < 3; i++) {
      assert.equal(validateSnapshot({ clients: [a, b] }).keys.length, 3);
      assert.throws(() => validateSnapshot({ clients: [a, b, { ...a }] }), /payload\.clients\[2\]\.mac: 3c:22:fb:00:00:01 appears twice/);
      assert.throws(() => validateSnapshot({ clients: [a, { mac: '3c:22:fb:00:00:03', ip6: ['FD00:77:0::2'] }] }), /payload\.clients\[1\]: address FD00:77:0::2 also belongs to payload\.clients\[0\]/);
    }
  });
});

/** Recorded from the code of commit e71fc64 (before the garbage work) with this test's scenario. */
const HASHES = ['a7fee467144d9450', '4fa9f609828609ff', '6cc6c9463d512306'];
