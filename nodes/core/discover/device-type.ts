import { InputError } from '../contract/errors';

/**
 * Guessing what a device is from what the network tells us: its hostname (which the owner or the
 * OS chose: "iPhone-Anna", "raspberrypi", "Galaxy-S23") says more than its vendor (Apple makes
 * phones and laptops), so hostname rules come first in the default table.
 *
 * A rule matches when every pattern it has matches (case-insensitive regular expressions); the
 * first matching rule wins. Users put their own rules in front of the defaults (node setting
 * "device types"), so they can override any default without copying the table.
 */
export interface DeviceTypeRule {
  hostname?: string;
  vendor?: string;
  deviceType: string;
  /** A Font Awesome 4.7 icon name (what the Node-RED editor and dashboard ship), e.g. "fa-mobile". */
  icon: string;
}

export interface DeviceType {
  deviceType: string;
  icon: string;
}

export const UNKNOWN_DEVICE: Readonly<DeviceType> = Object.freeze({ deviceType: 'unknown', icon: 'fa-question-circle' });

export const DEFAULT_DEVICE_TYPES: readonly DeviceTypeRule[] = Object.freeze([
  { hostname: 'iphone|android|galaxy|pixel|phone|redmi|oneplus|huawei-p|moto', deviceType: 'phone', icon: 'fa-mobile' },
  { hostname: 'ipad|tablet|tab-|kindle', deviceType: 'tablet', icon: 'fa-tablet' },
  { hostname: 'macbook|laptop|notebook|thinkpad|xps', deviceType: 'laptop', icon: 'fa-laptop' },
  { hostname: 'imac|desktop|workstation|-pc\\b|^pc-', deviceType: 'computer', icon: 'fa-desktop' },
  { hostname: 'tv|bravia|roku|chromecast|fire-?stick|appletv|apple-tv|shield', deviceType: 'tv', icon: 'fa-television' },
  { hostname: 'playstation|ps[345]|xbox|switch|nintendo', deviceType: 'console', icon: 'fa-gamepad' },
  { hostname: 'echo|alexa|homepod|sonos|google-home|nest-(mini|audio)', deviceType: 'speaker', icon: 'fa-volume-up' },
  { hostname: 'printer|^hp[a-f0-9]{6}|epson|brother|canon', deviceType: 'printer', icon: 'fa-print' },
  { hostname: 'raspberry|^rpi|^pi-|pihole|octopi', deviceType: 'single-board computer', icon: 'fa-microchip' },
  { hostname: '^esp|tasmota|shelly|sonoff|wled|plug|bulb', deviceType: 'iot', icon: 'fa-lightbulb-o' },
  { hostname: 'camera|cam-|doorbell|ring-', deviceType: 'camera', icon: 'fa-video-camera' },
  { hostname: 'nas|synology|diskstation|qnap', deviceType: 'nas', icon: 'fa-hdd-o' },
  { vendor: 'Raspberry Pi', deviceType: 'single-board computer', icon: 'fa-microchip' },
  { vendor: 'Espressif|Tuya|Shelly|Itead|Sonoff', deviceType: 'iot', icon: 'fa-lightbulb-o' },
  { vendor: 'Amazon', deviceType: 'speaker', icon: 'fa-volume-up' },
  { vendor: 'Sony Interactive|Nintendo|Microsoft.*Xbox', deviceType: 'console', icon: 'fa-gamepad' },
  { vendor: 'Sony|Roku|LG Electronics|TCL|Vizio|Hisense', deviceType: 'tv', icon: 'fa-television' },
  { vendor: 'Samsung|Xiaomi|OnePlus|Huawei|OPPO|vivo|Motorola|Google', deviceType: 'phone', icon: 'fa-mobile' },
  { vendor: 'Apple', deviceType: 'apple device', icon: 'fa-apple' },
  { vendor: 'Intel|Realtek|Dell|Lenovo|Hewlett|ASUSTek|Micro-Star|Gigabyte', deviceType: 'computer', icon: 'fa-desktop' },
  { vendor: 'TP-LINK|TP-Link|Netgear|Ubiquiti|AVM|Mikrotik|Zyxel|D-Link|Cisco|ARRIS|Linksys', deviceType: 'network', icon: 'fa-wifi' },
  { vendor: 'Synology|QNAP', deviceType: 'nas', icon: 'fa-hdd-o' },
  { vendor: 'Hewlett Packard|Seiko Epson|Brother|Canon', deviceType: 'printer', icon: 'fa-print' },
]) as readonly DeviceTypeRule[];

interface CompiledRule {
  hostname: RegExp | null;
  vendor: RegExp | null;
  result: DeviceType;
}

const FIELD_LIMIT = 200;

function compilePattern(value: unknown, path: string): RegExp | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > FIELD_LIMIT) throw new InputError(path, `must be a regular expression of at most ${FIELD_LIMIT} characters`);
  try {
    return new RegExp(value, 'i');
  } catch (err) {
    throw new InputError(path, `is not a valid regular expression: ${(err as Error).message}`);
  }
}

/** Checks user rules (from the editor or a message); throws InputError naming the bad field. */
export function validateDeviceTypeRules(raw: unknown, path = 'deviceTypes'): DeviceTypeRule[] {
  if (!Array.isArray(raw)) throw new InputError(path, 'must be a JSON array of { hostname?, vendor?, deviceType, icon }');
  return raw.map((r, i) => {
    const p = `${path}[${i}]`;
    if (!r || typeof r !== 'object') throw new InputError(p, 'must be an object { hostname?, vendor?, deviceType, icon }');
    const rule = r as Record<string, unknown>;
    compilePattern(rule.hostname, `${p}.hostname`);
    compilePattern(rule.vendor, `${p}.vendor`);
    if (!rule.hostname && !rule.vendor) throw new InputError(p, 'needs a "hostname" or a "vendor" pattern');
    if (typeof rule.deviceType !== 'string' || rule.deviceType.trim() === '' || rule.deviceType.length > 50) {
      throw new InputError(`${p}.deviceType`, 'must be a name of 1 to 50 characters');
    }
    if (typeof rule.icon !== 'string' || !/^fa-[a-z0-9-]{1,40}$/.test(rule.icon)) {
      throw new InputError(`${p}.icon`, 'must be a Font Awesome 4 icon name such as "fa-mobile"');
    }
    return {
      ...(rule.hostname ? { hostname: rule.hostname as string } : {}),
      ...(rule.vendor ? { vendor: rule.vendor as string } : {}),
      deviceType: rule.deviceType.trim(),
      icon: rule.icon,
    };
  });
}

export class DeviceTypeTable {
  private readonly rules: CompiledRule[];

  /** `userRules` go in front of the defaults; they must have passed validateDeviceTypeRules. */
  constructor(userRules: readonly DeviceTypeRule[] = [], defaults: readonly DeviceTypeRule[] = DEFAULT_DEVICE_TYPES) {
    this.rules = [...userRules, ...defaults].map((r, i) => ({
      hostname: compilePattern(r.hostname, `rule ${i}.hostname`),
      vendor: compilePattern(r.vendor, `rule ${i}.vendor`),
      result: { deviceType: r.deviceType, icon: r.icon },
    }));
  }

  classify(hostname: string | null | undefined, vendor: string | null | undefined): DeviceType {
    for (const rule of this.rules) {
      if (rule.hostname && !(hostname && rule.hostname.test(hostname))) continue;
      if (rule.vendor && !(vendor && rule.vendor.test(vendor))) continue;
      return rule.result;
    }
    return UNKNOWN_DEVICE;
  }
}
