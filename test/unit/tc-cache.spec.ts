// tc-shaper's per-tick caches (issue 17) give what planning afresh gives: PlanCache (clients as they
// were reuse their validated form, classes and filters; the last plan's Maps and lists while nothing
// in them changed), tc-diff's "already installed" path, and ClassIds' put-off recently-used moves.
// Random tick sequences (joins, leaves, address / prio / weight / rate / busy changes, another
// order, invalid snapshots, a tree changed underneath), compared tick by tick; everything handed
// out is frozen, so a later tick that changed it would throw. Pure logic: nothing to fake.
import assert from 'node:assert/strict';
import { Shaper } from '../../nodes/core/shape/tc-apply';
import { classCommand, leafCommand } from '../../nodes/core/shape/tc-commands';
import { diffTree } from '../../nodes/core/shape/tc-diff';
import { ClassIds, PlanCache, planTree, TreeIds } from '../../nodes/core/shape/tc-plan';
import { emptyTree, type InstalledTree } from '../../nodes/core/shape/tc-tree';
import { processRunner } from '../../nodes/lib/process-runner';
import { InputError } from '../../nodes/core/contract/errors';
import { RECENT_CLASS_IDS } from '../../nodes/core/shape/tc-plan';

/** Deterministic pseudo-random numbers (a failing seed can be run again). */
function random(seed: number) {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return { next, pick: <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)] };
}

/** Objects, arrays and Maps made unchangeable: a Map's set / delete / clear throw. */
function freeze<T>(value: T, seen = new Set<unknown>()): T {
  if (typeof value !== 'object' || value === null || seen.has(value) || Object.isFrozen(value)) return value;
  seen.add(value);
  if (value instanceof Map) {
    for (const [k, v] of value) {
      freeze(k, seen);
      freeze(v, seen);
    }
    for (const method of ['set', 'delete', 'clear']) {
      Object.defineProperty(value, method, { value: () => assert.fail(`a frozen Map's ${method} was called`) });
    }
  } else {
    for (const v of Object.values(value)) freeze(v, seen);
  }
  return Object.freeze(value);
}

const hex = (v: number) => v.toString(16).padStart(2, '0');
const MACS = Array.from({ length: 70 }, (_, i) => `3c:22:fb:00:${hex(i >> 8)}:${hex(i & 255)}`);
const LINK = 20e6;

type Alloc = Record<string, unknown>;
interface Client {
  mac: string;
  ip?: string | null;
  ip6?: unknown;
  alloc?: { down: Alloc; up: Alloc };
  [k: string]: unknown;
}
interface Snapshot {
  ts: number;
  clients: Client[];
  allocation: { down: { totalBps: number }; up: { totalBps: number } };
}

