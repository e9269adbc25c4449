import assert from 'node:assert/strict';
import { InputError } from '../../nodes/core/contract/errors';
import { MBIT, T0, TICK_MS, rule, summary, type C } from './alert-fixtures';

const A = 'a4:5e:60:00:00:0a';
const B = 'dc:a6:32:00:00:0b';
const D = 'b8:27:eb:00:00:0d';

describe('alert rules: over_allocation (a client uses ≥ X % of its allocation for T s)', () => {
  const busy = (rx: number, extra: Partial<C> = {}): C[] => [{ mac: A, name: 'laptop', rx, down: 20, ...extra }];

  it('raises once, after the condition has held for holdSec, with the figures that triggered it', () => {
    const r = rule('over_allocation'); // 90 %, 10 s
    const alerts = r.run(0, 30, busy(19));
    assert.deepEqual(summary(alerts), [`5 raised ${A}/down`]);
    const a = alerts[0];
    assert.equal(a.type, 'over_allocation');
    assert.equal(a.severity, 'warning');
    assert.equal(a.ip, '192.168.1.10');
    assert.equal(a.ts, T0 + 5 * TICK_MS);
    assert.deepEqual(
      { usage: a.figures.usageBps, alloc: a.figures.allocationBps, pct: a.figures.percent, thr: a.figures.thresholdPercent, forSec: a.figures.forSec },
      { usage: 19 * MBIT, alloc: 20 * MBIT, pct: 95, thr: 90, forSec: 10 },
    );
    assert.match(a.message, /laptop \(a4:5e:60:00:00:0a, 192\.168\.1\.10\) downloads 19\.0 Mbit\/s, 95 % of its allocation of 20\.0 Mbit\/s, for 10 s/);
  });

  it('stays silent just below the threshold, and when the condition breaks before holdSec', () => {
    assert.deepEqual(rule('over_allocation').run(0, 100, busy(17.9)), []);
    const flapping = rule('over_allocation').run(0, 100, (i) => busy(i % 5 === 4 ? 5 : 19)); // true 8 s, then false
    assert.deepEqual(flapping, []);
  });

  it('sends "cleared" (success) once the condition has been false for clearSec, and nothing more', () => {
    const r = rule('over_allocation');
    const alerts = r.run(0, 60, (i) => busy(i <= 10 ? 19 : 10));
    assert.deepEqual(summary(alerts), [`5 raised ${A}/down`, `16 cleared ${A}/down`]);
    assert.equal(alerts[1].severity, 'success');
    assert.equal(alerts[1].figures.raisedSec, 22);
    assert.match(alerts[1].message, /back under 90 % of its download allocation/);
  });

  it('does not raise the same client again within the cooldown; raises when it ends if the condition still holds', () => {
    const r = rule('over_allocation', { cooldownSec: 60 });
    // raised at tick 5 (10 s), cleared at tick 16, over again from tick 17: due at 10 s + 60 s = tick 35
    const alerts = r.run(0, 80, (i) => busy(i <= 10 || i >= 17 ? 19 : 10));
    assert.deepEqual(summary(alerts), [`5 raised ${A}/down`, `16 cleared ${A}/down`, `35 raised ${A}/down`]);
  });

  it('keeps clients and directions apart, and respects the direction setting', () => {
    const clients: C[] = [
      { mac: A, rx: 19, tx: 4, down: 20, up: 4 },
      { mac: B, rx: 20, down: 20 },
    ];
    assert.deepEqual(summary(rule('over_allocation').run(0, 20, clients)).sort(), [`5 raised ${A}/down`, `5 raised ${A}/up`, `5 raised ${B}/down`]);
    assert.deepEqual(summary(rule('over_allocation', { directions: 'up' }).run(0, 20, clients)), [`5 raised ${A}/up`]);
  });

  it('clears a raised client that leaves the LAN', () => {
    const alerts = rule('over_allocation').run(0, 30, (i) => (i <= 8 ? busy(19) : []));
    assert.deepEqual(summary(alerts), [`5 raised ${A}/down`, `14 cleared ${A}/down`]);
  });

  it('applies the node severity and a config command at run time', () => {
    const r = rule('over_allocation', { severity: 'error', percent: '80', holdSec: '0' });
    assert.equal(r.tick(0, busy(17))[0].severity, 'error');
    r.engine.handle('config', { percent: 99 });
    // 98 % is below the new 99 %: the raised condition ends and clears after clearSec (10 s)
    assert.deepEqual(summary(r.run(1, 20, busy(19.6))), [`6 cleared ${A}/down`]);
  });
});

