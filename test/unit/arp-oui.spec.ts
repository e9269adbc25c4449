import assert from 'node:assert/strict';
import { defaultOuiIndex, organisationName, OuiIndex } from '../../nodes/core/discover/oui';

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
});
