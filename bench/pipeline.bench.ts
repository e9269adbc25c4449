// The whole process, as a router owner lives with it (issue 17): a real Node-RED 4.1, started as
// `npm start` starts it (scripts/node-red-home.ts), running the shipped default flow with its
// dashboard on a LAN of N devices in network namespaces (bench/pipeline-lan.ts): arp-discover
// reads the namespace's neighbour table (N permanent entries) and a dnsmasq leases file,
// iface-counter counts per client with nftables there, tc-shaper enforces its HTB tree there;
// usage-store writes its SQLite file in the user directory. One device in ten is busy (UDP, a
// different tenth every 30 s), so rates, allocations and classes change as on a LAN in use.
//
// Measured, for N = 250 and 1,000 (EQUALNET_BENCH_DEVICES), over EQUALNET_BENCH_MINUTES (5):
// - tick latency end to end and per node, from the runtime's message hooks (bench/pipeline-probe.ts,
//   a node file in the user directory: no node of the package is changed);
// - CPU % of a core of the Node-RED process (/proc/<pid>/stat), alone and with the commands it runs;
// - RSS (/proc/<pid>/status) and heap (process.memoryUsage() in Node-RED after two full GCs) at the
//   window's start and end; the same for a bare Node-RED (empty flow) as the reference;
// - dashboard bytes per tick (one client on the /ui socket, connected through the window);
// - SQLite bytes per hour (database + WAL growth, and the process's disk writes, extrapolated);
// then, still ticking, GET /api/status, /api/clients and /api/analytics/top/10 at 50 concurrent
// keep-alive connections, EQUALNET_BENCH_API_SECONDS (20) each (bench/pipeline-load.ts);
// then a heap snapshot of the process, summarised (bench/pipeline-heap.ts).
// Options (environment): EQUALNET_BENCH_MINUTES, _DEVICES ("250,1000"), _API_SECONDS,
// _WARMUP_SECONDS (30), _TRAFFIC=0 (no traffic), _HEAPSNAPSHOT=0, _CPUPROF=1 (Node-RED under
// `node --cpu-prof`: where its CPU goes, by package and function; the profiler costs CPU itself;
// _CPUPROF_KEEP=FILE keeps the profile there, for Chromium's DevTools), _ALLOCATIONS=1 (what the
// window allocated, by node and function: the garbage collector's work),
// and for comparisons with lighter set-ups: _SHAPING=dry-run, _PER_CLIENT=0, _DASHBOARD=0.
// Where Node-RED runs: as on a router (the default), in the LAN's router namespace itself — the
// bench re-runs itself there, so Node-RED, the load and the dashboard client all talk over that
// namespace's loopback and Node-RED reads its counters over netlink; or, _PLACE=outside, in the
// machine's namespace with the nodes' "namespace" setting, every command through `ip netns exec`
// (how the lab tests drive it; it costs a process per command).
// Run it alone: `npm run build && node bench/run.js pipeline`.
// Needs root. Everything it creates (namespaces, processes, temp dirs) is removed at the end, on
// an error and on Ctrl-C; a later run removes what a killed run left.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeEnv, nodeFlags, nodeRedArgs, prepareHome, PROJECT_ROOT } from '../scripts/node-red-home';
import { freePort, startNodeRed, worrying, type RunningNodeRed } from '../test/helpers/runtime';
import { analyseAllocations, analyseCpuProfile, type AllocationSummary, type CpuSummary } from './pipeline-cpu';
import { analyseHeapSnapshot, type HeapSummary } from './pipeline-heap';
import { NS_PREFIX, OWNER_ENV, PipelineLan, removeNamespace, removeNamespacesOf, ROUTER_NS_ENV, sweepStale, TMP_PREFIX } from './pipeline-lan';
import { DashboardMeter, httpLoad, quantile, type LoadResult } from './pipeline-load';
import type { NodeVisit, TickRecord } from './pipeline-probe';
import { printTable } from './stats';

const MINUTES = Number(process.env.EQUALNET_BENCH_MINUTES ?? 5);
const SIZES = (process.env.EQUALNET_BENCH_DEVICES ?? '250,1000').split(',').map((s) => Number(s.trim()));
const API_SECONDS = Number(process.env.EQUALNET_BENCH_API_SECONDS ?? 20);
const TRAFFIC = process.env.EQUALNET_BENCH_TRAFFIC !== '0';
const HEAP_SNAPSHOT = process.env.EQUALNET_BENCH_HEAPSNAPSHOT !== '0';
/** Profile the Node-RED under test (node --cpu-prof): where its CPU goes. The profiler costs CPU itself. */
const CPU_PROFILE = process.env.EQUALNET_BENCH_CPUPROF === '1';
/** Sample what the window allocates (V8's sampling heap profiler, in the process): the garbage collector's work, by node. */
const ALLOCATIONS = process.env.EQUALNET_BENCH_ALLOCATIONS === '1';
// for comparisons with lighter set-ups (the issue's own figures were taken in dry-run, without
// per-client counting): the shaping mode, per-client counting, one open dashboard
const SHAPING = process.env.EQUALNET_BENCH_SHAPING === 'dry-run' ? 'dry-run' : 'enforce';
const PER_CLIENT = process.env.EQUALNET_BENCH_PER_CLIENT !== '0';
const DASHBOARD = process.env.EQUALNET_BENCH_DASHBOARD !== '0';
const ON_ROUTER = process.env.EQUALNET_BENCH_PLACE !== 'outside';
const CONNECTIONS = 50;
const API_ROUTES = ['/api/status', '/api/clients', '/api/analytics/top/10'];
/** After the pipeline is full: JIT, the first shaping, the first store minute. */
const WARMUP_S = Number(process.env.EQUALNET_BENCH_WARMUP_SECONDS ?? 30);
const BARE_SETTLE_S = 20;
const CLK_TCK = 100;
const TICK_S = 2;

