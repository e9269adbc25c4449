/**
 * One `tc -force -batch -` process kept for the shaper's life, fed a batch of lines per change,
 * rather than a process per change. A process per tick cost Node-RED a fork of itself (about 3 ms
 * of CPU for a 130 MB process, on the event loop) and tc's own start (loading its libraries,
 * opening netlink) every time enforce changed a class: most ticks on a busy LAN.
 *
 * tc reads its stdin a line at a time and runs each line as it comes; with -force it goes on after
 * a failed line, printing the kernel's complaint and "Command failed -:N" (N counted from the
 * process's first line) on stderr. A batch is followed by a mark: a line that always fails (a
 * device name with '/' in it, which no interface can have). Its "Command failed" says tc has
 * read and run every line before it; any other "Command failed" in between is the batch's.
 * The answer is what a `tc -batch -` process of its own would give: exit code 0, or 1 with the
 * complaints and "Command failed -:N" counted from the batch's first line. Unlike a process of
 * its own (which stops at the first failure), the lines after a failed one are still run: the
 * shaper reads the kernel and restores its last good tree after any failure either way.
 *
 * tc looks an interface's index up once, the first time a line names it, and keeps it. An
 * interface deleted under it (the IFB, a bridge made again) makes the kept index name nothing:
 * the kernel refuses the line ("No such device"; a new tc would say "Cannot find device"), never
 * shapes another interface (indexes are not reused soon), and the process is ended after any
 * failed batch so that the next one (the shaper's rollback) looks the names up afresh.
 */
import { CommandError, type CommandRunner, type CommandSession, type RunResult } from '../runner';

/** No interface name can hold a '/': `class show` of it always fails, quickly, with this name in its complaint. */
const MARK_DEVICE = 'equalnet/mark';
const MARK = `class show dev ${MARK_DEVICE}`;
export const TC_SESSION_ARGV: readonly string[] = ['tc', '-force', '-batch', '-'];
/**
 * tc's batch mode keeps what each line allocated (about 4 KB a `class change`, iproute2 6.1: a
 * process fed 50,000 lines held 205 MB). The process ends after the batch that took it to this
 * many lines: between batches it holds less than ~7 MB, and a new tc starts every 20 ticks or so
 * on a busy LAN, not every tick. (A batch itself holds its lines' share while it runs, as a tc of
 * its own did.)
 */
export const RECYCLE_AFTER_LINES = 1_000;
/** Complaint lines kept per batch at most. */
const MAX_LINES = 200;
const FAILED = /^Command failed -:(\d+)$/;

interface Pending {
  first: number;
  mark: number;
  lines: string[];
  resolve(r: RunResult): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class TcSession {
  private session: CommandSession | null = null;
  /** Lines written to the process now running. */
  private written = 0;
  private partial = '';
  private pending: Pending | null = null;

  constructor(
    private readonly runner: CommandRunner & Required<Pick<CommandRunner, 'session'>>,
    private readonly recycleAfter = RECYCLE_AFTER_LINES,
  ) {}

  /** Runs the lines in the kept process (started on first use, again after one ended). */
  run(lines: readonly string[], timeoutMs: number): Promise<RunResult> {
    if (this.pending) return Promise.reject(new Error('tc session: a batch is already running'));
    const session = this.session ?? this.open();
    const first = this.written + 1;
    this.written += lines.length + 1;
    const mark = this.written;
    return new Promise<RunResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.take();
        this.end();
        reject(new CommandError('timeout', TC_SESSION_ARGV, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending = { first, mark, lines: [], resolve, reject, timer };
      session.write(lines.length ? `${lines.join('\n')}\n${MARK}\n` : `${MARK}\n`);
    });
  }

  /** Ends the process; a batch still waiting fails. */
  close(): void {
    const p = this.take();
    this.end();
    p?.reject(new CommandError('failed', TC_SESSION_ARGV, 'closed'));
  }

  private open(): CommandSession {
    this.written = 0;
    this.partial = '';
    const session: CommandSession = this.runner.session(TC_SESSION_ARGV, {
      onStderr: (text) => {
        if (this.session === session) this.stderr(text);
      },
      onExit: (error, code) => {
        if (this.session !== session) return;
        this.session = null;
        const p = this.take();
        if (!p) return;
        if (error) p.reject(error);
        else {
          const rest = this.partial.trim();
          const stderr = [...p.lines, ...(rest ? [rest] : [])].join('\n') || `tc ended (exit code ${code})`;
          p.resolve({ exitCode: code === 0 || code === null ? 1 : code, stdout: '', stderr });
        }
      },
    });
    this.session = session;
    return session;
  }

  private end(): void {
    const s = this.session;
    this.session = null;
    s?.close();
  }

  private take(): Pending | null {
    const p = this.pending;
    this.pending = null;
    if (p) clearTimeout(p.timer);
    return p;
  }

  private stderr(text: string): void {
    this.partial += text;
    for (let nl = this.partial.indexOf('\n'); nl !== -1; nl = this.partial.indexOf('\n')) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      this.line(line);
    }
  }

  private line(line: string): void {
    const p = this.pending;
    if (!p || line.includes(MARK_DEVICE)) return;
    const failed = FAILED.exec(line);
    if (failed && Number(failed[1]) === p.mark) {
      this.take();
      const any = p.lines.some((l) => FAILED.test(l));
      // tc keeps each interface's index from the first time it names it: after a failure (an
      // IFB deleted, a bridge made again) the next batch starts a tc that looks them up afresh.
      // And a process that has run its share of lines ends now, not holding what it kept until
      // the next batch (a whole tree of 1,000 clients is ~8,000 lines: ~32 MB while it runs).
      if (any || this.written >= this.recycleAfter) this.end();
      p.resolve({ exitCode: any ? 1 : 0, stdout: '', stderr: p.lines.join('\n') });
      return;
    }
    if (p.lines.length >= MAX_LINES) return;
    // counted from the batch's first line, as a process of its own counts
    p.lines.push(failed ? `Command failed -:${Number(failed[1]) - p.first + 1}` : line);
  }
}
