// arp-discover's tick keeps what it made from one tick to the next (checked entries, vendors,
// addresses, device types) to allocate less: these tests check that its output stays what the
// straightforward computation gives, tick after tick, while devices join, leave, change address,
// hostname, name or priority; that nothing it handed out is changed later; and that what it keeps
// is bounded by the last neighbour table read.
import assert from 'node:assert/strict';
import { isIPv4, isLinkLocalIPv6 } from '../../nodes/core/contract/ip';
import { isLocallyAdministered } from '../../nodes/core/contract/mac';
import { DeviceTypeTable } from '../../nodes/core/discover/device-type';
import { Discovery, STALE_ONLY_ABSENCE_MS, type DeviceSettings, type DiscoveredClient, type FileStamp, type ScanResult } from '../../nodes/core/discover/discovery';
import { parseDnsmasqLeases, type ParsedLeases } from '../../nodes/core/discover/leases';
import { neighboursOf, NeighbourTracker, type Neighbour } from '../../nodes/core/discover/neighbours';
import { defaultOuiIndex } from '../../nodes/core/discover/oui';

const START = Date.UTC(2026, 10, 29, 12, 0, 0);
const OPTIONS = { iface: 'br-lan', probe: false, probeIntervalMs: 30_000, leasesFile: '/leases', reverseDns: false, maxPriority: 5 } as const;

/** A seeded random source: the same sequence every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * The reference: discovery's presence and clients computed the plain way, as before this work
 * (a Set of "mac ip" pairs of the last read, new arrays and objects for everything, the vendor
 * looked up and the device type classified every tick). No probe, no reverse DNS.
 */
class Reference {
  private readonly presence = new Map<string, { firstSeen: number; lastSeen: number; present: boolean; confirmed: boolean }>();
  readonly devices = new Map<string, DeviceSettings>();
  private inSnapshot = new Set<string>();
  private previousPairs: Set<string> | null = null;
  private windowStart = -Infinity;
  private windowCount = 0;
  private readonly types = new DeviceTypeTable();

  constructor(private readonly o: { absenceMs: number; clientCap: number; newMacsPerMinute: number }) {}

