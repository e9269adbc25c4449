import assert from 'node:assert/strict';
import { AllocatorController } from '../../nodes/core/allocate/allocation';
import { diffTree, differs } from '../../nodes/core/shape/tc-diff';
import { planTree, TreeIds } from '../../nodes/core/shape/tc-plan';
import { type TreePlan } from '../../nodes/core/shape/tc-tree';
import { emptyTree, type InstalledTree } from '../../nodes/core/shape/tc-tree';
import { parseClasses, parseFilters, parseQdiscs } from '../../nodes/core/shape/tc-read';
import { manyClients, snapshotOf, THREE, tcFixture } from './tc-fixtures';

const OPTS = { thresholdPercent: 5 };

function planOf(payload: unknown, ids = new TreeIds(), leaf: 'bfifo' | 'fq_codel' = 'bfifo'): TreePlan {
  return planTree(payload, { iface: 'd0', leaf }, ids);
}

/** The tree as read back from the kernel after the recorded full batch. */
function recordedTree(): InstalledTree {
  const q = parseQdiscs(tcFixture('qdisc-show-down.json'));
  const dir = (direction: 'down' | 'up', dev: string, suffix: string): InstalledTree['down'] => ({
    direction,
    dev,
    root: 'ours',
    ...parseClasses(tcFixture(`class-show-${suffix}.txt`)),
    ...parseFilters(tcFixture(`filter-show-${suffix}.txt`)),
    leaves: direction === 'down' ? q.leaves : new Map([...parseClasses(tcFixture('class-show-up.txt')).classes.keys()].map((m) => [m, 'bfifo'])),
  });
  return { ifbExists: true, ingress: 'ours', down: dir('down', 'd0', 'down'), up: dir('up', 'eqn-d0', 'up') };
}

const lines = (commands: string[][]) => commands.map((c) => c.join(' '));

