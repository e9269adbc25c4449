import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../../nodes/core/contract/errors';
import { LIMITS, RULE_KINDS, thresholdProblem } from '../../nodes/core/alerts/options';
import { toMessage } from '../../nodes/core/alerts/alert';
import { T0, TICK_MS, rule, summary, type C } from './alert-fixtures';

const A = 'a4:5e:60:00:00:0a';
const B = 'dc:a6:32:00:00:0b';
const C3 = 'b8:27:eb:00:00:0c';
const D = '3c:22:fb:00:00:0d';
const registry = (...macs: string[]) => ({ devices: macs.map((mac) => ({ mac, macs: [mac], name: null })) });
const clients = (...macs: string[]): C[] => macs.map((mac) => ({ mac }));

describe('alert rules: new_device (a MAC never seen before, not again after a restart)', () => {
  it('reports a device the registry does not know, once', () => {
    const r = rule('new_device');
    assert.deepEqual(r.engine.handle('registry', registry(A, B)), []);
    const alerts = r.run(0, 20, clients(A, B, C3));
    assert.deepEqual(summary(alerts), [`0 raised ${C3}`]);
    assert.deepEqual([alerts[0].severity, alerts[0].ip, alerts[0].figures.firstSeenTs], ['info', '192.168.1.12', T0]);
    assert.match(alerts[0].message, /192\.168\.1\.12 \(b8:27:eb:00:00:0c\) joined the LAN for the first time/);
  });

  it('restart: a device seen before the restart is not new again (the registry knows it), a new one is', () => {
    const before = rule('new_device');
    before.engine.handle('registry', registry(A, B));
    assert.equal(before.run(0, 5, clients(A, B, C3)).length, 1);
    // Node-RED restarts: memory context is gone; usage-store's registry now has C3 too
    const after = rule('new_device');
    assert.equal(after.engine.waitingForRegistry, true);
    assert.deepEqual(after.run(0, 3, clients(A, B, C3)), [], 'nothing is judged before the registry');
    assert.deepEqual(after.engine.handle('registry', registry(A, B, C3)), []);
    assert.deepEqual(summary(after.run(4, 10, clients(A, B, C3, D))), [`4 raised ${D}`]);
  });

  it('clients seen before the registry arrives are judged when it does (at the time they were seen)', () => {
    const r = rule('new_device');
    assert.deepEqual(r.run(0, 2, clients(A, C3)), []);
    const alerts = r.engine.handle('registry', registry(A));
    assert.deepEqual(alerts.map((a) => [a.mac, a.ts]), [[C3, T0]]);
    assert.deepEqual(r.run(3, 5, clients(A, C3)), []);
  });

  it('a device the store first saw after this rule started is judged here, even if the registry already lists it', () => {
    // the store is upstream: it registers C3 from the first snapshot and may send its registry a moment later
    const r = rule('new_device');
    assert.deepEqual(r.run(0, 0, clients(A, C3)), []);
    const devices = [
      { mac: A, macs: [A], firstSeenTs: T0 - 86_400_000 },
      { mac: C3, macs: [C3], firstSeenTs: T0 },
    ];
    assert.deepEqual(r.engine.handle('registry', { devices }).map((a) => a.mac), [C3]);
    assert.deepEqual(r.run(1, 3, clients(A, C3)), []);
  });

  it('first start: an empty registry is no history, so the clients present during the wait are known', () => {
    const r = rule('new_device', { waitSec: 10 });
    assert.deepEqual(r.engine.handle('registry', registry()), []);
    assert.equal(r.engine.waitingForRegistry, true);
    const alerts = r.run(0, 10, (i) => (i < 8 ? clients(A, B) : clients(A, B, C3)));
    assert.deepEqual(summary(alerts), [`8 raised ${C3}`], 'A and B were there during the 10 s wait; C3 came after');
  });

  it('MACs merged into a registry entry are known too', () => {
    const r = rule('new_device');
    r.engine.handle('registry', { devices: [{ mac: A, macs: [A, B] }] });
    assert.deepEqual(r.run(0, 2, clients(A, B)), []);
  });

  it('without a registry, the clients present during the wait are taken as known, silently; later ones are new', () => {
    const r = rule('new_device', { waitSec: 30 });
    const alerts = r.run(0, 30, (i) => (i < 20 ? clients(A, B) : clients(A, B, C3)));
    assert.deepEqual(summary(alerts), [`20 raised ${C3}`]);
    // waitSec 0: the first snapshot is the baseline
    const now = rule('new_device', { waitSec: 0 });
    assert.deepEqual(summary(now.run(0, 3, (i) => (i === 0 ? clients(A) : clients(A, B)))), [`1 raised ${B}`]);
  });

  it('keeps what it knows for the node context, and starts from it (ready at once)', () => {
    const r = rule('new_device', {}, { knownMacs: [A] });
    assert.equal(r.engine.waitingForRegistry, false);
    assert.deepEqual(summary(r.run(0, 2, clients(A, B))), [`0 raised ${B}`]);
    assert.deepEqual(r.engine.takeKnownMacs()?.sort(), [A, B].sort());
    assert.equal(r.engine.takeKnownMacs(), null, 'nothing changed since');
  });

  it("takes arp-discover's joined events, and rejects malformed registries and events", () => {
    const r = rule('new_device', {}, { knownMacs: [A] });
    const alerts = r.engine.handle('joined', { event: 'joined', ts: T0 + 5, iface: 'br-lan', client: { mac: D.toUpperCase(), ip: '192.168.1.50', hostname: 'kindle', vendor: 'Amazon' }, initial: false });
    assert.deepEqual(alerts.map((a) => [a.mac, a.client, a.ts, a.figures.vendor]), [[D, 'kindle', T0 + 5, 'Amazon']]);
    assert.throws(() => r.engine.handle('registry', { devices: [{ mac: 'zz' }] }), /payload\.devices\[0\]\.mac: "zz" is not a MAC/);
    assert.throws(() => r.engine.handle('registry', []), /payload\.devices: a registry needs/);
    assert.throws(() => r.engine.handle('joined', { client: {} }), /payload\.client\.mac/);
  });
});

