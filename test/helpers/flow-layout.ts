// Layout rules for the shipped flows (flows/default.json, examples/*.json): what makes a Node-RED
// flow hard to read, checked from the flow JSON alone. layoutProblems() returns one line per
// problem, naming the nodes; docs/default-flow.md explains the rules and their thresholds.
//
// Geometry as Node-RED 4.1's editor draws it (packages/node_modules/@node-red/editor-client/src/js/
// ui/view.js: node_width = 100, node_height = 30, calculateNodeDimensions, generateLinkPath):
// - a node's (x, y) is its centre;
// - label shown: width = max(100, 20 * ceil((labelWidth + 50 + 7) / 20)), the 7 only for a node
//   with an input (counted for every type not known to have none, which errs towards wider),
//   height = max(30, 6 + 24 * lines, outputs * 15);
// - label hidden (`l: false`, and link in / link out unless `l: true`): width 30, height
//   max(30, outputs * 15);
// - a wire leaves output port i of n at (x + w/2, y - (n-1)/2 * 13 + 13 * i), enters at
//   (x - w/2, y) and is a cubic Bézier (generateLinkPath);
// - inject and debug draw their button beside the node (25 px left, 26 px right), and a node's
//   status (dot and text, 9pt) sits from 3 px under it, about 15 px high.
// The label is what the node's `label` function gives (EqualNet's: nodes/*.html with the texts of
// nodes/locales/en-US/*.json; Node-RED's core nodes, node-red-dashboard, node-red-node-email: their
// HTML, in English), else the type. The browser measures it in 14px
// "Helvetica Neue", Arial, Helvetica, sans-serif; here it is estimated from the advance widths of
// the widest of those fonts a user may get (Helvetica / Arial, or DejaVu Sans on Linux), a full em
// for any other character, plus 0.5 px (the editor rounds): not narrower than drawn, so an overlap
// or a backward wire is not missed. (A flat 7.5 px a character, the obvious estimate, comes out
// narrower than DejaVu Sans draws 14 of the default flow's 82 labels.) Checked in Chromium against
// the editor itself: on DejaVu Sans every node of the default flow came out as wide as drawn, or
// (5 of 82, a label a fraction of a pixel from a 20 px step) one step wider.

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  g?: string;
  x?: number;
  y?: number;
  w?: number;
  h?: number;
  name?: string;
  wires?: string[][];
  links?: string[];
  nodes?: string[];
  l?: boolean;
  outputs?: number;
  [key: string]: unknown;
}

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export interface LayoutOptions {
  /** At most this many wires leave one output port (rule "fan-out"). */
  maxFanOut: number;
  /** A node and the nodes it is wired to may spread this far vertically, in px (rule "fan-out"). */
  maxFanSpan: number;
  /** Free space kept under a node that shows a status, in px (rule "status"). */
  statusClearance: number;
}

export const DEFAULT_OPTIONS: LayoutOptions = { maxFanOut: 8, maxFanSpan: 600, statusClearance: 20 };

const NODE_WIDTH = 100;
const NODE_HEIGHT = 30;
const PORT_SPACING = 13;
const BUTTON_WIDTH = 26;

/**
 * Advance widths (1/1000 em) for ASCII 32..126: per character the wider of Helvetica (its AFM;
 * Arial's are the same) and DejaVu Sans (what "Helvetica Neue, Arial, Helvetica, sans-serif" falls
 * back to on a Linux desktop without them, measured in Chromium): the editor's font on macOS,
 * Windows and Linux takes no more room than this.
 */
// prettier-ignore
const ADVANCE = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, // space ! " # $ % & ' ( ) * + , - . /
  636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 556, // 0-9 : ; < = > ?
  1015, 684, 686, 722, 770, 667, 611, 778, 752, 295, 500, 667, 557, 863, 748, 787, // @ A-O
  667, 787, 722, 667, 611, 732, 684, 989, 685, 667, 685, 390, 337, 390, 838, 556, // P-Z [ \ ] ^ _
  500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, // ` a-o
  635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838, // p-z { | } ~
];
const FONT_PX = 14;
const ROUNDING_PX = 0.5; // the editor measures a span's offsetWidth: rounded to a whole number

/** The width a line of label text takes at 14px, estimated from above (see the header). */
export function textWidth(text: string): number {
  const chars = [...text];
  let em = 0;
  for (const c of chars) {
    const code = c.codePointAt(0)!;
    em += code >= 32 && code <= 126 ? ADVANCE[code - 32] : 1000; // anything else: a full em
  }
  return (em / 1000) * FONT_PX + ROUNDING_PX;
}

