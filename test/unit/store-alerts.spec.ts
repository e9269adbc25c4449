// The alerts table for the dashboard's Alerts page and the alert delivery settings (issue 16):
// schema 4 keeps the alerts of an older file; the alerts query filters by severity, type and time
// and hides cleared alerts; the alert-state command acknowledges or clears by id or by filter;
// the delivery settings are checked, kept in the file and applied to an alert. Real SQLite files.
import assert from 'node:assert/strict';
import { InputError, NotFoundError } from '../../nodes/core/contract/errors';
import { applyDelivery, DEFAULT_DELIVERY, deliveryFrom, routeAlert } from '../../nodes/core/alerts/delivery';
import { RULE_KINDS } from '../../nodes/core/alerts/options';
import { openDatabase, SCHEMA_VERSION } from '../../nodes/core/store/schema';
import type { AlertRow } from '../../nodes/core/store/types';
import { A, B, calendar, Clock, local, openStore, TempDir } from './store-fixtures';

describe('usage-store: alerts acknowledged, cleared and filtered; alert delivery settings', () => {
  let dir: TempDir;
  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir.remove());

  const t0 = local(2026, 6, 1, 12);
  /** Five alerts over 3 hours: types, severities and devices mixed. */
  function withAlerts() {
    const clock = new Clock(t0);
    const opened = openStore(dir.file(), clock);
    // the devices must be known for a mac filter
    opened.store.ingest({ ts: t0 - 4 * 3_600_000, clients: [{ mac: A, ip: '192.168.1.10', rxBps: 1, txBps: 1 }, { mac: B, ip: '192.168.1.11', rxBps: 1, txBps: 1 }] });
    const add = (hoursAgo: number, type: string, severity: string, mac: string) =>
      opened.store.storeAlert({ type, severity, message: `${type} of ${mac}`, mac, ts: t0 - hoursAgo * 3_600_000 }).id;
    const ids = [add(3, 'new_device', 'info', A), add(2.5, 'over_allocation', 'warning', A), add(2, 'over_allocation', 'warning', B), add(1, 'link_saturation', 'error', B), add(0.5, 'over_allocation', 'success', A)];
    const list = (filter: Record<string, unknown> = {}) => (opened.queries.run({ type: 'alerts', ...filter }).payload as AlertRow[]).map((r) => r.id);
    return { ...opened, clock, ids, list };
  }

  it('schema 4: a file of schema 3 keeps its alerts (not acknowledged, listed) and gains the columns and the settings table', () => {
    const v3 = openDatabase(dir.file(), calendar, { upTo: 3 });
    v3.prepare("INSERT INTO alerts (ts, alert_type, severity, message, ip_address, mac_address) VALUES (?, 'new_device', 'info', 'kept', '192.168.1.10', ?)").run(t0 - 60_000, A);
    v3.close();
    const { store, queries } = openStore(dir.file(), new Clock(t0));
    assert.equal(SCHEMA_VERSION, 4);
    assert.equal(store.db.pragma('user_version', { simple: true }), 4);
    const [row] = queries.run({ type: 'alerts' }).payload as AlertRow[];
    assert.deepEqual([row.message, row.type, row.acknowledged, row.acknowledged_at], ['kept', 'new_device', false, null]);
    assert.deepEqual(store.delivery(), DEFAULT_DELIVERY);
    store.close();
  });

  it('the alerts query: type shown; filters by severity, type, time, acknowledged narrow the list', () => {
    const { store, ids, list, queries } = withAlerts();
    assert.deepEqual(list(), [...ids].reverse(), 'newest first');
    const first = (queries.run({ type: 'alerts', limit: 1 }).payload as AlertRow[])[0];
    assert.deepEqual([first.type, first.alert_type, first.severity], ['over_allocation', 'over_allocation', 'success']);
    assert.deepEqual(list({ severity: 'warning' }), [ids[2], ids[1]]);
    assert.deepEqual(list({ severity: ['warning', 'error'] }), [ids[3], ids[2], ids[1]]);
    assert.deepEqual(list({ alertType: 'over_allocation' }), [ids[4], ids[2], ids[1]]);
    assert.deepEqual(list({ alertType: 'over_allocation', severity: 'warning', hours: 2 }), [ids[2]], 'the current hour and the one before: from 11:00');
    assert.deepEqual(list({ since: t0 - 90 * 60_000 }), [ids[4], ids[3]]);
    assert.deepEqual(list({ mac: B }), [ids[3], ids[2]]);
    assert.throws(() => list({ severity: 'panic' }), /payload\.severity: must be one of/);
    assert.throws(() => list({ acknowledged: 'maybe' }), /payload\.acknowledged: must be true or false/);
    assert.throws(() => list({ alertType: Array(101).fill('x') }), /at most 100/);
    store.close();
  });

  it('alert-state: acknowledge by id (the first time kept), clear by filter; cleared ones leave the list; bad commands change nothing', () => {
    const { store, clock, ids, list } = withAlerts();
    assert.deepEqual(store.changeAlerts({ action: 'acknowledge', ids: [ids[1], ids[1], ids[3]] }), { action: 'acknowledge', changed: 2, ids: [ids[1], ids[3]] });
    clock.ms += 60_000;
    assert.equal(store.changeAlerts({ action: 'acknowledge', ids: [ids[1]] }).changed, 0, 'already acknowledged');
    assert.deepEqual(list({ acknowledged: true }), [ids[3], ids[1]]);
    assert.deepEqual(list({ acknowledged: 'false' }), [ids[4], ids[2], ids[0]]);
    const row = (store.db.prepare('SELECT acknowledged_at FROM alerts WHERE id = ?').get(ids[1]) as { acknowledged_at: number }).acknowledged_at;
    assert.equal(row, t0, 'the first acknowledgement counts');
    // every over_allocation warning shown: cleared, no longer listed, still in the file
    assert.equal(store.changeAlerts({ action: 'clear', all: true, alertType: 'over_allocation', severity: 'warning' }).changed, 2);
    assert.deepEqual(list(), [ids[4], ids[3], ids[0]]);
    assert.deepEqual(list({ includeCleared: true }), [...ids].reverse());
    const before = store.db.prepare('SELECT * FROM alerts ORDER BY id').all();
    const refused: Array<[unknown, RegExp]> = [
      [{ action: 'delete', ids: [1] }, /payload\.action: must be one of acknowledge, clear/],
      [{ action: 'clear' }, /payload\.ids: name the alerts/],
      [{ action: 'clear', all: 'yes' }, /payload\.ids: name the alerts/],
      [{ action: 'clear', ids: [] }, /payload\.ids: must be a list of 1 to 1000/],
      [{ action: 'clear', ids: ['1 OR 1=1'] }, /payload\.ids: must be a list/],
      [{ action: 'clear', ids: Array.from({ length: 1001 }, (_, i) => i + 1) }, /payload\.ids: must be a list of 1 to 1000/],
      [{ action: 'clear', ids: [1], all: true }, /payload\.all: give "ids" or "all", not both/],
      [{ action: 'clear', all: true, severity: 'panic' }, /payload\.severity/],
      [[1, 2], /payload: must be/],
    ];
    for (const [payload, message] of refused) assert.throws(() => store.changeAlerts(payload), (err: Error) => err instanceof InputError && message.test(err.message), JSON.stringify(payload));
    assert.throws(() => store.changeAlerts({ action: 'clear', all: true, mac: '02:00:00:00:00:99' }), NotFoundError);
    assert.deepEqual(store.db.prepare('SELECT * FROM alerts ORDER BY id').all(), before);
    store.close();
  });

  it('delivery settings: checked (no header or topic injection), kept in the file across a restart, a damaged row falls back', () => {
    const clock = new Clock(t0);
    let { store } = openStore(dir.file(), clock);
    assert.deepEqual(store.delivery(), { email: null, mqttPrefix: 'equalnet/alert', kinds: [...RULE_KINDS] });
    const set = store.setDelivery({ email: ' admin@example.com, ops@home.lan ', mqttPrefix: 'home/router/alerts/', kinds: ['quota_exceeded', 'new_device'] });
    assert.deepEqual(set, { email: 'admin@example.com, ops@home.lan', mqttPrefix: 'home/router/alerts', kinds: ['new_device', 'quota_exceeded'] });
    const refused: Array<[unknown, RegExp]> = [
      [{ email: 'admin@example.com\r\nBcc: all@example.com' }, /^email: .* is not an e-mail address/],
      [{ email: 'not an address' }, /^email: /],
      [{ email: 42 }, /^email: must be text/],
      [{ mqttPrefix: 'alerts/#' }, /^mqttPrefix: must be an MQTT topic without \+, #/],
      [{ mqttPrefix: '$SYS/x' }, /^mqttPrefix: /],
      [{ mqttPrefix: '' }, /^mqttPrefix: must not be empty/],
      [{ mqttPrefix: 'x'.repeat(101) }, /^mqttPrefix: must be at most 100/],
      [{ kinds: ['new_device', 'constructor'] }, /^kinds: unknown alert kind "constructor"/],
      [{ kinds: 'all' }, /^kinds: unknown alert kind "all"/],
      [{ smtpPassword: 'x' }, /^smtpPassword: unknown field \(known: email, mqttPrefix, kinds\)/],
      [{ __proto__: { email: 'a@b.cd' }, constructor: 1 }, /^constructor: unknown field/],
    ];
    for (const [payload, message] of refused) assert.throws(() => store.setDelivery(payload), (err: Error) => err instanceof InputError && message.test(err.message), JSON.stringify(payload));
    assert.deepEqual(store.delivery(), set, 'nothing changed by the refused ones');
    assert.deepEqual(store.setDelivery({ email: null, kinds: [] }), { email: null, mqttPrefix: 'home/router/alerts', kinds: [] });
    store.close();
    ({ store } = openStore(dir.file(), clock));
    assert.deepEqual(store.delivery(), { email: null, mqttPrefix: 'home/router/alerts', kinds: [] }, 'kept across a restart');
    store.db.prepare("UPDATE app_settings SET value = ? WHERE key = 'alert_delivery'").run('{"email":"x","mqttPrefix":"ok/p","kinds":"bad"}');
    assert.deepEqual(store.delivery(), { ...DEFAULT_DELIVERY, mqttPrefix: 'ok/p' }, 'each damaged field falls back to its default');
    assert.deepEqual(deliveryFrom('{not json'), DEFAULT_DELIVERY);
    store.close();
  });

  it('an alert routed by the settings: recipient and subject for e-mail, <prefix>/<type> for MQTT, nothing for a kind not sent', () => {
    const msg = { topic: 'equalnet/alert/new_device', subject: '[EqualNet info] New device: tv', payload: 'INFO New device: tv', alert: { type: 'new_device' } };
    const d = applyDelivery(DEFAULT_DELIVERY, { email: 'admin@example.com', mqttPrefix: 'home/alerts', kinds: ['new_device'] });
    const routed = routeAlert(msg, d);
    assert.deepEqual(routed.email, { ...msg, topic: msg.subject, to: 'admin@example.com' });
    assert.deepEqual(routed.mqtt, { ...msg, topic: 'home/alerts/new_device' });
    assert.deepEqual(routeAlert({ ...msg, alert: { type: 'over_allocation' } }, d), { email: null, mqtt: null });
    assert.equal(routeAlert(msg, DEFAULT_DELIVERY).email!.to, undefined, 'no recipient set: the e-mail node\'s own "To"');
    assert.equal(routeAlert(msg, DEFAULT_DELIVERY).mqtt!.topic, 'equalnet/alert/new_device', 'the default prefix is the topic alert-rule sets');
  });
});