describe('alert rules: device_gone', () => {
  it('raises once a client has been absent for goneSec, and clears when it is back', () => {
    const r = rule('device_gone', { goneSec: 60 });
    // A present at ticks 0..10 (last seen 20 s), absent until tick 60, back from 61
    const alerts = r.run(0, 70, (i) => (i <= 10 || i > 60 ? clients(A, B) : clients(B)));
    assert.deepEqual(summary(alerts), [`40 raised ${A}`, `61 cleared ${A}`]);
    assert.deepEqual([alerts[0].severity, alerts[0].figures.silentSec, alerts[0].figures.lastSeenTs], ['info', 60, T0 + 10 * TICK_MS]);
    assert.match(alerts[0].message, /left the LAN \(not seen for 60 s\)/);
    assert.match(alerts[1].message, /is back on the LAN after 42 s/);
    assert.equal(alerts[1].severity, 'success');
  });

  it("raises at once on arp-discover's left event, without repeating it on the next ticks; clears on joined", () => {
    const r = rule('device_gone');
    r.run(0, 2, clients(A, B));
    const client = { mac: A, ip: '192.168.1.10', hostname: 'laptop' };
    const left = r.engine.handle('left', { event: 'left', ts: T0 + 5000, client });
    assert.deepEqual(left.map((a) => [a.state, a.mac, a.figures.reportedLeft]), [['raised', A, true]]);
    assert.deepEqual(r.run(3, 10, clients(B)), []);
    const back = r.engine.handle('joined', { event: 'joined', ts: T0 + 30_000, client });
    assert.deepEqual(back.map((a) => [a.state, a.mac]), [['cleared', A]]);
  });

  it('a client that comes and goes raises at most once per cooldown', () => {
    const r = rule('device_gone', { goneSec: 10, cooldownSec: 600 });
    // away 30 s, back 30 s, over and over for 10 minutes
    const alerts = r.run(0, 300, (i) => (Math.floor(i / 15) % 2 ? clients(B) : clients(A, B)));
    assert.equal(alerts.filter((a) => a.state === 'raised').length, 1);
  });
});

