/**
 * Reading counters over netlink sockets of this process, with the `netlink` package's native
 * socket (prebuilt for linux x64/arm/arm64/ia32, N-API, an optional dependency). Messages are
 * built and parsed in core/netlink-codec.ts. Only reads: the table is still created and changed
 * by `nft` batches, which are rare (clients joining or leaving).
 *
 * A socket sees the network namespace of the process: this reader is for Node-RED running on the
 * router itself. With a node's "namespace" setting (lab, demo) the commands run through
 * `ip netns exec` instead and this reader is not used.
 */
import type { KernelReader } from '../core/meter/kernel-reader';
import { InterfaceMissingError, type IfaceCounters } from '../core/meter/iface-stats';
import {
  errnoOf,
  getLinkRequest,
  messageOf,
  neighbourEntryOf,
  newMessageView,
  walkMessages,
  getNeighboursRequest,
  getSetElementsRequest,
  NETLINK_NETFILTER,
  NETLINK_ROUTE,
  NLM_F_DUMP_INTR,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseLink,
  SetElements,
  type MessageView,
  type NeighbourEntry,
} from '../core/meter/netlink-codec';
import type { ElementCounter, SetName, TableCounters } from '../core/meter/nft-accounting';

/** The part of netlink's RawNetlinkSocket used here (its own typings pull in @types/node 12). */
interface RawSocket {
  send(msg: Uint8Array, options?: { port?: number }, callback?: (error?: Error) => void): void;
  on(event: 'message' | 'truncatedMessage', listener: (msg: Buffer) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  close(): void;
  unref(): void;
}
type RawSocketClass = new (protocol: number, options?: { messagePeeking?: boolean; msgBufferSize?: number }) => RawSocket;

/**
 * Each datagram is read into a buffer of its own size (the socket peeks at the size first). The
 * native socket allocates a new buffer per datagram outside V8's heap, freed only when its Buffer
 * is collected: with a fixed 64 KiB buffer that was 576 kB a tick at 250 dual-stack clients
 * (9 datagrams) for 66 kB received, 960 kB at 1,000. Peeking: 67 / 264 kB. The kernel then sends
 * a dump in smaller parts (25 datagrams a tick at 250 clients, 79 at 1,000); the read took the same
 * time at 250 (0.93 against 0.96 ms) and 3.2 against 2.7 ms at 1,000 (issue 17, measured in a
 * namespace). No datagram is ever truncated.
 */

/** Errno values the reader acts on. */
const ENOENT = 2;
const EPERM = 1;
const ENODEV = 19;

export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    what: string,
  ) {
    super(`${what}: ${errno === EPERM ? 'not permitted (needs root or CAP_NET_ADMIN)' : `errno ${errno}`}`);
    this.name = 'NetlinkError';
  }
}

let socketClass: RawSocketClass | null | undefined;
let loadProblem = '';

function loadSocketClass(): RawSocketClass | null {
  if (socketClass !== undefined) return socketClass;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    socketClass = (require('netlink') as { RawNetlinkSocket: RawSocketClass }).RawNetlinkSocket;
  } catch (err) {
    socketClass = null;
    loadProblem = (err as Error).message.split('\n')[0];
  }
  return socketClass;
}

interface Pending {
  /** Returns true when the request is complete. The view is valid during the call only. */
  onMessage(msg: MessageView): boolean;
  resolve(): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** One socket, one request at a time (a netlink socket runs one dump at a time). */
class Channel {
  private readonly socket: RawSocket;
  private seq = (Math.random() * 0x7fffffff) >>> 0;
  private pending: { seq: number; p: Pending } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private broken: Error | null = null;
  private readonly view = newMessageView();
  /** The request whose answer is being walked. */
  private current: { seq: number; p: Pending } | null = null;
  private readonly visit = (msg: MessageView): boolean => msg.seq === this.current!.seq && this.current!.p.onMessage(msg);

  constructor(Socket: RawSocketClass, protocol: number) {
    this.socket = new Socket(protocol, { messagePeeking: true });
    this.socket.unref(); // a reader never keeps Node-RED from exiting
    this.socket.on('message', (datagram) => this.receive(datagram));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('truncatedMessage', () => this.fail(new Error('netlink: a datagram was truncated')));
  }

  private fail(err: Error): void {
    this.broken = err;
    const p = this.pending?.p;
    this.pending = null;
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
  }

  private receive(datagram: Buffer): void {
    const current = this.pending;
    if (!current) return; // a late answer to a request that timed out
    try {
      // messages read in place: a neighbour dump is one message per entry
      this.current = current;
      if (walkMessages(datagram, this.view, this.visit)) {
        this.pending = null;
        clearTimeout(current.p.timer);
        current.p.resolve();
      }
    } catch (err) {
      this.pending = null;
      clearTimeout(current.p.timer);
      current.p.reject(err as Error);
    } finally {
      this.current = null;
    }
  }

