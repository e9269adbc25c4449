import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { BINARY_INDEX_FILE, defaultOuiIndex, indexFromRegistry, LazyOuiIndex, organisationName, OuiIndex, registryVersion } from '../../nodes/core/discover/oui';

describe('arp-discover: vendor from the IEEE registry', () => {
  const registry = {
    '70B3D5': 'IEEE Registration Authority\n445 Hoes Lane\nPiscataway NJ 08554\nUnited States',
    '70B3D5016': 'Guardian Controls International Ltd\nThe Dairy, Spring Bank Farm\nArclid Cheshire CW11 4SN\nGB',
    '3805250': 'Groeneveld-BEKA GmbH\nStroombaan 16\nAmstelveen  1181 VX\nNL',
    '380525': 'IEEE Registration Authority\n445 Hoes Lane\nPiscataway NJ 08554\nUnited States',
    '3C22FB': 'Apple, Inc.\n1 Infinite Loop\nCupertino CA 95014\nUnited States',
  };
  const index = new OuiIndex(registry);

  it('takes the longest registered prefix: MA-S, then MA-M, then MA-L', () => {
    assert.deepEqual(index.lookup('70:b3:d5:01:60:09'), { vendor: 'Guardian Controls International Ltd', block: 'MA-S', prefix: '70B3D5016' });
    assert.deepEqual(index.lookup('70:b3:d5:02:00:00'), { vendor: 'IEEE Registration Authority', block: 'MA-L', prefix: '70B3D5' });
    assert.deepEqual(index.lookup('38:05:25:01:02:03'), { vendor: 'Groeneveld-BEKA GmbH', block: 'MA-M', prefix: '3805250' });
    assert.deepEqual(index.lookup('3c:22:fb:10:00:01'), { vendor: 'Apple, Inc.', block: 'MA-L', prefix: '3C22FB' });
    assert.equal(index.lookup('00:11:22:33:44:55'), null);
  });

  it('never gives a randomized (locally administered) MAC a vendor', () => {
    // 3e:22:fb is 3c:22:fb with the local bit set, as a phone's private address would be
    assert.equal(index.lookup('3e:22:fb:10:00:01'), null);
    assert.equal(defaultOuiIndex().lookup('da:a1:19:10:00:0a'), null);
  });

  it('keeps the organisation, not its postal address', () => {
    assert.equal(organisationName('Espressif Inc.\nRoom 204\nShanghai'), 'Espressif Inc.');
    assert.equal(organisationName('  Private  '), 'Private');
  });

  it('knows the vendors of a typical home from the shipped registry (oui-data)', () => {
    const oui = defaultOuiIndex();
    assert.ok(oui.size > 50_000, `only ${oui.size} prefixes loaded`);
    const vendor = (mac: string) => oui.lookup(mac)?.vendor;
    assert.equal(vendor('3c:22:fb:00:00:01'), 'Apple, Inc.');
    assert.equal(vendor('dc:a6:32:00:00:01'), 'Raspberry Pi Trading Ltd');
    assert.equal(vendor('24:0a:c4:00:00:01'), 'Espressif Inc.');
    assert.equal(oui.lookup('70:b3:d5:01:60:09')?.block, 'MA-S');
    assert.equal(defaultOuiIndex(), oui, 'built once, shared');
  });

  /** Every prefix of `index` as a MAC that starts with it, and what `index` says of it. */
  function everyAnswer(index: OuiIndex): Map<string, string> {
    const answers = new Map<string, string>();
    // the tables in order MA-S, MA-M, MA-L: 9, 7 and 6 hex digits
    const digits = [9, 7, 6];
    for (const [t, table] of (index as unknown as { tables: { keys: Float64Array }[] }).tables.entries()) {
      for (const key of table.keys) {
        const hex = key.toString(16).padStart(digits[t], '0').padEnd(12, '0');
        const mac = hex.match(/../g)!.join(':');
        answers.set(mac, JSON.stringify(index.lookup(mac)));
      }
    }
    return answers;
  }

  it('the binary index answers as the registry does, for every prefix (non-ASCII names too)', () => {
    const fromJson = indexFromRegistry();
    const bytes = fromJson.toBinary('test-1');
    const fromBytes = OuiIndex.fromBinary(bytes, 'test-1')!;
    assert.ok(fromBytes);
    const expected = everyAnswer(fromJson);
    assert.ok(expected.size > 50_000);
    assert.deepEqual(everyAnswer(fromBytes), expected);
    assert.ok([...expected.values()].some((v) => /[^\x00-\x7f]/.test(v)), 'the registry has names outside ASCII');
    // written again from the binary one: the same bytes
    assert.ok(fromBytes.toBinary('test-1').equals(bytes));
  });

  it('a binary index of another registry version, or not one at all, is not used', () => {
    const bytes = new OuiIndex(registry).toBinary('1.0.0');
    assert.ok(OuiIndex.fromBinary(bytes, '1.0.0'));
    assert.equal(OuiIndex.fromBinary(bytes, '1.0.1'), null);
    assert.equal(OuiIndex.fromBinary(bytes.subarray(0, bytes.length - 1), '1.0.0'), null, 'cut short');
    assert.equal(OuiIndex.fromBinary(Buffer.from('{"70B3D5": "x"}'), '1.0.0'), null);
    // not aligned for its views (a slice of a pooled buffer): read from a copy, same answers
    const odd = Buffer.concat([Buffer.from([0]), bytes]).subarray(1);
    assert.deepEqual(OuiIndex.fromBinary(odd, '1.0.0')!.lookup('70:b3:d5:01:60:09'), index.lookup('70:b3:d5:01:60:09'));
  });

  it('npm run build wrote the binary index of the installed registry, and that is what the nodes load', () => {
    assert.ok(existsSync(BINARY_INDEX_FILE), `${BINARY_INDEX_FILE} missing: npm run build makes it`);
    const shipped = OuiIndex.fromBinary(readFileSync(BINARY_INDEX_FILE), registryVersion());
    assert.ok(shipped, 'made from the oui-data installed');
    assert.equal(shipped.size, defaultOuiIndex().size);
    assert.equal(shipped.lookup('3c:22:fb:00:00:01')?.vendor, 'Apple, Inc.');
  });

  it('a node\'s index is loaded at its first lookup and let go after a minute without one', async () => {
    let now = 0;
    let loads = 0;
    const lazy = new LazyOuiIndex(() => (loads++, index), 40, () => now);
    assert.equal(lazy.loaded, false, 'nothing loaded before a lookup');
    assert.equal(lazy.lookup('3e:22:fb:10:00:01'), null, 'a randomized MAC needs no index');
    assert.equal(loads, 0);
    assert.equal(lazy.lookup('3c:22:fb:10:00:01')?.vendor, 'Apple, Inc.');
    assert.equal(lazy.lookup('70:b3:d5:01:60:09')?.block, 'MA-S');
    assert.equal(loads, 1);
    // a lookup 30 ms later keeps it 40 ms from then
    now = 30;
    lazy.lookup('3c:22:fb:10:00:02');
    now = 45;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(lazy.loaded, true, 'looked up 15 ms ago');
    now = 80;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(lazy.loaded, false, 'let go');
    assert.equal(lazy.lookup('3c:22:fb:10:00:01')?.vendor, 'Apple, Inc.');
    assert.equal(loads, 2, 'loaded again');
    lazy.release();
    assert.equal(lazy.loaded, false);
  });

  it('without the binary index, a node uses the index built from the registry and keeps it (never built again after an idle minute)', () => {
    const aside = `${BINARY_INDEX_FILE}.aside-${process.pid}`;
    renameSync(BINARY_INDEX_FILE, aside);
    try {
      const lazy = new LazyOuiIndex();
      const indexOf = () => (lazy as unknown as { index: OuiIndex | null }).index;
      assert.equal(lazy.lookup('3c:22:fb:10:00:01')?.vendor, 'Apple, Inc.');
      const first = indexOf();
      assert.equal(first, defaultOuiIndex(), 'the shared, kept index');
      lazy.release();
      lazy.lookup('3c:22:fb:10:00:01');
      assert.equal(indexOf(), first, 'the same object: not built again');
      lazy.release();
    } finally {
      renameSync(aside, BINARY_INDEX_FILE);
    }
    // with the file, each load reads it afresh (cheap), not the shared index
    const lazy = new LazyOuiIndex();
    lazy.lookup('3c:22:fb:10:00:01');
    const loaded = (lazy as unknown as { index: OuiIndex | null }).index;
    lazy.release();
    lazy.lookup('3c:22:fb:10:00:01');
    assert.notEqual((lazy as unknown as { index: OuiIndex | null }).index, loaded, 'loaded again from the file');
    lazy.release();
  });
});
