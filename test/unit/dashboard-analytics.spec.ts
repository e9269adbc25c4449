// The function nodes of the dashboard's Analytics and Device pages (issue 16), run as Node-RED runs
// them (their own code; context, flow and node of their own), in the shipped flow and in the
// dashboard example; the questions they send answered by a real usage-store (a temporary SQLite
// file), and those answers fed back to them. Also how the pages' answers are routed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UsageQueries } from '../../nodes/core/store/queries';
import type { UsageStore } from '../../nodes/core/store/store';
import type { BandwidthRow } from '../../nodes/core/store/types';
import { A, B, Clock, local, MBIT, openStore, TempDir, ticks } from './store-fixtures';

const ROOT = join(__dirname, '..', '..');
type Node = { id: string; type: string; name?: string; func?: string; wires?: string[][]; links?: string[]; rules?: Array<{ t: string; v: string }>; property?: string; [k: string]: unknown };
type Msg = Record<string, any>;

/** A function node's code with its own context, the tab's flow context and a node that records warnings. */
function runner(node: Node, flowContext = new Map<string, unknown>()) {
  const store = new Map<string, unknown>();
  const context = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) };
  const flow = { get: (k: string) => flowContext.get(k), set: (k: string, v: unknown) => void flowContext.set(k, v) };
  const warnings: string[] = [];
  const nodeApi = { warn: (w: string) => void warnings.push(w) };
  const run = (msg: Msg) => new Function('msg', 'context', 'flow', 'node', node.func!)(structuredClone(msg), context, flow, nodeApi);
  return Object.assign(run, { warnings, store });
}

/** What usage-store does with a question: its answer (msg kept, topic = the type) or its refusal (topic error). */
function answer(queries: UsageQueries, store: UsageStore, msg: Msg): Msg {
  try {
    if (msg.topic === 'device') return { ...msg, topic: 'device', payload: store.command(msg.payload) };
    const result = queries.run(msg.payload);
    return { ...msg, topic: result.type, payload: JSON.parse(JSON.stringify(result.payload)), query: result.meta };
  } catch (err) {
    return { ...msg, topic: 'error', payload: { error: (err as Error).message, field: (err as { path?: string }).path, notFound: (err as Error).name === 'NotFoundError' || /never been seen/.test((err as Error).message) } };
  }
}

