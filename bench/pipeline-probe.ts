/**
 * The pipeline bench's probe, loaded by the Node-RED under test as a node file of its user
 * directory (`<userDir>/nodes/equalnet-bench-probe.js`; the bench copies it there). It changes no
 * node: it watches the runtime's message hooks and answers three admin routes.
 *
 * - Ticks: a message the tick inject (`equalnet.tick`) sends is followed by its `_msgid`, which
 *   every EqualNet node keeps (`{ ...msg, … }`). For each node that receives it: when it received
 *   it (onReceive), when its input handler returned (postReceive) and when it called done()
 *   (onComplete; nodes with a two-argument handler never do, their time ends at postReceive).
 *   Times are performance.now() of this process, relative to the inject's send.
 * - GET  /equalnet-bench/ticks       the ticks begun more than 20 s ago (then forgotten here)
 * - GET  /equalnet-bench/through     { count }: ticks usage-store is done with (a test paces clicks by it)
 * - GET  /equalnet-bench/memory?gc=1 process.memoryUsage() and V8's heap spaces, after two full GCs when asked
 * - POST /equalnet-bench/heapsnapshot writes <userDir>/heap-<n>.heapsnapshot, answers its path
 * - POST /equalnet-bench/allocations?start=1, then POST /equalnet-bench/allocations: V8's sampling
 *   heap profile of everything allocated in between, collected since or not (what the garbage
 *   collector has to deal with), as the inspector gives it
 *
 * Its cost: one Map lookup per message event (sync hooks: Node-RED calls them on every message).
 */
