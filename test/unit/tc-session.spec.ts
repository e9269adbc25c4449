/**
 * The kept `tc -force -batch -` process (nodes/core/shape/tc-session.ts), against the real tc:
 * each session runs in a network namespace of its own (`unshare -n`, only its loopback), so
 * nothing reaches the machine's interfaces and the namespace goes when tc ends.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { CommandError, type CommandRunner, type SessionHandlers } from '../../nodes/core/runner';
import { TcSession } from '../../nodes/core/shape/tc-session';
import { processRunner } from '../../nodes/lib/process-runner';

type SessionRunner = CommandRunner & Required<Pick<CommandRunner, 'session'>>;

/** Every session in a throwaway namespace with its loopback up; `started` collects each process's argv. */
function throwaway(map: (argv: readonly string[]) => readonly string[] = (a) => a): SessionRunner & { started: (readonly string[])[] } {
  const started: (readonly string[])[] = [];
  return {
    ...processRunner,
    started,
    session(argv: readonly string[], handlers: SessionHandlers) {
      const mapped = map(argv);
      started.push(mapped);
      return processRunner.session!(['unshare', '--net', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...mapped], handlers);
    },
  };
}

const HTB = ['qdisc add dev lo root handle 1: htb default 10', 'class add dev lo parent 1: classid 1:10 htb rate 1mbit'];

