/**
 * The few netlink messages iface-counter exchanges with the kernel directly, encoded and decoded
 * here without any I/O (nodes/lib/netlink-reader.ts owns the sockets):
 *
 * - nf_tables GETSETELEM, dumped: every element of one of our accounting sets with its counter.
 *   This is what `nft -j list table` asks the kernel too; reading it ourselves skips starting nft
 *   and its formatting, which cost ~6.5 µs per element (31 ms for 1,000 dual-stack clients).
 * - rtnetlink GETLINK for one interface by name: ifindex, operstate and the 64-bit statistics,
 *   what `ip -j -s link show dev IF` prints.
 * - rtnetlink GETNEIGH, dumped for one interface: arp-discover's neighbour table, turned into the
 *   entries `ip -j -s neigh show dev IF` prints (dst, lladdr, state, confirmed), so one parser
 *   (discover/neighbours.ts) judges both. Starting `ip` every tick costs a fork of Node-RED.
 *
 * Layouts are those of the kernel's uapi headers (linux/netlink.h, linux/netfilter/nfnetlink.h,
 * linux/netfilter/nf_tables.h, linux/rtnetlink.h, linux/if_link.h). Netlink headers are in host
 * byte order; nf_tables payloads (keys, counters) are big-endian.
 */
import { endianness } from 'node:os';
import type { ElementCounter } from './nft-accounting';
import type { IfaceCounters } from './iface-stats';

export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
const NLM_F_DUMP = 0x300;
/** The dump was interrupted by a change of the ruleset: its content may be inconsistent. */
export const NLM_F_DUMP_INTR = 0x10;

const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_GETSETELEM = 13;
export const NFPROTO_INET = 1;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_EXPR = 7;
const NFTA_SET_ELEM_EXPRESSIONS = 11;
const NFTA_DATA_VALUE = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_COUNTER_BYTES = 1;
const NFTA_COUNTER_PACKETS = 2;

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;
/** struct ndmsg: family, pad, pad, ifindex (s32), state (u16), flags, type. */
const NDMSG_LEN = 12;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NDA_CACHEINFO = 3;
const NDA_IFINDEX = 8;
/** NUD_* bits in the order `ip` prints their names (ip/ipneigh.c). */
const NUD_NAMES: [number, string][] = [
  [0x01, 'INCOMPLETE'],
  [0x02, 'REACHABLE'],
  [0x04, 'STALE'],
  [0x08, 'DELAY'],
  [0x10, 'PROBE'],
  [0x20, 'FAILED'],
  [0x40, 'NOARP'],
  [0x80, 'PERMANENT'],
];
const NUD_NOARP = 0x40;
/**
 * The kernel reports neighbour ages in clock_t (USER_HZ, 100 on every architecture Node runs on
 * here); `ip` divides by sysconf(_SC_CLK_TCK), which is the same 100.
 */
const USER_HZ = 100;
const IFLA_IFNAME = 3;
const IFLA_OPERSTATE = 16;
const IFLA_STATS64 = 23;
const IFINFOMSG_LEN = 16;
/** RFC 2863 operstates as the kernel numbers them (IF_OPER_*), spelled as `ip` spells them. */
const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

/** Attribute types carry NLA_F_NESTED / NLA_F_NET_BYTEORDER in their top bits. */
const NLA_TYPE_MASK = 0x3fff;

const LE = endianness() === 'LE';
const u16: (b: Buffer, at: number) => number = LE ? (b, at) => b.readUInt16LE(at) : (b, at) => b.readUInt16BE(at);
const u32: (b: Buffer, at: number) => number = LE ? (b, at) => b.readUInt32LE(at) : (b, at) => b.readUInt32BE(at);
const s32: (b: Buffer, at: number) => number = LE ? (b, at) => b.readInt32LE(at) : (b, at) => b.readInt32BE(at);
const u64 = (b: Buffer, at: number) => Number(LE ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at));
const align4 = (n: number) => (n + 3) & ~3;

function putU16(b: Buffer, at: number, v: number) {
  if (LE) b.writeUInt16LE(v, at);
  else b.writeUInt16BE(v, at);
}
function putU32(b: Buffer, at: number, v: number) {
  if (LE) b.writeUInt32LE(v, at);
  else b.writeUInt32BE(v, at);
}

