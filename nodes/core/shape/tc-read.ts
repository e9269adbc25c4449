/**
 * What is installed, read back from the kernel. iproute2 6.1 prints qdiscs as JSON (-j), but HTB
 * classes only as text, and u32 filters' JSON repeats the "match" key (so JSON.parse keeps only the
 * last match of an IPv6 filter): classes and filters are parsed from the text output.
 */
import { commandFailure, type CommandRunner } from '../runner';
import { emptyDirection, HASH_TABLE, HTB_MAJOR, ROOT_MINOR, type Direction, type IngressState, type InstalledClass, type InstalledDirection, type InstalledFilter, type InstalledTree, type RootState } from './tc-tree';

const UNITS: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** A rate as tc prints it: `200Kbit`, `12345Kbit`, `1.5Mbit`, `20Mibit`, `100Kbps` (bytes). */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]i?)?(bit|bps)$/.exec(text);
  if (!m) throw new Error(`unrecognised rate "${text}"`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? ''] * (m[3] === 'bps' ? 8 : 1));
}

/** `tc class show dev X` (text): our HTB classes by minor, and the root class. */
export function parseClasses(text: string): { rootClass: InstalledDirection['rootClass']; classes: Map<number, InstalledClass> } {
  const classes = new Map<number, InstalledClass>();
  let rootClass: InstalledDirection['rootClass'] = null;
  for (const line of text.split('\n')) {
    const m = /^class htb ([0-9a-f]+):([0-9a-f]+) /.exec(line);
    if (!m || m[1] !== HTB_MAJOR) continue;
    const minor = parseInt(m[2], 16);
    const rate = /\brate (\S+)/.exec(line);
    const ceil = /\bceil (\S+)/.exec(line);
    if (!rate || !ceil) continue;
    const rateBps = parseRate(rate[1]);
    const ceilBps = parseRate(ceil[1]);
    if (minor === ROOT_MINOR) {
      rootClass = { rateBps, ceilBps };
      continue;
    }
    const prio = /\bprio (\d+)/.exec(line);
    const quantum = /\bquantum (\d+)/.exec(line);
    classes.set(minor, { minor, rateBps, ceilBps, prio: prio ? Number(prio[1]) : 0, ...(quantum ? { quantum: Number(quantum[1]) } : {}) });
  }
  return { rootClass, classes };
}

function addressFrom(family: 4 | 6, matches: { word: string; at: number }[]): string | null {
  const sorted = [...matches].sort((a, b) => a.at - b.at);
  if (family === 4) {
    if (sorted.length !== 1) return null;
    const n = parseInt(sorted[0].word, 16);
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }
  if (sorted.length !== 4) return null;
  return sorted.flatMap((m) => [m.word.slice(0, 4), m.word.slice(4)]).join(':');
}

/** `tc filter show dev X parent eb:` (text): our address filters, and whether the hash tables are set up. */
export function parseFilters(text: string): { filters: InstalledFilter[]; hashTables: boolean } {
  const blocks: string[][] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('filter ')) blocks.push([line]);
    else if (blocks.length && line.trim()) blocks[blocks.length - 1].push(line);
  }
  const filters: InstalledFilter[] = [];
  const seen = new Set<string>();
  for (const [head, ...rest] of blocks) {
    const fh = /\bfh ([0-9a-f]+):([0-9a-f]*):?([0-9a-f]*)/.exec(head);
    if (!fh) continue;
    if (/\bht divisor 256\b/.test(head)) seen.add(`table ${fh[1]}`);
    const link = /\blink ([0-9a-f]+):/.exec(head);
    if (link) seen.add(`link ${link[1]}`);
    const flowid = /\*?flowid ([0-9a-f]+):([0-9a-f]+)/.exec(head);
    if (!flowid || flowid[1] !== HTB_MAJOR || !fh[3]) continue;
    const family = fh[1] === HASH_TABLE[4] ? 4 : fh[1] === HASH_TABLE[6] ? 6 : null;
    if (!family) continue;
    const matches = rest.map((l) => /match ([0-9a-f]{8})\/ffffffff at (\d+)/.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => ({ word: m[1], at: Number(m[2]) }));
    const address = addressFrom(family, matches);
    if (!address) continue;
    filters.push({ family, address, minor: parseInt(flowid[2], 16), handle: `${fh[1]}:${fh[2]}:${fh[3]}` });
  }
  const hashTables = [HASH_TABLE[4], HASH_TABLE[6]].every((t) => seen.has(`table ${t}`) && seen.has(`link ${t}`));
  return { filters, hashTables };
}

