/**
 * The netlink messages iface-counter and arp-discover exchange with the kernel (nodes/core/meter/netlink-codec.ts):
 * requests byte for byte, and answers recorded from this machine's kernel (6.18) for a table made
 * with nft 1.0.6:
 *
 *   add element inet equalnet_acct_lan0 up4 { 10.77.0.152 counter packets 3 bytes 4500,
 *                                             10.77.0.153 counter packets 5000000000 bytes 6000000000000 }
 *   add element inet equalnet_acct_lan0 up6 { fd00:77::101 counter packets 2 bytes 300 }
 *
 * (headers little-endian, as on x86-64 and arm), plus answers built here for the shapes that kernel did not produce (several expressions on an
 * element, nested-flagged attributes, damaged lengths). The reader's sockets are tested against
 * the real kernel in counter-metering.spec.ts and the lab.
 */
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import fc from 'fast-check';
import {
  addressKeyOfBytes,
  errnoOf,
  getLinkRequest,
  getNeighboursRequest,
  getSetElementsRequest,
  NLM_F_MULTI,
  NLMSG_DONE,
  parseLink,
  parseNeighbourEntry,
  parseSetElements,
  SetElements,
  splitMessages,
  messageOf,
  neighbourEntryOf,
  newMessageView,
  walkMessages,
  type NetlinkMessage,
} from '../../nodes/core/meter/netlink-codec';
import { addressKey, type ElementCounter } from '../../nodes/core/meter/nft-accounting';
import { neighboursOf } from '../../nodes/core/discover/neighbours';
import { setElementsDump } from '../helpers/netlink-kernel';

// Recorded: the GETSETELEM dump of up4 (two datagrams: the elements, then an empty part and DONE).
const UP4_DUMP = [
  'b00000000c0a020007000000817e00080100000217000100657175616c6e65745f616363745f6c616e30000008000200757034007c0003003c0001000c000100080001000a4d00992c0007000c000100636f756e746572001c0002000c00010000000574fbde60000c000200000000012a05f2003c0001000c000100080001000a4d00982c0007000c000100636f756e746572001c0002000c00010000000000000011940c0002000000000000000003',
  '380000000c0a020007000000817e00080100000217000100657175616c6e65745f616363745f6c616e300000080002007570340004000300140000000300020007000000817e000800000000',
];
const UP6_DUMP = [
  '800000000c0a020007000000817e40080100000217000100657175616c6e65745f616363745f6c616e30000008000200757036004c000300480001001800010014000100fd0000770000000000000000000001012c0007000c000100636f756e746572001c0002000c000100000000000000012c0c0002000000000000000002',
  '380000000c0a020007000000817e40080100000217000100657175616c6e65745f616363745f6c616e300000080002007570360004000300140000000300020007000000817e400800000000',
];
const LE = endianness() === 'LE';

function decodeDump(datagrams: string[]): { elements: Map<string, ElementCounter>; done: boolean } {
  const elements = new Map<string, ElementCounter>();
  let done = false;
  for (const hex of datagrams) {
    for (const msg of splitMessages(Buffer.from(hex, 'hex'))) {
      if (msg.type === NLMSG_DONE) done = true;
      else parseSetElements(msg, elements);
    }
  }
  return { elements, done };
}

// --- a small encoder for answers the recorded kernel did not give ---
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
};
function attr(type: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const pad = Buffer.alloc((4 - ((4 + body.length) % 4)) % 4);
  return Buffer.concat([u16(4 + body.length), u16(type), body, pad]);
}
const be64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
};
const NESTED = 0x8000;
const counterExpr = (type: number, bytes: bigint, packets: bigint) =>
  attr(type | NESTED, attr(1, Buffer.from('counter\0')), attr(2 | NESTED, attr(1, be64(bytes)), attr(2, be64(packets))));
const otherExpr = (type: number) => attr(type | NESTED, attr(1, Buffer.from('limit\0')), attr(2 | NESTED, attr(1, be64(10n))));
const key = (address: Buffer) => attr(1 | NESTED, attr(1, address));
/** A NEWSETELEM message's payload: nfgenmsg, table, set, the element list. */
const setElemMessage = (...elements: Buffer[]): NetlinkMessage => ({
  type: (10 << 8) | 12,
  flags: NLM_F_MULTI,
  seq: 1,
  payload: Buffer.concat([Buffer.from([1, 0, 0, 0]), attr(1, Buffer.from('t\0')), attr(2, Buffer.from('up6\0')), attr(3 | NESTED, ...elements)]),
});
const v6 = (text: string) => Buffer.from(addressKey(text).replace(/:/g, ''), 'hex');