/** A NUL-terminated string attribute, padded to 4 bytes. */
function stringAttr(type: number, value: string): Buffer {
  const text = Buffer.from(value + '\0', 'utf8');
  const b = Buffer.alloc(align4(4 + text.length));
  putU16(b, 0, 4 + text.length);
  putU16(b, 2, type);
  text.copy(b, 4);
  return b;
}

function message(type: number, flags: number, seq: number, body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  const b = Buffer.alloc(NLMSG_HDRLEN);
  putU32(b, 0, NLMSG_HDRLEN + payload.length);
  putU16(b, 4, type);
  putU16(b, 6, flags);
  putU32(b, 8, seq);
  putU32(b, 12, 0); // port id: the kernel fills in ours
  return Buffer.concat([b, payload]);
}

/** struct nfgenmsg: family, version NFNETLINK_V0, resource id 0 (big-endian). */
const nfgenmsg = (family: number) => Buffer.from([family, 0, 0, 0]);

/** Dump request for every element (with its counter) of set `set` in table `family table`. */
export function getSetElementsRequest(seq: number, table: string, set: string, family = NFPROTO_INET): Buffer {
  return message((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM, NLM_F_REQUEST | NLM_F_DUMP, seq, [
    nfgenmsg(family),
    stringAttr(NFTA_SET_ELEM_LIST_TABLE, table),
    stringAttr(NFTA_SET_ELEM_LIST_SET, set),
  ]);
}

/** Request for one link, by name (ifindex 0 in the ifinfomsg: the kernel looks the name up). */
export function getLinkRequest(seq: number, iface: string): Buffer {
  return message(RTM_GETLINK, NLM_F_REQUEST, seq, [Buffer.alloc(IFINFOMSG_LEN), stringAttr(IFLA_IFNAME, iface)]);
}

/** Dump request for the neighbour entries (IPv4 and IPv6) of interface `ifindex`. */
export function getNeighboursRequest(seq: number, ifindex: number): Buffer {
  const nd = Buffer.alloc(NDMSG_LEN); // family AF_UNSPEC: both
  const filter = Buffer.alloc(8);
  putU16(filter, 0, 8);
  putU16(filter, 2, NDA_IFINDEX); // the kernel dumps this interface only (and we check again)
  putU32(filter, 4, ifindex);
  return message(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq, [nd, filter]);
}

/** One entry as `ip -j -s neigh` prints it (the fields discover/neighbours.ts reads). */
export interface NeighbourEntry {
  dst: string;
  lladdr?: string;
  state: string[];
  confirmed?: number;
}

/** An IP address as `ip` prints it: IPv4 dotted, IPv6 in its shortest form (RFC 5952). */
function ipText(b: Buffer, start: number, end: number): string | null {
  if (end - start === 4) return `${b[start]}.${b[start + 1]}.${b[start + 2]}.${b[start + 3]}`;
  if (end - start !== 16) return null;
  const groups: number[] = [];
  for (let i = start; i < end; i += 2) groups.push(b.readUInt16BE(i));
  // the longest run of two or more zero groups becomes "::" (the first of equal runs)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (g: number[]) => g.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  // as inet_ntop: an IPv4-compatible or IPv4-mapped address ends in dotted form
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
    return `::${bestLen === 5 ? 'ffff:' : ''}${b[end - 4]}.${b[end - 3]}.${b[end - 2]}.${b[end - 1]}`;
  }
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A link-layer address as `ip` prints it: bytes in lower-case hex joined by ':' (no regex, no slices: one string per address). */
function macText(b: Buffer, start: number, end: number): string {
  if (end - start === 6) return `${HEX_BYTE[b[start]]}:${HEX_BYTE[b[start + 1]]}:${HEX_BYTE[b[start + 2]]}:${HEX_BYTE[b[start + 3]]}:${HEX_BYTE[b[start + 4]]}:${HEX_BYTE[b[start + 5]]}`;
  const parts: string[] = [];
  for (let i = start; i < end; i++) parts.push(HEX_BYTE[b[i]]);
  return parts.join(':');
}

/** A text made from up to 16 bytes, kept by those bytes (as four 32-bit words). */
interface KeptText {
  length: number;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  text: string;
  next: KeptText | null;
}

/**
 * Texts made from short byte strings (addresses, MACs), each made once: a neighbour dump brings
 * the same few hundred addresses and MACs every tick, and `ip`'s spelling of an IPv6 address takes
 * a dozen temporary strings and arrays to make. Found by the bytes, no string made to look one up.
 * Bounded: emptied when it holds `max` texts (a LAN's neighbours are far fewer).
 */
class TextsByBytes {
  private readonly byHash = new Map<number, KeptText>();
  private size = 0;

  constructor(
    private readonly make: (b: Buffer, start: number, end: number) => string | null,
    private readonly max = 16_384,
  ) {}

  /** The text of b[start, end) (16 bytes at most), null where `make` gives none. */
  textOf(b: Buffer, start: number, end: number): string | null {
    const length = end - start;
    if (length > 16) return this.make(b, start, end);
    const w0 = wordAt(b, start, end);
    const w1 = wordAt(b, start + 4, end);
    const w2 = wordAt(b, start + 8, end);
    const w3 = wordAt(b, start + 12, end);
    const hash = (w3 ^ Math.imul(w2, 31) ^ Math.imul(w1, 961) ^ Math.imul(w0, 29791) ^ length) | 0;
    for (let e = this.byHash.get(hash) ?? null; e !== null; e = e.next) {
      if (e.length === length && e.w0 === w0 && e.w1 === w1 && e.w2 === w2 && e.w3 === w3) return e.text;
    }
    const text = this.make(b, start, end);
    if (text === null) return null;
    if (this.size >= this.max) {
      this.byHash.clear();
      this.size = 0;
    }
    this.byHash.set(hash, { length, w0, w1, w2, w3, text, next: this.byHash.get(hash) ?? null });
    this.size++;
    return text;
  }
}

/** The (up to) four bytes at `at` as a signed 32-bit word, big-endian, zeros past `end`. */
function wordAt(b: Buffer, at: number, end: number): number {
  let w = 0;
  for (let i = 0; i < 4; i++) w = (w << 8) | (at + i < end ? b[at + i] : 0);
  return w;
}

const ipTexts = new TextsByBytes(ipText);
const macTexts = new TextsByBytes(macText);

/** The state list of each NUD value, made once (frozen: every entry with that state shares it). */
const stateLists = new Map<number, readonly string[]>();

function stateList(nud: number): string[] {
  let list = stateLists.get(nud);
  if (list === undefined) {
    list = Object.freeze(nud === 0 ? ['NONE'] : NUD_NAMES.filter(([bit]) => nud & bit).map(([, name]) => name));
    stateLists.set(nud, list); // at most 65,536 (a u16), in practice the few states a table shows
  }
  return list as string[];
}

/**
 * One RTM_NEWNEIGH message of a dump as the entry `ip -j -s neigh show dev IF` prints, or null
 * for an entry `ip` does not show (NOARP, NONE), another interface's, or another message type.
 * Its strings and state list are shared with the entries of earlier reads that had the same bytes
 * (strings are immutable; the state list is frozen).
 */
export function parseNeighbourEntry(msg: NetlinkMessage, ifindex: number): NeighbourEntry | null {
  return neighbourAt(msg.type, msg.payload, 0, msg.payload.length, ifindex);
}

/** parseNeighbourEntry of a message read in place (walkMessages). */
export function neighbourEntryOf(view: MessageView, ifindex: number): NeighbourEntry | null {
  return neighbourAt(view.type, view.data, view.start, view.end, ifindex);
}

/** The entry of a message of type `type` whose payload is b[from, to). */
function neighbourAt(type: number, b: Buffer, from: number, to: number, ifindex: number): NeighbourEntry | null {
  if (type !== RTM_NEWNEIGH || to - from < NDMSG_LEN) return null;
  if (s32(b, from + 4) !== ifindex) return null;
  const nud = u16(b, from + 8);
  // what `ip neigh show` leaves out unless asked: NOARP entries (multicast, broadcast) and NONE
  if ((nud & ~NUD_NOARP & 0xff) === 0) return null;
  let dst: string | null = null;
  let lladdr: string | undefined;
  let confirmed: number | undefined;
  for (let at = from + NDMSG_LEN; at + 4 <= to; ) {
    const len = attrLength(b, at, to);
    const attr = u16(b, at + 2) & NLA_TYPE_MASK;
    const start = at + 4;
    const end = at + len;
    if (attr === NDA_DST) dst = ipTexts.textOf(b, start, end);
    else if (attr === NDA_LLADDR) lladdr = macTexts.textOf(b, start, end)!;
    // struct nda_cacheinfo: confirmed, used, updated, refcnt (u32 each)
    else if (attr === NDA_CACHEINFO && end - start >= 16) confirmed = Math.floor(u32(b, start) / USER_HZ);
    at += align4(len);
  }
  if (dst === null) return null;
  const entry: NeighbourEntry = { dst, state: stateList(nud) };
  if (lladdr !== undefined) entry.lladdr = lladdr;
  if (confirmed !== undefined) entry.confirmed = confirmed;
  return entry;
}

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  /** The message after its 16-byte header. */
  payload: Buffer;
}

