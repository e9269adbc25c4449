// A recorded stand-in for the command runner: the core's only way to reach the system. Used where
// a test is about the core's logic; the lab tests run the same core against the real kernel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError, type CommandRunner, type RunResult } from '../../nodes/core/runner';

export const fixture = (name: string): string => readFileSync(join(__dirname, '..', 'fixtures', 'arp', name), 'utf8');

type Answer = RunResult | CommandError | ((argv: readonly string[]) => RunResult | CommandError);

export class RecordedRunner implements CommandRunner {
  readonly calls: string[][] = [];
  private readonly answers: [string, Answer][] = [];

  /** Answers commands whose argv starts with `prefix` (space-joined), latest registration first. */
  on(prefix: string, answer: Answer | string): this {
    const a: Answer = typeof answer === 'string' ? { exitCode: 0, stdout: answer, stderr: '' } : answer;
    this.answers.unshift([prefix, a]);
    return this;
  }

  async run(argv: readonly string[]): Promise<RunResult> {
    this.calls.push([...argv]);
    const line = argv.join(' ');
    const found = this.answers.find(([prefix]) => line.startsWith(prefix));
    if (!found) return { exitCode: 1, stdout: '', stderr: `no recorded answer for ${line}` };
    const answer = typeof found[1] === 'function' ? found[1](argv) : found[1];
    if (answer instanceof CommandError) throw answer;
    return answer;
  }

  watch(): { stop(): void } {
    return { stop() {} };
  }
}

/** `ip -j -s neigh` output for the given entries. */
export function neighJson(entries: { ip: string; mac?: string; state?: string; confirmed?: number }[]): string {
  return JSON.stringify(
    entries.map((e) => ({
      dst: e.ip,
      ...(e.mac ? { lladdr: e.mac } : {}),
      refcnt: 1,
      used: 0,
      confirmed: e.confirmed ?? 0,
      updated: 0,
      probes: 0,
      state: [e.state ?? 'REACHABLE'],
    })),
  );
}
