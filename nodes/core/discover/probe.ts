import { isIPv4, isIPv6 } from '../contract/ip';
import { normalizeMac } from '../contract/mac';

/**
 * Active probing: asking every address of the LAN so that a silent device answers. IPv4 by
 * arp-scan (ARP who-has for the subnet: devices answer ARP even with a firewall that drops
 * ping); IPv6 by one echo request to all-nodes (ff02::1), which every IPv6 host answers.
 * These functions only build argv arrays and read the answers.
 */

/** Subnets larger than this are not swept (a /16 is 65,536 ARPs); only known addresses are asked. */
export const SWEEP_MIN_PREFIX = 22;

export function arpScanArgv(iface: string, targets: 'localnet' | readonly string[]): string[] {
  return [
    'arp-scan',
    `--interface=${iface}`,
    '--plain',
    '--quiet',
    '--retry=2',
    '--timeout=150',
    '--bandwidth=1000000',
    ...(targets === 'localnet' ? ['--localnet'] : ['--', ...targets]),
  ];
}

export function allNodesPingArgv(iface: string): string[] {
  // -c counts one reply per request (duplicates from the other hosts come on top); the 0.2 s gap
  // lets every host's answer to the first request arrive before ping stops at the second
  return ['ping', '-6', '-n', '-c', '2', '-i', '0.2', '-w', '1', '-I', iface, 'ff02::1'];
}

export interface ProbeAnswer {
  ip: string;
  mac: string;
}

/** `arp-scan --plain --quiet` prints `<ip>\t<mac>` per answer; anything else is ignored. */
export function parseArpScan(text: string): ProbeAnswer[] {
  const answers: ProbeAnswer[] = [];
  for (const line of text.split('\n')) {
    const [ip, rawMac] = line.trim().split(/\s+/);
    const mac = rawMac ? normalizeMac(rawMac) : null;
    if (ip && isIPv4(ip) && mac) answers.push({ ip, mac });
  }
  return answers;
}

/** Addresses that answered a ping: `64 bytes from fe80::1%br-lan: icmp_seq=1 ...`. */
export function parsePingReplies(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/bytes from ([0-9a-fA-F:.]+)(?:%[^:\s]+)?:/g)) {
    if (isIPv6(m[1]) || isIPv4(m[1])) found.add(m[1].toLowerCase());
  }
  return [...found];
}

/** IPv4 addresses and prefix lengths of an interface, from `ip -j -4 addr show dev IFACE`. */
export function parseIPv4Prefixes(json: string): { ip: string; prefixlen: number }[] {
  try {
    const data = JSON.parse(json) as unknown;
    if (!Array.isArray(data)) return [];
    const out: { ip: string; prefixlen: number }[] = [];
    for (const link of data) {
      const infos = (link as { addr_info?: unknown }).addr_info;
      if (!Array.isArray(infos)) continue;
      for (const a of infos as Record<string, unknown>[]) {
        if (a && a.family === 'inet' && typeof a.local === 'string' && typeof a.prefixlen === 'number') {
          out.push({ ip: a.local, prefixlen: a.prefixlen });
        }
      }
    }
    return out;
  } catch {
    return [];
  }
}

/** `getent hosts <ip>` prints `<ip> <name> [aliases]`; the name, or null. */
export function parseGetentHosts(text: string): string | null {
  const fields = text.trim().split('\n')[0]?.trim().split(/\s+/) ?? [];
  const name = fields[1];
  return name && /^[A-Za-z0-9_.-]{1,253}$/.test(name) ? name.replace(/\.$/, '') : null;
}