function scenario(seed: number) {
  const r = random(seed);
  const v6 = (i: number) => r.pick([`fd00:77::${i.toString(16)}`, `FD00:77:0:0::${i.toString(16)}`, `fe80::${i.toString(16)}`, `2001:db8::${(i * 7).toString(16)}`]);
  const alloc = (): Alloc => {
    const rate = Math.min(19e6, r.pick([5_000, 50_000, 900_000, 2e6, 2.05e6, 5e6, 12_345_678]) * r.pick([1, 1, 1.02, 3]));
    return { rateBps: rate, ceilBps: r.pick([LINK, 19e6]), prio: r.pick([0, 1, 1, 3, 7]), weight: r.pick([undefined, 1, 2, 5]), busy: r.pick([true, false, undefined]), expectedBps: rate };
  };
  const client = (i: number): Client => {
    const ip6: string[] = [];
    const k = r.pick([0, 1, 1, 2, 3]);
    for (let j = 0; j < k; j++) ip6.push(v6(r.pick([i, i + 100, i + 200])));
    return { mac: r.next() < 0.05 ? MACS[i].toUpperCase() : MACS[i], ip: r.pick([`10.0.0.${i}`, `10.0.0.${i}`, `10.0.1.${i}`, null, undefined]), ip6, hostname: 'x', alloc: { down: alloc(), up: alloc() } };
  };
  const first = (): Snapshot => ({ ts: 1, clients: Array.from({ length: 15 + Math.floor(r.next() * 30) }, (_, i) => client(i)), allocation: { down: { totalBps: LINK }, up: { totalBps: LINK } } });
  /** The next tick: the same, or a few changes (some of them invalid). */
  const change = (before: Snapshot): Snapshot => {
    const s = structuredClone(before);
    if (r.next() < 0.3) return s;
    for (let n = 1 + Math.floor(r.next() * 3); n > 0; n--) {
      const q = r.next();
      const c = s.clients.length ? r.pick(s.clients) : null;
      if (c && !c.alloc) {
        c.alloc = { down: alloc(), up: alloc() };
        continue;
      }
      if (q < 0.15 || !c) {
        const i = Math.floor(r.next() * MACS.length);
        if (!s.clients.some((x) => x.mac.toLowerCase() === MACS[i])) s.clients.push(client(i));
      } else if (q < 0.25) s.clients.splice(s.clients.indexOf(c), 1);
      else if (q < 0.45) c.alloc![r.pick(['down', 'up'] as const)].rateBps = r.pick([5_000, 50_000, 900_000, 2e6, 2.05e6, 5e6, 12_345_678]);
      else if (q < 0.5) c.alloc!.down.prio = r.pick([0, 2, 7]);
      else if (q < 0.55) c.alloc!.up.weight = r.pick([1, 3, undefined]);
      else if (q < 0.62) c.alloc![r.pick(['down', 'up'] as const)].busy = r.pick([true, false]);
      else if (q < 0.68) c.ip = r.pick([null, `10.0.0.${Math.floor(r.next() * 80)}`]);
      else if (q < 0.74) c.ip6 = r.next() < 0.5 ? [] : [v6(Math.floor(r.next() * 80))];
      else if (q < 0.78) s.clients.reverse();
      else if (q < 0.8) s.allocation.down.totalBps = r.pick([LINK, 100e6]);
      else if (q < 0.83) c.alloc!.down.rateBps = r.pick([0, 'x', 25e6, Number.NaN]);
      else if (q < 0.86) c.mac = r.pick(['nope', MACS[0]]);
      else if (q < 0.88) c.alloc!.up.prio = 9;
      else if (q < 0.9) c.ip6 = ['fd00::1 junk'];
      else if (q < 0.92) delete c.alloc;
      else if (q < 0.94) c.alloc!.down.ceilBps = 1_000;
      else if (q < 0.96) {
        const other = r.pick(s.clients);
        if (other !== c && other.ip) c.ip = other.ip;
      } else c.ip6 = [...((c.ip6 as string[]) ?? []), 'FE80::9', ((c.ip6 as string[]) ?? [])[0] ?? 'fd00::5'];
    }
    return s;
  };
  return { r, first, change };
}

function attempt<T>(f: () => T): { ok: T } | { error: string } {
  try {
    return { ok: f() };
  } catch (err) {
    assert.ok(err instanceof InputError, String(err));
    return { error: (err as Error).message };
  }
}

/** A copy of the tree, as the kernel would be read back; sometimes with a class or a filter gone underneath. */
function readBack(tree: InstalledTree, r: ReturnType<typeof random>): InstalledTree {
  const copy = structuredClone(tree);
  const q = r.next();
  if (q < 0.4) {
    const minor = [...copy.down.classes.keys()][0];
    if (minor !== undefined) copy.down.classes.delete(minor);
  } else if (q < 0.6) {
    const minor = [...copy.up.leaves.keys()][0];
    if (minor !== undefined) copy.up.leaves.delete(minor);
  } else if (copy.up.filters.length) {
    copy.up.filters = copy.up.filters.slice(1);
    delete copy.up.plannedFilters;
  }
  return copy;
}