/** The messages of one datagram. Throws on a length that does not fit: the datagram is corrupt. */
export function splitMessages(datagram: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let at = 0;
  while (at + NLMSG_HDRLEN <= datagram.length) {
    const len = u32(datagram, at);
    if (len < NLMSG_HDRLEN || at + len > datagram.length) throw new Error(`netlink: message length ${len} at offset ${at} does not fit in ${datagram.length} bytes`);
    out.push({ type: u16(datagram, at + 4), flags: u16(datagram, at + 6), seq: u32(datagram, at + 8), payload: datagram.subarray(at + NLMSG_HDRLEN, at + len) });
    at += align4(len);
  }
  return out;
}

/**
 * A message read in place: its payload is data[start, end). walkMessages moves one view from
 * message to message (no object, no Buffer view per message: a neighbour dump is a message per
 * entry): use it within the visit, or copy it out with messageOf.
 */
export interface MessageView {
  type: number;
  flags: number;
  seq: number;
  data: Buffer;
  start: number;
  end: number;
}

export const newMessageView = (): MessageView => ({ type: 0, flags: 0, seq: 0, data: Buffer.alloc(0), start: 0, end: 0 });

/**
 * Calls `visit` with `view` set to each message of one datagram in turn, until it returns true
 * (then true). Throws on a length that does not fit: the datagram is corrupt (the messages before
 * it were visited).
 */