/** Label lines as the editor splits them (a literal "\n " in the label), white space collapsed as in HTML. */
export function labelLines(label: string): string[] {
  return label.split(/\\n /).map((line) => line.replace(/\s+/g, ' ').trim());
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

/** "text", "chart", ... unless the dashboard label is a template ({{...}}). */
const dashboardLabel = (n: FlowNode, fallback: string): string => {
  const label = str(n.label);
  return str(n.name) || (label.includes('{{') ? '' : label) || fallback;
};

function injectLabel(n: FlowNode): string {
  let suffix = '';
  if (n.once) suffix = ' ¹';
  if ((n.repeat && Number(n.repeat) !== 0) || n.crontab) suffix = '\t↻';
  if (n.name) return str(n.name) + suffix;
  const payload = str(n.payload);
  const payloadType = str(n.payloadType) || 'str';
  const topic = str(n.topic);
  if (['string', 'str', 'num', 'bool', 'json'].includes(payloadType)) {
    if (topic !== '' && topic.length + payload.length <= 32) return `${topic}:${payload}${suffix}`;
    if (payload.length > 0 && payload.length < 24) return payload + suffix;
    return 'inject' + suffix;
  }
  const typeLabel: Record<string, string> = { date: 'timestamp', bin: 'buffer', env: 'env variable' };
  if (typeLabel[payloadType]) return (topic !== '' && topic.length <= 16 ? `${topic}:` : '') + typeLabel[payloadType] + suffix;
  if (payloadType === 'flow' || payloadType === 'global') return `${payloadType}.${payload}${suffix}`;
  return 'inject' + suffix;
}

function changeLabel(n: FlowNode): string {
  if (n.name) return str(n.name);
  const rules = Array.isArray(n.rules) ? (n.rules as Array<{ t?: string; p?: string; pt?: string }>) : [];
  if (rules.length === 1) {
    const verb: Record<string, string> = { set: 'set', change: 'change', move: 'move' };
    return `${verb[rules[0].t ?? ''] ?? 'delete'} ${rules[0].pt || 'msg'}.${rules[0].p ?? ''}`;
  }
  if (rules.length > 1) return `change: ${rules.length} rules`;
  return `set msg.${str(n.property)}`;
}

function debugLabel(n: FlowNode): string {
  const suffix = n.console === true || n.console === 'true' ? '\t⇲' : '';
  if (n.targetType === 'jsonata') return (str(n.name) || 'JSONata') + suffix;
  if (n.complete === true || n.complete === 'true') return (str(n.name) || 'msg') + suffix;
  return (str(n.name) || 'msg.' + (!n.complete || n.complete === 'false' ? 'payload' : str(n.complete))) + suffix;
}

/**
 * The labels the editor shows, per type: the `label` functions of the nodes' HTML. EqualNet's own
 * (nodes/*.html) are checked against their HTML by test/unit/flow-layout.spec.ts.
 */
const LABELS: Record<string, (n: FlowNode) => string> = {
  // EqualNet (nodes/*.html)
  'alert-rule': (n) => str(n.name) || (str(n.rule) || 'alert').replace(/_/g, ' '),
  'arp-discover': (n) => str(n.name) || 'arp discover',
  'equalnet-api': (n) => str(n.name) || 'EqualNet API ' + (str(n.basePath) || '/api'),
  'iface-counter': (n) => str(n.name) || 'iface counter',
  'priority-allocator': (n) => str(n.name) || 'priority allocator',
  'tc-shaper': (n) => str(n.name) || 'tc shaper',
  'usage-store': (n) => str(n.name) || 'usage store',
  // Node-RED core (@node-red/nodes/core/**/*.html, English messages)
  inject: injectLabel,
  debug: debugLabel,
  change: changeLabel,
  switch: (n) => str(n.name) || 'switch',
  function: (n) => str(n.name) || 'function',
  comment: (n) => str(n.name) || 'comment',
  catch: (n) => {
    if (n.name) return str(n.name);
    if (n.scope === 'group') return 'catch: group';
    if (Array.isArray(n.scope)) return `catch: ${n.scope.length}`;
    return n.uncaught ? 'catch: uncaught' : 'catch: all';
  },
  status: (n) => str(n.name) || (n.scope === 'group' ? 'status: group' : Array.isArray(n.scope) ? `status: ${n.scope.length}` : 'status: all'),
  complete: (n) => str(n.name) || (n.scope === 'group' ? 'complete: group' : Array.isArray(n.scope) ? `complete: ${n.scope.length}` : 'complete'),
  'link in': (n) => str(n.name) || 'link in',
  'link out': (n) => str(n.name) || (n.mode === 'return' ? 'link return' : 'link out'),
  'link call': (n) => str(n.name) || 'link call',
  'mqtt out': (n) => str(n.name) || (n.topicType !== 'dynamic' && str(n.topic)) || 'mqtt',
  'mqtt in': (n) => str(n.name) || str(n.topic) || 'mqtt',
  'http in': (n) => str(n.name) || `[${str(n.method)}] ${str(n.url)}`,
  'http response': (n) => str(n.name) || 'http' + (n.statusCode ? ` (${str(n.statusCode)})` : ''),
  // node-red-node-email
  'e-mail': (n) => str(n.dname) || str(n.name) || 'email',
  'e-mail in': (n) => str(n.name) || 'email',
  // node-red-dashboard 3 (nodes/ui_*.html)
  ui_text: (n) => dashboardLabel(n, 'text'),
  ui_chart: (n) => dashboardLabel(n, 'chart'),
  ui_button: (n) => dashboardLabel(n, 'button'),
  ui_switch: (n) => dashboardLabel(n, 'switch'),
  ui_slider: (n) => dashboardLabel(n, 'slider'),
  ui_dropdown: (n) => dashboardLabel(n, 'dropdown'),
  ui_numeric: (n) => dashboardLabel(n, 'numeric'),
  ui_text_input: (n) => dashboardLabel(n, `${str(n.mode)} input`),
  ui_template: (n) => str(n.name) || 'template',
  ui_form: (n) => str(n.name) || str(n.label) || 'form',
  ui_toast: (n) => str(n.name) || (n.position === 'prompt' || n.position === 'dialog' ? 'show dialog' : 'show notification'),
  ui_gauge: (n) => str(n.name) || (str(n.title).includes('{{') ? '' : str(n.title)) || (n.gtype === 'gage' ? 'gauge' : str(n.gtype)) || 'gauge',
  ui_ui_control: (n) => str(n.name) || 'ui control',
};

/** The label the editor draws on the node (its type when the label function gives nothing). */
export function nodeLabel(n: FlowNode): string {
  const label = LABELS[n.type] ? LABELS[n.type](n) : str(n.name);
  return label || n.type;
}

/** Types whose node draws a button beside it, and on which side. */
const BUTTONS: Record<string, 'left' | 'right'> = { inject: 'left', debug: 'right' };

/** Types that show a status under the node. */
const STATUS_TYPES = new Set([
  'alert-rule', 'arp-discover', 'equalnet-api', 'iface-counter', 'priority-allocator', 'tc-shaper', 'usage-store',
  'mqtt in', 'mqtt out', 'e-mail', 'e-mail in', 'http request', 'exec', 'tcp in', 'tcp out', 'websocket in', 'websocket out',
]);
const showsStatus = (n: FlowNode) => STATUS_TYPES.has(n.type) || (n.type === 'debug' && (n.tostatus === true || n.tostatus === 'true'));

/** Types without an input port (their width has no 7 px for it). */
const NO_INPUT = new Set(['inject', 'comment', 'catch', 'status', 'complete', 'link in', 'mqtt in', 'http in', 'e-mail in', 'tcp in', 'udp in', 'websocket in', 'watch']);

const outputCount = (n: FlowNode): number => (typeof n.outputs === 'number' ? n.outputs : (n.wires ?? []).length);

const labelHidden = (n: FlowNode): boolean => (n.l !== undefined ? !n.l : n.type === 'link in' || n.type === 'link out');

/** Width and height of a node as the editor draws it (calculateNodeDimensions). */
export function nodeSize(n: FlowNode): { w: number; h: number } {
  const outputs = outputCount(n);
  if (n.type === 'junction') return { w: 10, h: 10 };
  if (labelHidden(n)) return { w: NODE_HEIGHT, h: Math.max(NODE_HEIGHT, outputs * 15) };
  const lines = labelLines(nodeLabel(n));
  const labelWidth = Math.max(...lines.map(textWidth));
  return {
    w: Math.max(NODE_WIDTH, 20 * Math.ceil((labelWidth + 50 + (NO_INPUT.has(n.type) ? 0 : 7)) / 20)),
    h: Math.max(6 + 24 * lines.length, outputs * 15, NODE_HEIGHT),
  };
}

/** A node's box on its tab; `withButton` adds the inject / debug button beside it. */
export function nodeBox(n: FlowNode, withButton = false): Box {
  const { w, h } = nodeSize(n);
  const box = { left: n.x! - w / 2, top: n.y! - h / 2, right: n.x! + w / 2, bottom: n.y! + h / 2 };
  if (withButton && BUTTONS[n.type] === 'left') box.left -= BUTTON_WIDTH;
  if (withButton && BUTTONS[n.type] === 'right') box.right += BUTTON_WIDTH;
  return box;
}

const groupBox = (g: FlowNode): Box => ({ left: g.x!, top: g.y!, right: g.x! + (g.w ?? 0), bottom: g.y! + (g.h ?? 0) });

/** Boxes that share some area (touching edges do not count). */
export const intersects = (a: Box, b: Box): boolean => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
const inside = (a: Box, outer: Box): boolean => a.left >= outer.left && a.right <= outer.right && a.top >= outer.top && a.bottom <= outer.bottom;

const TAB_TYPES = new Set(['tab', 'subflow']);
/** A node drawn on a tab or in a subflow: it has a position and a container (config nodes have neither). */
const isDrawn = (n: FlowNode): boolean => !TAB_TYPES.has(n.type) && n.type !== 'group' && typeof n.x === 'number' && typeof n.y === 'number' && !!n.z;

/** How a node is named in a problem: id, and its label in quotes. */
export const nodeName = (n: FlowNode): string => `${n.id} ("${nodeLabel(n)}")`;

/** Points along a wire as generateLinkPath draws it left to right (a cubic Bézier). */
function wirePoints(x1: number, y1: number, x2: number, y2: number, steps = 48): Array<[number, number]> {
  const dx = x2 - x1;
  const dy = y2 - y1;
  const delta = Math.sqrt(dx * dx + dy * dy);
  const scale = delta < NODE_WIDTH ? 0.75 - 0.75 * ((NODE_WIDTH - delta) / NODE_WIDTH) : 0.75;
  const c1 = [x1 + NODE_WIDTH * scale, y1];
  const c2 = [x2 - NODE_WIDTH * scale, y2];
  const points: Array<[number, number]> = [];
  for (let i = 1; i < steps; i++) {
    const t = i / steps;
    const u = 1 - t;
    points.push([
      u * u * u * x1 + 3 * u * u * t * c1[0] + 3 * u * t * t * c2[0] + t * t * t * x2,
      u * u * u * y1 + 3 * u * u * t * c1[1] + 3 * u * t * t * c2[1] + t * t * t * y2,
    ]);
  }
  return points;
}

/**
 * Everything in `flow` that makes it hard to read, one line per problem. Rules (see
 * docs/default-flow.md): wires go left to right (a link out / link in pair goes back or far), stay
 * on their tab and reach a node that exists; link nodes name each other both ways; nodes do not
 * overlap (inject / debug buttons included) nor sit in the status line under a node; no wire is
 * drawn behind a node; no node is drawn off the canvas (left of or above 0); at most `maxFanOut`
 * wires leave one output, and a node and its targets spread over at most `maxFanSpan` px; a group
 * holds exactly the nodes in its box.
 */
export function layoutProblems(flow: FlowNode[], options: Partial<LayoutOptions> = {}): string[] {
  const opts = { ...DEFAULT_OPTIONS, ...options };
  const problems: string[] = [];
  const byId = new Map(flow.map((n) => [n.id, n]));
  const drawn = flow.filter(isDrawn);
  const boxes = new Map(drawn.map((n) => [n.id, nodeBox(n)]));
  const tabs = new Map<string, FlowNode[]>();
  for (const n of drawn) tabs.set(n.z!, [...(tabs.get(n.z!) ?? []), n]);

  for (const n of drawn) {
    const box = boxes.get(n.id)!;
    const withButton = nodeBox(n, true);
    if (withButton.left < 0 || box.top < 0) problems.push(`off the canvas: ${nodeName(n)} reaches x=${withButton.left}, y=${box.top} (the canvas starts at 0, 0)`);

    // wires: on the tab, left to right, not behind another node
    const outputs = n.wires ?? [];
    const targets = new Set<string>();
    outputs.forEach((port, i) => {
      for (const targetId of port) {
        const target = byId.get(targetId);
        if (!target) {
          problems.push(`wire to a missing node: ${nodeName(n)} → ${targetId}`);
          continue;
        }
        if (!isDrawn(target) || target.z !== n.z) {
          problems.push(`wire across tabs: ${nodeName(n)} on ${n.z} → ${nodeName(target)} on ${target.z ?? '(none)'} (use a link out / link in pair)`);
          continue;
        }
        targets.add(targetId);
        const to = boxes.get(targetId)!;
        if (to.left <= box.right) {
          // at dx <= 0 the editor draws the wire as a loop back (generateLinkPath)
          problems.push(`wire right to left: ${nodeName(n)} → ${nodeName(target)} (target's left edge x=${to.left} is not right of the source's right edge x=${box.right}; use a link out / link in pair)`);
          continue;
        }
        const y1 = n.y! - ((Math.max(outputs.length, outputCount(n)) - 1) / 2) * PORT_SPACING + PORT_SPACING * i;
        const points = wirePoints(box.right, y1, to.left, target.y!);
        for (const other of tabs.get(n.z!)!) {
          if (other.id === n.id || other.id === targetId) continue;
          const b = boxes.get(other.id)!;
          const hit = points.some(([x, y]) => x > b.left + 1 && x < b.right - 1 && y > b.top + 1 && y < b.bottom - 1);
          if (hit) problems.push(`wire behind a node: ${nodeName(n)} → ${nodeName(target)} passes behind ${nodeName(other)}`);
        }
      }
    });

    // fan-out
    outputs.forEach((port, i) => {
      if (port.length > opts.maxFanOut) problems.push(`fan-out: output ${i + 1} of ${nodeName(n)} has ${port.length} wires (at most ${opts.maxFanOut}; gather some behind a link out)`);
    });
    if (targets.size > 1) {
      const ys = [n.y!, ...[...targets].map((id) => byId.get(id)!.y!)];
      const span = Math.max(...ys) - Math.min(...ys);
      if (span > opts.maxFanSpan) problems.push(`fan-out: ${nodeName(n)} and the ${targets.size} nodes it is wired to spread over ${span} px (at most ${opts.maxFanSpan}; lay them out closer, or use link nodes)`);
    }

    // link nodes name each other both ways
    if (n.type === 'link out' && n.mode !== 'return') {
      for (const id of n.links ?? []) {
        const other = byId.get(id);
        if (!other || other.type !== 'link in') problems.push(`link to nothing: ${nodeName(n)} links to ${id}, which is not a link in`);
        else if (!(other.links ?? []).includes(n.id)) problems.push(`one-way link: ${nodeName(n)} links to ${nodeName(other)}, which does not list it back`);
      }
    }
    if (n.type === 'link in') {
      for (const id of n.links ?? []) {
        const other = byId.get(id);
        if (!other || (other.type !== 'link out' && other.type !== 'link call')) problems.push(`link from nothing: ${nodeName(n)} lists ${id}, which is not a link out`);
        else if (!(other.links ?? []).includes(n.id)) problems.push(`one-way link: ${nodeName(n)} lists ${nodeName(other)}, which does not link to it`);
      }
    }
  }

  // overlaps and status lines, per tab
  for (const nodes of tabs.values()) {
    for (let i = 0; i < nodes.length; i++) {
      const a = nodes[i];
      const aBox = nodeBox(a, true);
      const status: Box | undefined = showsStatus(a) ? { ...boxes.get(a.id)!, top: boxes.get(a.id)!.bottom, bottom: boxes.get(a.id)!.bottom + opts.statusClearance } : undefined;
      for (let j = 0; j < nodes.length; j++) {
        if (j === i) continue;
        const b = nodes[j];
        if (j > i && intersects(aBox, nodeBox(b, true))) problems.push(`overlap: ${nodeName(a)} and ${nodeName(b)} on ${a.z}`);
        else if (status && intersects(status, boxes.get(b.id)!) && !intersects(boxes.get(a.id)!, boxes.get(b.id)!)) {
          problems.push(`status hidden: ${nodeName(b)} covers the status line under ${nodeName(a)} (keep ${opts.statusClearance} px free under it)`);
        }
      }
    }
  }

  // groups: a group holds exactly the nodes inside its box
  const groups = flow.filter((n) => n.type === 'group' && typeof n.x === 'number' && typeof n.y === 'number');
  const within = (n: FlowNode, g: FlowNode): boolean => {
    for (let at = n.g; at; at = byId.get(at)?.g) if (at === g.id) return true;
    return false;
  };
  for (const g of groups) {
    const gBox = groupBox(g);
    for (const id of g.nodes ?? []) {
      const member = byId.get(id);
      if (!member) {
        problems.push(`group ${g.id} ("${str(g.name)}") lists ${id}, which does not exist`);
        continue;
      }
      if (member.g !== g.id) problems.push(`group ${g.id} ("${str(g.name)}") lists ${nodeName(member)}, whose g is ${member.g ?? '(none)'}`);
      const mBox = member.type === 'group' ? groupBox(member) : isDrawn(member) ? nodeBox(member, true) : undefined;
      if (mBox && !inside(mBox, gBox)) problems.push(`outside its group: ${nodeName(member)} is not within the box of group ${g.id} ("${str(g.name)}")`);
    }
    for (const n of [...(tabs.get(g.z ?? '') ?? []), ...groups.filter((o) => o.id !== g.id && o.z === g.z)]) {
      const nBox = n.type === 'group' ? groupBox(n) : boxes.get(n.id)!;
      if (within(n, g) || (n.type === 'group' && within(g, n))) continue;
      if (intersects(nBox, gBox)) problems.push(`in a group it is not part of: ${nodeName(n)} is in the box of group ${g.id} ("${str(g.name)}")`);
    }
  }
  return [...new Set(problems)];
}

const isLink = (n: FlowNode | undefined): boolean => !!n && (n.type === 'link in' || n.type === 'link out');

/**
 * Where each output of each node delivers, link nodes followed through (a link out sends to the
 * link ins it names and that name it, as the runtime joins them; mode "return" ends there): for
 * "id[port]" the ids of the nodes reached, sorted, once per path. Two flows with the same
 * deliveries send every message to the same nodes, however they are laid out.
 */
export function deliveries(flow: FlowNode[]): Map<string, string[]> {
  const byId = new Map(flow.map((n) => [n.id, n]));
  const linked = new Map<string, Set<string>>();
  const join = (out: string, into: string) => linked.set(out, (linked.get(out) ?? new Set()).add(into));
  for (const n of flow) {
    if (n.type === 'link out' && n.mode !== 'return') for (const id of n.links ?? []) join(n.id, id);
    if (n.type === 'link in') for (const id of n.links ?? []) if (byId.get(id)?.type === 'link out') join(id, n.id);
  }
  const reach = (id: string, seen: Set<string>): string[] => {
    const n = byId.get(id);
    if (!isLink(n)) return [id];
    if (seen.has(id)) return [];
    const next = new Set(seen).add(id);
    const onward = n!.type === 'link out' ? [...(linked.get(id) ?? [])] : (n!.wires ?? []).flat();
    return onward.flatMap((t) => reach(t, next));
  };
  const result = new Map<string, string[]>();
  for (const n of flow) {
    if (isLink(n)) continue;
    (n.wires ?? []).forEach((port, i) => result.set(`${n.id}[${i}]`, port.flatMap((t) => reach(t, new Set())).sort()));
  }
  return result;
}

/**
 * What splitting a flow over tabs can break, though every wire is kept: a catch, status or
 * complete node watches only nodes on its own tab; function nodes sharing a flow-context key
 * (flow.get / flow.set) share it only on one tab.
 */
export function tabProblems(flow: FlowNode[]): string[] {
  const problems: string[] = [];
  const byId = new Map(flow.map((n) => [n.id, n]));
  for (const n of flow) {
    if (!['catch', 'status', 'complete'].includes(n.type) || !Array.isArray(n.scope)) continue;
    for (const id of n.scope as string[]) {
      const watched = byId.get(id);
      if (watched && watched.z !== n.z) problems.push(`${n.type} ${nodeName(n)} on ${n.z} watches ${nodeName(watched)} on ${watched.z}: it only sees its own tab`);
    }
  }
  const keyTabs = new Map<string, Map<string, string[]>>();
  for (const n of flow) {
    if (n.type !== 'function') continue;
    for (const m of str(n.func).matchAll(/\bflow\.(?:get|set)\(\s*['"]([^'"]+)['"]/g)) {
      const tabs = keyTabs.get(m[1]) ?? new Map<string, string[]>();
      tabs.set(n.z ?? '', [...(tabs.get(n.z ?? '') ?? []), n.id]);
      keyTabs.set(m[1], tabs);
    }
  }
  for (const [key, tabs] of keyTabs) {
    if (tabs.size > 1) problems.push(`flow context "${key}" is used on ${tabs.size} tabs (${[...tabs].map(([z, ids]) => `${z}: ${[...new Set(ids)].join(', ')}`).join('; ')}): each tab has its own`);
  }
  return problems;
}