describe('alert rules: memory stays bounded', () => {
  const DAY_TICKS = 43_200; // 2 s ticks

  it('device_gone forgets a client absent for 7 days, without a false "back" message', () => {
    const r = rule('device_gone', { goneSec: 60 });
    const alerts = [...r.run(0, 0, clients(A, B)), ...r.run(1, 40, clients(B))];
    assert.deepEqual(summary(alerts), [`30 raised ${A}`]);
    assert.deepEqual(r.run(8 * DAY_TICKS, 8 * DAY_TICKS, clients(B)), [], 'forgotten: neither raised again nor cleared');
    assert.deepEqual(r.run(8 * DAY_TICKS + 1, 8 * DAY_TICKS + 2, clients(A, B)), [], 'back after 8 days: seen afresh');
  });

  it('unusual_traffic drops the baseline of a client absent for 7 days: it warms up again when it returns', () => {
    const thresholds = { baselineMin: 10, warmupMin: 5, holdSec: 0 };
    const busy = (i: number): C[] => [{ mac: A, rx: i % 10 === 9 ? 80 : 2 }];
    const r = rule('unusual_traffic', thresholds);
    r.run(0, 200, () => [{ mac: A, rx: 2 }]); // warmed up
    r.run(201, 201, [{ mac: B, rx: 1 }]);
    r.run(8 * DAY_TICKS, 8 * DAY_TICKS, [{ mac: B, rx: 1 }]); // a week later: A's baseline is dropped
    assert.deepEqual(r.run(8 * DAY_TICKS + 1, 8 * DAY_TICKS + 30, busy), [], 'A is back: not judged during its new warm-up');
    // the same return after 3 days: the baseline is still there and the spike is judged
    const kept = rule('unusual_traffic', thresholds);
    kept.run(0, 200, () => [{ mac: A, rx: 2 }]);
    assert.ok(kept.run(3 * DAY_TICKS, 3 * DAY_TICKS + 30, busy).some((a) => a.state === 'raised'));
  });
});

describe('alert messages and thresholds', () => {
  it('one msg per alert: an MQTT topic, an email subject and a readable payload', () => {
    const [alert] = rule('new_device', {}, { knownMacs: [A] }).run(0, 0, [{ mac: B, name: 'tv' }]);
    const msg = toMessage(alert);
    assert.equal(msg.topic, 'equalnet/alert/new_device');
    assert.equal(msg.subject, '[EqualNet info] New device: tv');
    assert.equal(msg.payload, 'INFO New device: tv (dc:a6:32:00:00:0b, 192.168.1.11) joined the LAN for the first time');
    assert.equal(msg.alert, alert);
  });

  it('checks every numeric threshold against its range (below, above, not a number)', () => {
    for (const [key, l] of Object.entries(LIMITS)) {
      const k = key as keyof typeof LIMITS;
      assert.equal(thresholdProblem(k, String(l.min)), null, key);
      assert.equal(thresholdProblem(k, l.max), null, key);
      assert.match(thresholdProblem(k, l.min - 1) ?? '', new RegExp(`^must be .* from ${l.min} to ${l.max}`), key);
      assert.match(thresholdProblem(k, l.max + 1) ?? '', /^must be/, key);
      assert.match(thresholdProblem(k, 'x') ?? '', /got "x"/, key);
    }
    assert.match(thresholdProblem('goneSec', 30.5) ?? '', /whole number/);
    assert.match(thresholdProblem('directions', 'sideways') ?? '', /"both", "down" or "up"/);
  });

  it("the editor's validators use the same ranges as the runtime", () => {
    const html = readFileSync(join(__dirname, '../../nodes/alert-rule.html'), 'utf8');
    const mirrored = JSON.parse(/var ALERT_LIMITS = (\{.*\});/.exec(html)![1]);
    assert.deepEqual(mirrored, JSON.parse(JSON.stringify(LIMITS)));
    for (const kind of RULE_KINDS) assert.match(html, new RegExp(`<option value="${kind}">`), kind);
  });

  it('errors are InputErrors with a path', () => {
    const r = rule('device_gone');
    assert.throws(() => r.engine.handle('left', null), (e: Error) => e instanceof InputError && e.path === 'payload.client');
  });
});
