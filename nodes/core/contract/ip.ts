// IP address checks shared by every node that hands an address to a command (ip, tc, getent).

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** IPv4 dotted quad, strict (no leading zeros beyond "0", each part ≤ 255). */
export function isIPv4(value: string): boolean {
  return IPV4.test(value);
}

/** IPv6 in any of its textual forms (no zone index). Cheap structural check, not a full RFC parser. */
export function isIPv6(value: string): boolean {
  if (value.length < 2 || value.length > 45 || !/^[0-9a-fA-F:.]+$/.test(value)) return false;
  const doubleColons = value.split('::').length - 1;
  if (doubleColons > 1) return false;
  let groups = value.split(':');
  const last = groups[groups.length - 1];
  let width = 0;
  if (last.includes('.')) {
    if (!isIPv4(last)) return false;
    groups = groups.slice(0, -1);
    width = 2;
  }
  const filled = groups.filter((g) => g !== '');
  if (!filled.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  width += filled.length;
  return doubleColons === 1 ? width < 8 : width === 8 && !value.startsWith(':') && !value.endsWith(':');
}

/** Link-local IPv6 (fe80::/10): never routed, so never shaped; kept out of a client's ip6 list. */
export function isLinkLocalIPv6(ip: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(ip);
}