describe('counter netlink messages (the reader\'s requests and the kernel\'s answers, no socket)', () => {
  it('asks for a set\'s elements as nft does: nf_tables GETSETELEM, a dump, family inet, table and set NUL-terminated and padded', () => {
    const req = getSetElementsRequest(0x01020304, 'equalnet_acct_lan0', 'up4');
    const read32 = (at: number) => (LE ? req.readUInt32LE(at) : req.readUInt32BE(at));
    const read16 = (at: number) => (LE ? req.readUInt16LE(at) : req.readUInt16BE(at));
    assert.equal(read32(0), req.length, 'nlmsg_len is the whole message');
    assert.equal(read16(4), 0x0a0d, 'NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETSETELEM');
    assert.equal(read16(6), 0x0301, 'NLM_F_REQUEST | NLM_F_DUMP');
    assert.equal(read32(8), 0x01020304, 'sequence number');
    assert.deepEqual([...req.subarray(16, 20)], [1, 0, 0, 0], 'nfgenmsg: NFPROTO_INET, NFNETLINK_V0, res_id 0');
    // NFTA_SET_ELEM_LIST_TABLE (1): 4 + 19 bytes, padded to 24; NFTA_SET_ELEM_LIST_SET (2): 4 + 4 bytes
    assert.equal(read16(20), 23);
    assert.equal(read16(22), 1);
    assert.equal(req.toString('latin1', 24, 43), 'equalnet_acct_lan0\0');
    assert.equal(read16(44), 8);
    assert.equal(read16(46), 2);
    assert.equal(req.toString('latin1', 48, 52), 'up4\0');
    assert.equal(req.length, 52);
    // the recorded answer carries the same table and set back
    assert.equal(Buffer.from(UP4_DUMP[0], 'hex').toString('latin1', 24, 43), 'equalnet_acct_lan0\0');
  });

  it('asks for one link by name (RTM_GETLINK, ifindex 0, IFLA_IFNAME)', () => {
    const req = getLinkRequest(9, 'br-lan');
    const read16 = (at: number) => (LE ? req.readUInt16LE(at) : req.readUInt16BE(at));
    assert.equal(read16(4), 18);
    assert.equal(read16(6), 0x0001, 'NLM_F_REQUEST only: one answer, no dump');
    assert.deepEqual([...req.subarray(16, 32)], new Array(16).fill(0), 'ifinfomsg: any family, ifindex 0');
    assert.equal(read16(32), 4 + 7);
    assert.equal(read16(34), 3);
    assert.equal(req.toString('latin1', 36, 43), 'br-lan\0');
    assert.equal(req.length, 44);
  });

  it('reads the recorded IPv4 dump: both elements with their counters, 64-bit values exact, and the end of the dump', () => {
    const { elements, done } = decodeDump(UP4_DUMP);
    assert.ok(done);
    assert.deepEqual(
      [...elements].sort(),
      [
        ['10.77.0.152', { bytes: 4500, packets: 3 }],
        ['10.77.0.153', { bytes: 6_000_000_000_000, packets: 5_000_000_000 }],
      ],
    );
  });

  it('reads the recorded IPv6 dump under the same key the snapshot\'s address gets (addressKey)', () => {
    const { elements, done } = decodeDump(UP6_DUMP);
    assert.ok(done);
    assert.deepEqual([...elements], [[addressKey('fd00:77::101'), { bytes: 300, packets: 2 }]]);
  });

  it('finds the counter among several expressions (NFTA_SET_ELEM_EXPRESSIONS), with nested-flagged attributes', () => {
    const into = new Map<string, ElementCounter>();
    const a = v6('fd00:77::a');
    const b = v6('fd00:77::b');
    parseSetElements(
      setElemMessage(
        attr(1 | NESTED, key(a), attr(11 | NESTED, otherExpr(1), counterExpr(1, 123456n, 78n))),
        attr(1 | NESTED, key(b)), // no expression at all: 0, as nft prints it
      ),
      into,
    );
    assert.deepEqual(into.get(addressKey('fd00:77::a')), { bytes: 123456, packets: 78 });
    assert.deepEqual(into.get(addressKey('fd00:77::b')), { bytes: 0, packets: 0 });
  });

  it('ignores messages that are not set elements, and keys that are not addresses', () => {
    const into = new Map<string, ElementCounter>();
    parseSetElements({ ...setElemMessage(attr(1, key(v6('::1')), counterExpr(7, 1n, 1n))), type: (10 << 8) | 9 }, into);
    parseSetElements(setElemMessage(attr(1, key(Buffer.alloc(6)), counterExpr(7, 1n, 1n))), into); // a MAC-sized key
    assert.equal(into.size, 0);
  });

  it('refuses a damaged answer with an error instead of reading past it', () => {
    const good = Buffer.from(UP4_DUMP[0], 'hex');
    assert.throws(() => splitMessages(good.subarray(0, good.length - 8)), /does not fit/);
    const [msg] = splitMessages(good);
    const broken = Buffer.from(msg.payload);
    // the element list's length, made larger than what is left
    const at = broken.indexOf(Buffer.from('7c000300', 'hex'));
    if (LE) broken.writeUInt16LE(0x7c + 64, at);
    else broken.writeUInt16BE(0x7c + 64, at);
    assert.throws(() => parseSetElements({ ...msg, payload: broken }, new Map()), /does not fit/);
  });

  it('reads an error\'s errno, positive', () => {
    const payload = Buffer.alloc(20);
    if (LE) payload.writeInt32LE(-2);
    else payload.writeInt32BE(-2);
    assert.equal(errnoOf({ type: 2, flags: 0, seq: 1, payload }), 2);
  });

  it('property: an IPv6 key made from the bytes equals addressKey of any spelling of the address', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const k = addressKey(text);
        const bytes = Buffer.from(k.replace(/:/g, ''), 'hex');
        return addressKeyOfBytes(bytes, 0, 16) === k;
      }),
      { numRuns: 1000 },
    );
    fc.assert(fc.property(fc.ipV4(), (text) => addressKeyOfBytes(Buffer.from(text.split('.').map(Number)), 0, 4) === text), { numRuns: 300 });
  });

  it('SetElements (what the reader keeps per set) reads the recorded dumps as parseSetElements does', () => {
    for (const dump of [UP4_DUMP, UP6_DUMP]) {
      const kept = new SetElements();
      for (let round = 0; round < 2; round++) {
        kept.begin();
        for (const hex of dump) for (const msg of splitMessages(Buffer.from(hex, 'hex'))) kept.add(msg);
        kept.end();
        assert.deepEqual(kept.counters, decodeDump(dump).elements);
      }
    }
  });

  it('property: SetElements over a run of dumps holds exactly each dump\'s elements, reusing its strings and counters while an element stays', () => {
    const pool = [...Array.from({ length: 12 }, (_, i) => `10.77.${i >> 2}.${i}`), ...Array.from({ length: 12 }, (_, i) => `fd00:77::${i.toString(16)}`), '::', '0.0.0.0', 'ffff::ffff'];
    const dumpOf = fc.record({
      members: fc.subarray(pool),
      counts: fc.array(fc.tuple(fc.nat({ max: 2 ** 53 - 1 }), fc.nat()), { minLength: pool.length, maxLength: pool.length }),
      perMessage: fc.integer({ min: 1, max: 9 }),
    });
    fc.assert(
      fc.property(fc.array(dumpOf, { minLength: 1, maxLength: 8 }), (dumps) => {
        const kept = new SetElements();
        let before = new Map<string, { key: string; counter: ElementCounter }>();
        for (const { members, counts, perMessage } of dumps) {
          const elements = members.map((address) => ({ address, bytes: counts[pool.indexOf(address)][0], packets: counts[pool.indexOf(address)][1] }));
          const parts = setElementsDump(1, 't', 'up6', elements, perMessage);
          const fresh = new Map<string, ElementCounter>();
          kept.begin();
          for (const part of parts) for (const msg of splitMessages(part)) {
            kept.add(msg);
            parseSetElements(msg, fresh);
          }
          kept.end();
          assert.deepEqual(kept.counters, fresh);
          const now = new Map<string, { key: string; counter: ElementCounter }>();
          for (const [key, counter] of kept.counters) {
            const was = before.get(key);
            if (was) assert.ok(was.counter === counter && was.key === key, 'the same counter object while the element stays');
            now.set(key, { key, counter });
          }
          before = now;
        }
      }),
      { numRuns: 300 },
    );
  });

  describe('a link answer (RTM_NEWLINK)', () => {
    const u64 = (v: bigint) => {
      const b = Buffer.alloc(8);
      if (LE) b.writeBigUInt64LE(v);
      else b.writeBigUInt64BE(v);
      return b;
    };
    const link = (name: string, withStats = true): NetlinkMessage => {
      const ifinfo = Buffer.alloc(16);
      if (LE) ifinfo.writeInt32LE(7, 4);
      else ifinfo.writeInt32BE(7, 4);
      const stats = Buffer.concat([u64(11n), u64(22n), u64(5_000_000_000_000n), u64(44n), Buffer.alloc(8 * 20)]);
      return {
        type: 16,
        flags: 0,
        seq: 1,
        payload: Buffer.concat([ifinfo, attr(3, Buffer.from(name + '\0')), attr(16, Buffer.from([6])), ...(withStats ? [attr(23, stats)] : [])]),
      };
    };

    it('gives ifindex, operstate and the 64-bit counters, as ip -j -s link does', () => {
      assert.deepEqual(parseLink(link('br-lan'), 'br-lan'), { ifindex: 7, operstate: 'UP', rxPackets: 11, txPackets: 22, rxBytes: 5_000_000_000_000, txBytes: 44 });
    });

    it('refuses an answer for another interface, or one without statistics', () => {
      assert.throws(() => parseLink(link('eth0'), 'br-lan'), /answered for eth0/);
      assert.throws(() => parseLink(link('br-lan', false), 'br-lan'), /no 64-bit statistics/);
    });
  });
});

