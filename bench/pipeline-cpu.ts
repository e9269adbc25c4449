/**
 * Where a Node-RED process's CPU goes, from a V8 CPU profile (`node --cpu-prof`): self time of the
 * samples taken in a window, by where the code lives (a package of node_modules, a file of
 * EqualNet's nodes, Node's internals, the garbage collector) and by function. The window is given
 * in CLOCK_MONOTONIC microseconds, the clock of the profile's timestamps and of
 * process.hrtime.bigint() in any process of the machine.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface CpuShare {
  what: string;
  ms: number;
  /** Of the busy (not idle) time in the window. */
  percent: number;
}

export interface CpuSummary {
  windowMs: number;
  busyMs: number;
  byPlace: CpuShare[];
  byFunction: CpuShare[];
  /**
   * Inclusive: each sample given to the innermost node on its stack (an EqualNet node's file or
   * its stage's core files, a Node-RED core node's, a function node's code), so a node's share
   * includes what Node-RED does inside its send() (cloning the message for each extra wire happens
   * there). Work resumed from a child process's output (child_process, its streams) has no node on its
   * stack until it reaches the node's own code.
   */
  byNode: CpuShare[];
  /**
   * Inclusive: time in deep copies of messages (lodash.clonedeep, which Node-RED's cloneMessage
   * is), by the first frame outside lodash and Node-RED's util that asked for the copy.
   */
  clonesBy: CpuShare[];
}

/** nodes/core/<stage>/: the node whose work it is (contract/ and the runner are everybody's). */
const STAGE_NODE: Record<string, string> = {
  discover: 'arp-discover',
  meter: 'iface-counter',
  allocate: 'priority-allocator',
  shape: 'tc-shaper',
  store: 'usage-store',
  alerts: 'alert-rule',
  api: 'equalnet-api',
};

/** The node a frame belongs to, if it is a node's own file: "usage-store", "debug", "function node [device rows]". */
function nodeOf(frame: CallFrame): string | null {
  const url = frame.url;
  const own = /\/nodes\/([a-z-]+)\.js$/.exec(url);
  if (own && !url.includes('/nodes/core/') && !url.includes('/nodes/lib/')) return own[1];
  // a node's core, running after an await (its node file is no longer on the stack)
  const stage = /\/nodes\/core\/([a-z]+)\//.exec(url)?.[1];
  if (stage && STAGE_NODE[stage]) return STAGE_NODE[stage];
  const core = /@node-red\/nodes\/core\/[a-z]+\/\d+-([a-z-]+)\.js$/.exec(url);
  if (core) return `${core[1]} (Node-RED)`;
  const dash = /node-red-dashboard\/nodes\/ui_([a-z_]+)\.js$/.exec(url);
  if (dash) return `ui_${dash[1]} (dashboard)`;
  if (url.startsWith('Function node:')) return `function node${url.replace(/^Function node:[^ ]*/, '')}`;
  return null;
}

/** Where a frame's code lives: "better-sqlite3", "@node-red/runtime", "nodes/core/store/ingest.js", "node:child_process"… */
export function placeOf(frame: CallFrame, projectRoot: string): string {
  const url = frame.url.replace(/^file:\/\//, '');
  if (!url) return frame.functionName.startsWith('(') ? frame.functionName : '(native / builtin)';
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/')[0];
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    // this package, linked into the user directory
    if (pkg === 'node-red-contrib-equalnet') return `equalnet ${rest.slice(1).join('/')}`;
    return pkg;
  }
  if (url.startsWith(projectRoot + '/')) return `equalnet ${url.slice(projectRoot.length + 1)}`;
  if (url.endsWith('equalnet-bench-probe.js')) return '(the bench probe)';
  return url.length > 60 ? `…${url.slice(-60)}` : url;
}

