import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hostnameFromLeases, macOfDuid, parseDnsmasqLeases } from '../../nodes/core/discover/leases';
import { fixture } from './arp-helpers';

describe('arp-discover: hostnames from the dnsmasq leases file', () => {
  const now = Date.UTC(2026, 10, 25, 12, 0, 0);

  it('reads the hostname of every DHCP client of a real leases file (recorded in the lab)', () => {
    const leases = parseDnsmasqLeases(fixture('dnsmasq.leases'));
    assert.deepEqual(leases.malformed, []);
    assert.equal(leases.byMac.size, 9);
    assert.equal(hostnameFromLeases(leases, '3c:22:fb:10:00:01', now), 'iPhone-Anna');
    assert.equal(hostnameFromLeases(leases, 'da:a1:19:10:00:0a', now), 'Pixel-7');
  });

  it('reads DHCPv6 leases, taking the MAC from a DUID-LL or DUID-LLT', () => {
    const text = [
      'duid 00:01:00:01:2c:aa:bb:cc:02:00:00:77:00:01',
      `${now / 1000 + 3600} 1234 fd00:77::108 bravia-tv 00:03:00:01:10:4f:a8:10:00:08`,
      `${now / 1000 + 3600} 99 fd00:77::109 * 00:01:00:01:2c:aa:bb:cc:70:b3:d5:01:60:09`,
      `${now / 1000 + 3600} 98 fd00:77::110 nomac 00:02:00:00:ab:11:22:33`,
    ].join('\n');
    const leases = parseDnsmasqLeases(text);
    assert.deepEqual(leases.malformed, []);
    assert.equal(hostnameFromLeases(leases, '10:4f:a8:10:00:08', now), 'bravia-tv');
    assert.equal(hostnameFromLeases(leases, '70:b3:d5:01:60:09', now), null, '"*" means no hostname');
    assert.equal(macOfDuid('00:02:00:00:ab:11:22:33'), null);
  });

  it('ignores expired leases; an expiry of 0 never expires', () => {
    const leases = parseDnsmasqLeases(`${now / 1000 - 1} 3c:22:fb:00:00:01 10.0.0.5 old-name *\n0 3c:22:fb:00:00:02 10.0.0.6 static *\n`);
    assert.equal(hostnameFromLeases(leases, '3c:22:fb:00:00:01', now), null);
    assert.equal(hostnameFromLeases(leases, '3c:22:fb:00:00:02', now), 'static');
  });

  it('skips malformed lines, says which, and keeps the good ones', () => {
    const leases = parseDnsmasqLeases(['garbage', `${now / 1000 + 60} zz:zz 10.0.0.1 x *`, `${now / 1000 + 60} 3c:22:fb:00:00:01 10.0.0.300 x *`, `${now / 1000 + 60} 3c:22:fb:00:00:02 10.0.0.2 good *`].join('\n'));
    assert.equal(leases.malformed.length, 3);
    assert.match(leases.malformed[0], /line 1/);
    assert.equal(hostnameFromLeases(leases, '3c:22:fb:00:00:02', now), 'good');
  });

  it('never throws on any file content', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (text) => void parseDnsmasqLeases(text)), { numRuns: 2000 });
  });
});
