/**
 * A stand-in for the kernel state iface-counter reads, for what cannot run without root and a
 * namespace at every tick of a unit test or a garbage measure: the accounting table's four sets
 * (elements with counters) and one link's statistics, answered over the netlink reader's socket
 * interface in the kernel's own message shapes (NEWSETELEM parts of at most `perMessage` elements
 * with NLM_F_MULTI, then NLMSG_DONE, as counter-netlink.spec.ts's recorded dumps are laid out),
 * and the `nft` batches the node runs applied to the same sets. The real kernel is read by
 * counter-metering.spec.ts (unit, root) and the lab.
 */
import { endianness } from 'node:os';
import { addressKey, SET_NAMES, type SetName } from '../../nodes/core/meter/nft-accounting';
import type { CommandRunner, RunResult } from '../../nodes/core/runner';

const LE = endianness() === 'LE';
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(v);
  else b.writeUInt32BE(v);
  return b;
};
const be64 = (v: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(v));
  return b;
};
const NESTED = 0x8000;
function attr(type: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const pad = Buffer.alloc((4 - ((4 + body.length) % 4)) % 4);
  return Buffer.concat([u16(4 + body.length), u16(type), body, pad]);
}
const nlmsg = (type: number, flags: number, seq: number, body: Buffer) => Buffer.concat([u32(16 + body.length), u16(type), u16(flags), u32(seq), u32(0), body]);

/** The address's bytes in network order (the set element's key). */
export function addressBytes(address: string): Buffer {
  const key = addressKey(address);
  if (!key.includes(':')) return Buffer.from(key.split('.').map(Number));
  return Buffer.from(key.replace(/:/g, ''), 'hex');
}

export interface FakeElement {
  address: string;
  bytes: number;
  packets: number;
}

/** The datagrams of a GETSETELEM dump of `elements`. */
export function setElementsDump(seq: number, table: string, set: string, elements: readonly FakeElement[], perMessage = 200): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < elements.length; i += perMessage) {
    const elems = elements.slice(i, i + perMessage).map((e) =>
      attr(
        1 | NESTED,
        attr(1 | NESTED, attr(1, addressBytes(e.address))),
        attr(7 | NESTED, attr(1, Buffer.from('counter\0')), attr(2 | NESTED, attr(1, be64(e.bytes)), attr(2, be64(e.packets)))),
      ),
    );
    const body = Buffer.concat([Buffer.from([1, 0, 0, 0]), attr(1, Buffer.from(`${table}\0`)), attr(2, Buffer.from(`${set}\0`)), attr(3 | NESTED, ...elems)]);
    parts.push(nlmsg((10 << 8) | 12, 2, seq, body));
  }
  // the kernel ends a dump in a datagram of its own
  return [...parts, nlmsg(3, 2, seq, u32(0))];
}

/** An RTM_NEWLINK answer: ifindex, operstate UP, rtnl_link_stats64 with these byte counters. */
export function linkMessage(seq: number, iface: string, ifindex: number, rxBytes: number, txBytes: number): Buffer {
  const info = Buffer.alloc(16);
  if (LE) info.writeInt32LE(ifindex, 4);
  else info.writeInt32BE(ifindex, 4);
  const stats = Buffer.alloc(200);
  const put64 = (at: number, v: number) => (LE ? stats.writeBigUInt64LE(BigInt(v), at) : stats.writeBigUInt64BE(BigInt(v), at));
  put64(16, rxBytes);
  put64(24, txBytes);
  return nlmsg(16, 0, seq, Buffer.concat([info, attr(3, Buffer.from(`${iface}\0`)), attr(16, Buffer.from([6])), attr(23, stats)]));
}

/**
 * The sets and the link. Counters are set by the test; `nft` batches (add/delete element, the
 * create script) change the sets as the kernel would, new elements starting at 0.
 */
export class FakeKernel {
  readonly sets = new Map<SetName, Map<string, FakeElement>>(SET_NAMES.map((s) => [s, new Map()]));
  tableExists = false;
  link = { ifindex: 7, rxBytes: 0, txBytes: 0 };
  /** Elements per NEWSETELEM message (the kernel fills ~32 KiB: about 400 IPv6 elements). */
  perMessage = 200;
  /** nft batches run, in order. */
  readonly scripts: string[] = [];
  /** Dumps cached while the sets do not change: a garbage measure then sees only the reader's own. */
  private cache = new Map<string, Buffer[]>();
  private version = 0;
  private cachedVersion = -1;

