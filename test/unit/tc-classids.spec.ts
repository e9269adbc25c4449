// ClassIds against a MAC-spraying device: bounded, recycled, never an endless probe, and a device
// that stays keeps its class across ticks and restarts. Pure logic: nothing to fake.
import assert from 'node:assert/strict';
import { InputError } from '../../nodes/core/contract/errors';
import { ClassIds, preferredMinor, RECENT_CLASS_IDS, REMEMBERED_CLASS_IDS_MAX, TreeIds } from '../../nodes/core/shape/tc-plan';

const mac = (i: number) => `02:${((i >> 24) & 255).toString(16).padStart(2, '0')}:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:77`;
const KNOWN = ['3c:22:fb:00:00:01', '3c:22:fb:00:00:02', 'a4:83:e7:00:00:03'];

describe('tc-plan ClassIds: bounded class ids against a MAC spray', () => {
  it('hands 100,000 distinct MACs over time unique ids, never hangs, stays bounded, and the devices that stay keep theirs', () => {
    const ids = new ClassIds();
    const wave = 1000; // a snapshot of 3 known devices + 997 sprayed MACs (client cap 1,000)
    let first: number[] | null = null;
    let next = 0;
    for (let tick = 0; next < 100_000; tick++) {
      ids.begin();
      const current = new Map<string, number>();
      for (const m of KNOWN) current.set(m, ids.minorFor(m));
      for (let k = 0; k < wave - KNOWN.length; k++, next++) current.set(mac(next), ids.minorFor(mac(next)));
      const minors = [...current.values()];
      assert.equal(new Set(minors).size, minors.length, `tick ${tick}: ids unique within the snapshot`);
      for (const m of minors) assert.ok(m >= 2 && m <= 0xfffe, `tick ${tick}: ${m} is a client minor`);
      assert.ok(ids.size <= wave + RECENT_CLASS_IDS, `tick ${tick}: ${ids.size} ids kept`);
      const known = KNOWN.map((m) => current.get(m)!);
      first ??= known;
      assert.deepEqual(known, first, `tick ${tick}: the known devices keep their classes`);
    }
    // and the whole table is one-to-one
    const entries = ids.entries();
    assert.equal(new Set(entries.map(([, m]) => m)).size, entries.length);
  });

  it('keeps a device that stays on its class across a restart, and the remembered table stays bounded', () => {
    const ids = new ClassIds();
    for (let tick = 0; tick < 200; tick++) {
      ids.begin();
      ids.minorFor(KNOWN[0]);
      for (let k = 0; k < 500; k++) ids.minorFor(mac(tick * 500 + k));
    }
    const saved = ids.entries();
    assert.ok(saved.length <= 501 + RECENT_CLASS_IDS);
    const before = ids.minorFor(KNOWN[0]);
    const again = new ClassIds(JSON.parse(JSON.stringify(saved)));
    again.begin();
    assert.equal(again.minorFor(KNOWN[0]), before);
  });

  it('counts what changes its pairs, not their order: a tick with the same devices leaves nothing new to keep (tc-shaper keeps the table only then)', () => {
    const ids = new TreeIds();
    const tick = (macs: string[]) => {
      ids.begin();
      for (const m of macs) {
        ids.down.minorFor(m);
        ids.up.minorFor(m);
      }
    };
    tick([KNOWN[0], mac(1), mac(2)]);
    const first = ids.changes;
    assert.ok(first > 0);
    tick([mac(2), KNOWN[0], mac(1)]);
    assert.equal(ids.changes, first, 'the same devices, used in another order');
    tick([KNOWN[0], mac(1), mac(2), mac(3)]);
    assert.ok(ids.changes > first, 'a new device');
    const withNew = ids.changes;
    ids.begin();
    ids.down.renew(mac(3));
    assert.ok(ids.changes > withNew, 'a class id renewed');
    const small = new ClassIds([], 0);
    small.begin();
    small.minorFor(mac(1));
    small.begin();
    const before = small.changes;
    small.minorFor(mac(2)); // mac(1) is forgotten to make room
    assert.equal(small.changes, before + 2);
    assert.deepEqual(small.entries().map(([m]) => m), [mac(2)]);
  });

  it('sanitises a remembered table of junk: bad entries, bad MACs, out-of-range or duplicate minors, too many entries', () => {
    const junk: unknown[] = [
      'not a pair',
      null,
      ['zz:zz', 5],
      ['3c:22:fb:00:00:01', 1], // the root class
      ['3c:22:fb:00:00:01', 0xffff], // the default class
      ['3c:22:fb:00:00:01', 7.5],
      ['3c:22:fb:00:00:01', '9'],
      ['3c:22:fb:00:00:01', 100],
      ['3C-22-FB-00-00-02', 100], // minor taken
      ['3c:22:fb:00:00:01', 101], // MAC taken
      ['3C-22-FB-00-00-02', 102, 'extra'],
      ['3C-22-FB-00-00-02', 103],
    ];
    const ids = new ClassIds(junk);
    assert.deepEqual(ids.entries(), [
      ['3c:22:fb:00:00:01', 100],
      ['3c:22:fb:00:00:02', 103],
    ]);
    assert.equal(new ClassIds({ not: 'an array' }).size, 0);
    assert.equal(new ClassIds('x').size, 0);
    const huge = Array.from({ length: 70_000 }, (_, i) => [mac(i), 2 + (i % 0xfffd)]);
    const bounded = new ClassIds(huge);
    assert.equal(bounded.size, REMEMBERED_CLASS_IDS_MAX);
    // the most recently used (the end of the list) are the ones kept
    const kept = new Map(bounded.entries());
    assert.equal(kept.get(mac(69_999)), 2 + (69_999 % 0xfffd));
    assert.equal(kept.has(mac(0)), false);
  });

  it('says so (InputError) when one snapshot needs more ids than exist, instead of probing for ever', () => {
    const ids = new ClassIds([], 0);
    ids.begin();
    for (let i = 0; i < 0xfffd; i++) ids.minorFor(mac(i));
    assert.equal(ids.size, 0xfffd);
    assert.throws(() => ids.minorFor(mac(0xfffd)), (err: Error) => err instanceof InputError && /no free tc class id/.test(err.message));
    // a new round recycles them
    ids.begin();
    assert.equal(typeof ids.minorFor(mac(0xfffd)), 'number');
    assert.equal(ids.size, 1);
  });

  it('still prefers the hash of the MAC', () => {
    const ids = new ClassIds();
    ids.begin();
    assert.equal(ids.minorFor(KNOWN[2]), preferredMinor(KNOWN[2]));
  });
});
