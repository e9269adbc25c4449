// Settings with one owner, in a real Node-RED (started as `npm start` starts it) from the HTTP API
// example flow: a config command over the API is validated once by the equalnet-config node,
// applied to every node, kept across a restart, and a redeploy of a changed config node wins.
// What is stored is read from the real SQLite file usage-store writes.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { nodeRedArgs, prepareHome, PROJECT_ROOT } from '../../scripts/node-red-home';
import { OVERRIDES_FILE } from '../../nodes/lib/config-node';
import { freePort, startNodeRed, type RunningNodeRed } from '../helpers/runtime';

const flow = JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples', '09-http-api.json'), 'utf8')) as Array<Record<string, unknown>>;
const CONSOLE = '3c:5a:b4:00:00:04';
const WARNING = /priorities now run from 1 to 3: 1 device with a lower priority moved to 3/g;

describe('settings owned by the config node: a config command for every node, kept across restarts (real Node-RED)', function () {
  this.timeout(120_000);
  let dir: string;
  let userDir: string;
  let port: number;
  let nodeRed: RunningNodeRed | null = null;
  const base = () => `http://127.0.0.1:${port}`;

  const get = async (path: string) => {
    const res = await fetch(base() + path);
    return { status: res.status, body: (await res.json()) as any };
  };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(base() + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const until = async <T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> => {
    const deadline = Date.now() + 8000;
    for (;;) {
      // while a deploy replaces the nodes, the routes are briefly Node-RED's 404 page
      const v = await read().catch((err: Error) => ({ error: err.message }) as T);
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`${what} never held; last: ${JSON.stringify(v).slice(0, 400)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** A tick of the pipeline: the example's "sample clients" inject, as a user clicks it. */
  const tick = async () => assert.equal((await fetch(`${base()}/inject/api.sample`, { method: 'POST' })).status, 200);
  const consoleRow = async () => ((await get('/api/clients')).body as any[]).find((c) => c.mac === CONSOLE);
  /** The console's priority in usage-store's registry, read from the SQLite file. */
  const stored = () => {
    const db = new Database(join(userDir, 'equalnet-api-example.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT priority FROM devices WHERE mac = ?').get(CONSOLE) as { priority: number | null } | undefined)?.priority;
    } finally {
      db.close();
    }
  };
  const start = async () => {
    nodeRed = await startNodeRed(nodeRedArgs(userDir, port), port);
  };
  const stop = async () => {
    await nodeRed?.stop();
    nodeRed = null;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'equalnet-settings-'));
    const flowFile = join(dir, 'flow.json');
    writeFileSync(flowFile, JSON.stringify(flow));
    port = await freePort();
    userDir = join(dir, 'user');
    prepareHome(userDir, port, '', flowFile);
    await start();
  });
  after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('raise the lowest priority to 10 over the API and set a device to 8: stored, allocated and in the registry', async () => {
    await tick();
    await until('the first snapshot', consoleRow, (c) => c?.priority === 5);
    // 8 is refused while there are 5 priorities: the range in force, checked once
    const early = await post(`/api/device/${CONSOLE}`, { priority: 8 });
    assert.equal(early.status, 400);
    assert.match(early.body.error, /priority: must be a whole number from 1 \(highest\) to 5/);

    const raised = await post('/api/config', { max_priority: 10 });
    assert.equal(raised.status, 200);
    assert.deepEqual([raised.body.max_priority, raised.body.total_bandwidth, raised.body.settings_source], [10, 100, 'config command']);
    const set = await post(`/api/device/${CONSOLE}`, { priority: 8 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    await until('the allocation', consoleRow, (c) => c?.priority === 8);
    await until('the registry', async () => stored(), (p) => p === 8);
    const status = (await get('/api/status')).body;
    assert.deepEqual([status.max_priority, status.settings_source], [10, 'config command']);
  });

  it('after a restart: still 10 priorities and the device still at 8', async () => {
    await stop();
    await start();
    const status = (await get('/api/status')).body;
    assert.deepEqual([status.max_priority, status.settings_source], [10, 'config command']);
    await tick();
    // the snapshot says 5 for the console; the kept 8 (registry, sent to the allocator at start) wins
    await until('the allocation after the restart', consoleRow, (c) => c?.priority === 8);
    assert.equal(stored(), 8);
  });

  it('lower to 3: the device is clamped to 3 with one warning, and the pipeline keeps ticking', async () => {
    const lowered = await post('/api/config', { max_priority: 3 });
    assert.equal(lowered.status, 200);
    assert.equal(lowered.body.max_priority, 3);
    await until('the clamped allocation', consoleRow, (c) => c?.priority === 3);
    await until('the clamped registry', async () => stored(), (p) => p === 3);
    for (let i = 0; i < 3; i++) {
      const before = (await get('/api/status')).body.timestamp;
      await new Promise((r) => setTimeout(r, 5));
      await tick();
      await until('a new tick', async () => (await get('/api/status')).body, (s) => s.timestamp !== before && s.total_clients === 4);
    }
    assert.equal((await consoleRow()).priority, 3);
    const log = nodeRed!.log();
    assert.equal(log.match(WARNING)?.length, 1, `one warning; the log:\n${log.slice(-3000)}`);
    assert.doesNotMatch(log, /\[error\]/, 'no refused tick');
    // a bad one: 400 with the reason, nothing changed
    const bad = await post('/api/config', { max_priority: 1 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /payload\.max_priority: must be a whole number from 2 to 20/);
    assert.equal((await get('/api/status')).body.max_priority, 3);
  });

  it('a redeploy of a changed config node wins over the kept command, and says so', async () => {
    const changed = flow.map((n) => (n.type === 'equalnet-config' ? { ...n, downMbps: '150', maxPriority: '6' } : n));
    const res = await fetch(`${base()}/flows`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'full' }, body: JSON.stringify(changed) });
    assert.equal(res.status, 204, await res.text());
    const status = await until('the deployed settings', async () => (await get('/api/status')).body, (s) => s.total_bandwidth === 150);
    assert.deepEqual([status.max_priority, status.settings_source], [6, 'deployed']);
    assert.doesNotMatch(readFileSync(join(userDir, OVERRIDES_FILE), 'utf8'), /max_?[pP]riority/, 'the kept command is dropped');
    await stop();
    await start();
    const again = (await get('/api/status')).body;
    assert.deepEqual([again.total_bandwidth, again.max_priority, again.settings_source], [150, 6, 'deployed']);
  });
});
