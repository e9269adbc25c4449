// The dashboard bench's pure parts (bench/dashboard-frames.ts, dashboard-feed.ts, the flow it
// deploys): what a socket frame is for, bytes by topic, render per tick from a page's timeline.
// No timing here: the timelines are made up, the bench measures.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dashboardBenchFlow, widgetsOf } from '../../bench/dashboard.bench';
import { DashboardLan, PHASE_TICKS } from '../../bench/dashboard-feed';
import { bytesByTopic, frameEvent, frameTopic, mergeTopics, quantileOf, renderPerTick, type Widget } from '../../bench/dashboard-frames';
import { REPLAY_BANNER, REPLAY_PATH, type FlowNode } from '../../demo/flow';
import { PROJECT_ROOT } from '../../scripts/node-red-home';

const widgets = new Map<string, Widget>([['w1', { id: 'w1', type: 'ui_template', name: 'device table', page: 'Devices' }]]);

describe('bench/dashboard: what a frame of the dashboard socket is for', () => {
  it('names an update-value by the widget it updates, with its page', () => {
    assert.equal(frameTopic('42["update-value",{"id":"w1","msg":{"payload":[1,2]}}]', false, widgets), "update-value: ui_template 'device table' (Devices)");
  });
  it('keeps an unknown widget id, and an event without an id by its name', () => {
    assert.equal(frameTopic('42["update-value",{"id":"zz"}]', false, widgets), 'update-value: zz');
    assert.equal(frameTopic('42["ui-controls",{"menu":[]}]', false, widgets), 'ui-controls');
    assert.equal(frameTopic('42["ui-replay-done"]', false, widgets), 'ui-replay-done');
  });
  it('reads a namespace, an ack id and a binary event', () => {
    assert.equal(frameTopic('42/ui,17["update-value",{"id":"w1"}]', false, widgets), "update-value: ui_template 'device table' (Devices)");
    assert.equal(frameTopic('451-["update-value",{"id":"w1","msg":{"_placeholder":true,"num":0}}]', false, widgets), "update-value: ui_template 'device table' (Devices)");
  });
  it('gives the event and the widget id of a frame', () => {
    assert.deepEqual(frameEvent('42["update-value",{"id":"w1","value":3}]', false), { kind: 'event', event: 'update-value', id: 'w1' });
    assert.deepEqual(frameEvent('42["ui-replay-done"]', false), { kind: 'event', event: 'ui-replay-done' });
    assert.deepEqual(frameEvent('2', false), { kind: '(engine.io ping)' });
  });
  it('names engine.io packets, binary attachments and what it cannot read', () => {
    assert.equal(frameTopic('2', false, widgets), '(engine.io ping)');
    assert.equal(frameTopic('3', false, widgets), '(engine.io pong)');
    assert.equal(frameTopic('0{"sid":"x"}', false, widgets), '(engine.io packet 0)');
    assert.equal(frameTopic('40{"sid":"x"}', false, widgets), '(socket.io packet 0)');
    assert.equal(frameTopic('', true, widgets), '(binary attachment)');
    assert.equal(frameTopic('42["update-value",{"id":', false, widgets), '(socket.io event, not JSON)');
    assert.equal(frameTopic('42{"a":1}', false, widgets), '(socket.io event without a name)');
  });
});

describe('bench/dashboard: bytes by topic', () => {
  it('sums frames by topic, largest first, and merges lists', () => {
    const a = bytesByTopic([
      { topic: 'x', bytes: 10 },
      { topic: 'y', bytes: 100 },
      { topic: 'x', bytes: 5 },
    ]);
    assert.deepEqual(a, [
      { topic: 'y', frames: 1, bytes: 100 },
      { topic: 'x', frames: 2, bytes: 15 },
    ]);
    assert.deepEqual(mergeTopics([a, [{ topic: 'x', frames: 3, bytes: 90 }]]), [
      { topic: 'x', frames: 5, bytes: 105 },
      { topic: 'y', frames: 1, bytes: 100 },
    ]);
  });
  it('quantiles by nearest rank, NaN when empty', () => {
    assert.equal(quantileOf([5, 1, 4, 2, 3], 0.5), 3);
    assert.equal(quantileOf([5, 1, 4, 2, 3], 0.95), 5);
    assert.ok(Number.isNaN(quantileOf([], 0.5)));
  });
});

