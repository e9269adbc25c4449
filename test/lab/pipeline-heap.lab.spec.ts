/**
 * The whole process over a long run (issue 17): its heap does not grow. Not timed.
 *
 * Real: Node-RED 4.1 started as `npm start` starts it, with the shipped default flow on a LAN of
 * 250 devices in network namespaces this test creates (bench/pipeline-lan.ts: 250 permanent
 * neighbour entries on a bridge, a leases file, UDP traffic from a changing tenth of the devices);
 * arp-discover, iface-counter (per-client counting with nftables) and tc-shaper (enforce, HTB)
 * work in that namespace; usage-store writes a real SQLite file. The tick is clicked as the
 * editor's inject button does, 300 times (ten minutes of a router at one tick per 2 s, twice the
 * bench's five-minute window), paced by the pipeline itself: the next click once the tick before
 * is through. Heap after two full GCs (the bench's probe node) after tick 40, when the JIT, the
 * shaping, the history's first minutes and the registry are in place, and after the last: it may
 * grow by at most 5 MB (HEAP_GROWTH_MB, the bench's "flat"). A leak of one snapshot a tick,
 * 250 clients, would be ~60 MB here.
 * Needs root.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { benchFlow, getJson, heapAfterGc, runCleanups, startHome, stopHome, type Started } from '../../bench/pipeline.bench';
import { PipelineLan } from '../../bench/pipeline-lan';
import { nodeFlags } from '../../scripts/node-red-home';
import { assertRoot } from './lab';

const DEVICES = 250;
/** EQUALNET_HEAP_TICKS: a longer run, by hand. */
const TICKS = Number(process.env.EQUALNET_HEAP_TICKS ?? 300);
const WARM_TICKS = 40;
const HEAP_GROWTH_MB = 5;
const MB = 2 ** 20;

describe(`the whole pipeline over ${TICKS} ticks (lab): the heap stays bounded`, function () {
  this.timeout(900_000);
  let lan: PipelineLan;
  let s: Started;
  let through = 0;

  before(async function () {
    assertRoot();
    lan = new PipelineLan(DEVICES);
    lan.build();
    lan.startTraffic(join(__dirname, '../../bench/pipeline-traffic.js'), { downBps: 20e6, upBps: 4e6, phaseSeconds: 30 });
    s = await startHome('heap', benchFlow(lan), lan.iface, nodeFlags());
  });

  after(async () => {
    if (s) await stopHome(s).catch(() => undefined);
    lan?.remove();
    runCleanups();
  });

  /** Clicks the tick inject and waits until a tick is through the pipeline (usage-store done, the probe counts). */
  async function tick(): Promise<void> {
    const before = through;
    const res = await fetch(`${s.base}/inject/equalnet.tick`, { method: 'POST' });
    assert.equal(res.status, 200, `inject: ${res.status}`);
    for (let waited = 0; through <= before; waited += 50) {
      // the regular 2 s tick runs too: any tick through after the click will do
      if (waited > 60_000) throw new Error(`no tick through within 60 s; log:\n${s.nodeRed.log().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
      through = (await getJson<{ count: number }>(s, '/equalnet-bench/through')).count;
    }
  }

  it(`250 devices, enforce, per-client counting, the dashboard's flow: the heap after tick ${TICKS} is within ${HEAP_GROWTH_MB} MB of the heap after tick ${WARM_TICKS}`, async () => {
    // every device in the allocation the API serves
    for (let k = 0; ; k++) {
      const status = await getJson<{ total_clients: number }>(s, '/api/status');
      if (status.total_clients >= DEVICES) break;
      if (k > 60) assert.fail(`after 60 ticks the API counts ${status.total_clients} of ${DEVICES} clients`);
      await tick();
    }
    for (let k = 0; k < WARM_TICKS; k++) await tick();
    const warm = await heapAfterGc(s);
    const samples: string[] = [];
    for (let k = WARM_TICKS; k < TICKS; k++) {
      await tick();
      if ((k + 1) % 100 === 0) samples.push(`${k + 1}: ${((await heapAfterGc(s)) / MB).toFixed(1)}`);
    }
    const end = await heapAfterGc(s);
    console.log(`      (heap after GC by tick, MB: ${samples.join(', ')})`);
    const clients = await getJson<unknown[]>(s, '/api/clients');
    assert.equal(clients.length, DEVICES, 'still every device');
    const growth = (end - warm) / MB;
    console.log(`      (heap after GC: ${(warm / MB).toFixed(1)} MB after tick ${WARM_TICKS}, ${(end / MB).toFixed(1)} MB after tick ${TICKS}: ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB over ${through} ticks)`);
    assert.ok(growth <= HEAP_GROWTH_MB, `the heap grew by ${growth.toFixed(1)} MB from tick ${WARM_TICKS} to tick ${TICKS}`);
    assert.ok(through >= TICKS, `only ${through} ticks went through`);
  });
});
