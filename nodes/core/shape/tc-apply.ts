/**
 * The shaper's life: detect the leaf the kernel offers, read (adopt) what a previous run left,
 * plan each snapshot, send only the difference through one `tc -batch -` process, and on close
 * leave the interface as it was found. Dry-run plans against a simulated kernel and runs nothing
 * but the leaf probe (in a throwaway namespace, `unshare -n`); enforce probes the leaf on a
 * throwaway IFB of its own (CAP_NET_ADMIN is enough).
 */
import { CommandError, commandFailure, type CommandRunner } from '../runner';
import type { ShapingMode } from '../contract/settings';
import { diffTree, type DirectionCounts, type TreeDiff } from './tc-diff';
import { teardownCommands } from './tc-commands';
import { ifbNameFor, PlanCache, planTree, TreeIds } from './tc-plan';
import { readInstalled } from './tc-read';
import { TcSession } from './tc-session';
import { emptyTree, type InstalledTree, type LeafKind, type TreePlan } from './tc-tree';

export interface ShaperOptions {
  iface: string;
  mode: ShapingMode;
  /** Rate and ceil changes up to this percentage are not sent (no churn). */
  thresholdPercent: number;
}

export interface ShapingReport {
  mode: ShapingMode;
  iface: string;
  ifb: string;
  leaf: LeafKind;
  /** Set when the kernel has neither fq_codel nor sfq (or it could not be checked). */
  leafNote: string | null;
  /** The `tc -batch` lines run (enforce) or that would run (dry-run); empty when nothing changed. */
  commands: string[];
  /** `ip link` commands run before the batch (creating the IFB). */
  setup: string[];
  applied: boolean;
  clients: number;
  classes: number;
  filters: number;
  down: DirectionCounts;
  up: DirectionCounts;
  /** Wall time of the tc process, when one ran. */
  applyMs: number | null;
  /** Notes from the start: a tree adopted, a foreign qdisc found. */
  notes: string[];
  error: string | null;
  rolledBack: boolean;
}

const LEAF_CANDIDATES: LeafKind[] = ['fq_codel', 'sfq'];
const TC_TIMEOUT_MS = 30_000;

/** What the plan could not give as allocated: shares below HTB's 8 kbit/s, made at 8 kbit/s. */
function minimumNotes(plan: TreePlan): string[] {
  const notes: string[] = [];
  for (const d of [plan.down, plan.up]) {
    if (d.raisedToMinimum) notes.push(`${d.raisedToMinimum} ${d.direction === 'down' ? 'download' : 'upload'} classes at HTB's 8 kbit/s minimum: their allocated share is smaller (too many clients for the link)`);
  }
  return notes;
}

export class Shaper {
  readonly ifb: string;
  leaf: LeafKind = 'bfifo';
  leafNote: string | null = null;
  readonly notes: string[] = [];
  readonly ids: TreeIds;
  /** What the last ticks planned: a client as it was reuses its classes and filters. */
  private readonly planCache = new PlanCache();
  private installed: InstalledTree | null = null;
  private lastGood: TreePlan | null = null;
  private starting: Promise<void> | null = null;
  private touched = false;
  /** A tree of ours was there at start: after a failure it is kept, never torn down. */
  private adopted = false;
  /** Enforce, with a runner that keeps processes: one tc process for the shaper's life (tc-session.ts). */
  private readonly tc: TcSession | null;

  constructor(
    readonly options: ShaperOptions,
    private readonly runner: CommandRunner,
    rememberedIds: unknown = {},
  ) {
    this.ifb = ifbNameFor(options.iface);
    const { session } = runner;
    this.tc = options.mode === 'enforce' && session ? new TcSession({ ...runner, session: session.bind(runner) }) : null;
    this.ids = new TreeIds(rememberedIds);
  }

