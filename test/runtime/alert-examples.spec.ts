// The three alert examples deployed together on a real Node-RED started from this project (as
// `npm start` does: the package linked into a user directory): every node type in them is
// registered, and the dashboard example shows its notification to a dashboard client.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeRedArgs, prepareHome, PROJECT_ROOT, settingsSource } from '../../scripts/node-red-home';
import { adminGet, freePort, startNodeRed, type RunningNodeRed } from '../helpers/runtime';

const EXAMPLES = ['06-alert-mqtt.json', '07-alert-email.json', '08-alert-dashboard.json'];
const flows = EXAMPLES.map((name) => JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples', name), 'utf8')) as Array<{ id: string; type: string }>);
const declared = Object.keys(JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'))['node-red'].nodes);

/**
 * A dashboard client: socket.io v4 over HTTP long-polling, as the dashboard's page starts (the
 * dashboard refuses clients that open with a websocket). Resolves with the first `event` whose
 * data passes `accept`; `onReady` runs once the client is connected.
 */
async function dashboardEvent(port: number, event: string, accept: (data: any) => boolean, onReady: () => void, timeoutMs = 15_000): Promise<any> {
  const base = `http://127.0.0.1:${port}/ui/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const { sid } = JSON.parse(open.slice(open.indexOf('{')));
  const url = `${base}&sid=${sid}`;
  const post = (body: string) => fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' } });
  await post('40'); // connect to the namespace "/"
  const deadline = Date.now() + timeoutMs;
  let ready = false;
  while (Date.now() < deadline) {
    const packets = (await (await fetch(url)).text()).split('\x1e');
    for (const packet of packets) {
      if (packet === '2') await post('3');
      else if (packet.startsWith('40') && !ready) {
        ready = true;
        onReady();
      } else if (packet.startsWith('42')) {
        const [name, data] = JSON.parse(packet.slice(2));
        if (name === event && accept(data)) {
          await post('41').catch(() => undefined);
          return data;
        }
      }
    }
  }
  throw new Error(`no ${event} on the dashboard socket within ${timeoutMs} ms`);
}

describe('alert examples on a real Node-RED started from this project', function () {
  this.timeout(120_000);
  let work: string;
  let nodeRed: RunningNodeRed;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'equalnet-alert-examples-'));
    const userDir = join(work, 'user');
    mkdirSync(userDir);
    const port = await freePort();
    let settings = settingsSource(port);
    if (!declared.includes('alert-rule')) {
      // Until package.json lists alert-rule, load it the way Node-RED loads a local node (nodesDir).
      const local = join(work, 'local-nodes');
      mkdirSync(local);
      for (const file of ['alert-rule.js', 'alert-rule.html', 'icons']) symlinkSync(join(PROJECT_ROOT, 'nodes', file), join(local, file));
      settings = settings.replace("flowFile: 'flows.json',", `flowFile: 'flows.json',\n    nodesDir: ${JSON.stringify(local)},`);
    }
    writeFileSync(join(userDir, 'settings.js'), settings);
    const flowSource = join(work, 'examples.json');
    writeFileSync(flowSource, JSON.stringify(flows.flat()));
    prepareHome(userDir, port, '', flowSource);
    nodeRed = await startNodeRed(nodeRedArgs(userDir, port), port);
  });

  after(async () => {
    await nodeRed?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('registers every node type the examples use, and deploys them without a missing type', async () => {
    const { body: sets } = await adminGet<Array<{ types: string[]; err?: string }>>(nodeRed.port, '/nodes');
    const known = new Set(sets.filter((s) => !s.err).flatMap((s) => s.types).concat(['tab']));
    EXAMPLES.forEach((name, i) => {
      for (const node of flows[i]) assert.ok(known.has(node.type), `${name}: type ${node.type} is not registered`);
    });
    assert.doesNotMatch(nodeRed.log(), /missing types|Unknown type/);
    const { body: deployed } = await adminGet<Array<{ id: string }>>(nodeRed.port, '/flows');
    assert.equal(deployed.length, flows.flat().length);
  });

  it('08-alert-dashboard: clicking "link at 97 %" shows a red notification with the subject and the readable line', async () => {
    const toast = await dashboardEvent(
      nodeRed.port,
      'show-toast',
      (d) => d.id === 'ex8.toast',
      () => void fetch(`http://127.0.0.1:${nodeRed.port}/inject/ex8.full`, { method: 'POST' }),
    );
    assert.equal(toast.title, '[EqualNet error] Link saturated (download)');
    assert.match(toast.message, /^ERROR Link saturated: the download link carries 97\.0 Mbit\/s of 100 Mbit\/s \(97 %\)/);
    assert.equal(toast.highlight, 'red');
  });
});
