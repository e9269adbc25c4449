/**
 * The schedules example (examples/11-schedules.json) as shipped, in a real Node-RED runtime, with
 * a fake clock (@sinonjs/fake-timers: Date and the timers; the runtime's own message delivery,
 * setImmediate and process.nextTick, stays real): Node-RED's inject nodes fire their crontabs
 * ("at 16:00 on Monday to Friday") when the fake clock gets there, and what the allocator then
 * hands the shaper is checked: the console at priority 5 and a 3 Mbit/s ceil from 16:00, back to
 * priority 3 and the link at 19:00; nothing on a Saturday; the evening link at 20:00 and 23:00.
 * The clock is the one thing faked (waiting for 16:00 in a test is not an option); the SQLite file
 * is real, in a temp folder.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getNode, helper, load, startServer, stopServer, type FlowNode } from '../helpers/node-red';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const FakeTimers = require('@sinonjs/fake-timers');
const core = (path: string) => require(`@node-red/nodes/core/${path}`);
const modules = [
  require('../../nodes/priority-allocator'),
  require('../../nodes/usage-store'),
  require('../../nodes/equalnet-config'),
  core('common/20-inject'),
  core('common/21-debug'),
  core('common/60-link'),
  core('common/90-comment'),
  core('function/10-function'),
];

const CONSOLE = '00:d9:d1:00:00:05';
const LAPTOP = 'a4:5e:60:00:00:01';

interface Alloc {
  priority: number;
  mac: string;
  alloc: { down: { ceilBps: number; rateBps: number }; up: { ceilBps: number } };
}
interface Snap {
  clients: Alloc[];
  allocation: { down: { totalBps: number } };
}

describe('examples/11-schedules.json with a fake clock: cron injects change priorities, limits and the link', function () {
  this.timeout(60_000);
  let dir: string;
  let clock: { tickAsync(ms: number): Promise<number>; uninstall(): void; now: number } | null = null;
  const seen: Snap[] = [];

  before(startServer);
  after(stopServer);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'equalnet-schedules-'));
    seen.length = 0;
  });

  afterEach(async () => {
    clock?.uninstall();
    clock = null;
    await helper.unload();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The example as shipped, with its database in a temp folder and a helper after the allocator. */
  async function start(at: Date): Promise<void> {
    const flow = JSON.parse(readFileSync(join(__dirname, '../../examples/11-schedules.json'), 'utf8')) as FlowNode[];
    for (const n of flow) {
      if (n.type === 'equalnet-config') n.dbFile = join(dir, 'schedules.db');
      if (n.id === 'sched.alloc') (n.wires as string[][])[0].push('seen');
    }
    flow.push({ id: 'seen', type: 'helper', z: 'sched.tab' });
    // installed before the flow starts, so the inject nodes schedule their crontabs on it
    clock = FakeTimers.install({ now: at, toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    await load(modules, flow);
    (getNode('seen') as unknown as { on(event: 'input', f: (msg: { payload: Snap }) => void): void }).on('input', (msg) => seen.push(msg.payload));
    // usage-store sends its registry 100 ms after start
    await clock!.tickAsync(200);
    // the sample clients, as a click on the inject node sends them (usage-store registers them)
    getNode('sched.sample').receive({});
    await settle();
  }

  /** Lets the runtime deliver what is in flight (its delivery is asynchronous, on real setImmediate). */
  async function settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    await clock!.tickAsync(10);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  }

  /** Moves the fake clock to `to` (local time), letting every timer due on the way fire. */
  async function until(to: Date): Promise<void> {
    await clock!.tickAsync(to.getTime() - clock!.now);
    await settle();
  }

  const client = (s: Snap, mac: string) => s.clients.find((c) => c.mac === mac)!;
  const last = () => seen[seen.length - 1];

  it('Monday: the console at priority 5 and 3 Mbit/s each way from 16:00, undone at 19:00; the laptop untouched', async () => {
    // Monday 9 March 2026, 15:58 local time
    await start(new Date(2026, 2, 9, 15, 58, 0));
    assert.ok(seen.length >= 1, 'the sample snapshot was allocated');
    let s = last();
    assert.equal(client(s, CONSOLE).priority, 3);
    assert.equal(client(s, CONSOLE).alloc.down.ceilBps, 100e6);
    const before = seen.length;

    await until(new Date(2026, 2, 9, 15, 59, 59));
    assert.equal(seen.length, before, 'nothing before 16:00');

    await until(new Date(2026, 2, 9, 16, 0, 1));
    s = last();
    assert.equal(client(s, CONSOLE).priority, 5);
    assert.equal(client(s, CONSOLE).alloc.down.ceilBps, 3e6, 'the maximum is the console\'s ceil');
    assert.equal(client(s, CONSOLE).alloc.up.ceilBps, 3e6);
    assert.ok(client(s, CONSOLE).alloc.down.rateBps <= 3e6);
    assert.equal(client(s, LAPTOP).alloc.down.ceilBps, 100e6);
    assert.equal(client(s, LAPTOP).priority, 2);

    await until(new Date(2026, 2, 9, 18, 59, 0));
    assert.equal(client(last(), CONSOLE).priority, 5, 'still homework hours at 18:59');

    await until(new Date(2026, 2, 9, 19, 0, 1));
    s = last();
    assert.equal(client(s, CONSOLE).priority, 3);
    assert.equal(client(s, CONSOLE).alloc.down.ceilBps, 100e6);
    assert.equal(client(s, CONSOLE).alloc.up.ceilBps, 20e6);

    // the evening link: 80 Mbit/s from 20:00, 100 again at 23:00
    await until(new Date(2026, 2, 9, 20, 0, 1));
    assert.equal(last().allocation.down.totalBps, 80e6);
    await until(new Date(2026, 2, 9, 23, 0, 1));
    assert.equal(last().allocation.down.totalBps, 100e6);
  });

  it('Saturday: no homework hours (the crontab names Monday to Friday)', async () => {
    // Saturday 14 March 2026
    await start(new Date(2026, 2, 14, 15, 0, 0));
    const before = seen.length;
    await until(new Date(2026, 2, 14, 19, 30, 0));
    assert.equal(seen.length, before, 'no command on a Saturday');
    assert.equal(client(last(), CONSOLE).priority, 3);
  });
});
