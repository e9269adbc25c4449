import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { catchNodeModule, configNodeModule, drainMessages, getNode, load, nextMessage, noMessage, record, startServer, statusNodeModule, stopServer, type FlowNode } from '../helpers/node-red';
import { snap, T0, TICK_MS, type C } from '../unit/alert-fixtures';

const alertRuleModule = require('../../nodes/alert-rule');
const storeModule = require('../../nodes/usage-store');

const A = 'a4:5e:60:00:00:0a';
const B = 'dc:a6:32:00:00:0b';
const C3 = 'b8:27:eb:00:00:0c';

const modules = [configNodeModule, alertRuleModule, storeModule, catchNodeModule, statusNodeModule];
const config = { id: 'cfg', type: 'equalnet-config', iface: 'br-lan', downMbps: '100', upMbps: '20', maxPriority: '5', minPercent: '10', mode: 'dry-run', dbFile: 'equalnet.db' };
const common = (ruleIds: string[]): FlowNode[] => [
  { id: 't1', type: 'tab', label: 'test' },
  { id: 'alerts', type: 'helper', z: 't1' },
  { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
  { id: 'caught', type: 'helper', z: 't1' },
  { id: 'watcher', type: 'status', z: 't1', scope: ruleIds, wires: [['statuses']] },
  { id: 'statuses', type: 'helper', z: 't1' },
];

type AlertMsg = { topic: string; subject: string; payload: string; alert: any; priority?: unknown };

function send(id: string, topic: string, payload: unknown): void {
  getNode(id).receive({ topic, payload } as never);
}

async function caught(id: string, topic: string, payload: unknown): Promise<string> {
  const msg = nextMessage<{ error: { message: string; source: { id: string } } }>('caught');
  send(id, topic, payload);
  const m = await msg;
  assert.equal(m.error.source.id, id);
  return m.error.message;
}

describe('alert-rule node', function () {
  before(startServer);
  after(stopServer);
  afterEach(async () => {
    const helper = require('node-red-node-test-helper');
    await helper.unload();
  });

  describe('output 3: rules chained one after the other, each snapshot passed on unchanged', () => {
    beforeEach(async () => {
      await load(modules, [
        ...common(['over', 'starve', 'broken']),
        config,
        { id: 'over', type: 'alert-rule', z: 't1', rule: 'over_allocation', percent: '90', holdSec: '4', clearSec: '', cooldownSec: '', wires: [['alerts'], [], ['starve']] },
        { id: 'starve', type: 'alert-rule', z: 't1', rule: 'priority_starvation', wires: [['alerts'], [], ['broken']] },
        // a rule that could not be set up still passes the snapshot on: the chain does not break there
        { id: 'broken', type: 'alert-rule', z: 't1', rule: 'no_such_rule', wires: [['alerts'], [], ['end']] },
        { id: 'end', type: 'helper', z: 't1' },
      ]);
      record('alerts', 'end', 'caught', 'statuses');
    });

    it('the last rule of the chain gets the very object the first got (no copy), alerts still go out, a refused message is passed on too', async () => {
      const busy: C[] = [{ mac: A, name: 'laptop', rx: 19, down: 20 }];
      const sent: unknown[] = [];
      for (let k = 0; k < 4; k++) {
        const payload = snap(T0 + k * TICK_MS, busy);
        sent.push(payload);
        const through = nextMessage<{ topic: string; payload: unknown }>('end');
        send('over', 'snapshot', payload);
        const m = await through;
        assert.equal(m.payload, payload, 'the same object at the end of the chain');
        assert.equal(m.topic, 'snapshot');
      }
      // over_allocation fired in the middle of the chain
      const alert = await nextMessage<AlertMsg>('alerts');
      assert.equal(alert.alert.type, 'over_allocation');
      // a malformed message: the rules refuse it (an error to Catch) and still pass it on
      const through = nextMessage<{ payload: unknown }>('end');
      send('over', 'snapshot', { clients: 'nope' });
      assert.deepEqual((await through).payload, { clients: 'nope' });
      // what is addressed to a rule (its registry, an event, a config) stops at it
      send('over', 'config', { percent: 95 });
      send('over', 'registry', { devices: [] });
      assert.deepEqual(await drainMessages('end', 300), []);
      const errors = ((await drainMessages('caught', 300)) as { error: { message: string; source: { id: string } } }[]).map((m) => `${m.error.source.id}: ${m.error.message}`);
      assert.ok(errors.some((e) => /^over: .*clients/.test(e)), errors.join('\n'));
      assert.ok(errors.some((e) => /^broken: .*no_such_rule/.test(e)), errors.join('\n'));
    });
  });

  describe('one message per alert, ready to send on, and a second one for usage-store', () => {
    beforeEach(async () => {
      await load(modules, [
        ...common(['over']),
        config,
        { id: 'over', type: 'alert-rule', z: 't1', rule: 'over_allocation', percent: '90', holdSec: '4', clearSec: '', cooldownSec: '', wires: [['alerts'], ['stored']] },
        { id: 'stored', type: 'helper', z: 't1' },
      ]);
      record('alerts', 'stored', 'caught', 'statuses');
    });

    it('sends topic equalnet/alert/<type>, a readable payload, the subject and msg.alert; and { topic: "alert" } for the store', async () => {
      const busy: C[] = [{ mac: A, name: 'laptop', rx: 19, down: 20 }];
      for (let i = 0; i < 2; i++) send('over', 'snapshot', snap(T0 + i * TICK_MS, busy));
      await noMessage('alerts', 100);
      send('over', 'snapshot', snap(T0 + 2 * TICK_MS, busy));
      const msg = await nextMessage<AlertMsg>('alerts');
      assert.equal(msg.topic, 'equalnet/alert/over_allocation');
      assert.equal(msg.subject, '[EqualNet warning] Over allocation: laptop');
      assert.equal(
        msg.payload,
        'WARNING Over allocation: laptop (a4:5e:60:00:00:0a, 192.168.1.10) downloads 19.0 Mbit/s, 95 % of its allocation of 20.0 Mbit/s, for 4 s (threshold 90 % for 4 s)',
      );
      assert.equal(msg.priority, undefined, 'no msg.priority: the e-mail node would take it for the mail priority');
      assert.deepEqual([msg.alert.state, msg.alert.mac, msg.alert.direction, msg.alert.figures.usageBps], ['raised', A, 'down', 19_000_000]);
      const stored = await nextMessage('stored');
      assert.deepEqual(stored.payload, { type: 'over_allocation', severity: 'warning', message: msg.alert.message, mac: A, ip: '192.168.1.10', ts: T0 + 2 * TICK_MS });
      assert.equal(stored.topic, 'alert');
      // no repeat while it lasts
      send('over', 'snapshot', snap(T0 + 3 * TICK_MS, busy));
      await noMessage('alerts', 150);
    });

    it('a malformed snapshot goes to a Catch node naming the field; the node goes on', async () => {
      const message = await caught('over', 'snapshot', { ts: T0, clients: [{ mac: 'not-a-mac' }] });
      assert.equal(message, 'InputError: payload.clients[0].mac: "not-a-mac" is not a MAC address');
      const statuses = [];
      for (;;) {
        const s = (await nextMessage<{ status: { fill: string; text: string } }>('statuses')).status;
        statuses.push(s);
        if (s.fill === 'red') break;
      }
      assert.match(statuses.at(-1)!.text, /^payload\.clients\[0\]\.mac/);
      const busy: C[] = [{ mac: A, rx: 20, down: 20 }];
      for (let i = 0; i <= 2; i++) send('over', 'snapshot', snap(T0 + i * TICK_MS, busy));
      assert.equal((await nextMessage<AlertMsg>('alerts')).alert.state, 'raised');
    });

    it('a config command out of range is rejected with a clear error; a valid one applies', async () => {
      assert.equal(await caught('over', 'config', { percent: 1200 }), 'InputError: payload.percent: must be a number from 1 to 1000 %, got 1200');
      assert.equal(await caught('over', 'config', { holdSec: 'x' }), 'InputError: payload.holdSec: must be a number from 0 to 86400 s, got "x"');
      send('over', 'config', { percent: 99, holdSec: 0 });
      send('over', 'snapshot', snap(T0, [{ mac: A, rx: 19, down: 20 }])); // 95 % < 99 %
      await noMessage('alerts', 150);
      send('over', 'snapshot', snap(T0 + TICK_MS, [{ mac: A, rx: 19.9, down: 20 }]));
      assert.equal((await nextMessage<AlertMsg>('alerts')).alert.figures.thresholdPercent, 99);
    });
  });

  it('a threshold out of range in the editor: red status naming it, and every message is rejected', async () => {
    await load(modules, [...common(['bad']), { id: 'bad', type: 'alert-rule', z: 't1', rule: 'unusual_traffic', sigma: '0.5', wires: [['alerts'], []] }]);
    record('alerts', 'caught', 'statuses');
    assert.equal(await caught('bad', 'snapshot', snap(T0, [])), 'Error: sigma: must be a number from 1 to 20 standard deviations, got "0.5"');
    const { status } = await nextMessage<{ status: { fill: string; text: string } }>('statuses');
    assert.equal(status.fill, 'red');
    assert.match(status.text, /^sigma: must be a number from 1 to 20/);
  });

  describe('with a real usage-store: registry in, alerts stored, and a restart', () => {
    let dir: string;
    before(() => (dir = mkdtempSync(join(tmpdir(), 'equalnet-alert-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** store -1-> rule, store -3 (registry)-> rule, rule -2-> store; ruleId changes so no context is shared. */
    const pipeline = (ruleId: string, waitSec: string): FlowNode[] => [
      ...common([ruleId]),
      { ...config, dbFile: join(dir, 'alerts.db') },
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
        wires: [[ruleId], ['answers'], [ruleId]],
      },
      { id: 'answers', type: 'helper', z: 't1' },
      { id: ruleId, type: 'alert-rule', z: 't1', rule: 'new_device', waitSec, wires: [['alerts'], ['store']] },
    ];

    async function tick(ts: number, macs: string[]): Promise<void> {
      send('store', 'snapshot', snap(ts, macs.map((mac) => ({ mac }))));
    }

    async function storedAlerts(): Promise<Array<{ type: string; mac_address: string; severity: string; message: string }>> {
      const answer = nextMessage('answers');
      send('store', 'query', { type: 'alerts' });
      return (await answer).payload;
    }

    it('fires new_device for a device the store does not know, stores it, and does not fire again after a restart', async () => {
      await load(modules, pipeline('rule1', '0'));
      record('alerts', 'answers', 'caught', 'statuses');
      await new Promise((r) => setTimeout(r, 300)); // the store sends its registry 100 ms after start: empty, a first start
      const past = Date.now() - 60_000; // the first run saw A, then B, a minute before the restart
      await tick(past, [A]); // waitSec 0: what is there at a first start is the baseline
      await noMessage('alerts', 200);
      await tick(past + 2000, [A, B]);
      assert.equal((await nextMessage<AlertMsg>('alerts')).alert.mac, B);
      await tick(past + 4000, [A, B]);
      await noMessage('alerts', 200);
      const rows = await storedAlerts();
      assert.deepEqual(rows.map((r) => [r.type, r.mac_address, r.severity]), [['new_device', B, 'info']]);

      // restart: a new node (no context), the same database
      const helper = require('node-red-node-test-helper');
      await helper.unload();
      await load(modules, pipeline('rule2', '30'));
      record('alerts', 'answers', 'caught', 'statuses');
      await tick(Date.now() + 4000, [A, B, C3]); // before or after the registry (sent 100 ms after start): either way only C3 is new
      const again = await nextMessage<AlertMsg>('alerts', 3000);
      assert.equal(again.alert.mac, C3);
      await tick(Date.now() + 6000, [A, B, C3]);
      await noMessage('alerts', 300);
      assert.deepEqual((await storedAlerts()).map((r) => r.mac_address).sort(), [B, C3].sort());
    });
  });
});
