// The adapter every node uses (nodes/lib/adapter.ts), on a stand-in for a Node-RED node (an
// EventEmitter with status/error/warn): the real runtime runs it in test/node/*.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Node } from 'node-red';
import { adapt } from '../../nodes/lib/adapter';

function fakeNode() {
  const e = new EventEmitter() as EventEmitter & { statuses: unknown[]; errors: string[]; warnings: string[] };
  e.statuses = [];
  e.errors = [];
  e.warnings = [];
  Object.assign(e, {
    status: (s: unknown) => e.statuses.push(s),
    error: (m: string) => e.errors.push(m),
    warn: (m: string) => e.warnings.push(m),
  });
  return e;
}
const close = (n: EventEmitter) => new Promise<void>((resolve) => n.emit('close', false, resolve));

describe('node adapter: setup problem, serial queue, close', () => {
  it('a job that throws is shown and logged, and the next job still runs, in order', async () => {
    const n = fakeNode();
    const a = adapt(n as unknown as Node, 'test');
    const ran: number[] = [];
    a.serial(async () => void ran.push(1));
    a.serial(async () => {
      throw new Error('tc exploded');
    });
    a.serial(async () => void ran.push(3));
    await close(n);
    assert.deepEqual(ran, [1, 3]);
    assert.deepEqual(n.errors, ['test: tc exploded']);
  });

  it('close waits for the queued jobs, then runs the clean-ups; a failing clean-up is a warning', async () => {
    const n = fakeNode();
    const a = adapt(n as unknown as Node, 'test');
    const order: string[] = [];
    a.serial(() => new Promise((r) => setTimeout(() => r(void order.push('job')), 50)));
    a.onClose(() => {
      order.push('cleanup');
      throw new Error('could not remove');
    });
    a.onClose(async () => void order.push('second cleanup'));
    await close(n);
    assert.deepEqual(order, ['job', 'cleanup', 'second cleanup']);
    assert.deepEqual(n.warnings, ['test: could not remove']);
  });

  it('a setup problem is raised once per problem, and the status says it every time', () => {
    const n = fakeNode();
    const a = adapt(n as unknown as Node, 'test');
    a.setupFailed(new Error('no LAN interface'));
    const raised: (Error | undefined)[] = [];
    for (let i = 0; i < 3; i++) a.refuse((err) => raised.push(err));
    assert.deepEqual(raised.map((e) => e?.message), ['no LAN interface', undefined, undefined]);
    assert.equal(n.errors.length, 1);
    assert.equal(n.statuses.length, 4); // setup + one per message
    a.setupFailed(new Error('another'));
    a.refuse((err) => raised.push(err));
    assert.equal(raised.at(-1)?.message, 'another');
  });
});