for (const file of ['flows/default.json', 'examples/10-dashboard.json']) {
  describe(`${file}: the Analytics and Device pages' functions`, () => {
    const flow = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as Node[];
    const byId = (id: string) => {
      const n = flow.find((x) => x.id === id);
      assert.ok(n, `no node ${id}`);
      return n!;
    };
    const dir = new TempDir();
    const clock = new Clock(0);
    let store: UsageStore;
    let queries: UsageQueries;

    before(() => {
      ({ store, queries } = openStore(dir.file(), clock));
      // A and B over an hour yesterday evening, A alone for half an hour now; alerts about A
      ticks(store, clock, local(2026, 3, 10, 20), local(2026, 3, 10, 21), [
        { mac: A, ip: '192.168.1.10', rxBps: 8 * MBIT, txBps: 2 * MBIT, hostname: 'annas-iphone' },
        { mac: B, ip: '192.168.1.11', rxBps: 4 * MBIT, txBps: 0 },
      ]);
      ticks(store, clock, local(2026, 3, 11, 20), local(2026, 3, 11, 20, 30), [{ mac: A, ip: '192.168.1.10', rxBps: 16 * MBIT, txBps: 1 * MBIT }]);
      clock.ms = local(2026, 3, 11, 20, 10);
      store.storeAlert({ type: 'over_allocation', severity: 'warning', message: 'A over its allocation', mac: A });
      clock.ms = local(2026, 3, 11, 20, 31);
      store.flush();
    });
    after(() => {
      store.close();
      dir.remove();
    });

    it('analytics period: 24 h until the menu says otherwise; each time the trend, the top 10, the breakdown and the report of the same period', () => {
      const run = runner(byId('equalnet.dash.fn.analytics.period'));
      const [asked] = run({ topic: 'query', payload: {} });
      assert.deepEqual(asked.map((m: Msg) => m.payload), [{ type: 'bandwidth', hours: 24 }, { type: 'top', limit: 10, hours: 24 }, { type: 'client', hours: 24 }, { type: 'report', days: 1 }]);
      for (const m of asked) assert.deepEqual({ topic: m.topic, page: m.page, period: m.period, answerErrors: m.answerErrors }, { topic: 'query', page: 'analytics', period: 24, answerErrors: true });
      assert.deepEqual(run({ topic: 'period', payload: 168 })[0].map((m: Msg) => m.payload.hours ?? m.payload.days), [168, 168, 168, 7]);
      assert.deepEqual(run({ topic: 'query', payload: {} })[0].map((m: Msg) => m.period), [168, 168, 168, 168], 'the timer asks for the period in force');
      assert.equal(run({ topic: 'period', payload: '720' })[0][3].payload.days, 30);
      for (const bad of [0, 25, 'x', null, { hours: 24 }]) assert.equal(run({ topic: 'period', payload: bad }), null, `period ${JSON.stringify(bad)} refused`);
      assert.equal(run.warnings.length, 5);
      assert.equal(run({ topic: 'query' })[0][0].period, 720, 'a refused period changes nothing');
      // usage-store takes every question
      for (const m of run({ topic: 'query' })[0]) assert.notEqual(answer(queries, store, m).topic, 'error', JSON.stringify(m.payload));
    });

    it('bandwidth trend: the period\'s figures weighted by time, and its chart (two SVG lines, oldest first, at most 120 points)', () => {
      const run = runner(byId('equalnet.dash.fn.trend'));
      const real = answer(queries, store, { topic: 'query', payload: { type: 'bandwidth', hours: 48 }, page: 'analytics', period: 168 });
      const rows = real.payload as BandwidthRow[];
      assert.ok(rows.length >= 60, `${rows.length} rows`);
      const figures = run(real);
      assert.deepEqual({ topic: figures.topic, page: figures.page, period: figures.period }, { topic: 'trend', page: 'analytics', period: 168 });
      const seconds = rows.reduce((s, r) => s + r.seconds, 0);
      const avg = rows.reduce((s, r) => s + r.total_download * r.seconds, 0) / seconds;
      assert.ok(Math.abs(figures.payload.avgDownload - avg) < 1e-9);
      assert.equal(figures.payload.rows, rows.length);
      assert.equal(figures.payload.peakDownload, Math.max(...rows.map((r) => r.total_download)));
      assert.equal(figures.payload.from, rows[rows.length - 1].timestamp, 'from the oldest row');
      const { chart } = figures.payload;
      const xy = (line: string) => line.split(' ').map((p) => p.split(',').map(Number));
      const down = xy(chart.down);
      assert.equal(down.length, chart.points);
      assert.ok(chart.points <= 120 && xy(chart.up).length === chart.points);
      assert.deepEqual([down[0][0], down[down.length - 1][0]], [0, 600], 'oldest left, newest right');
      assert.ok(down.every(([x, y], i) => (i === 0 || x > down[i - 1][0]) && y >= 0 && y <= 120));
      assert.equal(Math.min(...down.map(([, y]) => y)), 0, 'the highest value at the top');
      // 300 rows: 120 points at most, so three rows each, each point the rows' time-weighted average
      const many = Array.from({ length: 300 }, (_, i) => ({ ts: (300 - i) * 60_000, timestamp: '', seconds: [30, 60, 90][i % 3], total_download: [4, 10, 1][i % 3], total_upload: 0, total_clients: 2 }));
      const f2 = run({ topic: 'bandwidth', payload: many, period: 24 });
      assert.equal(f2.payload.chart.points, 100);
      const weighted = (4 * 30 + 10 * 60 + 1 * 90) / 180; // 4.5, where a plain mean would say 5
      assert.ok(Math.abs(f2.payload.chart.max - weighted) < 1e-3, 'every point at the same weighted average');
      assert.ok(xy(f2.payload.chart.down).every(([, y]) => y === 0));
      assert.ok(Math.abs(f2.payload.avgDownload - weighted) < 1e-9);
      // one row: a level line across (one point alone would draw nothing)
      const one = run({ topic: 'bandwidth', payload: [{ ts: 0, timestamp: '', seconds: 60, total_download: 3, total_upload: 1, total_clients: 1 }], period: 24 });
      assert.deepEqual([one.payload.chart.down, one.payload.chart.up], ['0,0 600,0', '0,80 600,80']);
      // no rows: the figures say none (the page says "no traffic recorded")
      assert.deepEqual(run({ topic: 'bandwidth', payload: [], period: 24 }), { topic: 'trend', page: 'analytics', period: 24, payload: { rows: 0 } });
    });

    it('device names: usage-store\'s name, else its hostname (kept after the device left), else the snapshot\'s, else the MAC; the breakdown to output 2, 50 rows at most', () => {
      const names = new Map<string, unknown>([['names', { [B]: 'from the snapshot' }]]);
      const run = runner(byId('equalnet.dash.fn.top'), names);
      const top = answer(queries, store, { topic: 'query', payload: { type: 'top', limit: 10, hours: 48 }, page: 'analytics' });
      const [out, none] = run(top);
      assert.equal(none, null);
      assert.deepEqual(out.payload.map((c: Msg) => [c.mac, c.label]), [[A, 'annas-iphone'], [B, 'from the snapshot']]);
      names.delete('names');
      assert.equal(run(top)[0].payload[1].label, B, 'no name anywhere: the MAC');
      assert.equal(run({ ...top, payload: [{ ...top.payload[0], name: 'Anna' }] })[0].payload[0].label, 'Anna');
      const breakdown = answer(queries, store, { topic: 'query', payload: { type: 'client', hours: 48 }, page: 'analytics' });
      const [no, rows] = run(breakdown);
      assert.equal(no, null);
      assert.deepEqual(rows.payload.map((c: Msg) => Object.keys(c)), [['mac', 'label', 'download_mb', 'upload_mb', 'share_percent'], ['mac', 'label', 'download_mb', 'upload_mb', 'share_percent']]);
      assert.ok(Math.abs(rows.payload[0].share_percent + rows.payload[1].share_percent - 100) < 1e-9);
      assert.equal(rows.more, 0);
      const big = run({ topic: 'client', payload: Array.from({ length: 70 }, (_, i) => ({ mac: `02:00:00:00:00:${String(i).padStart(2, '0')}`, name: null, download_mb: 1, upload_mb: 0, share_percent: 1 })) })[1];
      assert.equal(big.payload.length, 50);
      assert.equal(big.more, 20);
    });

    it('device page questions: open (and show that browser the page), period, refresh, save (a device command first), back; a missing MAC or another topic asks nothing', () => {
      const run = runner(byId('equalnet.dash.fn.device.ask'));
      const [asked, show, asking] = run({ topic: 'device.open', payload: { mac: A }, socketid: 's1' });
      assert.deepEqual(show, { payload: { tab: 'Device' }, socketid: 's1' });
      assert.deepEqual(asking, { topic: 'device.asking', payload: { mac: A, hours: 24 }, socketid: 's1' }, 'the page is told what is asked');
      assert.deepEqual(asked.map((m: Msg) => [m.part, m.payload]), [
        ['client', { type: 'client', mac: A, hours: 24 }],
        ['history', { type: 'history', mac: A, days: 1, limit: 100 }],
        ['alerts', { type: 'alerts', mac: A, hours: 24, limit: 50 }],
      ]);
      for (const m of asked) assert.deepEqual({ topic: m.topic, view: m.view, page: m.page, socketid: m.socketid, answerErrors: m.answerErrors }, { topic: 'query', view: { mac: A, hours: 24 }, page: 'device', socketid: 's1', answerErrors: true });
      const [week, stay, told] = run({ topic: 'device.period', payload: { mac: A, hours: 168 }, socketid: 's1' });
      assert.equal(stay, null, 'a period change stays on the page');
      assert.equal(told, null, 'the page knows what it asked');
      assert.deepEqual(week.map((m: Msg) => m.payload.hours ?? m.payload.days), [168, 7, 168]);
      assert.equal(run({ topic: 'device.refresh', payload: { mac: A, hours: 5 } })[0][0].payload.hours, 24, 'a period not offered: 24 h');
      const [saved] = run({ topic: 'device.save', payload: { mac: A, hours: 720, name: 'Anna', priority: 2 }, socketid: 's2' });
      assert.deepEqual(saved[0], { topic: 'device', payload: { mac: A, name: 'Anna', priority: 2 }, part: 'save', view: { mac: A, hours: 720 }, page: 'device', socketid: 's2', answerErrors: true });
      assert.deepEqual(saved.slice(1).map((m: Msg) => m.part), ['client', 'history', 'alerts'], 'then asked again: the answers show the change');
      assert.deepEqual(run({ topic: 'device.save', payload: { mac: A, priority: null } })[0][0].payload, { mac: A, priority: null }, 'null clears');
      assert.deepEqual(run({ topic: 'device.back', payload: {}, socketid: 's1' }), [null, { payload: { tab: 'Devices' }, socketid: 's1' }, null]);
      for (const bad of [{}, { mac: '' }, { mac: 7 }, { mac: 'x'.repeat(65) }]) assert.equal(run({ topic: 'device.open', payload: bad }), null);
      assert.equal(run.warnings.length, 4);
      assert.equal(run({ topic: 'snapshot', payload: { mac: A } }), null);
    });

    it('device page view: the three answers of a browser gathered into one view (device, traffic with a chart, sessions, alerts), every browser its own', () => {
      const ask = runner(byId('equalnet.dash.fn.device.ask'));
      const view = runner(byId('equalnet.dash.fn.device.view'));
      assert.equal(view({ topic: 'settings', payload: { downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, mode: 'dry-run' } }), null);
      // what a Devices row asked goes on to that browser's page (it shows "asking", then "no answer" if nothing comes)
      assert.deepEqual(view({ topic: 'device.asking', payload: { mac: A, hours: 24 }, socketid: 's9' }), { topic: 'device.asking', payload: { mac: A, hours: 24 }, socketid: 's9' });
      const through = (msg: Msg) => {
        const [questions] = ask(msg);
        const outs = questions.map((q: Msg) => view(answer(queries, store, q)));
        // one view, on the last answer
        assert.deepEqual(outs.slice(0, -1), questions.slice(0, -1).map(() => null));
        return outs[outs.length - 1];
      };
      // two browsers asking at once: answers interleaved, each gets its own device
      const [q1] = ask({ topic: 'device.open', payload: { mac: A }, socketid: 's1' });
      const [q2] = ask({ topic: 'device.open', payload: { mac: B, hours: 168 }, socketid: 's2' });
      const outs = [q1[0], q2[0], q1[1], q2[1], q1[2], q2[2]].map((q) => view(answer(queries, store, q)));
      assert.deepEqual(outs.slice(0, 4), [null, null, null, null]);
      const [v1, v2] = [outs[4], outs[5]];
      assert.equal(v1.socketid, 's1');
      assert.equal(v2.socketid, 's2');
      assert.equal(v1.payload.device.label, 'annas-iphone');
      assert.equal(v2.payload.device.mac, B);
      assert.equal(v2.payload.hours, 168);
      const client = answer(queries, store, { topic: 'query', payload: { type: 'client', mac: A, hours: 24 } }).payload;
      assert.deepEqual(
        [v1.payload.traffic.download_mb, v1.payload.traffic.upload_mb, v1.payload.traffic.avg_download, v1.payload.traffic.peak_usage, v1.payload.traffic.points],
        [client.download_mb, client.upload_mb, client.avg_download, client.peak_usage, client.series.length],
      );
      // a bar per hour with traffic, download and upload side by side, from the bottom (y 120)
      const bars = (d: string) => d.split('M').slice(1).map((b) => b.match(/^([\d.]+),120V([\d.]+)h([\d.]+)V120Z$/)!.slice(1).map(Number));
      const down = bars(v1.payload.traffic.chart.down);
      const up = bars(v1.payload.traffic.chart.up);
      assert.equal(down.length, client.series.length);
      assert.equal(up.length, client.series.length);
      assert.ok(down.every(([x, y, w], i) => x >= 0 && x + 2 * w <= 600 && y >= 0 && y < 120 && up[i][0] === Math.round((x + w) * 10) / 10), JSON.stringify([down, up]));
      assert.equal(Math.min(...down.map(([, y]) => y), ...up.map(([, y]) => y)), 0, 'the highest at the top');
      const history = answer(queries, store, { topic: 'query', payload: { type: 'history', mac: A, days: 1 } }).payload;
      assert.deepEqual(v1.payload.sessions.map((s: Msg) => s.start), history.sessions.map((s: Msg) => s.start));
      assert.equal(v1.payload.sessions[0].duration, '29 min');
      assert.deepEqual(v1.payload.alerts.map((a: Msg) => [a.type, a.severity]), [['over_allocation', 'warning']]);
      assert.deepEqual(v2.payload.alerts, [], 'no alert about B');
      assert.deepEqual(v1.payload.priorities, [1, 2, 3, 4, 5], 'the priorities in force');
      assert.equal(v1.payload.error, null);
      // B over the last 24 h: nothing yet (it was here yesterday evening only: 24 h = this hour and the 23 before)
      const empty = through({ topic: 'device.period', payload: { mac: B, hours: 24 }, socketid: 's2' });
      assert.equal(empty.payload.traffic.points, 0);
      assert.equal(empty.payload.traffic.download_mb, 0);
      // a rename and a priority: in usage-store, and in the view that follows
      const renamed = through({ topic: 'device.save', payload: { mac: B, hours: 168, name: 'Bob\'s TV', priority: 2 }, socketid: 's2' });
      assert.deepEqual([renamed.payload.device.name, renamed.payload.device.label, renamed.payload.device.priority, renamed.payload.saveError], ['Bob\'s TV', 'Bob\'s TV', 2, null]);
      const refused = through({ topic: 'device.save', payload: { mac: B, hours: 168, priority: 99 }, socketid: 's2' });
      assert.match(refused.payload.saveError, /priority/);
      assert.equal(refused.payload.device.priority, 2, 'nothing changed');
      // an unknown device: refused three times, one view that says so
      const unknown = through({ topic: 'device.open', payload: { mac: '02:00:00:00:00:99' }, socketid: 's3' });
      assert.equal(unknown.payload.notFound, true);
      assert.match(unknown.payload.error, /never been seen/);
      assert.deepEqual([unknown.payload.device, unknown.payload.traffic, unknown.payload.sessions, unknown.payload.alerts], [null, null, [], []]);
    });

    it('device page view: an answer of a question asked before is not mixed into the next one; at most 20 browsers wait for answers', () => {
      const ask = runner(byId('equalnet.dash.fn.device.ask'));
      const view = runner(byId('equalnet.dash.fn.device.view'));
      const [day] = ask({ topic: 'device.open', payload: { mac: A }, socketid: 's1' });
      const [week] = ask({ topic: 'device.period', payload: { mac: A, hours: 168 }, socketid: 's1' });
      assert.equal(view(answer(queries, store, day[0])), null);
      assert.equal(view(answer(queries, store, week[0])), null);
      assert.equal(view(answer(queries, store, week[1])), null);
      const v = view(answer(queries, store, week[2]));
      assert.equal(v.payload.hours, 168);
      for (let i = 0; i < 30; i++) view(answer(queries, store, ask({ topic: 'device.open', payload: { mac: A }, socketid: `b${i}` })[0][0]));
      assert.equal(Object.keys(view.store.get('pending') as object).length, 20);
      assert.equal(view({ topic: 'client', payload: {} }), null, 'an answer not asked by the page');
    });

    it('routing: the pages\' answers by msg.page, then by type; the questions to usage-store, the page switch to the Device page', () => {
      const pages = byId('equalnet.dash.pages.answers');
      assert.equal(pages.property, 'page');
      assert.deepEqual(pages.rules!.map((r) => r.v), ['device', 'analytics']);
      assert.deepEqual(pages.wires, [['equalnet.dash.fn.device.view'], ['equalnet.dash.analytics.answers']]);
      const byType = byId('equalnet.dash.analytics.answers');
      assert.deepEqual(byType.rules!.map((r) => r.v), ['bandwidth', 'top', 'client', 'report', 'error']);
      assert.deepEqual(byType.wires, [['equalnet.dash.fn.trend'], ['equalnet.dash.fn.top'], ['equalnet.dash.fn.top'], ['equalnet.dash.report'], ['equalnet.dash.trend.figures']]);
      assert.deepEqual(byId('equalnet.dash.fn.trend').wires, [['equalnet.dash.trend.figures']]);
      assert.ok(byId('equalnet.dash.pages.answers.in').links!.includes('equalnet.link.answers.out'));
      assert.ok(byId('equalnet.link.answers.out').links!.includes('equalnet.dash.pages.answers.in'));
      for (const out of ['equalnet.dash.device.store.out', 'equalnet.dash.analytics.store.out']) assert.deepEqual(byId(out).links, ['equalnet.link.store.in']);
      assert.deepEqual(byId('equalnet.dash.fn.device.ask').wires, [['equalnet.dash.device.store.out'], ['equalnet.dash.device.show'], ['equalnet.dash.device.asking.out']]);
      assert.deepEqual(byId('equalnet.dash.device.asking.out').links, ['equalnet.dash.device.settings.in']);
      assert.deepEqual(byId('equalnet.dash.device.settings.in').wires, [['equalnet.dash.fn.device.view']]);
      assert.deepEqual(byId('equalnet.dash.settings.device.out').links, ['equalnet.dash.device.settings.in']);
      assert.equal(byId('equalnet.dash.device.show').type, 'ui_ui_control');
      assert.deepEqual(byId('equalnet.dash.device.open.in').wires, [['equalnet.dash.fn.device.ask']]);
      // the Device page: a page of its own, not in the menu; its template not replayed to another browser
      const tab = byId('equalnet.dash.ui.device');
      assert.deepEqual([tab.name, tab.hidden], ['Device', true]);
      assert.equal(byId('equalnet.dash.device').resendOnRefresh, false);
      // "answer by type" no longer sends the Analytics page's top 10 (it has its own path), and the Alerts list skips the device page's alerts
      assert.ok(!byId('equalnet.dash.answers').rules!.some((r) => r.v === 'top'));
      assert.match(String(byId('equalnet.dash.alerts').format), /msg\.page === 'device'/);
    });
  });
}
