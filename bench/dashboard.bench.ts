// The dashboard for 250 devices (issue 16): what the browser receives on the dashboard's socket per
// tick, and how long the page takes to show it.
//
// Set-up: a real Node-RED 4.1 started as the runtime tests start it (scripts/node-red-home.ts,
// test/helpers/runtime.ts) with the shipped default flow in dry-run, fed the way the demo's replay
// feeds it (demo/flow.ts replayFlow: an `http in` route into priority-allocator and the alert rules,
// the tick and arp-discover's watcher off, nothing read from this machine; the replay's banner left
// out and the shipped client cap, database and store resolution kept). This process POSTs a
// snapshot of N devices every 2 s (bench/dashboard-feed.ts: vendors, hostnames, icons, IPv4 and
// IPv6, one in ten busy). No root, no namespace: nothing on this machine is read or shaped.
//
// Measured: Debian's Chromium (playwright-core, /usr/bin/chromium) opens each dashboard page in turn
// (the ui_tab nodes of the deployed flow, in the dashboard's menu order) for EQUALNET_BENCH_DASH_TICKS
// (10) ticks after the one it loads in (1,000 devices: half as many):
// - bytes per tick the page's websocket receives (CDP Network.webSocketFrameReceived), by event
//   and widget, largest first;
// - render per tick, in the page (an init script): from the tick's first socket.io frame arriving
//   to the page settled and painted (each frame and each DOM change, seen by a MutationObserver,
//   is followed by two requestAnimationFrame; the tick's render ends at the paint after the last
//   change of the run its frames began), p50 / p95; DOM changes in the page's own animation frames
//   (a gauge's needle) are an animation, reported apart; long tasks (PerformanceObserver) per tick;
// then one row at 1,000 devices on the page whose own widgets got the most bytes at 250 (where
// the devices are listed; a figure, no goal).
// Without /usr/bin/chromium the render rows say "not measured: chromium missing" and the bytes
// are counted by a socket client (bench/pipeline-load.ts DashboardMeter) instead.
// Run it alone: `npm run build && node bench/run.js dashboard` (under flock /tmp/equalnet-lab.lock).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type CDPSession, type Page } from 'playwright-core';
import { replayFlow, REPLAY_BANNER, REPLAY_PATH, type FlowNode } from '../demo/flow';
import { nodeRedArgs, prepareHome, PROJECT_ROOT } from '../scripts/node-red-home';
import { freePort, startNodeRed, worrying, type RunningNodeRed } from '../test/helpers/runtime';
import { type AllocationCase } from './allocated';
import { DashboardLan, nodeRedRunner, pageSnapshots } from './dashboard-feed';
import { killOrphans, removeOrphanDirs } from './orphans';
import { bytesByTopic, frameEvent, frameTopic, mergeTopics, quantileOf, renderPerTick, type PageTimeline, type TickRender, type TopicBytes, type Widget } from './dashboard-frames';
import { DashboardMeter } from './pipeline-load';
import { printTable } from './stats';