// Recorded from this machine's kernel: the RTM_GETNEIGH dump of veth d0 (ifindex 3) in a namespace
// holding (iproute2 6.1)
//   ip neigh add 10.9.0.5 lladdr 3c:22:fb:00:00:05 dev d0 nud permanent
//   ip neigh add 10.9.0.6 lladdr da:a1:19:00:00:06 dev d0 nud stale        (added 60 s earlier)
//   ip neigh add fd00:9::1:0:0:7 lladdr 24:0a:c4:00:00:07 dev d0 nud reachable
//   ip neigh add ::ffff:10.9.0.10 lladdr 3c:22:fb:00:00:0a dev d0 nud permanent
//   ip neigh add 10.9.0.9 dev d0 nud noarp                                  (and the kernel's ff02::16)
// and `ip -j -s neigh show dev d0` printed at the same moment.
const NEIGH_DUMP = '4c0000001c00220007000000596f0008020000000300000040000003080001000a0900090a000200ffffffffffff0000080004000000000014000300120000001200000012000000000000004c0000001c00220007000000596f0008020000000300000004000003080001000a0900060a000200daa1190000060000080004000000000014000300831700001300000013000000000000004c0000001c00220007000000596f0008020000000300000080000003080001000a0900050a0002003c22fb000005000008000400000000001400030013000000130000001300000000000000580000001c00220007000000596f00080a00000003000000800000011400010000000000000000000000ffff0a09000a0a0002003c22fb00000a000008000400000000001400030012000000120000001200000000000000580000001c00220007000000596f00080a000000030000004000000514000100ff0200000000000000000000000000160a000200333300000016000008000400000000001400030082170000120000001200000000000000580000001c00220007000000596f00080a000000030000000200000114000100fd0000090000000000010000000000070a000200240ac4000007000008000400000000001400030013000000130000001300000001000000140000000300020007000000596f000800000000';
const IP_SHOWED = [{"dst": "10.9.0.6", "lladdr": "da:a1:19:00:00:06", "used": 0, "confirmed": 60, "updated": 0, "probes": 0, "state": ["STALE"]}, {"dst": "10.9.0.5", "lladdr": "3c:22:fb:00:00:05", "used": 0, "confirmed": 0, "updated": 0, "probes": 0, "state": ["PERMANENT"]}, {"dst": "::ffff:10.9.0.10", "lladdr": "3c:22:fb:00:00:0a", "used": 0, "confirmed": 0, "updated": 0, "probes": 0, "state": ["PERMANENT"]}, {"dst": "fd00:9::1:0:0:7", "lladdr": "24:0a:c4:00:00:07", "refcnt": 1, "used": 0, "confirmed": 0, "updated": 0, "probes": 0, "state": ["REACHABLE"]}];