describe('bench/dashboard: render per tick from a page timeline', () => {
  const T0 = 1_000_000;
  it('from the first frame to the paint after the last change its frames caused', () => {
    const [t] = renderPerTick([T0], 2000, {
      frames: [T0 + 50, T0 + 52],
      marks: [
        { at: T0 + 50, painted: T0 + 70 },
        { at: T0 + 52, painted: T0 + 70 },
        // a change made while handling (before the paint so far): its paint counts
        { at: T0 + 60, painted: T0 + 90 },
        // and one caused by that, before its paint
        { at: T0 + 85, painted: T0 + 110 },
      ],
      longTasks: [{ at: T0 + 51, ms: 55 }],
    });
    assert.deepEqual(t, { sent: T0, frames: 2, firstFrameMs: 50, renderMs: 60, animationMs: null, runs: 1, longTasks: 1, longTaskMs: 55 });
  });
  it('a change after the page settled, without a frame, is not the tick\'s render', () => {
    const [t] = renderPerTick([T0], 2000, {
      frames: [T0 + 50],
      marks: [
        { at: T0 + 50, painted: T0 + 80 },
        { at: T0 + 500, painted: T0 + 530 }, // a clock of the page
      ],
      longTasks: [],
    });
    assert.equal(t.renderMs, 30);
    assert.equal(t.runs, 1);
  });
  it('a frame after the page settled is a run of its own; the tick counts its longest', () => {
    const [t] = renderPerTick([T0], 2000, {
      frames: [T0 + 50, T0 + 1000],
      marks: [
        { at: T0 + 50, painted: T0 + 80 },
        { at: T0 + 1000, painted: T0 + 1010 },
        { at: T0 + 1005, painted: T0 + 1200 },
      ],
      longTasks: [],
    });
    assert.equal(t.runs, 2);
    assert.equal(t.renderMs, 200);
    assert.equal(t.firstFrameMs, 50);
  });
  it('an animation the frames started is reported apart, until its changes stop', () => {
    const [t] = renderPerTick([T0], 2000, {
      frames: [T0 + 50],
      marks: [{ at: T0 + 50, painted: T0 + 80 }],
      // a needle moving every 16 ms for 0.4 s, then a clock's animation a second later
      animations: [...Array.from({ length: 25 }, (_, i) => T0 + 66 + 16 * i), T0 + 1500, T0 + 1516],
      longTasks: [],
    });
    assert.equal(t.renderMs, 30);
    assert.equal(t.animationMs, 16 + 16 * 24);
    const [none] = renderPerTick([T0], 2000, { frames: [T0 + 50], marks: [{ at: T0 + 50, painted: T0 + 80 }], animations: [T0 + 900], longTasks: [] });
    assert.equal(none.animationMs, null);
  });
  it('splits the timeline at the send times; a tick without frames has no render', () => {
    const ticks = renderPerTick([T0, T0 + 2000, T0 + 4000], 2000, {
      frames: [T0 - 10, T0 + 40, T0 + 2030],
      marks: [
        { at: T0 - 10, painted: T0 + 20 },
        { at: T0 + 40, painted: T0 + 60 },
        { at: T0 + 2030, painted: T0 + 2045 },
        { at: T0 + 6100, painted: T0 + 6120 },
      ],
      longTasks: [
        { at: T0 + 2040, ms: 70 },
        { at: T0 + 2050, ms: 60 },
        { at: T0 + 6100, ms: 80 },
      ],
    });
    assert.deepEqual(
      ticks.map((t) => [t.frames, t.firstFrameMs, t.renderMs, t.longTasks, t.longTaskMs]),
      [
        [1, 40, 20, 0, 0],
        [1, 30, 15, 2, 130],
        [0, null, null, 0, 0],
      ],
    );
  });
});

describe('bench/dashboard: the LAN it feeds and the flow it deploys', () => {
  it('snapshots of N devices: vendors, icons, IPv4 and IPv6, one in ten busy, rates changing each tick, the same for the same tick', () => {
    const lan = new DashboardLan(250, 1000);
    const s = lan.snapshot(3, 5000);
    assert.equal(s.clients.length, 250);
    assert.equal(new Set(s.clients.map((c) => c.mac)).size, 250);
    assert.ok(s.clients.every((c) => typeof c.ip === 'string' && (c.ip6 ?? []).length >= 1 && typeof c.icon === 'string' && typeof c.deviceType === 'string'));
    assert.ok(s.clients.filter((c) => c.vendor).length >= 200, 'most devices have a vendor from the registry');
    assert.ok(new Set(s.clients.map((c) => c.icon)).size >= 5, 'several device types');
    assert.ok(s.clients.some((c) => c.randomizedMac) && s.clients.some((c) => c.hostname === null));
    const busy = s.clients.filter((c) => (c.rxBps as number) >= 1e6);
    assert.equal(busy.length, 25);
    assert.equal(s.totals!.rxBps, s.clients.reduce((n, c) => n + (c.rxBps as number), 0));
    assert.deepEqual(lan.snapshot(3, 5000), s);
    const next = lan.snapshot(4, 7000);
    assert.ok(next.clients.filter((c, i) => c.rxBps !== s.clients[i].rxBps).length > 200, 'rates change every tick');
    const later = lan.snapshot(3 + PHASE_TICKS, 5000).clients.filter((c) => (c.rxBps as number) >= 1e6);
    assert.notDeepEqual(later.map((c) => c.mac), busy.map((c) => c.mac), 'a different tenth is busy in the next phase');
  });

  it('the default flow in dry-run, fed by the replay route, with the shipped client cap and without the replay banner', () => {
    const base = JSON.parse(readFileSync(join(PROJECT_ROOT, 'flows', 'default.json'), 'utf8')) as FlowNode[];
    const flow = dashboardBenchFlow(base);
    const config = flow.find((n) => n.type === 'equalnet-config')!;
    const shipped = base.find((n) => n.type === 'equalnet-config')!;
    assert.equal(config.mode, 'dry-run');
    assert.equal(config.clientCap, shipped.clientCap);
    assert.ok(Number(config.clientCap) >= 1000, 'room for the 1,000-device row');
    assert.ok(flow.some((n) => n.type === 'http in' && n.url === REPLAY_PATH));
    assert.ok(!flow.some((n) => String(n.format ?? '').includes(REPLAY_BANNER)));
    // every dashboard page and widget of the shipped flow is there
    const ui = (f: FlowNode[]) => f.filter((n) => n.type.startsWith('ui_')).map((n) => n.id).sort();
    assert.deepEqual(ui(flow), ui(base));
    const w = widgetsOf(flow);
    assert.ok([...w.values()].some((x) => x.page === 'Devices'));
  });
});
