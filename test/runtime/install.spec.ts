// The package as a user installs it on a router: Node-RED 4.1 installed in a prefix of its own
// (as the Raspberry Pi script or `npm install -g` does), `npm pack`'s tarball installed into an
// empty Node-RED user directory, the settings EqualNet writes, and the shipped default flow
// (flows/default.json) as the flow. Nothing of this clone's node_modules is visible to it: it all
// lives in a temporary directory outside the clone, started with no NODE_PATH. The default flow
// must start with no missing type and its pipeline must tick.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PACKAGE_NAME, PROJECT_ROOT, settingsSource } from '../../scripts/node-red-home';
import { adminGet, enableDebug, freePort, startNodeRed, watchComms, worrying, type RunningNodeRed } from '../helpers/runtime';

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'));
const declaredTypes = Object.keys(pkg['node-red'].nodes).sort();
const defaultFlow: Array<{ id: string; type: string; d?: boolean }> = JSON.parse(readFileSync(join(PROJECT_ROOT, 'flows', 'default.json'), 'utf8'));
// the Node-RED this project is tested with (package-lock), which `npm ci` left in the npm cache
const NODE_RED_VERSION: string = JSON.parse(readFileSync(require.resolve('node-red/package.json'), 'utf8')).version;

interface NodeSet {
  module: string;
  name: string;
  types: string[];
  enabled: boolean;
  err?: string;
  version?: string;
}

function lanIface(): string {
  try {
    const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' })) as Array<{ dev?: string }>;
    return routes.find((r) => r.dev)?.dev ?? 'lo';
  } catch {
    return 'lo';
  }
}

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, stdio: 'pipe', env: { ...process.env, NODE_PATH: '' } });

