// The real command runner, with real (harmless) programs: what a user sees when a command is
// missing, fails or hangs.
import assert from 'node:assert/strict';
import { CommandError, runChecked } from '../../nodes/core/runner';
import { processRunner } from '../../nodes/lib/process-runner';

describe('arp-discover: running commands (child_process, argv arrays, no shell)', () => {
  it('hands arguments over verbatim: shell syntax is just text', async () => {
    const out = await runChecked(processRunner, ['printf', '%s|', 'eth0; rm -rf /', '$(reboot)', '`id`']);
    assert.equal(out, 'eth0; rm -rf /|$(reboot)|`id`|');
  });

  it('a missing program is a "missing" error that names it', async () => {
    await assert.rejects(
      processRunner.run(['equalnet-no-such-program', '-j']),
      (err: CommandError) => err instanceof CommandError && err.kind === 'missing' && /"equalnet-no-such-program" is not installed or not on PATH/.test(err.message),
    );
  });

  it('a failing program gives its exit code and stderr', async () => {
    const result = await processRunner.run(['ls', '/equalnet-no-such-dir']);
    assert.notEqual(result.exitCode, 0);
    await assert.rejects(runChecked(processRunner, ['ls', '/equalnet-no-such-dir']), (err: CommandError) => err.kind === 'failed' && /No such file or directory/.test(err.message));
  });

  it('a program that hangs is stopped at the timeout', async () => {
    const started = Date.now();
    await assert.rejects(processRunner.run(['sleep', '5'], { timeoutMs: 200 }), (err: CommandError) => err.kind === 'timeout');
    assert.ok(Date.now() - started < 2000);
  });

  it('feeds `input` to stdin and gives the output without its final newline, as the shell does', async () => {
    const result = await processRunner.run(['cat'], { input: 'class add dev lan0\nclass del dev lan0\n' });
    assert.deepEqual(result, { exitCode: 0, stdout: 'class add dev lan0\nclass del dev lan0', stderr: '' });
    // a command that does not read its stdin at all: no EPIPE escapes, its exit code tells
    assert.equal((await processRunner.run(['true'], { input: 'x'.repeat(1 << 20) })).exitCode, 0);
  });

  it('a program it may not run is a "permission" error; output beyond 64 MB stops the command', async () => {
    // a directory: execve answers EACCES, as for a program without the right to run it
    await assert.rejects(processRunner.run(['/tmp']), (err: CommandError) => err.kind === 'permission');
    await assert.rejects(processRunner.run(['head', '-c', String(70 * 2 ** 20), '/dev/zero']), (err: CommandError) => err.kind === 'failed' && /more than 64 MB of output/.test(err.message));
  });

  it('runs with LC_ALL=C and the rest of the environment', async () => {
    const out = await runChecked(processRunner, ['sh', '-c', 'echo "$LC_ALL $PATH"']);
    assert.equal(out, `C ${process.env.PATH}`);
  });

  it('watch delivers lines as they come and reports the end; stop() ends it', async () => {
    const lines: string[] = [];
    const ended = await new Promise<CommandError | null>((resolve) => processRunner.watch(['printf', 'a\nb\n'], (l) => lines.push(l), resolve));
    assert.deepEqual(lines, ['a', 'b']);
    assert.match(ended!.message, /ended unexpectedly/);
    const stoppedEnd = new Promise<CommandError | null>((resolve) => {
      const w = processRunner.watch(['sleep', '30'], () => undefined, resolve);
      setTimeout(() => w.stop(), 100);
    });
    assert.equal(await stoppedEnd, null, 'a stopped watch is no error');
  });
});
