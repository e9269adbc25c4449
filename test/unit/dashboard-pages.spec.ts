// The function nodes of the dashboard's Alerts and Settings pages (issue 16) and the default
// flow's alert delivery, run as Node-RED runs them (their own code, a context of their own), in
// the shipped flow and in the dashboard example: the filter becomes the alerts query usage-store
// checks, the settings in force are read off a snapshot and sent once per change, and an alert is
// routed exactly as nodes/core/alerts/delivery.ts's routeAlert says.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyDelivery, DEFAULT_DELIVERY, routeAlert } from '../../nodes/core/alerts/delivery';

const ROOT = join(__dirname, '..', '..');
type Node = { id: string; type: string; name?: string; func?: string; wires?: string[][]; links?: string[] };

/** A function node's code with a context of its own, as Node-RED gives it. */
function runner(node: Node) {
  const store = new Map<string, unknown>();
  const context = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) };
  return (msg: Record<string, unknown>) => new Function('msg', 'context', node.func!)(msg, context);
}

for (const file of ['flows/default.json', 'examples/10-dashboard.json']) {
  describe(`${file}: the Alerts and Settings pages' functions`, () => {
    const flow = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as Node[];
    const named = (name: string) => {
      const n = flow.find((n) => n.type === 'function' && n.name === name);
      assert.ok(n, `no function "${name}"`);
      return n!;
    };

    it('alert filter: the page\'s filter kept, asked as an alerts query on every tick; acknowledge / clear passed on with answerErrors', () => {
      const run = runner(named('alert filter'));
      // before any filter: the last 24 h
      assert.deepEqual(run({ topic: 'query', payload: { type: 'alerts' } }), { topic: 'query', payload: { type: 'alerts', limit: 50, hours: '24' }, filter: { severity: '', type: '', hours: '24' }, answerErrors: true, page: 'alerts' });
      const filter = { severity: 'warning', type: 'over_allocation', hours: '168' };
      const asked = run({ topic: 'filter', payload: filter });
      assert.deepEqual(asked.payload, { type: 'alerts', limit: 50, severity: 'warning', alertType: 'over_allocation', hours: '168' });
      assert.deepEqual(run({ topic: 'query', payload: {} }).payload, asked.payload, 'the timer asks with the filter in force');
      assert.deepEqual(run({ topic: 'filter', payload: { severity: '', type: '', hours: '' } }).payload, { type: 'alerts', limit: 50 }, '"all" filters nothing');
      assert.deepEqual(run({ topic: 'alert-state', payload: { action: 'clear', ids: [3] } }), { topic: 'alert-state', payload: { action: 'clear', ids: [3] }, answerErrors: true, page: 'alerts' });
    });

    it('settings in force: link, priorities, guarantee and mode off the snapshot, sent only when they change', () => {
      const run = runner(named('settings in force'));
      const snapshot = (down: number, mode: string) => ({ topic: 'snapshot', payload: { clients: [], allocation: { down: { totalBps: down }, up: { totalBps: 20e6 }, maxPriority: 5, minPercent: 10 }, shaping: { mode } } });
      assert.deepEqual(run(snapshot(100e6, 'dry-run')), { topic: 'settings', payload: { downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, mode: 'dry-run' } });
      assert.equal(run(snapshot(100e6, 'dry-run')), null, 'unchanged: nothing sent (the page keeps what the user is typing)');
      assert.equal(run(snapshot(200e6, 'enforce')).payload.mode, 'enforce');
      assert.equal(run({ topic: 'snapshot', payload: { clients: [] } }), null, 'no allocation yet');
      // kept context (localfilesystem) would silence it after a restart: On Start forgets the last one
      const node = named('settings in force') as Node & { initialize: string };
      const store = new Map<string, unknown>([['last', 'kept from before']]);
      new Function('context', node.initialize)({ set: (k: string, v: unknown) => void store.set(k, v) });
      assert.equal(store.get('last'), undefined);
    });

    it('the Settings page and the Alerts page: their templates and wiring', () => {
      const form = flow.find((n) => n.type === 'ui_template' && n.name === 'settings form') as Node & { format: string };
      assert.ok(form, 'no settings form');
      assert.match(form.format, /aria-label="confirm enforce"/);
      assert.match(form.format, /Not applied: tick "Yes, shape the LAN now"/);
      const delivery = flow.find((n) => n.type === 'ui_template' && n.name === 'alert delivery form') as Node & { format: string };
      assert.match(delivery.format, /SMTP server, user and password are not set here/);
      const alerts = flow.find((n) => n.type === 'ui_template' && n.name === 'alert list, filters') as Node & { format: string };
      for (const what of ['severity filter', 'type filter', 'time filter']) assert.match(alerts.format, new RegExp(`aria-label="${what}"`));
      assert.match(alerts.format, /No alerts match these filters/);
      assert.match(alerts.format, /No answer from usage-store/);
    });
  });
}

describe('flows/default.json: the alert delivery function', () => {
  const flow = JSON.parse(readFileSync(join(ROOT, 'flows/default.json'), 'utf8')) as Node[];
  const node = flow.find((n) => n.type === 'function' && n.name === 'alert delivery')!;
  const alert = (type: string) => ({ topic: `equalnet/alert/${type}`, subject: `[EqualNet info] ${type}`, payload: 'INFO ...', alert: { type, severity: 'info' } });
  const viaFlow = (run: ReturnType<typeof runner>, msg: Record<string, unknown>) => {
    const out = run(msg);
    return out === null ? { email: null, mqtt: null } : { email: out[0], mqtt: out[1] };
  };

  it('is wired between the alerts link in and the e-mail / MQTT branches, and hears usage-store\'s answers', () => {
    const into = flow.filter((n) => (n.wires ?? []).some((w) => w.includes(node.id))).map((n) => n.id);
    assert.deepEqual(into.sort(), ['equalnet.link.delivery.in', 'equalnet.link.quota.alerts.in']);
    assert.deepEqual(node.wires, [['equalnet.alert.subject'], ['equalnet.alert.mqtt']]);
    assert.ok(flow.find((n) => n.id === 'equalnet.link.answers.out')!.links!.includes('equalnet.link.delivery.in'));
    // nothing else reaches e-mail or MQTT
    const toMqtt = flow.filter((n) => (n.wires ?? []).some((w) => w.includes('equalnet.alert.mqtt') || w.includes('equalnet.alert.subject'))).map((n) => n.id);
    assert.deepEqual(toMqtt, [node.id]);
  });

  it('routes as routeAlert does: before any settings (all kinds, the e-mail node\'s To, equalnet/alert), and after each change, without a redeploy', () => {
    const run = runner(node);
    for (const type of ['new_device', 'quota_exceeded']) assert.deepEqual(viaFlow(run, alert(type)), routeAlert(alert(type), DEFAULT_DELIVERY));
    const d = applyDelivery(DEFAULT_DELIVERY, { email: 'admin@example.com', mqttPrefix: 'home/alerts', kinds: ['new_device'] });
    assert.equal(run({ topic: 'delivery', payload: d }), null);
    for (const type of ['new_device', 'quota_exceeded', 'over_allocation']) assert.deepEqual(viaFlow(run, alert(type)), routeAlert(alert(type), d), type);
    assert.deepEqual(viaFlow(run, alert('new_device')).email.to, 'admin@example.com');
    assert.equal(viaFlow(run, alert('quota_exceeded')).mqtt, null, 'a kind not sent');
    // other answers of usage-store (top, alerts...) are not alerts
    assert.equal(run({ topic: 'top', payload: [] }), null);
  });
});
