// `npm start` as the README gives it: Node-RED 4.1 with the package, node-red-dashboard and the
// default flow, in a user directory of its own. Dry-run: the host's network is left as it was.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../scripts/node-red-home';
import { adminGet, enableDebug, freePort, startNodeRed, watchComms, worrying, type CommsEvent } from '../helpers/runtime';

const defaultFlow: Array<{ id: string; type: string }> = JSON.parse(readFileSync(join(PROJECT_ROOT, 'flows', 'default.json'), 'utf8'));

/** What a user could notice on the host's own network: addresses, routes, qdiscs. */
function hostNetwork(): string {
  const run = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' });
    } catch (err) {
      return `${cmd} unavailable: ${(err as Error).message}`;
    }
  };
  return [run('ip', ['-br', 'addr']), run('ip', ['route']), run('tc', ['qdisc', 'show'])].join('\n');
}

function defaultRouteIface(): string {
  try {
    const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' })) as Array<{ dev?: string }>;
    return routes.find((r) => r.dev)?.dev ?? '';
  } catch {
    return '';
  }
}

describe('`npm start` (scripts/start.js)', function () {
  this.timeout(120_000);
  let userDir: string;
  let port: number;
  const start = () => {
    const env: NodeJS.ProcessEnv = { PORT: String(port), EQUALNET_USER_DIR: userDir };
    delete process.env.EQUALNET_IFACE;
    return startNodeRed([join(PROJECT_ROOT, 'scripts', 'start.js')], port, env);
  };

  before(async () => {
    userDir = mkdtempSync(join(tmpdir(), 'equalnet-start-'));
    port = await freePort();
  });
  after(() => rmSync(userDir, { recursive: true, force: true }));

  it('serves the editor with the default flow deployed, no missing types, allocation in the debug sidebar, host untouched', async () => {
    const networkBefore = hostNetwork();
    const nodeRed = await start();
    try {
      assert.match(nodeRed.log(), new RegExp(`editor +http://127\\.0\\.0\\.1:${port}/`));
      assert.match(nodeRed.log(), /deployed the default flow/);
      assert.match(nodeRed.log(), /wrote settings\.js/);
      assert.match(nodeRed.log(), new RegExp(`listening on 127\\.0\\.0\\.1 port ${port}, this machine only, no login`));
      const editor = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(editor.status, 200);
      const dashboard = await fetch(`http://127.0.0.1:${port}/ui/`);
      assert.equal(dashboard.status, 200, 'no dashboard at /ui/');
      const { body: flows } = await adminGet<Array<{ id: string }>>(port, '/flows');
      assert.deepEqual(flows.map((n) => n.id).sort(), defaultFlow.map((n) => n.id).sort());

      // the config node got the interface of the default route: passive discovery of this machine's LAN
      const iface = defaultRouteIface();
      const config = (flows as Array<{ id: string; iface?: string }>).find((n) => n.id === 'equalnet.config')!;
      assert.equal(config.iface, iface);

      // every 2 s: arp-discover -> priority-allocator -> the "allocation" debug in the sidebar
      // off in the default flow, switched on as its button in the editor does
      await enableDebug(port, 'equalnet.debug');
      const ticks = await watchComms(port, (e) => e.topic === 'debug' && e.data.id === 'equalnet.debug');
      const tick = JSON.parse(ticks.find((e) => e.topic === 'debug' && e.data.id === 'equalnet.debug')!.data.msg);
      assert.equal(tick.iface, iface);
      assert.ok(Array.isArray(tick.clients));
      assert.equal(tick.allocation.down.totalBps, 100_000_000);
      for (const id of ['discover', 'counter', 'allocator', 'shaper', 'store']) {
        const status = ticks.filter((e) => e.topic === `status/equalnet.${id}`).pop();
        if (status) assert.notEqual(status.data.fill, 'red', `${id}: ${status.data.text}`);
      }
      // dry-run: the shaper shows its plan and changes nothing
      assert.equal(tick.shaping?.mode, 'dry-run');

      // the "sample clients" inject, clicked as in the editor
      let subscribed!: () => void;
      const ready = new Promise<void>((resolve) => (subscribed = resolve));
      const isSample = (e: CommsEvent) => e.topic === 'debug' && e.data.id === 'equalnet.debug' && JSON.parse(e.data.msg).clients.some((c: { hostname?: string }) => c.hostname === 'work-laptop');
      const clicked = watchComms(port, isSample, 15_000, subscribed);
      await ready;
      await new Promise((r) => setTimeout(r, 200)); // the runtime handles the subscription before the click
      const click = await fetch(`http://127.0.0.1:${port}/inject/equalnet.sample`, { method: 'POST' });
      assert.equal(click.status, 200);
      const sample = JSON.parse((await clicked).pop()!.data.msg);
      for (const client of sample.clients) assert.ok(client.alloc.down.rateBps > 0 && client.alloc.up.rateBps > 0);
      assert.equal(sample.allocation.down.allocatedBps, 100_000_000);
      const allocatorStatus = (await watchComms(port, (e: CommsEvent) => e.topic === 'status/equalnet.allocator')).pop()!;
      assert.notEqual(allocatorStatus.data.fill, 'red');
      assert.deepEqual(worrying(nodeRed.log()), []);
    } finally {
      await nodeRed.stop();
    }
    assert.equal(hostNetwork(), networkBefore);
    // usage-store keeps its database in the user directory
    assert.ok(existsSync(join(userDir, 'equalnet.db')), 'no equalnet.db in the user directory');
  });

  it('starts again on the same directory without failing or duplicating anything; Node-RED runs with two malloc arenas', async () => {
    const nodeRed = await start();
    try {
      // the process listening on the port is Node-RED itself (start.js's child): its environment
      const listener = /pid=(\d+)/.exec(execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' }));
      assert.ok(listener, `nothing listens on ${port}`);
      const environ = readFileSync(`/proc/${listener[1]}/environ`, 'utf8').split('\0');
      assert.ok(environ.includes('MALLOC_ARENA_MAX=2'), environ.filter((e) => e.startsWith('MALLOC')).join(' ') || 'no MALLOC_ARENA_MAX');
      assert.match(nodeRed.log(), /kept the existing flows\.json/);
      assert.match(nodeRed.log(), /settings\.js is current/);
      const { body: flows } = await adminGet<Array<{ id: string }>>(port, '/flows');
      assert.equal(flows.length, defaultFlow.length);
      assert.deepEqual(worrying(nodeRed.log()), []);
    } finally {
      await nodeRed.stop();
    }
  });
});
