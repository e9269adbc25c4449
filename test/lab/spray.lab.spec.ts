/**
 * The big one: a device spraying 100,000 distinct MACs at the real pipeline, while three real
 * devices keep using the LAN.
 *
 * Real: a Node-RED runtime (node-red-node-test-helper, in-process) running arp-discover →
 * iface-counter (per client, nftables) → priority-allocator → tc-shaper (enforce, HTB + IFB) →
 * alert-rule (client_cap), every command in a network namespace this test creates: a bridge br0
 * (the LAN), three client namespaces on veths that ping the router all the time (real neighbour
 * entries, real traffic through their HTB classes), the kernel's tc, nft and neighbour table.
 * Fed: the spray. The kernel's neighbour table cannot hold 100,000 entries (gc_thresh3 is 1,024
 * for the whole machine), so the MACs are offered in 100 waves of 1,000 with `ip -batch`
 * (`neigh replace … nud permanent`, the previous wave deleted): permanent entries are exempt from
 * the machine-wide garbage-collection count, so other users of this machine are not disturbed,
 * and gc_thresh is never changed. Each wave is one pipeline tick.
 * Settings for a short run: client cap 200, 3,000 new MACs a minute, gone after 60 s (a device's
 * REACHABLE entry is re-confirmed about every 30 s, so less would make the real devices flicker).
 * Needs root.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { catchNodeModule, configNodeModule, getNode, load, nextMessage, record, startServer, stopServer, type FlowNode } from '../helpers/node-red';
import { assertRoot } from './lab';

const arpModule = require('../../nodes/arp-discover');
const counterModule = require('../../nodes/iface-counter');
const allocatorModule = require('../../nodes/priority-allocator');
const shaperModule = require('../../nodes/tc-shaper');
const alertModule = require('../../nodes/alert-rule');

// not the lab's eqlab- prefix: a lab run elsewhere on the machine cleans those up
const TAG = `${process.pid % 100000}${randomBytes(1).toString('hex')}`;
const NS = `eqspray-${TAG}`;
const CLIENT_NS = [1, 2, 3].map((i) => `eqspray-${TAG}-c${i}`);
// node-red-node-test-helper keeps every send/status/log call (sinon spies) for assertions: the
// harness's memory, not the product's; its history is reset each tick so the heap shows ours
// eslint-disable-next-line @typescript-eslint/no-require-imports
const testHelper = require('node-red-node-test-helper') as { _sandbox: { resetHistory(): void } };
const CAP = 200;
const WAVES = 100;
const WAVE = 1000;
const TICK_GAP_MS = 700;
const KNOWN = [1, 2, 3].map((i) => ({ ip: `10.99.0.1${i}`, mac: `3c:22:fb:00:99:0${i}` }));

const sh = (argv: string[], input?: string) => execFileSync(argv[0], argv.slice(1), { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] }).toString();
const inNs = (...argv: string[]) => sh(['ip', 'netns', 'exec', NS, ...argv]);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
};

const sprayMac = (n: number) => `02:5e:${((n >> 16) & 255).toString(16).padStart(2, '0')}:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}:00`;
/** Addresses 10.99.4.0 – 10.99.7.231 (1,000 per wave, reused by the next wave with other MACs). */
const sprayIp = (k: number) => `10.99.${4 + (k >> 8)}.${k & 255}`;

