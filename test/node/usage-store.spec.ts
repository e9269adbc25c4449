import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { catchNodeModule, configNodeModule, getNode, helper, load, nextMessage, noMessage, startServer, statusNodeModule, stopServer, type FlowNode } from '../helpers/node-red';

const storeModule = require('../../nodes/usage-store');

const MBIT = 1_000_000;
const A = 'a4:5e:60:00:00:01';
const B = 'b8:27:eb:00:00:02';

function flow(dbFile: string): FlowNode[] {
  return [
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'equalnet-config', iface: 'br-lan', downMbps: '100', upMbps: '20', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile },
    {
      id: 'store',
      type: 'usage-store',
      z: 't1',
      config: 'cfg',
      resolutionSec: '60',
      rawDays: '7',
      hourlyDays: '90',
      dailyDays: '1830',
      alertDays: '90',
      expireDays: '30',
      wires: [['passed'], ['answers'], ['registry']],
    },
    { id: 'passed', type: 'helper', z: 't1' },
    { id: 'answers', type: 'helper', z: 't1' },
    { id: 'registry', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    { id: 'watcher', type: 'status', z: 't1', scope: ['store'], wires: [['statuses']] },
    { id: 'statuses', type: 'helper', z: 't1' },
  ];
}

const modules = [configNodeModule, storeModule, catchNodeModule, statusNodeModule];

/** Starts the flow and returns the registry the store sends at start. */
async function start(dbFile: string): Promise<{ devices: Array<{ mac: string; name: string | null; priority: number | null }> }> {
  await load(modules, flow(dbFile));
  return (await nextMessage('registry', 2000)).payload;
}

/** Loads a flow whose store cannot open its file; the registry never comes. */
async function startBroken(dbFile: string): Promise<string> {
  await load(modules, flow(dbFile));
  const { status } = await nextMessage<{ status: { fill: string; text: string } }>('statuses');
  assert.equal(status.fill, 'red');
  return status.text;
}

function send(topic: string | undefined, payload: unknown): void {
  getNode('store').receive({ topic, payload } as never);
}

async function ask(payload: unknown, topic = 'query'): Promise<any> {
  const answer = nextMessage('answers');
  send(topic, payload);
  return answer;
}

async function caught(topic: string | undefined, payload: unknown): Promise<string> {
  const msg = nextMessage<{ error: { message: string } }>('caught');
  send(topic, payload);
  return (await msg).error.message;
}

/** Two ticks a minute apart: the first raw bucket is over, so it is committed. */
async function twoTicks(at: number, clients: unknown[]): Promise<void> {
  for (const ts of [at, at + 60_000]) {
    const passed = nextMessage('passed');
    send(undefined, { ts, clients });
    assert.equal((await passed).payload.ts, ts, 'the snapshot is passed on unchanged');
  }
}