export function walkMessages(datagram: Buffer, view: MessageView, visit: (view: MessageView) => boolean): boolean {
  let at = 0;
  while (at + NLMSG_HDRLEN <= datagram.length) {
    const len = u32(datagram, at);
    if (len < NLMSG_HDRLEN || at + len > datagram.length) throw new Error(`netlink: message length ${len} at offset ${at} does not fit in ${datagram.length} bytes`);
    view.type = u16(datagram, at + 4);
    view.flags = u16(datagram, at + 6);
    view.seq = u32(datagram, at + 8);
    view.data = datagram;
    view.start = at + NLMSG_HDRLEN;
    view.end = at + len;
    if (visit(view)) return true;
    at += align4(len);
  }
  return false;
}

/** The message a view shows, as a message of its own (its payload still the datagram's bytes). */
export const messageOf = (view: MessageView): NetlinkMessage => ({ type: view.type, flags: view.flags, seq: view.seq, payload: view.data.subarray(view.start, view.end) });

/** NLMSG_ERROR's errno, as a positive number (0 is an acknowledgement, not an error). */
export function errnoOf(msg: NetlinkMessage): number {
  if (msg.payload.length < 4) throw new Error('netlink: truncated error message');
  return -s32(msg.payload, 0);
}

/** The length of the attribute at `at`, checked to lie within `to`: a damaged answer throws. */
function attrLength(b: Buffer, at: number, to: number): number {
  const len = u16(b, at);
  if (len < 4 || at + len > to) throw new Error(`netlink: attribute length ${len} at offset ${at} does not fit`);
  return len;
}