  tick(raw: readonly unknown[], leasesText: string, t: number): { clients: DiscoveredClient[]; joined: string[]; left: string[]; capped: boolean; ignored: number } {
    const leases = parseDnsmasqLeases(leasesText);
    const { neighbours } = neighboursOf(raw);
    const byMac = new Map<string, Neighbour[]>();
    for (const n of neighbours) byMac.set(n.mac, [...(byMac.get(n.mac) ?? []), n]);
    const pairs = new Set(neighbours.map((n) => `${n.mac} ${n.ip}`));
    const candidates = new Set([...byMac.keys(), ...this.presence.keys()]);
    if (t - this.windowStart >= 60_000) {
      this.windowStart = t;
      this.windowCount = 0;
    }
    const known = (mac: string) => this.devices.has(mac);
    const confirmedEntry = (mac: string) => (byMac.get(mac) ?? []).some((e) => e.state !== 'STALE');
    const fresh = [...candidates].filter((mac) => !this.presence.has(mac));
    fresh.sort((a, b) => Number(known(b)) - Number(known(a)) || Number(confirmedEntry(b)) - Number(confirmedEntry(a)) || (a < b ? -1 : 1));
    let ignored = 0;
    for (const mac of fresh) {
      if (!known(mac) && this.windowCount >= this.o.newMacsPerMinute) {
        candidates.delete(mac);
        ignored++;
      } else if (!known(mac)) this.windowCount++;
    }
    const present: string[] = [];
    const left: string[] = [];
    for (const mac of candidates) {
      let evidence = -Infinity;
      let confirmed = false;
      for (const e of byMac.get(mac) ?? []) {
        const appeared = this.previousPairs !== null && !this.previousPairs.has(`${e.mac} ${e.ip}`);
        evidence = Math.max(evidence, e.state === 'PERMANENT' || e.confirmedS === null || appeared ? t : t - e.confirmedS * 1000);
        if (e.state !== 'STALE') confirmed = true;
      }
      const p = this.presence.get(mac);
      confirmed = confirmed || (p?.confirmed ?? false) || known(mac);
      const lastSeen = Math.max(p?.lastSeen ?? -Infinity, evidence);
      const isPresent = t - lastSeen <= (confirmed ? this.o.absenceMs : Math.min(this.o.absenceMs, STALE_ONLY_ABSENCE_MS));
      if (isPresent) {
        this.presence.set(mac, { firstSeen: p?.present ? p.firstSeen : Math.min(t, lastSeen), lastSeen, present: true, confirmed });
        present.push(mac);
      } else if (p?.present) {
        this.presence.set(mac, { ...p, lastSeen, present: false, confirmed });
        if (this.inSnapshot.has(mac)) left.push(mac);
      } else if (lastSeen > -Infinity) {
        this.presence.set(mac, { firstSeen: p?.firstSeen ?? t, lastSeen, present: false, confirmed });
      }
    }
    this.previousPairs = pairs;
    const rank = (mac: string) => (known(mac) ? 0 : 2) + (this.inSnapshot.has(mac) ? 0 : 1);
    // within the cap: in the order they were found; over it: in the order of preference
    const kept =
      present.length <= this.o.clientCap
        ? present
        : [...present].sort((a, b) => rank(a) - rank(b) || this.presence.get(a)!.firstSeen - this.presence.get(b)!.firstSeen || (a < b ? -1 : 1)).slice(0, this.o.clientCap);
    const joined = kept.filter((mac) => !this.inSnapshot.has(mac));
    this.inSnapshot = new Set(kept);
    const clients = kept.map((mac) => this.client(mac, byMac.get(mac) ?? [], leases, t));
    clients.sort((a, b) => (a.ip && b.ip ? ipNumber(a.ip) - ipNumber(b.ip) : a.ip ? -1 : b.ip ? 1 : a.mac < b.mac ? -1 : 1));
    return { clients, joined: joined.sort(), left: left.sort(), capped: present.length > kept.length, ignored };
  }

