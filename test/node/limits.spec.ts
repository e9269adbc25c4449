/**
 * Limits and quotas through the real nodes (issue 18): equalnet-api -> usage-store -> registry ->
 * priority-allocator, and usage-store -> alert-rule (quota_warning, quota_exceeded), in a Node-RED
 * runtime with a real SQLite file; the API is served over real HTTP on loopback.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { configNodeModule, getNode, helper, load, startServer, stopServer, type FlowNode } from '../helpers/node-red';

const apiModule = require('../../nodes/equalnet-api') as (red: unknown) => void;
let RED: { httpNode: unknown };
const capturingApi = (red: typeof RED) => {
  RED = red;
  return apiModule(red);
};
const modules = [configNodeModule, capturingApi, require('../../nodes/priority-allocator'), require('../../nodes/usage-store'), require('../../nodes/alert-rule')];

const A = 'a4:5e:60:00:00:01';
const B = 'dc:a6:32:00:00:02';

interface Client {
  mac: string;
  alloc: { down: { ceilBps: number; rateBps: number }; up: { ceilBps: number; rateBps: number } };
  quota?: { throttled: boolean; dailyUsedBytes: number };
}

describe('limits and quotas through the nodes: API -> usage-store -> allocator, quota alerts', function () {
  this.timeout(30_000);
  let dir: string;
  let server: Server;
  let base: string;
  const allocated: { clients: Client[]; ts: number }[] = [];
  const alerts: { type: string; mac: string; message: string; figures: Record<string, unknown> }[] = [];

  before(startServer);
  after(stopServer);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'equalnet-limits-'));
    allocated.length = 0;
    alerts.length = 0;
    const flow: FlowNode[] = [
      { id: 'cfg', type: 'equalnet-config', iface: 'lan0', downMbps: '20', upMbps: '10', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile: join(dir, 'limits.db') },
      { id: 'alloc', type: 'priority-allocator', config: 'cfg', defaultPriority: '3', headroomPercent: '20', wires: [['store', 'allocated']] },
      { id: 'store', type: 'usage-store', config: 'cfg', resolutionSec: '60', rawDays: '7', hourlyDays: '90', dailyDays: '1830', alertDays: '90', expireDays: '30', wires: [['api', 'warn', 'exceeded'], ['api'], ['alloc']] },
      { id: 'api', type: 'equalnet-api', config: 'cfg', basePath: '/api', wires: [['alloc'], ['store']] },
      { id: 'warn', type: 'alert-rule', config: 'cfg', rule: 'quota_warning', wires: [['alerts'], ['store']] },
      { id: 'exceeded', type: 'alert-rule', config: 'cfg', rule: 'quota_exceeded', wires: [['alerts'], ['store']] },
      { id: 'allocated', type: 'helper' },
      { id: 'alerts', type: 'helper' },
    ];
    await load(modules, flow);
    const on = (id: string, f: (msg: any) => void) => (getNode(id) as unknown as { on(e: 'input', f: (msg: any) => void): void }).on('input', f);
    on('allocated', (msg: { payload: { clients: Client[]; ts: number } }) => allocated.push(msg.payload));
    on('alerts', (msg: { alert: (typeof alerts)[number] }) => alerts.push(msg.alert));
    server = createServer(RED.httpNode as RequestListener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
    await new Promise((r) => setTimeout(r, 200)); // usage-store's first registry
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await helper.unload();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (path: string, body: unknown) => {
    const r = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const get = async (path: string) => (await fetch(base + path)).json() as Promise<Record<string, unknown>>;
  const wait = async <T>(what: string, f: () => T | undefined, ms = 5000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = f();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const clientOf = (mac: string, s = allocated[allocated.length - 1]) => s.clients.find((c) => c.mac === mac)!;
  let ts = 0;
  const tick = async (rxA: number, txA: number) => {
    ts = ts ? ts + 2000 : Date.now();
    const before = allocated.length;
    getNode('alloc').receive({ topic: 'snapshot', payload: { ts, clients: [{ mac: A, ip: '192.168.1.10', rxBps: rxA, txBps: txA }, { mac: B, ip: '192.168.1.11', rxBps: 1e6, txBps: 1e5 }] } });
    await wait('the tick allocated', () => (allocated.length > before ? true : undefined));
    await new Promise((r) => setTimeout(r, 30));
  };

  it('a cap and a quota set over the API become the device\'s ceil; crossing the quota throttles it on that tick, one quota_exceeded goes out and is stored; GET shows it all', async () => {
    ts = 0;
    await tick(0, 0);
    const set = await post(`/device/${A}`, { max_download: 5, quota_daily_mb: 22, quota_action: 'throttle', throttle_kbps: 1000 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const device = set.body.device as Record<string, unknown>;
    assert.equal(device.max_download, 5);
    assert.equal(device.quota_daily_mb, 22);
    // usage-store keeps it and its registry gives the allocator the cap
    await wait('the 5 Mbit/s ceil', () => (clientOf(A).alloc.down.ceilBps === 5e6 ? true : undefined));
    assert.equal(clientOf(A).alloc.up.ceilBps, 10e6);
    assert.equal(clientOf(B).alloc.down.ceilBps, 20e6);

    // 16 Mbit/s down + 4 up: 5 MB a 2 s tick: 20 MB (80 % of 22) on the 4th tick, 25 MB on the 5th
    let throttledAt = -1;
    for (let k = 1; k <= 6; k++) {
      await tick(16e6, 4e6);
      if (throttledAt < 0 && clientOf(A).alloc.down.ceilBps === 1e6) throttledAt = k;
    }
    const exceeded = alerts.filter((a) => a.type === 'quota_exceeded');
    assert.equal(exceeded.length, 1, JSON.stringify(alerts));
    assert.equal(exceeded[0].mac, A);
    assert.match(exceeded[0].message, /used 25\.0 MB of its daily quota of 22\.0 MB \(114 %\): throttled to 1\.00 Mbit\/s until 00:00 on \d{4}-\d\d-\d\d/);
    // the warning went out on its own tick, before
    assert.deepEqual(alerts.map((a) => a.type), ['quota_warning', 'quota_exceeded']);
    // throttled on the tick that crossed (the 5th), both directions, and stays so
    assert.equal(throttledAt, 5);
    assert.equal(clientOf(A).alloc.up.ceilBps, 1e6);
    assert.ok(clientOf(A).alloc.down.rateBps <= 1e6);
    const view = await get(`/device/${A}`);
    assert.equal(view.max_download, 5);
    assert.equal(view.max_upload, null);
    assert.equal(view.quota_daily_mb, 22);
    assert.equal(view.quota_monthly_mb, null);
    assert.equal(view.quota_action, 'throttle');
    assert.equal(view.throttle_kbps, 1000);
    assert.equal(view.throttled, true);
    assert.deepEqual(view.quota_used_mb, { day: 30, month: 30 });
    assert.equal(view.ceil, 1);
    // stored by usage-store: one row
    await wait('the alert stored', () => {
      const db = new Database(join(dir, 'limits.db'), { readonly: true });
      try {
        const n = (db.prepare("SELECT count(*) AS n FROM alerts WHERE alert_type = 'quota_exceeded' AND mac_address = ?").get(A) as { n: number }).n;
        return n === 1 ? n : undefined;
      } finally {
        db.close();
      }
    });
  });

  it('anything out of range is 400 with the field and the reason, and nothing changes', async () => {
    ts = 0;
    await tick(0, 0);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ max_download: 0 }, /^max_download: must be a number from 0.008 to 100000 Mbit\/s/],
      [{ max_upload: -1 }, /^max_upload/],
      [{ quota_daily_mb: 'lots' }, /^quota_daily_mb/],
      [{ quota_monthly_mb: 0 }, /^quota_monthly_mb/],
      [{ quota_action: 'block' }, /^quota_action: must be "alert" or "throttle"/],
      [{ quota_daily_mb: 20, quota_action: 'throttle' }, /^throttle_kbps: "quota_action": "throttle" needs a throttle rate/],
      [{ throttle_kbps: 2 }, /^throttle_kbps/],
      [{ max_dl: 5 }, /^max_dl: unknown field/],
    ];
    for (const [body, reason] of bad) {
      const r = await post(`/device/${A}`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(String(r.body.error), reason, JSON.stringify(body));
    }
    await tick(0, 0);
    const view = await get(`/device/${A}`);
    assert.equal(view.max_download, null);
    assert.equal(view.quota_daily_mb, null);
    assert.equal(clientOf(A).alloc.down.ceilBps, 20e6);
    // a cap below the guarantee (2 Mbit/s) is allowed and wins
    const low = await post(`/device/${A}`, { max_download: 0.5 });
    assert.equal(low.status, 200);
    await wait('the 0.5 Mbit/s ceil', () => (clientOf(A).alloc.down.ceilBps === 5e5 ? true : undefined));
    assert.ok(clientOf(A).alloc.down.rateBps <= 5e5);
    // null clears
    assert.equal((await post(`/device/${A}`, { max_download: null })).status, 200);
    await wait('the link as ceil again', () => (clientOf(A).alloc.down.ceilBps === 20e6 ? true : undefined));
  });
});