  constructor(
    readonly table: string,
    readonly iface: string,
  ) {}

  /** Adds `by` bytes (and one packet per 1,000 bytes) to an address's counters in `set`. */
  count(set: SetName, address: string, by: number): void {
    const e = this.sets.get(set)!.get(addressKey(address));
    if (e) {
      e.bytes += by;
      e.packets += Math.ceil(by / 1000);
      this.version++;
    }
  }

  /** Removes an element underneath the node (a flush, another tool). */
  drop(set: SetName, address: string): void {
    this.sets.get(set)!.delete(addressKey(address));
    this.version++;
  }

  /** Applies an nft batch (the subset of the syntax nft-accounting writes). */
  apply(script: string): void {
    this.scripts.push(script);
    this.version++;
    for (const line of script.split('; ')) {
      const el = /^(add|delete) element inet (\S+) (\S+) \{ (.*) \}$/.exec(line);
      if (el) {
        if (!this.tableExists || el[2] !== this.table) throw new Error(`no table ${el[2]}`);
        const set = this.sets.get(el[3] as SetName)!;
        for (const a of el[4].split(', ')) {
          if (el[1] === 'add') set.set(addressKey(a), { address: a, bytes: 0, packets: 0 });
          else if (!set.delete(addressKey(a))) throw new Error(`No such file or directory: element ${a}`);
        }
      } else if (line === `add table inet ${this.table}`) this.tableExists = true;
      else if (line === `delete table inet ${this.table}`) {
        this.tableExists = false;
        for (const s of this.sets.values()) s.clear();
      }
    }
  }

  private dump(seq: number, set: string): Buffer[] {
    if (this.cachedVersion !== this.version) {
      this.cache.clear();
      this.cachedVersion = this.version;
    }
    let d = this.cache.get(set);
    if (!d) {
      d = setElementsDump(0, this.table, set, [...this.sets.get(set as SetName)!.values()], this.perMessage);
      this.cache.set(set, d);
    }
    for (const part of d) part.writeUInt32LE(seq, 8); // the answer carries the request's sequence number
    return d;
  }

  /** The class NetlinkReader takes (its RawSocket interface): answers each request at once. */
  socketClass(): new () => { send(msg: Uint8Array, o: unknown, cb?: (e?: Error) => void): void; on(ev: string, fn: (m: Buffer) => void): void; close(): void; unref(): void } {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const kernel = this;
    return class {
      private listeners = new Map<string, (m: Buffer) => void>();
      on(ev: string, fn: (m: Buffer) => void) {
        this.listeners.set(ev, fn);
      }
      unref() {}
      close() {}
      send(msg: Uint8Array, _o: unknown, cb?: (e?: Error) => void) {
        const b = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
        const seq = LE ? b.readUInt32LE(8) : b.readUInt32BE(8);
        const type = LE ? b.readUInt16LE(4) : b.readUInt16BE(4);
        const onMessage = this.listeners.get('message')!;
        if (type === ((10 << 8) | 13)) {
          const set = b.toString('latin1', 48, b.indexOf(0, 48));
          if (!kernel.tableExists) {
            // NLMSG_ERROR, -ENOENT
            onMessage(nlmsg(2, 0, seq, Buffer.concat([u32(0xfffffffe), Buffer.from(b.subarray(0, 16))])));
          } else for (const part of kernel.dump(seq, set)) onMessage(part);
        } else onMessage(linkMessage(seq, kernel.iface, kernel.link.ifindex, kernel.link.rxBytes, kernel.link.txBytes));
        cb?.();
      }
    };
  }

  /** A runner for the `nft` commands the node runs: batches applied here, flowtables none. */
  runner(): CommandRunner {
    const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' }) as RunResult;
    return {
      run: async (argv) => {
        if (argv[0] === 'nft' && argv[1] === '-j' && argv[2] === 'list' && argv[3] === 'flowtables') return ok('{"nftables":[]}');
        if (argv[0] === 'nft' && argv[1] === 'delete' && argv[2] === 'table') {
          this.apply(`delete table inet ${argv[4]}`);
          return ok();
        }
        if (argv[0] === 'nft' && argv.length === 2) {
          try {
            this.apply(argv[1]);
            return ok();
          } catch (err) {
            return { exitCode: 1, stdout: '', stderr: `Error: ${(err as Error).message}` } as RunResult;
          }
        }
        throw new Error(`the stand-in kernel does not run ${argv.join(' ')}`);
      },
      watch: () => {
        throw new Error('not used');
      },
    };
  }
}
