// "share the snapshot" (flows/default.json and the dashboard example): every tick's snapshot goes to
// the API, the allocation debug and the dashboard's pages as one object, not as one deep copy per
// wire (docs/default-flow.md). That is safe only while every node after it reads the snapshot and
// changes nothing: these tests run the share function's code, and each function node it feeds, on
// a real allocated snapshot, and fail if a function changes the message it was given.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AllocatorController } from '../../nodes/core/allocate/allocation';

const ROOT = join(__dirname, '..', '..');
type FlowNode = { id: string; type: string; name?: string; func?: string; initialize?: string; outputs?: number; wires?: string[][]; links?: string[] };

/** An allocated snapshot as the allocator makes it: 40 clients, both families, a few busy. */
function snapshot() {
  const controller = new AllocatorController({ downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 });
  const clients = Array.from({ length: 40 }, (_, i) => ({
    mac: `3c:22:fb:00:00:${i.toString(16).padStart(2, '0')}`,
    ip: `192.168.1.${10 + i}`,
    ip6: [`fd00::${i + 1}`],
    hostname: `device-${i}`,
    vendor: 'Apple, Inc.',
    deviceType: 'phone',
    icon: 'fa-mobile',
    priority: 1 + (i % 5),
    rxBps: i % 7 === 0 ? 30e6 : 20_000,
    txBps: i % 7 === 0 ? 4e6 : 5_000,
  }));
  return { topic: 'snapshot', payload: { ...controller.allocate({ ts: Date.now(), clients }), shaping: { mode: 'dry-run' } }, _msgid: 'm1' };
}

/** A function node's code as Node-RED runs it, with the sandbox's names a dashboard function uses. */
function run(n: FlowNode, msg: unknown, sent: unknown[][] = []) {
  const store = new Map<string, unknown>();
  const context = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) };
  const node = { id: n.id, name: n.name, outputCount: n.outputs ?? 1, send: (m: unknown[], clone?: boolean) => void sent.push([m, clone]), warn() {}, error() {}, log() {}, status() {}, done() {} };
  const RED = { util: { cloneMessage: (m: unknown) => structuredClone(m) } };
  if (n.initialize) new Function('node', 'context', 'flow', 'global', 'RED', n.initialize)(node, context, context, context, RED);
  return new Function('msg', 'node', 'context', 'flow', 'global', 'RED', 'env', n.func!)(msg, node, context, context, context, RED, { get: () => undefined });
}

for (const file of ['flows/default.json', 'examples/10-dashboard.json']) {
  describe(`${file}: the snapshot shared, not copied`, () => {
    const flow = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as FlowNode[];
    const byId = new Map(flow.map((n) => [n.id, n]));
    const share = flow.find((n) => n.type === 'function' && n.name === 'share the snapshot')!;

    it('sends the same object on each output, one send per output, none copied', () => {
      assert.ok(share, 'no "share the snapshot" function');
      const msg = snapshot();
      const sent: unknown[][] = [];
      assert.equal(run(share, msg, sent), null);
      assert.equal(sent.length, share.outputs);
      sent.forEach(([out, clone], i) => {
        assert.equal(clone, false, 'sent without the function node\'s copy');
        const outputs = out as unknown[];
        assert.equal(outputs.length, share.outputs);
        outputs.forEach((m, j) => assert.equal(m, j === i ? msg : null));
      });
      // each output is one wire to a link out that reaches one link in: Node-RED copies nothing
      for (const wires of share.wires!) {
        assert.equal(wires.length, 1);
        const out = byId.get(wires[0])!;
        assert.equal(out.type, 'link out');
        assert.equal(out.links!.length, 1, `${out.id} reaches one link in`);
        assert.equal(byId.get(out.links![0])!.wires!.flat().length, 1, `${out.links![0]} feeds one node`);
      }
    });

    it('every function it feeds reads the snapshot and changes nothing of it', () => {
      const fed = share.wires!.map((w) => byId.get(byId.get(byId.get(w[0])!.links![0])!.wires![0][0])!);
      const functions = fed.filter((n) => n.type === 'function');
      assert.ok(functions.length >= 2, `functions fed: ${fed.map((n) => n.name ?? n.type).join(', ')}`);
      for (const n of functions) {
        const msg = snapshot();
        const before = structuredClone(msg);
        run(n, msg);
        run(n, msg); // a second tick: what a function keeps between ticks must not be the snapshot's objects either
        assert.deepEqual(msg, before, `"${n.name}" changed the shared snapshot`);
      }
      // the others: EqualNet's API keeps it to answer from (nodes/equalnet-api.ts reads only), a debug node
      for (const n of fed.filter((n) => n.type !== 'function')) assert.ok(['equalnet-api', 'debug'].includes(n.type), `${n.id} (${n.type}) is not known to only read`);
    });
  });
}
