/**
 * alert-rule's quota_warning and quota_exceeded (issue 18): each quota level usage-store marks on a
 * client (quota.crossed) becomes one alert of the rule's level; nothing else does; a malformed mark
 * is an InputError that changes nothing; a client held by its own cap is not "starved".
 */
import assert from 'node:assert/strict';
import { AlertEngine } from '../../nodes/core/alerts/engine';
import { InputError } from '../../nodes/core/contract/errors';

const A = 'a4:5e:60:00:00:01';
const B = 'dc:a6:32:00:00:02';
const midnight = new Date(2026, 2, 11, 0, 0, 0).getTime();
const crossed = (level: 'warning' | 'exceeded', action: 'alert' | 'throttle' = 'throttle') => ({
  period: 'daily',
  level,
  usedBytes: level === 'warning' ? 16_500_000 : 20_400_000,
  limitBytes: 20_000_000,
  action,
  throttleBps: action === 'throttle' ? 1_000_000 : null,
  resetsAt: midnight,
});
const snap = (quota: unknown) => ({ ts: midnight - 3_600_000, clients: [{ mac: A, ip: '192.168.1.10', name: 'console', rxBps: 1e6, txBps: 0, quota }, { mac: B, rxBps: 0, txBps: 0 }] });

describe('alert rules: quota_warning and quota_exceeded', () => {
  it('one alert per mark of its level, none without a mark or for the other level', () => {
    const exceeded = new AlertEngine('quota_exceeded', {}, { now: () => midnight });
    const warning = new AlertEngine('quota_warning', {}, { now: () => midnight });
    assert.deepEqual(exceeded.snapshot(snap({ dailyUsedBytes: 1 })), []);
    assert.deepEqual(exceeded.snapshot(snap({ crossed: [crossed('warning')] })), []);
    const [w] = warning.snapshot(snap({ crossed: [crossed('warning')] }));
    assert.equal(w.type, 'quota_warning');
    assert.equal(w.severity, 'warning');
    assert.equal(w.message, 'console (a4:5e:60:00:00:01, 192.168.1.10) used 16.5 MB of its daily quota of 20.0 MB (83 %)');
    const [e] = exceeded.snapshot(snap({ crossed: [crossed('exceeded')] }));
    assert.equal(e.type, 'quota_exceeded');
    assert.equal(e.severity, 'error');
    assert.equal(e.mac, A);
    assert.equal(e.message, 'console (a4:5e:60:00:00:01, 192.168.1.10) used 20.4 MB of its daily quota of 20.0 MB (102 %): throttled to 1.00 Mbit/s until 00:00 on 2026-03-11');
    assert.deepEqual(e.figures, { period: 'daily', usedBytes: 20_400_000, limitBytes: 20_000_000, action: 'throttle', throttleBps: 1_000_000, resetsAt: midnight });
    const [alertOnly] = exceeded.snapshot(snap({ crossed: [crossed('exceeded', 'alert')] }));
    assert.match(alertOnly.message, /: not throttled \(alert only\); the quota resets at 00:00 on 2026-03-11$/);
    // the next tick carries no mark: nothing more
    assert.deepEqual(exceeded.snapshot(snap({ dailyUsedBytes: 21e6 })), []);
  });

  it('a malformed mark is an InputError naming it', () => {
    const e = new AlertEngine('quota_exceeded', {}, { now: () => midnight });
    for (const bad of [{ crossed: 'yes' }, { crossed: [{ ...crossed('exceeded'), level: 'over' }] }, { crossed: [{ ...crossed('exceeded'), usedBytes: -1 }] }]) {
      assert.throws(() => e.snapshot(snap(bad)), (err: Error) => err instanceof InputError && /payload\.clients\[0\]\.quota\.crossed/.test(err.message));
    }
  });

  it('priority_starvation leaves a client held by its own cap alone, and still sees one that is not', () => {
    const starve = new AlertEngine('priority_starvation', { holdSec: 0 }, { now: () => 0 });
    const client = (mac: string, priority: number, bps: number, ceilBps: number) => ({ mac, priority, rxBps: bps, txBps: 0, alloc: { down: { rateBps: bps, expectedBps: bps, ceilBps }, up: { rateBps: 8000, ceilBps: 20e6 } } });
    const allocation = { down: { totalBps: 20e6, guaranteeBps: 2e6 }, up: { totalBps: 20e6, guaranteeBps: 2e6 } };
    // priority 1 capped at 1 Mbit/s, priority 5 at 19: the cap, not starvation
    const capped = { ts: 1000, allocation, clients: [client(A, 1, 1e6, 1e6), client(B, 5, 19e6, 20e6)] };
    assert.deepEqual(starve.snapshot(capped), []);
    assert.deepEqual(starve.snapshot({ ...capped, ts: 3000 }), []);
    // the same rates without the cap: starvation
    const uncapped = { ts: 5000, allocation, clients: [client(A, 1, 1e6, 20e6), client(B, 5, 19e6, 20e6)] };
    const alerts = [...starve.snapshot(uncapped), ...starve.snapshot({ ...uncapped, ts: 7000 })];
    assert.ok(alerts.some((a) => a.type === 'priority_starvation' && a.mac === A), JSON.stringify(alerts));
  });
});