describe('tc-shaper caches: a tick from what the last ticks kept gives what planning afresh gives', () => {
  for (const seed of [1, 2, 3]) {
    it(`plan, diff, next tree and class ids are equal to planning and comparing afresh, tick by tick, over 20 x 60 random ticks (seed ${seed})`, () => {
      const { r, first, change } = scenario(seed);
      let ticks = 0;
      let refused = 0;
      let commands = 0;
      for (let world = 0; world < 20; world++) {
        const cachedIds = new TreeIds();
        const freshIds = new TreeIds();
        const cache = new PlanCache();
        let cachedTree = emptyTree('d0', 'eqn-d0');
        let freshTree = emptyTree('d0', 'eqn-d0');
        let leaf = r.pick(['bfifo', 'fq_codel'] as const);
        const thresholdPercent = r.pick([0, 5, 5, 40]);
        let snap = first();
        let good = snap;
        for (let t = 0; t < 60; t++, ticks++) {
          snap = change(snap);
          if (r.next() < 0.03) leaf = leaf === 'bfifo' ? 'fq_codel' : 'bfifo'; // another leaf found
          const withInstalled = r.next() < 0.8;
          const tick = (ids: TreeIds, tree: InstalledTree, c: PlanCache | undefined) => () => {
            ids.begin();
            const plan = planTree(snap, { iface: 'd0', leaf }, ids, withInstalled ? tree : null, c);
            return { plan, diff: diffTree(plan, tree, { thresholdPercent }) };
          };
          const cached = attempt(tick(cachedIds, cachedTree, cache));
          const fresh = attempt(tick(freshIds, freshTree, undefined));
          const where = `seed ${seed}, world ${world}, tick ${t}`;
          if ('error' in fresh) {
            assert.deepEqual(cached, fresh, where);
            refused++;
            if (r.next() < 0.8) snap = structuredClone(good);
          } else {
            assert.ok('ok' in cached, `${where}: ${'error' in cached ? cached.error : ''}`);
            assert.deepEqual(cached.ok.plan, fresh.ok.plan, `${where}: plan`);
            assert.deepEqual(cached.ok.diff, fresh.ok.diff, `${where}: diff`);
            commands += fresh.ok.diff.commands.length;
            freeze(cached.ok.plan);
            freeze(cached.ok.diff);
            if (r.next() < 0.1) {
              // read back from the kernel, maybe changed underneath: the diff repairs it
              const underneath = readBack(fresh.ok.diff.next, random(t));
              cachedTree = structuredClone(underneath);
              freshTree = underneath;
            } else {
              cachedTree = cached.ok.diff.next;
              // planning afresh compares with a copy that has no record of the filter list it was
              // installed from, so its diff goes through every class and filter the whole way
              freshTree = structuredClone(fresh.ok.diff.next);
              delete freshTree.down.plannedFilters;
              delete freshTree.up.plannedFilters;
            }
            good = snap;
          }
          assert.deepEqual(cachedIds.entries(), freshIds.entries(), `${where}: class ids, in use order`);
          assert.equal(cachedIds.changes, freshIds.changes, where);
        }
      }
      assert.equal(ticks, 1200);
      assert.ok(refused > 50 && refused < 600, `${refused} refused`);
      assert.ok(commands > 2000, `${commands} commands`);
    });
  }

  it('each input the shaping reads, changed alone, gives the plan planning afresh gives (a busy client raised from a small class renewed)', () => {
    const base = (): Snapshot => ({
      ts: 1,
      clients: [
        { mac: MACS[1], ip: '10.0.0.1', ip6: ['fd00::1', 'fe80::1'], alloc: { down: { rateBps: 2e6, ceilBps: LINK, prio: 1, weight: 2, busy: false }, up: { rateBps: 2e6, ceilBps: LINK, prio: 1, weight: 2, busy: false } } },
        { mac: MACS[2], ip: '10.0.0.2', ip6: [], alloc: { down: { rateBps: 1e6, ceilBps: LINK, prio: 3 }, up: { rateBps: 1e6, ceilBps: LINK, prio: 3 } } },
      ],
      allocation: { down: { totalBps: LINK }, up: { totalBps: LINK } },
    });
    const edits: [string, (s: Snapshot) => void][] = [
      ['ip', (s) => (s.clients[0].ip = '10.0.0.9')],
      ['ip gone', (s) => (s.clients[0].ip = undefined)],
      ['ip6 added', (s) => (s.clients[0].ip6 = ['fd00::1', 'fe80::1', 'fd00::7'])],
      ['ip6 reordered', (s) => (s.clients[0].ip6 = ['fe80::1', 'fd00::1'])],
      ['ip6 written otherwise', (s) => (s.clients[0].ip6 = ['FD00:0::1', 'fe80::1'])],
      ['ip6 gone', (s) => delete s.clients[0].ip6],
      ['MAC in capitals', (s) => (s.clients[0].mac = MACS[1].toUpperCase())],
      ['another order', (s) => s.clients.reverse()],
      ['link speed', (s) => (s.allocation.up.totalBps = 30e6)],
    ];
    for (const dir of ['down', 'up'] as const) {
      edits.push([`${dir} rate`, (s) => (s.clients[0].alloc![dir].rateBps = 3e6)]);
      edits.push([`${dir} ceil`, (s) => (s.clients[0].alloc![dir].ceilBps = 10e6)]);
      edits.push([`${dir} prio`, (s) => (s.clients[0].alloc![dir].prio = 4)]);
      edits.push([`${dir} weight`, (s) => (s.clients[0].alloc![dir].weight = 3)]);
      edits.push([`${dir} weight absent`, (s) => delete s.clients[0].alloc![dir].weight]);
      edits.push([`${dir} busy`, (s) => (s.clients[0].alloc![dir].busy = true)]);
      edits.push([`${dir} rate below 8 kbit/s`, (s) => (s.clients[0].alloc![dir].rateBps = 5_000)]);
    }
    for (const [what, edit] of edits) {
      // installed: the first client's classes at 50 kbit/s, a rate that leaves a debt (freshClassNeeded)
      const small = base();
      small.clients[0].alloc!.down.rateBps = small.clients[0].alloc!.up.rateBps = 50_000;
      const installed = diffTree(planTree(small, { iface: 'd0', leaf: 'bfifo' }, new TreeIds()), emptyTree('d0', 'eqn-d0'), { thresholdPercent: 5 }).next;
      const cache = new PlanCache();
      const cachedIds = new TreeIds();
      const freshIds = new TreeIds();
      const edited = base();
      edit(edited);
      for (const snap of [base(), base(), edited, edited, base()]) {
        cachedIds.begin();
        freshIds.begin();
        const cached = planTree(snap, { iface: 'd0', leaf: 'bfifo' }, cachedIds, installed, cache);
        const fresh = planTree(snap, { iface: 'd0', leaf: 'bfifo' }, freshIds, installed);
        assert.deepEqual(cached, fresh, what);
        assert.deepEqual(cachedIds.entries(), freshIds.entries(), what);
      }
    }
  });

  it('a tree changed underneath and read back is repaired by the next tick, with the same snapshot', () => {
    const ids = new TreeIds();
    const cache = new PlanCache();
    const snap = scenario(4).first();
    const plan = (tree: InstalledTree | null) => (ids.begin(), planTree(snap, { iface: 'd0', leaf: 'bfifo' }, ids, tree, cache));
    let tree = diffTree(plan(null), emptyTree('d0', 'eqn-d0'), { thresholdPercent: 5 }).next;
    const steady = plan(tree);
    assert.deepEqual(diffTree(steady, tree, { thresholdPercent: 5 }).commands, []);
    assert.equal(plan(tree), steady, 'nothing changed: the very same plan');
    // a class deleted by hand, and one rate changed by hand, in the kernel read back
    const underneath = structuredClone(tree);
    const [gone, changed] = [...underneath.down.classes.keys()];
    underneath.down.classes.delete(gone);
    underneath.down.classes.get(changed)!.rateBps *= 3;
    tree = underneath;
    const again = plan(tree);
    const repair = diffTree(again, tree, { thresholdPercent: 5 }).commands.map((c) => c.join(' '));
    const cls = (minor: number) => again.down.classes.get(minor)!;
    const expected = [
      { minor: gone, lines: [classCommand('add', 'd0', cls(gone)), leafCommand('add', 'd0', gone, 'bfifo', again.down.totalBps)] },
      { minor: changed, lines: [classCommand('change', 'd0', cls(changed))] },
    ]
      .sort((x, y) => x.minor - y.minor)
      .flatMap((w) => w.lines.map((l) => l.join(' ')));
    assert.deepEqual(repair, expected);
  });

  it('the dry-run report: a tick with nothing changed reports no command and the same counts, and reports already sent are never changed', () => {
    const { first, change, r } = scenario(5);
    const shaper = new Shaper({ iface: 'd0', mode: 'dry-run', thresholdPercent: 5 }, processRunner);
    const none = { classesAdded: 0, classesChanged: 0, classesRemoved: 0, filtersAdded: 0, filtersRemoved: 0 };
    let snap = first();
    let sent = 0;
    for (let t = 0; t < 200; t++) {
      const next = change(snap);
      let report;
      try {
        report = shaper.dryRun(next);
      } catch (err) {
        assert.ok(err instanceof InputError);
        continue;
      }
      snap = next;
      freeze(report); // a later tick that changed it would throw
      sent++;
      if (r.next() < 0.3) {
        const again = shaper.dryRun(snap);
        assert.deepEqual(again, { ...report, commands: [], setup: [], down: none, up: none });
        freeze(again);
      }
    }
    assert.ok(sent > 100, `${sent} reports`);
  });
});

