// The demo's pure parts: the household (real vendor blocks, a schedule that makes the alerts
// fire), the flows it deploys (the shipped default flow with only the demo's settings changed),
// and the recording (what is recorded is what is played, times moved to now, bounded).
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultOuiIndex } from '../../nodes/core/discover/oui';
import { linkProblem } from '../../nodes/core/contract/settings';
import { liveFlow, replayFlow, REPLAY_PATH, type FlowNode } from '../../demo/flow';
import { DEMO_PREFIX, HOUSEHOLD, ISP, LINK } from '../../demo/household';
import { loopMessages, MAX_DEVICES, parseRecording, Recorder } from '../../demo/recording';
import { NS_PREFIX } from '../lab/lab';

const ROOT = join(__dirname, '..', '..');
const base = JSON.parse(readFileSync(join(ROOT, 'flows', 'default.json'), 'utf8')) as FlowNode[];
const byId = (flow: FlowNode[], id: string) => flow.find((n) => n.id === id)!;

describe('demo: the household', () => {
  it('has eight or more devices with the vendors their MACs are registered to, one private MAC', () => {
    assert.ok(HOUSEHOLD.length >= 8);
    const oui = defaultOuiIndex();
    for (const m of HOUSEHOLD) assert.equal(oui.lookup(m.mac)?.vendor ?? null, m.expectedVendor, `${m.name} ${m.mac}`);
    assert.equal(HOUSEHOLD.filter((m) => m.expectedVendor === null).length, 1);
    assert.equal(new Set(HOUSEHOLD.map((m) => m.mac)).size, HOUSEHOLD.length);
    assert.equal(new Set(HOUSEHOLD.map((m) => m.hostname)).size, HOUSEHOLD.length);
  });

  it('does what a home does, and one device arrives and one leaves within the first minute', () => {
    const roles = new Set(HOUSEHOLD.map((m) => m.role));
    for (const r of ['video-call', 'game-download', 'stream-4k', 'backup', 'browsing', 'heartbeat'] as const) assert.ok(roles.has(r), r);
    const joins = HOUSEHOLD.filter((m) => m.joinsAt !== undefined);
    const leaves = HOUSEHOLD.filter((m) => m.leavesAt !== undefined);
    assert.equal(joins.length, 1);
    assert.equal(leaves.length, 1);
    // after new_device's 30 s of first-start baseline, and gone (absence 12 s + a probe) before 60 s
    assert.ok(joins[0].joinsAt! > 30 && joins[0].joinsAt! < 45);
    assert.ok(leaves[0].leavesAt! + 12 + 5 < 60);
  });

  it('has an ISP line a little above the link EqualNet is told, which the config accepts', () => {
    assert.ok(ISP.downMbps > LINK.downMbps && ISP.downMbps <= LINK.downMbps * 1.2);
    assert.ok(ISP.upMbps > LINK.upMbps && ISP.upMbps <= LINK.upMbps * 1.2);
    assert.equal(linkProblem(LINK.upMbps, 64), null);
    assert.equal(linkProblem(LINK.downMbps, 64), null);
  });

  it('names its namespaces apart from the lab tests', () => {
    assert.notEqual(DEMO_PREFIX, NS_PREFIX);
    assert.match(DEMO_PREFIX, /^[a-z]{2,10}-$/);
  });
});

describe('demo: the flows it deploys', () => {
  it('live: the default flow in enforce, per-client counting, the router namespace; nothing else changed', () => {
    const flow = liveFlow(base, { routerNs: 'eqdemo-1-ab12-r', iface: 'br-lan', leasesFile: '/tmp/x/dnsmasq.leases' });
    assert.equal(flow.length, base.length);
    const config = byId(flow, 'equalnet.config');
    assert.equal(config.mode, 'enforce');
    assert.equal(config.iface, 'br-lan');
    assert.equal(config.downMbps, String(LINK.downMbps));
    assert.equal(byId(flow, 'equalnet.counter').perClient, true);
    for (const id of ['equalnet.discover', 'equalnet.counter', 'equalnet.shaper']) assert.equal(byId(flow, id).netns, 'eqdemo-1-ab12-r', id);
    assert.equal(byId(flow, 'equalnet.store').resolutionSec, '10');
    const changed = new Set(['equalnet.config', 'equalnet.discover', 'equalnet.counter', 'equalnet.shaper', 'equalnet.store']);
    for (const n of base) if (!changed.has(n.id)) assert.deepEqual(byId(flow, n.id), n, n.id);
    // the shipped flow itself is untouched
    assert.equal(byId(base, 'equalnet.config').mode, 'dry-run');
  });

  it('live with a recorder: snapshots and events also go to the demo process', () => {
    const flow = liveFlow(base, { routerNs: 'r', iface: 'br-lan', leasesFile: '/l', recorderUrl: 'http://127.0.0.1:4000/' });
    assert.ok((byId(flow, 'equalnet.counter').wires as string[][])[0].includes('equalnet.demo.record'));
    assert.ok((byId(flow, 'equalnet.discover').wires as string[][])[1].includes('equalnet.demo.record'));
    assert.equal(byId(flow, 'equalnet.demo.post').url, 'http://127.0.0.1:4000/');
  });

  it('replay: dry-run, the tick off, snapshots in at the allocator, events at the alert rules, a banner', () => {
    const flow = replayFlow(base, { downMbps: 40, upMbps: 10 }, 'br-lan');
    assert.equal(byId(flow, 'equalnet.config').mode, 'dry-run');
    assert.equal(byId(flow, 'equalnet.tick').d, true);
    assert.equal(byId(flow, 'equalnet.demo.replay.in').url, REPLAY_PATH);
    assert.deepEqual(byId(flow, 'equalnet.demo.replay.split').wires, [['equalnet.allocator'], ['equalnet.alert.new', 'equalnet.alert.gone', 'equalnet.events']]);
    const banner = byId(flow, 'equalnet.demo.replay.banner');
    assert.equal(banner.templateScope, 'global');
    assert.match(String(banner.format), /Replay.*nothing is shaped/);
    const ids = new Set(flow.map((n) => n.id));
    for (const n of flow) for (const out of (n.wires as string[][] | undefined) ?? []) for (const to of out) assert.ok(ids.has(to), `${n.id} -> ${to}`);
  });
});

