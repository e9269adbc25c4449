/**
 * Where a Node-RED process's heap goes, from a V8 heap snapshot (`v8.writeHeapSnapshot`):
 * self sizes summed by class (as DevTools' Summary view groups them), and the objects that retain
 * the most (dominator tree, Cooper–Harvey–Kennedy, weak edges ignored, as DevTools does), each
 * with the edge that holds it. Used by the pipeline bench, offline, after Node-RED has stopped.
 */
import { readFileSync, statSync } from 'node:fs';

export interface ClassSize {
  name: string;
  count: number;
  selfBytes: number;
}

export interface Retainer {
  /** "Map", "OuiIndex", "(closure) tick", "(array)"… */
  what: string;
  /** How its dominator holds it: "<dominator> .<edge>" (or "[i]"). */
  heldBy: string;
  retainedBytes: number;
  selfBytes: number;
  /** Depth in the dominator tree (1: directly under the root). */
  depth: number;
}

export interface HeapSummary {
  fileBytes: number;
  nodes: number;
  totalBytes: number;
  classes: ClassSize[];
  retainers: Retainer[];
  /** The largest strings: their first characters and size. */
  strings: { start: string; bytes: number; count: number }[];
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Reads a snapshot (up to ~450 MB: V8's longest string) and summarises it. */
export function analyseHeapSnapshot(file: string, options: { topClasses?: number; topRetainers?: number; minRetainedBytes?: number; topStrings?: number } = {}): HeapSummary {
  const fileBytes = statSync(file).size;
  if (fileBytes > 450 * 2 ** 20) throw new Error(`heap snapshot of ${(fileBytes / 2 ** 20).toFixed(0)} MB: too large to read as one string`);
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const meta = snap.snapshot.meta;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const nType = meta.node_fields.indexOf('type');
  const nName = meta.node_fields.indexOf('name');
  const nSelf = meta.node_fields.indexOf('self_size');
  const nEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const WEAK = edgeTypes.indexOf('weak');
  const SHORTCUT = edgeTypes.indexOf('shortcut');
  /** DevTools' essential edges: not weak; a shortcut only from the root (it marks the user's globals). */
  const essential = (from: number, e: number) => edges[e + eType] !== WEAK && (edges[e + eType] !== SHORTCUT || from === 0);
  const strings = snap.strings;
  const count = snap.nodes.length / NF;
  const nodes = Int32Array.from(snap.nodes);
  const edges = Int32Array.from(snap.edges);
  snap.nodes = [];
  snap.edges = [];

  const firstEdge = new Int32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = firstEdge[i] + nodes[i * NF + nEdges] * EF;

  const className = (i: number): string => {
    const t = nodeTypes[nodes[i * NF + nType]];
    const name = strings[nodes[i * NF + nName]];
    switch (t) {
      case 'object':
      case 'native':
        return name;
      case 'closure':
        return `(closure)${name ? ' ' + name : ''}`;
      case 'string':
      case 'concatenated string':
      case 'sliced string':
        return '(string)';
      case 'code':
        return '(compiled code)';
      case 'array':
        return '(array)';
      case 'hidden':
      case 'object shape':
        return '(system)';
      case 'number':
        return '(heap number)';
      default:
        return `(${t})`;
    }
  };

  // self sizes by class; closures together
  const byClass = new Map<string, ClassSize>();
  let totalBytes = 0;
  for (let i = 0; i < count; i++) {
    const self = nodes[i * NF + nSelf];
    totalBytes += self;
    let name = className(i);
    if (name.startsWith('(closure)')) name = '(closure)';
    const c = byClass.get(name) ?? { name, count: 0, selfBytes: 0 };
    c.count++;
    c.selfBytes += self;
    byClass.set(name, c);
  }

  // the largest strings, alike ones (same first 60 characters) together
  const bigStrings = new Map<string, { start: string; bytes: number; count: number }>();
  for (let i = 0; i < count; i++) {
    const t = nodeTypes[nodes[i * NF + nType]];
    if (t !== 'string' && t !== 'concatenated string' && t !== 'sliced string') continue;
    const self = nodes[i * NF + nSelf];
    const start = strings[nodes[i * NF + nName]].slice(0, 60).replace(/\s+/g, ' ');
    const e = bigStrings.get(start) ?? { start, bytes: 0, count: 0 };
    e.bytes += self;
    e.count++;
    bigStrings.set(start, e);
  }
  const topStrings = [...bigStrings.values()].sort((a, b) => b.bytes - a.bytes).slice(0, options.topStrings ?? 12);
  bigStrings.clear();

  // DFS post-order from the root (node 0) over strong edges
  const post = new Int32Array(count).fill(-1); // node -> post-order number
  const order = new Int32Array(count); // post-order number -> node
  const visited = new Uint8Array(count);
  const stack = new Int32Array(count);
  const cursor = new Int32Array(count);
  let n = 0;
  let sp = 0;
  stack[sp++] = 0;
  visited[0] = 1;
  cursor[0] = firstEdge[0];
  while (sp > 0) {
    const v = stack[sp - 1];
    let pushed = false;
    while (cursor[v] < firstEdge[v + 1]) {
      const e = cursor[v];
      cursor[v] += EF;
      if (!essential(v, e)) continue;
      const w = edges[e + eTo] / NF;
      if (!visited[w]) {
        visited[w] = 1;
        cursor[w] = firstEdge[w];
        stack[sp++] = w;
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      sp--;
      post[v] = n;
      order[n++] = v;
    }
  }

  // predecessors (strong edges between reachable nodes), as CSR
  const predCount = new Int32Array(count + 1);
  for (let v = 0; v < count; v++) {
    if (post[v] < 0) continue;
    for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += EF) {
      if (!essential(v, e)) continue;
      predCount[edges[e + eTo] / NF + 1]++;
    }
  }
  for (let i = 0; i < count; i++) predCount[i + 1] += predCount[i];
  const preds = new Int32Array(predCount[count]);
  const fill = predCount.slice(0, count);
  for (let v = 0; v < count; v++) {
    if (post[v] < 0) continue;
    for (let e = firstEdge[v]; e < firstEdge[v + 1]; e += EF) {
      if (!essential(v, e)) continue;
      const w = edges[e + eTo] / NF;
      preds[fill[w]++] = v;
    }
  }

  // immediate dominators, by post-order number
  const idom = new Int32Array(n).fill(-1);
  const root = post[0];
  idom[root] = root;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (a < b) a = idom[a];
      while (b < a) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = n - 1; k >= 0; k--) {
      if (k === root) continue;
      const v = order[k];
      let d = -1;
      for (let p = predCount[v]; p < predCount[v + 1]; p++) {
        const u = post[preds[p]];
        if (u < 0 || idom[u] < 0) continue;
        d = d < 0 ? u : intersect(u, d);
      }
      if (d >= 0 && idom[k] !== d) {
        idom[k] = d;
        changed = true;
      }
    }
  }

