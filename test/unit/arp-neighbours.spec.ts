import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isIPv4, isIPv6, isLinkLocalIPv6 } from '../../nodes/core/contract/ip';
import { macOfMonitorLine, parseNeighbours } from '../../nodes/core/discover/neighbours';
import { fixture, neighJson } from './arp-helpers';

describe('arp-discover: reading the neighbour table', () => {
  it('reads every IPv4 and IPv6 entry of a real table (recorded in the lab)', () => {
    const { neighbours, malformed } = parseNeighbours(fixture('neigh.json'));
    assert.deepEqual(malformed, []);
    assert.equal(neighbours.filter((n) => n.family === 4).length, 9);
    assert.equal(neighbours.filter((n) => n.family === 6).length, 20);
    const pi = neighbours.filter((n) => n.mac === 'dc:a6:32:10:00:03').map((n) => n.ip).sort();
    assert.equal(pi.length, 3);
    assert.ok(pi.some(isIPv4) && pi.some((ip) => isIPv6(ip) && !isLinkLocalIPv6(ip)) && pi.some(isLinkLocalIPv6));
  });

  it('does not count FAILED, INCOMPLETE, NOARP or multicast entries as devices', () => {
    const { neighbours, malformed } = parseNeighbours(
      neighJson([
        { ip: '10.0.0.2', mac: '3c:22:fb:00:00:02', state: 'FAILED' },
        { ip: '10.0.0.3', state: 'INCOMPLETE' },
        { ip: 'ff02::16', mac: '33:33:00:00:00:16', state: 'NOARP' },
        { ip: '224.0.0.22', mac: '01:00:5e:00:00:16', state: 'PERMANENT' },
        { ip: '10.0.0.4', mac: '3c:22:fb:00:00:04', state: 'STALE', confirmed: 40 },
      ]),
    );
    assert.deepEqual(malformed, []);
    assert.deepEqual(neighbours, [{ ip: '10.0.0.4', family: 4, mac: '3c:22:fb:00:00:04', state: 'STALE', confirmedS: 40 }]);
  });

  it('skips a malformed entry, says why, and keeps the others', () => {
    const json = JSON.stringify([
      { dst: '10.0.0.9; rm -rf /', lladdr: '3c:22:fb:00:00:09', state: ['REACHABLE'] },
      { dst: '10.0.0.5', lladdr: 'not-a-mac', state: ['REACHABLE'] },
      'a string',
      null,
      { dst: '10.0.0.6', lladdr: '3C-22-FB-00-00-06', state: ['REACHABLE'] },
    ]);
    const { neighbours, malformed } = parseNeighbours(json);
    assert.equal(malformed.length, 4);
    assert.match(malformed[0], /not an IP address/);
    assert.deepEqual(neighbours.map((n) => n.mac), ['3c:22:fb:00:00:06']);
  });

  it('never throws, whatever the table contains', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify([v]))), (text) => {
        const result = parseNeighbours(text);
        assert.ok(Array.isArray(result.neighbours) && Array.isArray(result.malformed));
      }),
      { numRuns: 2000 },
    );
    assert.equal(parseNeighbours('{"dst":').malformed.length, 1);
    assert.equal(parseNeighbours('').neighbours.length, 0);
  });

  it('reads the MAC of an `ip monitor neigh` line, and nothing from a line it does not know', () => {
    assert.equal(macOfMonitorLine('10.77.0.5 dev br-lan lladdr 3c:22:fb:10:00:01 REACHABLE'), '3c:22:fb:10:00:01');
    assert.equal(macOfMonitorLine('Deleted lladdr fe:b4:e7:c7:45:5a PERMANENT'), 'fe:b4:e7:c7:45:5a');
    assert.equal(macOfMonitorLine('garbage \u0000 lladdr'), null);
  });

  it('validates IP addresses strictly', () => {
    for (const ok of ['10.0.0.1', '0.0.0.0', '255.255.255.255']) assert.ok(isIPv4(ok), ok);
    for (const bad of ['10.0.0', '10.0.0.256', '01.2.3.4', '1.2.3.4 ', '1.2.3.4;']) assert.ok(!isIPv4(bad), bad);
    for (const ok of ['::1', 'fd00:77::1', 'fe80::3e22:fbff:fe10:1', '2001:db8::', '::ffff:10.0.0.1', '1:2:3:4:5:6:7:8']) assert.ok(isIPv6(ok), ok);
    for (const bad of ['1:2:3:4:5:6:7:8:9', 'fd00::77::1', 'fe80::1%eth0', 'g::1', ':', '1:2:3:4:5:6:7']) assert.ok(!isIPv6(bad), bad);
  });
});