describe('demo: the recording', () => {
  const snapshot = (ts: number, clients: Array<[string, number, number]>) => ({
    topic: 'snapshot',
    payload: { ts, iface: 'br-lan', totals: { rxBps: 1e6, txBps: 2e5 }, clients: clients.map(([mac, rx, tx]) => ({ mac, ip: '10.77.0.100', ip6: ['fd00:77::101'], hostname: 'h', vendor: 'V', randomizedMac: false, firstSeen: 1, lastSeen: ts, rxBps: rx, txBps: tx })) },
  });

  it('plays back what it recorded, times moved to the loop start', () => {
    const r = new Recorder(LINK);
    r.add(snapshot(10_000, [['aa:bb:cc:00:00:01', 1000, 10]]));
    r.add({ topic: 'joined', payload: { ts: 11_000, client: { mac: 'aa:bb:cc:00:00:02', ip: '10.77.0.101', hostname: 'guest' } } });
    r.add(snapshot(12_000, [['aa:bb:cc:00:00:01', 2000, 20], ['aa:bb:cc:00:00:02', 3000, 30]]));
    const rec = parseRecording(JSON.stringify(r.recording()), 'test');
    assert.equal(rec.durationMs, 4000);
    const played = loopMessages(rec, 1_000_000);
    assert.deepEqual(played.map((p) => [p.at, p.message.topic]), [[0, 'snapshot'], [1000, 'joined'], [2000, 'snapshot']]);
    const last = played[2].message as { payload: { ts: number; clients: Array<Record<string, unknown>>; totals: unknown } };
    assert.equal(last.payload.ts, 1_002_000);
    assert.deepEqual(last.payload.totals, { rxBps: 1e6, txBps: 2e5 });
    assert.deepEqual(last.payload.clients.map((c) => [c.mac, c.rxBps, c.txBps, c.hostname, c.lastSeen]), [
      ['aa:bb:cc:00:00:01', 2000, 20, 'h', 1_002_000],
      ['aa:bb:cc:00:00:02', 3000, 30, 'h', 1_002_000],
    ]);
    assert.equal(last.payload.clients[0].firstSeen, 1_000_000);
  });

  it('refuses what is not a recorder message, and bounds the devices it keeps', () => {
    const r = new Recorder(LINK);
    assert.throws(() => r.add({ topic: 'tick', payload: {} }), /unknown topic/);
    assert.throws(() => r.add('x'), /not a \{ topic, payload \}/);
    assert.throws(() => r.add({ topic: 'snapshot', payload: { clients: 'no' } }), /without clients/);
    const many = Array.from({ length: MAX_DEVICES + 50 }, (_, i) => [`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, 1, 1] as [string, number, number]);
    r.add(snapshot(1, many));
    assert.equal(Object.keys(r.recording().devices).length, MAX_DEVICES);
    assert.equal(r.recording().ticks[0].clients.length, MAX_DEVICES);
  });

  it('a damaged recording file is refused with the reason', () => {
    assert.throws(() => parseRecording('{', 'f.json'), /f\.json: not JSON/);
    assert.throws(() => parseRecording('{"version":2}', 'f.json'), /version must be 1/);
    assert.throws(() => parseRecording('{"version":1,"ticks":[]}', 'f.json'), /ticks/);
  });

  it('the shipped recording is small, readable by anyone, and has the whole household in it', () => {
    const file = join(ROOT, 'demo', 'recording.json');
    const st = statSync(file);
    assert.ok(st.size < 200_000, `${st.size} bytes`);
    assert.equal(st.mode & 0o004, 0o004, 'readable by others (the replay runs as any user)');
    const rec = parseRecording(readFileSync(file, 'utf8'), file);
    for (const m of HOUSEHOLD) assert.ok(rec.devices[m.mac], `${m.name} in the recording`);
    assert.ok(rec.events.some((e) => e.event === 'joined' && e.mac === HOUSEHOLD.find((m) => m.joinsAt)!.mac));
    assert.ok(rec.events.some((e) => e.event === 'left' && e.mac === HOUSEHOLD.find((m) => m.leavesAt)!.mac));
    assert.ok(rec.durationMs >= 60_000);
  });
});
