import assert from 'node:assert/strict';
import { parseClasses, parseFilters, parseIngressRedirect, parseQdiscs, parseRate } from '../../nodes/core/shape/tc-read';
import { tcFixture } from './tc-fixtures';

describe('tc-read: what the kernel holds, from iproute2 6.1 output recorded on this kernel', () => {
  it('reads rates the way tc prints them', () => {
    assert.equal(parseRate('200Kbit'), 200_000);
    assert.equal(parseRate('12345Kbit'), 12_345_000);
    assert.equal(parseRate('20Mbit'), 20_000_000);
    assert.equal(parseRate('1.5Gbit'), 1_500_000_000);
    assert.equal(parseRate('8bit'), 8);
    assert.equal(parseRate('1Mibit'), 1_048_576);
    assert.equal(parseRate('100Kbps'), 800_000);
    assert.throws(() => parseRate('fast'), /unrecognised rate/);
  });

  it('reads the quantum where `tc -d class show` prints it (recorded on this kernel), so a weight change is seen', () => {
    const line = 'class htb eb:2 parent eb:1 prio 1 quantum 40000 rate 2Mbit ceil 20Mbit linklayer ethernet burst 1600b/1 mpu 0b cburst 1600b/1 mpu 0b level 0 ';
    assert.deepEqual(parseClasses(line).classes.get(2), { minor: 2, rateBps: 2e6, ceilBps: 20e6, prio: 1, quantum: 40_000 });
  });

  it('parses HTB classes from the text of `tc class show` (no JSON for HTB classes in 6.1)', () => {
    const { rootClass, classes } = parseClasses(tcFixture('class-show-down.txt'));
    assert.deepEqual(rootClass, { rateBps: 20e6, ceilBps: 20e6 });
    assert.equal(classes.size, 4);
    assert.deepEqual(classes.get(0xc371), { minor: 0xc371, rateBps: 12_345_000, ceilBps: 20e6, prio: 0 });
    assert.deepEqual(classes.get(0xb2b), { minor: 0xb2b, rateBps: 2e6, ceilBps: 19_999_000, prio: 7 });
    assert.deepEqual(classes.get(0xffff), { minor: 0xffff, rateBps: 50_000, ceilBps: 20e6, prio: 7 });
    const up = parseClasses(tcFixture('class-show-up.txt')).classes;
    assert.equal(up.get(0xbae3)!.rateBps, 8_000);
  });

  it('ignores classes of other majors and other kinds', () => {
    const { classes } = parseClasses('class htb 1:10 parent 1:1 prio 0 rate 1Mbit ceil 2Mbit burst 1600b cburst 1600b\nclass fq_codel 8001:1 parent 8001:\n');
    assert.equal(classes.size, 0);
  });

  it('parses u32 address filters (IPv4 and IPv6, dst and src) and checks the hash tables', () => {
    const down = parseFilters(tcFixture('filter-show-down.txt'));
    assert.equal(down.hashTables, true);
    assert.deepEqual(
      down.filters.map((f) => [f.family, f.address, f.minor.toString(16), f.handle]),
      [
        [4, '10.77.0.101', 'c371', '100:65:800'],
        [4, '10.77.0.102', 'bae3', '100:66:800'],
        [6, 'fd00:0077:0000:0000:0000:0000:0000:0101', 'c371', '600:1:800'],
        [6, 'fd00:0077:0000:0000:0000:0000:0000:0108', 'b2b', '600:8:800'],
        [6, '2001:0db8:0001:0002:0003:0004:0005:01ff', 'c371', '600:ff:800'],
      ],
    );
    const up = parseFilters(tcFixture('filter-show-up.txt'));
    assert.equal(up.filters.length, 5);
    assert.equal(up.hashTables, true);
    // without the hashing filter for IPv6, the tables are incomplete
    const cut = tcFixture('filter-show-down.txt').split('filter protocol ipv6 pref 11 u32 chain 0 fh 801:')[0];
    assert.equal(parseFilters(cut).hashTables, false);
  });

  it('parses qdiscs from JSON: our root, the leaves under our classes, the ingress', () => {
    const q = parseQdiscs(tcFixture('qdisc-show-down.json'));
    assert.equal(q.root, 'ours');
    assert.equal(q.ingress, 'ingress');
    assert.equal(q.leaves.get(0xc371), 'bfifo');
    assert.equal(q.leaves.size, 4);
    assert.equal(parseQdiscs('[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]').root, 'default');
    assert.deepEqual(parseQdiscs('[{"kind":"htb","handle":"1:","root":true,"options":{}}]').root, { foreign: 'htb 1:' });
  });

  it('finds the device the ingress is redirected to', () => {
    assert.equal(parseIngressRedirect(tcFixture('filter-show-ingress.txt')), 'eqn-d0');
    assert.equal(parseIngressRedirect(''), null);
  });
});