  /**
   * fq_codel, else sfq, else a byte-limited FIFO (bfifo): each tried as the root qdisc of a device that is ours alone.
   *
   * - enforce: a throwaway IFB (`eqt-…`, named like our IFB) created for the test and deleted
   *   right after; needs only CAP_NET_ADMIN, which enforce needs anyway (a systemd service with
   *   AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW gets the right leaf, not a silent FIFO).
   * - dry-run: the loopback of a throwaway network namespace (`unshare --net`), so nothing on the
   *   machine is touched; without CAP_SYS_ADMIN it says the leaf was not checked.
   *
   * The kernel saying "unknown" for both gives FIFO with "not in this kernel"; a refusal for lack
   * of privilege gives FIFO with "not checked (not permitted …)", never the other way round.
   */
  async detectLeaf(): Promise<void> {
    const refusals: string[] = [];
    let permission = false;
    let found: LeafKind | null = null;
    const tryKind = async (argv: string[], kind: LeafKind): Promise<boolean> => {
      const r = await this.runner.run(argv);
      if (r.exitCode === 0) {
        found = kind;
        return true;
      }
      const failure = commandFailure(argv, r);
      refusals.push(`${kind}: ${r.stderr.trim().split('\n')[0]}`);
      if (failure.kind === 'permission' || failure.kind === 'missing') {
        permission ||= failure.kind === 'permission';
        return true; // no point trying the next kind
      }
      return false;
    };
    try {
      if (this.options.mode === 'enforce') {
        const dev = this.probeDevice;
        const add = ['ip', 'link', 'add', dev, 'type', 'ifb'];
        let r = await this.runner.run(add);
        if (r.exitCode !== 0 && /exists/i.test(r.stderr)) {
          await this.runner.run(['ip', 'link', 'del', dev]); // left by a run that was killed mid-test
          r = await this.runner.run(add);
        }
        if (r.exitCode !== 0) {
          const failure = commandFailure(add, r);
          permission = failure.kind === 'permission';
          refusals.push(`no test device: ${r.stderr.trim().split('\n')[0] || `exit code ${r.exitCode}`}`);
        } else {
          try {
            for (const kind of LEAF_CANDIDATES) if (await tryKind(['tc', 'qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', kind], kind)) break;
          } finally {
            await this.runner.run(['ip', 'link', 'del', dev]);
          }
        }
      } else {
        for (const kind of LEAF_CANDIDATES) if (await tryKind(['unshare', '--net', 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', kind], kind)) break;
      }
    } catch (err) {
      refusals.push((err as Error).message);
    }
    if (found) {
      this.leaf = found;
      this.leafNote = null;
      return;
    }
    this.leaf = 'bfifo';
    const missing = !permission && refusals.length === LEAF_CANDIDATES.length && refusals.every((r) => /unknown/i.test(r));
    if (missing) this.leafNote = 'fq_codel and sfq not in this kernel: FIFO leaves';
    else if (permission) {
      const how = this.options.mode === 'enforce' ? 'CAP_NET_ADMIN' : 'CAP_SYS_ADMIN for a throwaway namespace in dry-run; enforce tests on a device of its own with CAP_NET_ADMIN';
      this.leafNote = `leaf not checked (not permitted: ${how}; ${refusals[refusals.length - 1]}): FIFO leaves`;
    } else this.leafNote = `leaf not checked (${refusals[refusals.length - 1] ?? '?'}): FIFO leaves`;
  }

  /** The throwaway device the leaf test uses in enforce: our IFB's name with `eqt-` for `eqn-`. */
  get probeDevice(): string {
    return `eqt-${this.ifb.slice(4)}`;
  }

  /** Leaf detection, and in enforce mode reading (adopting) what is installed. */
  start(): Promise<void> {
    this.starting ??= (async () => {
      await this.detectLeaf();
      if (this.options.mode === 'dry-run') {
        this.installed = emptyTree(this.options.iface, this.ifb);
        return;
      }
      const installed = await this.read();
      if (installed.down.root === 'ours') {
        this.adopted = true;
        this.notes.push(`adopted the tree a previous run left on ${this.options.iface}`);
      }
    })();
    return this.starting;
  }

  private async read(): Promise<InstalledTree> {
    const installed = await readInstalled(this.runner, this.options.iface, this.ifb);
    const foreign = typeof installed.down.root === 'object' ? installed.down.root.foreign : typeof installed.ingress === 'object' ? installed.ingress.foreign : null;
    if (foreign) {
      throw new Error(`${this.options.iface} already has a qdisc EqualNet did not make (${foreign}); remove it (tc qdisc del dev ${this.options.iface} root / ingress) or leave the shaper in dry-run`);
    }
    this.installed = installed;
    return installed;
  }

  /** The desired tree; throws an InputError (nothing applied) on invalid input. */
  plan(payload: unknown): TreePlan {
    this.ids.begin(); // the clients of this snapshot keep their ids; ids of MACs long gone are recycled
    return planTree(payload, { iface: this.options.iface, leaf: this.leaf }, this.ids, this.installed, this.planCache);
  }

  /**
   * A dry-run tick, all of it synchronous: plan, compare with the simulated kernel (what the
   * previous ticks would have left), report. `shape` calls it after `start()`; before that (the
   * bench) the leaf is the FIFO and the simulated kernel starts empty.
   */
  dryRun(payload: unknown): ShapingReport {
    if (this.options.mode !== 'dry-run') throw new Error('dryRun is for the dry-run mode');
    const plan = this.plan(payload);
    const installed = (this.installed ??= emptyTree(this.options.iface, this.ifb));
    const { diff, report } = this.compare(plan, installed);
    if (!installed.ifbExists) report.setup = [`ip link add ${plan.ifb} type ifb`, `ip link set ${plan.ifb} up`];
    this.installed = diff.next; // what the kernel would hold: the next tick shows only changes
    return report;
  }

  /** The diff from `installed` to the plan, and the report of it (nothing run yet). */
  private compare(plan: TreePlan, installed: InstalledTree): { diff: TreeDiff; report: ShapingReport } {
    const diff = diffTree(plan, installed, { thresholdPercent: this.options.thresholdPercent });
    const report: ShapingReport = {
      mode: this.options.mode,
      iface: plan.iface,
      ifb: plan.ifb,
      leaf: plan.leaf,
      leafNote: this.leafNote,
      commands: diff.commands.map((c) => c.join(' ')), // the batch's lines, joined once
      setup: [],
      applied: false,
      clients: plan.down.classes.size - 1,
      classes: plan.down.classes.size + plan.up.classes.size,
      filters: plan.down.filters.length + plan.up.filters.length,
      down: diff.down,
      up: diff.up,
      applyMs: null,
      notes: [...this.notes, ...minimumNotes(plan)],
      error: null,
      rolledBack: false,
    };
    return { diff, report };
  }

  async shape(payload: unknown): Promise<ShapingReport> {
    await this.start();
    if (this.options.mode !== 'enforce') return this.dryRun(payload);
    const plan = this.plan(payload);
    const installed = this.installed ?? (await this.read());
    const { diff, report } = this.compare(plan, installed);
    if (diff.commands.length === 0) {
      report.applied = true;
      return report;
    }
    const started = process.hrtime.bigint();
    try {
      this.touched = true;
      if (!installed.ifbExists) {
        report.setup = await this.createIfb();
      }
      await this.batch(report.commands);
      report.applyMs = Number(process.hrtime.bigint() - started) / 1e6;
      report.applied = true;
      this.installed = diff.next;
      this.lastGood = plan;
    } catch (err) {
      report.applyMs = Number(process.hrtime.bigint() - started) / 1e6;
      report.error = (err as Error).message;
      report.rolledBack = await this.rollBack();
    }
    return report;
  }

  private async createIfb(): Promise<string[]> {
    const add = ['ip', 'link', 'add', this.ifb, 'type', 'ifb'];
    const up = ['ip', 'link', 'set', this.ifb, 'up'];
    for (const argv of [add, up]) {
      const r = await this.runner.run(argv);
      if (r.exitCode !== 0) throw commandFailure(argv, r);
    }
    return [add.join(' '), up.join(' ')];
  }

  /** One tc process for the whole change; the script goes in on stdin, never through a shell. */
  async batch(lines: readonly string[]): Promise<void> {
    const argv = ['tc', '-batch', '-'];
    const r = this.tc ? await this.tc.run(lines, TC_TIMEOUT_MS) : await this.runner.run(argv, { input: lines.join('\n') + '\n', timeoutMs: TC_TIMEOUT_MS });
    if (r.exitCode !== 0) {
      const failure = commandFailure(argv, r);
      // tc names the failing line ("Command failed -:N"); keep the kernel's words first
      const detail = r.stderr.split('\n').filter((l) => l.trim() && !/^Command failed/.test(l) && !/^Warning/.test(l)).slice(0, 2).join(' / ');
      const line = /Command failed -:(\d+)/.exec(r.stderr);
      const where = line ? ` (line ${line[1]}: ${lines[Number(line[1]) - 1] ?? '?'})` : '';
      throw new CommandError(failure.kind, argv, `${detail || `exit code ${r.exitCode}`}${where}`);
    }
  }

  /**
   * After a failed batch: read what the kernel holds and return it to the last good tree. Before
   * any success, a tree adopted at start is kept as it is (false: nothing rolled back), and what
   * a first batch half-built on a clean interface is removed.
   */
  private async rollBack(): Promise<boolean> {
    this.installed = null;
    try {
      const installed = await this.read();
      if (this.lastGood) {
        if (!installed.ifbExists) await this.createIfb();
        const diff = diffTree(this.lastGood, installed, { thresholdPercent: 0 });
        if (diff.commands.length) await this.batch(diff.commands.map((c) => c.join(' ')));
        this.installed = diff.next;
        return true;
      }
      if (this.adopted) return false;
      const clean = await this.teardown(installed);
      this.installed = null;
      return clean;
    } catch {
      this.installed = null; // read again at the next tick
      return false;
    }
  }

  /** Removes our qdiscs and the IFB; true when every step succeeded. */
  private async teardown(installed: InstalledTree): Promise<boolean> {
    let clean = true;
    for (const command of teardownCommands(installed, this.options.iface)) {
      clean = (await this.runner.run(['tc', ...command])).exitCode === 0 && clean;
    }
    if (installed.ifbExists || this.touched) {
      const r = await this.runner.run(['ip', 'link', 'del', this.ifb]);
      clean = (r.exitCode === 0 || /Cannot find device/.test(r.stderr)) && clean;
    }
    return clean;
  }

  /** Leaves the interface as found (own qdiscs and IFB removed), unless asked to keep shaping. */
  async stop(keepShaping: boolean): Promise<void> {
    this.tc?.close();
    if (this.options.mode !== 'enforce' || keepShaping || !this.starting) return;
    await this.starting.catch(() => undefined);
    let installed: InstalledTree;
    try {
      installed = await readInstalled(this.runner, this.options.iface, this.ifb);
    } catch {
      return; // the interface is gone: nothing of ours is left on it
    }
    await this.teardown(installed);
  }
}
