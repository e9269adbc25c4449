/**
 * Per-address byte counters in the kernel, in an nftables table of our own:
 *
 *   table inet equalnet_acct_<iface> {
 *     set up4   { type ipv4_addr; counter; }   set down4 { type ipv4_addr; counter; }
 *     set up6   { type ipv6_addr; counter; }   set down6 { type ipv6_addr; counter; }
 *     chain lan_in  { type filter hook prerouting  priority raw (-300); policy accept;
 *                     iifname "<iface>" ip saddr @up4;  iifname "<iface>" ip6 saddr @up6 }
 *     chain lan_out { type filter hook postrouting priority 300; policy accept;
 *                     oifname "<iface>" ip daddr @down4; oifname "<iface>" ip6 daddr @down6 }
 *   }
 *
 * A set lookup that matches counts the packet in that element's counter: one hash lookup per
 * packet whatever the number of clients, no verdict (policy accept), so the table changes no
 * packet's fate. Upload is counted where the client's packet enters (before any SNAT rewrites
 * its source), download where it leaves towards the LAN (after the reply's DNAT restored the
 * client's address). Only this table is ever created, changed or deleted: every command names it.
 *
 * All commands are argv arrays for the runner; one `nft` process takes a whole batch (commands
 * separated by ';'), which the kernel applies as one transaction.
 */
import { ifaceNameProblem } from '../contract/iface';
import { isIPv4, isIPv6 } from '../contract/ip';
import { commandFailure, runChecked, type CommandError, type CommandRunner } from '../runner';

/** What reads our sets' counters (kernel-reader.ts: over netlink, or `nft -j`); declared here so the two modules do not import each other. */
export interface SetReader {
  /**
   * Counters of `sets` in `inet <table>`; null when the table (or one of the sets) is not there.
   * The maps may be the reader's own, updated by its next readSets: read them before calling it again.
   */
  readSets(table: string, sets: readonly SetName[]): Promise<TableCounters | null>;
}

export const TABLE_PREFIX = 'equalnet_acct_';
export const SET_NAMES = ['up4', 'down4', 'up6', 'down6'] as const;
export type SetName = (typeof SET_NAMES)[number];

export interface ElementCounter {
  bytes: number;
  packets: number;
}

/** Counters read back, per set, keyed by canonical address (see addressKey). */
export type TableCounters = Record<SetName, Map<string, ElementCounter>>;

