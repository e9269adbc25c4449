/**
 * Where iface-counter's numbers come from, each tick: the counters of the accounting table's sets
 * and the interface's statistics. Two ways to read the same kernel state:
 *
 * - `commands` (here): `nft -j list table` and `ip -j -s link`, through the runner. Works
 *   everywhere nft and ip do, inside a namespace too (`ip netns exec`); costs two processes and
 *   nft's JSON formatting, ~6.5 µs per set element.
 * - `netlink` (nodes/lib/netlink-reader.ts): the same dumps over this process's own netlink
 *   sockets, without starting anything. Used when Node-RED runs in the router's namespace and the
 *   optional `netlink` package loads; on any error other than "table gone" the node falls back to
 *   `commands` for good and says why.
 */
import { readIfaceCounters, type IfaceCounters } from './iface-stats';
import { parseTableCounters, TABLE_GONE, type SetReader, type TableCounters } from './nft-accounting';
import { commandFailure, type CommandRunner } from '../runner';

export interface KernelReader extends SetReader {
  readonly via: 'netlink' | 'commands';
  readLink(iface: string): Promise<IfaceCounters>;
  close(): void;
}

export function commandReader(runner: CommandRunner): KernelReader {
  return {
    via: 'commands',
    async readSets(table, sets) {
      const argv = ['nft', '-j', 'list', 'table', 'inet', table];
      const result = await runner.run(argv);
      if (result.exitCode !== 0) {
        if (TABLE_GONE.test(result.stderr)) return null;
        throw commandFailure(argv, result);
      }
      const counters = parseTableCounters(result.stdout, table);
      // a set missing from the listing is an empty Map here: the caller re-adds what is missing
      return Object.fromEntries(sets.map((s) => [s, counters[s]])) as TableCounters;
    },
    readLink: (iface) => readIfaceCounters(runner, iface),
    close() {},
  };
}