describe('installed as users do: `npm pack` into the user directory of a Node-RED in its own prefix, with the default flow', function () {
  this.timeout(600_000);
  let work: string;
  let userDir: string;
  let nodeRedPrefix: string;
  let nodeRed: RunningNodeRed;

  before(async () => {
    work = realpathSync(mkdtempSync(join(tmpdir(), 'equalnet-install-')));
    assert.ok(relative(PROJECT_ROOT, work).startsWith('..'), 'the install must live outside the clone');
    userDir = join(work, 'user');
    nodeRedPrefix = join(work, 'node-red');
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: PROJECT_ROOT, encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop()!;
    mkdirSync(nodeRedPrefix);
    npm(['install', '--prefix', nodeRedPrefix, `node-red@${NODE_RED_VERSION}`], work);
    mkdirSync(userDir);
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'user-dir', private: true }));
    npm(['install', join(work, packed)], userDir);
    const port = await freePort();
    writeFileSync(join(userDir, 'settings.js'), settingsSource(port));
    // the one thing a user sets after importing it: the LAN interface in the config node (here the
    // default route's, as `npm start` does; passive discovery and dry-run, so nothing is changed)
    const flow = defaultFlow.map((node) => (node.type === 'equalnet-config' ? { ...node, iface: lanIface() } : node));
    writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flow, null, 2));
    const redJs = join(nodeRedPrefix, 'node_modules', 'node-red', 'red.js');
    nodeRed = await startNodeRed([redJs, '--userDir', userDir, '--port', String(port), '--settings', join(userDir, 'settings.js')], port, { NODE_PATH: '' });
  });

  after(async () => {
    await nodeRed?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs the Node-RED of its own prefix, with the dashboard and email nodes from the package\'s dependencies', async () => {
    assert.match(nodeRed.log(), new RegExp(`Node-RED version: v${NODE_RED_VERSION.replace(/\./g, '\\.')}`));
    assert.doesNotMatch(nodeRed.log(), new RegExp(PROJECT_ROOT.replace(/[/.]/g, '\\$&')), 'the clone shows in the log');
    const { body } = await adminGet<NodeSet[]>(nodeRed.port, '/nodes');
    for (const module of ['node-red-dashboard', 'node-red-node-email']) {
      const sets = body.filter((set) => set.module === module);
      assert.ok(sets.length > 0, `${module} is not installed with the package`);
      for (const set of sets) assert.equal(set.err, undefined, `${module}/${set.name}: ${set.err}`);
    }
    const dashboard = execFileSync(process.execPath, ['-p', "require.resolve('node-red-dashboard')"], { cwd: userDir, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } }).trim();
    assert.ok(dashboard.startsWith(join(userDir, 'node_modules')), dashboard);
  });

  it('starts the default flow with no missing type, no error, every node known', async () => {
    assert.deepEqual(worrying(nodeRed.log()), []);
    const { body: flows } = await adminGet<Array<{ id: string }>>(nodeRed.port, '/flows');
    assert.deepEqual(flows.map((n) => n.id).sort(), defaultFlow.map((n) => n.id).sort());
    assert.match(nodeRed.log(), /Started flows/);
    const { body: sets } = await adminGet<NodeSet[]>(nodeRed.port, '/nodes');
    const known = new Set(sets.flatMap((s) => s.types).concat(['tab', 'subflow', 'group', 'junction']));
    for (const node of defaultFlow) assert.ok(known.has(node.type), `unknown type ${node.type}`);
  });

  it('ticks: the allocation reaches the debug sidebar and the API answers /api/status with a client count', async () => {
    // off in the default flow, switched on as its button in the editor does
    await enableDebug(nodeRed.port, 'equalnet.debug');
    const ticks = await watchComms(nodeRed.port, (e) => e.topic === 'debug' && e.data.id === 'equalnet.debug', 20_000);
    const tick = JSON.parse(ticks.find((e) => e.topic === 'debug' && e.data.id === 'equalnet.debug')!.data.msg);
    assert.ok(Array.isArray(tick.clients));
    assert.equal(tick.allocation.down.totalBps, 100_000_000);
    assert.equal(tick.shaping?.mode, 'dry-run');
    const { status, body } = await adminGet<{ total_clients: number; total_bandwidth: number }>(nodeRed.port, '/api/status');
    assert.equal(status, 200);
    assert.equal(typeof body.total_clients, 'number');
    assert.equal(body.total_bandwidth, 100);
    const dashboard = await fetch(`http://127.0.0.1:${nodeRed.port}/ui/`);
    assert.equal(dashboard.status, 200);
  });

  it('registers every node type that package.json declares, with no load error', async () => {
    const { body } = await adminGet<NodeSet[]>(nodeRed.port, '/nodes');
    const ours = body.filter((set) => set.module === PACKAGE_NAME);
    assert.deepEqual(ours.map((s) => s.name).sort(), declaredTypes);
    for (const set of ours) {
      assert.equal(set.err, undefined, `${set.name}: ${set.err}`);
      assert.ok(set.enabled, `${set.name} is disabled`);
      assert.deepEqual(set.types, [set.name]);
    }
  });

  it('brings the optional netlink package, whose prebuilt socket loads here (iface-counter reads over it)', () => {
    const probe = "const n = require('netlink'); const s = new n.RawNetlinkSocket(0); s.close(); console.log('ok')";
    const out = execFileSync(process.execPath, ['-e', probe], { cwd: join(userDir, 'node_modules', PACKAGE_NAME), encoding: 'utf8' });
    assert.equal(out.trim(), 'ok');
  });

  it('ships the start and password scripts and the systemd unit', () => {
    const installed = join(userDir, 'node_modules', PACKAGE_NAME);
    for (const file of ['scripts/start.js', 'scripts/node-red-home.js', 'scripts/password.js', 'systemd/equalnet.service']) {
      readFileSync(join(installed, file));
    }
  });

  it('serves each node\'s editor template, help text and icon', async () => {
    const { body: html } = await adminGet<string>(nodeRed.port, '/nodes', 'text/html');
    for (const type of declaredTypes) {
      assert.match(html, new RegExp(`data-template-name="${type}"`));
      assert.match(html, new RegExp(`data-help-name="${type}"`));
    }
    const icon = await fetch(`http://127.0.0.1:${nodeRed.port}/icons/${PACKAGE_NAME}/equalnet-allocator.svg`);
    assert.equal(icon.status, 200);
    assert.match(await icon.text(), /<svg/);
  });

  it('offers examples under Import > Examples, the default flow among them (the same as flows/default.json), all of known types', async () => {
    const { body: list } = await adminGet<Array<{ fn: string }>>(nodeRed.port, `/library/examples/flows/${PACKAGE_NAME}`);
    assert.ok(list.length > 0, 'no examples');
    const { body: sets } = await adminGet<NodeSet[]>(nodeRed.port, '/nodes');
    const known = new Set(sets.flatMap((s) => s.types).concat(['tab', 'subflow', 'group', 'junction']));
    const used = new Set<string>();
    for (const { fn } of list) {
      const { body: flow } = await adminGet<Array<{ type: string }>>(nodeRed.port, `/library/examples/flows/${PACKAGE_NAME}/${fn}`);
      for (const node of flow) {
        assert.ok(known.has(node.type) || node.type.startsWith('subflow:'), `${fn}: unknown type ${node.type}`);
        used.add(node.type);
      }
    }
    for (const type of declaredTypes) assert.ok(used.has(type), `no example uses ${type}`);
    const { body: offered } = await adminGet<unknown>(nodeRed.port, `/library/examples/flows/${PACKAGE_NAME}/00-default-flow`);
    assert.deepEqual(offered, defaultFlow);
  });

  it('runs as the systemd unit runs it: the shipped start and password scripts, Node-RED found on PATH, the installed package left in place', async () => {
    await nodeRed.stop();
    const installed = join(userDir, 'node_modules', PACKAGE_NAME);
    // PATH as on a router: Node-RED's own bin first, nothing of the clone (npm test puts its .bin there)
    const path = [join(nodeRedPrefix, 'node_modules', '.bin'), ...(process.env.PATH ?? '').split(':').filter((d) => d && relative(PROJECT_ROOT, d).startsWith('..'))].join(':');
    const env = { PATH: path, NODE_PATH: '', EQUALNET_USER_DIR: userDir, EQUALNET_NODE_RED: undefined, EQUALNET_IFACE: undefined, EQUALNET_HOST: undefined };
    const password = spawnSync(process.execPath, [join(installed, 'scripts', 'password.js')], { input: 'router password\n', encoding: 'utf8', env: { ...process.env, ...env }, cwd: work });
    assert.equal(password.status, 0, password.stderr);
    const port = await freePort();
    nodeRed = await startNodeRed([join(installed, 'scripts', 'start.js')], port, { ...env, PORT: String(port) });
    assert.match(nodeRed.log(), /settings\.js is current/);
    assert.match(nodeRed.log(), /kept the existing flows\.json/);
    assert.match(nodeRed.log(), new RegExp(`listening on 127\\.0\\.0\\.1 port ${port}, login required`));
    assert.match(nodeRed.log(), new RegExp(`Node-RED version: v${NODE_RED_VERSION.replace(/\./g, '\\.')}`));
    assert.ok(!lstatSync(installed).isSymbolicLink(), 'the installed package was replaced by a link');
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/status`)).status, 401);
    const status = await fetch(`http://127.0.0.1:${port}/api/status`, { headers: { Authorization: `Basic ${Buffer.from('admin:router password').toString('base64')}` } });
    assert.equal(status.status, 200);
    assert.equal(typeof (await status.json()).total_clients, 'number');
    assert.deepEqual(worrying(nodeRed.log()), []);
  });
});