interface QdiscJson {
  kind: string;
  handle: string;
  root?: boolean;
  parent?: string;
}

/** `tc -j qdisc show dev X`: the root's state, the leaf kinds under our classes, the ingress qdisc. */
export function parseQdiscs(json: string): { root: RootState; leaves: Map<number, string>; ingress: string | null } {
  const list = JSON.parse(json || '[]') as QdiscJson[];
  const leaves = new Map<number, string>();
  let root: RootState = 'default';
  let ingress: string | null = null;
  for (const q of list) {
    if (q.root) {
      if (q.kind === 'htb' && q.handle === `${HTB_MAJOR}:`) root = 'ours';
      else if (q.handle !== '0:') root = { foreign: `${q.kind} ${q.handle}` };
    } else if (q.kind === 'ingress' || q.kind === 'clsact') {
      ingress = q.kind;
    } else if (q.parent?.startsWith(`${HTB_MAJOR}:`)) {
      leaves.set(parseInt(q.parent.slice(HTB_MAJOR.length + 1), 16), q.kind);
    }
  }
  return { root, leaves, ingress };
}

/** The device the LAN's ingress is redirected to, from `tc filter show dev X ingress` (text). */
export function parseIngressRedirect(text: string): string | null {
  const m = /Egress Redirect to device (\S+?)\)/.exec(text);
  return m ? m[1] : null;
}

async function tc(runner: CommandRunner, argv: string[]): Promise<string> {
  const result = await runner.run(['tc', ...argv]);
  if (result.exitCode !== 0) throw commandFailure(['tc', ...argv], result);
  return result.stdout;
}

async function readDirection(runner: CommandRunner, direction: Direction, dev: string): Promise<{ state: InstalledDirection; ingress: string | null }> {
  const q = await runner.run(['tc', '-j', 'qdisc', 'show', 'dev', dev]);
  if (q.exitCode !== 0) {
    if (/Cannot find device|does not exist/i.test(q.stderr)) return { state: emptyDirection(direction, dev, 'missing-device'), ingress: null };
    throw commandFailure(['tc', '-j', 'qdisc', 'show', 'dev', dev], q);
  }
  const { root, leaves, ingress } = parseQdiscs(q.stdout);
  const state = emptyDirection(direction, dev, root);
  if (root === 'ours') {
    Object.assign(state, parseClasses(await tc(runner, ['-d', 'class', 'show', 'dev', dev])));
    Object.assign(state, parseFilters(await tc(runner, ['filter', 'show', 'dev', dev, 'parent', `${HTB_MAJOR}:`])));
    state.leaves = leaves;
  }
  return { state, ingress };
}

/** Reads both trees, the IFB and the LAN's ingress, with `tc ... show` only (nothing changes). */
export async function readInstalled(runner: CommandRunner, iface: string, ifb: string): Promise<InstalledTree> {
  const down = await readDirection(runner, 'down', iface);
  if (down.state.root === 'missing-device') throw commandFailure(['tc', 'qdisc', 'show', 'dev', iface], { exitCode: 1, stdout: '', stderr: `Cannot find device "${iface}"` });
  const up = await readDirection(runner, 'up', ifb);
  const ifbExists = up.state.root !== 'missing-device';
  let ingress: IngressState = 'none';
  if (down.ingress) {
    const target = parseIngressRedirect(await tc(runner, ['filter', 'show', 'dev', iface, 'ingress']));
    if (target === ifb && ifbExists) ingress = 'ours';
    else if (target === '*' && !ifbExists && down.ingress === 'ingress') ingress = 'stale';
    else ingress = { foreign: target ? `${down.ingress} redirecting to ${target}` : down.ingress };
  }
  if (!ifbExists) up.state.root = 'default';
  return { ifbExists, ingress, down: down.state, up: up.state };
}