// goals (issue 17)
const RSS_OVER_BARE_MB = 30;
const CPU_GOAL = 1;
const API_P99_GOAL_MS = 20;
/** "flat = no leak": what the heap may grow over the window, after full GCs (the spray lab's bound). */
const HEAP_GROWTH_MB = 5;

const MB = 2 ** 20;
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '-');
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

// ---------------------------------------------------------------------------------------------
// clean-up: whatever is alive when the bench ends, fails or is interrupted

const cleanups = new Map<string, () => void>();
let handlersInstalled = false;
export function runCleanups(): void {
  for (const [key, fn] of [...cleanups].reverse()) {
    cleanups.delete(key);
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
}
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', runCleanups);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: removing the bench's Node-RED, namespaces and temp dirs`);
      runCleanups();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// the process under test

interface ProcStat {
  /** utime + stime, clock ticks */
  self: number;
  /** cutime + cstime: the children it waited for (ip, nft, tc, …) */
  children: number;
  /** stime alone: the kernel's work for it (system calls, page faults, netlink) */
  system: number;
  at: number;
}

/** The fields of a /proc/<pid>[/task/<tid>]/stat the bench reads (times in clock ticks). */
function readStat(path: string): { name: string; ppid: number; utime: number; stime: number; cutime: number; cstime: number } {
  const text = readFileSync(path, 'utf8');
  // the name is in parentheses and may hold spaces: the fields after it start at field 3 (state)
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { name: text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
}

function procStat(pid: number): ProcStat {
  const st = readStat(`/proc/${pid}/stat`);
  return { self: st.utime + st.stime, children: st.cutime + st.cstime, system: st.stime, at: performance.now() };
}

/**
 * The processes Node-RED keeps running (tc-shaper's tc): pid -> { ticks (utime + stime; with the
 * ones it waited for), rss }. Their CPU is not in Node-RED's cutime until they end, so the bench
 * adds it; their RSS is reported beside Node-RED's.
 */
function liveChildren(pid: number): Map<number, { name: string; ticks: number; rss: number }> {
  const out = new Map<number, { name: string; ticks: number; rss: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const st = readStat(`/proc/${entry}/stat`);
      if (st.ppid !== pid) continue;
      out.set(Number(entry), { name: st.name, ticks: st.utime + st.stime + st.cutime + st.cstime, rss: procStatus(Number(entry)).rss });
    } catch {
      /* it ended */
    }
  }
  return out;
}

/** Ticks the live children used between two readings (a child new at the second counts whole). */
function childTicks(before: ReturnType<typeof liveChildren>, after: ReturnType<typeof liveChildren>): number {
  let sum = 0;
  for (const [pid, c] of after) sum += c.ticks - (before.get(pid)?.ticks ?? 0);
  return sum;
}

/** CPU clock ticks (utime + stime) by thread name (/proc/<pid>/task/<tid>/comm): the main thread is "node". */
function threadTicks(pid: number): Map<string, number> {
  const by = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readStat(`/proc/${pid}/task/${tid}/stat`);
      // V8's workers and libuv's pool, one line each
      const group = tid === String(pid) ? 'main thread' : st.name.replace(/[0-9]+$/, '').trim();
      by.set(group, (by.get(group) ?? 0) + st.utime + st.stime);
    } catch {
      /* the thread ended */
    }
  }
  return by;
}

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Where the RSS is, from /proc/<pid>/smaps: anonymous memory (V8's heap, malloc's arenas, stacks), malloc's brk heap, and files. */
function rssMap(pid: number): { anon: number; brk: number; files: number; biggestFiles: string } {
  let anon = 0;
  let brk = 0;
  let files = 0;
  const byFile = new Map<string, number>();
  let current = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      current = header[1].trim();
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (!rss) continue;
    const bytes = Number(rss[1]) * 1024;
    if (current === '[heap]') brk += bytes;
    else if (current === '' || current.startsWith('[')) anon += bytes;
    else {
      files += bytes;
      const name = current.split('/').pop()!;
      byFile.set(name, (byFile.get(name) ?? 0) + bytes);
    }
  }
  const biggestFiles = [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([f, b]) => `${f} ${mb(b)}`).join(', ');
  return { anon, brk, files, biggestFiles };
}

function writeBytes(pid: number): number {
  return Number(/^write_bytes: (\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
}

/**
 * The pid of the Node-RED listening on `port` (startNodeRed does not say it, and Node-RED sets its
 * process title, which replaces its command line in /proc): a child of this process.
 */
function pidOf(port: number): number {
  const line = execFileSync('ss', ['-Hltnp', 'sport', '=', `:${port}`]).toString();
  for (const m of line.matchAll(/pid=(\d+)/g)) {
    const pid = Number(m[1]);
    if (readStat(`/proc/${pid}/stat`).ppid === process.pid) return pid;
  }
  throw new Error(`no child process of the bench listens on port ${port}: ${line.trim()}`);
}

export interface Started {
  nodeRed: RunningNodeRed;
  pid: number;
  port: number;
  userDir: string;
  base: string;
}

/** prepareHome + the probe node + startNodeRed, as the runtime tests start it; registered for clean-up. */
export async function startHome(label: string, flow: unknown[], lanIface: string, flags: string[] = []): Promise<Started> {
  const home = mkdtempSync(join(tmpdir(), `${TMP_PREFIX}${process.pid}-${label}-`));
  cleanups.set(`dir ${home}`, () => rmSync(home, { recursive: true, force: true }));
  const flowFile = join(home, 'flow.json');
  writeFileSync(flowFile, JSON.stringify(flow));
  const port = await freePort();
  const userDir = join(home, 'user');
  prepareHome(userDir, port, lanIface, flowFile);
  mkdirSync(join(userDir, 'nodes'), { recursive: true });
  copyFileSync(join(__dirname, 'pipeline-probe.js'), join(userDir, 'nodes', 'equalnet-bench-probe.js'));
  writeFileSync(join(userDir, 'nodes', 'equalnet-bench-probe.html'), '<!-- the pipeline bench\'s probe: no editor part -->\n');
  // the marker lets a later run find this Node-RED if this bench is killed (sweepStale)
  // the environment `npm start` gives it (nodeEnv: malloc arenas)
  const nodeRed = await startNodeRed([...flags, ...nodeRedArgs(userDir, port)], port, nodeEnv({ ...process.env, [OWNER_ENV]: String(process.pid) }), 120_000);
  let pid: number;
  try {
    pid = pidOf(port);
  } catch (err) {
    await nodeRed.stop();
    throw err;
  }
  cleanups.set(`node-red ${pid}`, () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  return { nodeRed, pid, port, userDir, base: `http://127.0.0.1:${port}` };
}

