/**
 * equalnet-api's footprint on Node-RED's express apps: what it adds at deploy (its routes and an
 * error handler on httpNode, an error handler on the editor's admin app) it takes away on close, so a
 * redeploy does not leave a second copy answering. Its HTTP behaviour is tested over real HTTP in
 * test/runtime/api.spec.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configNodeModule, getNode, helper, load, nextMessage, record, startServer, stopServer, type FlowNode } from '../helpers/node-red';

const apiModule = require('../../nodes/equalnet-api') as (red: unknown) => void;
/** The RED the node was given (the test helper's apps, not Node-RED's own). */
let RED: { httpNode: App; httpAdmin: App };
const capturingModule = (red: typeof RED) => {
  RED = red;
  return apiModule(red);
};

type Layer = { route?: { path: string }; handle?: { name?: string; length?: number } };
type App = { _router?: { stack: Layer[] }; parent?: App };

const flow: FlowNode[] = [
  { id: 'cfg', type: 'equalnet-config', iface: 'lan0', downMbps: '100', upMbps: '20', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile: 'x.db' },
  { id: 'api', type: 'equalnet-api', config: 'cfg', basePath: '/api', wires: [[], []] },
];

describe('equalnet-api node: routes and handlers added at deploy, removed on close', () => {
  beforeEach(startServer);
  afterEach(stopServer);

  function footprint(): { routes: number; adminErrorHandlers: number; nodeErrorHandlers: number } {
    const admin = RED.httpAdmin.parent ?? RED.httpAdmin;
    // an express error handler takes 4 arguments
    const errorHandlers = (app: App) => (app._router?.stack ?? []).filter((l) => l.handle?.name === 'apiErrors' && l.handle.length === 4).length;
    return {
      routes: (RED.httpNode._router?.stack ?? []).filter((l) => l.route?.path.startsWith('/api/')).length,
      adminErrorHandlers: errorHandlers(admin),
      nodeErrorHandlers: errorHandlers(RED.httpNode),
    };
  }

  it('adds its routes and one error handler per app, and removes them all when the flow stops', async () => {
    await load([configNodeModule, capturingModule], flow);
    const deployed = footprint();
    assert.ok(deployed.routes >= 8, `${deployed.routes} routes under /api`);
    assert.equal(deployed.adminErrorHandlers, 1);
    assert.equal(deployed.nodeErrorHandlers, 1);
    await helper.unload();
    assert.deepEqual(footprint(), { routes: 0, adminErrorHandlers: 0, nodeErrorHandlers: 0 });
  });

  it('keeps at most 64 questions to usage-store waiting: the next gets 503 at once, and all are answered on close', async () => {
    // usage-store is not wired back (a helper node takes the questions and never answers)
    await load([configNodeModule, capturingModule], [flow[0], { ...flow[1], wires: [[], ['questions']] }, { id: 'questions', type: 'helper' }]);
    record('questions');
    // the routes on httpNode, served over real HTTP on loopback
    const server = createServer(RED.httpNode as unknown as RequestListener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/analytics/top/10`;
    try {
      const waiting = Array.from({ length: 64 }, () => fetch(url).then(async (r) => ({ status: r.status, body: await r.json() })));
      for (let i = 0; i < 64; i++) assert.equal((await nextMessage('questions')).payload.type, 'top');
      const refused = await fetch(url);
      assert.equal(refused.status, 503);
      assert.deepEqual(await refused.json(), { error: 'usage-store has 64 questions waiting: try again shortly' });
      await helper.unload();
      const answers = await Promise.all(waiting);
      assert.deepEqual(new Set(answers.map((a) => `${a.status} ${a.body.error}`)), new Set(['503 the flow is being redeployed']));
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('GET /api/clients is serialised once per snapshot, with an ETag: the same reply until the next snapshot, 304 to a client that has it', async () => {
    await load([configNodeModule, capturingModule], flow);
    const server = createServer(RED.httpNode as unknown as RequestListener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/clients`;
    const alloc = { rateBps: 1e6, ceilBps: 1e8, prio: 1, expectedBps: 1e6, weight: 3, busy: false };
    const snapshot = (priority: number) => ({
      topic: 'snapshot',
      payload: { ts: 1, clients: [{ mac: 'a4:5e:60:00:00:01', ip: '192.168.1.10', priority, rxBps: 1e6, txBps: 0, alloc: { down: alloc, up: alloc } }], allocation: { maxPriority: 5, minPercent: 10, down: { totalBps: 1e8 }, up: { totalBps: 2e7 } } },
    });
    try {
      const api = getNode('api');
      api.receive(snapshot(2) as never);
      await new Promise((r) => setTimeout(r, 20));
      const first = await fetch(url);
      const etag = first.headers.get('etag');
      assert.equal(first.status, 200);
      assert.match(first.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal((await first.json())[0].priority, 2);
      assert.ok(etag, 'an ETag');
      const again = await fetch(url);
      assert.equal(again.headers.get('etag'), etag);
      await again.text();
      const cached = await fetch(url, { headers: { 'If-None-Match': etag! } });
      assert.equal(cached.status, 304);
      assert.equal(await cached.text(), '');
      // the next snapshot: another reply and another tag
      api.receive(snapshot(4) as never);
      await new Promise((r) => setTimeout(r, 20));
      const next = await fetch(url, { headers: { 'If-None-Match': etag! } });
      assert.equal(next.status, 200);
      assert.notEqual(next.headers.get('etag'), etag);
      assert.equal((await next.json())[0].priority, 4);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('an unexpected error answers 500 with a fixed reason (no stack, no path) and logs the detail', async () => {
    await load([configNodeModule, capturingModule], flow);
    const server = createServer(RED.httpNode as unknown as RequestListener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // a snapshot with a hole in its client list: mapping it throws a TypeError inside the route
      const api = getNode('api');
      const logged: string[] = [];
      const error = api.error.bind(api);
      api.error = (msg: unknown, ...rest: unknown[]) => {
        logged.push(String(msg));
        return error(msg as string, ...(rest as []));
      };
      api.receive({ topic: 'snapshot', payload: { ts: 0, clients: [null], allocation: { maxPriority: 5, minPercent: 10, down: {}, up: {} } } } as never);
      const res = await fetch(`${base}/api/clients`);
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('content-type')?.split(';')[0], 'application/json');
      assert.deepEqual(await res.json(), { error: 'internal error: see the Node-RED log' });
      assert.equal(logged.length, 1);
      assert.match(logged[0], /^\/api: TypeError: .*\n\s+at /, 'the log has the stack');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
