/**
 * `npm run demo`: a household in network namespaces, shaped live by the default flow.
 *
 *   npm run demo                      as root: build the household, run it, shaped (Ctrl-C ends it)
 *   npm run demo -- --replay          anyone: play the recorded session (demo/recording.json), dry-run
 *   npm run demo -- --record FILE     as root: also record what the pipeline saw, for --replay
 *   options: --port N (else $PORT, else 1880), --duration S (end by itself after S seconds),
 *            --recording FILE (what --replay plays), --log FILE (Node-RED's log, also)
 *
 * Live: the lab (test/lab/lab.ts) with the prefix eqdemo- builds the router (br-lan, dnsmasq), the
 * WAN namespace ("the internet", with the ISP's bottleneck: a TBF a little above the link EqualNet
 * is told, so that shaping below it matters, as with sqm) and the devices of demo/household.ts,
 * each doing what such a device does. Node-RED runs the shipped default flow (demo/flow.ts) in
 * enforce with per-client counting, on 127.0.0.1 only, from a temporary user directory. The demo
 * measures the video call while the game downloads, with EqualNet and with shaping off, and prints
 * the difference; then a guest's device arrives and a phone leaves, so the alerts fire.
 *
 * Nothing is left behind: Node-RED runs in its own process group and dies with the demo
 * (PR_SET_PDEATHSIG through setpriv, so even a kill -9 of the demo takes it along), the traffic
 * runs inside the namespaces, which are deleted with everything in them on exit, Ctrl-C, SIGTERM
 * or an error; and a start first removes what a killed earlier run left (its namespaces, its
 * processes, its temporary directories). A second demo while one runs is refused before anything
 * is built.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { alive, Lab, WAN, type LabClient } from '../test/lab/lab';
import { nodeRedArgs, prepareHome, PROJECT_ROOT } from '../scripts/node-red-home';
import { liveFlow, replayFlow, REPLAY_BANNER, REPLAY_PATH, type FlowNode } from './flow';
import { CALL, DEMO_PREFIX, HOME_PREFIX, HOUSEHOLD, ISP, LINK, MEASURE, OWNER_ENV, type Member } from './household';
import { loopMessages, parseRecording, Recorder } from './recording';

const DEFAULT_RECORDING = join(PROJECT_ROOT, 'demo', 'recording.json');
/** The Debian packages the live demo needs, by the command it runs. */
const TOOLS: Record<string, string> = { ip: 'iproute2', tc: 'iproute2', dnsmasq: 'dnsmasq-base', iperf3: 'iperf3', busybox: 'busybox', ping: 'iputils-ping', nft: 'nftables', 'arp-scan': 'arp-scan' };

const say = (line: string) => console.log(`EqualNet demo: ${line}`);

interface Options {
  replay: boolean;
  record?: string;
  recording: string;
  port: number;
  durationSec?: number;
  /** Node-RED's log goes here too (it is kept in memory and shown if Node-RED fails). */
  log?: string;
}