/** nft identifiers allow letters, digits and '_': the interface name's '.' and '-' become '_'. */
export function tableNameFor(iface: string): string {
  const problem = ifaceNameProblem(iface);
  if (problem) throw new Error(`interface ${problem}`);
  return TABLE_PREFIX + iface.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * One spelling per address, so that a client's "FD00:77:0::101" and nft's "fd00:77::101" meet:
 * IPv4 as is, IPv6 fully expanded in lower case (8 groups of 4 digits).
 */
export function addressKey(address: string): string {
  if (!address.includes(':')) return address;
  let key = keyCache.get(address);
  if (key === undefined) {
    key = expandIPv6(address);
    // bounded: a router's clients, not every address ever seen
    if (keyCache.size >= 65_536) keyCache.clear();
    keyCache.set(address, key);
  }
  return key;
}

// Every tick spells the same few thousand addresses again (the snapshot's, nft's): expand each once.
const keyCache = new Map<string, string>();

function expandIPv6(address: string): string {
  let text = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const o = dotted[1].split('.').map(Number);
    text = text.slice(0, dotted.index) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const middle = tail === undefined ? [] : new Array(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((g) => g.padStart(4, '0')).join(':');
}

const family = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);

/** The default bound of the IPv4 sets (the config's default client cap); the IPv6 sets hold four times it. */
export const DEFAULT_MAX_ELEMENTS = 1024;
/** IPv6 addresses per client counted at most on average: a device has a few (SLAAC, privacy, DHCPv6). */
export const IPV6_PER_CLIENT = 4;

/** Elements each set may hold: `max` IPv4 addresses, IPV6_PER_CLIENT × `max` IPv6 ones (also declared to the kernel as the set's size). */
export const setBounds = (max: number): { 4: number; 6: number } => ({ 4: max, 6: IPV6_PER_CLIENT * max });

/** The table name as tableNameFor makes it; anything else could carry nft syntax. */
function checkTable(table: unknown): string {
  if (typeof table !== 'string' || !/^equalnet_acct_[A-Za-z0-9_]{1,16}$/.test(table)) {
    throw new Error(`not an EqualNet accounting table name: ${JSON.stringify(table)?.slice(0, 60)}`);
  }
  return table;
}

/** Every address that goes into a script is checked here, whatever the caller did: nothing else may reach nft. */
function checkAddresses(addresses: Iterable<unknown>, what: string): void {
  for (const a of addresses) {
    if (typeof a !== 'string' || (!isIPv4(a) && !isIPv6(a))) throw new Error(`not an IP address (${what}): ${JSON.stringify(a)?.slice(0, 60)}`);
  }
}

function checkMax(max: number): number {
  if (!Number.isInteger(max) || max < 1 || max > 65_536) throw new Error(`set bound must be a whole number from 1 to 65536, got ${max}`);
  return max;
}

function elementsCommand(verb: 'add' | 'delete', table: string, set: SetName, addresses: readonly string[]): string {
  return `${verb} element inet ${table} ${set} { ${addresses.join(', ')} }`;
}

/** The batch that (re)creates the table from nothing, with these addresses already in it. */
export function createScript(table: string, iface: string, addresses: readonly string[], max = DEFAULT_MAX_ELEMENTS): string {
  checkTable(table);
  const problem = ifaceNameProblem(iface);
  if (problem) throw new Error(`interface ${problem}`);
  checkAddresses(addresses, 'to add');
  const bounds = setBounds(checkMax(max));
  const v4 = addresses.filter((a) => family(a) === 4);
  const v6 = addresses.filter((a) => family(a) === 6);
  if (v4.length > bounds[4] || v6.length > bounds[6]) throw new Error(`${v4.length} IPv4 / ${v6.length} IPv6 addresses: the sets hold at most ${bounds[4]} / ${bounds[6]}`);
  const lines = [
    // "add" then "delete" then "add": removes a leftover of ours (a crash) without failing when there is none
    `add table inet ${table}`,
    `delete table inet ${table}`,
    `add table inet ${table}`,
    ...SET_NAMES.map((s) => `add set inet ${table} ${s} { type ${s.endsWith('4') ? 'ipv4_addr' : 'ipv6_addr'}; size ${bounds[s.endsWith('4') ? 4 : 6]}; counter; }`),
    `add chain inet ${table} lan_in { type filter hook prerouting priority -300; policy accept; }`,
    `add rule inet ${table} lan_in iifname "${iface}" ip saddr @up4`,
    `add rule inet ${table} lan_in iifname "${iface}" ip6 saddr @up6`,
    `add chain inet ${table} lan_out { type filter hook postrouting priority 300; policy accept; }`,
    `add rule inet ${table} lan_out oifname "${iface}" ip daddr @down4`,
    `add rule inet ${table} lan_out oifname "${iface}" ip6 daddr @down6`,
  ];
  if (v4.length > 0) lines.push(elementsCommand('add', table, 'up4', v4), elementsCommand('add', table, 'down4', v4));
  if (v6.length > 0) lines.push(elementsCommand('add', table, 'up6', v6), elementsCommand('add', table, 'down6', v6));
  return lines.join('; ');
}

/**
 * The batch that brings the sets from `have` (addresses in the table now, by key) to `want`
 * (the addresses to count, as the snapshot spells them); null when nothing changes. Checks the
 * table name and every address itself (throws on anything that is not one) and the sets' bound.
 */
export function syncScript(
  table: string,
  have: ReadonlySet<string>,
  want: readonly string[],
  max = DEFAULT_MAX_ELEMENTS,
): { script: string | null; added: string[]; removed: string[] } {
  checkTable(table);
  checkAddresses(want, 'to count');
  checkAddresses(have, 'in the table');
  const bounds = setBounds(checkMax(max));
  const wanted = { 4: 0, 6: 0 };
  for (const a of want) wanted[family(a)]++;
  if (wanted[4] > bounds[4] || wanted[6] > bounds[6]) throw new Error(`${wanted[4]} IPv4 / ${wanted[6]} IPv6 addresses: the sets hold at most ${bounds[4]} / ${bounds[6]}`);
  const wantKeys = new Map(want.map((a) => [addressKey(a), a]));
  const added = [...wantKeys].filter(([key]) => !have.has(key)).map(([, a]) => a);
  const removed = [...have].filter((key) => !wantKeys.has(key));
  const lines: string[] = [];
  for (const [fam, up, down] of [[4, 'up4', 'down4'], [6, 'up6', 'down6']] as const) {
    const add = added.filter((a) => family(a) === fam);
    const del = removed.filter((a) => family(a) === fam);
    if (del.length > 0) lines.push(elementsCommand('delete', table, up, del), elementsCommand('delete', table, down, del));
    if (add.length > 0) lines.push(elementsCommand('add', table, up, add), elementsCommand('add', table, down, add));
  }
  return { script: lines.length > 0 ? lines.join('; ') : null, added: added.map(addressKey), removed };
}

interface NftJsonSet {
  set?: { name?: unknown; table?: unknown; family?: unknown; elem?: unknown };
}

/** Parses `nft -j list table inet T`: the counters of every element of our four sets. */
export function parseTableCounters(json: string, table: string): TableCounters {
  const doc = JSON.parse(json) as { nftables?: unknown };
  if (!doc || !Array.isArray(doc.nftables)) throw new Error('nft -j gave no "nftables" array');
  const counters = { up4: new Map(), down4: new Map(), up6: new Map(), down6: new Map() } as TableCounters;
  for (const item of doc.nftables as NftJsonSet[]) {
    const set = item?.set;
    if (!set || set.table !== table || set.family !== 'inet' || !(SET_NAMES as readonly unknown[]).includes(set.name)) continue;
    const target = counters[set.name as SetName];
    if (!Array.isArray(set.elem)) continue; // an empty set has no "elem"
    for (const e of set.elem as unknown[]) {
      const elem = (e as { elem?: { val?: unknown; counter?: { bytes?: unknown; packets?: unknown } } })?.elem;
      if (!elem || typeof elem.val !== 'string') continue;
      const bytes = Number(elem.counter?.bytes ?? 0);
      const packets = Number(elem.counter?.packets ?? 0);
      target.set(addressKey(elem.val), { bytes: Number.isFinite(bytes) ? bytes : 0, packets: Number.isFinite(packets) ? packets : 0 });
    }
  }
  return counters;
}

/** Names of flowtables anywhere in the ruleset (`nft -j list flowtables`): traffic they offload skips every hook. */
export function parseFlowtables(json: string): string[] {
  const doc = JSON.parse(json) as { nftables?: unknown };
  if (!doc || !Array.isArray(doc.nftables)) return [];
  return (doc.nftables as { flowtable?: { name?: unknown; family?: unknown; table?: unknown; flags?: unknown } }[])
    .filter((i) => i?.flowtable)
    .map((i) => {
      const f = i.flowtable!;
      const flags = Array.isArray(f.flags) ? f.flags : f.flags ? [f.flags] : [];
      return `${String(f.family)} ${String(f.table)} ${String(f.name)}${flags.includes('offload') ? ' (hardware offload)' : ''}`;
    });
}

/** What nft says when our table is not (or no longer) there. */
export const TABLE_GONE = /No such file or directory|does not exist/i;

/**
 * The table's lifecycle, driven by the node: ensure (create or rebuild), sync to the client list,
 * read, remove. State is what the kernel showed at the last read, so a set flushed or a table
 * deleted underneath is noticed and repaired at the next tick.
 */
export class NftAccounting {
  readonly table: string;
  /** Bumped each time an address is (re)added: its counter then starts again from 0. */
  private generation = 0;
  private readonly generations = new Map<string, number>();
  private present: Set<string> | null = null;
  /** Whether we ever created the table: if not, there is nothing of ours to remove. */
  private created = false;

  constructor(
    private readonly runner: CommandRunner,
    readonly iface: string,
    private readonly now: () => number,
    /** IPv4 elements per set at most (the client cap); IPv6 sets: IPV6_PER_CLIENT times it. */
    readonly maxElements = DEFAULT_MAX_ELEMENTS,
  ) {
    this.table = tableNameFor(iface);
    checkMax(maxElements);
  }

  /** Epoch of an address's counters: changes whenever we added it anew. */
  epochOf(key: string): number | undefined {
    return this.generations.get(key);
  }

  /** `at`: when the elements appeared; the middle of the nft command that added them. */
  private markAdded(keys: Iterable<string>, at: number, prime: (key: string, atMs: number, epoch: number) => void): void {
    this.generation++;
    for (const key of keys) {
      this.generations.set(key, this.generation);
      prime(key, at, this.generation);
    }
  }

  /**
   * Makes the sets hold exactly `addresses` (valid IPv4/IPv6, as clients spell them), creating
   * the table if it is not there. `prime` is told of every counter that starts at 0 now.
   */
  async sync(addresses: readonly string[], prime: (key: string, atMs: number, epoch: number) => void): Promise<void> {
    // most ticks: the same clients, nothing to run (and nothing to check: nothing reaches nft)
    if (this.present && this.holdsExactly(addresses)) return;
    if (this.present) {
      const { script, added, removed } = syncScript(this.table, this.present, addresses, this.maxElements);
      if (!script) return;
      try {
        const before = this.now();
        await runChecked(this.runner, ['nft', script]);
        const at = (before + this.now()) / 2;
        for (const key of removed) {
          this.present.delete(key);
          this.generations.delete(key);
        }
        for (const key of added) this.present.add(key);
        this.markAdded(added, at, prime);
        return;
      } catch (err) {
        if ((err as CommandError).kind === 'missing' || (err as CommandError).kind === 'permission') throw err;
        // the table changed underneath (an element or the whole table gone): build it again
      }
    }
    const before = this.now();
    await runChecked(this.runner, ['nft', createScript(this.table, this.iface, addresses, this.maxElements)]);
    const at = (before + this.now()) / 2;
    this.created = true;
    this.present = new Set(addresses.map(addressKey));
    this.generations.clear();
    this.markAdded(this.present, at, prime);
  }

  /** Whether the sets hold `addresses` and nothing else (addresses distinct by key, as validateSnapshot gives them). */
  private holdsExactly(addresses: readonly string[]): boolean {
    const present = this.present!;
    if (present.size !== addresses.length) return false;
    for (const a of addresses) if (!present.has(addressKey(a))) return false;
    return true;
  }

  /** True when the last read found the table or some of `addresses` missing (flushed underneath). */
  incomplete(addresses: readonly string[]): boolean {
    return !this.present || addresses.some((a) => !this.present!.has(addressKey(a)));
  }

  /** Reads every counter with `reader`; null if the table is gone (flushed underneath): the next sync rebuilds it. */
  async read(reader: SetReader): Promise<TableCounters | null> {
    const counters = await reader.readSets(this.table, SET_NAMES);
    if (!counters) {
      this.present = null;
      return null;
    }
    // what is really there: an address missing from either direction is added again at the next sync
    if (!this.present) this.present = new Set();
    for (const key of this.present) {
      const there = family(key) === 4 ? counters.up4.has(key) && counters.down4.has(key) : counters.up6.has(key) && counters.down6.has(key);
      if (!there) this.present.delete(key);
    }
    return counters;
  }

  /** Flowtables in the ruleset (any table): their offloaded flows never reach our counters. */
  async flowtables(): Promise<string[]> {
    return parseFlowtables(await runChecked(this.runner, ['nft', '-j', 'list', 'flowtables']));
  }

  /** Deletes our table (and nothing else); quiet if it is already gone. */
  async remove(): Promise<void> {
    this.present = null;
    this.generations.clear();
    if (!this.created) return;
    this.created = false;
    const argv = ['nft', 'delete', 'table', 'inet', this.table];
    const result = await this.runner.run(argv, { timeoutMs: 5000 });
    if (result.exitCode !== 0 && !TABLE_GONE.test(result.stderr)) throw commandFailure(argv, result);
  }
}
