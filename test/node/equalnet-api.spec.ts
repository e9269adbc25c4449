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

describe('equalnet-api node: a device\'s traffic by hour and its sessions, answered by a real usage-store', function () {
  this.timeout(30_000);
  const storeModule = require('../../nodes/usage-store');
  const allocatorModule = require('../../nodes/priority-allocator');
  const A = 'a4:5e:60:00:00:01';
  const B = 'dc:a6:32:00:00:02';
  let dir: string;
  let server: ReturnType<typeof createServer>;
  let base: string;
  /** The ticks the store counted: their ts, so the sessions can be checked against them. */
  const ticks: number[] = [];

  before(startServer);
  after(stopServer);

  beforeEach(async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    dir = mkdtempSync(join(tmpdir(), 'equalnet-api-history-'));
    ticks.length = 0;
    await load(
      [configNodeModule, capturingModule, storeModule, allocatorModule],
      [
        { ...flow[0], dbFile: join(dir, 'usage.db') },
        { id: 'alloc', type: 'priority-allocator', config: 'cfg', defaultPriority: '3', headroomPercent: '20', wires: [['store', 'allocated']] },
        // 2 s raw rows: every tick commits the one before (a query reads committed rows only)
        { id: 'store', type: 'usage-store', config: 'cfg', resolutionSec: '2', rawDays: '7', hourlyDays: '90', dailyDays: '1830', alertDays: '90', expireDays: '30', wires: [['api'], ['api'], []] },
        { ...flow[1], wires: [[], ['store']] },
        { id: 'allocated', type: 'helper' },
      ],
    );
    record('allocated');
    server = createServer(RED.httpNode as unknown as RequestListener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
    // 16 ticks 2 s apart ending now: A downloads 8 Mbit/s and uploads 2, B 1 and 0.5
    const start = Math.floor(Date.now() / 2000) * 2000 - 30_000;
    for (let k = 0; k < 16; k++) {
      const ts = start + k * 2000;
      getNode('alloc').receive({
        topic: 'snapshot',
        payload: {
          ts,
          clients: [
            { mac: A, ip: '192.168.1.10', ip6: ['fd00::10'], rxBps: 8e6, txBps: 2e6 },
            { mac: B, ip: '192.168.1.11', rxBps: 1e6, txBps: 5e5 },
          ],
        },
      } as never);
      await nextMessage('allocated');
      ticks.push(ts);
    }
    await new Promise((r) => setTimeout(r, 50));
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await helper.unload();
    const { rmSync } = await import('node:fs');
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const res = await fetch(base + path);
    return { status: res.status, body: (await res.json()) as any };
  };

  it('GET /api/analytics/client/:id/:hours: its averages and its series by hour, the same by MAC, IPv4 or IPv6', async () => {
    const byMac = await get(`/analytics/client/${A.toUpperCase().replace(/:/g, '-')}/24`);
    assert.equal(byMac.status, 200, JSON.stringify(byMac.body));
    const d = byMac.body;
    assert.equal(d.mac, A);
    assert.equal(d.hours, 24);
    // a constant rate: the averages are that rate whatever the rows' length
    assert.ok(Math.abs(d.avg_download - 8) < 1e-9 && Math.abs(d.avg_upload - 2) < 1e-9, JSON.stringify(d));
    assert.ok(d.data_points >= 14, `${d.data_points} ticks counted`);
    // by hour: one or two hours (the ticks may straddle one), each at 8 down, 2 up
    assert.ok(d.series.length >= 1 && d.series.length <= 2, JSON.stringify(d.series));
    for (const h of d.series) {
      assert.equal(h.ts % 3_600_000 === 0 || new Date(h.ts).getMinutes() === 0, true, `${h.timestamp} starts an hour`);
      assert.ok(Math.abs(h.download - 8) < 1e-9 && Math.abs(h.upload - 2) < 1e-9, JSON.stringify(h));
    }
    // MB: what the series' hours add up to is the total
    assert.ok(Math.abs(d.download_mb - 4 * d.upload_mb) < 1e-6);
    assert.deepEqual((await get('/analytics/client/192.168.1.10/24')).body, d);
    assert.deepEqual((await get('/analytics/client/FD00::10/24')).body, d);
    const other = (await get('/analytics/client/192.168.1.11/24')).body;
    assert.equal(other.mac, B);
    assert.ok(Math.abs(other.avg_download - 1) < 1e-9);
  });

  it('GET /api/analytics/top/:n?hours=N: the top consumers of that period (the default 24 h when not given)', async () => {
    const day = await get('/analytics/top/10');
    assert.equal(day.status, 200, JSON.stringify(day.body));
    assert.deepEqual(day.body.map((r: { mac: string }) => r.mac), [A, B]);
    // every tick is within the last 2 h: the same rows
    assert.deepEqual((await get('/analytics/top/10?hours=2')).body, day.body);
    assert.deepEqual((await get('/analytics/top/1?hours=720')).body, day.body.slice(0, 1));
  });

  it('GET /api/history/:id: its sessions, newest first, with the address and the span of the ticks seen', async () => {
    const res = await get(`/history/${A}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.device.mac, A);
    assert.equal(res.body.sessions.length, 1, JSON.stringify(res.body.sessions));
    const s = res.body.sessions[0];
    assert.equal(s.ip, '192.168.1.10');
    assert.equal(s.startTs, Math.floor(ticks[0] / 1000) * 1000);
    // the open session ends at the last committed tick (the last one is still summed in memory)
    assert.equal(s.endTs, Math.floor(ticks[ticks.length - 2] / 1000) * 1000);
    assert.equal(s.durationSec, (s.endTs - s.startTs) / 1000);
    assert.deepEqual((await get('/history/fd00::10?days=1&limit=5')).body, res.body);
  });

  it('400 for a bad N or id, 404 for a device usage-store has never seen, at once (no wait for a time-out)', async () => {
    const started = Date.now();
    const cases: Array<[string, number, RegExp]> = [
      ['/analytics/client/192.168.1.10/0', 400, /^hours: must be a whole number of at least 1/],
      ['/analytics/client/192.168.1.10/abc', 400, /^hours: must be a whole number from 1 to \d+ in plain decimal, got "abc"/],
      ['/analytics/client/192.168.1.10/1e3', 400, /^hours: /],
      ['/analytics/client/not-a-device/24', 400, /^id: must be a MAC address .*got "not-a-device"/],
      ['/analytics/client/192.168.1.999/24', 400, /^id: /],
      ['/history/%3Bls/', 400, /^id: /],
      ['/history/192.168.1.10?days=0', 400, /^days: /],
      ['/history/192.168.1.10?limit=x', 400, /^limit: /],
      ['/history/192.168.1.10?days=1&days=2', 400, /^days: must be given once/],
      ['/history/192.168.1.10?since=1', 400, /^since: unknown parameter/],
      ['/analytics/top/10?hours=0', 400, /^hours: must be a whole number of at least 1/],
      ['/analytics/top/10?hours=1&hours=2', 400, /^hours: must be given once/],
      ['/analytics/bandwidth/24?hours=2', 400, /^hours: only \/analytics\/top\/N takes a period/],
      ['/analytics/client/02:00:00:00:00:99/24', 404, /unknown device 02:00:00:00:00:99: it has never been seen on the LAN/],
      ['/analytics/client/10.9.9.9/24', 404, /unknown device "10\.9\.9\.9"/],
      ['/history/02-00-00-00-00-99', 404, /unknown device 02:00:00:00:00:99/],
      ['/history/fd00::99', 404, /unknown device "fd00::99"/],
    ];
    for (const [path, status, error] of cases) {
      const res = await get(path);
      assert.equal(res.status, status, `${path}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error, error, path);
    }
    assert.ok(Date.now() - started < 5000, 'answered without waiting for the 10 s time-out');
  });
});