describe('tc-shaper core: the kept tc process (real tc, a namespace of its own)', function () {
  this.timeout(20_000);
  let sessions: TcSession[] = [];
  const open = (runner: SessionRunner) => {
    const s = new TcSession(runner);
    sessions.push(s);
    return s;
  };
  afterEach(() => {
    for (const s of sessions) s.close();
    sessions = [];
  });

  it('runs batch after batch in one process, each answered once tc has run every line of it', async () => {
    const runner = throwaway();
    const tc = open(runner);
    assert.deepEqual(await tc.run(HTB, 5000), { exitCode: 0, stdout: '', stderr: '' });
    for (let rate = 2; rate < 12; rate++) {
      const r = await tc.run([`class change dev lo parent 1: classid 1:10 htb rate ${rate}mbit`], 5000);
      assert.equal(r.exitCode, 0, r.stderr);
    }
    // an empty batch is answered too
    assert.equal((await tc.run([], 5000)).exitCode, 0);
    assert.equal(runner.started.length, 1, 'one tc process');
    assert.deepEqual(runner.started[0], ['tc', '-force', '-batch', '-']);
  });

  it('a failed line: exit code 1, the kernel\'s words and "Command failed -:N" counted from the batch\'s first line; the next batch runs in a new tc', async () => {
    const runner = throwaway();
    const tc = open(runner);
    await tc.run(HTB, 5000);
    const r = await tc.run(['class change dev lo parent 1: classid 1:10 htb rate 3mbit', 'class change dev lo parent 1: classid 1:99 htb rate 3mbit'], 5000);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /No such file or directory/);
    assert.match(r.stderr, /^Command failed -:2$/m);
    assert.doesNotMatch(r.stderr, /equalnet\/mark/, 'the mark\'s own complaint is not the batch\'s');
    // after a failure, a new process (tc's names looked up afresh); this one's namespace is new too
    const next = await tc.run(HTB, 5000);
    assert.deepEqual(next, { exitCode: 0, stdout: '', stderr: '' });
    assert.equal(runner.started.length, 2);
  });

  it('an interface deleted and made again under it: the kernel refuses the batch, and the next one, in a new tc, works', async () => {
    // a namespace of this test's own, so that the interface can be changed from outside tc
    const ns = `eqtcs-${process.pid}`;
    const inNs = (...argv: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...argv], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      inNs('ip', 'link', 'add', 'd0', 'type', 'ifb');
      const runner = { ...processRunner, session: (argv: readonly string[], h: SessionHandlers) => processRunner.session!(['ip', 'netns', 'exec', ns, ...argv], h) };
      let started = 0;
      const counted = { ...runner, session: (argv: readonly string[], h: SessionHandlers) => (started++, runner.session(argv, h)) };
      const tc = open(counted);
      assert.equal((await tc.run(['qdisc add dev d0 root handle 1: htb'], 5000)).exitCode, 0);
      inNs('ip', 'link', 'del', 'd0');
      inNs('ip', 'link', 'add', 'd0', 'type', 'ifb');
      // the kept tc still holds the old d0's index
      const stale = await tc.run(['qdisc add dev d0 root handle 1: htb'], 5000);
      assert.equal(stale.exitCode, 1);
      assert.match(stale.stderr, /No such device/);
      assert.equal(started, 1);
      const fresh = await tc.run(['qdisc add dev d0 root handle 1: htb'], 5000);
      assert.equal(fresh.exitCode, 0, fresh.stderr);
      assert.equal(started, 2, 'a new tc after the failed batch');
      assert.match(inNs('tc', 'qdisc', 'show', 'dev', 'd0').toString(), /qdisc htb 1: root/);
    } finally {
      for (const s of sessions) s.close();
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });

  it('a process that has run its share of lines ends after that batch (tc keeps ~4 KB a line)', async () => {
    const runner = throwaway();
    const tc = new TcSession(runner, 10);
    sessions.push(tc);
    assert.equal((await tc.run(HTB, 5000)).exitCode, 0); // 2 lines and the mark: 3
    for (let i = 0; i < 2; i++) assert.equal((await tc.run(['class change dev lo parent 1: classid 1:10 htb rate 2mbit'], 5000)).exitCode, 0); // 5, 7
    assert.equal(runner.started.length, 1);
    // 7 + 4 = 11: this batch runs in the same tc, which then ends
    assert.equal((await tc.run(['class change dev lo parent 1: classid 1:10 htb rate 3mbit', 'class change dev lo parent 1: classid 1:10 htb rate 4mbit', 'class change dev lo parent 1: classid 1:10 htb rate 5mbit'], 5000)).exitCode, 0);
    assert.equal(runner.started.length, 1);
    // the next batch: a new tc (in this test, in a new namespace: it makes the tree again)
    assert.equal((await tc.run(HTB, 5000)).exitCode, 0);
    assert.equal(runner.started.length, 2);
    // a batch longer than the share runs whole in one process, which ends after it
    const long = Array.from({ length: 30 }, (_, i) => `class change dev lo parent 1: classid 1:10 htb rate ${i + 1}mbit`);
    assert.equal((await tc.run(long, 5000)).exitCode, 0);
    assert.equal(runner.started.length, 2);
    assert.equal((await tc.run(HTB, 5000)).exitCode, 0);
    assert.equal(runner.started.length, 3);
  });

  it('with the default share, the kept tc stays small over 10,000 lines in batches (a tc fed them all holds ~40 MB)', async function () {
    this.timeout(60_000);
    const runner = throwaway();
    const tc = open(runner);
    const classes = Array.from({ length: 50 }, (_, i) => (i + 16).toString(16));
    await tc.run(['qdisc add dev lo root handle 1: htb', ...classes.map((c) => `class add dev lo parent 1: classid 1:${c} htb rate 1mbit ceil 20mbit`)], 5000);
    /** RSS (kB) of our tc processes: children of this process running tc. */
    const tcRss = () => {
      let most = 0;
      for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          if (!/^\d+ \(tc\) /.test(stat) || Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
          most = Math.max(most, Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0));
        } catch {
          /* ended */
        }
      }
      return most;
    };
    let most = 0;
    for (let round = 1; round <= 200; round++) {
      // each round in a new namespace after a recycle: the tree is made again where it is missing
      const r = await tc.run(classes.map((c) => `class change dev lo parent 1: classid 1:${c} htb rate ${1000 + round}kbit ceil 20mbit`), 5000);
      if (r.exitCode !== 0) await tc.run(['qdisc add dev lo root handle 1: htb', ...classes.map((c) => `class add dev lo parent 1: classid 1:${c} htb rate 1mbit ceil 20mbit`)], 5000);
      most = Math.max(most, tcRss());
    }
    assert.ok(most > 0, 'the tc processes were found');
    assert.ok(most < 12 * 1024, `a kept tc held ${most} kB`);
    assert.ok(runner.started.length >= 9, `${runner.started.length} processes for 10,000 lines`);
  });

  it('a line is data for tc, never for a shell: quotes and semicolons are just a failed line', async () => {
    const tc = open(throwaway());
    const r = await tc.run(['class show dev "lo; touch /tmp/equalnet-tc-session-pwned"', 'qdisc show dev lo $(id)'], 5000);
    assert.equal(r.exitCode, 1);
    assert.throws(() => execFileSync('test', ['-e', '/tmp/equalnet-tc-session-pwned']));
  });

  it('tc ended under it: the batch fails with what it said, and the next batch starts a new process', async () => {
    // a tc that ends after reading its first line: the batch waiting for its mark learns it from the exit
    const runner = throwaway((argv) => ['sh', '-c', 'read line; echo "tc went away" >&2; exit 3', 'sh', ...argv]);
    const tc = open(runner);
    const r = await tc.run(['qdisc show dev lo'], 5000);
    assert.equal(r.exitCode, 3);
    assert.match(r.stderr, /tc went away/);
    await tc.run(['qdisc show dev lo'], 5000);
    assert.equal(runner.started.length, 2, 'a new process for the next batch');
  });

  it('tc not installed: a CommandError of kind "missing"', async () => {
    const tc = new TcSession({ ...processRunner, session: (argv, h) => processRunner.session!(['/nonexistent/tc', ...argv.slice(1)], h) });
    sessions.push(tc);
    await assert.rejects(tc.run(HTB, 5000), (e: Error) => e instanceof CommandError && e.kind === 'missing');
  });

  it('no answer: a CommandError of kind "timeout" after the time given, and the process is ended', async () => {
    // reads its stdin and never answers
    const runner = throwaway(() => ['sh', '-c', 'cat >/dev/null']);
    const tc = open(runner);
    const t0 = Date.now();
    await assert.rejects(tc.run(HTB, 300), (e: Error) => e instanceof CommandError && e.kind === 'timeout');
    assert.ok(Date.now() - t0 >= 290);
    await assert.rejects(tc.run(HTB, 300), (e: Error) => e instanceof CommandError && e.kind === 'timeout');
    assert.equal(runner.started.length, 2, 'the silent process was ended, a new one started');
  });

  it('one batch at a time; close fails a batch still waiting', async () => {
    const tc = open(throwaway(() => ['sh', '-c', 'cat >/dev/null']));
    const waiting = tc.run(HTB, 5000);
    await assert.rejects(tc.run(HTB, 5000), /already running/);
    tc.close();
    await assert.rejects(waiting, /closed/);
  });
});
