// The real command runner, with real (harmless) programs: what a user sees when a command is
// missing, fails or hangs.
import assert from 'node:assert/strict';
import { CommandError, runChecked } from '../../nodes/core/runner';
import { execaRunner } from '../../nodes/lib/execa-runner';

describe('arp-discover: running commands (execa, argv arrays, no shell)', () => {
  it('hands arguments over verbatim: shell syntax is just text', async () => {
    const out = await runChecked(execaRunner, ['printf', '%s|', 'eth0; rm -rf /', '$(reboot)', '`id`']);
    assert.equal(out, 'eth0; rm -rf /|$(reboot)|`id`|');
  });

  it('a missing program is a "missing" error that names it', async () => {
    await assert.rejects(
      execaRunner.run(['equalnet-no-such-program', '-j']),
      (err: CommandError) => err instanceof CommandError && err.kind === 'missing' && /"equalnet-no-such-program" is not installed or not on PATH/.test(err.message),
    );
  });

  it('a failing program gives its exit code and stderr', async () => {
    const result = await execaRunner.run(['ls', '/equalnet-no-such-dir']);
    assert.notEqual(result.exitCode, 0);
    await assert.rejects(runChecked(execaRunner, ['ls', '/equalnet-no-such-dir']), (err: CommandError) => err.kind === 'failed' && /No such file or directory/.test(err.message));
  });

  it('a program that hangs is stopped at the timeout', async () => {
    const started = Date.now();
    await assert.rejects(execaRunner.run(['sleep', '5'], { timeoutMs: 200 }), (err: CommandError) => err.kind === 'timeout');
    assert.ok(Date.now() - started < 2000);
  });

  it('watch delivers lines as they come and reports the end; stop() ends it', async () => {
    const lines: string[] = [];
    const ended = await new Promise<CommandError | null>((resolve) => execaRunner.watch(['printf', 'a\nb\n'], (l) => lines.push(l), resolve));
    assert.deepEqual(lines, ['a', 'b']);
    assert.match(ended!.message, /ended unexpectedly/);
    const stoppedEnd = new Promise<CommandError | null>((resolve) => {
      const w = execaRunner.watch(['sleep', '30'], () => undefined, resolve);
      setTimeout(() => w.stop(), 100);
    });
    assert.equal(await stoppedEnd, null, 'a stopped watch is no error');
  });
});
