/**
 * The device registry as usage-store sends it on its third output (topic "registry"), read by
 * arp-discover and priority-allocator at start so that names and priorities set in the
 * dashboard or the API survive restarts. One entry per device; `macs` holds every MAC merged
 * into it (a phone that changes its private MAC keeps its settings).
 */
import { InputError } from './errors';
import { parseLimits, type DeviceLimits } from './limits';
import { normalizeMac } from './mac';

export interface RegistryDevice {
  macs: string[];
  name: string | null;
  priority: number | null;
  /** Its maximum rates, quotas and quota action (limits.ts); none set when absent. */
  limits: DeviceLimits;
  /** A used-up quota throttles it now (until the period resets). */
  throttled: boolean;
}

export function parseRegistry(payload: unknown): RegistryDevice[] {
  const devices = (payload as { devices?: unknown } | null)?.devices;
  if (!Array.isArray(devices)) throw new InputError('payload.devices', 'a registry message needs { devices: [ { mac, macs, name, priority, limits, quota } ] }');
  return devices.map((d, i) => {
    const path = `payload.devices[${i}]`;
    if (!d || typeof d !== 'object') throw new InputError(path, 'must be an object');
    const entry = d as { mac?: unknown; macs?: unknown; name?: unknown; priority?: unknown; limits?: unknown; quota?: unknown };
    const raw = Array.isArray(entry.macs) && entry.macs.length > 0 ? entry.macs : [entry.mac];
    const macs = raw.map((m, k) => {
      const mac = normalizeMac(m);
      if (!mac) throw new InputError(`${path}.macs[${k}]`, `${JSON.stringify(m)} is not a MAC address`);
      return mac;
    });
    const name = typeof entry.name === 'string' && entry.name !== '' ? entry.name : null;
    const priority = typeof entry.priority === 'number' && Number.isInteger(entry.priority) ? entry.priority : null;
    const limits = parseLimits(entry.limits, `${path}.limits`);
    const throttled = (entry.quota as { throttled?: unknown } | null | undefined)?.throttled === true;
    return { macs, name, priority, limits, throttled };
  });
}