describe('alert rules: priority_starvation', () => {
  it('raises for a client that wants more (≥ 95 % of its allocation) and moves less than its guarantee', () => {
    const r = rule('priority_starvation');
    const starving = [{ mac: A, priority: 1, rx: 5, down: 5 }];
    const alerts = r.run(0, 20, starving);
    assert.deepEqual(summary(alerts), [`5 raised ${A}/down`]);
    assert.equal(alerts[0].figures.reason, 'below_guarantee');
    assert.equal(alerts[0].figures.guaranteeBps, 10 * MBIT);
    assert.match(alerts[0].message, /starved on download: it wants more but moves 5\.00 Mbit\/s, below its guarantee of 10\.0 Mbit\/s/);
    // the same allocation, but the client does not want more (80 % of it): fine
    assert.deepEqual(rule('priority_starvation').run(0, 20, [{ mac: A, priority: 1, rx: 4, down: 5 }]), []);
  });

  it('raises for the higher priority when a lower priority moves more and both want more (the original rule)', () => {
    const clients: C[] = [
      { mac: A, name: 'laptop', priority: 1, rx: 20, down: 20 },
      { mac: B, name: 'console', priority: 5, rx: 40, down: 40 },
      { mac: D, name: 'tv', priority: 3, rx: 30, down: 60 }, // does not want more: not compared
    ];
    const alerts = rule('priority_starvation').run(0, 20, clients);
    assert.deepEqual(summary(alerts), [`5 raised ${A}/down`]);
    const f = alerts[0].figures;
    assert.deepEqual([f.reason, f.otherMac, f.otherPriority, f.otherUsageBps], ['lower_priority_gets_more', B, 5, 40 * MBIT]);
    assert.match(alerts[0].message, /console \(priority 5\) moves 40\.0 Mbit\/s while it moves 20\.0 Mbit\/s, and both want more/);
  });

  it('stays silent when the lower priority does not want more, is within the tolerance, or the higher one is content', () => {
    const run = (clients: C[]) => rule('priority_starvation').run(0, 30, clients);
    assert.deepEqual(run([{ mac: A, priority: 1, rx: 20, down: 20 }, { mac: B, priority: 5, rx: 40, down: 60 }]), []);
    assert.deepEqual(run([{ mac: A, priority: 1, rx: 20, down: 20 }, { mac: B, priority: 5, rx: 21.9, down: 22 }]), []);
    assert.deepEqual(run([{ mac: A, priority: 1, rx: 10, down: 20 }, { mac: B, priority: 5, rx: 40, down: 40 }]), []);
    // same priority: not starvation
    assert.deepEqual(run([{ mac: A, priority: 2, rx: 20, down: 20 }, { mac: B, priority: 2, rx: 40, down: 40 }]), []);
  });

  it('clears when the lower priority stops taking more', () => {
    const alerts = rule('priority_starvation').run(0, 40, (i) => [
      { mac: A, priority: 1, rx: 20, down: 20 },
      { mac: B, priority: 5, rx: i <= 10 ? 40 : 10, down: 40 },
    ]);
    assert.deepEqual(summary(alerts), [`5 raised ${A}/down`, `16 cleared ${A}/down`]);
  });
});

