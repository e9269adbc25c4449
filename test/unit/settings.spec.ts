import assert from 'node:assert/strict';
import { ifaceNameProblem } from '../../nodes/core/iface';
import { DEFAULT_SETTINGS, validateSettings } from '../../nodes/core/settings';

const valid = { ...DEFAULT_SETTINGS, iface: 'br-lan' } as Record<string, unknown>;

describe('shared settings (equalnet-config)', () => {
  it('accepts the defaults and numbers as the editor stores them (strings)', () => {
    const result = validateSettings({ ...valid, downMbps: '250', upMbps: '25.5', maxPriority: '10', minPercent: '5' });
    assert.ok('settings' in result);
    assert.deepEqual(result.settings, { ...valid, downMbps: 250, upMbps: 25.5, maxPriority: 10, minPercent: 5 });
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