/** The recently-used order as it was kept before: a delete and a set on every use. */
class ReferenceIds {
  readonly byMac = new Map<string, number>();
  readonly byMinor = new Map<number, string>();
  round = new Set<string>();
  constructor(readonly recent: number) {}
  begin(): void {
    this.round = new Set();
  }
  minorFor(mac: string, minorOf: (mac: string) => number): number {
    const known = this.byMac.get(mac);
    if (known !== undefined) {
      this.byMac.delete(mac);
      this.byMac.set(mac, known);
      this.round.add(mac);
      return known;
    }
    for (const [m, minor] of this.byMac) {
      if (this.byMac.size + 1 <= this.round.size + this.recent) break;
      if (this.round.has(m)) break;
      this.byMac.delete(m);
      this.byMinor.delete(minor);
    }
    const minor = minorOf(mac);
    this.byMac.set(mac, minor);
    this.byMinor.set(minor, mac);
    this.round.add(mac);
    return minor;
  }
}

describe('tc-plan ClassIds: the recently-used order with its moves put off', () => {
  it('keeps, evicts and lists the MACs as moving each on every use did, over 30,000 random uses, rounds and listings', () => {
    const r = random(11);
    const mac = (i: number) => `02:00:00:00:${hex(i >> 8)}:${hex(i & 255)}`;
    for (let world = 0; world < 100; world++) {
      const recent = Math.floor(r.next() * 20);
      const pool = 10 + Math.floor(r.next() * 80);
      const ids = new ClassIds([], recent);
      const reference = new ReferenceIds(recent);
      let round: string[] = [];
      for (let step = 0; step < 300; step++) {
        const q = r.next();
        if (q < 0.05) {
          ids.begin();
          reference.begin();
          round = [];
        } else if (q < 0.6 && round.length) {
          const m = r.pick(round);
          assert.equal(ids.minorFor(m), reference.minorFor(m, () => assert.fail('known')));
        } else {
          const m = mac(Math.floor(r.next() * pool));
          round.push(m);
          const minor = ids.minorFor(m);
          assert.equal(reference.minorFor(m, () => minor), minor);
        }
        if (r.next() < 0.3) {
          // a whole round as the planner makes it: the same MACs, in MAC order
          const macs = [...new Set(round)].sort();
          ids.begin();
          reference.begin();
          for (const m of macs) assert.equal(ids.minorFor(m), reference.minorFor(m, () => assert.fail('known')));
        }
        if (r.next() < 0.1) assert.deepEqual(ids.entries(), [...reference.byMac.entries()], `world ${world}, step ${step}`);
        assert.equal(ids.size, reference.byMac.size);
      }
    }
  });

  it('a steady round moves nothing, and many uses between rounds stay bounded', () => {
    const ids = new ClassIds();
    const macs = Array.from({ length: 300 }, (_, i) => `02:00:00:00:${hex(i >> 8)}:${hex(i & 255)}`);
    ids.begin();
    for (const m of macs) ids.minorFor(m);
    const order = ids.entries();
    for (let round = 0; round < 3; round++) {
      ids.begin();
      for (const m of macs) ids.minorFor(m);
      assert.deepEqual(ids.entries(), order);
    }
    // asked again and again outside a round (as the lab tests do): the notes of uses stay bounded
    for (let i = 0; i < 100_000; i++) ids.minorFor(macs[i % 7]);
    const touched = (ids as unknown as { touched: string[] }).touched;
    assert.ok(touched.length <= 2 * macs.length + 16, `${touched.length} uses noted`);
    assert.deepEqual(ids.entries().slice(-7).map(([m]) => m).sort(), macs.slice(0, 7));
    assert.ok(ids.size <= macs.length + RECENT_CLASS_IDS);
  });
});