describe('alert rules: unusual_traffic (EWMA baseline per client, warm-up)', () => {
  // deterministic jitter of ±5 %
  const steady = (base: number, i: number) => base * (1 + 0.05 * Math.sin(i * 1.7));

  it('does not fire during the warm-up, fires on a spike after it, and clears when the rate is back', () => {
    const r = rule('unusual_traffic', { baselineMin: 10, warmupMin: 5, holdSec: 0, clearSec: 0 });
    // warm-up: 5 min = 150 ticks; a spike at tick 20 is not judged
    const early = r.run(0, 160, (i) => [{ mac: A, rx: i >= 20 && i < 25 ? 80 : steady(2, i) }]);
    assert.deepEqual(early, []);
    const later = r.run(161, 200, (i) => [{ mac: A, rx: i >= 170 && i < 175 ? 80 : steady(2, i) }]);
    assert.deepEqual(summary(later), [`170 raised ${A}/down`, `175 cleared ${A}/down`]);
    const f = later[0].figures;
    assert.equal(f.usageBps, 80 * MBIT);
    assert.ok((f.meanBps as number) > 1.8 * MBIT && (f.meanBps as number) < 4 * MBIT, `mean ${f.meanBps}`);
    assert.ok((f.z as number) > 4);
  });

  it('ignores ordinary variation and rates below the floor', () => {
    const r = rule('unusual_traffic', { baselineMin: 10, warmupMin: 1, holdSec: 0 });
    assert.deepEqual(r.run(0, 400, (i) => [{ mac: A, rx: steady(10, i) * (i > 200 ? 1.15 : 1) }]), []);
    const quiet = rule('unusual_traffic', { baselineMin: 10, warmupMin: 1, holdSec: 0, minMbps: 1 });
    assert.deepEqual(quiet.run(0, 100, (i) => [{ mac: A, rx: i === 90 ? 0.9 : 0.01 }]), []);
  });

  it('by hour of day: a client busy every evening is not unusual in the evening once that hour has a baseline', () => {
    // a fake day of two "hours", 10 minutes each (300 ticks): hour 3 at 1 Mbit/s, hour 20 at 50 Mbit/s
    const hourOf = (ts: number) => (Math.floor((ts - T0) / 600_000) % 2 ? 20 : 3);
    const clients = (i: number): C[] => [{ mac: A, rx: hourOf(T0 + i * TICK_MS) === 20 ? steady(50, i) : steady(1, i) }];
    const thresholds = { baselineMin: 10, warmupMin: 5, holdSec: 4, cooldownSec: 0 };
    const flat = rule('unusual_traffic', thresholds, { hourOf }).run(0, 1200, clients);
    assert.ok(flat.some((a) => a.state === 'raised' && a.tick === 302), summary(flat).join('; '));
    const byHour = rule('unusual_traffic', { ...thresholds, byHour: true }, { hourOf }).run(0, 1200, clients);
    assert.deepEqual(byHour, []);
  });
});

describe('alert rules: link_saturation', () => {
  const load = (rx: number): C[] => [
    { mac: A, rx: rx / 2, down: 50 },
    { mac: B, rx: rx / 2, down: 50 },
  ];

  it('raises (error) when the link carries ≥ 95 % for 30 s, clears when it is below, silent at 94 %', () => {
    const alerts = rule('link_saturation').run(0, 60, (i) => load(i <= 30 ? 96 : 50));
    assert.deepEqual(summary(alerts), ['15 raised down', '36 cleared down']);
    const a = alerts[0];
    assert.deepEqual([a.severity, a.mac, a.figures.linkBps, a.figures.percent, a.figures.clients], ['error', null, 100 * MBIT, 96, 2]);
    assert.match(a.message, /the download link carries 96\.0 Mbit\/s of 100 Mbit\/s \(96 %\) for 30 s/);
    assert.deepEqual(rule('link_saturation').run(0, 60, load(94)), []);
  });

  it('needs the link speed: from the snapshot, else from the config node', () => {
    const bare = { ts: T0, clients: [{ mac: A, rxBps: 99 * MBIT, txBps: 0 }] };
    assert.throws(() => rule('link_saturation').engine.handle('snapshot', bare), (e: Error) => e instanceof InputError && /payload\.allocation: missing/.test(e.message));
    const withLink = rule('link_saturation', { holdSec: 0 }, { linkBps: { down: 100 * MBIT, up: 20 * MBIT } });
    assert.equal(withLink.engine.handle('snapshot', bare).length, 1);
    // the config node's link raised by a config command: 99 Mbit/s of 200 is no longer saturation
    const raised = rule('link_saturation', { holdSec: 0 }, { linkBps: { down: 100 * MBIT, up: 20 * MBIT } });
    raised.engine.setLinkBps({ down: 200 * MBIT, up: 20 * MBIT });
    assert.equal(raised.engine.handle('snapshot', bare).length, 0);
  });
});