  /** Sends what `build(seq)` makes; `onMessage` sees each answer until it returns true. */
  request(build: (seq: number) => Buffer, onMessage: (msg: MessageView) => boolean, timeoutMs = 2000): Promise<void> {
    const run = () =>
      new Promise<void>((resolve, reject) => {
        if (this.broken) return reject(this.broken);
        this.seq = (this.seq + 1) >>> 0;
        const seq = this.seq;
        const timer = setTimeout(() => this.fail(new Error(`netlink: no answer within ${timeoutMs} ms`)), timeoutMs);
        this.pending = { seq, p: { onMessage, resolve, reject, timer } };
        this.socket.send(build(seq), { port: 0 }, (err) => {
          if (err) this.fail(err);
        });
      });
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.fail(new Error('netlink reader closed'));
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/** Answers of a dump: true at NLMSG_DONE, throws on NLMSG_ERROR. */
function dumpStep(what: string, onData: (msg: MessageView) => void, interrupted: () => void) {
  return (msg: MessageView): boolean => {
    if (msg.type === NLMSG_DONE) return true;
    if (msg.type === NLMSG_ERROR) {
      const errno = errnoOf(messageOf(msg));
      if (errno === 0) return true;
      throw new NetlinkError(errno, what);
    }
    if (msg.flags & NLM_F_DUMP_INTR) interrupted();
    onData(msg);
    return false;
  };
}

export class NetlinkReader implements KernelReader {
  readonly via = 'netlink' as const;
  private readonly nft: Channel;
  private readonly route: Channel;

  constructor(Socket: RawSocketClass) {
    this.nft = new Channel(Socket, NETLINK_NETFILTER);
    this.route = new Channel(Socket, NETLINK_ROUTE);
  }

  /**
   * Each set's elements, kept from one read to the next (their strings and counters are reused):
   * the maps readSets returns are these, valid until the next readSets. Bounded: our four sets.
   */
  private readonly kept = new Map<string, SetElements>();

  private keptFor(table: string, set: SetName): SetElements {
    const name = `${table} ${set}`;
    let kept = this.kept.get(name);
    if (!kept) {
      if (this.kept.size >= 8) this.kept.clear(); // another table: the node was reconfigured
      kept = new SetElements();
      this.kept.set(name, kept);
    }
    return kept;
  }

  private async readSet(table: string, set: SetName): Promise<Map<string, ElementCounter> | null> {
    const elements = this.keptFor(table, set);
    for (let attempt = 0; ; attempt++) {
      let interrupted = false;
      elements.begin();
      try {
        await this.nft.request(
          (seq) => getSetElementsRequest(seq, table, set),
          dumpStep(`nf_tables: elements of ${table} ${set}`, (m) => elements.add(m), () => (interrupted = true)),
        );
      } catch (err) {
        if (err instanceof NetlinkError && err.errno === ENOENT) return null; // table or set gone
        throw err;
      }
      // the ruleset changed during the dump (our own sync, say): read again for a consistent view
      if (!interrupted || attempt >= 2) {
        elements.end();
        return elements.counters;
      }
    }
  }

  /** The counters of `sets`: maps this reader keeps and updates at its next readSets (read them before). */
  async readSets(table: string, sets: readonly SetName[]): Promise<TableCounters | null> {
    const out = {} as TableCounters;
    for (const set of sets) {
      const elements = await this.readSet(table, set);
      if (!elements) return null;
      out[set] = elements;
    }
    return out;
  }

  async readLink(iface: string): Promise<IfaceCounters> {
    let link: IfaceCounters | null = null;
    try {
      await this.route.request(
        (seq) => getLinkRequest(seq, iface),
        (msg) => {
          if (msg.type === NLMSG_ERROR) {
            const errno = errnoOf(messageOf(msg));
            if (errno !== 0) throw new NetlinkError(errno, `link ${iface}`);
            return link !== null;
          }
          link = parseLink(messageOf(msg), iface);
          return true;
        },
      );
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === ENODEV) throw new InterfaceMissingError(iface);
      throw err;
    }
    if (!link) throw new Error(`interface ${iface}: netlink gave no answer`);
    return link;
  }

  /**
   * The neighbour entries of `iface`, IPv4 and IPv6, as `ip -j -s neigh show dev IFACE` prints
   * them (discover/neighbours.ts judges them). A dump is consistent per message, not as a whole:
   * as `ip` does, it is read once even when the table changed meanwhile.
   */
  async readNeighbours(iface: string): Promise<NeighbourEntry[]> {
    const { ifindex } = await this.readLink(iface);
    const entries: NeighbourEntry[] = [];
    await this.route.request(
      (seq) => getNeighboursRequest(seq, ifindex),
      dumpStep(`neighbours of ${iface}`, (m) => {
        const entry = neighbourEntryOf(m, ifindex);
        if (entry) entries.push(entry);
      }, () => undefined),
    );
    return entries;
  }

  close(): void {
    this.nft.close();
    this.route.close();
  }
}

/**
 * A reader over this process's own netlink sockets, or why there is none (the optional `netlink`
 * package is not installed or its native part does not load on this platform).
 */
export function openNetlinkReader(): { reader: NetlinkReader; problem: null } | { reader: null; problem: string } {
  const Socket = loadSocketClass();
  if (!Socket) return { reader: null, problem: `the netlink package did not load (${loadProblem})` };
  try {
    return { reader: new NetlinkReader(Socket), problem: null };
  } catch (err) {
    return { reader: null, problem: `no netlink socket (${(err as Error).message})` };
  }
}
