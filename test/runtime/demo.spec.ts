// `npm run demo` as a newcomer runs it: the household in namespaces, the default flow in enforce,
// one minute of it, checked through /api as a user would, the five dashboard pages in Chromium
// (the README's screenshots: written to docs/images/ with EQUALNET_SCREENSHOTS=docs/images, else to
// a temporary directory; checked for the numbers on screen, never for pixels), and the host as it
// was once the demo is stopped. Then the replay as an unprivileged user with no root and no tools:
// the automatic fallback, the banner, dry-run. Needs root and Debian's chromium (CI has both).
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../scripts/node-red-home';
import { CALL, DEMO_PREFIX, HOME_PREFIX, HOUSEHOLD, LINK, OWNER_ENV } from '../../demo/household';
import { REPLAY_BANNER } from '../../demo/flow';
import { assertRoot } from '../lab/lab';
import { freePort } from '../helpers/runtime';

const CHROMIUM = '/usr/bin/chromium';
const DEMO = join(PROJECT_ROOT, 'demo', 'demo.js');
const PAGES = ['Overview', 'Devices', 'Analytics', 'Alerts', 'Settings', 'Device'];
/** The video call's median round trip while the game downloads, with EqualNet enforcing: at most this. */
const RTT_LIMIT_MS = 40;
/** ... and shaping off must be at least this many times worse. */
const RTT_FACTOR = 3;

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    return `${cmd} ${args.join(' ')} failed: ${(err as Error).message}`;
  }
}

/** What the demo must leave as it found it: the host's links, qdiscs, nft tables, and the demo's own namespaces, processes and files. */
function hostState() {
  const links = (JSON.parse(sh('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string; ifindex: number }>).map((l) => `${l.ifindex}:${l.ifname}`).sort();
  return {
    links,
    qdiscs: sh('tc', ['qdisc', 'show']),
    nft: sh('nft', ['list', 'tables']),
    demoNamespaces: sh('ip', ['netns', 'list']).split('\n').filter((l) => l.startsWith(DEMO_PREFIX)),
    demoProcesses: markedProcesses(),
    demoFiles: readdirSync(tmpdir()).filter((e) => e.startsWith(HOME_PREFIX) || e.startsWith(`equalnet-${DEMO_PREFIX}`)),
    // `ip netns exec` reads a namespace's resolv.conf from /etc/netns/<name>/ (the router's is written)
    demoNetnsEtc: existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((e) => e.startsWith(DEMO_PREFIX)) : [],
  };
}

/** The command names of the processes inside the demo's namespaces. */
function namespaceProcesses(): string[] {
  const names: string[] = [];
  for (const ns of sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(DEMO_PREFIX))) {
    for (const pid of sh('ip', ['netns', 'pids', ns]).split(/\s+/).filter((p) => /^\d+$/.test(p))) {
      try {
        names.push(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
      } catch {
        // gone
      }
    }
  }
  return names;
}

function markedProcesses(): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').some((e) => e.startsWith(`${OWNER_ENV}=`))) out.push(`${entry}: ${readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
    } catch {
      // gone
    }
  }
  return out;
}

