// The package as a user installs it: `npm pack`, the tarball installed into an empty Node-RED
// user directory, Node-RED 4.1 started on it. Every node type must register without error.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeRedArgs, PACKAGE_NAME, PROJECT_ROOT, settingsSource } from '../../scripts/node-red-home';
import { adminGet, freePort, startNodeRed, worrying, type RunningNodeRed } from '../helpers/runtime';

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'));
const declaredTypes = Object.keys(pkg['node-red'].nodes).sort();

interface NodeSet {
  module: string;
  name: string;
  types: string[];
  enabled: boolean;
  err?: string;
}

describe('installed from `npm pack` into an empty Node-RED user directory', function () {
  this.timeout(300_000);
  let work: string;
  let nodeRed: RunningNodeRed;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'equalnet-install-'));
    const userDir = join(work, 'user');
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: PROJECT_ROOT, encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop()!;
    execFileSync('mkdir', ['-p', userDir]);
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'user-dir', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed)], { cwd: userDir, stdio: 'pipe' });
    const port = await freePort();
    writeFileSync(join(userDir, 'settings.js'), settingsSource(port));
    nodeRed = await startNodeRed(nodeRedArgs(userDir, port), port);
  });

  after(async () => {
    await nodeRed?.stop();
    rmSync(work, { recursive: true, force: true });
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
    const out = execFileSync(process.execPath, ['-e', probe], { cwd: join(work, 'user', 'node_modules', PACKAGE_NAME), encoding: 'utf8' });
    assert.equal(out.trim(), 'ok');
  });

  it('logs no error and no missing type', () => {
    assert.deepEqual(worrying(nodeRed.log()), []);
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

  it('offers examples under Import > Examples that use every node, all of known types', async () => {
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
  });
});
