// Rules chained by alert-rule's output 3 get the very same snapshot object: it is read once.
import assert from 'node:assert/strict';
import { InputError } from '../../nodes/core/contract/errors';
import { readSnapshot } from '../../nodes/core/alerts/snapshot';
import { snap, T0, type C } from './alert-fixtures';

describe('alert-rule: a snapshot read once for every rule of a chain', () => {
  const now = () => T0;
  const clients: C[] = [
    { mac: 'a4:5e:60:00:00:0a', name: 'laptop', rx: 19, down: 20 },
    { mac: 'dc:a6:32:00:00:0b', name: 'pi', rx: 1, down: 20 },
  ];

  it('the same object gives the same reading; a list changed in place, or another object, is read again', () => {
    const payload = snap(T0, clients);
    const first = readSnapshot(payload, now, false);
    assert.equal(readSnapshot(payload, now, true), first, 'a second rule takes the first reading');
    assert.equal(first.clients.length, 2);
    assert.equal(first.clients[0].downBps, 19e6);
    // a function node between two rules that changes the list: read again, never a stale reading
    payload.clients.pop();
    const again = readSnapshot(payload, now, false);
    assert.notEqual(again, first);
    assert.equal(again.clients.length, 1);
    const copy = structuredClone(payload);
    assert.notEqual(readSnapshot(copy, now, false), again);
  });

  it('a rule that needs the allocation still refuses a snapshot without one, after a rule that did not need it read it', () => {
    const payload = snap(T0, clients);
    for (const c of payload.clients as Array<{ alloc?: unknown }>) delete c.alloc;
    assert.equal(readSnapshot(payload, now, false).clients.length, 2);
    assert.throws(() => readSnapshot(payload, now, true), (err: InputError) => err instanceof InputError && /payload\.clients\[0\]\.alloc: missing/.test(err.message));
  });

  it('a malformed snapshot is refused by every rule, not remembered as read', () => {
    const payload = { ts: T0, clients: [{ mac: 'not a mac' }] };
    for (let k = 0; k < 2; k++) assert.throws(() => readSnapshot(payload, now, false), /not a MAC address/);
  });
});
