/**
 * Running commands, as the core sees it: argv arrays in, text out. The real implementation
 * (nodes/lib/process-runner.ts) hands the argv to child_process, never to a shell; tests hand in recorded
 * output. Nothing here starts a process.
 */
export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Written to the command's stdin (e.g. a `tc -batch -` script); without it stdin is empty. */
  input?: string;
}

export interface Watcher {
  stop(): void;
}

/** A long-lived command fed on its stdin (`tc -force -batch -`): see `CommandRunner.session`. */
export interface CommandSession {
  /** Written to its stdin; nothing once it has ended. */
  write(text: string): void;
  /** Ends its stdin and terminates it; `onExit` is not called for an end asked for. */
  close(): void;
}

export interface SessionHandlers {
  /** Its stderr, as it comes (whole lines or not). */
  onStderr(text: string): void;
  /** Once, when it ends by itself: a CommandError if it could not run, else its exit code. */
  onExit(error: CommandError | null, exitCode: number | null): void;
}

export interface CommandRunner {
  /** Resolves with the exit code and output; rejects with a CommandError if it could not run. */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** A long-running command: `onLine` per line of stdout, `onExit` once when it ends. */
  watch(argv: readonly string[], onLine: (line: string) => void, onExit: (error: CommandError | null) => void): Watcher;
  /**
   * A command kept running and fed on its stdin, its stdout discarded. Optional: a runner without
   * it (a recorded one in tests) gets a process per use from its callers instead.
   */
  session?(argv: readonly string[], handlers: SessionHandlers): CommandSession;
}

/** missing: the program is not installed; permission: not allowed (needs root / CAP_NET_ADMIN). */
export type CommandProblem = 'missing' | 'permission' | 'timeout' | 'failed';

export class CommandError extends Error {
  readonly kind: CommandProblem;
  readonly argv: readonly string[];

  constructor(kind: CommandProblem, argv: readonly string[], detail: string) {
    const program = argv[0] ?? '?';
    const what: Record<CommandProblem, string> = {
      missing: `"${program}" is not installed or not on PATH`,
      permission: `"${program}" is not permitted (run Node-RED as root or give it CAP_NET_ADMIN / CAP_NET_RAW)`,
      timeout: `"${argv.join(' ')}" took too long`,
      failed: `"${argv.join(' ')}" failed`,
    };
    super(detail ? `${what[kind]}: ${detail}` : what[kind]);
    this.name = 'CommandError';
    this.kind = kind;
    this.argv = argv;
  }
}

const PERMISSION = /Operation not permitted|Permission denied|must be root|are you root|EPERM|EACCES/i;
// `ip netns exec NS prog` reports a missing prog itself
const MISSING = /exec of "[^"]*" failed: No such file or directory|command not found/i;

/** The error a command that ran but exited non-zero stands for. */
export function commandFailure(argv: readonly string[], result: RunResult): CommandError {
  const detail = result.stderr.trim().split('\n').slice(0, 3).join(' / ').slice(0, 300) || `exit code ${result.exitCode}`;
  const kind: CommandProblem = MISSING.test(result.stderr) ? 'missing' : PERMISSION.test(result.stderr) ? 'permission' : 'failed';
  return new CommandError(kind, argv, detail);
}

/** Runs a command and returns its stdout, or throws the CommandError its failure stands for. */
export async function runChecked(runner: CommandRunner, argv: readonly string[], options?: RunOptions): Promise<string> {
  const result = await runner.run(argv, options);
  if (result.exitCode !== 0) throw commandFailure(argv, result);
  return result.stdout;
}

/**
 * Network namespace names as `ip netns` stores them (a file in /run/netns): same conservative
 * alphabet as interface names, up to 64 characters.
 */
export function netnsNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'must be a string';
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(name) || name === '.' || name === '..') {
    return `"${String(name).slice(0, 70)}" is not a valid network namespace name (letters, digits, '_', '.', '-'; at most 64)`;
  }
  return null;
}

/**
 * The same runner, every command run inside network namespace `netns` (`ip netns exec`), as the
 * lab and the demo need: the router's LAN lives in a namespace there. The name must be valid.
 */
export function inNetns(runner: CommandRunner, netns: string): CommandRunner {
  const problem = netnsNameProblem(netns);
  if (problem) throw new Error(`netns ${problem}`);
  const wrap = (argv: readonly string[]) => ['ip', 'netns', 'exec', netns, ...argv];
  const session = runner.session?.bind(runner);
  return {
    run: (argv, options) => runner.run(wrap(argv), options),
    watch: (argv, onLine, onExit) => runner.watch(wrap(argv), onLine, onExit),
    ...(session ? { session: (argv: readonly string[], handlers: SessionHandlers) => session(wrap(argv), handlers) } : {}),
  };
}