  // retained sizes: a node's dominator finishes after it in the DFS
  const retained = new Float64Array(n);
  for (let k = 0; k < n; k++) retained[k] += nodes[order[k] * NF + nSelf];
  for (let k = 0; k < n; k++) if (k !== root && idom[k] >= 0) retained[idom[k]] += retained[k];
  const depthOf = (k: number) => {
    let d = 0;
    while (k !== root && idom[k] >= 0) {
      k = idom[k];
      d++;
    }
    return d;
  };

  const min = options.minRetainedBytes ?? 2 ** 20;
  const candidates: number[] = [];
  for (let k = 0; k < n; k++) if (k !== root && retained[k] >= min) candidates.push(k);
  candidates.sort((a, b) => retained[b] - retained[a]);
  const retainers: Retainer[] = candidates.slice(0, options.topRetainers ?? 40).map((k) => {
    const v = order[k];
    const d = order[idom[k]];
    let edge = '';
    for (let e = firstEdge[d]; e < firstEdge[d + 1]; e += EF) {
      if (edges[e + eTo] / NF !== v) continue;
      const t = edgeTypes[edges[e + eType]];
      const name = edges[e + eName];
      edge = t === 'element' || t === 'hidden' ? `[${name}]` : `.${strings[name]}`;
      break;
    }
    return { what: className(v), heldBy: `${className(d)} ${edge}`.trim(), retainedBytes: retained[k], selfBytes: nodes[v * NF + nSelf], depth: depthOf(k) };
  });

  const classes = [...byClass.values()].sort((a, b) => b.selfBytes - a.selfBytes).slice(0, options.topClasses ?? 25);
  return { fileBytes, nodes: count, totalBytes, classes, retainers, strings: topStrings };
}