  private client(mac: string, entries: Neighbour[], leases: ParsedLeases, t: number): DiscoveredClient {
    const ipv4 = entries.filter((e) => e.family === 4).map((e) => e.ip).sort((a, b) => ipNumber(a) - ipNumber(b));
    const ip6 = [...new Set(entries.filter((e) => e.family === 6 && !isLinkLocalIPv6(e.ip)).map((e) => e.ip.toLowerCase()))].sort();
    const usable = (leases.byMac.get(mac) ?? []).filter((l) => l.hostname && (l.expiresAt === null || l.expiresAt > t));
    const hostname = usable.find((l) => isIPv4(l.ip))?.hostname ?? usable[0]?.hostname ?? null;
    const vendor = defaultOuiIndex().lookup(mac)?.vendor ?? null;
    const guess = this.types.classify(hostname, vendor);
    const d = this.devices.get(mac) ?? {};
    const p = this.presence.get(mac)!;
    return {
      mac,
      ip: ipv4[0] ?? null,
      ip6,
      hostname,
      vendor,
      deviceType: d.deviceType ?? guess.deviceType,
      icon: d.icon ?? guess.icon,
      name: d.name ?? null,
      randomizedMac: isLocallyAdministered(mac),
      firstSeen: p.firstSeen,
      lastSeen: p.lastSeen,
      ...(d.priority !== undefined ? { priority: d.priority } : {}),
    };
  }
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** Freezes a result all the way down: a later tick that changed anything it handed out would throw. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const PREFIXES = ['3c:22:fb', '5c:49:7d', 'dc:a6:32', '24:0a:c4', 'da:a1:19', '10:4f:a8', '74:c2:46'];
const HOSTS = ['iPhone-Anna', 'raspberrypi', 'Galaxy-S23', 'laptop-ben', 'bravia-tv', 'esp-plug'];

/** A LAN that changes every tick: devices join and leave, move address, change hostname; leases expire. */
function lan(seed: number, size: number) {
  const rnd = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)];
  const macs = Array.from({ length: size }, (_, i) => `${PREFIXES[i % PREFIXES.length]}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:0${i % 7}`);
  const devices = new Map<string, { addresses: string[]; host: string | null; age: number }>();
  let leases = '';
  let t = START;
  return {
    macs,
    get t() {
      return t;
    },
    next(): { entries: unknown[]; leases: string } {
      t += pick([2000, 2000, 2000, 10_000, 45_000, 400_000]);
      for (const mac of macs) {
        const d = devices.get(mac);
        if (d && rnd() < 0.05) devices.delete(mac); // leaves
        else if (!d && rnd() < 0.3) devices.set(mac, { addresses: [`10.0.${Math.floor(rnd() * 3)}.${1 + Math.floor(rnd() * 60)}`], host: pick([...HOSTS, null]), age: 0 });
        else if (d) {
          if (rnd() < 0.05) d.addresses[0] = `10.0.${Math.floor(rnd() * 3)}.${1 + Math.floor(rnd() * 60)}`; // a new IPv4 address
          if (rnd() < 0.05) d.addresses.push(pick([`fd00::${Math.floor(rnd() * 99).toString(16)}`, `FE80::${Math.floor(rnd() * 9)}`, `2001:DB8::${Math.floor(rnd() * 9)}`]));
          if (d.addresses.length > 1 && rnd() < 0.05) d.addresses.pop();
          if (rnd() < 0.05) d.host = pick([...HOSTS, null]);
          d.age = rnd() < 0.3 ? 0 : d.age + 2;
        }
      }
      const entries: unknown[] = [];
      for (const [mac, d] of devices) {
        for (const ip of d.addresses) {
          entries.push({ dst: ip, lladdr: rnd() < 0.05 ? mac.toUpperCase() : mac, state: [pick(['REACHABLE', 'REACHABLE', 'STALE', 'DELAY', 'PERMANENT', 'FAILED'])], confirmed: d.age });
          if (rnd() < 0.02) entries.push({ dst: ip, lladdr: mac, state: ['REACHABLE'], confirmed: d.age }); // the same entry twice
        }
      }
      if (rnd() < 0.05) entries.push({ dst: 'not-an-address', lladdr: macs[0], state: ['REACHABLE'] }, null);
      if (rnd() < 0.1) entries.reverse();
      if (rnd() < 0.2) {
        const lines = [...devices].filter(([, d]) => d.host).map(([mac, d]) => `${Math.floor(t / 1000) + Math.floor(rnd() * 120) - 20} ${mac} ${d.addresses[0]} ${d.host} *`);
        leases = lines.join('\n') + '\n';
      }
      return { entries, leases };
    },
  };
}

function discoveryFor(o: { absenceMs: number; clientCap: number; newMacsPerMinute: number }, clock: { t: number }): Discovery {
  return new Discovery(
    { ...OPTIONS, ...o, deviceTypes: new DeviceTypeTable() },
    {
      runner: { run: () => Promise.reject(new Error('no commands here')), watch: () => ({ stop() {} }) },
      readFile: () => Promise.reject(new Error('no files here')),
      now: () => clock.t,
      oui: defaultOuiIndex(),
    },
  );
}