/** Debian's Chromium; EQUALNET_BENCH_CHROMIUM names another (a path that does not exist shows the run without one). */
const CHROMIUM = process.env.EQUALNET_BENCH_CHROMIUM ?? '/usr/bin/chromium';
const TICK_MS = 2000;
const TICKS = Number(process.env.EQUALNET_BENCH_DASH_TICKS ?? 10);
const DEVICES = 250;
/** A directory: each page's timeline and frames (JSON), a screenshot and Node-RED's log are written there (to look at a run). */
const DUMP = process.env.EQUALNET_BENCH_DASH_DUMP;
const MORE_DEVICES = 1000;
const IFACE = 'br-lan';
// goals (issue 16)
const BYTES_GOAL = 100 * 1024;
const RENDER_GOAL_MS = 100;
// garbage a tick of the dashboard's functions (issue 17: a third or less of before; what was reached
// + ~20 %). The Overview's goal has room for a jump of V8's old space (~10 kB a call over 20 calls,
// some runs: each run of a function node's code gets fresh feedback vectors, made in the old space)
const GOAL_ROWS_250 = 42 * 1024;
const GOAL_ROWS_1000 = 120 * 1024;
const GOAL_OVERVIEW = 22 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kB = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`;
const ms = (v: number | null) => (v === null || !Number.isFinite(v) ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const verdict = (ok: boolean) => (ok ? 'ok' : 'NO');

// ---------------------------------------------------------------------------------------------
// garbage per tick of the dashboard's functions (bench/garbage.bench.ts; no Node-RED, no browser)

function flowFunction(id: string): FlowNode {
  const flow = JSON.parse(readFileSync(join(__dirname, '..', 'flows', 'default.json'), 'utf8')) as FlowNode[];
  const node = flow.find((n) => n.id === id);
  if (!node) throw new Error(`flows/default.json: no node ${id}`);
  return node;
}

/**
 * One tick of `device rows` or `overview figures` (their code from flows/default.json, run as
 * Node-RED's function node runs it: bench/dashboard-feed.ts nodeRedRunner), each call the next of
 * two snapshots that differ in a tenth of the devices' rates (pageSnapshots; with the allocator's
 * answer to that, a fifth of the rows change), after the first tick (every row new).
 */
function pageTick(id: string, clients: number): () => () => unknown {
  return () => {
    const clock = { now: 1_000_000 };
    const run = nodeRedRunner(flowFunction(id) as { func?: string; initialize?: string }, clock);
    const { first, next } = pageSnapshots(clients);
    const msgs = [{ topic: 'snapshot', payload: next }, { topic: 'snapshot', payload: first }];
    void run(msgs[1]);
    let i = 0;
    return () => {
      clock.now += TICK_MS;
      return run(msgs[i++ & 1]);
    };
  };
}

/**
 * Before issue 17's work (every row and its key made each tick): 460 kB a tick at 250 devices,
 * 1.8 MB at 1,000; the Overview's 17 kB (for-of's objects in the interpreter).
 */
export function allocationCases(): AllocationCase[] {
  const what = (n: number) => `dashboard device rows: a tick, a tenth of the rates changed, ${n.toLocaleString('en')} devices`;
  return [
    { what: what(DEVICES), clients: DEVICES, prepare: pageTick('equalnet.dash.fn.devices', DEVICES), goalBytes: GOAL_ROWS_250 },
    { what: what(MORE_DEVICES), clients: MORE_DEVICES, prepare: pageTick('equalnet.dash.fn.devices', MORE_DEVICES), goalBytes: GOAL_ROWS_1000 },
    { what: `dashboard overview figures: a tick, ${DEVICES} devices`, clients: DEVICES, prepare: pageTick('equalnet.dash.fn.overview', DEVICES), goalBytes: GOAL_OVERVIEW },
  ];
}

// ---------------------------------------------------------------------------------------------
// the flow and the Node-RED

/**
 * The default flow as the demo's replay runs it (dry-run, fed over loopback), with the shipped
 * client cap (the demo's household has 64), database and store resolution, and no replay banner.
 */
export function dashboardBenchFlow(base: readonly FlowNode[]): FlowNode[] {
  const config = base.find((n) => n.type === 'equalnet-config');
  const store = base.find((n) => n.id === 'equalnet.store');
  if (!config || !store) throw new Error('flows/default.json: no equalnet-config or no usage-store equalnet.store');
  const flow = replayFlow(base, { downMbps: Number(config.downMbps), upMbps: Number(config.upMbps) }, IFACE).filter(
    (n) => !(n.type === 'ui_template' && String(n.format ?? '').includes(JSON.stringify(REPLAY_BANNER))),
  );
  const replayed = flow.find((n) => n.id === config.id)!;
  for (const key of ['clientCap', 'dbFile', 'downMbps', 'upMbps']) replayed[key] = config[key];
  flow.find((n) => n.id === store.id)!.resolutionSec = store.resolutionSec;
  return flow;
}

/** The flow's dashboard widgets by id, with their page: what an update-value frame is for. */
export function widgetsOf(flow: readonly FlowNode[]): Map<string, Widget> {
  const tabs = new Map(flow.filter((n) => n.type === 'ui_tab').map((n) => [n.id, String(n.name ?? n.id)]));
  const groupTab = new Map(flow.filter((n) => n.type === 'ui_group').map((n) => [n.id, String(n.tab ?? '')]));
  const out = new Map<string, Widget>();
  for (const n of flow) {
    if (!n.type.startsWith('ui_') || n.type === 'ui_tab' || n.type === 'ui_group' || n.type === 'ui_base') continue;
    const page = tabs.get(groupTab.get(String(n.group ?? '')) ?? '');
    out.set(n.id, { id: n.id, type: n.type, ...(n.name ? { name: String(n.name) } : {}), ...(page ? { page } : {}) });
  }
  return out;
}

const cleanups: Array<() => Promise<void> | void> = [];
const TMP_PREFIX = 'equalnet-dashbench-';
/** Set in the environment of the Node-RED the bench starts: the bench's pid. */
const OWNER_ENV = 'EQUALNET_DASHBOARD_BENCH_OWNER';

/** The Node-RED and the temp dirs of a bench run that was killed (kill -9): its pid is gone. */
function sweepStale(): string[] {
  return [...killOrphans(OWNER_ENV), ...removeOrphanDirs(TMP_PREFIX)];
}

async function startHome(flow: FlowNode[]): Promise<{ nodeRed: RunningNodeRed; base: string; port: number }> {
  const home = mkdtempSync(join(tmpdir(), `${TMP_PREFIX}${process.pid}-`));
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  const flowFile = join(home, 'flow.json');
  writeFileSync(flowFile, JSON.stringify(flow));
  const port = await freePort();
  const userDir = join(home, 'user');
  prepareHome(userDir, port, IFACE, flowFile);
  // the marker lets a later run find this Node-RED if this bench is killed (sweepStale)
  const nodeRed = await startNodeRed(nodeRedArgs(userDir, port), port, { [OWNER_ENV]: String(process.pid) }, 120_000);
  cleanups.push(() => nodeRed.stop());
  return { nodeRed, port, base: `http://127.0.0.1:${port}` };
}

