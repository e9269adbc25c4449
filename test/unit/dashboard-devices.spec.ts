// The function nodes of the dashboard's Overview and Devices pages (issue 16), run as Node-RED
// runs them (their own code, a context of their own, flow context, msg.socketid), in the shipped
// flow and in the dashboard example: the Devices table's per-tick message carries only what
// changed and, applied in order, always adds up to the whole table a page asks for; the Overview's
// gauges, busiest devices and its empty and "pipeline not running" states. Also the example
// pipeline's 'names from the registry'.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionRunner } from '../../bench/dashboard-feed';

const ROOT = join(__dirname, '..', '..');
type Node = { id: string; type: string; name?: string; func?: string; initialize?: string; wires?: string[][]; links?: string[]; format?: string; resendOnRefresh?: boolean; rules?: Array<{ v: string }> };
type Msg = Record<string, any>;

/** A function node's code with a context and a flow context of its own, and a clock we set (the bench's runner). */
function runner(node: Node, clock = { now: 1_000_000 }) {
  const r = functionRunner(node, clock);
  return Object.assign((msg: Msg) => r(msg) as any, { store: r.store, flowStore: r.flowStore, clock: r.clock });
}

const client = (i: number, extra: Msg = {}) => ({
  mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  ip: `10.0.${i >> 8}.${i & 255}`, ip6: [`fd00::${i.toString(16)}`], hostname: `host-${i}`, vendor: 'Raspberry Pi Trading Ltd', deviceType: 'single-board computer', icon: 'fa-microchip',
  priority: 1 + (i % 5), rxBps: 1e6 + i * 1000, txBps: 2e5 + i * 100,
  alloc: { down: { rateBps: 4e5, expectedBps: 4e5 + i, ceilBps: 1e8 }, up: { rateBps: 8e4, expectedBps: 8e4 + i, ceilBps: 2e7 } },
  ...extra,
});
const snapshot = (clients: Msg[], extra: Msg = {}) => ({ topic: 'snapshot', payload: { ts: 1, clients, allocation: { down: { totalBps: 100e6 }, up: { totalBps: 20e6 }, maxPriority: 5, minPercent: 10 }, shaping: { mode: 'dry-run' }, ...extra } });

/** The page's side of the Devices table (the template's apply()), as plain data. */
function applyTo(page: { rows: Map<string, unknown[]>; fixed: Map<string, Msg>; seq: number; max: number }, p: Msg) {
  if (p.full) { page.rows = new Map(); page.fixed = new Map(); }
  else assert.equal(p.seq, page.seq + 1, 'ticks in order');
  for (const mac of p.gone) { page.rows.delete(mac); page.fixed.delete(mac); }
  for (const [mac, f] of Object.entries(p.fixed)) page.fixed.set(mac, f as Msg);
  for (const row of p.rows) { assert.ok(page.fixed.has(row[0]), `a row for ${row[0]} comes with or after its fixed fields`); page.rows.set(row[0], row); }
  page.seq = p.seq;
  page.max = p.max;
}

