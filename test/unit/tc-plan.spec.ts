import assert from 'node:assert/strict';
import { InputError } from '../../nodes/core/contract/errors';
import { canonicalIPv6, DEFAULT_MINOR, ROOT_MINOR } from '../../nodes/core/shape/tc-tree';
import { ClassIds, TreeIds, DEBT_RATE_BPS, freshClassNeeded, ifbNameFor, planTree, preferredMinor } from '../../nodes/core/shape/tc-plan';
import { toBatch } from '../../nodes/core/shape/tc-commands';
import { manyClients, snapshotOf, THREE, tcFixture } from './tc-fixtures';
import { diffTree } from '../../nodes/core/shape/tc-diff';
import { emptyTree } from '../../nodes/core/shape/tc-tree';

const plan = (payload: unknown, ids = new TreeIds()) => planTree(payload, { iface: 'd0', leaf: 'bfifo' }, ids);

describe('tc-plan: the desired HTB tree', () => {
  describe('the tree', () => {
    it('has, per direction, one class per client with its rate, ceil and prio, plus the default class', () => {
      const p = plan(snapshotOf(THREE));
      for (const dir of ['down', 'up'] as const) {
        assert.equal(p[dir].classes.size, THREE.length + 1);
        assert.equal(p[dir].totalBps, 20e6);
        const def = p[dir].classes.get(DEFAULT_MINOR)!;
        assert.deepEqual([def.rateBps, def.ceilBps, def.prio], [50_000, 20e6, 7]);
        for (const c of THREE) {
          const cls = [...p[dir].classes.values()].find((x) => x.mac === c.mac)!;
          assert.deepEqual([cls.rateBps, cls.ceilBps, cls.prio], c[dir]);
        }
      }
      assert.equal(p.down.dev, 'd0');
      assert.equal(p.up.dev, 'eqn-d0');
    });

    it('classifies every IPv4 and routable IPv6 address (link-local skipped), dst on download, src on upload', () => {
      const snap = snapshotOf(THREE);
      snap.clients[0].ip6.push('fe80::1');
      const p = plan(snap);
      assert.equal(p.down.filters.length, 5);
      assert.ok(p.down.filters.every((f) => f.address !== canonicalIPv6('fe80::1')));
      const batch = diffTree(p, emptyTree('d0', 'eqn-d0'), { thresholdPercent: 5 }).commands.map((c) => c.join(' '));
      assert.ok(batch.some((l) => /^filter add dev d0 .* match ip dst 10\.77\.0\.101\/32 /.test(l)));
      assert.ok(batch.some((l) => /^filter add dev eqn-d0 .* match ip6 src fd00:0077:0000:0000:0000:0000:0000:0108\/128 /.test(l)));
    });

    it('builds exactly the recorded full batch (root, hash tables, classes, FIFO leaves, filters, ingress redirect)', () => {
      const commands = diffTree(plan(snapshotOf(THREE)), emptyTree('d0', 'eqn-d0'), { thresholdPercent: 5 }).commands;
      assert.equal(toBatch(commands), tcFixture('batch-full.txt'));
    });

    it('hashes IPv4 on the last byte at offset 16 (dst) / 12 (src), IPv6 at 36 / 20, into 256-bucket tables', () => {
      const batch = toBatch(diffTree(plan(snapshotOf(THREE)), emptyTree('d0', 'eqn-d0'), { thresholdPercent: 5 }).commands);
      assert.match(batch, /dev d0 .*hashkey mask 0x000000ff at 16 link 100:/);
      assert.match(batch, /dev d0 .*hashkey mask 0x000000ff at 36 link 600:/);
      assert.match(batch, /dev eqn-d0 .*hashkey mask 0x000000ff at 12 link 100:/);
      assert.match(batch, /dev eqn-d0 .*hashkey mask 0x000000ff at 20 link 600:/);
      assert.match(batch, /handle 100:65:800 u32 ht 100:65: match ip dst 10\.77\.0\.101/);
      assert.match(batch, /handle 600:ff:800 u32 ht 600:ff: match ip6 dst 2001:0db8:0001:0002:0003:0004:0005:01ff/);
    });
  });

  describe('stable class ids', () => {
    it('gives the same MAC the same class id in every run, whatever the order of the clients', () => {
      const a = plan(snapshotOf(THREE));
      const b = plan(snapshotOf([...THREE].reverse()));
      const idOf = (p: typeof a, mac: string) => [...p.down.classes.values()].find((c) => c.mac === mac)!.minor;
      for (const c of THREE) {
        assert.equal(idOf(a, c.mac), idOf(b, c.mac));
        assert.equal(idOf(a, c.mac), preferredMinor(c.mac));
        assert.notEqual(idOf(a, c.mac), ROOT_MINOR);
        assert.notEqual(idOf(a, c.mac), DEFAULT_MINOR);
      }
    });

    it('resolves hash collisions among 5,000 clients to distinct ids, and remembers the resolution', () => {
      const ids = new TreeIds();
      const clients = manyClients(5000, 1e10);
      const p = plan(snapshotOf(clients, 1e10, 1e10), ids);
      const minors = [...p.down.classes.keys()];
      assert.equal(new Set(minors).size, 5001);
      const collided = clients.filter((c) => ids.down.minorFor(c.mac) !== preferredMinor(c.mac));
      assert.ok(collided.length > 0, 'expected some hash collisions among 5,000 MACs in 65,533 ids');
      for (const c of clients) assert.equal(ids.up.minorFor(c.mac), ids.down.minorFor(c.mac), 'both directions resolve alike');
      // a restart with the remembered ids gives every client the same class again, even in another order
      const again = new TreeIds(JSON.parse(JSON.stringify(ids.entries())));
      plan(snapshotOf([...clients].reverse(), 1e10, 1e10), again);
      for (const c of clients) for (const dir of ['down', 'up'] as const) assert.equal(again[dir].minorFor(c.mac), ids[dir].minorFor(c.mac));
      // a list remembered before ids per direction seeds both
      const old = new TreeIds(ids.down.entries());
      for (const c of clients.slice(0, 100)) assert.equal(old.up.minorFor(c.mac), ids.down.minorFor(c.mac));
    });

    it('a busy client raised from a small rate to its share gets a class made afresh (HTB keeps its debt in time); nothing else does', () => {
      // the rule: busy, from below DEBT_RATE_BPS (1 Mbit/s) to at least that and 1.5 times more
      assert.equal(Math.round(DEBT_RATE_BPS), 1_048_576);
      assert.equal(freshClassNeeded({ rateBps: 50_000 }, { rateBps: 11e6, busy: true }), true);
      assert.equal(freshClassNeeded({ rateBps: 50_000 }, { rateBps: 11e6, busy: false }), false, 'not busy: nobody contends');
      assert.equal(freshClassNeeded({ rateBps: 50_000 }, { rateBps: 11e6 }), false, 'an allocation without busy (not from the allocator)');
      assert.equal(freshClassNeeded({ rateBps: 2.19e6 }, { rateBps: 11e6, busy: true }), false, 'a 64 KB packet at 2 Mbit/s owes 0.25 s: kept');
      assert.equal(freshClassNeeded({ rateBps: 50_000 }, { rateBps: 900_000, busy: true }), false, 'small to small');
      assert.equal(freshClassNeeded({ rateBps: 800_000 }, { rateBps: 1.1e6, busy: true }), false, 'less than 1.5 times');
      assert.equal(freshClassNeeded(undefined, { rateBps: 11e6, busy: true }), false, 'no class yet: it is new anyway');

      const ids = new TreeIds();
      const snapshot = (dir: 'down' | 'up', bps: number, busy: boolean) => {
        const s = snapshotOf(THREE);
        Object.assign(s.clients[1].alloc[dir], { rateBps: bps, busy });
        return s;
      };
      const mac = THREE[1].mac;
      const hex = (m: number) => m.toString(16);
      const first = planTree(snapshot('down', 50_000, false), { iface: 'd0', leaf: 'bfifo' }, ids);
      const installed = diffTree(first, emptyTree('d0', first.ifb), { thresholdPercent: 5 }).next;
      const old = ids.down.minorFor(mac);
      // the others stay; the raised one moves to another minor in that direction only, with its filters
      const raised = planTree(snapshot('down', 11e6, true), { iface: 'd0', leaf: 'bfifo' }, ids, installed);
      const now = ids.down.minorFor(mac);
      assert.notEqual(now, old);
      for (const c of [THREE[0], THREE[2]]) assert.equal(ids.down.minorFor(c.mac), preferredMinor(c.mac));
      assert.equal(ids.up.minorFor(mac), old, 'the upload class (another tree) keeps its id');
      const diff = diffTree(raised, installed, { thresholdPercent: 5 });
      const lines = diff.commands.map((c) => c.join(' '));
      assert.ok(lines.includes(`class del dev d0 classid eb:${hex(old)}`), 'old class removed');
      assert.ok(lines.some((l) => l.startsWith(`class add dev d0 parent eb:1 classid eb:${hex(now)} `)), 'new class');
      assert.ok(lines.some((l) => l.startsWith('filter add') && l.endsWith(`flowid eb:${hex(now)}`)));
      assert.ok(!lines.some((l) => l.includes(` dev ${raised.ifb} `)), `nothing on the upload side: ${lines.filter((l) => l.includes(raised.ifb)).join('; ')}`);
      // the filters leave the old class before it goes, the new class is there before they point to it
      const firstIndex = (re: RegExp) => lines.findIndex((l) => re.test(l));
      assert.ok(firstIndex(/^filter del/) < firstIndex(/^class del/));
      assert.ok(firstIndex(/^class add/) < firstIndex(/^filter add/));
      // next tick, same rate: it keeps its new class
      planTree(snapshot('down', 11e6, true), { iface: 'd0', leaf: 'bfifo' }, ids, diff.next);
      assert.equal(ids.down.minorFor(mac), now);

      // its ACKs' class (upload) raised the same way: renewed on the IFB alone; the download class,
      // and what it queues, stays (in the lab a renewal in both trees dropped a download mid-flow)
      const upIds = new TreeIds();
      const upFirst = planTree(snapshot('up', 50_000, false), { iface: 'd0', leaf: 'bfifo' }, upIds);
      const upInstalled = diffTree(upFirst, emptyTree('d0', upFirst.ifb), { thresholdPercent: 5 }).next;
      const upRaised = diffTree(planTree(snapshot('up', 11e6, true), { iface: 'd0', leaf: 'bfifo' }, upIds, upInstalled), upInstalled, { thresholdPercent: 5 });
      const upLines = upRaised.commands.map((c) => c.join(' '));
      assert.notEqual(upIds.up.minorFor(mac), upIds.down.minorFor(mac));
      assert.ok(upLines.includes(`class del dev ${upFirst.ifb} classid eb:${hex(upIds.down.minorFor(mac))}`));
      assert.ok(!upLines.some((l) => l.includes(' dev d0 ')), `nothing on the download side: ${upLines.filter((l) => l.includes(' dev d0 ')).join('; ')}`);
    });

    it('a renewed id is not handed to another MAC in the same round, and survives a restart', () => {
      const ids = new ClassIds();
      ids.begin();
      const a = ids.minorFor('02:00:00:00:00:01');
      const renewed = ids.renew('02:00:00:00:00:01');
      assert.notEqual(renewed, a);
      // a MAC that hashes to `a` does not get it in this round (its class is being removed), and does in the next
      let other = '';
      for (let i = 0; i < 1 << 22 && !other; i++) {
        const mac = `02:01:${[16, 8, 0].map((b) => ((i >> b) & 255).toString(16).padStart(2, '0')).join(':')}:00`;
        if (preferredMinor(mac) === a) other = mac;
      }
      assert.ok(other, 'a MAC hashing to the renewed minor');
      assert.notEqual(ids.minorFor(other), a);
      const later = new ClassIds();
      later.begin();
      later.minorFor('02:00:00:00:00:01');
      later.renew('02:00:00:00:00:01');
      later.begin();
      assert.equal(later.minorFor(other), a);
      assert.equal(new ClassIds(ids.entries()).minorFor('02:00:00:00:00:01'), renewed);
    });

    it('names the IFB after the interface, hashed when that would pass 15 characters', () => {
      assert.equal(ifbNameFor('br-lan'), 'eqn-br-lan');
      const long = ifbNameFor('enp0s31f6.1234');
      assert.match(long, /^eqn-[0-9a-f]{8}$/);
      assert.equal(ifbNameFor('enp0s31f6.1234'), long);
    });
  });

  describe('IPv6 addresses', () => {
    it('are written in full, whatever their text form', () => {
      assert.equal(canonicalIPv6('fd00:77::101'), 'fd00:0077:0000:0000:0000:0000:0000:0101');
      assert.equal(canonicalIPv6('::1'), '0000:0000:0000:0000:0000:0000:0000:0001');
      assert.equal(canonicalIPv6('2001:DB8::'), '2001:0db8:0000:0000:0000:0000:0000:0000');
      assert.equal(canonicalIPv6('::ffff:10.77.0.1'), '0000:0000:0000:0000:0000:ffff:0a4d:0001');
      assert.equal(canonicalIPv6('1:2:3:4:5:6:7:8'), '0001:0002:0003:0004:0005:0006:0007:0008');
    });
  });

  describe('bad input is refused with a clear error, nothing planned', () => {
    const refuse = (mutate: (s: ReturnType<typeof snapshotOf>) => void, path: RegExp, text: RegExp) => {
      const s = snapshotOf(THREE);
      mutate(s);
      assert.throws(() => plan(s), (err: Error) => {
        assert.ok(err instanceof InputError, String(err));
        assert.match((err as InputError).path, path);
        assert.match(err.message, text);
        return true;
      });
    };
    it('an allocation of 0 bit/s', () => refuse((s) => (s.clients[1].alloc.up.rateBps = 0), /clients\[1\]\.alloc\.up\.rateBps/, /must be above 0/));
    it('an allocation below HTB\'s 8 kbit/s (more clients than the link has 8 kbit/s for) is planned at 8 kbit/s and counted, not refused', () => {
      const s = snapshotOf(THREE);
      s.clients[1].alloc.up.rateBps = 4882;
      s.clients[1].alloc.up.ceilBps = 7000;
      const p = plan(s);
      const raised = [...p.up.classes.values()].find((c) => c.mac === s.clients[1].mac)!;
      assert.deepEqual([raised.rateBps, raised.ceilBps], [8000, 8000]);
      assert.equal(p.up.raisedToMinimum, 1);
      assert.equal(p.down.raisedToMinimum, 0);
    });
    it('an allocation above the link', () => refuse((s) => (s.clients[0].alloc.down.rateBps = 21e6), /clients\[0\]\.alloc\.down\.rateBps/, /above the link/));
    it('a ceil above the link', () => refuse((s) => (s.clients[2].alloc.down.ceilBps = 25e6), /alloc\.down\.ceilBps/, /above the link/));
    it('a ceil below the rate', () => refuse((s) => (s.clients[0].alloc.down.ceilBps = 1e6), /alloc\.down\.ceilBps/, /below the rate/));
    it('a prio outside 0..7', () => refuse((s) => (s.clients[0].alloc.up.prio = 8), /alloc\.up\.prio/, /0 to 7/));
    it('a rate that is not a number', () => refuse((s) => ((s.clients[0].alloc.up as Record<string, unknown>).rateBps = '5mbit'), /alloc\.up\.rateBps/, /number/));
    it('a client without an allocation', () => refuse((s) => delete (s.clients[0] as Record<string, unknown>).alloc, /clients\[0\]\.alloc/, /priority-allocator/));
    it('an unknown (invalid) MAC', () => refuse((s) => (s.clients[1].mac = 'unknown'), /clients\[1\]\.mac/, /not a MAC/));
    it('a MAC twice', () => refuse((s) => (s.clients[1].mac = s.clients[0].mac), /clients\[1\]\.mac/, /twice/));
    it('a hostile IPv4 string', () => refuse((s) => (s.clients[0].ip = '10.0.0.1 flowid 1:1\nqdisc del dev eth0 root'), /clients\[0\]\.ip$/, /must be an IPv4 address/));
    it('a hostile IPv6 string', () => refuse((s) => (s.clients[0].ip6 = ['fd00::1/0 action drop']), /clients\[0\]\.ip6\[0\]/, /must be an IPv6 address/));
    it('one address claimed by two clients', () => refuse((s) => (s.clients[1].ip = '10.77.0.101'), /clients\[1\]\.ip/, /also claimed/));
    it('a snapshot without the allocator\'s totals', () => refuse((s) => delete (s as Record<string, unknown>).allocation, /allocation\.down\.totalBps/, /priority-allocator/));
    it('a hostile interface name', () => {
      for (const iface of ['eth0; reboot', '-dev', 'a\nqdisc del dev eth0 root', 'x'.repeat(16), '']) {
        assert.throws(() => planTree(snapshotOf(THREE), { iface, leaf: 'bfifo' }, new TreeIds()), (err: Error) => err instanceof InputError && /iface/.test(err.message));
      }
    });
  });
});