describe('alert rules: bad input never changes state', () => {
  it('rejects a malformed snapshot with an InputError naming the field, and goes on', () => {
    const r = rule('over_allocation');
    r.run(0, 3, [{ mac: A, rx: 19, down: 20 }]);
    const alloc = { down: { rateBps: 1 }, up: { rateBps: 1 } };
    const bad: Array<[unknown, RegExp]> = [
      [null, /^payload: must be a snapshot/],
      [{ clients: 'x' }, /^payload: must be a snapshot/],
      [{ ts: T0, clients: [{ mac: 'nope' }] }, /^payload\.clients\[0\]\.mac: "nope" is not a MAC/],
      [{ ts: T0, clients: [{ mac: A, rxBps: -1 }] }, /^payload\.clients\[0\]\.rxBps: must be a number of bits\/s/],
      [{ ts: 'now', clients: [] }, /^payload\.ts: must be a time/],
      [{ ts: T0, clients: [{ mac: A, rxBps: 1 }] }, /^payload\.clients\[0\]\.alloc: missing/],
      [{ ts: T0, clients: [{ mac: A, alloc }, { mac: A.toUpperCase(), alloc }] }, /payload\.clients\[1\]\.mac: a4:5e:60:00:00:0a appears twice/],
      [{ ts: T0, clients: [{ mac: A, alloc: { down: { rateBps: 'x' } } }] }, /payload\.clients\[0\]\.alloc: must be/],
    ];
    for (const [payload, message] of bad) assert.throws(() => r.engine.handle('snapshot', payload), (e: Error) => e instanceof InputError && message.test(e.message));
    // the hold that started at tick 0 is intact: raised at tick 5 as if nothing had happened
    assert.deepEqual(summary(r.run(4, 6, [{ mac: A, rx: 19, down: 20 }])), [`5 raised ${A}/down`]);
  });

  it('rejects thresholds out of range at start and in a config command, changing nothing', () => {
    assert.throws(() => rule('over_allocation', { percent: 0 }), /thresholds\.percent: must be a number from 1 to 1000 %, got 0/);
    assert.throws(() => rule('over_allocation', { holdSec: 'soon' }), /thresholds\.holdSec: must be a number from 0 to 86400 s/);
    assert.throws(() => rule('nonsense' as never), /rule: must be one of over_allocation/);
    const r = rule('over_allocation');
    assert.throws(() => r.engine.handle('config', { percent: 50, holdSec: -1 }), /payload\.holdSec: must be a number from 0 to 86400/);
    assert.throws(() => r.engine.handle('config', { precent: 50 }), /payload\.precent: unknown threshold/);
    assert.throws(() => r.engine.handle('config', { severity: 'fatal' }), /payload\.severity/);
    assert.throws(() => r.engine.handle('config', 'x'), /payload: a config command needs an object/);
    assert.equal(r.engine.thresholds.percent, 90, 'the valid percent of a rejected command is not applied');
    r.engine.handle('config', { percent: '75', cooldownSec: 0 });
    assert.deepEqual([r.engine.thresholds.percent, r.engine.thresholds.cooldownSec], [75, 0]);
  });
});