import { Session } from 'node:inspector';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { getHeapSpaceStatistics, setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

const TICK_SOURCE = 'equalnet.tick';
const FINAL_AFTER_MS = 20_000;
const MAX_LIVE = 200;
/** The pipeline proper ends here: a tick is through once usage-store is done with it. */
const STORE_ID = 'equalnet.store';

interface HookMsg {
  _msgid?: string;
}
interface HookNode {
  id: string;
  type: string;
  name?: string;
  z?: string;
}
interface Red {
  hooks: { add(name: string, fn: (event: any) => void): void };
  httpAdmin: { get(path: string, fn: (req: any, res: any) => void): void; post(path: string, fn: (req: any, res: any) => void): void };
  nodes: { registerType(type: string, ctor: (this: unknown, config: unknown) => void): void; createNode(node: unknown, config: unknown): void };
  settings: { userDir?: string };
}

/** One node's part of one tick: ms since the tick's send. */
export interface NodeVisit {
  id: string;
  type: string;
  name: string;
  z: string;
  receivedMs: number;
  returnedMs: number | null;
  doneMs: number | null;
  /** Summed over the times it received this tick's message. */
  busyMs: number;
  receives: number;
}

export interface TickRecord {
  msgid: string;
  wallStart: number;
  nodes: NodeVisit[];
}

interface Live {
  start: number;
  wallStart: number;
  visits: Map<string, NodeVisit>;
}

function probe(RED: Red): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const live = new Map<string, Live>();
  let through = 0;
  /** The receive time of a message object a node is handling (the hooks pass the same object). */
  const receivedAt = new WeakMap<object, { at: number; node: string }>();

  const visit = (msg: HookMsg, node: HookNode | undefined, id: string): { tick: Live; v: NodeVisit } | null => {
    const tick = msg?._msgid ? live.get(msg._msgid) : undefined;
    if (!tick) return null;
    let v = tick.visits.get(id);
    if (!v) {
      v = { id, type: node?.type ?? '?', name: node?.name ?? '', z: node?.z ?? '', receivedMs: performance.now() - tick.start, returnedMs: null, doneMs: null, busyMs: 0, receives: 0 };
      tick.visits.set(id, v);
    }
    return { tick, v };
  };

  RED.hooks.add('onSend.equalnetBench', (events: { msg: HookMsg; source: { id: string } }[]) => {
    for (const e of events) {
      if (e.source?.id !== TICK_SOURCE || !e.msg?._msgid || live.has(e.msg._msgid)) continue;
      if (live.size >= MAX_LIVE) live.delete(live.keys().next().value as string);
      live.set(e.msg._msgid, { start: performance.now(), wallStart: Date.now(), visits: new Map() });
    }
  });
  RED.hooks.add('onReceive.equalnetBench', (e: { msg: HookMsg; destination: { id: string; node?: HookNode } }) => {
    const found = visit(e.msg, e.destination.node, e.destination.id);
    if (!found) return;
    found.v.receives++;
    receivedAt.set(e.msg as object, { at: performance.now(), node: e.destination.id });
  });
  RED.hooks.add('postReceive.equalnetBench', (e: { msg: HookMsg; destination: { id: string; node?: HookNode } }) => {
    const found = visit(e.msg, e.destination.node, e.destination.id);
    if (!found) return;
    const now = performance.now();
    found.v.returnedMs = now - found.tick.start;
    const r = receivedAt.get(e.msg as object);
    // a node that never calls done(): its time is its handler's
    if (r && r.node === e.destination.id && (e.destination.node as { _expectedDoneCount?: number } | undefined)?._expectedDoneCount === 0) {
      found.v.busyMs += now - r.at;
      receivedAt.delete(e.msg as object);
    }
  });
  RED.hooks.add('onComplete.equalnetBench', (e: { msg: HookMsg; node: { id: string; node?: HookNode } }) => {
    const found = visit(e.msg, e.node.node, e.node.id);
    if (!found) return;
    const now = performance.now();
    found.v.doneMs = now - found.tick.start;
    if (e.node.id === STORE_ID) through++;
    const r = receivedAt.get(e.msg as object);
    if (r && r.node === e.node.id) {
      found.v.busyMs += now - r.at;
      receivedAt.delete(e.msg as object);
    }
  });

  RED.httpAdmin.get('/equalnet-bench/through', (_req, res) => {
    res.json({ count: through });
  });
  RED.httpAdmin.get('/equalnet-bench/ticks', (_req, res) => {
    const now = performance.now();
    const out: TickRecord[] = [];
    for (const [msgid, tick] of live) {
      if (now - tick.start < FINAL_AFTER_MS) continue;
      out.push({ msgid, wallStart: tick.wallStart, nodes: [...tick.visits.values()] });
      live.delete(msgid);
    }
    res.json(out);
  });
  RED.httpAdmin.get('/equalnet-bench/memory', (req, res) => {
    if (req.query?.gc === '1') {
      gc();
      gc();
    }
    // and V8's heap by space: what each has committed (its share of the RSS) and what lives in it
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, { committed: x.physical_space_size, used: x.space_used_size }]));
    res.json({ ...process.memoryUsage(), spaces });
  });
  let snapshots = 0;
  RED.httpAdmin.post('/equalnet-bench/heapsnapshot', (_req, res) => {
    gc();
    const file = writeHeapSnapshot(join(RED.settings.userDir ?? '.', `heap-${++snapshots}.heapsnapshot`));
    res.json({ file });
  });

  let session: Session | null = null;
  const post = (method: string, params?: object) =>
    new Promise<any>((resolve, reject) => session!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));
  RED.httpAdmin.post('/equalnet-bench/allocations', (req, res) => {
    const work = async () => {
      if (req.query?.start === '1') {
        session?.disconnect();
        session = new Session();
        session.connect();
        await post('HeapProfiler.enable');
        // 32 kB between samples; objects the collector freed stay in the profile
        await post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
        return { started: true };
      }
      if (!session) throw new Error('not started');
      const { profile } = await post('HeapProfiler.stopSampling');
      session.disconnect();
      session = null;
      return profile;
    };
    work().then(
      (body) => res.json(body),
      (err: Error) => res.status(500).json({ error: err.message }),
    );
  });

  // a type of its own, so Node-RED lists the file as a node set; never placed in a flow
  RED.nodes.registerType('equalnet-bench-probe', function (this: unknown, config: unknown) {
    RED.nodes.createNode(this, config);
  });
}

// Node-RED requires the file and calls what it exports with RED
module.exports = probe;
