/**
 * The lab itself: built in namespaces only, unique names per run, and always taken down (destroy,
 * Ctrl-C, a crash, and after a kill -9 by the next run's sweep). Needs root; fails without it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertRoot, DEFAULT_CLIENTS, LAN4, Lab, NS_PREFIX, WAN } from './lab';

const labNamespaces = (): string[] =>
  execFileSync('ip', ['netns', 'list'])
    .toString()
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(NS_PREFIX));

/** What the machine's own network looks like: names, MACs, addresses, routes. */
const hostNetwork = () => ({
  links: JSON.parse(execFileSync('ip', ['-j', 'link']).toString()).map((l: { ifname: string; address: string }) => `${l.ifname} ${l.address}`),
  addrs: execFileSync('ip', ['-br', 'addr']).toString(),
  routes: execFileSync('ip', ['route']).toString() + execFileSync('ip', ['-6', 'route']).toString(),
});

const CLI = join(__dirname, 'cli.js');

/** Starts `node cli.js up` and resolves with the child and the lab id once the lab is up. */
function startCli(extraArgs: string[] = []): Promise<{ child: ReturnType<typeof spawn>; id: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...extraArgs, CLI, 'up'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /lab (\S+) up in/.exec(out);
      if (m) resolve({ child, id: m[1] });
    });
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => reject(new Error(`cli exited (${code}) before the lab was up: ${out}`)));
  });
}

const exited = (child: ReturnType<typeof spawn>) => new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? 128 : null))));

