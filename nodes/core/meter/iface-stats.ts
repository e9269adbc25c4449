/**
 * The interface's own counters, from `ip -j -s link show dev IF` (stats64: 64-bit on every
 * kernel, unlike /sys/class/net/IF/statistics on 32-bit ones). Run through the runner, so it
 * works inside a network namespace too (`ip netns exec` gives the command that namespace's view).
 * Bytes are what the interface counts: whole frames, MAC header included.
 */
import { ifaceNameProblem } from '../contract/iface';
import { commandFailure, type CommandRunner } from '../runner';

export interface IfaceCounters {
  ifindex: number;
  /** operstate as the kernel says: UP, DOWN, LOWERLAYERDOWN, UNKNOWN (loopback, some virtual devices) … */
  operstate: string;
  /** Frames received from the LAN: the clients' upload. */
  rxBytes: number;
  rxPackets: number;
  /** Frames sent to the LAN: the clients' download. */
  txBytes: number;
  txPackets: number;
}

/** The interface is not there (yet, or any more): a fact to report, not a failure of the reader. */
export class InterfaceMissingError extends Error {
  constructor(iface: string) {
    super(`interface "${iface}" does not exist`);
    this.name = 'InterfaceMissingError';
  }
}

export function parseLinkStats(json: string, iface: string): IfaceCounters {
  const links = JSON.parse(json) as unknown;
  const link = Array.isArray(links) ? (links as Record<string, unknown>[]).find((l) => l?.ifname === iface) : undefined;
  if (!link) throw new Error(`interface ${iface}: not in the output of ip -s link`);
  const stats = (link.stats64 ?? link.stats) as { rx?: Record<string, unknown>; tx?: Record<string, unknown> } | undefined;
  const num = (v: unknown, what: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`interface ${iface}: ${what} is not a counter (${JSON.stringify(v)})`);
    return n;
  };
  if (!stats?.rx || !stats.tx) throw new Error(`interface ${iface}: ip -s link gave no statistics`);
  return {
    ifindex: num(link.ifindex, 'ifindex'),
    operstate: String(link.operstate ?? 'UNKNOWN'),
    rxBytes: num(stats.rx.bytes, 'rx bytes'),
    rxPackets: num(stats.rx.packets, 'rx packets'),
    txBytes: num(stats.tx.bytes, 'tx bytes'),
    txPackets: num(stats.tx.packets, 'tx packets'),
  };
}

export async function readIfaceCounters(runner: CommandRunner, iface: string): Promise<IfaceCounters> {
  const problem = ifaceNameProblem(iface);
  if (problem) throw new Error(`interface ${problem}`);
  const argv = ['ip', '-j', '-s', 'link', 'show', 'dev', iface];
  const result = await runner.run(argv);
  if (result.exitCode !== 0) {
    if (/does not exist/i.test(result.stderr)) throw new InterfaceMissingError(iface);
    throw commandFailure(argv, result);
  }
  return parseLinkStats(result.stdout, iface);
}