/** Calls `visit(type, start, end)` for each attribute in `b[from, to)`. */
function eachAttr(b: Buffer, from: number, to: number, visit: (type: number, start: number, end: number) => void): void {
  let at = from;
  while (at + 4 <= to) {
    const len = attrLength(b, at, to);
    visit(u16(b, at + 2) & NLA_TYPE_MASK, at + 4, at + len);
    at += align4(len);
  }
}

function findAttr(b: Buffer, from: number, to: number, want: number): [number, number] | null {
  for (let at = from; at + 4 <= to; ) {
    const len = attrLength(b, at, to);
    if ((u16(b, at + 2) & NLA_TYPE_MASK) === want) return [at + 4, at + len];
    at += align4(len);
  }
  return null;
}

/**
 * An address key as nft-accounting's addressKey spells it: IPv4 dotted, IPv6 as 8 groups of
 * 4 lower-case hex digits. Made straight from the bytes, no string parsing.
 */
export function addressKeyOfBytes(b: Buffer, start: number, end: number): string | null {
  if (end - start === 4) return `${b[start]}.${b[start + 1]}.${b[start + 2]}.${b[start + 3]}`;
  if (end - start !== 16) return null;
  const h = b.toString('hex', start, end);
  return `${h.slice(0, 4)}:${h.slice(4, 8)}:${h.slice(8, 12)}:${h.slice(12, 16)}:${h.slice(16, 20)}:${h.slice(20, 24)}:${h.slice(24, 28)}:${h.slice(28, 32)}`;
}

/**
 * Reads an unsigned big-endian 64-bit counter without a BigInt (exact below 2^53, i.e. 9 PB) into
 * `out[i]`: stored here, the number is never returned (a number above 2^31 returned is a heap object).
 */
function be64Into(b: Buffer, at: number, out: Float64Array, i: number): void {
  out[i] = b.readUInt32BE(at) * 0x1_0000_0000 + b.readUInt32BE(at + 4);
}

// The element parser below runs for every element of every tick (4,000 for 1,000 dual-stack
// clients), so it walks the attributes with plain loops and reports a counter through these two
// variables instead of allocating an object per expression.
// A Float64Array, not two variables: a number above 2^31 stored in a variable is a heap object
// each time, in a typed array it is not.
const found = new Float64Array(2); // bytes, packets

const COUNTER = Buffer.from('counter', 'latin1');

/** Whether b[at, at + 7) spells "counter" (compared byte by byte: no string per element). */
function isCounterName(b: Buffer, at: number): boolean {
  for (let i = 0; i < 7; i++) if (b[at + i] !== COUNTER[i]) return false;
  return true;
}

/** Whether the expression in b[start, end) is a counter; if so its values are in `found`. */
function readCounterExpr(b: Buffer, start: number, end: number): boolean {
  let isCounter = false;
  let dataStart = -1;
  let dataEnd = -1;
  for (let at = start; at + 4 <= end; ) {
    const len = attrLength(b, at, end);
    const type = u16(b, at + 2) & NLA_TYPE_MASK;
    if (type === NFTA_EXPR_NAME) isCounter = len >= 11 && isCounterName(b, at + 4) && (len === 11 || b[at + 11] === 0);
    else if (type === NFTA_EXPR_DATA) [dataStart, dataEnd] = [at + 4, at + len];
    at += align4(len);
  }
  if (!isCounter || dataStart < 0) return false;
  found[0] = 0;
  found[1] = 0;
  for (let at = dataStart; at + 4 <= dataEnd; ) {
    const len = attrLength(b, at, dataEnd);
    const type = u16(b, at + 2) & NLA_TYPE_MASK;
    if (len === 12 && type === NFTA_COUNTER_BYTES) be64Into(b, at + 4, found, 0);
    else if (len === 12 && type === NFTA_COUNTER_PACKETS) be64Into(b, at + 4, found, 1);
    at += align4(len);
  }
  return true;
}

// What readElement found: the key's bytes are b[elemKeyStart, elemKeyEnd) (-1: no key); its counter in `found`.
let elemKeyStart = -1;
let elemKeyEnd = -1;