describe('arp-discover: a tick made from what the last ticks kept', () => {
  for (const [seed, o] of [
    [1, { absenceMs: 60_000, clientCap: 1024, newMacsPerMinute: 60 }],
    [2, { absenceMs: 300_000, clientCap: 6, newMacsPerMinute: 4 }],
    [3, { absenceMs: 30_000, clientCap: 12, newMacsPerMinute: 1000 }],
  ] as const) {
    it(`gives what the plain computation gives, over 300 ticks of a changing LAN (seed ${seed}, cap ${o.clientCap}, ${o.newMacsPerMinute} new MACs a minute)`, () => {
      const world = lan(seed, 24);
      const clock = { t: START };
      const discovery = discoveryFor(o, clock);
      const reference = new Reference(o);
      const rnd = random(seed + 100);
      let joined = 0;
      let left = 0;
      let clients = 0;
      for (let k = 0; k < 300; k++) {
        const { entries, leases } = world.next();
        clock.t = world.t;
        if (rnd() < 0.1) {
          // a device command: name, priority, type or icon set or cleared
          const mac = world.macs[Math.floor(rnd() * world.macs.length)];
          const field = (['name', 'priority', 'deviceType', 'icon'] as const)[Math.floor(rnd() * 4)];
          const value = rnd() < 0.4 ? null : { name: 'Desk', priority: 1 + Math.floor(rnd() * 5), deviceType: 'tv', icon: 'fa-tv' }[field];
          const { device } = discovery.setDevice({ mac, [field]: value });
          if (Object.keys(device).length === 0) reference.devices.delete(mac);
          else reference.devices.set(mac, device);
        }
        const result: ScanResult = deepFreeze(discovery.scanEntries(entries, leases, clock.t));
        const expected = reference.tick(entries, leases, clock.t);
        assert.deepEqual(result.snapshot.clients, expected.clients, `tick ${k}`);
        const events = (kind: string) => result.events.filter((e) => e.event === kind).map((e) => e.client.mac).sort();
        assert.deepEqual(events('joined'), expected.joined, `tick ${k}: joined`);
        assert.deepEqual(events('left'), expected.left, `tick ${k}: left`);
        assert.equal(result.snapshot.capped !== undefined, expected.capped, `tick ${k}: capped`);
        assert.equal(result.snapshot.limited?.ignored ?? 0, expected.ignored, `tick ${k}: held back`);
        joined += expected.joined.length;
        left += expected.left.length;
        clients += expected.clients.length;
      }
      // the sequence did what it is for
      assert.ok(joined > 20 && left > 10 && clients > 1000, `joined ${joined}, left ${left}, clients ${clients}`);
    });
  }

  it('makes a new client object every tick, and shares an address list only while it is the same', () => {
    const world = lan(7, 10);
    const clock = { t: START };
    const discovery = discoveryFor({ absenceMs: 300_000, clientCap: 1024, newMacsPerMinute: 1000 }, clock);
    let shared = 0;
    let previous = new Map<string, DiscoveredClient>();
    for (let k = 0; k < 100; k++) {
      const { entries, leases } = world.next();
      clock.t = world.t;
      const { snapshot } = deepFreeze(discovery.scanEntries(entries, leases, clock.t));
      for (const c of snapshot.clients) {
        const before = previous.get(c.mac);
        if (!before) continue;
        assert.notEqual(c, before, 'a client object is never handed out twice');
        if (c.ip6 === before.ip6) shared++;
      }
      previous = new Map(snapshot.clients.map((c) => [c.mac, c]));
    }
    assert.ok(shared > 100, `address lists reused ${shared} times`);
  });

  it('keeps at most the last read of the neighbour table', () => {
    const tracker = new NeighbourTracker();
    const entry = (i: number, mac = `3c:22:fb:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`) => ({ dst: `10.1.${i >> 8}.${i & 255}`, lladdr: mac, state: ['REACHABLE'] });
    tracker.read(Array.from({ length: 3000 }, (_, i) => entry(i)));
    assert.equal(tracker.macs.length, 3000);
    assert.equal(tracker.size, 3000);
    // the same addresses with other MACs (a table being rewritten), then a small table
    tracker.read(Array.from({ length: 3000 }, (_, i) => entry(i, `5c:49:7d:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`)));
    assert.equal(tracker.size, 3000);
    assert.ok(tracker.macs.every((g) => g.mac.startsWith('5c:49:7d') && g.entries.every((e) => !e.listedBefore)), 'a new MAC at an address is a new entry');
    tracker.read([entry(1), entry(1), entry(2)]);
    assert.equal(tracker.size, 2);
    assert.deepEqual(tracker.macs.map((g) => g.entries.length), [2, 1], 'an entry listed twice counts twice, as in neighboursOf');
    tracker.read([entry(1)]);
    assert.equal(tracker.size, 1);
    assert.equal(tracker.macs[0].entries[0].listedBefore, true);
    tracker.read([]);
    assert.equal(tracker.size, 0);
    assert.equal(tracker.macs.length, 0);
  });

  it('reads the leases file only when its stamp changed, and while it is recent enough to change unseen', async () => {
    const clock = { t: START };
    const file = { text: '1900000000 3c:22:fb:00:00:01 10.0.0.1 first *\n', stamp: { ino: 7, size: 45, mtimeMs: START - 60_000, ctimeMs: START - 60_000 } as FileStamp | Error };
    let reads = 0;
    const discovery = new Discovery(
      { ...OPTIONS, absenceMs: 300_000, deviceTypes: new DeviceTypeTable() },
      {
        runner: { run: () => Promise.reject(new Error('no commands here')), watch: () => ({ stop() {} }) },
        readNeighbours: async () => [{ dst: '10.0.0.1', lladdr: '3c:22:fb:00:00:01', state: ['REACHABLE'], confirmed: 1 }],
        readFile: async () => {
          reads++;
          return file.text;
        },
        statFile: async () => {
          if (file.stamp instanceof Error) throw file.stamp;
          return { ...file.stamp };
        },
        now: () => clock.t,
        oui: defaultOuiIndex(),
      },
    );
    const hostname = async () => {
      clock.t += 2000;
      const { snapshot, warnings } = await discovery.scan();
      return [snapshot.clients[0]?.hostname ?? null, reads, warnings.length];
    };
    assert.deepEqual(await hostname(), ['first', 1, 0]);
    assert.deepEqual(await hostname(), ['first', 1, 0], 'the same stamp: not read again');
    file.text = '1900000000 3c:22:fb:00:00:01 10.0.0.1 second *\n';
    file.stamp = { ino: 7, size: 46, mtimeMs: START - 50_000, ctimeMs: START - 50_000 };
    assert.deepEqual(await hostname(), ['second', 2, 0], 'another size and time: read');
    file.text = '1900000000 3c:22:fb:00:00:01 10.0.0.1 third0 *\n';
    file.stamp = { ino: 8, size: 46, mtimeMs: START - 50_000, ctimeMs: START - 50_000 };
    assert.deepEqual(await hostname(), ['third0', 3, 0], 'another file (renamed over it), same size and times: read');
    // written just now: its stamp may not change with the next write, so it is read until it is older
    file.stamp = { ino: 8, size: 46, mtimeMs: clock.t + 3000, ctimeMs: clock.t + 3000 };
    assert.deepEqual(await hostname(), ['third0', 4, 0]);
    file.text = '1900000000 3c:22:fb:00:00:01 10.0.0.1 fourth *\n';
    assert.deepEqual(await hostname(), ['fourth', 5, 0], 'changed within the same stamp, while recent: seen');
    assert.deepEqual(await hostname(), ['fourth', 5, 0], '2 s after its last write: not read again');
    file.stamp = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    assert.deepEqual(await hostname(), [null, 5, 1], 'gone: a warning, no hostname');
    file.stamp = { ino: 8, size: 46, mtimeMs: START - 50_000, ctimeMs: START - 50_000 };
    assert.deepEqual(await hostname(), ['fourth', 6, 0], 'back: read again, whatever its stamp');
  });
});
