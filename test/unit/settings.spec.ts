import assert from 'node:assert/strict';
import { ifaceNameProblem } from '../../nodes/core/contract/iface';
import { DEFAULT_SETTINGS, LIMITS, linkProblem, minLinkMbps, toNumber, validateSettings } from '../../nodes/core/contract/settings';

const valid = { ...DEFAULT_SETTINGS, iface: 'br-lan' } as Record<string, unknown>;

describe('shared settings (equalnet-config)', () => {
  it('accepts the defaults and numbers as the editor stores them (strings)', () => {
    const result = validateSettings({ ...valid, downMbps: '250', upMbps: '25.5', maxPriority: '10', minPercent: '5' });
    assert.ok('settings' in result);
    assert.deepEqual(result.settings, { ...valid, downMbps: 250, upMbps: 25.5, maxPriority: 10, minPercent: 5 });
  });

  describe('numbers: a JSON number, or a string of plain decimal (toNumber, the one parser)', () => {
    for (const [text, n] of [['250', 250], ['12.5', 12.5], ['0', 0], ['-3', -3], ['007', 7], ['1024', 1024]] as const) {
      it(`reads ${JSON.stringify(text)} as ${n}`, () => assert.equal(toNumber(text), n));
    }
    it('takes JSON numbers as they are', () => {
      assert.equal(toNumber(8.2), 8.2);
      assert.equal(toNumber(1e-300), 1e-300);
    });
    // what Number() reads loosely: hex, binary, exponents, Infinity, spaces, signs, bare points, nothing
    const loose = ['0x10', '0b11', '0o7', '1e3', '1E3', ' 1e3', 'Infinity', '-Infinity', 'NaN', ' ', '', ' 100', '100 ', '\t5', '5\n', '+5', '1.', '.5', '1,5', '1_000', '١٢', '10 Mbit'];
    for (const text of loose) {
      it(`refuses ${JSON.stringify(text)}`, () => assert.ok(Number.isNaN(toNumber(text)), `read as ${toNumber(text)}`));
    }
    it('refuses what is not a number or a string', () => {
      for (const value of [null, undefined, true, [5], { valueOf: () => 5 }, 5n]) assert.ok(Number.isNaN(toNumber(value)), String(value));
    });
    for (const text of ['0x10', '1e3', ' ', 'Infinity', ' 1e3', '']) {
      it(`the config node refuses downMbps ${JSON.stringify(text)}, naming it`, () => {
        const result = validateSettings({ ...valid, downMbps: text });
        assert.ok('problems' in result, 'accepted');
        assert.match(result.problems.downMbps, /must be a number of Mbit\/s, got .* \(plain decimal, such as 250 or 12\.5\)/);
      });
    }
  });

  describe('link speeds: at least (client cap + 1) × 8 kbit/s (linkProblem)', () => {
    it('is 8.2 Mbit/s at the default cap of 1,024 and 16 kbit/s at a cap of 1', () => {
      assert.equal(minLinkMbps(1024), 8.2);
      assert.equal(minLinkMbps(1), 0.016);
      assert.equal(linkProblem(8.2, 1024), null);
      assert.equal(linkProblem('8.2', 1024), null);
      assert.equal(linkProblem(0.016, 1), null);
      assert.equal(linkProblem(100_000, 4096), null);
    });
    it('refuses a link below it, saying to lower the client cap', () => {
      assert.match(linkProblem(8.19, 1024)!, /^must be at least 8\.2 Mbit\/s for a client cap of 1024 .*got 8\.19; for a slow link, lower the client cap$/);
      assert.match(linkProblem('2', 1024)!, /at least 8\.2 Mbit\/s.*lower the client cap/);
      assert.match(linkProblem(0.5, 100)!, /at least 0\.808 Mbit\/s for a client cap of 100/);
    });
    it('refuses 1e-300, 0, negatives, NaN, loose text and more than 100 Gbit/s whatever the cap', () => {
      assert.match(linkProblem(1e-300, 1)!, /at least 0\.016 Mbit\/s/);
      assert.match(linkProblem(0, 1)!, /greater than 0/);
      assert.match(linkProblem(-5, 1)!, /greater than 0/);
      assert.match(linkProblem(Number.NaN, 1)!, /must be a number of Mbit\/s, got null/);
      assert.match(linkProblem('1e3', 1)!, /must be a number of Mbit\/s, got "1e3"/);
      assert.match(linkProblem(100_001, 1)!, /at most 100000 Mbit\/s/);
    });
    it('the config node checks download and upload against its client cap', () => {
      const slow = validateSettings({ ...valid, downMbps: '5', upMbps: '1' });
      assert.ok('problems' in slow, 'a 5/1 Mbit/s link accepted at the default cap');
      assert.deepEqual(Object.keys(slow.problems).sort(), ['downMbps', 'upMbps']);
      assert.match(slow.problems.upMbps, /at least 8\.2 Mbit\/s for a client cap of 1024.*lower the client cap/);
      // the owner of a slow link lowers the cap, as the message says
      const capped = validateSettings({ ...valid, downMbps: '5', upMbps: '1', clientCap: '100' });
      assert.ok('settings' in capped, JSON.stringify(capped));
      assert.deepEqual([capped.settings.downMbps, capped.settings.upMbps, capped.settings.clientCap], [5, 1, 100]);
      // a flow saved before the cap existed gets the default cap, and its bound
      const old = validateSettings({ ...valid, upMbps: '8', clientCap: undefined });
      assert.ok('problems' in old);
      assert.match(old.problems.upMbps, /client cap of 1024/);
    });
    it('with a bad cap, names the cap and keeps the plain bounds for the links', () => {
      const result = validateSettings({ ...valid, downMbps: '5', clientCap: '0x10' });
      assert.ok('problems' in result);
      assert.deepEqual(Object.keys(result.problems), ['clientCap']);
    });
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['iface', 'eth0; rm -rf /', /not a valid interface name/],
    ['iface', '../x', /not a valid interface name/],
    ['iface', 'a'.repeat(20), /longer than 15 characters/],
    ['iface', '-eth0', /not a valid interface name/],
    ['downMbps', 0, /greater than 0/],
    ['downMbps', -5, /greater than 0/],
    ['downMbps', 'fast', /must be a number of Mbit\/s, got "fast"/],
    ['downMbps', '', /must be a number/],
    ['downMbps', 1e-300, /at least/],
    ['downMbps', Number.NaN, /must be a number/],
    ['upMbps', '0x10', /must be a number of Mbit\/s, got "0x10"/],
    ['upMbps', 1e9, /at most 100000 Mbit\/s/],
    ['maxPriority', 1, /from 2 to 20/],
    ['maxPriority', 21, /from 2 to 20/],
    ['maxPriority', 4.5, /whole number/],
    ['minPercent', 101, /from 0 to 100/],
    ['minPercent', -1, /from 0 to 100/],
    ['mode', 'on', /"dry-run" or "enforce"/],
    ['dbFile', '', /file path/],
  ];
  for (const [field, value, message] of bad) {
    it(`refuses ${field} = ${JSON.stringify(value).slice(0, 30)}, naming the field`, () => {
      const result = validateSettings({ ...valid, [field]: value });
      assert.ok('problems' in result, 'accepted');
      assert.deepEqual(Object.keys(result.problems), [field]);
      assert.match(result.problems[field], message);
    });
  }

  it('reports every bad field at once', () => {
    const result = validateSettings({ ...valid, downMbps: -1, upMbps: 'x', mode: 'yes' });
    assert.ok('problems' in result);
    assert.deepEqual(Object.keys(result.problems).sort(), ['downMbps', 'mode', 'upMbps']);
  });

  it('lets interface names through that Linux uses', () => {
    for (const name of ['eth0', 'br-lan', 'wlan0', 'enp3s0f1', 'eth0.100', 'veth_ab-12', 'a'.repeat(15)]) assert.equal(ifaceNameProblem(name), null, name);
  });
});

describe("the editor's limits are the runtime's", () => {
  it('equalnet-config.html mirrors LIMITS (and the allocator editor reads them from there)', () => {
    const { readFileSync } = require('node:fs') as typeof import('node:fs');
    const { join } = require('node:path') as typeof import('node:path');
    const html = readFileSync(join(__dirname, '../../nodes/equalnet-config.html'), 'utf8');
    const mirrored = JSON.parse(/var SETTINGS_LIMITS = (\{.*\});/.exec(html)![1]);
    assert.deepEqual(mirrored, JSON.parse(JSON.stringify(LIMITS)));
    const allocator = readFileSync(join(__dirname, '../../nodes/priority-allocator.html'), 'utf8');
    assert.doesNotMatch(allocator, /n <= 20\b/, 'no priority limit of its own');
    assert.match(allocator, /EQUALNET_LIMITS\.maxMaxPriority/);
  });
});