describe('the lab', function () {
  this.timeout(60_000);
  before(assertRoot);

  it('refuses to start without root, saying why (a lab test fails, it does not skip)', () => {
    // lab.js needs only Node's built-ins: a copy in a world-readable place works for any checkout's permissions
    const dir = mkdtempSync(join(tmpdir(), 'equalnet-lab-noroot-'));
    chmodSync(dir, 0o755);
    copyFileSync(join(__dirname, 'lab.js'), join(dir, 'lab.js'));
    chmodSync(join(dir, 'lab.js'), 0o644);
    const script = `require(${JSON.stringify(join(dir, 'lab.js'))}).Lab.create().catch((e) => { console.error(e.message); process.exit(3); })`;
    let stderr = '';
    let code = 0;
    try {
      execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { status: number; stderr: Buffer };
      code = e.status;
      stderr = e.stderr.toString();
    }
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 3, stderr);
    assert.match(stderr, /the lab needs root/);
  });

  it('builds everything inside namespaces: the machine\'s own interfaces, addresses and routes are untouched', async () => {
    const before = hostNetwork();
    const lab = await Lab.create({ clients: DEFAULT_CLIENTS.slice(0, 2) });
    assert.deepEqual(hostNetwork(), before, 'while the lab is up');
    await lab.destroy();
    assert.deepEqual(hostNetwork(), before, 'after');
  });

  it('routes client → router → WAN, so the router sees the traffic (iperf3 through it)', async () => {
    const lab = await Lab.create({ clients: DEFAULT_CLIENTS.slice(0, 1) });
    try {
      const client = [...lab.clients.values()][0];
      assert.match(await lab.exec(client.ns, ['ip', 'route', 'get', WAN.wan4]), new RegExp(`via ${LAN4.router.replace(/\./g, '\\.')} dev eth0`));
      assert.match(await lab.exec(client.ns, ['ping', '-c', '1', '-W', '1', WAN.wan6]), / 0% packet loss/);
      const bytes = async () => JSON.parse(await lab.routerExec(['ip', '-j', '-s', 'link', 'show', 'dev', 'wan0']))[0].stats64.tx.bytes as number;
      const before = await bytes();
      const server = lab.spawnIn(lab.wanNs, ['iperf3', '--server', '--one-off', '--bind', WAN.wan4]);
      for (let i = 0; i < 50 && !server.output().includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
      const result = JSON.parse(await lab.exec(client.ns, ['iperf3', '--client', WAN.wan4, '--time', '1', '--json'], 10_000));
      const mbps = result.end.sum_received.bits_per_second / 1e6;
      console.log(`      iperf3 client → WAN through the router: ${mbps.toFixed(0)} Mbit/s`);
      assert.ok(mbps > 10, `${mbps} Mbit/s`);
      assert.ok((await bytes()) - before > 1_000_000, 'the router forwarded it out of wan0');
      server.stop();
    } finally {
      await lab.destroy();
    }
  });

  it('two labs at once never collide, and each removes only its own namespaces', async () => {
    const [a, b] = await Promise.all([Lab.create({ clients: DEFAULT_CLIENTS.slice(0, 2) }), Lab.create({ clients: DEFAULT_CLIENTS.slice(2, 4) })]);
    assert.notEqual(a.id, b.id);
    const mine = labNamespaces();
    for (const ns of [a.routerNs, a.wanNs, b.routerNs, b.wanNs, ...[...a.clients.values(), ...b.clients.values()].map((c) => c.ns)]) {
      assert.ok(mine.includes(ns), `${ns} exists`);
    }
    assert.ok(existsSync(a.leasesFile) && existsSync(b.leasesFile));
    await a.destroy();
    assert.ok(labNamespaces().includes(b.routerNs), 'b untouched by a.destroy()');
    assert.ok(!labNamespaces().some((ns) => ns.includes(a.id)));
    await b.destroy();
    await b.destroy(); // twice is fine
    assert.ok(!labNamespaces().some((ns) => ns.includes(b.id)));
  });

  it('adding a client that is there already is a no-op; removing it takes its namespace away', async () => {
    const lab = await Lab.create({ clients: DEFAULT_CLIENTS.slice(0, 1) });
    try {
      const first = lab.clients.get(DEFAULT_CLIENTS[0].name)!;
      assert.equal(await lab.addClient(DEFAULT_CLIENTS[0]), first);
      await assert.rejects(lab.addClient({ ...DEFAULT_CLIENTS[0], mac: '3c:22:fb:99:99:99' }), /exists with MAC/);
      await lab.removeClient(first.spec.name);
      assert.ok(!labNamespaces().includes(first.ns));
    } finally {
      await lab.destroy();
    }
  });

  it('Ctrl-C on `npm run lab` takes everything down', async () => {
    const { child, id } = await startCli();
    assert.ok(labNamespaces().filter((ns) => ns.includes(id)).length >= 12, 'router, WAN and 10 clients');
    child.kill('SIGINT');
    assert.equal(await exited(child), 130);
    assert.deepEqual(labNamespaces().filter((ns) => ns.includes(id)), []);
  });

  it('a process that crashes with a lab up takes it down on exit', async () => {
    const script = `const { Lab, DEFAULT_CLIENTS } = require(${JSON.stringify(join(__dirname, 'lab.js'))});
      Lab.create({ clients: DEFAULT_CLIENTS.slice(0, 1) }).then((lab) => { console.log(lab.id); setTimeout(() => { throw new Error('boom'); }, 10); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
    let id = '';
    child.stdout!.on('data', (b: Buffer) => (id += b.toString().trim()));
    assert.equal(await exited(child), 1);
    assert.match(id, /^\d+-[0-9a-f]{4}$/);
    assert.deepEqual(labNamespaces().filter((ns) => ns.includes(id)), []);
  });

  it('after a kill -9, the next run sweeps the leftovers (and only those of dead processes)', async () => {
    const live = await Lab.create({ clients: [] });
    try {
      const { child, id } = await startCli();
      child.kill('SIGKILL');
      await exited(child);
      assert.ok(labNamespaces().some((ns) => ns.includes(id)), 'left behind by kill -9');
      const removed = Lab.sweepStale();
      assert.ok(removed.length >= 12 && removed.every((ns) => ns.includes(id)), `removed ${removed.join(', ')}`);
      assert.deepEqual(labNamespaces().filter((ns) => ns.includes(id)), []);
      assert.deepEqual(readdirSync(tmpdir()).filter((d) => d.startsWith(`equalnet-lab-${id}-`)), [], 'its temp dir too');
      assert.ok(labNamespaces().includes(live.routerNs), 'a live lab is not swept');
      assert.ok(existsSync(live.dir), "a live lab's files are not swept");
    } finally {
      await live.destroy();
    }
  });
});