interface Running {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function startDemo(args: string[], asUser?: { uid: number; gid: number; home: string }): Running {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C.UTF-8' };
  if (asUser) Object.assign(env, { HOME: asUser.home, TMPDIR: asUser.home, USER: 'nobody' });
  const child = spawn(process.execPath, [DEMO, ...args], {
    cwd: asUser ? asUser.home : PROJECT_ROOT,
    env: asUser ? env : { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(asUser ? { uid: asUser.uid, gid: asUser.gid } : {}),
  });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return { child, out: () => out, exited };
}

async function until<T>(what: string, read: () => Promise<T> | T, ok: (v: T) => boolean, ms: number, running?: Running): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    if (running && running.child.exitCode !== null) throw new Error(`${what}: the demo exited (${running.child.exitCode}):\n${running.out().slice(-4000)}`);
    try {
      last = await read();
      if (ok(last)) return last;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s; last: ${JSON.stringify(last)?.slice(0, 2000)}${running ? `\ndemo output:\n${running.out().slice(-4000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function getJson<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function stop(running: Running): Promise<number | null> {
  if (running.child.exitCode === null) running.child.kill('SIGINT');
  const timer = setTimeout(() => running.child.kill('SIGKILL'), 30_000);
  const code = await running.exited;
  clearTimeout(timer);
  return code;
}

async function launch(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}

async function openPage(page: Page, base: string, name: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(`${base}/ui/#!/${PAGES.indexOf(name)}`);
  await page.locator('md-toolbar').getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
}

interface ApiClient {
  mac: string;
  hostname: string | null;
  vendor: string | null;
  usage: number | null;
  upload_usage: number | null;
  rate: number;
}

describe('npm run demo: a household shaped live, then the replay without root', function () {
  this.timeout(300_000);

  describe('live (root)', () => {
    let demo: Running;
    let port: number;
    let hostBefore: ReturnType<typeof hostState>;
    let browser: Browser | undefined;
    let readyAt = 0;
    const shots = process.env.EQUALNET_SCREENSHOTS ? resolve(PROJECT_ROOT, process.env.EQUALNET_SCREENSHOTS) : mkdtempSync(join(tmpdir(), 'equalnet-demo-shots-'));

    before(async () => {
      assertRoot();
      hostBefore = hostState();
      assert.deepEqual(hostBefore.demoNamespaces, [], 'a demo is already running');
      port = await freePort();
      demo = startDemo(['--port', String(port)]);
      await until('the demo ready', () => demo.out(), (o) => /measuring the video call/.test(o), 90_000, demo);
      readyAt = Date.now();
    });

    after(async () => {
      await browser?.close();
      if (demo) await stop(demo);
      if (!process.env.EQUALNET_SCREENSHOTS) rmSync(shots, { recursive: true, force: true });
    });

    it('after a minute: every device with its vendor, usage measured, enforce in the kernel, a new device and a gone device alerted', async () => {
      const result = await until('the measured win', () => demo.out(), (o) => /^demo-result /m.test(o), 60_000, demo);
      await new Promise((r) => setTimeout(r, Math.max(0, readyAt + 60_000 - Date.now())));
      const present = HOUSEHOLD.filter((m) => m.leavesAt === undefined);
      const leaver = HOUSEHOLD.find((m) => m.leavesAt !== undefined)!;
      const joiner = HOUSEHOLD.find((m) => m.joinsAt !== undefined)!;

      const clients = await getJson<ApiClient[]>(port, '/api/clients');
      for (const m of present) {
        const c = clients.find((x) => x.mac === m.mac);
        assert.ok(c, `${m.label} (${m.mac}) not in /api/clients: ${clients.map((x) => x.mac).join(', ')}`);
        assert.equal(c.vendor, m.expectedVendor, `${m.label}'s vendor`);
        assert.equal(c.hostname, m.hostname, `${m.label}'s hostname (dnsmasq's lease)`);
        assert.notEqual(c.usage, null, `${m.label}: download usage not measured`);
        assert.notEqual(c.upload_usage, null, `${m.label}: upload usage not measured`);
      }
      assert.ok(!clients.some((x) => x.mac === leaver.mac), `${leaver.label} left but is still listed`);
      // the busy ones are measured busy: the game, the 4K stream, the backup (upload), the call
      const byName = (name: string) => clients.find((x) => x.mac === HOUSEHOLD.find((m) => m.name === name)!.mac)!;
      assert.ok(byName('ps5').usage! > 5, `game download ${byName('ps5').usage} Mbit/s`);
      // (more than 1: the TV's share is what docs/demo.md, "not right yet", is about)
      assert.ok(byName('tv').usage! > 1, `4K stream ${byName('tv').usage} Mbit/s`);
      assert.ok(byName('nas').upload_usage! > 2, `backup ${byName('nas').upload_usage} Mbit/s`);
      assert.ok(byName('laptop').usage! > CALL.mbps * 0.5, `video call ${byName('laptop').usage} Mbit/s`);

      const status = await getJson<{ mode: string; total_bandwidth: number; upload_bandwidth: number }>(port, '/api/status');
      assert.equal(status.mode, 'enforce');
      assert.equal(status.total_bandwidth, LINK.downMbps);
      // the link is full: the household uses what EqualNet gives it
      const stats = (status as unknown as { network_stats: { recv: number } }).network_stats;
      assert.ok(stats.recv > LINK.downMbps * 0.75, `the LAN downloads ${stats.recv} of ${LINK.downMbps} Mbit/s`);
      // enforce in the kernel: an HTB class per device on the router's LAN interface
      const routerNs = /router namespace (\S+):/.exec(demo.out())![1];
      const classes = sh('ip', ['netns', 'exec', routerNs, 'tc', 'class', 'show', 'dev', 'br-lan']);
      const clientClasses = classes.split('\n').filter((l) => /^class htb eb:[0-9a-f]+ parent eb:1 /.test(l) && !l.startsWith('class htb eb:ffff '));
      assert.ok(clientClasses.length >= present.length, classes);

      const alerts = await until(
        'a new_device and a device_gone alert stored',
        () => getJson<Array<{ type: string; mac_address: string | null; message: string }>>(port, '/api/alerts?limit=200'),
        (a) => a.some((x) => x.type === 'new_device') && a.some((x) => x.type === 'device_gone'),
        20_000,
        demo,
      );
      const fresh = alerts.filter((a) => a.type === 'new_device');
      const gone = alerts.filter((a) => a.type === 'device_gone');
      assert.deepEqual(fresh.map((a) => a.mac_address), [joiner.mac], 'exactly one new device: the guest');
      assert.ok(gone.some((a) => a.mac_address === leaver.mac), `the phone that left: ${JSON.stringify(gone)}`);

      // the win, as the demo measured and printed it
      const win = JSON.parse(/^demo-result (.*)$/m.exec(result)![1]) as { shapingOff: { rttMs: number; mbps: number }; enforce: { rttMs: number; mbps: number } };
      console.log(`      video call RTT ${win.shapingOff.rttMs} ms -> ${win.enforce.rttMs} ms, rate ${win.shapingOff.mbps} -> ${win.enforce.mbps} Mbit/s`);
      assert.match(demo.out(), /video call while the game downloads \(shaping off → EqualNet enforcing\): RTT [\d.]+ ms → [\d.]+ ms, rate/);
      assert.ok(win.enforce.rttMs < RTT_LIMIT_MS, `with EqualNet the call's RTT is ${win.enforce.rttMs} ms (limit ${RTT_LIMIT_MS})`);
      assert.ok(win.shapingOff.rttMs > RTT_FACTOR * win.enforce.rttMs, `shaping off ${win.shapingOff.rttMs} ms is not ${RTT_FACTOR}x worse than ${win.enforce.rttMs} ms`);
      assert.ok(win.enforce.mbps >= CALL.mbps * 0.9, `the call gets ${win.enforce.mbps} of ${CALL.mbps} Mbit/s with EqualNet`);
    });

    it('a second demo while this one runs is refused before anything is built', async () => {
      const namespaces = hostState().demoNamespaces;
      const second = startDemo(['--port', String(await freePort())]);
      assert.equal(await second.exited, 1, second.out());
      assert.match(second.out(), new RegExp(`another demo is running \\(pid ${demo.child.pid}\\)`));
      assert.deepEqual(hostState().demoNamespaces, namespaces);
    });

    it('the editor opens without an update or telemetry dialog; the dashboard pages and a device page show the household (screenshots)', async () => {
      browser = await launch();
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      const base = `http://127.0.0.1:${port}`;
      await page.goto(`${base}/`);
      await page.locator('#red-ui-workspace').waitFor({ timeout: 30_000 });
      await page.locator('.red-ui-palette-node').first().waitFor({ timeout: 30_000 });
      await new Promise((r) => setTimeout(r, 3000)); // Node-RED shows its first-run dialogs after loading
      const dialogs = await page.locator('.red-ui-notification:visible').allInnerTexts();
      assert.deepEqual(dialogs.filter((t) => /update|telemetry|version/i.test(t)), [], `dialogs: ${JSON.stringify(dialogs)}`);

      mkdirSync(shots, { recursive: true });
      const text = async () => (await page.locator('body').innerText()).replace(/\s+/g, ' ');
      const shoot = async (name: string) => {
        await new Promise((r) => setTimeout(r, 1500)); // charts animate
        await page.screenshot({ path: join(shots, `demo-${name.toLowerCase()}.png`) });
      };
      await openPage(page, base, 'Overview');
      await until('the Overview numbers', text, (t) => /Clients \d+/.test(t) && t.includes(`↓ ${LINK.downMbps} ↑ ${LINK.upMbps} Mbit/s`), 15_000);
      assert.match(await text(), new RegExp(`Clients ${HOUSEHOLD.length - 1}\\b`));
      await shoot('Overview');

      await openPage(page, base, 'Devices');
      const rows = page.locator('table.equalnet-devices tbody tr');
      await until('the household in the Devices table', () => rows.count(), (n) => n === HOUSEHOLD.length - 1, 15_000);
      for (const m of HOUSEHOLD.filter((x) => x.leavesAt === undefined)) {
        const row = page.locator(`table.equalnet-devices tbody tr[data-mac="${m.mac}"]`);
        assert.equal((await row.locator('td.name').innerText()).trim(), m.hostname);
        assert.match(await row.locator('td.usage').innerText(), /^\d+\.\d\d \/ \d+\.\d\d$/, `${m.label}: usage on screen`);
      }
      await shoot('Devices');

      // a device's own page: a click on its name in the Devices table
      await page.locator(`table.equalnet-devices tbody tr[data-mac="${HOUSEHOLD[0].mac}"] a.open`).click();
      await until('the device page of the first device', async () => (await page.locator('.equalnet-device .device-label').innerText()).trim(), (t) => t === HOUSEHOLD[0].hostname, 15_000);
      await page.locator('.equalnet-device svg').waitFor({ timeout: 15_000 });
      await shoot('Device');

      const inject = (id: string) => fetch(`${base}/inject/${id}`, { method: 'POST' });
      await until(
        'top consumers on the Analytics page',
        async () => {
          await inject('equalnet.dash.query.top');
          await inject('equalnet.dash.query.hourly');
          await openPage(page, base, 'Analytics');
          return page.locator('table.equalnet-top tbody tr').count();
        },
        (n) => n >= 5,
        30_000,
      );
      assert.ok(!(await text()).includes('undefined'), 'no "undefined" on the Analytics page');
      await shoot('Analytics');

      await openPage(page, base, 'Alerts');
      const joiner = HOUSEHOLD.find((m) => m.joinsAt !== undefined)!;
      const leaver = HOUSEHOLD.find((m) => m.leavesAt !== undefined)!;
      await until('the arrival and the departure on the Alerts page', text, (t) => new RegExp(`${joiner.mac}\\)? joined the LAN for the first time`).test(t) && new RegExp(`${leaver.mac}.* left the LAN`).test(t), 15_000);
      await shoot('Alerts');

      await openPage(page, base, 'Settings');
      await until('the link in force', text, (t) => t.includes(`↓ ${LINK.downMbps} ↑ ${LINK.upMbps} Mbit/s`), 15_000);
      await shoot('Settings');
      for (const name of PAGES) assert.ok(statSync(join(shots, `demo-${name.toLowerCase()}.png`)).size > 10_000, name);
      console.log(`      screenshots: ${shots}`);
    });

    it('Ctrl-C leaves the host as it was: links, qdiscs, nft tables; no namespace, process or file of the demo', async () => {
      const code = await stop(demo);
      assert.equal(code, 130, demo.out().slice(-2000));
      assert.deepEqual(hostState(), hostBefore);
    });

    it('a crash (kill -9) takes Node-RED and the traffic along at once; the next start removes the rest', async () => {
      const crashed = startDemo(['--port', String(await freePort())]);
      await until('the demo ready', () => crashed.out(), (o) => /measuring the video call/.test(o), 90_000, crashed);
      crashed.child.kill('SIGKILL');
      await crashed.exited;
      // Node-RED (PR_SET_PDEATHSIG) and the traffic generators die with it; dnsmasq waits for the sweep
      await until('no process of the crashed demo but dnsmasq', () => ({ marked: markedProcesses(), inside: namespaceProcesses() }), (p) => p.marked.length === 0 && p.inside.every((c) => c === 'dnsmasq'), 10_000);
      assert.ok(hostState().demoNamespaces.length > 0, 'the crash left namespaces (the next start removes them)');
      const next = startDemo(['--replay', '--port', String(await freePort())]);
      const out = await until('the next start', () => next.out(), (o) => /REPLAY: /.test(o), 60_000, next);
      assert.match(out, new RegExp(`removed what an earlier demo left: ${DEMO_PREFIX}${crashed.child.pid}-`));
      assert.equal(await stop(next), 130);
      assert.deepEqual(hostState(), hostBefore);
    });
  });

  describe('replay, as nobody (no root, no tools)', () => {
    let demo: Running | undefined;
    let home: string;
    let browser: Browser | undefined;

    after(async () => {
      await browser?.close();
      if (demo) await stop(demo);
      if (home) rmSync(home, { recursive: true, force: true });
    });

    it('every file the demo needs is readable by others', () => {
      const unreadable: string[] = [];
      const walk = (dir: string) => {
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          if (e.name === '.git' || e.name === 'node_modules' || e.name === '.node-red') continue;
          const p = join(dir, e.name);
          const mode = statSync(p).mode;
          if (e.isDirectory()) {
            if ((mode & 0o005) !== 0o005) unreadable.push(`${p}/`);
            walk(p);
          } else if ((mode & 0o004) === 0) unreadable.push(p);
        }
      };
      walk(PROJECT_ROOT);
      // and the way to it: a clone in a directory only its owner may enter is no one else's to run
      for (let dir = resolve(PROJECT_ROOT, '..'); dir !== '/'; dir = resolve(dir, '..')) if ((statSync(dir).mode & 0o001) === 0) unreadable.push(`${dir}/ (others may not enter it)`);
      assert.deepEqual(unreadable, []);
    });

    it('falls back to the replay with one line saying why; dry-run, a banner on every page, the recorded household', async () => {
      const uid = Number(sh('id', ['-u', 'nobody']).trim());
      const gid = Number(sh('id', ['-g', 'nobody']).trim());
      assert.ok(uid > 0 && gid > 0, 'no user nobody');
      home = mkdtempSync(join(tmpdir(), 'equalnet-demo-nobody-'));
      chownSync(home, uid, gid);
      chmodSync(home, 0o700);
      const port = await freePort();
      demo = startDemo(['--port', String(port)], { uid, gid, home });
      const out = await until('the replay started', () => demo!.out(), (o) => /REPLAY: /.test(o), 60_000, demo);
      assert.match(out, /needs root \(sudo npm run demo\); playing the recorded demo instead \(--replay\)/);
      const status = await until('the replayed snapshots', () => getJson<{ mode: string; total_clients: number }>(port, '/api/status'), (s) => s.total_clients >= HOUSEHOLD.length - 2, 20_000, demo);
      assert.equal(status.mode, 'dry-run');
      // the first recorded tick has no rates yet (iface-counter needs two readings), the next ones have
      const clients = await until('replayed rates', () => getJson<ApiClient[]>(port, '/api/clients'), (cs) => cs.some((c) => c.mac === HOUSEHOLD[0].mac && c.usage !== null), 15_000, demo);
      const laptop = clients.find((c) => c.mac === HOUSEHOLD[0].mac)!;
      assert.equal(laptop.vendor, HOUSEHOLD[0].expectedVendor);
      assert.equal(laptop.hostname, HOUSEHOLD[0].hostname);

      browser = await launch();
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      for (const name of ['Overview', 'Devices']) {
        await openPage(page, `http://127.0.0.1:${port}`, name);
        await page.locator('.equalnet-replay-banner').waitFor({ timeout: 15_000 });
        assert.equal((await page.locator('.equalnet-replay-banner').innerText()).trim(), REPLAY_BANNER);
      }
      await until('rows in the Devices table', () => page.locator('table.equalnet-devices tbody tr').count(), (n) => n >= HOUSEHOLD.length - 2, 15_000);

      const code = await stop(demo);
      demo = undefined;
      assert.equal(code, 130);
      assert.deepEqual(readdirSync(home).filter((e) => e.startsWith(HOME_PREFIX)), [], 'the replay left its Node-RED directory');
      assert.deepEqual(markedProcesses(), []);
    });
  });
});
