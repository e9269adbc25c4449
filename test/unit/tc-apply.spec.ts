// The shaper's control flow against a recorded runner (a mock), for what cannot happen for real on
// this machine: tc missing (iproute2 is installed), fq_codel present (this kernel has none), a
// foreign root qdisc's exact JSON. Lack of privilege is also tested for real, with tc run as
// nobody (test/node/tc-shaper.spec.ts); the lab test runs the same code against the real kernel.
import assert from 'node:assert/strict';
import { CommandError, type RunOptions, type RunResult } from '../../nodes/core/runner';
import { Shaper } from '../../nodes/core/shape/tc-apply';
import { RecordedRunner } from './arp-helpers';
import { snapshotOf, THREE, tcFixture } from './tc-fixtures';

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (stderr: string, exitCode = 2): RunResult => ({ exitCode, stdout: '', stderr });

/** A kernel with nothing installed on d0, no IFB, and no fq_codel/sfq. */
function freshKernel(): RecordedRunner {
  return new RecordedRunner()
    .on('unshare --net tc qdisc add dev lo root', fail('Error: Specified qdisc kind is unknown.'))
    .on('tc qdisc add dev eqt-d0 root', fail('Error: Specified qdisc kind is unknown.'))
    .on('tc -j qdisc show dev d0', ok('[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{}}]'))
    .on('tc -j qdisc show dev eqn-d0', fail('Cannot find device "eqn-d0"', 1))
    .on('ip link', ok())
    .on('tc -batch -', ok());
}

describe('tc-shaper core: apply, failures, close', () => {
  it('dry-run runs nothing but the leaf probe in a throwaway namespace, and reports the plan', async () => {
    const runner = freshKernel();
    const shaper = new Shaper({ iface: 'd0', mode: 'dry-run', thresholdPercent: 5 }, runner);
    const report = await shaper.shape(snapshotOf(THREE));
    assert.deepEqual(runner.calls.map((c) => c.slice(0, 2).join(' ')), ['unshare --net', 'unshare --net']);
    assert.equal(report.applied, false);
    assert.equal(report.commands.length, 40);
    assert.equal(report.leaf, 'bfifo');
    assert.match(report.leafNote!, /fq_codel and sfq not in this kernel/);
    assert.deepEqual(report.setup, ['ip link add eqn-d0 type ifb', 'ip link set eqn-d0 up']);
    const again = await shaper.shape(snapshotOf(THREE));
    assert.equal(again.commands.length, 0);
    assert.equal(runner.calls.length, 2);
  });

  it('picks fq_codel when the kernel has it', async () => {
    const runner = freshKernel().on('unshare --net tc qdisc add dev lo root fq_codel', ok());
    const shaper = new Shaper({ iface: 'd0', mode: 'dry-run', thresholdPercent: 5 }, runner);
    const report = await shaper.shape(snapshotOf(THREE));
    assert.equal(report.leaf, 'fq_codel');
    assert.equal(report.leafNote, null);
    assert.ok(report.commands.includes('qdisc add dev d0 parent eb:ffff fq_codel'));
  });

  it('enforce: creates the IFB, sends the tree in one `tc -batch -` on stdin; an unchanged tick starts no process', async () => {
    const runner = freshKernel();
    let stdin = '';
    const recorded = runner.run.bind(runner);
    runner.run = (argv: readonly string[], options?: RunOptions) => {
      if (argv[1] === '-batch') stdin = options?.input ?? '';
      return recorded(argv);
    };
    const shaper = new Shaper({ iface: 'd0', mode: 'enforce', thresholdPercent: 5 }, runner);
    const report = await shaper.shape(snapshotOf(THREE));
    assert.equal(report.error, null);
    assert.equal(report.applied, true);
    const batches = runner.calls.filter((c) => c[0] === 'tc' && c[1] === '-batch');
    assert.deepEqual(batches, [['tc', '-batch', '-']]);
    assert.equal(stdin, tcFixture('batch-full.txt'));
    assert.ok(runner.calls.some((c) => c.join(' ') === 'ip link add eqn-d0 type ifb'));
    const calls = runner.calls.length;
    const again = await shaper.shape(snapshotOf(THREE));
    assert.equal(again.commands.length, 0);
    assert.equal(runner.calls.length, calls, 'no process for an unchanged tick');
  });

  it('tc not permitted: the report says so (CAP_NET_ADMIN), nothing is left half-done', async () => {
    const runner = freshKernel().on('tc -batch -', fail('RTNETLINK answers: Operation not permitted\nWe have an error talking to the kernel\nCommand failed -:1'));
    const shaper = new Shaper({ iface: 'd0', mode: 'enforce', thresholdPercent: 5 }, runner);
    const report = await shaper.shape(snapshotOf(THREE));
    assert.equal(report.applied, false);
    assert.match(report.error!, /not permitted.*CAP_NET_ADMIN.*Operation not permitted.*line 1: qdisc replace dev d0 root/);
    // read back, nothing of ours found; the IFB it created is removed again
    assert.equal(report.rolledBack, true);
    assert.deepEqual(runner.calls[runner.calls.length - 1], ['ip', 'link', 'del', 'eqn-d0']);
  });

  it('tc not installed: a clear error', async () => {
    const runner = freshKernel().on('tc', () => new CommandError('missing', ['tc'], ''));
    const shaper = new Shaper({ iface: 'd0', mode: 'enforce', thresholdPercent: 5 }, runner);
    await assert.rejects(shaper.shape(snapshotOf(THREE)), /"tc" is not installed/);
  });

  it('a foreign root qdisc is never replaced: the error names it', async () => {
    const runner = freshKernel().on('tc -j qdisc show dev d0', ok('[{"kind":"htb","handle":"1:","root":true,"options":{}}]'));
    const shaper = new Shaper({ iface: 'd0', mode: 'enforce', thresholdPercent: 5 }, runner);
    await assert.rejects(shaper.shape(snapshotOf(THREE)), /d0 already has a qdisc EqualNet did not make \(htb 1:\)/);
    assert.ok(!runner.calls.some((c) => c[1] === '-batch'));
  });

  it('a share below HTB\'s 8 kbit/s is shaped at 8 kbit/s, and the report says how many', async () => {
    const shaper = new Shaper({ iface: 'd0', mode: 'dry-run', thresholdPercent: 5 }, freshKernel());
    const snap = snapshotOf(THREE);
    snap.clients[0].alloc.up.rateBps = 2000;
    const report = await shaper.shape(snap);
    assert.equal(report.error, null);
    assert.ok(report.notes.includes("1 upload classes at HTB's 8 kbit/s minimum: their allocated share is smaller (too many clients for the link)"), report.notes.join('; '));
    assert.ok(report.commands.some((c) => / rate 8000bit /.test(c) || / rate 8kbit /.test(c)), report.commands.join('\n'));
  });

  it('bad input: refused before anything runs', async () => {
    const runner = freshKernel();
    const shaper = new Shaper({ iface: 'd0', mode: 'enforce', thresholdPercent: 5 }, runner);
    const snap = snapshotOf(THREE);
    snap.clients[0].alloc.down.rateBps = -100;
    await assert.rejects(shaper.shape(snap), /must be above 0/);
    // nothing but the leaf test on the throwaway device eqt-d0 (created and deleted again)
    assert.ok(!runner.calls.some((c) => c[1] === '-batch' || (c[0] === 'ip' && !c.includes('eqt-d0'))));
  });
});