function usage(problem: string): never {
  console.error(`EqualNet demo: ${problem}\nusage: npm run demo [-- --replay | --record FILE] [--port N] [--duration S] [--recording FILE] [--log FILE]`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { replay: false, recording: DEFAULT_RECORDING, port: Number(process.env.PORT ?? 1880) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--replay') o.replay = true;
    else if (a === '--record') o.record = resolve(value());
    else if (a === '--recording') o.recording = resolve(value());
    else if (a === '--port') o.port = Number(value());
    else if (a === '--duration') o.durationSec = Number(value());
    else if (a === '--log') o.log = resolve(value());
    else if (a === '--help' || a === '-h') usage('help');
    else usage(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) usage(`the port must be 1..65535, got ${o.port}`);
  if (o.durationSec !== undefined && !(o.durationSec > 0)) usage('--duration must be a number of seconds > 0');
  if (o.replay && o.record) usage('--record records the live demo; it cannot be combined with --replay');
  return o;
}

// ---- what a killed earlier run left, and a run that is still going ---------------------------


/** Processes carrying OWNER_ENV: { pid, owner }. Only those this user may read (all of them for root). */
function markedProcesses(): Array<{ pid: number; owner: number }> {
  const out: Array<{ pid: number; owner: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      const owner = Number(env.find((e) => e.startsWith(`${OWNER_ENV}=`))?.slice(OWNER_ENV.length + 1));
      if (Number.isInteger(owner) && owner > 0) out.push({ pid: Number(entry), owner });
    } catch {
      // gone, or another user's
    }
  }
  return out;
}

/** Refuses if another demo runs; removes what dead ones left. */
function sweepPrevious(): void {
  const others = markedProcesses();
  const running = [...new Set(others.map((p) => p.owner))].filter((owner) => owner !== process.pid && alive(owner));
  if (running.length) {
    console.error(`EqualNet demo: another demo is running (pid ${running.join(', ')}): stop it (Ctrl-C in its terminal, or kill ${running[0]}) first`);
    process.exit(1);
  }
  const stale = others.filter((p) => !alive(p.owner));
  for (const p of stale) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const entry of readdirSync(tmpdir())) {
    const m = new RegExp(`^${HOME_PREFIX}(\\d+)-`).exec(entry);
    if (m && !alive(Number(m[1]))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
  if (process.getuid?.() === 0) {
    const removed = Lab.sweepStale(false, DEMO_PREFIX);
    if (removed.length || stale.length) say(`removed what an earlier demo left: ${[...removed, ...stale.map((p) => `process ${p.pid}`)].join(', ')}`);
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createNetServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/sbin'])
    .some((dir) => existsSync(join(dir, name)));
}

/** Why the live demo cannot run here (one line), or null. */
function liveProblem(): string | null {
  if (process.getuid?.() !== 0) return 'the live demo builds a LAN in network namespaces and needs root (sudo npm run demo)';
  const missing = Object.keys(TOOLS).filter((t) => !hasCommand(t));
  if (missing.length) return `the live demo needs ${missing.join(', ')}: apt-get install ${[...new Set(missing.map((t) => TOOLS[t]))].join(' ')}`;
  return null;
}

// ---- Node-RED --------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

class NodeRed {
  readonly child: ChildProcess;
  private logText = '';

  constructor(userDir: string, readonly port: number, logFile?: string) {
    const argv = [process.execPath, ...nodeRedArgs(userDir, port)];
    // dies with the demo whatever ends it; its own process group, so a terminal's Ctrl-C reaches
    // the demo only and the demo stops it
    const withDeathSignal = hasCommand('setpriv') ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
    this.child = spawn(withDeathSignal[0], withDeathSignal.slice(1), {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'production', EQUALNET_HOST: '127.0.0.1', PORT: String(port), [OWNER_ENV]: String(process.pid) },
    });
    const keep = (b: Buffer) => {
      this.logText = (this.logText + b.toString()).slice(-200_000);
      if (logFile) appendFileSync(logFile, b);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
  }

  get log(): string {
    return this.logText;
  }

  async started(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!/Started flows/.test(this.logText)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`Node-RED exited:\n${this.logText.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`Node-RED did not start within ${timeoutMs / 1000} s:\n${this.logText.slice(-3000)}`);
      await sleep(100);
    }
  }

  /** SIGINT to its group, up to 5 s, then SIGKILL. Synchronous: usable on exit. */
  stopSync(): void {
    const pid = this.child.pid;
    if (!pid || this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(-pid, 'SIGINT');
    } catch {
      return;
    }
    for (let i = 0; i < 50 && alive(pid) && !isZombie(pid); i++) sleepSync(100);
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ''));
  } catch {
    return true;
  }
}

async function api<T = unknown>(port: number, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

function writeHome(flow: FlowNode[], port: number): string {
  const home = mkdtempSync(join(tmpdir(), `${HOME_PREFIX}${process.pid}-`));
  const flowFile = join(home, 'demo-flow.json');
  writeFileSync(flowFile, JSON.stringify(flow, null, 2) + '\n');
  prepareHome(join(home, 'node-red'), port, '', flowFile);
  return home;
}

// ---- teardown --------------------------------------------------------------------------------

const cleanups: Array<() => void> = [];
let tornDown = false;
function teardown(): void {
  if (tornDown) return;
  tornDown = true;
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch (err) {
      console.error(`EqualNet demo: cleanup: ${(err as Error).message}`);
    }
  }
}
process.on('exit', teardown);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  // before the lab's own handlers (installed when it is built), which exit at once
  process.prependListener(signal, () => {
    console.log('');
    say(`${signal}: stopping Node-RED, removing the household`);
    teardown();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

// ---- the household's traffic ----------------------------------------------------------------

/** Runs a command in a namespace for as long as the demo (restarted if it ends), until stopped. */
class Traffic {
  private readonly stops = new Map<string, () => void>();

  constructor(private readonly lab: Lab) {}

  private argv(argv: string[]): string[] {
    // killed with the demo even if the demo is killed -9 before it removes the namespaces
    return hasCommand('setpriv') ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
  }

  /** Keeps `argv` running in `ns`; `every` > 0 runs it again that many ms after each end. */
  keep(key: string, ns: string, argv: string[], every = 1000, onLine?: (line: string) => void): void {
    let stopped = false;
    let current: ReturnType<Lab['spawnIn']> | null = null;
    let timer: NodeJS.Timeout | null = null;
    const start = () => {
      if (stopped) return;
      current = this.lab.spawnIn(ns, this.argv(argv));
      if (onLine) {
        let buffered = '';
        current.child.stdout?.on('data', (b: Buffer) => {
          buffered += b.toString();
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          for (const l of lines) onLine(l);
        });
      }
      current.child.on('exit', () => {
        if (!stopped) timer = setTimeout(start, every);
      });
    };
    start();
    this.stops.set(key, () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      current?.stop();
    });
  }

  stop(key: string): void {
    for (const [k, stop] of this.stops) if (k === key || k.startsWith(`${key}:`)) {
      stop();
      this.stops.delete(k);
    }
  }

  stopAll(): void {
    for (const k of [...this.stops.keys()]) this.stop(k);
  }
}

interface CallSecond {
  at: number;
  bps: number;
  rttMs: number | null;
  sent: number;
  received: number;
}

const portOf = (m: Member) => 5201 + HOUSEHOLD.indexOf(m);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

function startServers(lab: Lab, traffic: Traffic): void {
  for (const m of HOUSEHOLD) if (m.role !== 'video-call' && m.role !== 'heartbeat') traffic.keep(`server-${m.name}`, lab.wanNs, ['iperf3', '-s', '-p', String(portOf(m))]);
  traffic.keep('server-call', lab.wanNs, [process.execPath, join(__dirname, 'videocall.js'), 'echo', String(CALL.port)]);
}

function startDevice(lab: Lab, traffic: Traffic, m: Member, calls: CallSecond[]): void {
  const c = lab.clients.get(m.name)!;
  const to = WAN.wan4;
  const p = String(portOf(m));
  const key = `device-${m.name}`;
  switch (m.role) {
    case 'video-call':
      traffic.keep(key, c.ns, [process.execPath, join(__dirname, 'videocall.js'), 'call', to, String(CALL.port), String(CALL.mbps), String(CALL.packetBytes)], 1000, (line) => {
        try {
          const s = JSON.parse(line) as { bps: number; rttMs: number | null; sent: number; received: number };
          calls.push({ at: Date.now(), ...s });
          if (calls.length > 3600) calls.shift();
        } catch {
          /* not a report line */
        }
      });
      break;
    case 'game-download': // a game's download: many parallel TCP flows, as a console's store uses
      traffic.keep(key, c.ns, ['iperf3', '-c', to, '-p', p, '-R', '-P', '8', '-t', '86400', '-i', '0']);
      break;
    case 'stream-4k':
      traffic.keep(key, c.ns, ['iperf3', '-c', to, '-p', p, '-R', '-b', '15M', '-t', '86400', '-i', '0']);
      break;
    case 'backup': // a cloud backup: upload as fast as it may
      traffic.keep(key, c.ns, ['iperf3', '-c', to, '-p', p, '-t', '86400', '-i', '0']);
      break;
    case 'music':
      traffic.keep(key, c.ns, ['iperf3', '-c', to, '-p', p, '-R', '-b', '320K', '-t', '86400', '-i', '0']);
      break;
    case 'browsing': // a page now and then: 1 to 3 MB, then a pause of 4 to 9 s
      traffic.keep(key, c.ns, ['iperf3', '-c', to, '-p', p, '-R', '-n', `${1 + (portOf(m) % 3)}M`, '-i', '0'], 4000 + (portOf(m) % 6) * 1000);
      break;
    case 'heartbeat': // an IoT device: a small packet every 5 s
      traffic.keep(key, c.ns, ['ping', '-q', '-i', '5', to]);
      break;
  }
}

async function ispBottleneck(lab: Lab): Promise<void> {
  // The ISP's side of the line, with a cable or DSL modem's deep buffer (TBF): download queued
  // where it arrives at the router's WAN port (its ingress, through an IFB), upload where it leaves
  // it. Not in the WAN namespace's own qdisc: there the senders' TCP small queues would keep the
  // queue short, which a real ISP's queue, hops away from the server, is not. EqualNet never
  // touches wan0 or this IFB; they go with the router namespace.
  const tbf = (mbps: number) => ['rate', `${mbps}mbit`, 'burst', `${Math.max(16, Math.round((mbps * 1e6) / 8 / 1000 / 250) * 2)}kb`, 'latency', `${ISP.bufferMs}ms`];
  const r = (argv: string[]) => lab.routerExec(argv);
  await r(['ip', 'link', 'add', 'isp-down', 'type', 'ifb']);
  await r(['ip', 'link', 'set', 'isp-down', 'up']);
  await r(['tc', 'qdisc', 'add', 'dev', 'isp-down', 'root', 'tbf', ...tbf(ISP.downMbps)]);
  await r(['tc', 'qdisc', 'add', 'dev', 'wan0', 'handle', 'ffff:', 'ingress']);
  await r(['tc', 'filter', 'add', 'dev', 'wan0', 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', 'isp-down']);
  await r(['tc', 'qdisc', 'replace', 'dev', 'wan0', 'root', 'tbf', ...tbf(ISP.upMbps)]);
}

interface Window {
  rttMs: number;
  mbps: number;
  lossPercent: number;
}

function windowOf(calls: CallSecond[], from: number, to: number): Window {
  const seconds = calls.filter((s) => s.at > from && s.at <= to);
  const rtts = seconds.map((s) => s.rttMs).filter((v): v is number => v !== null);
  const sent = seconds.reduce((a, s) => a + s.sent, 0);
  const received = seconds.reduce((a, s) => a + s.received, 0);
  return {
    rttMs: Math.round(median(rtts) * 10) / 10,
    mbps: Math.round((seconds.reduce((a, s) => a + s.bps, 0) / Math.max(1, seconds.length) / 1e6) * 100) / 100,
    lossPercent: sent ? Math.round((1 - received / sent) * 1000) / 10 : NaN,
  };
}

/** Node-RED with `flow` in a user directory of its own, removed at teardown; its end before then ends the demo. */
function startNodeRed(flow: FlowNode[], o: Options): NodeRed {
  const home = writeHome(flow, o.port);
  cleanups.push(() => rmSync(home, { recursive: true, force: true }));
  const nodeRed = new NodeRed(join(home, 'node-red'), o.port, o.log);
  cleanups.push(() => nodeRed.stopSync());
  nodeRed.child.on('exit', (code, signal) => {
    if (tornDown) return;
    console.error(`EqualNet demo: Node-RED ended (${signal ?? `exit ${code}`}):\n${nodeRed.log.slice(-3000)}`);
    process.exit(1);
  });
  return nodeRed;
}

async function live(o: Options): Promise<void> {
  const started = Date.now();
  const lab = await Lab.create({ prefix: DEMO_PREFIX, clients: HOUSEHOLD.filter((m) => m.joinsAt === undefined) });
  cleanups.push(() => lab.destroySync());
  const traffic = new Traffic(lab);
  cleanups.push(() => traffic.stopAll());
  await ispBottleneck(lab);
  say(`household of ${lab.clients.size} devices up in namespaces ${DEMO_PREFIX}${lab.id}-* (${Date.now() - started} ms)`);

  let recorder: Recorder | null = null;
  let recorderUrl: string | undefined;
  if (o.record) {
    const r = new Recorder(LINK);
    recorder = r;
    let recorderComplained = false;
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (b: Buffer) => {
        body += b.toString();
        if (body.length > 1_000_000) req.destroy();
      });
      req.on('end', () => {
        try {
          r.add(JSON.parse(body));
          res.writeHead(204).end();
        } catch (err) {
          if (!recorderComplained) console.error(`EqualNet demo: recorder: ${(err as Error).message} (further ones not shown)`);
          recorderComplained = true;
          res.writeHead(400).end((err as Error).message);
        }
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    server.unref();
    recorderUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    const file = o.record;
    const save = () => {
      if (r.tickCount) writeFileSync(file, JSON.stringify(r.recording()) + '\n');
    };
    cleanups.push(() => {
      save();
      say(`recorded ${r.tickCount} snapshots to ${file}`);
    });
  }

  const base = JSON.parse(readFileSync(join(PROJECT_ROOT, 'flows', 'default.json'), 'utf8')) as FlowNode[];
  const flow = liveFlow(base, { routerNs: lab.routerNs, iface: lab.lanIface, leasesFile: lab.leasesFile, recorderUrl });
  const nodeRed = startNodeRed(flow, o);

  const calls: CallSecond[] = [];
  startServers(lab, traffic);
  await nodeRed.started();
  await waitForClients(o.port, lab.clients.size);
  const ready = Date.now();
  for (const m of HOUSEHOLD) if (m.joinsAt === undefined) startDevice(lab, traffic, m, calls);
  printWelcome(o.port, lab);
  if (recorder) say(`recording to ${o.record}`);

  // the schedule: a guest arrives, a phone leaves (timers, so the measurement below runs meanwhile)
  for (const m of HOUSEHOLD) {
    if (m.joinsAt !== undefined) {
      setTimeout(() => {
        void lab.addClient(m).then((c: LabClient) => {
          startDevice(lab, traffic, m, calls);
          say(`${m.label} (${m.hostname}, ${c.ipv4}) joined the LAN: watch the Alerts page`);
        }, (err: Error) => console.error(`EqualNet demo: ${m.label} could not join: ${err.message}`));
      }, Math.max(0, ready + m.joinsAt * 1000 - Date.now()));
    }
    if (m.leavesAt !== undefined) {
      setTimeout(() => {
        traffic.stop(`device-${m.name}`);
        void lab.removeClient(m.name).then(() => say(`${m.label} (${m.hostname}) left the house: "gone" on the Alerts page in about 15 s`));
      }, Math.max(0, ready + m.leavesAt * 1000 - Date.now()));
    }
  }
  if (o.durationSec) setTimeout(() => {
    say(`${o.durationSec} s are over: stopping`);
    teardown();
    process.exit(0);
  }, o.durationSec * 1000);

  // the win: the video call while the game downloads, EqualNet enforcing, then shaping off
  await sleep(MEASURE.settleSec * 1000);
  let t0 = Date.now();
  await sleep(MEASURE.windowSec * 1000);
  const enforced = windowOf(calls, t0, Date.now());
  await api(o.port, '/api/config', { mode: 'dry-run' });
  await sleep(MEASURE.switchSec * 1000);
  t0 = Date.now();
  await sleep(MEASURE.windowSec * 1000);
  const off = windowOf(calls, t0, Date.now());
  await api(o.port, '/api/config', { mode: 'enforce' });
  say(`video call while the game downloads (shaping off → EqualNet enforcing): RTT ${off.rttMs} ms → ${enforced.rttMs} ms, rate ${off.mbps} → ${enforced.mbps} Mbit/s, loss ${off.lossPercent} → ${enforced.lossPercent} %`);
  console.log(`demo-result ${JSON.stringify({ shapingOff: off, enforce: enforced, callMbps: CALL.mbps, link: LINK, isp: ISP })}`);
  say('shaping is back on (enforce). Ctrl-C ends the demo and removes everything.');
  await new Promise(() => undefined);
}

async function waitForClients(port: number, n: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const clients = await api<unknown[]>(port, '/api/clients');
      if (Array.isArray(clients) && clients.length >= n) return;
    } catch {
      // not deployed yet
    }
    if (Date.now() > deadline) throw new Error(`the default flow did not see the ${n} devices within 30 s`);
    await sleep(500);
  }
}

function printWelcome(port: number, lab: Lab | null): void {
  const base = `http://127.0.0.1:${port}`;
  say(`editor    ${base}/`);
  say(`dashboard ${base}/ui/`);
  if (lab) {
    say(`link ${LINK.downMbps}/${LINK.upMbps} Mbit/s (the ISP's line: ${ISP.downMbps}/${ISP.upMbps} Mbit/s with a ${ISP.bufferMs} ms buffer); enforce, per-client counting on`);
    for (const m of HOUSEHOLD) {
      const c = lab.clients.get(m.name);
      say(`  ${m.label.padEnd(24)} ${m.hostname.padEnd(16)} ${m.mac}  ${(c?.ipv4 ?? (m.joinsAt ? `joins after ${m.joinsAt} s` : '-')).padEnd(14)} ${m.role}${m.leavesAt ? `, leaves after ${m.leavesAt} s` : ''}`);
    }
    say(`router namespace ${lab.routerNs}: ip netns exec ${lab.routerNs} tc -s class show dev ${lab.lanIface}`);
  }
  say('try: give the game console (PS5-Living-Room) priority 5 on the Devices page and watch the TV\'s and the laptop\'s rates;');
  say('     give it priority 1 and watch it take the link; the Overview charts the link, Alerts lists who came and went.');
  if (lab) say('measuring the video call with EqualNet and with shaping off (about 25 s)…');
}

// ---- replay ----------------------------------------------------------------------------------

async function replay(o: Options): Promise<void> {
  const recording = parseRecording(readFileSync(o.recording, 'utf8'), o.recording);
  const base = JSON.parse(readFileSync(join(PROJECT_ROOT, 'flows', 'default.json'), 'utf8')) as FlowNode[];
  const nodeRed = startNodeRed(replayFlow(base, recording.link, recording.iface), o);
  await nodeRed.started();
  say(`REPLAY: ${REPLAY_BANNER}`);
  say(`playing ${o.recording} (recorded ${recording.recordedAt}, ${Object.keys(recording.devices).length} devices, ${Math.round(recording.durationMs / 1000)} s, in a loop), dry-run`);
  printWelcome(o.port, null);
  if (o.durationSec) setTimeout(() => {
    say(`${o.durationSec} s are over: stopping`);
    teardown();
    process.exit(0);
  }, o.durationSec * 1000);
  for (;;) {
    const loopStart = Date.now();
    for (const { at, message } of loopMessages(recording, loopStart)) {
      const wait = loopStart + at - Date.now();
      if (wait > 0) await sleep(wait);
      try {
        await api(o.port, REPLAY_PATH, message);
      } catch (err) {
        console.error(`EqualNet demo: replay: ${(err as Error).message}`);
      }
    }
    const rest = loopStart + recording.durationMs - Date.now();
    if (rest > 0) await sleep(rest);
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  sweepPrevious();
  if (!(await portFree(o.port))) {
    console.error(`EqualNet demo: port ${o.port} on 127.0.0.1 is in use (Node-RED from npm start?): stop it, or choose another with --port`);
    process.exit(1);
  }
  if (!o.replay) {
    const problem = liveProblem();
    if (problem === null) return live(o);
    if (o.record) {
      console.error(`EqualNet demo: ${problem}; --record needs the live demo`);
      process.exit(1);
    }
    say(`${problem}; playing the recorded demo instead (--replay)`);
  }
  return replay(o);
}

main().catch((err) => {
  console.error(`EqualNet demo: ${(err as Error).stack ?? err}`);
  teardown();
  process.exit(1);
});