function flow(): FlowNode[] {
  return [
    { id: 't1', type: 'tab', label: 'spray' },
    { id: 'cfg', type: 'equalnet-config', iface: 'br0', downMbps: '100', upMbps: '20', maxPriority: '5', minPercent: '10', clientCap: String(CAP), mode: 'enforce', dbFile: 'x.db' },
    { id: 'arp', type: 'arp-discover', z: 't1', config: 'cfg', probe: false, probeInterval: '30', absence: '60', newMacs: '3000', leasesFile: '', reverseDns: false, watch: false, deviceTypes: '[]', netns: NS, wires: [['counter'], []] },
    { id: 'counter', type: 'iface-counter', z: 't1', config: 'cfg', perClient: true, smoothing: '0', netns: NS, wires: [['alloc']] },
    { id: 'alloc', type: 'priority-allocator', z: 't1', config: 'cfg', defaultPriority: '3', headroomPercent: '20', wires: [['shaper']] },
    { id: 'shaper', type: 'tc-shaper', z: 't1', config: 'cfg', thresholdPercent: '5', keepShaping: false, netns: NS, wires: [['out', 'cap']] },
    { id: 'cap', type: 'alert-rule', z: 't1', rule: 'client_cap', holdSec: '2', wires: [['alerts'], []] },
    { id: 'out', type: 'helper', z: 't1' },
    { id: 'alerts', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
  ];
}

type Client = { mac: string; ip: string | null };
type Out = { payload: { clients: Client[]; capped?: { limit: number; seen: number; left: number }; limited?: { ignored: number }; shaping: { error: string | null; clients: number; applied: boolean } } };

/** The class a filter sends `ip`'s download to, e.g. "eb:4a1f": the filter (one block of `tc filter show`) that matches its address. */
function classOf(ip: string): string | null {
  const hex = ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('');
  const blocks = inNs('tc', 'filter', 'show', 'dev', 'br0').split(/\n(?=filter )/);
  const mine = blocks.filter((b) => b.includes(`match ${hex}/ffffffff at 16`));
  assert.ok(mine.length <= 1, `${ip}: ${mine.length} filters`);
  return mine.length ? (/flowid (eb:[0-9a-f]+)/.exec(mine[0])?.[1] ?? null) : null;
}

const sentBytes = (classid: string) => Number(/Sent (\d+) bytes/.exec(inNs('tc', '-s', 'class', 'show', 'dev', 'br0', 'classid', classid))?.[1] ?? -1);
const nftElements = (set: string) =>
  ((JSON.parse(inNs('nft', '-j', 'list', 'set', 'inet', 'equalnet_acct_br0', set)) as { nftables: { set?: { elem?: unknown[] } }[] }).nftables.find((i) => i.set)!.set!.elem ?? []).length;
const htbClasses = () => inNs('tc', 'class', 'show', 'dev', 'br0').split('\n').filter((l) => l.startsWith('class htb')).length;

describe('spray lab: 100,000 MACs over time against the real pipeline, three real devices keep their shaping', function () {
  this.timeout(300_000);
  const pings: ChildProcess[] = [];

  before(async () => {
    assertRoot();
    sh(['ip', 'netns', 'add', NS]);
    inNs('ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs('ip', 'addr', 'add', '10.99.0.1/16', 'dev', 'br0');
    inNs('ip', 'link', 'set', 'br0', 'up');
    CLIENT_NS.forEach((ns, i) => {
      sh(['ip', 'netns', 'add', ns]);
      sh(['ip', '-n', NS, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh(['ip', '-n', NS, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'address', KNOWN[i].mac]);
      sh(['ip', '-n', ns, 'addr', 'add', `${KNOWN[i].ip}/16`, 'dev', 'eth0']);
      sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      // a device in use: it talks to the router all the time (real entries, real traffic)
      const ping = spawn('ip', ['netns', 'exec', ns, 'ping', '-q', '-i', '0.2', '-s', '1000', '10.99.0.1'], { stdio: 'ignore' });
      pings.push(ping);
    });
    // until the router's entries for all three are confirmed (DELAY → REACHABLE takes about 5 s;
    // longer on a busy machine): polled, not a fixed wait
    const deadline = Date.now() + 60_000;
    for (;;) {
      const table = JSON.parse(inNs('ip', '-j', 'neigh', 'show', 'dev', 'br0')) as { dst: string; state: string[] }[];
      if (KNOWN.every((k) => table.some((e) => e.dst === k.ip && e.state.includes('REACHABLE')))) break;
      if (Date.now() > deadline) throw new Error(`the three devices' entries are not REACHABLE: ${JSON.stringify(table)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await startServer();
  });

  after(async () => {
    for (const p of pings) p.kill('SIGTERM');
    await stopServer().catch(() => undefined);
    for (const ns of [...CLIENT_NS, NS]) {
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        /* gone */
      }
    }
  });

  it('stays within every cap, keeps ticking, keeps the real devices on their classes, and raises one cap alert', async () => {
    await load([catchNodeModule, configNodeModule, arpModule, counterModule, allocatorModule, shaperModule, alertModule], flow());
    record('out', 'alerts', 'caught');
    // a tick: the snapshot out of tc-shaper; if none comes, the error a node raised (the Catch node has it)
    const tick = async (): Promise<Out> => {
      testHelper._sandbox.resetHistory();
      const out = nextMessage<Out>('out', 60_000);
      getNode('arp').receive({ payload: Date.now() } as never);
      try {
        return await out;
      } catch (err) {
        const caught = await nextMessage<{ error: { message: string; source: { type: string } } }>('caught', 10).catch(() => null);
        throw caught ? new Error(`${caught.error.source.type}: ${caught.error.message}`) : err;
      }
    };
    // the owner named the three devices (as usage-store's registry would tell arp-discover)
    for (const k of KNOWN) getNode('arp').receive({ topic: 'device', payload: { mac: k.mac, priority: 1 } } as never);

    const first = await tick();
    assert.equal(first.payload.shaping.error, null);
    const classes = KNOWN.map((k) => classOf(k.ip));
    for (const [i, c] of classes.entries()) assert.ok(c, `${KNOWN[i].ip} has a class`);
    // what each real device's classes sent: a class is made afresh when its device is raised from a
    // small rate to a share (tc-plan's freshClassNeeded), so a device may have had several
    const sent = KNOWN.map(() => new Map<string, { first: number; last: number }>());
    const count = () =>
      KNOWN.forEach((k, i) => {
        const c = classOf(k.ip);
        if (!c) return;
        const bytes = sentBytes(c);
        const seen = sent[i].get(c);
        if (seen) seen.last = Math.max(seen.last, bytes);
        else sent[i].set(c, { first: bytes, last: bytes });
      });
    count();
    /** The download class id the shaper keeps for `mac` (its remembered table), as tc prints it. */
    const remembered = () => getNode('shaper').context().get('classIds') as { down: [string, number][]; up: [string, number][] };
    const keptClass = (mac: string) => {
      const entry = remembered().down.find(([m]) => m === mac);
      return entry ? `eb:${entry[1].toString(16)}` : null;
    };

    let previous: string[] = [];
    let heapAt10 = 0;
    let maxCapped = 0;
    let ignored = 0;
    const shaped = new Set<string>();
    const started = Date.now();
    for (let w = 0; w < WAVES; w++) {
      const batch: string[] = [];
      for (let k = 0; k < previous.length; k++) batch.push(`neigh del ${sprayIp(k)} dev br0`);
      previous = [];
      for (let k = 0; k < WAVE; k++) {
        batch.push(`neigh replace ${sprayIp(k)} lladdr ${sprayMac(w * WAVE + k)} dev br0 nud permanent`);
        previous.push(sprayIp(k));
      }
      sh(['ip', '-n', NS, '-batch', '-'], batch.join('\n') + '\n');
      // spread over more than the 60 s absence: the first sprayed MACs leave, others take their
      // places (class ids recycled, nft elements replaced) while the spray goes on
      await new Promise((r) => setTimeout(r, TICK_GAP_MS));
      const out = await tick();
      const s = out.payload;
      assert.equal(s.shaping.error, null, `wave ${w}: ${s.shaping.error}`);
      assert.ok(s.clients.length <= CAP, `wave ${w}: ${s.clients.length} clients`);
      assert.ok(s.shaping.clients <= CAP);
      for (const k of KNOWN) assert.ok(s.clients.some((c) => c.mac === k.mac), `wave ${w}: ${k.mac} is in the snapshot`);
      maxCapped = Math.max(maxCapped, s.capped?.seen ?? 0);
      for (const c of s.clients) shaped.add(c.mac);
      ignored += s.limited?.ignored ?? 0;
      if (w % 10 === 9) {
        assert.ok(htbClasses() <= CAP + 2, `wave ${w}: ${htbClasses()} HTB classes`);
        for (const set of ['up4', 'down4']) assert.ok(nftElements(set) <= CAP, `wave ${w}: ${set}`);
        for (const dir of ['down', 'up'] as const) assert.ok(remembered()[dir].length <= CAP + 1024, `wave ${w}: ${remembered()[dir].length} ${dir} class ids remembered`);
        // each real device is still classified into the class the shaper keeps for its MAC (read
        // again for up to 2 s: a tick of arp-discover's own may be between its batch and its context)
        const filtered = () => KNOWN.map((k) => classOf(k.ip));
        const kept = () => KNOWN.map((k) => keptClass(k.mac));
        for (let t = 0; t < 20 && JSON.stringify(filtered()) !== JSON.stringify(kept()); t++) await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(filtered(), kept(), `wave ${w}: the real devices keep their classes`);
        count();
      }
      if (w === 9) heapAt10 = heapMb();
      if (process.env.SPRAY_DEBUG && w % 10 === 9) console.log(`wave ${w + 1}: heap ${heapMb().toFixed(1)} MB`);
    }
    const seconds = (Date.now() - started) / 1000;
    const heapEnd = heapMb();
    count();
    console.log(`      ${WAVES * WAVE} MACs in ${WAVES} ticks, ${seconds.toFixed(0)} s; most seen at once ${maxCapped}; held back ${ignored} (summed over ticks); ${shaped.size} different clients shaped; heap ${heapAt10.toFixed(1)} MB after 10 waves, ${heapEnd.toFixed(1)} MB after ${WAVES}`);

    assert.ok(maxCapped > CAP, 'the cap was reached');
    assert.ok(ignored > 0, 'the new-MAC limit held some back');
    assert.ok(shaped.size > CAP, `clients came and went under the cap (${shaped.size} different ones shaped)`);
    // memory: bounded, not growing with the MACs offered (90,000 more between the two readings)
    assert.ok(heapEnd - heapAt10 < 5, `heap grew ${(heapEnd - heapAt10).toFixed(1)} MB from wave 10 to ${WAVES}`);
    // the real devices were shaped all along: their download went through their own classes
    for (let i = 0; i < KNOWN.length; i++) {
      const through = [...sent[i].values()].reduce((sum, c) => sum + c.last - c.first, 0);
      assert.ok(through > 0, `${KNOWN[i].ip}: ${through} bytes through its classes ${[...sent[i].keys()].join(', ')}`);
    }
    // exactly one cap alert, raised (the condition lasted the whole run: no "cleared")
    const alerts: { alert: { type: string; state: string } }[] = [];
    for (;;) {
      try {
        alerts.push(await nextMessage<{ alert: { type: string; state: string } } & { payload: unknown }>('alerts', 500));
      } catch {
        break;
      }
    }
    assert.deepEqual(alerts.map((a) => `${a.alert.type} ${a.alert.state}`), ['client_cap raised']);
  });
});
