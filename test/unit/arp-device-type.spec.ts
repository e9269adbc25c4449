import assert from 'node:assert/strict';
import { DeviceTypeTable, UNKNOWN_DEVICE, validateDeviceTypeRules } from '../../nodes/core/discover/device-type';
import { InputError } from '../../nodes/core/contract/errors';

describe('arp-discover: device type and icon', () => {
  const table = new DeviceTypeTable();

  it('guesses from the hostname first, then from the vendor', () => {
    assert.deepEqual(table.classify('iPhone-Anna', 'Apple, Inc.'), { deviceType: 'phone', icon: 'fa-mobile' });
    assert.deepEqual(table.classify('MacBook-Pro', 'Apple, Inc.'), { deviceType: 'laptop', icon: 'fa-laptop' });
    assert.deepEqual(table.classify(null, 'Apple, Inc.'), { deviceType: 'apple device', icon: 'fa-apple' });
    assert.deepEqual(table.classify('raspberrypi', 'Raspberry Pi Trading Ltd'), { deviceType: 'single-board computer', icon: 'fa-microchip' });
    assert.deepEqual(table.classify(null, 'Espressif Inc.'), { deviceType: 'iot', icon: 'fa-lightbulb-o' });
    assert.deepEqual(table.classify('bravia-tv', 'Sony Corporation'), { deviceType: 'tv', icon: 'fa-television' });
    assert.deepEqual(table.classify(null, null), UNKNOWN_DEVICE);
  });

  it('lets a user rule override a default', () => {
    const rules = validateDeviceTypeRules([{ vendor: 'Espressif', deviceType: 'smart plug', icon: 'fa-plug' }]);
    const mine = new DeviceTypeTable(rules);
    assert.deepEqual(mine.classify('esp-kitchen', 'Espressif Inc.'), { deviceType: 'smart plug', icon: 'fa-plug' });
    assert.deepEqual(mine.classify('iPhone', 'Apple, Inc.'), { deviceType: 'phone', icon: 'fa-mobile' }, 'defaults still apply');
  });

  it('refuses a bad user rule, naming the field', () => {
    const bad: [unknown, RegExp][] = [
      [{}, /^deviceTypes: must be a JSON array/],
      [[{ deviceType: 'x', icon: 'fa-x' }], /needs a "hostname" or a "vendor"/],
      [[{ hostname: '(', deviceType: 'x', icon: 'fa-x' }], /deviceTypes\[0\]\.hostname/],
      [[{ vendor: 'a', deviceType: '', icon: 'fa-x' }], /deviceTypes\[0\]\.deviceType/],
      [[{ vendor: 'a', deviceType: 'x', icon: '<img onerror=alert(1)>' }], /deviceTypes\[0\]\.icon/],
    ];
    for (const [rules, message] of bad) {
      assert.throws(() => validateDeviceTypeRules(rules), (err: Error) => err instanceof InputError && message.test(err.message));
    }
  });
});