/** One NFTA_LIST_ELEM: its key's place and its counter (0 if it has none, as nft prints it), left in elemKey* and `found`. */
function readElement(b: Buffer, start: number, end: number): void {
  let counted = false;
  elemKeyStart = -1;
  elemKeyEnd = -1;
  found[0] = 0;
  found[1] = 0;
  for (let at = start; at + 4 <= end; ) {
    const len = attrLength(b, at, end);
    const type = u16(b, at + 2) & NLA_TYPE_MASK;
    if (type === NFTA_SET_ELEM_KEY) {
      // its NFTA_DATA_VALUE
      for (let v = at + 4; v + 4 <= at + len; ) {
        const vlen = attrLength(b, v, at + len);
        if ((u16(b, v + 2) & NLA_TYPE_MASK) === NFTA_DATA_VALUE) {
          elemKeyStart = v + 4;
          elemKeyEnd = v + vlen;
          break;
        }
        v += align4(vlen);
      }
    } else if (type === NFTA_SET_ELEM_EXPR && !counted) {
      counted = readCounterExpr(b, at + 4, at + len);
    } else if (type === NFTA_SET_ELEM_EXPRESSIONS && !counted) {
      // several expressions on the element: a list of NFTA_LIST_ELEM, each an expression
      for (let e = at + 4; e + 4 <= at + len && !counted; ) {
        const elen = attrLength(b, e, at + len);
        if ((u16(b, e + 2) & NLA_TYPE_MASK) === NFTA_LIST_ELEM) counted = readCounterExpr(b, e + 4, e + elen);
        e += align4(elen);
      }
    }
    at += align4(len);
  }
}

/** Calls `element(b, start, end)` for each NFTA_LIST_ELEM of a NEWSETELEM message (type `type`, payload b[from, to)); other messages are ignored. */
function eachElement(type: number, b: Buffer, from: number, to: number, element: (b: Buffer, start: number, end: number) => void): void {
  if (type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM)) return;
  const list = findAttr(b, from + 4, to, NFTA_SET_ELEM_LIST_ELEMENTS);
  if (!list) return;
  for (let at = list[0]; at + 4 <= list[1]; ) {
    const len = attrLength(b, at, list[1]);
    if ((u16(b, at + 2) & NLA_TYPE_MASK) === NFTA_LIST_ELEM) element(b, at + 4, at + len);
    at += align4(len);
  }
}

/**
 * Adds the elements of one NEWSETELEM message (a part of a GETSETELEM dump) to `into`, keyed by
 * address. Other messages are ignored. (The reader keeps a SetElements per set instead, which
 * reuses its strings and counters from one dump to the next.)
 */
export function parseSetElements(msg: NetlinkMessage, into: Map<string, ElementCounter>): void {
  eachElement(msg.type, msg.payload, 0, msg.payload.length, (b, start, end) => {
    readElement(b, start, end);
    const key = elemKeyStart < 0 ? null : addressKeyOfBytes(b, elemKeyStart, elemKeyEnd);
    if (key !== null) into.set(key, { bytes: found[0], packets: found[1] });
  });
}

/** An element as SetElements keeps it: its key's bytes (as up to four 32-bit words), key string and counter. */
interface KeptElement {
  length: number;
  w0: number;
  w1: number;
  w2: number;
  w3: number;
  key: string;
  counter: ElementCounter;
  /** The dump that last held it. */
  dump: number;
  /** The next element whose bytes hash alike. */
  next: KeptElement | null;
}

/**
 * The elements of one set, read again at each dump (every tick): the same addresses come back
 * with new counter values, so each element's key string and counter object are made once and
 * updated in place while the element stays (found by its bytes, no string made to look it up).
 * `counters` holds what the last complete dump held, exactly: elements gone from the set leave it
 * at `end()`, so it is bounded by the set itself.
 *
 * `counters` is this object's own and changes at the next dump: read it before the next one.
 */
export class SetElements {
  readonly counters = new Map<string, ElementCounter>();
  private readonly byBytes = new Map<number, KeptElement>();
  private dump = 0;
  private seen = 0;
  private readonly onElement = (b: Buffer, start: number, end: number): void => this.element(b, start, end);

  /** A new dump starts: every element must be seen again to stay. */
  begin(): void {
    this.dump++;
    this.seen = 0;
  }