for (const file of ['flows/default.json', 'examples/10-dashboard.json']) {
  describe(`${file}: the Overview and Devices pages' functions`, () => {
    const flow = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as Node[];
    const named = (name: string) => {
      const n = flow.find((n) => n.type === 'function' && n.name === name);
      assert.ok(n, `no function "${name}"`);
      return n!;
    };

    it('device rows: the first tick sends every client; an unchanged tick nothing; a changed one only its row; new fields only when they change; a client gone by its MAC', () => {
      const run = runner(named('device rows'));
      const clients = [client(1), client(2, { name: 'kitchen', ip6: [] }), client(3, { rxBps: null, txBps: null })];
      const first = run(snapshot(clients));
      assert.equal(first.topic, 'rows');
      assert.equal(first.payload.full, false);
      assert.equal(first.payload.rows.length, 3);
      assert.deepEqual(first.payload.rows[0], [clients[0].mac, 1, 0.2, 0.4, 0.08, 2, null]);
      assert.deepEqual(first.payload.rows[2].slice(1, 3), [null, null], 'not measured: null');
      assert.deepEqual(first.payload.fixed[clients[1].mac], { name: 'kitchen', type: 'single-board computer', icon: 'fa-microchip', vendor: 'Raspberry Pi Trading Ltd', ip: '10.0.0.2', ip6: [], priv: false, max: '—', limits: null });
      assert.equal(first.payload.max, 5);
      assert.deepEqual(run.flowStore.get('names'), { [clients[0].mac]: 'host-1', [clients[1].mac]: 'kitchen', [clients[2].mac]: 'host-3' }, 'names for the Analytics page');
      assert.equal(run(snapshot(clients)), null, 'nothing changed: nothing sent');
      const faster = [clients[0], { ...clients[1], rxBps: 9e6 }, clients[2]];
      const second = run(snapshot(faster));
      assert.deepEqual(second.payload.rows.map((r: unknown[]) => r[0]), [clients[1].mac]);
      assert.deepEqual(second.payload.fixed, {});
      assert.equal(second.payload.seq, first.payload.seq + 1);
      const renamed = run(snapshot([{ ...faster[0], name: 'desk' }, faster[1], faster[2]]));
      assert.deepEqual(renamed.payload.rows, []);
      assert.deepEqual(Object.keys(renamed.payload.fixed), [clients[0].mac]);
      assert.equal(renamed.payload.fixed[clients[0].mac].name, 'desk');
      const gone = run(snapshot([{ ...faster[0], name: 'desk' }, faster[1]]));
      assert.deepEqual(gone.payload.gone, [clients[2].mac]);
      assert.equal(Object.keys(run.flowStore.get('names') as object).length, 2);
    });

    it('device rows: a page that asks gets the whole table, to its socket only; without a socket nothing', () => {
      const run = runner(named('device rows'));
      run(snapshot([client(1), client(2)]));
      const whole = run({ topic: 'table', socketid: 'abc' });
      assert.equal(whole.socketid, 'abc');
      assert.equal(whole.payload.full, true);
      assert.equal(whole.payload.rows.length, 2);
      assert.equal(Object.keys(whole.payload.fixed).length, 2);
      assert.equal(run({ topic: 'table' }), null);
      // before any snapshot: an empty table (the page shows its empty state)
      const fresh = runner(named('device rows'));
      assert.deepEqual(fresh({ topic: 'table', socketid: 'x' }).payload, { full: true, seq: 0, max: 0, rows: [], fixed: {}, gone: [], stopped: null });
      // its state is not written to disk by the context store
      assert.equal(JSON.stringify({ table: run.store.get('table') }), '{"table":null}');
      // the state an older version of the function left in the context (a deploy keeps a node's
      // memory context): started afresh, not read
      const older = runner(named('device rows'));
      older.store.set('table', { rows: new Map([['x', []]]), keys: new Map(), fixed: new Map(), fkeys: new Map(), seq: 4, max: 5, lastAt: 0, every: 2000, startedAt: 0, stopped: null });
      assert.equal(older(snapshot([client(1)])).payload.rows.length, 1);
      assert.deepEqual(older({ topic: 'table', socketid: 'x' }).payload.rows.map((r: unknown[]) => r[0]), [client(1).mac]);
    });

    it('device rows: "pipeline not running" after 3 ticks without a snapshot (to the page and in the whole table), ended by the next snapshot', () => {
      const clock = { now: 1_000_000 };
      const run = runner(named('device rows'), clock);
      assert.equal(run({ topic: 'watch' }), null, 'just started');
      clock.now += 4_000;
      assert.equal(run({ topic: 'watch' }), null, '2 ticks: not yet');
      clock.now += 2_000;
      assert.deepEqual(run({ topic: 'watch' }), { topic: 'state', payload: { stopped: { ticks: 3, since: null } } });
      assert.deepEqual(run({ topic: 'table', socketid: 's' }).payload.stopped, { ticks: 3, since: null }, 'a page that opens is told');
      const first = run(snapshot([client(1)]));
      assert.equal(first.topic, 'rows', 'a tick: the page ends the state on it');
      assert.equal(run({ topic: 'table', socketid: 's' }).payload.stopped, null);
      const last = clock.now;
      for (let i = 0; i < 2; i++) { clock.now += 2_000; assert.equal(run({ topic: 'watch' }), null, `${i + 1} ticks missed`); }
      clock.now += 2_000;
      assert.deepEqual(run({ topic: 'watch' }).payload.stopped, { ticks: 3, since: last });
      clock.now += 2_000;
      assert.equal(run({ topic: 'watch' }).payload.stopped.ticks, 4, 'the count goes on');
      // the same snapshot again: no row changed, yet the page hears that the pipeline runs
      assert.deepEqual(run(snapshot([client(1)])), { topic: 'state', payload: { stopped: null } });
      assert.equal(run(snapshot([client(1)])), null, 'and then nothing, as before');
      // the tick's interval is learned: at 5 s a tick, 10 s without one is not 3 ticks
      clock.now += 5_000; run(snapshot([client(1)]));
      clock.now += 10_000;
      assert.equal(run({ topic: 'watch' }), null);
      clock.now += 5_000;
      assert.equal(run({ topic: 'watch' }).payload.stopped.ticks, 3);
    });

    it('device rows: limits and quotas shown as before (Max column, the quota nearest to used up, the limits form\'s values)', () => {
      const run = runner(named('device rows'));
      const limits = { maxDownBps: 5e6, maxUpBps: null, quotaDailyBytes: 500e6, quotaMonthlyBytes: 10e9, quotaAction: 'throttle', throttleBps: 256e3 };
      const quota = { dailyUsedBytes: 400e6, dailyBytes: 500e6, monthlyUsedBytes: 1e9, monthlyBytes: 10e9, throttled: false };
      const p = run(snapshot([client(1, { limits, quota })])).payload;
      assert.deepEqual(p.rows[0][6], [80, '400.0 MB of 500.0 MB today']);
      assert.equal(p.fixed[client(1).mac].max, '5.0 / —');
      assert.deepEqual(p.fixed[client(1).mac].limits, [5, null, 500, 10000, 'throttle', 256]);
      const later = run(snapshot([client(1, { limits, quota: { ...quota, dailyUsedBytes: 600e6, throttled: true } })])).payload;
      assert.deepEqual(later.rows[0][6], [100, '600.0 MB of 500.0 MB today · throttled']);
    });

    it('device rows: over 60 random ticks, the ticks applied in order always equal the whole table; 250 devices: the whole table and a tick with every rate changed stay small', () => {
      const run = runner(named('device rows'));
      let seed = 7;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      let clients = Array.from({ length: 40 }, (_, i) => client(i));
      const page = { rows: new Map<string, unknown[]>(), fixed: new Map<string, Msg>(), seq: -1, max: 0 };
      applyTo(page, run({ topic: 'table', socketid: 's' }).payload);
      for (let t = 0; t < 60; t++) {
        clients = clients
          .filter(() => rnd() > 0.03)
          .map((c) => (rnd() < 0.3 ? { ...c, rxBps: Math.round(rnd() * 1e8) } : rnd() < 0.05 ? { ...c, name: `n${t}` } : c));
        if (rnd() < 0.3) clients.push(client(100 + t));
        const out = run(snapshot(clients));
        if (out) applyTo(page, out.payload);
        const whole = run({ topic: 'table', socketid: 's' }).payload;
        assert.equal(whole.seq, page.seq);
        assert.deepEqual([...page.rows.keys()].sort(), clients.map((c) => c.mac).sort(), `tick ${t}: the clients`);
        assert.deepEqual(Object.fromEntries(page.fixed), whole.fixed, `tick ${t}: fixed fields`);
        assert.deepEqual([...page.rows.values()].sort(), [...whole.rows].sort(), `tick ${t}: rows`);
      }
      const big = runner(named('device rows'));
      const many = Array.from({ length: 250 }, (_, i) => client(i, { ip6: [`fd00::${i.toString(16)}`, `fe80::ff:fe00:${i.toString(16)}`] }));
      const first = JSON.stringify(big(snapshot(many)));
      const tick = JSON.stringify(big(snapshot(many.map((c) => ({ ...c, rxBps: c.rxBps + 5e5, txBps: c.txBps + 1e4 })))));
      const whole = JSON.stringify(big({ topic: 'table', socketid: 's' }));
      // before: ~71 kB to every browser every tick (README's Performance / bench/dashboard)
      assert.ok(whole.length < 100_000, `whole table ${whole.length} bytes`);
      assert.ok(tick.length < 20_000, `a tick with every rate changed ${tick.length} bytes`);
      assert.ok(tick.length < first.length / 3, `${tick.length} of ${first.length}`);
    });

    it('device rows: the same messages, in the same order, as the code before issue 17 (every row and its key made each tick), over 400 random messages: joins, leaves, reorders, addresses, names, types, priorities, rates, allocations, limits, quotas, table and watch; nothing sent is changed afterwards', () => {
      // the function as it was before it kept its inputs per MAC (issue 17), as the reference
      const before: Node = { id: 'before', type: 'function', func: readFileSync(join(ROOT, 'test', 'unit', 'dashboard-device-rows-before.txt'), 'utf8') };
      const clock = { now: 1_000_000 };
      const was = runner(before, clock);
      const run = runner(named('device rows'), clock);
      let seed = 17;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
      const limits = (): Msg => ({ maxDownBps: pick([null, 5e6, 8e5]), maxUpBps: pick([null, 1e6]), quotaDailyBytes: pick([null, 5e8]), quotaMonthlyBytes: pick([null, 1e10]), quotaAction: pick(['alert', 'throttle']), throttleBps: pick([null, 256e3]) });
      const quota = (l: Msg | null, used: number): Msg => ({ dailyUsedBytes: used, monthlyUsedBytes: used * 7, dailyBytes: l ? l.quotaDailyBytes : null, monthlyBytes: l ? l.quotaMonthlyBytes : null, action: l ? l.quotaAction : 'alert', throttled: rnd() < 0.2, dayResetsAt: 1, monthResetsAt: 2 });
      const changed = (c: Msg, t: number): Msg => {
        const k = Math.floor(rnd() * 16);
        // the allocator's objects: frozen, the same object again while nothing in it changed
        const d: Msg = { ...c, alloc: k === 2 || k === 3 ? { down: { ...c.alloc.down }, up: { ...c.alloc.up } } : c.alloc };
        if (k === 0) d.rxBps = c.rxBps === null ? 1e6 : c.rxBps + Math.round((rnd() - 0.5) * 8e3); // often the same in Mbit/s to 2 places
        else if (k === 1) d.txBps = pick([null, Math.round(rnd() * 5e6), Number.NaN]);
        else if (k === 2) d.alloc.down.expectedBps = pick([null, undefined, 4e5, 4e5 + 3, Math.round(rnd() * 1e7)]);
        else if (k === 3) d.alloc.up.rateBps = Math.round(rnd() * 2e6);
        else if (k === 4) d.priority = 1 + Math.floor(rnd() * 5);
        else if (k === 5) d.name = pick([null, '', `n${t}`, 'kitchen']);
        else if (k === 6) d.hostname = pick([null, `h${t}`]);
        else if (k === 7) d.ip = pick([null, `10.1.0.${t & 255}`, c.ip]);
        else if (k === 8) d.ip6 = pick([[], [...(c.ip6 ?? []), `fd00::${t.toString(16)}`], (c.ip6 ?? []).slice(1), undefined]);
        else if (k === 9) Object.assign(d, { deviceType: pick([null, 'phone', 'tv']), icon: pick([undefined, 'fa-mobile']), vendor: pick([null, 'Sony']) });
        else if (k === 10) d.randomizedMac = pick([true, false, undefined]);
        else if (k === 11) { d.limits = pick([null, limits()]); d.quota = d.limits || rnd() < 0.5 ? quota(d.limits, Math.round(rnd() * 6e8)) : null; }
        else if (k === 12 && c.quota) d.quota = { ...quota(c.limits, c.quota.dailyUsedBytes + pick([0, 10, 2e6, 5e7])), throttled: c.quota.throttled };
        else if (k === 13 && c.quota) d.quota = { ...c.quota, throttled: !c.quota.throttled };
        else if (k === 14 && c.limits) d.limits = { ...c.limits, quotaAction: pick(['alert', 'throttle']), throttleBps: pick([null, 128e3]) };
        if (d.alloc !== c.alloc && rnd() < 0.8) d.alloc = Object.freeze({ down: Object.freeze(d.alloc.down), up: Object.freeze(d.alloc.up) });
        return d;
      };
      let clients: Msg[] = Array.from({ length: 30 }, (_, i) => client(i, i % 4 === 0 ? { limits: limits(), quota: null } : {}));
      for (const c of clients.slice(10)) c.alloc = Object.freeze({ down: Object.freeze(c.alloc.down), up: Object.freeze(c.alloc.up) });
      for (const c of clients) if (c.limits) c.quota = quota(c.limits, 1e8);
      let max = 5;
      const sent: Array<[unknown, string]> = [];
      for (let t = 0; t < 400; t++) {
        clock.now += rnd() < 0.1 ? 7_000 : 2_000;
        const r = rnd();
        let msg: Msg;
        if (r < 0.06) msg = { topic: 'table', socketid: `s${t}` };
        else if (r < 0.08) msg = { topic: 'table' };
        else if (r < 0.16) msg = { topic: 'watch' };
        else {
          clients = clients.filter(() => rnd() > 0.02).map((c) => (rnd() < 0.25 ? changed(c, t) : { ...c }));
          if (rnd() < 0.15) clients.push(client(100 + t, rnd() < 0.3 ? { limits: limits(), quota: quota(null, 0) } : {}));
          if (rnd() < 0.05) clients.reverse();
          if (rnd() < 0.03 && clients.length) clients.push({ ...clients[0], rxBps: 123e4 }); // a MAC twice
          if (rnd() < 0.05) max = pick([3, 5, 8]);
          msg = snapshot(clients);
          msg.payload.allocation.maxPriority = max;
        }
        const input = JSON.stringify(msg);
        const expected = was(msg);
        const out = run(msg);
        assert.deepEqual(out, expected, `message ${t} (${msg.topic})`);
        assert.equal(JSON.stringify(out), JSON.stringify(expected), `message ${t}: the same order of rows and fields`);
        assert.equal(JSON.stringify(run.flowStore.get('names')), JSON.stringify(was.flowStore.get('names')), `message ${t}: names`);
        assert.equal(JSON.stringify(msg), input, `message ${t}: its input is not changed`);
        if (out) sent.push([out, JSON.stringify(out)]);
        // its state: the MACs of the last snapshot, no more (at most the client cap)
        if (msg.topic === 'snapshot') assert.equal((run.store.get('table') as { devs: Map<string, unknown> }).devs.size, new Set(clients.map((c) => c.mac)).size, `message ${t}: state`);
      }
      assert.ok(sent.length > 250, `${sent.length} messages sent`);
      for (const [m, text] of sent) assert.equal(JSON.stringify(m), text, 'a message once sent stays as it was');
    });

    it('overview figures: chart, clients, link, gauges (% of the link) and the Now panel with the busiest five by traffic', () => {
      const run = runner(named('overview figures'));
      const clients = Array.from({ length: 8 }, (_, i) => client(i, { rxBps: (i + 1) * 1e6, txBps: 1e5 }));
      clients.push(client(20, { rxBps: null, txBps: null, name: 'unmeasured' }));
      const out = run(snapshot(clients));
      assert.equal(out.length, 7);
      assert.deepEqual(out[0], { topic: 'point', payload: [1_000_000, 36, 0.8, 100] }, 'a point of the chart: time, download, upload, link');
      assert.equal(out[1].payload, '9');
      assert.equal(out[2].payload, '↓ 100 ↑ 20 Mbit/s');
      assert.equal(out[4].payload, 36);
      assert.equal(out[5].payload, 4);
      const now = out[6].payload;
      assert.equal(now.state, 'ok');
      assert.equal(now.mode, 'dry-run');
      assert.deepEqual(now.busiest.map((b: unknown[]) => b[1]), ['host-7', 'host-6', 'host-5', 'host-4', 'host-3']);
      assert.deepEqual(now.busiest[0], ['fa-microchip', 'host-7', clients[7].mac, 8, 0.1, Math.round((8.1 / 36.8) * 1000) / 10]);
      // texts and gauges only when they change; the chart and the panel every tick
      const same = run(snapshot(clients));
      assert.deepEqual(same.slice(1, 6), [null, null, null, null, null]);
      assert.equal(same[0].topic, 'point');
      assert.equal(same[6].payload.state, 'ok');
      // measured interface totals win over the sum
      const totals = run(snapshot(clients, { totals: { rxBps: 50e6, txBps: 2e6 } }));
      assert.deepEqual([totals[4].payload, totals[5].payload, totals[1]], [50, 10, null]);
      // a restart (On Start) sends them all again: the context may be kept on disk
      new Function('context', 'Date', named('overview figures').initialize!)({ set: (k: string, v: unknown) => void run.store.set(k, v) }, Date);
      assert.equal(run(snapshot(clients))[1].payload, '9');
    });

    it('overview figures: the chart\'s last 10 minutes (at most 720 points) to a page that asks, to its socket only', () => {
      const clock = { now: 1_000_000 };
      const run = runner(named('overview figures'), clock);
      assert.deepEqual(run({ topic: 'history', socketid: 'a' })[0], { topic: 'history', socketid: 'a', payload: [] });
      const points: unknown[][] = [];
      for (let i = 0; i < 400; i++) {
        clock.now += 2_000;
        points.push(run(snapshot([client(1, { rxBps: i * 1e4, txBps: 1e4 })]))[0].payload);
      }
      const asked = run({ topic: 'history', socketid: 'b' });
      assert.deepEqual(asked.slice(1), [null, null, null, null, null, null], 'only the chart answers');
      assert.equal(asked[0].socketid, 'b');
      assert.deepEqual(asked[0].payload, points.filter((p) => (p[0] as number) >= clock.now - 600_000), '10 minutes of points, in order');
      assert.equal(asked[0].payload.length, 301);
      assert.equal(run({ topic: 'history' }), null, 'without a socket: nothing');
      // ticks every 0.5 s: no more than 720 points
      for (let i = 0; i < 1000; i++) { clock.now += 500; run(snapshot([client(1)])); }
      const many = run({ topic: 'history', socketid: 'c' })[0].payload;
      assert.equal(many.length, 720);
      assert.equal(many[719][0], clock.now);
      // not written to disk by the context store; a restart (On Start) starts afresh
      assert.equal(JSON.stringify({ hist: run.store.get('hist') }), '{"hist":null}');
      new Function('context', 'Date', named('overview figures').initialize!)({ set: (k: string, v: unknown) => void run.store.set(k, v) }, Date);
      assert.deepEqual(run({ topic: 'history', socketid: 'd' })[0].payload, []);
    });

    it('overview figures: "waiting" before the first snapshot, "no clients yet", "pipeline not running" after 3 ticks without a snapshot, and back', () => {
      const clock = { now: 1_000_000 };
      const run = runner(named('overview figures'), clock);
      const panel = (msg: Msg) => { const out = run(msg); return out === null ? null : out[6].payload; };
      assert.equal(panel({ topic: 'watch' }).state, 'waiting');
      assert.equal(panel({ topic: 'watch' }), null, 'said once');
      clock.now += 6_000;
      assert.deepEqual(panel({ topic: 'watch' }), { state: 'stopped', ticks: 3, since: null, mode: null });
      assert.equal(panel(snapshot([])).state, 'empty');
      clock.now += 2_000;
      assert.equal(panel(snapshot([client(1)])).state, 'ok');
      const last = clock.now;
      clock.now += 2_000;
      assert.equal(panel({ topic: 'watch' }), null, 'ticking: nothing to say');
      clock.now += 2_000;
      assert.equal(panel({ topic: 'watch' }), null, '2 ticks missed: not yet');
      clock.now += 2_000;
      assert.deepEqual(panel({ topic: 'watch' }), { state: 'stopped', ticks: 3, since: last, mode: 'dry-run' });
      clock.now += 2_000;
      assert.equal(panel({ topic: 'watch' }).ticks, 4, 'the count goes on');
      assert.equal(panel(snapshot([client(1)])).state, 'ok');
    });

    it('the pages\' templates and wiring: the table asks for itself, is not replayed; rows open the device page', () => {
      const table = flow.find((n) => n.id === 'equalnet.dash.devices')!;
      assert.equal(table.resendOnRefresh, false, 'a replayed tick would be a part of the table');
      assert.match(table.format!, /scope\.send\(\{ topic: 'table' \}\)/);
      assert.match(table.format!, /No clients yet/);
      const sw = flow.find((n) => n.id === 'equalnet.dash.commands')!;
      assert.deepEqual(sw.rules!.map((r) => r.v), ['priority', 'device', 'device.open', 'table']);
      const open = flow.find((n) => n.id === 'equalnet.dash.link.device.open.out')!;
      assert.deepEqual(open.links, ['equalnet.dash.device.open.in']);
      const asks = flow.find((n) => n.id === 'equalnet.dash.link.table.in')!;
      assert.deepEqual(asks.wires, [['equalnet.dash.fn.devices']]);
      const now = flow.find((n) => n.id === 'equalnet.dash.now')!;
      for (const text of ['Waiting for the first snapshot', 'Pipeline not running', 'No clients yet']) assert.ok(now.format!.includes(text), text);
      // the chart asks for its points through a link pair; the watch reaches the Devices too
      const chart = flow.find((n) => n.id === 'equalnet.dash.chart')!;
      assert.equal(chart.type, 'ui_template');
      assert.equal(chart.resendOnRefresh, false, 'a replayed point is not the history');
      assert.match(chart.format!, /scope\.send\(\{ topic: 'history' \}\)/);
      assert.deepEqual(flow.find((n) => n.id === 'equalnet.dash.link.history.in')!.wires, [['equalnet.dash.fn.overview']]);
      assert.deepEqual(flow.find((n) => n.id === 'equalnet.dash.watch')!.wires, [['equalnet.dash.fn.overview', 'equalnet.dash.fn.devices']]);
      for (const id of ['equalnet.dash.gauge.down', 'equalnet.dash.gauge.up']) {
        const g = flow.find((n) => n.id === id)!;
        assert.equal(g.type, 'ui_template');
        assert.equal(g.resendOnRefresh, true, 'sent only when it changes: replayed to a page that opens');
        assert.match(g.format!, /% of the link/);
        assert.doesNotMatch(g.format!, /transition|animation/, 'no animation');
      }
      assert.match(table.format!, /Pipeline not running: no snapshot for/);
    });
  });
}

describe('examples/10-dashboard.json: names from the registry (arp-discover\'s part, for the sample clients)', () => {
  const flow = JSON.parse(readFileSync(join(ROOT, 'examples/10-dashboard.json'), 'utf8')) as Node[];
  const node = flow.find((n) => n.name === 'names from the registry')!;

  it('names the clients as the registry has them, every MAC of a device; other commands are not passed on', () => {
    const run = runner(node);
    const s = snapshot([client(1), client(2)]);
    assert.equal(run(s), s, 'no registry yet: as it came');
    assert.equal(run({ topic: 'registry', payload: { devices: [{ mac: client(9).mac, macs: [client(9).mac, client(2).mac], name: 'tv' }, { mac: client(1).mac, macs: [client(1).mac], name: null }] } }), null);
    const named = run(snapshot([client(1), client(2)]));
    assert.deepEqual(named.payload.clients.map((c: Msg) => c.name), [undefined, 'tv']);
    assert.equal(run({ topic: 'priority', payload: { mac: client(1).mac, priority: 1 } }), null);
  });
});