describe("arp-discover's neighbour table over netlink", () => {
  const entries = () => splitMessages(Buffer.from(NEIGH_DUMP, 'hex')).map((m) => parseNeighbourEntry(m, 3)).filter((e) => e !== null);

  it('asks for one interface\'s entries, both families, as a dump', () => {
    const req = getNeighboursRequest(7, 3);
    assert.equal(req.length, 16 + 12 + 8);
    const [msg] = splitMessages(req);
    assert.equal(msg.type, 30); // RTM_GETNEIGH
    assert.equal(msg.flags, 0x301); // NLM_F_REQUEST | NLM_F_DUMP
    assert.equal(msg.seq, 7);
    assert.equal(msg.payload[0], 0); // AF_UNSPEC: IPv4 and IPv6
    assert.equal(LE ? msg.payload.readUInt16LE(14) : msg.payload.readUInt16BE(14), 8); // NDA_IFINDEX
    assert.equal(LE ? msg.payload.readUInt32LE(16) : msg.payload.readUInt32BE(16), 3);
  });

  it('gives the entries `ip -j -s neigh show` printed: addresses as ip spells them, MAC, state, confirmed seconds; NOARP left out as ip does', () => {
    const pick = (e: { dst: string; lladdr?: string; state: string[]; confirmed?: number }) => ({ dst: e.dst, lladdr: e.lladdr, state: e.state, confirmed: e.confirmed });
    const byDst = (a: { dst: string }, b: { dst: string }) => a.dst.localeCompare(b.dst);
    assert.deepEqual(entries().map(pick).sort(byDst), IP_SHOWED.map(pick).sort(byDst));
    // and the neighbours arp-discover takes from them are the same
    assert.deepEqual(neighboursOf(entries()).neighbours.map((n) => ({ ...n, dst: n.ip })).sort(byDst), neighboursOf(IP_SHOWED).neighbours.map((n) => ({ ...n, dst: n.ip })).sort(byDst));
  });

  it('property: texts made once per address and MAC (kept by their bytes) are each entry\'s own, read after read and in any order; state lists shared and frozen', () => {
    const neigh = (dst: Uint8Array, mac: Uint8Array, nud: number): NetlinkMessage => {
      const nd = Buffer.alloc(12);
      nd[0] = dst.length === 4 ? 2 : 10;
      if (LE) nd.writeInt32LE(4, 4);
      else nd.writeInt32BE(4, 4);
      if (LE) nd.writeUInt16LE(nud, 8);
      else nd.writeUInt16BE(nud, 8);
      return { type: 28, flags: NLM_F_MULTI, seq: 1, payload: Buffer.concat([nd, attr(1, Buffer.from(dst)), attr(2, Buffer.from(mac))]) };
    };
    const entry = fc.tuple(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.constantFrom(2, 4, 8, 0x80, 0x22));
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 60 }), fc.integer(), (entries, seed) => {
        const first = entries.map(([dst, mac, nud]) => parseNeighbourEntry(neigh(dst, mac, nud), 4)!);
        // again, in another order: each entry's texts are still its own
        const order = entries.map((_, i) => i).sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
        for (const i of order) {
          const [dst, mac, nud] = entries[i];
          const again = parseNeighbourEntry(neigh(dst, mac, nud), 4)!;
          assert.deepEqual(again, first[i]);
          assert.ok(Object.isFrozen(again.state));
          assert.equal(again.lladdr, [...mac].map((x) => x.toString(16).padStart(2, '0')).join(':'));
          if (dst.length === 4) assert.equal(again.dst, [...dst].join('.'));
          else assert.equal(addressKey(again.dst), addressKeyOfBytes(Buffer.from(dst), 0, 16));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('walkMessages reads the messages splitMessages gives, in place, stops where told, and refuses a length that does not fit', () => {
    for (const hex of [...UP4_DUMP, ...UP6_DUMP, NEIGH_DUMP]) {
      const datagram = Buffer.from(hex, 'hex');
      const seen: NetlinkMessage[] = [];
      const entries: unknown[] = [];
      assert.equal(walkMessages(datagram, newMessageView(), (v) => (seen.push(messageOf(v)), entries.push(neighbourEntryOf(v, 4)), false)), false);
      const split = splitMessages(datagram);
      assert.deepEqual(seen, split);
      assert.deepEqual(entries, split.map((m) => parseNeighbourEntry(m, 4)));
      let visits = 0;
      assert.equal(walkMessages(datagram, newMessageView(), () => ++visits === 1), true);
      assert.equal(visits, 1);
    }
    const broken = Buffer.from(UP4_DUMP[1], 'hex');
    broken.writeUInt16LE(0xff, 0);
    if (!LE) broken.writeUInt32BE(0xff, 0);
    assert.throws(() => walkMessages(broken, newMessageView(), () => false), /does not fit/);
  });

  it("ignores another interface's entries and other messages", () => {
    assert.deepEqual(splitMessages(Buffer.from(NEIGH_DUMP, 'hex')).map((m) => parseNeighbourEntry(m, 4)).filter((e) => e !== null), []);
  });
});