/** POSTs a snapshot of `size` devices every 2 s; each send's time is kept and announced. */
class Feeder {
  private stopped = false;
  private tick = 0;
  private waiting: Array<(sent: number) => void> = [];
  private lans = new Map<number, DashboardLan>();
  size = DEVICES;
  errors: string[] = [];
  done: Promise<void>;

  constructor(private readonly base: string) {
    this.done = this.run();
  }

  private lan(): DashboardLan {
    let lan = this.lans.get(this.size);
    if (!lan) this.lans.set(this.size, (lan = new DashboardLan(this.size)));
    return lan;
  }

  private async run(): Promise<void> {
    const start = Date.now();
    while (!this.stopped) {
      const sent = Date.now();
      const body = JSON.stringify({ topic: 'snapshot', payload: this.lan().snapshot(this.tick, sent, IFACE) });
      try {
        const res = await fetch(this.base + REPLAY_PATH, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
        if (res.status !== 204) this.errors.push(`HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      } catch (err) {
        this.errors.push((err as Error).message);
      }
      for (const w of this.waiting.splice(0)) w(sent);
      this.tick++;
      await sleep(Math.max(0, start + this.tick * TICK_MS - Date.now()));
    }
  }

  /** The send time of the next snapshot. */
  next(): Promise<number> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

async function untilClients(base: string, n: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    try {
      const res = await fetch(`${base}/api/status`, { headers: { Accept: 'application/json' } });
      last = ((await res.json()) as { total_clients: number }).total_clients;
      if (last >= n) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`the API counts ${last} of ${n} clients after ${timeoutMs / 1000} s`);
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------
// the browser

/** Installed in every page before its scripts: the timeline renderPerTick reads. */
const INIT_SCRIPT = `(() => {
  const now = () => performance.timeOrigin + performance.now();
  const LIMIT = 200000;
  const rec = { frames: [], marks: [], longTasks: [], animations: [] };
  const nativeRaf = window.requestAnimationFrame.bind(window);
  window.__equalnetBench = rec;
  const paintAfter = (at) => nativeRaf(() => nativeRaf(() => { if (rec.marks.length < LIMIT) rec.marks.push({ at, painted: now() }); }));
  const Native = window.WebSocket;
  class Watched extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (!String(url).includes('/socket.io/')) return;
      // registered before socket.io's own handler: runs first, as the frame is handled
      this.addEventListener('message', (e) => {
        if (typeof e.data === 'string' && e.data.charAt(0) !== '4') return; // engine.io ping, noop
        const at = now();
        if (rec.frames.length < LIMIT) rec.frames.push(at);
        paintAfter(at);
      });
    }
  }
  window.WebSocket = Watched;
  const observer = new MutationObserver(() => paintAfter(now()));
  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  // the page's own animation frames: what they change is an animation, taken out of the observer's queue
  window.requestAnimationFrame = function (cb) {
    return nativeRaf((t) => {
      try {
        return cb(t);
      } finally {
        if (observer.takeRecords().length > 0 && rec.animations.length < LIMIT) rec.animations.push(now());
      }
    });
  };
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (rec.longTasks.length < LIMIT) rec.longTasks.push({ at: performance.timeOrigin + e.startTime, ms: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  } catch (err) { rec.noLongTasks = String(err); }
})();`;

interface Frame {
  at: number;
  payload: string;
  binary: boolean;
}

class Browsing {
  frames: Frame[] = [];
  /** socket.io packets the page received over HTTP long-polling (before the websocket upgrade). */
  polled: Frame[] = [];
  private constructor(readonly browser: Browser, readonly page: Page, readonly cdp: CDPSession) {}

  static async open(): Promise<Browsing> {
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.addInitScript(INIT_SCRIPT);
    const cdp = await page.context().newCDPSession(page);
    const b = new Browsing(browser, page, cdp);
    cdp.on('Network.webSocketFrameReceived', (e) => {
      // opcode 1: text (the payload as is), 2: binary (base64)
      b.frames.push({ at: Date.now(), payload: e.response.payloadData, binary: e.response.opcode === 2 });
    });
    await cdp.send('Network.enable');
    page.on('response', (r) => {
      if (r.request().method() !== 'GET' || !/\/socket\.io\/.*transport=polling/.test(r.url())) return;
      const at = Date.now();
      // Engine.IO 4 joins a poll's packets with the record separator
      r.text().then((text) => b.polled.push(...text.split('\x1e').map((payload) => ({ at, payload, binary: false }))), () => undefined);
    });
    return b;
  }

  /** The dashboard's menu (tab ids in its order) from its ui-controls event. */
  async menu(base: string): Promise<string[]> {
    this.frames = [];
    this.polled = [];
    await this.page.goto(`${base}/ui/`);
    const deadline = Date.now() + 20_000;
    for (;;) {
      // the first event comes on connection, often still over polling
      for (const f of [...this.polled, ...this.frames]) {
        if (!f.payload.startsWith('42["ui-controls"')) continue;
        const [, controls] = JSON.parse(f.payload.slice(2)) as [string, { menu: { id?: string }[] }];
        return controls.menu.map((m) => m.id ?? '');
      }
      if (Date.now() > deadline) throw new Error('the dashboard sent no ui-controls in 20 s');
      await sleep(200);
    }
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

const bytesOf = (f: Frame) => (f.binary ? Buffer.from(f.payload, 'base64').length : Buffer.byteLength(f.payload, 'utf8'));

interface PageRun {
  page: string;
  devices: number;
  note: string;
  ticks: TickRender[];
  bytes: number;
  frames: number;
  topics: TopicBytes[];
  /** Bytes of the frames for each page's own widgets. */
  byPage: Map<string, number>;
}

/**
 * One page for `ticks` ticks. The first is the one sent after the page has shown its title: the one
 * before, sent while it loaded (it also gets the last values again on connection), is its warm-up.
 */
async function measurePage(b: Browsing, feeder: Feeder, base: string, tab: { name: string; index: number }, widgets: Map<string, Widget>, devices: number, ticks: number): Promise<PageRun> {
  let note = '';
  await b.page.goto('about:blank');
  await b.page.goto(`${base}/ui/#!/${tab.index}`);
  try {
    // the dashboard's own frame: its toolbar names the page shown
    await b.page.locator('md-toolbar').getByText(tab.name, { exact: true }).first().waitFor({ timeout: 15_000 });
  } catch {
    note = 'its title was not seen in the toolbar; ';
  }
  b.frames = [];
  b.polled = [];
  await b.page.evaluate('(() => { const r = window.__equalnetBench; r.frames.length = 0; r.marks.length = 0; r.longTasks.length = 0; r.animations.length = 0; })()');
  const sent: number[] = [];
  for (let k = 0; k < ticks; k++) sent.push(await feeder.next());
  await sleep(TICK_MS); // the last tick's window
  const timeline = (await b.page.evaluate('window.__equalnetBench')) as PageTimeline & { noLongTasks?: string };
  if (DUMP) await b.page.screenshot({ path: join(DUMP, `${tab.name}-${devices}.png`), fullPage: true });
  if (DUMP) writeFileSync(join(DUMP, `${tab.name}-${devices}.json`), JSON.stringify({ sent, timeline, frames: b.frames.map((f) => ({ at: f.at, bytes: bytesOf(f), head: f.payload.slice(0, 80) })) }));
  if (timeline.noLongTasks) note += `no long-task observer (${timeline.noLongTasks}); `;
  const end = sent[sent.length - 1] + TICK_MS;
  const polled = b.polled.filter((f) => f.at >= sent[0] && f.at < end && f.payload.length > 1);
  if (polled.length) note += `${polled.length} packets came over HTTP polling, not counted; `;
  const inWindow = b.frames.filter((f) => f.at >= sent[0] && f.at < end);
  const frames = inWindow.map((f) => ({ topic: frameTopic(f.binary ? '' : f.payload, f.binary, widgets), bytes: bytesOf(f) }));
  const byPage = new Map<string, number>();
  inWindow.forEach((f, i) => {
    const page = widgets.get(frameEvent(f.binary ? '' : f.payload, f.binary).id ?? '')?.page;
    if (page) byPage.set(page, (byPage.get(page) ?? 0) + frames[i].bytes);
  });
  return {
    page: tab.name,
    devices,
    note: note.replace(/; $/, ''),
    ticks: renderPerTick(sent, TICK_MS, timeline),
    bytes: frames.reduce((s, f) => s + f.bytes, 0),
    frames: frames.length,
    topics: bytesByTopic(frames),
    byPage,
  };
}

// ---------------------------------------------------------------------------------------------
// the report

function pageRow(r: PageRun): Record<string, string> {
  const n = r.ticks.length;
  const renders = r.ticks.map((t) => t.renderMs).filter((v): v is number => v !== null);
  const firsts = r.ticks.map((t) => t.firstFrameMs).filter((v): v is number => v !== null);
  const long = r.ticks.reduce((s, t) => s + t.longTasks, 0);
  const longMs = r.ticks.reduce((s, t) => s + t.longTaskMs, 0);
  const top = r.topics
    .slice(0, 2)
    .map((t) => `${t.topic.replace(/^update-value: /, '')} ${kB(t.bytes / n)}`)
    .join(', ');
  return {
    page: r.page,
    devices: String(r.devices),
    ticks: `${renders.length}/${n}`,
    'per tick': `${kB(r.bytes / n)} (${(r.frames / n).toFixed(1)} frames)`,
    'render p50 / p95 ms': `${ms(quantileOf(renders, 0.5))} / ${ms(quantileOf(renders, 0.95))}`,
    'animation p50 ms': ms(quantileOf(r.ticks.map((t) => t.animationMs).filter((v): v is number => v !== null), 0.5)),
    'long tasks per tick': `${(long / n).toFixed(1)} (${ms(longMs / n)} ms)`,
    'send → 1st frame p50': `${ms(quantileOf(firsts, 0.5))} ms`,
    'largest (kB per tick)': top + (r.note ? ` [${r.note}]` : ''),
  };
}

function mergeBytes(maps: Map<string, number>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

const p95 = (r: PageRun) => quantileOf(r.ticks.map((t) => t.renderMs).filter((v): v is number => v !== null), 0.95);

function report(runs: PageRun[], more: PageRun | null): void {
  printTable([...runs, ...(more ? [more] : [])].map(pageRow));
  const worstBytes = runs.reduce((a, b) => (b.bytes / b.ticks.length > a.bytes / a.ticks.length ? b : a));
  const worstRender = runs.reduce((a, b) => (p95(b) > p95(a) || Number.isNaN(p95(a)) ? b : a));
  const worstPerTick = worstBytes.bytes / worstBytes.ticks.length;
  console.log();
  printTable([
    { goal: `bytes per tick < ${BYTES_GOAL / 1024} kB (${DEVICES} devices, every page)`, measured: `${kB(worstPerTick)} at most (${worstBytes.page})`, result: verdict(worstPerTick < BYTES_GOAL) },
    { goal: `render < ${RENDER_GOAL_MS} ms (${DEVICES} devices, p95 of every page)`, measured: `${ms(p95(worstRender))} ms at most (${worstRender.page})`, result: verdict(p95(worstRender) < RENDER_GOAL_MS) },
    ...(more ? [{ goal: `(${MORE_DEVICES} devices, ${more.page}: a figure, no goal)`, measured: `${kB(more.bytes / more.ticks.length)} per tick, render p95 ${ms(p95(more))} ms`, result: '-' }] : []),
  ]);
  // what the bytes are: the dashboard sends every update to every open page, whichever it shows
  const all = mergeTopics(runs.map((r) => r.topics));
  const ticks = runs.reduce((s, r) => s + r.ticks.length, 0);
  console.log(`\nwhat a tick's bytes are for, ${DEVICES} devices, all pages (${ticks} ticks), largest first:`);
  printTable(all.slice(0, 12).map((t) => ({ 'event: widget (page)': t.topic, 'kB per tick': (t.bytes / ticks / 1024).toFixed(1), 'frames per tick': (t.frames / ticks).toFixed(2) })));
}

/** Without a browser: what one socket client receives per tick (the same broadcast every page gets). */
async function socketOnly(port: number, feeder: Feeder): Promise<void> {
  const meter = new DashboardMeter();
  await meter.connect(port);
  try {
    await feeder.next();
    meter.reset();
    for (let k = 0; k < TICKS; k++) await feeder.next();
    const perTick = meter.bytes / TICKS;
    printTable([
      { figure: `render in Chromium (${DEVICES} devices)`, measured: 'not measured: chromium missing', goal: `< ${RENDER_GOAL_MS} ms`, result: '-' },
      { figure: `bytes per tick, a socket client (${DEVICES} devices)`, measured: `${kB(perTick)} (${(meter.frames / TICKS).toFixed(1)} frames)`, goal: `< ${BYTES_GOAL / 1024} kB`, result: verdict(perTick < BYTES_GOAL) },
    ]);
    console.log(`(by event: ${[...meter.byEvent].sort((a, b) => b[1].bytes - a[1].bytes).map(([k, v]) => `${k} ${kB(v.bytes / TICKS)}`).join(', ')})`);
  } finally {
    meter.close();
  }
}

export async function bench(): Promise<void> {
  const began = Date.now();
  const swept = sweepStale();
  if (swept.length) console.log(`(removed what killed runs left: ${swept.join(', ')})`);
  const base0 = JSON.parse(readFileSync(join(PROJECT_ROOT, 'flows', 'default.json'), 'utf8')) as FlowNode[];
  const flow = dashboardBenchFlow(base0);
  const widgets = widgetsOf(flow);
  const tabs = flow.filter((n) => n.type === 'ui_tab');
  console.log(`(default flow in dry-run, fed ${DEVICES} devices a tick every ${TICK_MS / 1000} s over loopback; ${TICKS} ticks a page; pages in the flow: ${tabs.map((t) => t.name).join(', ')}; Node ${process.version})`);
  const onSignal = () => {
    void Promise.allSettled(cleanups.reverse().map((c) => c())).then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let feeder: Feeder | null = null;
  try {
    const { nodeRed, base, port } = await startHome(flow);
    feeder = new Feeder(base);
    await untilClients(base, DEVICES);
    if (!existsSync(CHROMIUM)) {
      await socketOnly(port, feeder);
    } else {
      const b = await Browsing.open();
      cleanups.push(() => b.close());
      const menu = await b.menu(base);
      const runs: PageRun[] = [];
      const skipped: string[] = [];
      const shown = tabs
        .map((t) => ({ name: String(t.name ?? t.id), index: menu.indexOf(t.id), disabled: t.disabled === true }))
        .sort((a, c) => a.index - c.index);
      for (const t of shown) {
        if (t.index < 0 || t.disabled) {
          skipped.push(`${t.name} (${t.disabled ? 'disabled' : 'not in the dashboard\'s menu: no widget'})`);
          continue;
        }
        runs.push(await measurePage(b, feeder, base, t, widgets, DEVICES, TICKS));
      }
      let more: PageRun | null = null;
      if (runs.length > 0) {
        // the page with the most bytes for its own widgets: where the devices are shown
        const heaviest = [...mergeBytes(runs.map((r) => r.byPage))].sort((x, y) => y[1] - x[1])[0]?.[0] ?? runs[0].page;
        feeder.size = MORE_DEVICES;
        await untilClients(base, MORE_DEVICES);
        await feeder.next();
        more = await measurePage(b, feeder, base, shown.find((t) => t.name === heaviest) ?? shown.find((t) => t.name === runs[0].page)!, widgets, MORE_DEVICES, Math.max(3, Math.round(TICKS / 2)));
        more.note = `the page with the most bytes of its own at ${DEVICES}` + (more.note ? `; ${more.note}` : '');
        report(runs, more);
      }
      if (skipped.length) console.log(`(not measured: ${skipped.join(', ')})`);
    }
    await feeder.stop();
    if (feeder.errors.length) console.log(`(feed: ${feeder.errors.length} snapshots refused, first: ${feeder.errors[0]})`);
    if (DUMP) writeFileSync(join(DUMP, 'node-red.log'), nodeRed.log());
    const bad = worrying(nodeRed.log());
    if (bad.length) console.log(`(Node-RED log: ${bad.length} worrying lines, first: ${bad.slice(0, 2).join(' | ')})`);
    console.log(`(took ${((Date.now() - began) / 1000).toFixed(0)} s)`);
  } finally {
    await feeder?.stop();
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
    cleanups.length = 0;
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