describe('usage-store node (in a real Node-RED runtime)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'equalnet-node-store-'));
    await startServer();
  });
  afterEach(async () => {
    await stopServer();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('a working store', () => {
    beforeEach(async () => assert.deepEqual(await start(join(dir, 'usage.db')), { devices: [] }));

    it('stores snapshots, passes them on, and answers queries on output 2', async () => {
      const at = Date.now() - 10 * 60_000;
      await twoTicks(at, [
        { mac: A, ip: '192.168.1.10', rxBps: 8 * MBIT, txBps: 0 },
        { mac: B, ip: '192.168.1.11', rxBps: 4 * MBIT, txBps: 0 },
      ]);
      const top = await ask({ type: 'top', limit: '1' });
      assert.equal(top.topic, 'top');
      // first tick of a run counts 2 s: 8 Mbit/s * 2 s = 2 MB
      assert.deepEqual(
        top.payload.map((r: any) => [r.mac, r.ip_address, r.download_mb]),
        [[A, '192.168.1.10', 2]],
      );
      assert.equal(top.query.limit, 1);
    });

    it('device command: the result on output 2, the registry on output 3, both kept over a redeploy', async () => {
      await twoTicks(Date.now() - 5 * 60_000, [{ mac: A, rxBps: 0, txBps: 0 }]);
      const registry = nextMessage('registry');
      const result = await ask({ mac: A, name: `Anna's "phone"; DROP TABLE devices`, priority: 1 }, 'device');
      assert.equal(result.topic, 'device');
      assert.equal(result.payload.device.name, `Anna's "phone"; DROP TABLE devices`);
      const update = await registry;
      assert.equal(update.topic, 'registry');
      assert.deepEqual(update.payload.devices.map((d: any) => [d.mac, d.name, d.priority]), [[A, `Anna's "phone"; DROP TABLE devices`, 1]]);

      await stopServer();
      await startServer();
      const atStart = await start(join(dir, 'usage.db'));
      assert.deepEqual(atStart.devices.map((d) => [d.mac, d.name, d.priority]), [[A, `Anna's "phone"; DROP TABLE devices`, 1]]);
    });

    it('writes the ticks summed in memory when the flow stops', async () => {
      const passed = nextMessage('passed');
      send('snapshot', { ts: Date.now() - 60_000, clients: [{ mac: B, rxBps: 16 * MBIT, txBps: 0 }] });
      await passed;
      await stopServer();
      await startServer();
      await start(join(dir, 'usage.db'));
      const top = await ask({ type: 'top' });
      assert.deepEqual(top.payload.map((r: any) => [r.mac, r.download_mb]), [[B, 4]]);
    });

    it('report: a msg ready for an email node (subject, HTML payload, plain text, data)', async () => {
      const report = await ask({ period: 'weekly' }, 'report');
      assert.match(report.topic, /^EqualNet weekly report: \d{4}-\d\d-\d\d – \d{4}-\d\d-\d\d$/);
      assert.equal(report.subject, report.topic);
      assert.match(report.payload, /^<h2>EqualNet weekly report/);
      assert.match(report.plaintext, /by 0 clients/);
      assert.equal(report.data.period_days, 7);
      const text = await ask({ period: 'daily', format: 'text' }, 'report');
      assert.match(text.payload, /^EqualNet daily report: /);
    });

    it('stores alerts from alert-rule and finds them by severity', async () => {
      send('alert', { type: 'new_device', severity: 'info', message: 'New device: Apple phone', mac: A });
      send('alert', [{ type: 'bandwidth_limit', severity: 'warning', message: 'Client at 95%' }]);
      await noMessage('answers', 100);
      const alerts = await ask({ type: 'alerts', severity: 'warning' });
      assert.deepEqual(alerts.payload.map((a: any) => [a.type, a.severity, a.message]), [['bandwidth_limit', 'warning', 'Client at 95%']]);
    });

    it('rejects bad parameters with an error a Catch node receives, then carries on', async () => {
      assert.match(await caught('query', { type: 'bandwidth', hours: 0 }), /payload\.hours: must be a whole number of at least 1, got 0/);
      assert.match(await caught('query', { type: 'top', limit: 'NaN' }), /payload\.limit: must be a whole number from 1 to 10000/);
      assert.match(await caught('query', { type: 'report', days: 1e9 }), /payload\.days: must be at most 7320/);
      assert.match(await caught('device', { mac: '02:00:00:00:00:99', name: 'x' }), /payload\.mac: unknown device 02:00:00:00:00:99/);
      assert.match(await caught('alert', { type: 'x', severity: 'panic', message: 'y' }), /payload\.severity/);
      assert.match(await caught(undefined, { clients: [{ mac: 'nope' }] }), /payload\.clients\[0\]\.mac/);
      const ok = await ask({ type: 'hourly', hours: 24 });
      assert.deepEqual(ok.payload, []);
    });
  });

  describe('where the file is', () => {
    afterEach(() => helper.settings({}));
    it('a relative database file lives in the Node-RED user directory', async () => {
      helper.settings({ userDir: dir });
      await start('usage-relative.db');
      assert.ok(existsSync(join(dir, 'usage-relative.db')));
    });
    it('the status shows clients and file size once a minute is written', async () => {
      await start(join(dir, 'usage.db'));
      const statuses: { fill: string; text: string }[] = [];
      (getNode('statuses') as unknown as NodeJS.EventEmitter).on('input', (msg: { status: { fill: string; text: string } }) => statuses.push(msg.status));
      await twoTicks(Date.now() - 5 * 60_000, [{ mac: A, rxBps: MBIT, txBps: 0 }, { mac: B, rxBps: 0, txBps: 0 }]);
      await noMessage('caught', 100);
      const last = statuses[statuses.length - 1];
      assert.equal(last?.fill, 'green');
      assert.match(last.text, /^2 clients · \d+\.\d MB$/);
    });
  });

  describe('a database that cannot be used', () => {
    it('unwritable path: red status, the error at the first snapshot and at each command, snapshots still flow', async () => {
      writeFileSync(join(dir, 'plain'), 'x');
      const text = await startBroken(join(dir, 'plain', 'usage.db'));
      assert.match(text, /cannot open the usage database/);
      const first = nextMessage('passed');
      assert.match(await caught(undefined, { ts: Date.now(), clients: [{ mac: A }] }), /cannot open the usage database ".*plain\/usage\.db"/);
      await first;
      // later snapshots pass without repeating the error every tick
      const second = nextMessage('passed');
      send(undefined, { ts: Date.now(), clients: [{ mac: A }] });
      await second;
      await noMessage('caught', 200);
      assert.match(await caught('query', { type: 'top' }), /cannot open the usage database/);
      await noMessage('registry', 200);
    });

    it('corrupt file: red status naming the problem, the file left as it was', async () => {
      const file = join(dir, 'usage.db');
      writeFileSync(file, Buffer.alloc(8192, 0x42));
      const text = await startBroken(file);
      assert.match(text, /cannot use the usage database/);
      assert.match(await caught('query', { type: 'registry' }), /not an SQLite database/);
      await stopServer();
      assert.deepEqual(readFileSync(file), Buffer.alloc(8192, 0x42));
      await startServer();
    });
  });
});