export async function stopHome(s: Started): Promise<void> {
  await s.nodeRed.stop();
  cleanups.delete(`node-red ${s.pid}`);
}

export async function getJson<T>(s: Started, path: string, method = 'GET'): Promise<T> {
  const res = await fetch(s.base + path, { method, headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

type Memory = NodeJS.MemoryUsage & { spaces?: Record<string, { committed: number; used: number }> };

/** V8's spaces with what they hold: "new 16.0/3.1, old 60.2/48.0, code 9.1/8.3 …" (MB committed/used). */
function spacesText(m: Memory): string {
  if (!m.spaces) return '';
  return Object.entries(m.spaces)
    .filter(([, v]) => v.committed >= 0.5 * MB)
    .map(([k, v]) => `${k.replace(/_space$/, '')} ${(v.committed / MB).toFixed(1)}/${(v.used / MB).toFixed(1)}`)
    .join(', ');
}

export const heapAfterGc = async (s: Started) => (await getJson<NodeJS.MemoryUsage>(s, '/equalnet-bench/memory?gc=1')).heapUsed;

async function heapSnapshot(s: Started): Promise<string | null> {
  try {
    return (await getJson<{ file: string }>(s, '/equalnet-bench/heapsnapshot', 'POST')).file;
  } catch (err) {
    console.log(`(heap snapshot failed: ${(err as Error).message})`);
    return null;
  }
}

function summarise(file: string | null): HeapSummary | null {
  if (!file) return null;
  try {
    return analyseHeapSnapshot(file);
  } catch (err) {
    console.log(`(heap snapshot not analysed: ${(err as Error).message})`);
    return null;
  } finally {
    rmSync(file, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// the flows

function defaultFlow(): Array<Record<string, unknown>> {
  return JSON.parse(readFileSync(join(PROJECT_ROOT, 'flows', 'default.json'), 'utf8')) as Array<Record<string, unknown>>;
}

/**
 * The shipped default flow pointed at the bench's LAN: the config node in enforce (its interface
 * is set by prepareHome), arp-discover, iface-counter and tc-shaper in the namespace, per-client
 * counting on, the leases file of the LAN. One change more: arp-discover takes in up to 10,000
 * new MACs a minute (default 60), so all N devices are in the snapshot from the first tick, as on
 * a LAN whose devices are known, rather than after N / 60 minutes.
 */
export function benchFlow(lan: PipelineLan): Array<Record<string, unknown>> {
  const flow = defaultFlow();
  const byId = (id: string) => {
    const n = flow.find((x) => x.id === id);
    if (!n) throw new Error(`flows/default.json has no node ${id}`);
    return n;
  };
  byId('equalnet.config').mode = SHAPING;
  // on the router, the nodes work in their own namespace, as they do when installed on one
  const netns = lan.onRouter ? '' : lan.ns;
  Object.assign(byId('equalnet.discover'), { netns, leasesFile: lan.leasesFile, newMacs: '10000' });
  Object.assign(byId('equalnet.counter'), { netns, perClient: PER_CLIENT });
  Object.assign(byId('equalnet.shaper'), { netns });
  return flow;
}

// ---------------------------------------------------------------------------------------------
// tick records

interface TickStats {
  ticks: number;
  e2e: number[];
  /** Pipeline only: the tick's send until usage-store is done. */
  pipeline: number[];
  rows: { what: string; arrive: number[]; busy: number[] }[];
}

const GROUPS: { what: string; match: (v: NodeVisit) => boolean }[] = [
  { what: 'arp-discover', match: (v) => v.id === 'equalnet.discover' },
  { what: 'iface-counter', match: (v) => v.id === 'equalnet.counter' },
  { what: 'priority-allocator', match: (v) => v.id === 'equalnet.allocator' },
  { what: 'tc-shaper', match: (v) => v.id === 'equalnet.shaper' },
  { what: 'usage-store', match: (v) => v.id === 'equalnet.store' },
  { what: 'the alert rules (summed)', match: (v) => v.type === 'alert-rule' },
  { what: 'equalnet-api (takes the allocation)', match: (v) => v.type === 'equalnet-api' },
  { what: 'dashboard tab: functions + widgets (summed)', match: (v) => v.z === 'equalnet.dash.tab' && !v.type.startsWith('link ') },
  { what: 'debug nodes (summed)', match: (v) => v.type === 'debug' },
  { what: 'link nodes (summed)', match: (v) => v.type.startsWith('link ') },
];

function tickStats(records: TickRecord[]): TickStats {
  const rows = GROUPS.map((g) => ({ what: g.what, arrive: [] as number[], busy: [] as number[] }));
  const e2e: number[] = [];
  const pipeline: number[] = [];
  for (const r of records) {
    const end = (v: NodeVisit) => v.doneMs ?? v.returnedMs ?? v.receivedMs;
    e2e.push(Math.max(0, ...r.nodes.map(end)));
    const store = r.nodes.find((v) => v.id === 'equalnet.store');
    if (store) pipeline.push(end(store));
    GROUPS.forEach((g, i) => {
      const members = r.nodes.filter(g.match);
      if (members.length === 0) return;
      rows[i].arrive.push(Math.min(...members.map((v) => v.receivedMs)));
      rows[i].busy.push(members.reduce((sum, v) => sum + v.busyMs, 0));
    });
  }
  const sort = (a: number[]) => a.sort((x, y) => x - y);
  sort(e2e);
  sort(pipeline);
  for (const row of rows) {
    sort(row.arrive);
    sort(row.busy);
  }
  return { ticks: records.length, e2e, pipeline, rows };
}

// ---------------------------------------------------------------------------------------------

interface Bare {
  rss: number;
  heap: number;
  memory: Memory;
  map: ReturnType<typeof rssMap>;
  heapSummary: HeapSummary | null;
}

async function measureBare(): Promise<Bare> {
  // started as ours is, with the same node flags and environment
  const s = await startHome('bare', [], '', nodeFlags());
  try {
    await sleep(BARE_SETTLE_S * 1000);
    const { rss } = procStatus(s.pid);
    const map = rssMap(s.pid);
    const memory = await getJson<Memory>(s, '/equalnet-bench/memory');
    const heap = await heapAfterGc(s);
    const summary = HEAP_SNAPSHOT ? summarise(await heapSnapshot(s)) : null;
    return { rss, heap, memory, map, heapSummary: summary };
  } finally {
    await stopHome(s);
  }
}

interface Run {
  devices: number;
  minutes: number;
  ticks: TickStats;
  ticksUnderLoad: TickStats;
  cpuSelf: number;
  /** The same by thread: the main thread, V8's workers (the collector, the compiler), libuv's pool. */
  cpuByThread: { name: string; percent: number }[];
  cpuWithChildren: number;
  /** The kernel's part of cpuSelf (stime). */
  cpuSystem: number;
  /** The processes it keeps running at the window's end (tc-shaper's tc), and their RSS. */
  kept: { name: string; rss: number }[];
  rss: { start: number; end: number; max: number; samples: number[] };
  heap: { start: number; end: number; samples: number[] };
  dashboard: { bytes: number; frames: number; byEvent: [string, { frames: number; bytes: number }][] };
  sqlite: { growthPerHour: number; writesPerHour: number; fileStart: number; fileEnd: number };
  api: LoadResult[];
  tcClasses: number;
  nftElements: number;
  rates: string;
  worrying: string[];
  heapSummary: HeapSummary | null;
  /** At the window's end, before the GC. */
  memory: Memory;
  map: ReturnType<typeof rssMap>;
  cpuProfile: CpuSummary | null;
  /** The same, while the API was under load. */
  apiProfile: CpuSummary | null;
  allocations: AllocationSummary | null;
}

function dbBytes(userDir: string): number {
  let sum = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    const f = join(userDir, `equalnet.db${suffix}`);
    if (existsSync(f)) sum += statSync(f).size;
  }
  return sum;
}

async function measurePipeline(devices: number): Promise<Run> {
  const lan = new PipelineLan(devices, process.env[ROUTER_NS_ENV]);
  cleanups.set(`lan ${lan.ns}`, () => lan.remove());
  lan.build();
  console.log(`(LAN of ${devices} devices: ${lan.neighbourCount()} permanent neighbour entries on ${lan.iface} in ${lan.ns})`);
  if (TRAFFIC) lan.startTraffic(join(__dirname, 'pipeline-traffic.js'), { downBps: 20e6, upBps: 4e6, phaseSeconds: 30 });
  let profileDir: string | null = null;
  if (CPU_PROFILE) {
    const dir = mkdtempSync(join(tmpdir(), `${TMP_PREFIX}${process.pid}-prof-`));
    cleanups.set(`dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    profileDir = dir;
  }
  const s = await startHome(`n${devices}`, benchFlow(lan), lan.iface, [...nodeFlags(), ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])]);
  const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
  let window: [number, number] = [0, 0];
  const ticks: TickRecord[] = [];
  const drain = async () => ticks.push(...(await getJson<TickRecord[]>(s, '/equalnet-bench/ticks')));
  const meter = new DashboardMeter();
  try {
    // the pipeline is full: every device in the allocation the API serves
    const fullBy = Date.now() + 180_000;
    for (;;) {
      const status = await getJson<{ total_clients: number }>(s, '/api/status').catch(() => ({ total_clients: 0 }));
      if (status.total_clients >= devices) break;
      if (Date.now() > fullBy) throw new Error(`after 180 s the API counts ${status.total_clients} of ${devices} clients; log:\n${s.nodeRed.log().slice(-3000)}`);
      await sleep(1000);
    }
    if (DASHBOARD) await meter.connect(s.port);
    await sleep(WARMUP_S * 1000);
    await drain();
    ticks.length = 0;

    // the window: ticking, the dashboard open, nobody calling the API
    window[0] = monotonicUs();
    const t0 = { wall: Date.now(), threads: threadTicks(s.pid), stat: procStat(s.pid), kept: liveChildren(s.pid), status: procStatus(s.pid), heap: await heapAfterGc(s), db: dbBytes(s.userDir), writes: writeBytes(s.pid) };
    const tx0 = lan.lanTxBytes();
    meter.reset();
    if (ALLOCATIONS) await getJson(s, '/equalnet-bench/allocations?start=1', 'POST');
    const rssSamples: number[] = [t0.status.rss];
    const heapSamples: number[] = [];
    const end = Date.now() + MINUTES * 60_000;
    let nextSample = Date.now() + 30_000;
    while (Date.now() < end) {
      await sleep(Math.min(10_000, Math.max(0, end - Date.now())));
      await drain();
      rssSamples.push(procStatus(s.pid).rss);
      if (Date.now() >= nextSample) {
        nextSample += 30_000;
        heapSamples.push((await getJson<Memory>(s, '/equalnet-bench/memory')).heapUsed);
      }
    }
    const t1 = { wall: Date.now(), threads: threadTicks(s.pid), stat: procStat(s.pid), kept: liveChildren(s.pid), status: procStatus(s.pid), db: dbBytes(s.userDir), writes: writeBytes(s.pid) };
    window[1] = monotonicUs();
    const allocations = ALLOCATIONS ? analyseAllocations((await getJson<{ head: Parameters<typeof analyseAllocations>[0] }>(s, '/equalnet-bench/allocations', 'POST')).head, PROJECT_ROOT, 45) : null;
    const map = rssMap(s.pid);
    const memory = await getJson<Memory>(s, '/equalnet-bench/memory');
    const dashboard = { bytes: meter.bytes, frames: meter.frames, byEvent: [...meter.byEvent].map(([k, v]) => [k, { ...v }] as [string, { frames: number; bytes: number }]).sort((a, b) => b[1].bytes - a[1].bytes) };
    const heapEnd = await heapAfterGc(s);
    const txMbps = ((lan.lanTxBytes() - tx0) * 8) / ((t1.wall - t0.wall) / 1000) / 1e6;
    rssSamples.push(t1.status.rss);
    const seconds = (t1.stat.at - t0.stat.at) / 1000;
    const cpu = (ticksUsed: number) => (ticksUsed / CLK_TCK / seconds) * 100;

    // what the kernel holds: the shaper's classes and the counter's set elements
    const tcClasses = execFileSync('ip', ['netns', 'exec', lan.ns, 'tc', 'class', 'show', 'dev', lan.iface]).toString().split('\n').filter((l) => l.startsWith('class htb')).length;
    let nftElements = 0;
    if (PER_CLIENT) {
      const nft = execFileSync('ip', ['netns', 'exec', lan.ns, 'nft', '-j', 'list', 'table', 'inet', `equalnet_acct_${lan.iface}`]).toString();
      nftElements = (JSON.parse(nft) as { nftables: { set?: { elem?: unknown[] } }[] }).nftables.reduce((n, i) => n + (i.set?.elem?.length ?? 0), 0);
    }
    const clients = await getJson<{ usage: number }[]>(s, '/api/clients');
    const rates = `${clients.filter((c) => c.usage > 0).length} of ${clients.length} clients with a measured download rate; ${txMbps.toFixed(1)} Mbit/s left br0 on average`;

    // the API under load, still ticking
    const a0 = Date.now();
    const apiWindow: [number, number] = [monotonicUs(), 0];
    const api: LoadResult[] = [];
    for (const path of API_ROUTES) {
      api.push(await httpLoad(s.port, path, CONNECTIONS, API_SECONDS));
      await sleep(2000);
    }
    const a1 = Date.now();
    apiWindow[1] = monotonicUs();
    meter.close();
    // the last ticks are final 20 s after they began
    await sleep(21_000);
    await drain();
    const inWindow = ticks.filter((t) => t.wallStart >= t0.wall && t.wallStart < t1.wall);
    const underLoad = ticks.filter((t) => t.wallStart >= a0 && t.wallStart < a1);

    const heapSummary = HEAP_SNAPSHOT && devices === Math.max(...SIZES) ? summarise(await heapSnapshot(s)) : null;
    let cpuProfile: CpuSummary | null = null;
    let apiProfile: CpuSummary | null = null;
    if (profileDir) {
      await stopHome(s); // the profile is written at exit
      const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      if (file) cpuProfile = analyseCpuProfile(join(profileDir, file), window[0], window[1], PROJECT_ROOT);
      if (file) apiProfile = analyseCpuProfile(join(profileDir, file), apiWindow[0], apiWindow[1], PROJECT_ROOT);
      if (file && process.env.EQUALNET_BENCH_CPUPROF_KEEP) copyFileSync(join(profileDir, file), process.env.EQUALNET_BENCH_CPUPROF_KEEP);
      else console.log('(no CPU profile written)');
    }
    return {
      map,
      memory,
      cpuProfile,
      apiProfile,
      allocations,
      devices,
      minutes: (t1.wall - t0.wall) / 60_000,
      ticks: tickStats(inWindow),
      ticksUnderLoad: tickStats(underLoad),
      cpuSelf: cpu(t1.stat.self - t0.stat.self),
      cpuSystem: cpu(t1.stat.system - t0.stat.system),
      cpuByThread: [...t1.threads].map(([name, t]) => ({ name, percent: cpu(t - (t0.threads.get(name) ?? 0)) })).filter((x) => x.percent > 0).sort((a, b) => b.percent - a.percent),
      cpuWithChildren: cpu(t1.stat.self - t0.stat.self + t1.stat.children - t0.stat.children + childTicks(t0.kept, t1.kept)),
      kept: [...t1.kept.values()].map((c) => ({ name: c.name, rss: c.rss })),
      rss: { start: t0.status.rss, end: t1.status.rss, max: t1.status.hwm, samples: rssSamples },
      heap: { start: t0.heap, end: heapEnd, samples: heapSamples },
      dashboard,
      sqlite: {
        growthPerHour: ((t1.db - t0.db) / seconds) * 3600,
        writesPerHour: ((t1.writes - t0.writes) / seconds) * 3600,
        fileStart: t0.db,
        fileEnd: t1.db,
      },
      api,
      tcClasses,
      nftElements,
      rates,
      worrying: worrying(s.nodeRed.log()),
      heapSummary,
    };
  } finally {
    meter.close();
    // $EQUALNET_BENCH_NODE_LOG=<file>: Node-RED's own output (e.g. with EQUALNET_NODE_FLAGS=--trace-gc)
    if (process.env.EQUALNET_BENCH_NODE_LOG) writeFileSync(process.env.EQUALNET_BENCH_NODE_LOG, s.nodeRed.log());
    await stopHome(s);
    lan.remove();
    cleanups.delete(`lan ${lan.ns}`);
  }
}

// ---------------------------------------------------------------------------------------------
// the report

const verdict = (ok: boolean) => (ok ? 'ok' : 'NO');

function report(run: Run, bare: Bare): void {
  const t = run.ticks;
  const rows: Record<string, string>[] = [];
  const row = (figure: string, measured: string, goal = '—', result = '-') => rows.push({ figure, measured, goal, result });
  const pp = (a: number[]) => `p50 ${ms(quantile(a, 0.5))} / p95 ${ms(quantile(a, 0.95))} ms`;
  row(`ticks measured (every ${TICK_S} s, ${run.minutes.toFixed(1)} min)`, String(t.ticks));
  row('tick end to end (inject → last node done, dashboard and alerts included)', pp(t.e2e), `< ${TICK_S * 1000} ms (the tick)`, verdict(quantile(t.e2e, 0.95) < TICK_S * 1000));
  row('  tick → usage-store done (the pipeline proper)', pp(t.pipeline));
  for (const r of t.rows) {
    if (r.busy.length === 0) continue;
    row(`  ${r.what}: time in node (arrives at p50 ${ms(quantile(r.arrive, 0.5))} ms)`, pp(r.busy));
  }
  row('CPU, Node-RED process (utime+stime)', `${run.cpuSelf.toFixed(2)} % of a core`, `< ${CPU_GOAL} %`, verdict(run.cpuSelf < CPU_GOAL));
  row('  of which, by thread', run.cpuByThread.map((t) => `${t.name} ${t.percent.toFixed(2)}`).join(', '), '—', '-');
  row('  of which, in the kernel (stime: system calls, page faults)', `${run.cpuSystem.toFixed(2)} % of a core`);
  row('CPU, with the commands it runs (ip, nft: cutime+cstime) and keeps running (tc)', `${run.cpuWithChildren.toFixed(2)} % of a core`, `< ${CPU_GOAL} % incl. discovery and counting`, verdict(run.cpuWithChildren < CPU_GOAL));
  const rssMedian = quantile([...run.rss.samples].sort((a, b) => a - b), 0.5);
  row('RSS at start → end of the window (median of every 10 s; max)', `${mb(run.rss.start)} → ${mb(run.rss.end)} (${mb(rssMedian)}; ${mb(run.rss.max)})`, `≤ bare + ${RSS_OVER_BARE_MB} MB = ${mb(bare.rss + RSS_OVER_BARE_MB * MB)}`, verdict(run.rss.end <= bare.rss + RSS_OVER_BARE_MB * MB));
  row('  processes it keeps running, RSS of each (not in the figure above)', run.kept.length ? run.kept.map((k) => `${k.name} ${mb(k.rss)}`).join(', ') : 'none');
  row('heap after full GC at start → end', `${mb(run.heap.start)} → ${mb(run.heap.end)} (${run.heap.end >= run.heap.start ? '+' : ''}${((run.heap.end - run.heap.start) / MB).toFixed(1)} MB)`, `flat (≤ +${HEAP_GROWTH_MB} MB)`, verdict(run.heap.end - run.heap.start <= HEAP_GROWTH_MB * MB));
  for (const a of run.api) {
    const goal = a.path === '/api/analytics/top/10' ? '— (p99 < 20 ms for the two above)' : `p99 < ${API_P99_GOAL_MS} ms`;
    const others = Object.entries(a.others).map(([k, v]) => `${v}× ${k}`).join(', ');
    row(
      `GET ${a.path}, ${a.connections} concurrent`,
      `p50 ${ms(a.p50Ms)} / p99 ${ms(a.p99Ms)} ms, ${a.perSecond.toFixed(0)} req/s, ${(a.replyBytes / 1024).toFixed(1)} kB a reply${others ? `, ${others}` : ''}`,
      goal,
      a.path === '/api/analytics/top/10' ? '-' : verdict(a.p99Ms < API_P99_GOAL_MS && !others),
    );
  }
  row('tick end to end while the API is loaded', pp(run.ticksUnderLoad.e2e));
  const perTick = run.ticks.ticks > 0 ? run.dashboard.bytes / run.ticks.ticks : NaN;
  row('dashboard: bytes sent to one open dashboard per tick', DASHBOARD ? `${(perTick / 1024).toFixed(1)} kB (${(run.dashboard.frames / Math.max(1, run.ticks.ticks)).toFixed(1)} frames)` : 'not measured (no dashboard open)');
  row('SQLite: database + WAL growth, per hour', mb(run.sqlite.growthPerHour));
  row('  disk writes of the whole process (write_bytes), per hour', mb(run.sqlite.writesPerHour));
  row('bare Node-RED 4.1, empty flow (reference): RSS, heap after GC', `${mb(bare.rss)}, ${mb(bare.heap)}`, '(reference)');
  printTable(rows);
  console.log(`(kernel at the end: ${run.tcClasses} HTB classes on ${'br0'}, ${run.nftElements} nft set elements; ${run.rates})`);
  console.log(`(RSS every 10 s, MB: ${run.rss.samples.map((v) => (v / MB).toFixed(0)).join(' ')}; heap without GC, MB: ${run.heap.samples.map((v) => (v / MB).toFixed(0)).join(' ')})`);
  console.log(`(dashboard frames by event: ${run.dashboard.byEvent.map(([k, v]) => `${k} ${v.frames}× ${(v.bytes / 1024).toFixed(0)} kB`).join(', ')})`);
  const m = run.memory;
  console.log(
    `(RSS at the window's end ${mb(m.rss)}: V8 heap committed ${mb(m.heapTotal)} (used ${mb(m.heapUsed)}), external ${mb(m.external)} (array buffers ${mb(m.arrayBuffers)}); ` +
      `by mapping: anonymous ${mb(run.map.anon)}, malloc brk heap ${mb(run.map.brk)}, files ${mb(run.map.files)} (${run.map.biggestFiles}). ` +
      `Bare: ${mb(bare.memory.rss)}: heap committed ${mb(bare.memory.heapTotal)}, external ${mb(bare.memory.external)}; anonymous ${mb(bare.map.anon)}, brk ${mb(bare.map.brk)}, files ${mb(bare.map.files)})`,
  );
  if (m.spaces) console.log(`(V8 heap spaces at the window's end, MB committed/used: ${spacesText(m)}; bare: ${spacesText(bare.memory)})`);
  if (run.allocations) {
    const a = run.allocations;
    const ticks = Math.max(1, run.ticks.ticks);
    console.log(`\nAllocated in the window (sampled; collected objects included): ${mb(a.totalBytes)}, ${mb(a.totalBytes / ticks)} a tick`);
    printTable(a.byNode.map((p) => ({ 'innermost node on the stack': p.what.slice(0, 80), 'MB a tick': (p.bytes / ticks / MB).toFixed(2), '% of all': p.percent.toFixed(1) })));
    printTable(a.byFunction.map((p) => ({ 'allocated by': p.what.slice(0, 110), 'MB a tick': (p.bytes / ticks / MB).toFixed(2), '% of all': p.percent.toFixed(1) })));
  }
  for (const [c, what] of [[run.cpuProfile, 'the window'], [run.apiProfile, 'the API under load']] as const) {
    if (!c) continue;
    console.log(`\nCPU profile of ${what} (node --cpu-prof; the profiler's own cost included): ${(c.busyMs / 1000).toFixed(1)} s busy of ${(c.windowMs / 1000).toFixed(0)} s`);
    printTable(c.byPlace.map((p) => ({ 'code in': p.what, 'self ms': p.ms.toFixed(0), '% of busy': p.percent.toFixed(1) })));
    printTable(c.byFunction.map((p) => ({ function: p.what.slice(0, 110), 'self ms': p.ms.toFixed(0), '% of busy': p.percent.toFixed(1) })));
    printTable(c.byNode.map((p) => ({ 'innermost node on the stack': p.what.slice(0, 80), 'ms (inclusive)': p.ms.toFixed(0), '% of busy': p.percent.toFixed(1) })));
    if (c.clonesBy.length) printTable(c.clonesBy.map((p) => ({ 'deep copies of messages, asked by': p.what.slice(0, 110), 'ms (inclusive)': p.ms.toFixed(0), '% of busy': p.percent.toFixed(1) })));
  }
  if (run.worrying.length) console.log(`(Node-RED log, ${run.worrying.length} worrying lines, first: ${run.worrying.slice(0, 3).join(' | ')})`);
}

function printHeap(label: string, h: HeapSummary, bare: HeapSummary | null): void {
  console.log(`\nheap snapshot, ${label}: ${(h.totalBytes / MB).toFixed(1)} MB in ${h.nodes} objects`);
  const bareOf = new Map(bare?.classes.map((c) => [c.name, c]) ?? []);
  printTable(
    h.classes.slice(0, 15).map((c) => ({
      class: c.name,
      objects: c.count,
      'self MB': (c.selfBytes / MB).toFixed(1),
      'bare MB': bareOf.has(c.name) ? (bareOf.get(c.name)!.selfBytes / MB).toFixed(1) : '-',
    })),
  );
  console.log('largest strings (alike ones together):');
  printTable(h.strings.map((x) => ({ starts: JSON.stringify(x.start).slice(0, 64), count: x.count, 'MB': (x.bytes / MB).toFixed(2) })));
  console.log('retained most (dominator tree):');
  printTable(
    h.retainers.slice(0, 25).map((r) => ({ depth: r.depth, object: r.what.slice(0, 40), 'held by': r.heldBy.slice(0, 60), 'retained MB': (r.retainedBytes / MB).toFixed(1) })),
  );
}

/**
 * Runs this bench again inside a namespace of its own that becomes the LAN's router: Node-RED is
 * started from there, as it runs on a router (see the file's comment). The namespace is removed
 * when the inner run ends, fails or is interrupted.
 */
async function rerunInRouterNamespace(): Promise<void> {
  const ns = `${NS_PREFIX}${process.pid}-router`;
  let innerPid: number | undefined;
  // the inner run's own namespaces first (named by its pid: `ip netns exec` runs node in the same
  // process): removing the router namespace kills the inner run before its own clean-up
  const remove = () => {
    if (innerPid) removeNamespacesOf(innerPid);
    removeNamespace(ns);
  };
  cleanups.set(`router ${ns}`, remove);
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  console.log(`(Node-RED runs as on a router: this bench runs again inside ${ns}, the LAN's router namespace; EQUALNET_BENCH_PLACE=outside for the lab tests' set-up)`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(__dirname, 'run.js'), 'pipeline'], { stdio: 'inherit', env: { ...process.env, [ROUTER_NS_ENV]: ns } });
    innerPid = child.pid;
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  remove();
  cleanups.delete(`router ${ns}`);
  if (code !== 0) process.exitCode = code;
}

export async function bench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('needs root (network namespaces, nftables, tc); not run');
    process.exitCode = 1;
    return;
  }
  installHandlers();
  const swept = sweepStale();
  if (swept.length) console.log(`(removed what killed runs left: ${swept.join(', ')})`);
  if (ON_ROUTER && !process.env[ROUTER_NS_ENV]) {
    await rerunInRouterNamespace();
    return;
  }
  console.log(
    `(${MINUTES} min per size, ${SIZES.join(' and ')} devices, API ${API_SECONDS} s a route at ${CONNECTIONS} connections, traffic ${TRAFFIC ? 'on' : 'off'}; Node ${process.version}, ${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? '?'})`,
  );
  try {
    const bare = await measureBare();
    for (const n of SIZES) {
      const run = await measurePipeline(n);
      console.log(
        `\n### ${n} devices: default flow, ${SHAPING}, per-client counting ${PER_CLIENT ? 'on' : 'off'}, traffic ${TRAFFIC ? 'on' : 'off'}, ${DASHBOARD ? 'one dashboard open' : 'no dashboard open'}, ${run.minutes.toFixed(1)} min window`,
      );
      report(run, bare);
      if (run.heapSummary) printHeap(`${n} devices, after the run`, run.heapSummary, bare.heapSummary);
    }
    if (bare.heapSummary) printHeap('bare Node-RED', bare.heapSummary, null);
  } finally {
    runCleanups();
  }
}