  /** One message of the dump (a message of its own, or read in place). */
  add(msg: NetlinkMessage | MessageView): void {
    if ('data' in msg) eachElement(msg.type, msg.data, msg.start, msg.end, this.onElement);
    else eachElement(msg.type, msg.payload, 0, msg.payload.length, this.onElement);
  }

  /** The dump is complete: elements it did not hold are dropped. */
  end(): void {
    if (this.seen === this.counters.size) return;
    for (const [hash, first] of this.byBytes) {
      let head: KeptElement | null = first;
      let prev: KeptElement | null = null;
      for (let e: KeptElement | null = first; e !== null; e = e.next) {
        if (e.dump === this.dump) {
          prev = e;
          continue;
        }
        this.counters.delete(e.key);
        if (prev) prev.next = e.next;
        else head = e.next;
      }
      if (head === null) this.byBytes.delete(hash);
      else if (head !== first) this.byBytes.set(hash, head);
    }
  }

  private element(b: Buffer, start: number, end: number): void {
    readElement(b, start, end);
    const length = elemKeyEnd - elemKeyStart;
    if (elemKeyStart < 0 || (length !== 4 && length !== 16)) return;
    // signed: small integers, never a heap number
    const w0 = b.readInt32BE(elemKeyStart);
    const w1 = length === 16 ? b.readInt32BE(elemKeyStart + 4) : 0;
    const w2 = length === 16 ? b.readInt32BE(elemKeyStart + 8) : 0;
    const w3 = length === 16 ? b.readInt32BE(elemKeyStart + 12) : 0;
    // an IPv6 LAN's addresses differ in their last word (interface id) more than in the prefix
    const hash = (w3 ^ Math.imul(w2, 31) ^ Math.imul(w1, 961) ^ Math.imul(w0, 29791) ^ length) | 0;
    let e = this.byBytes.get(hash) ?? null;
    while (e !== null && !(e.length === length && e.w0 === w0 && e.w1 === w1 && e.w2 === w2 && e.w3 === w3)) e = e.next;
    if (e === null) {
      const key = addressKeyOfBytes(b, elemKeyStart, elemKeyEnd)!;
      const counter: ElementCounter = { bytes: found[0], packets: found[1] };
      e = { length, w0, w1, w2, w3, key, counter, dump: this.dump, next: this.byBytes.get(hash) ?? null };
      this.byBytes.set(hash, e);
      this.counters.set(key, counter);
      this.seen++;
      return;
    }
    e.counter.bytes = found[0];
    e.counter.packets = found[1];
    if (e.dump !== this.dump) {
      e.dump = this.dump;
      this.seen++;
    }
  }
}

/** An RTM_NEWLINK answer as IfaceCounters; throws if it lacks the statistics. */
export function parseLink(msg: NetlinkMessage, iface: string): IfaceCounters {
  if (msg.type !== RTM_NEWLINK || msg.payload.length < IFINFOMSG_LEN) throw new Error(`interface ${iface}: netlink answered type ${msg.type}, not a link`);
  const b = msg.payload;
  const ifindex = s32(b, 4);
  let name = null as string | null;
  let operstate = 'UNKNOWN';
  let stats = null as [number, number] | null;
  eachAttr(b, IFINFOMSG_LEN, b.length, (type, s, e) => {
    if (type === IFLA_IFNAME) name = b.toString('utf8', s, e).replace(/\0+$/, '');
    else if (type === IFLA_OPERSTATE && e > s) operstate = OPERSTATES[b[s]] ?? 'UNKNOWN';
    else if (type === IFLA_STATS64 && e - s >= 32) stats = [s, e];
  });
  if (name !== null && name !== iface) throw new Error(`interface ${iface}: netlink answered for ${name}`);
  if (!stats) throw new Error(`interface ${iface}: netlink gave no 64-bit statistics`);
  // struct rtnl_link_stats64 starts rx_packets, tx_packets, rx_bytes, tx_bytes (host order)
  const [s] = stats;
  return { ifindex, operstate, rxPackets: u64(b, s), txPackets: u64(b, s + 8), rxBytes: u64(b, s + 16), txBytes: u64(b, s + 24) };
}