describe('tc-diff: the fewest commands from what is installed to the plan', () => {
  it('a tree read back from the kernel, planned again from the same snapshot: zero commands', () => {
    assert.deepEqual(diffTree(planOf(snapshotOf(THREE)), recordedTree(), OPTS).commands, []);
  });

  it('the same snapshot twice: zero commands (the node then starts no process)', () => {
    const ids = new TreeIds();
    const first = diffTree(planOf(snapshotOf(THREE), ids), emptyTree('d0', 'eqn-d0'), OPTS);
    assert.equal(first.commands.length, 40);
    assert.deepEqual(diffTree(planOf(snapshotOf(THREE), ids), first.next, OPTS).commands, []);
  });

  it('a rate change above the threshold: one `class change`, in that direction only', () => {
    const clients = structuredClone(THREE);
    clients[1].down[0] = 9e6;
    const out = lines(diffTree(planOf(snapshotOf(clients)), recordedTree(), OPTS).commands);
    assert.deepEqual(out, ['class change dev d0 parent eb:1 classid eb:bae3 htb rate 9000000bit ceil 20000000bit prio 2 quantum 8000']);
  });

  it('a change within the threshold: nothing; with threshold 0: sent', () => {
    const clients = structuredClone(THREE);
    clients[0].down[0] = Math.round(12345678 * 1.04);
    assert.deepEqual(diffTree(planOf(snapshotOf(clients)), recordedTree(), OPTS).commands, []);
    const exact = diffTree(planOf(snapshotOf(THREE)), emptyTree('d0', 'eqn-d0'), OPTS).next;
    assert.equal(diffTree(planOf(snapshotOf(clients)), exact, { thresholdPercent: 0 }).commands.length, 1);
    assert.equal(differs(100, 104, 5), false);
    assert.equal(differs(100, 106, 5), true);
  });

  it('a prio change alone is always sent', () => {
    const clients = structuredClone(THREE);
    clients[2].up[2] = 3;
    const out = lines(diffTree(planOf(snapshotOf(clients)), recordedTree(), OPTS).commands);
    assert.deepEqual(out, ['class change dev eqn-d0 parent eb:1 classid eb:b2b htb rate 18000000bit ceil 20000000bit prio 3 quantum 8000']);
  });

  it('a client gone: its filters, then its class, removed; nothing else', () => {
    const out = lines(diffTree(planOf(snapshotOf(THREE.slice(1))), recordedTree(), OPTS).commands);
    assert.deepEqual(out, [
      'filter del dev d0 parent eb: protocol ip prio 10 handle 100:65:800 u32',
      'filter del dev d0 parent eb: protocol ipv6 prio 11 handle 600:1:800 u32',
      'filter del dev d0 parent eb: protocol ipv6 prio 11 handle 600:ff:800 u32',
      'class del dev d0 classid eb:c371',
      'filter del dev eqn-d0 parent eb: protocol ip prio 10 handle 100:65:800 u32',
      'filter del dev eqn-d0 parent eb: protocol ipv6 prio 11 handle 600:1:800 u32',
      'filter del dev eqn-d0 parent eb: protocol ipv6 prio 11 handle 600:ff:800 u32',
      'class del dev eqn-d0 classid eb:c371',
    ]);
  });

  it('a new address: only its filters; a second address in a bucket gets the next item handle', () => {
    const clients = structuredClone(THREE);
    clients[1].ip6 = ['fd00:78::101']; // same last byte as fd00:77::101: bucket 1
    const out = lines(diffTree(planOf(snapshotOf(clients)), recordedTree(), OPTS).commands);
    assert.deepEqual(out, [
      'filter add dev d0 parent eb: protocol ipv6 prio 11 handle 600:1:801 u32 ht 600:1: match ip6 dst fd00:0078:0000:0000:0000:0000:0000:0101/128 flowid eb:bae3',
      'filter add dev eqn-d0 parent eb: protocol ipv6 prio 11 handle 600:1:801 u32 ht 600:1: match ip6 src fd00:0078:0000:0000:0000:0000:0000:0101/128 flowid eb:bae3',
    ]);
  });

  it('an address moving to another client: delete and add that filter only', () => {
    const clients = structuredClone(THREE);
    clients[1].ip = null;
    clients[2].ip = '10.77.0.102';
    const out = lines(diffTree(planOf(snapshotOf(clients)), recordedTree(), OPTS).commands);
    assert.equal(out.length, 4);
    assert.ok(out.every((l) => /^filter (del|add) .*(100:66:800)/.test(l)), out.join('\n'));
  });

  it('a better leaf than the installed one: `qdisc replace` under every class', () => {
    const out = lines(diffTree(planOf(snapshotOf(THREE), new TreeIds(), 'fq_codel'), recordedTree(), OPTS).commands);
    assert.equal(out.length, 8);
    assert.ok(out.every((l) => /^qdisc replace dev \S+ parent eb:[0-9a-f]+ fq_codel$/.test(l)));
  });

  it('a half-built tree of ours (no hash tables) is removed and built afresh', () => {
    const tree = recordedTree();
    tree.down.hashTables = false;
    tree.down.filters = [];
    const out = lines(diffTree(planOf(snapshotOf(THREE)), tree, OPTS).commands);
    assert.equal(out[0], 'qdisc del dev d0 root');
    assert.equal(out[1], 'qdisc replace dev d0 root handle eb: htb default ffff r2q 10');
    assert.ok(out.every((l) => / dev d0 /.test(l)));
  });

  it('changing one client\'s priority (allocator in front) sends only the classes whose rate, ceil, prio or weight really changed', () => {
    const controller = new AllocatorController({ downMbps: 1000, upMbps: 100, maxPriority: 5, minPercent: 1, headroomPercent: 20, defaultPriority: 3 });
    // 200 clients: half idle, half busy; the busy ones are contended
    const clients = manyClients(200).map((c, i) => ({ mac: c.mac, ip: c.ip, ip6: c.ip6, priority: 1 + (i % 5), rxBps: i % 2 ? 0 : 20e6, txBps: i % 2 ? 0 : 2e6 }));
    const ids = new TreeIds();
    const before = planOf(controller.allocate({ ts: 1, clients }), ids);
    const installed = diffTree(before, emptyTree('d0', 'eqn-d0'), OPTS).next;
    // a busy one (priority 3 -> 1): its share moves, and so do the other busy clients' shares
    const after = planOf(controller.setPriority({ mac: clients[2].mac, priority: 1 }).snapshot!, ids);
    const out = diffTree(after, installed, OPTS).commands;
    let expected = 0;
    for (const dir of ['down', 'up'] as const) {
      for (const [minor, c] of after[dir].classes) {
        const was = before[dir].classes.get(minor)!;
        if (was.prio !== c.prio || was.weight !== c.weight || differs(was.rateBps, c.rateBps, 5) || differs(was.ceilBps, c.ceilBps, 5)) expected++;
      }
    }
    assert.ok(expected >= 2, `the changed client's classes at least (got ${expected})`);
    assert.ok(expected < 2 * 201, 'not every class');
    assert.equal(out.length, expected);
    assert.ok(out.every((c) => c[0] === 'class' && c[1] === 'change'));
  });
});
