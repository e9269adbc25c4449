// alert-rule against a MAC spray: one client_cap alert for the whole condition, and per-client
// state bounded whatever snapshots come in. Pure logic, fed snapshots (no Node-RED needed).
import assert from 'node:assert/strict';
import { AlertEngine } from '../../nodes/core/alerts/engine';
import { InputError } from '../../nodes/core/contract/errors';
import { CLIENT_STATE_MAX } from '../../nodes/core/alerts/rules';
import { Tracker } from '../../nodes/core/alerts/tracker';
import { T0, TICK_MS, snap } from './alert-fixtures';

const mac = (i: number) => `02:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`;
const capped = (ts: number, left: number, ignored = 0) => ({ ...snap(ts, [{ mac: mac(1) }]), ...(left > 0 && { capped: { limit: 1024, seen: 1024 + left, left } }), ...(ignored > 0 && { limited: { perMinute: 60, ignored } }) });

describe('alert rules: client_cap (more devices present than the client cap)', () => {
  it('raises ONE alert after holdSec while the cap is reached, none while it lasts, and one "cleared" after clearSec', () => {
    let clock = T0;
    const e = new AlertEngine('client_cap', {}, { now: () => clock });
    const alerts = [];
    for (let i = 0; i <= 200; i++) {
      clock = T0 + i * TICK_MS;
      alerts.push(...e.handle('snapshot', capped(clock, i < 150 ? 5000 + i : 0, 900)));
    }
    assert.deepEqual(
      alerts.map((a) => `${(a.ts - T0) / TICK_MS} ${a.state}`),
      ['5 raised', '180 cleared'],
    );
    const [raised, cleared] = alerts;
    assert.equal(raised.type, 'client_cap');
    assert.equal(raised.severity, 'warning');
    assert.equal(raised.title, 'Client cap reached');
    assert.deepEqual({ ...raised.figures }, { limit: 1024, seen: 6029, left: 5005, heldBack: 900, forSec: 10 });
    assert.match(raised.message, /6029 devices present, more than the client cap of 1024: 5005 are not shaped per client .*900 new MACs held back/);
    assert.equal(cleared.severity, 'success');
  });

  it('stays silent without `capped`, and refuses a malformed one without changing its state', () => {
    const e = new AlertEngine('client_cap', { holdSec: 0 }, { now: () => T0 });
    assert.deepEqual(e.handle('snapshot', capped(T0, 0)), []);
    for (const bad of [{ limit: 'x', seen: 1, left: 1 }, { limit: 1, seen: -1, left: 1 }, 'capped', { limit: 1, seen: 2 }]) {
      assert.throws(() => e.handle('snapshot', { ...snap(T0, []), capped: bad }), (err: Error) => err instanceof InputError && /payload\.capped/.test(err.message));
    }
    assert.equal(e.handle('snapshot', capped(T0 + 1, 10)).length, 1);
  });
});

describe('alert rules: per-client state is bounded against a MAC spray', () => {
  it('new_device remembers at most CLIENT_STATE_MAX MACs (oldest forgotten first)', () => {
    let clock = T0;
    const e = new AlertEngine('new_device', { waitSec: 0 }, { now: () => clock, knownMacs: [mac(0)] });
    let next = 1;
    for (let tick = 0; tick < 30; tick++) {
      clock += TICK_MS;
      const clients = Array.from({ length: 500 }, () => ({ mac: mac(next++) }));
      e.handle('snapshot', snap(clock, clients));
    }
    const known = e.takeKnownMacs()!;
    assert.equal(known.length, CLIENT_STATE_MAX);
    assert.ok(known.includes(mac(next - 1)), 'the newest is kept');
    assert.ok(!known.includes(mac(0)), 'the oldest went first');
  });

  for (const kind of ['device_gone', 'unusual_traffic'] as const) {
    it(`${kind}: memory stays bounded with 30,000 MACs over time`, () => {
      let clock = T0;
      const e = new AlertEngine(kind, {}, { now: () => clock });
      let next = 0;
      for (let tick = 0; tick < 60; tick++) {
        clock += TICK_MS;
        const clients = Array.from({ length: 500 }, () => ({ mac: mac(next++), rx: 19, down: 20 }));
        e.handle('snapshot', snap(clock, clients));
      }
      // the rule's maps: reach into them (private) to check the bound the docs promise
      const inner = e as unknown as { gone?: { seen: Map<string, unknown> }; snapshotRule?: { baselines?: Map<string, unknown>; lastSample?: Map<string, unknown>; tracker: { size: number } } };
      const sizes = [inner.gone?.seen.size, inner.snapshotRule?.baselines?.size, inner.snapshotRule?.lastSample?.size, inner.snapshotRule?.tracker.size].filter((n) => n !== undefined) as number[];
      assert.ok(sizes.length > 0);
      for (const n of sizes) assert.ok(n <= CLIENT_STATE_MAX, `${kind}: ${n} entries`);
    });
  }

  it('a Tracker keeps at most maxKeys conditions: the not-raised one reported longest ago goes first, raised ones stay', () => {
    const t = new Tracker<null>({ holdMs: 0, clearMs: 1000, cooldownMs: 1000 }, 3);
    t.begin();
    assert.equal(t.true('a', 0, null)?.kind, 'raise');
    t.begin();
    const timing = { holdMs: 10, clearMs: 0, cooldownMs: 0 };
    t.timing = timing;
    for (const k of ['b', 'c', 'd', 'e']) t.true(k, 1, null);
    assert.equal(t.size, 3);
    assert.ok(t.isRaised('a'), 'the raised condition is kept');
  });
});
