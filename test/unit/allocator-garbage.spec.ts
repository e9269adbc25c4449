/**
 * priority-allocator with less garbage a tick (issue 17): a client of iface-counter's fields
 * copied by one literal, and a client's allocation objects handed out again while every figure in
 * them is the same. Same outputs: test/unit/allocator-scenario's 800 ticks (joins, leaves, swaps,
 * busy crowds, unmeasured clients, priorities by command and registry, caps and throttles, config
 * changes) give, as JSON, the very snapshots the code of commit 76deb6d gave (SHA-256 recorded by
 * running that code on the same scenario), with every output deep-frozen as it is made.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { AllocatorController, sameAlloc } from '../../nodes/core/allocate/allocation';
import { allocatedClient, METERED_CLIENT_KEYS } from '../../nodes/core/allocate/client-copy';
import type { Client } from '../../nodes/core/contract/types';
import { runAllocatorScenario } from './allocator-scenario';

const BEFORE = { snapshots: 815, sha256: 'cbebfc769db9b3773467557ca562c1cac2ec0e52aa6c4664f3aa5213e8e196f0' };

const metered = (i: number): Client => {
  const c = {
    mac: `0e:00:00:00:00:${i.toString(16).padStart(2, '0')}`,
    ip: `10.2.0.${i}`,
    ip6: [],
    hostname: 'h',
    vendor: null,
    deviceType: 'phone',
    icon: 'phone',
    name: null,
    randomizedMac: false,
    firstSeen: 1.7e12,
    lastSeen: 1.7e12 + 2000,
  } as Client;
  const out = Object.assign({}, c);
  out.rxBps = 1000 * i;
  out.txBps = 500 * i;
  return out;
};

describe('priority-allocator: less garbage, the same snapshots', () => {
  it('800 ticks of a changing LAN give the snapshots the code before gave, and nothing sent is changed later', function () {
    this.timeout(60_000);
    const out = runAllocatorScenario(AllocatorController);
    assert.equal(out.length, BEFORE.snapshots);
    assert.equal(createHash('sha256').update(out.join('\n')).digest('hex'), BEFORE.sha256);
  });

  it('a client whose allocation did not change gets last tick\'s allocation object again (frozen: never changed), a new one when a figure changes', () => {
    const controller = new AllocatorController({ downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 20, defaultPriority: 3 });
    const idle = (rx: number) => ({ ts: 1, clients: [metered(1), Object.assign(metered(2), { rxBps: rx })] });
    const first = controller.allocate(idle(2000));
    Object.freeze(first.clients[0].alloc!.down);
    Object.freeze(first.clients[0].alloc!.up);
    Object.freeze(first.clients[0].alloc);
    const second = controller.allocate(idle(2000));
    assert.equal(second.clients[0].alloc, first.clients[0].alloc, 'the same object: at its floor both ticks');
    assert.notEqual(second.clients[0], first.clients[0], 'the client itself is a new object each tick');
    const busy = controller.allocate(idle(90e6));
    assert.notEqual(busy.clients[1].alloc, second.clients[1].alloc);
    assert.deepEqual(busy.clients[0].alloc, JSON.parse(JSON.stringify(busy.clients[0].alloc)));
  });

  it('sameAlloc: any figure that differs makes a new allocation', () => {
    const a = { rateBps: 1, ceilBps: 2, prio: 1, expectedBps: 3, weight: 4, busy: false };
    assert.equal(sameAlloc(a, 1, 2, 3, 4, false), true);
    assert.equal(sameAlloc(undefined, 1, 2, 3, 4, false), false);
    assert.equal(sameAlloc(a, 9, 2, 3, 4, false), false);
    assert.equal(sameAlloc(a, 1, 9, 3, 4, false), false);
    assert.equal(sameAlloc(a, 1, 2, 9, 4, false), false);
    assert.equal(sameAlloc(a, 1, 2, 3, 9, false), false);
    assert.equal(sameAlloc(a, 1, 2, 3, 4, true), false);
    assert.equal(sameAlloc({ ...a, prio: 0 }, 1, 2, 3, 4, false), false);
  });

  it('allocatedClient: iface-counter\'s fields by the literal, any other client by Object.assign; the same fields, values and order', () => {
    const alloc = { down: { rateBps: 1, ceilBps: 2, prio: 1 }, up: { rateBps: 1, ceilBps: 2, prio: 1 } };
    const withPriority = Object.assign(Object.assign({}, metered(3), { priority: 2 }));
    const others: Client[] = [
      metered(3),
      Object.assign({ priority: 2 }, metered(4)),
      withPriority,
      { mac: 'AA:00:00:00:00:01', rxBps: 1 },
      Object.assign(Object.create({ inherited: 1 }), metered(5)),
      Object.assign(metered(6), { [Symbol('s')]: 1 }),
    ];
    assert.deepEqual(Object.keys(metered(3)), METERED_CLIENT_KEYS);
    for (const c of others) {
      Object.freeze(c);
      const out = allocatedClient(c, 'aa:00:00:00:00:01', 4, alloc);
      const expected = Object.assign({}, c, { mac: 'aa:00:00:00:00:01', priority: 4, alloc });
      assert.deepStrictEqual(out, expected);
      assert.equal(JSON.stringify(out), JSON.stringify(expected));
    }
  });
});
