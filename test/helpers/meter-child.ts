/**
 * iface-counter's counting core in a process of its own, so that a test can run it inside a
 * network namespace it created (`ip netns exec NS node meter-child.js IFACE`), the way Node-RED runs
 * on a router: the netlink reader's sockets then see that namespace. Driven by JSON lines:
 *
 *   → {"id":1,"op":"tick","payload":{snapshot}}   ← {"id":1,"result":{metered snapshot}}
 *   → {"id":2,"op":"compare"}                      ← {"id":2,"result":{"netlink":…,"commands":…,"netlinkAfter":…}}
 *   → {"id":3,"op":"neighbours"}                   ← {"id":3,"result":{"netlink":[…],"commands":[…],"netlinkAfter":[…]}}
 *     (arp-discover's neighbour table: the netlink reader's entries, `ip -j -s neigh show dev IFACE`'s)
 *   → {"id":4,"op":"close"}                        ← {"id":4,"result":null}, then exits
 *
 * With --unprivileged it drops to nobody (no capabilities) after loading its modules.
 *
 * Errors come back as {"id":…,"error":"message"}. The `MeterChild` class is the test's side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { commandReader, type KernelReader } from '../../nodes/core/meter/kernel-reader';
import { MeteringCore } from '../../nodes/core/meter/metering';
import { SET_NAMES, tableNameFor } from '../../nodes/core/meter/nft-accounting';
import { processRunner } from '../../nodes/lib/process-runner';
import { openNetlinkReader } from '../../nodes/lib/netlink-reader';

interface Request {
  id: number;
  op: 'tick' | 'compare' | 'neighbours' | 'close';
  payload?: unknown;
}

async function serve(iface: string, unprivileged: boolean): Promise<void> {
  const opened = openNetlinkReader();
  if (!opened.reader) throw new Error(opened.problem);
  if (unprivileged) {
    // as a Node-RED run by an ordinary user: modules loaded first (as root), then uid/gid
    // nobody, which also drops every capability; the commands it starts inherit that
    await processRunner.run(['true']);
    process.setgroups!([]);
    process.setgid!(65534);
    process.setuid!(65534);
  }
  const core = new MeteringCore({ iface, perClient: true, smoothingS: 0 }, { runner: processRunner, reader: opened.reader, now: () => performance.now() });
  await core.start();
  const write = (line: object) => process.stdout.write(JSON.stringify(line) + '\n');
  createInterface({ input: process.stdin }).on('line', (line) => {
    const req = JSON.parse(line) as Request;
    const work = async () => {
      if (req.op === 'tick') return core.tick(req.payload);
      if (req.op === 'neighbours') {
        const reader = opened.reader!;
        const netlink = await reader.readNeighbours(iface);
        const commands = JSON.parse((await processRunner.run(['ip', '-j', '-s', 'neigh', 'show', 'dev', iface])).stdout) as unknown[];
        const netlinkAfter = await reader.readNeighbours(iface);
        return { netlink, commands, netlinkAfter };
      }
      if (req.op === 'compare') {
        // both readers on the same counters, one right after the other
        const table = tableNameFor(iface);
        const fresh = openNetlinkReader().reader!;
        const read = async (r: KernelReader) => {
          const sets = await r.readSets(table, SET_NAMES);
          const link = await r.readLink(iface);
          return { sets: sets && Object.fromEntries(SET_NAMES.map((s) => [s, Object.fromEntries([...sets[s]].sort())])), link };
        };
        try {
          // netlink, the commands, netlink again: the link's own chatter (router solicitations, MLD)
          // may pass between two reads, so the commands' figures must lie between the two netlink ones
          const netlink = await read(fresh);
          const commands = await read(commandReader(processRunner));
          const netlinkAfter = await read(fresh);
          return { netlink, commands, netlinkAfter };
        } finally {
          fresh.close();
        }
      }
      await core.close();
      setImmediate(() => process.exit(0));
      return null;
    };
    // ticks are queued by the core itself, one after the other
    work().then(
      (result) => write({ id: req.id, result }),
      (err: Error) => write({ id: req.id, error: err.message }),
    );
  });
}

/** The test's side: starts the child inside `netns` and sends it requests. */
export class MeterChild {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stderr = '';

  constructor(netns: string, iface: string, options: { unprivileged?: boolean } = {}) {
    const argv = ['netns', 'exec', netns, process.execPath, __filename, iface, ...(options.unprivileged ? ['--unprivileged'] : [])];
    this.child = spawn('ip', argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const answer = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      const w = this.waiting.get(answer.id);
      this.waiting.delete(answer.id);
      if (answer.error !== undefined) w?.reject(new Error(answer.error));
      else w?.resolve(answer.result);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`meter child exited (${code}): ${this.stderr.trim()}`));
      this.waiting.clear();
    });
  }

  request<T>(op: Request['op'], payload?: unknown): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin!.write(JSON.stringify({ id, op, payload }) + '\n');
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await this.request('close').catch(() => undefined);
    await exited;
  }
}

if (require.main === module) {
  serve(process.argv[2], process.argv.includes('--unprivileged')).catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
