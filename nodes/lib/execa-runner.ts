import { createInterface } from 'node:readline';
import { CommandError, inNetns, netnsNameProblem, type CommandRunner, type RunResult } from '../core/runner';

type Execa = typeof import('execa', { with: { 'resolution-mode': 'import' } });
let loading: Promise<Execa> | null = null;
// execa is ESM-only; this package is CommonJS, so it comes in through a dynamic import.
const loadExeca = () => (loading ??= import('execa'));

const ENV = { LC_ALL: 'C' };

function spawnProblem(argv: readonly string[], code: string | undefined, message: string): CommandError {
  if (code === 'ENOENT') return new CommandError('missing', argv, '');
  if (code === 'EACCES' || code === 'EPERM') return new CommandError('permission', argv, message);
  return new CommandError('failed', argv, message);
}

/** Commands run by execa with an argv array: no shell, so no argument is ever interpreted. */
export const execaRunner: CommandRunner = {
  async run(argv, options = {}): Promise<RunResult> {
    const { execa } = await loadExeca();
    const result = await execa(argv[0], argv.slice(1), {
      reject: false,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
      timeout: options.timeoutMs ?? 10_000,
      env: ENV,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.timedOut) throw new CommandError('timeout', argv, `no answer within ${options.timeoutMs ?? 10_000} ms`);
    if (result.exitCode === undefined) {
      const cause = result.cause as NodeJS.ErrnoException | undefined;
      throw spawnProblem(argv, cause?.code ?? (result as { code?: string }).code, result.shortMessage ?? String(cause));
    }
    return { exitCode: result.exitCode, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
  },

  watch(argv, onLine, onExit) {
    let stopped = false;
    let kill: (() => void) | null = null;
    let stderr = '';
    loadExeca()
      .then(({ execa }) => {
        if (stopped) return;
        const child = execa(argv[0], argv.slice(1), { reject: false, stdin: 'ignore', buffer: false, env: ENV });
        kill = () => child.kill('SIGTERM');
        if (child.stdout) createInterface({ input: child.stdout }).on('line', (line) => { if (!stopped) onLine(line); });
        child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-2000); });
        return child.then((result) => {
          if (stopped) return onExit(null);
          if (result.exitCode === undefined) {
            const cause = result.cause as NodeJS.ErrnoException | undefined;
            return onExit(spawnProblem(argv, cause?.code ?? (result as { code?: string }).code, result.shortMessage ?? ''));
          }
          onExit(new CommandError('failed', argv, stderr.trim() || (result.exitCode === 0 ? 'ended unexpectedly' : `exited with code ${result.exitCode}`)));
        });
      })
      .catch((err: Error) => onExit(new CommandError('failed', argv, err.message)));
    return {
      stop() {
        stopped = true;
        kill?.();
      },
    };
  },
};

/** The runner a node uses: commands as argv arrays, inside `netns` when one is set (lab, demo). */
export function runnerFor(netns: string): CommandRunner {
  if (!netns) return execaRunner;
  const problem = netnsNameProblem(netns);
  if (problem) throw new Error(`network namespace ${problem}`);
  return inNetns(execaRunner, netns);
}
