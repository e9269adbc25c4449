import { isIPv4, isIPv6 } from '../contract/ip';
import { normalizeMac } from '../contract/mac';

/** What a DHCP lease says about a MAC. */
export interface Lease {
  mac: string;
  ip: string;
  hostname: string | null;
  /** Unix ms when the lease runs out; null for an infinite lease. */
  expiresAt: number | null;
}

export interface ParsedLeases {
  /** Newest lease per MAC and address family (a v6 lease does not hide a v4 one). */
  byMac: Map<string, Lease[]>;
  malformed: string[];
}

/**
 * The MAC inside a DHCPv6 client DUID, if it carries one: DUID-LLT (type 1) and DUID-LL (type 3)
 * with hardware type 1 (Ethernet). DUID-EN and DUID-UUID carry none.
 */
export function macOfDuid(duid: string): string | null {
  const bytes = duid.split(':');
  if (!bytes.every((b) => /^[0-9a-fA-F]{2}$/.test(b))) return null;
  const type = bytes.slice(0, 2).join('');
  const hwType = bytes.slice(2, 4).join('');
  if (hwType !== '0001') return null;
  const macBytes = type === '0001' && bytes.length === 14 ? bytes.slice(8) : type === '0003' && bytes.length === 10 ? bytes.slice(4) : null;
  return macBytes ? normalizeMac(macBytes.join(':')) : null;
}

/**
 * Parses a dnsmasq leases file:
 *   `<expiry> <mac> <ipv4> <hostname|*> <client-id|*>` for DHCPv4,
 *   `duid <server duid>` once, then
 *   `<expiry> <iaid> <ipv6> <hostname|*> <client duid>` for DHCPv6 (MAC taken from the DUID).
 * Never throws; lines it does not understand are skipped and listed in `malformed`.
 */
export function parseDnsmasqLeases(text: string): ParsedLeases {
  const byMac = new Map<string, Lease[]>();
  const malformed: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('duid ')) continue;
    const f = line.split(/\s+/);
    const expiry = Number(f[0]);
    if (f.length < 4 || !/^[0-9]+$/.test(f[0]) || !Number.isSafeInteger(expiry)) {
      malformed.push(`line ${i + 1}: not "<expiry> <mac|iaid> <address> <hostname> ..."`);
      continue;
    }
    let mac: string | null;
    if (isIPv4(f[2])) mac = normalizeMac(f[1]);
    else if (isIPv6(f[2])) mac = f.length >= 5 ? macOfDuid(f[4]) : null;
    else {
      malformed.push(`line ${i + 1}: "${f[2].slice(0, 45)}" is not an IP address`);
      continue;
    }
    if (!mac) {
      if (isIPv4(f[2])) malformed.push(`line ${i + 1}: "${f[1].slice(0, 30)}" is not a MAC address`);
      continue; // a DHCPv6 lease whose DUID carries no MAC is valid, just not attributable
    }
    const lease: Lease = {
      mac,
      ip: f[2],
      hostname: f[3] === '*' ? null : f[3],
      expiresAt: expiry === 0 ? null : expiry * 1000,
    };
    const list = byMac.get(mac) ?? [];
    const sameFamily = list.findIndex((l) => isIPv4(l.ip) === isIPv4(lease.ip));
    if (sameFamily === -1) list.push(lease);
    else if ((list[sameFamily].expiresAt ?? Infinity) <= (lease.expiresAt ?? Infinity)) list[sameFamily] = lease;
    byMac.set(mac, list);
  }
  return { byMac, malformed };
}

/** The hostname the leases give a MAC: an unexpired lease's, the IPv4 one first. */
export function hostnameFromLeases(leases: ParsedLeases, mac: string, now: number): string | null {
  const list = leases.byMac.get(mac);
  if (!list) return null;
  // runs for every client every tick: a loop, no filtered and sorted copy of the list
  let v6: string | null = null;
  for (const l of list) {
    if (!l.hostname || (l.expiresAt !== null && l.expiresAt <= now)) continue;
    if (isIPv4(l.ip)) return l.hostname;
    v6 ??= l.hostname;
  }
  return v6;
}