export function analyseCpuProfile(file: string, fromUs: number, toUs: number, projectRoot: string, top = 15): CpuSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownerCache = new Map<number, string>();
  const ownerOf = (id: number): string => {
    const cached = ownerCache.get(id);
    if (cached !== undefined) return cached;
    const own = byId.get(id)!.callFrame.functionName;
    let owner = own === '(garbage collector)' || own === '(program)' ? own : '(no node on the stack: runtime, timers, HTTP, sockets)';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = nodeOf(byId.get(at)!.callFrame);
      if (name) {
        owner = name;
        break;
      }
    }
    ownerCache.set(id, owner);
    return owner;
  };
  const clonerCache = new Map<number, string | null>();
  /** The frame that asked for a deep copy, if sample `id` is inside one. */
  const clonerOf = (id: number): string | null => {
    const cached = clonerCache.get(id);
    if (cached !== undefined) return cached;
    let inClone = false;
    let cloner: string | null = null;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      const p = placeOf(f, projectRoot);
      if (p === 'lodash.clonedeep') inClone = true;
      else if (inClone && p !== '@node-red/util') {
        cloner = `${f.functionName || '(anonymous)'} ${p}${f.url ? `:${f.lineNumber + 1}` : ''}`;
        break;
      }
    }
    clonerCache.set(id, cloner);
    return cloner;
  };
  const clones = new Map<string, number>();
  const node = new Map<string, number>();
  const place = new Map<string, number>();
  const fn = new Map<string, number>();
  let windowUs = 0;
  let busyUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    // a sample stands for the time until the next one
    const dt = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
    if (t < fromUs || t >= toUs) continue;
    windowUs += dt;
    const frame = byId.get(profile.samples[i])?.callFrame;
    if (!frame || frame.functionName === '(idle)') continue;
    busyUs += dt;
    const p = placeOf(frame, projectRoot);
    place.set(p, (place.get(p) ?? 0) + dt);
    const name = `${frame.functionName || '(anonymous)'} ${p}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    fn.set(name, (fn.get(name) ?? 0) + dt);
    const o = ownerOf(profile.samples[i]);
    node.set(o, (node.get(o) ?? 0) + dt);
    const c = clonerOf(profile.samples[i]);
    if (c) clones.set(c, (clones.get(c) ?? 0) + dt);
  }
  const shares = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([what, us]) => ({ what, ms: us / 1000, percent: busyUs > 0 ? (us / busyUs) * 100 : 0 }));
  return { windowMs: windowUs / 1000, busyMs: busyUs / 1000, byPlace: shares(place), byFunction: shares(fn), byNode: shares(node), clonesBy: shares(clones) };
}

interface SamplingNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SamplingNode[];
}

export interface AllocationSummary {
  totalBytes: number;
  /** By the innermost node on the stack when the object was made (as byNode above). */
  byNode: { what: string; bytes: number; percent: number }[];
  byFunction: { what: string; bytes: number; percent: number }[];
}

/**
 * What a window allocated (V8's sampling heap profile, objects collected since included): the
 * garbage collector's work, by the node that made it and by function.
 */
export function analyseAllocations(head: SamplingNode, projectRoot: string, top = 15): AllocationSummary {
  const byNode = new Map<string, number>();
  const byFn = new Map<string, number>();
  let total = 0;
  // a builtin (Object.assign, Map#set, an iterator's next) is named with the function that called it
  const walk = (n: SamplingNode, owner: string | null, caller: string) => {
    const own = nodeOf(n.callFrame) ?? owner;
    const p = placeOf(n.callFrame, projectRoot);
    const name = `${n.callFrame.functionName || '(anonymous)'} ${p}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    const f = n.callFrame.url ? name : `${name} ← ${caller}`;
    if (n.selfSize > 0) {
      total += n.selfSize;
      const o = own ?? '(no node on the stack: runtime, timers, HTTP, sockets)';
      byNode.set(o, (byNode.get(o) ?? 0) + n.selfSize);
      byFn.set(f, (byFn.get(f) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, own, n.callFrame.url ? name : caller);
  };
  walk(head, null, '(runtime)');
  const shares = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([what, bytes]) => ({ what, bytes, percent: total > 0 ? (bytes / total) * 100 : 0 }));
  return { totalBytes: total, byNode: shares(byNode), byFunction: shares(byFn) };
}
