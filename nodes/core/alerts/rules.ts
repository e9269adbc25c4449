import { duration, mbps, noun, titleOf, verb, who, type Alert, type ClientInfo, type Figures } from './alert';
import { DEFAULT_SEVERITY, directionsOf, type Direction, type RuleKind, type Thresholds } from './options';
import { allocOf, bpsOf, ceilOf, type ClientSample, type SnapshotView } from './snapshot';
import { Tracker, type Timing, type Transition } from './tracker';

const pct = (x: number) => `${Math.round(x)} %`;
const round = (x: number) => Math.round(x);

export const timingOf = (t: Thresholds): Timing => ({ holdMs: t.holdSec * 1000, clearMs: t.clearSec * 1000, cooldownMs: t.cooldownSec * 1000 });

/** Builds alerts of one kind with the node's severity. */
export class AlertFactory {
  constructor(
    readonly kind: RuleKind,
    public thresholds: Thresholds,
  ) {}

  make(
    state: Alert['state'],
    key: string,
    ts: number,
    client: ClientInfo | null,
    direction: Direction | null,
    message: string,
    figures: Figures,
  ): Alert {
    const title = titleOf(this.kind, state);
    return {
      type: this.kind,
      severity: state === 'cleared' ? 'success' : this.thresholds.severity || DEFAULT_SEVERITY[this.kind],
      state,
      message,
      title: client ? `${title}: ${client.label}` : direction ? `${title} (${noun(direction)})` : title,
      mac: client?.mac ?? null,
      ip: client?.ip ?? null,
      client: client?.label ?? null,
      direction,
      ts,
      figures,
      key,
    };
  }
}

export interface SnapshotRule {
  readonly needsAlloc: boolean;
  evaluate(s: SnapshotView): Alert[];
  /** Raised conditions (for the status). */
  readonly active: number;
  setThresholds(t: Thresholds): void;
}

interface Held {
  client: ClientSample;
  direction: Direction;
  figures: Figures;
}

/** Shared by the rules whose conditions hold for a time: hold, cooldown and clear by Tracker. */
abstract class HeldRule implements SnapshotRule {
  abstract readonly needsAlloc: boolean;
  protected readonly tracker: Tracker<Held | null>;
  protected t: Thresholds;

  constructor(protected readonly factory: AlertFactory) {
    this.t = factory.thresholds;
    this.tracker = new Tracker(timingOf(this.t));
  }

  setThresholds(t: Thresholds): void {
    this.t = t;
    this.factory.thresholds = t;
    this.tracker.timing = timingOf(t);
  }

  get active(): number {
    return this.tracker.raisedCount;
  }

  evaluate(s: SnapshotView): Alert[] {
    const out: Alert[] = [];
    this.tracker.begin();
    this.check(s, (key, data) => {
      const tr = this.tracker.true(key, s.ts, data);
      if (tr) out.push(this.raised(tr, s.ts));
    });
    for (const tr of this.tracker.end(s.ts)) out.push(this.cleared(tr, s.ts));
    return out;
  }

  /** Reports every condition that holds in this snapshot. */
  protected abstract check(s: SnapshotView, holds: (key: string, data: Held | null) => void): void;
  protected abstract raised(tr: Transition<Held | null>, ts: number): Alert;
  protected abstract cleared(tr: Transition<Held | null>, ts: number): Alert;
}

/** A client moves at least `percent` of its allocation in a direction for `holdSec` (original: 90 %). */
export class OverAllocationRule extends HeldRule {
  readonly needsAlloc = true;

  protected check(s: SnapshotView, holds: (key: string, data: Held) => void): void {
    const dirs = directionsOf(this.t.directions);
    const share = this.t.percent / 100;
    // indexed loops: a rule runs once a tick, too seldom for V8 to optimise an iterator away
    for (let i = 0; i < s.clients.length; i++) {
      const c = s.clients[i];
      for (let k = 0; k < dirs.length; k++) {
        const d = dirs[k];
        const rate = allocOf(c, d)!;
        const used = bpsOf(c, d);
        if (rate > 0 && used >= share * rate) {
          holds(`over_allocation|${c.mac}|${d}`, {
            client: c,
            direction: d,
            figures: { usageBps: round(used), allocationBps: round(rate), percent: Math.round((used / rate) * 1000) / 10, thresholdPercent: this.t.percent, holdSec: this.t.holdSec },
          });
        }
      }
    }
  }

  protected raised(tr: Transition<Held>, ts: number): Alert {
    const { client, direction: d, figures } = tr.data;
    const msg = `${who(client)} ${verb(d)} ${mbps(figures.usageBps as number)}, ${pct(figures.percent as number)} of its allocation of ${mbps(figures.allocationBps as number)}, for ${duration(tr.sinceMs / 1000)} (threshold ${this.t.percent} % for ${this.t.holdSec} s)`;
    return this.factory.make('raised', tr.key, ts, client, d, msg, { ...figures, forSec: round(tr.sinceMs / 1000) });
  }

  protected cleared(tr: Transition<Held>, ts: number): Alert {
    const { client, direction: d, figures } = tr.data;
    const msg = `${who(client)} is back under ${this.t.percent} % of its ${noun(d)} allocation after ${duration(tr.raisedMs / 1000)}`;
    return this.factory.make('cleared', tr.key, ts, client, d, msg, { ...figures, raisedSec: round(tr.raisedMs / 1000) });
  }
}

/**
 * A client that wants more (moves at least `wantPercent` of its allocation) gets less than its
 * guarantee, or a client of lower priority that wants more moves more than it (by more than
 * `tolerancePercent`). The alert names the starved client, the higher-priority one.
 */
export class PriorityStarvationRule extends HeldRule {
  readonly needsAlloc = true;

  protected check(s: SnapshotView, holds: (key: string, data: Held) => void): void {
    const want = this.t.wantPercent / 100;
    const tol = this.t.tolerancePercent / 100;
    for (const d of directionsOf(this.t.directions)) {
      const wanting: ClientSample[] = [];
      for (let i = 0; i < s.clients.length; i++) {
        const c = s.clients[i];
        // held by its own cap (a maximum or a quota's throttle): the one allowed exception to
        // "a higher priority never gets less", not starvation
        const ceil = ceilOf(c, d);
        if (ceil !== null && s.linkBps && ceil < s.linkBps[d]) continue;
        const rate = allocOf(c, d)!;
        if (rate > 0 && bpsOf(c, d) >= want * rate) wanting.push(c);
      }
      if (wanting.length === 0) continue;
      // The busiest wanting client of each priority, then of every priority below (higher numbers).
      const byPriority = new Map<number, ClientSample>();
      for (const c of wanting) {
        if (c.priority === null) continue;
        const best = byPriority.get(c.priority);
        if (!best || bpsOf(c, d) > bpsOf(best, d)) byPriority.set(c.priority, c);
      }
      const levels = [...byPriority.keys()].sort((a, b) => b - a);
      const busiestBelow = new Map<number, ClientSample | null>();
      let running: ClientSample | null = null;
      for (const p of levels) {
        busiestBelow.set(p, running);
        const here = byPriority.get(p)!;
        if (!running || bpsOf(here, d) > bpsOf(running, d)) running = here;
      }
      const g = s.guaranteeBps?.[d] ?? null;
      for (const c of wanting) {
        const used = bpsOf(c, d);
        if (g !== null && used < g * (1 - tol)) {
          holds(`priority_starvation|${c.mac}|${d}`, {
            client: c,
            direction: d,
            figures: { reason: 'below_guarantee', usageBps: round(used), allocationBps: round(allocOf(c, d)!), guaranteeBps: round(g), priority: c.priority },
          });
          continue;
        }
        if (c.priority === null) continue;
        const lower = busiestBelow.get(c.priority);
        if (lower && bpsOf(lower, d) > used * (1 + tol)) {
          holds(`priority_starvation|${c.mac}|${d}`, {
            client: c,
            direction: d,
            figures: {
              reason: 'lower_priority_gets_more',
              usageBps: round(used),
              allocationBps: round(allocOf(c, d)!),
              priority: c.priority,
              otherMac: lower.mac,
              otherClient: lower.label,
              otherPriority: lower.priority,
              otherUsageBps: round(bpsOf(lower, d)),
            },
          });
        }
      }
    }
  }

  protected raised(tr: Transition<Held>, ts: number): Alert {
    const { client, direction: d, figures: f } = tr.data;
    const base = `${who(client)}, priority ${client.priority ?? '?'}, is starved on ${noun(d)}: `;
    const msg =
      f.reason === 'below_guarantee'
        ? `${base}it wants more but moves ${mbps(f.usageBps as number)}, below its guarantee of ${mbps(f.guaranteeBps as number)}`
        : `${base}${f.otherClient} (priority ${f.otherPriority}) moves ${mbps(f.otherUsageBps as number)} while it moves ${mbps(f.usageBps as number)}, and both want more`;
    return this.factory.make('raised', tr.key, ts, client, d, `${msg} (for ${duration(tr.sinceMs / 1000)})`, { ...f, forSec: round(tr.sinceMs / 1000) });
  }

  protected cleared(tr: Transition<Held>, ts: number): Alert {
    const { client, direction: d, figures } = tr.data;
    return this.factory.make('cleared', tr.key, ts, client, d, `${who(client)} is no longer starved on ${noun(d)} (after ${duration(tr.raisedMs / 1000)})`, {
      ...figures,
      raisedSec: round(tr.raisedMs / 1000),
    });
  }
}

interface Baseline {
  mean: number;
  variance: number;
  observedMs: number;
  samples: number;
}

/** How long rules remember a client that is not seen any more. */
export const FORGET_AFTER_MS = 7 * 86_400_000;
/**
 * Per-client state a rule keeps at most (baselines, presence, known MACs, held conditions): twice
 * the largest client cap, so the clients of a snapshot and as many recent ones fit. Past it the
 * client not seen the longest is forgotten first; a snapshot from anywhere cannot grow it.
 */
export const CLIENT_STATE_MAX = 8192;

/**
 * Moves `key` to the end of `map`'s order (most recently seen), then drops the oldest beyond `max`,
 * calling `dropped` with each key dropped (a function the caller keeps: none made per call).
 */
export function touch<K, V>(map: Map<K, V>, key: K, value: V, dropped: (key: K) => void, max = CLIENT_STATE_MAX): void {
  map.delete(key);
  map.set(key, value);
  if (map.size <= max) return;
  for (const k of map.keys()) {
    if (map.size <= max) break;
    map.delete(k);
    dropped(k);
  }
}
/**
 * Whether the clients' MACs, in order, are already the last keys of `map` in that order. Then
 * touching each in turn would leave the map's order as it is (the usual tick: the same clients as
 * the last one), and their values may be set in place: a delete and a set per client made V8
 * rebuild the map's table about once a tick (13 kB a rule at 250 clients).
 */
export function endsWithClients(map: Map<string, unknown>, clients: readonly { mac: string }[]): boolean {
  const n = clients.length;
  if (map.size < n) return false;
  let at = n - map.size;
  let same = true;
  map.forEach((_, key) => {
    if (same && at >= 0 && key !== clients[at].mac) same = false;
    at++;
  });
  return same;
}
const SWEEP_EVERY_MS = 3_600_000;

/** Longest gap counted as observed time: after a restart or a pause, time off does not warm a baseline up. */
const MAX_SAMPLE_GAP_MS = 60_000;

/**
 * A client's rate far above its own baseline: an exponentially weighted mean and variance per
 * client and direction (and hour of the day, if asked), time constant `baselineMin`. A baseline
 * is trusted after `warmupMin` of observation. The spread used is at least 10 % of the mean, so
 * a client with a perfectly steady rate does not alert on every small change.
 */
export class UnusualTrafficRule extends HeldRule {
  readonly needsAlloc = false;
  /** Per client: one baseline per direction and hour slot (index dirIndex * 25 + hour + 1; hour -1 = all day). */
  private readonly baselines = new Map<string, Array<Baseline | undefined>>();
  private readonly lastSample = new Map<string, number>();
  private lastSweep = Number.NEGATIVE_INFINITY;
  private readonly dropBaselines = (mac: string) => this.baselines.delete(mac);

  constructor(
    factory: AlertFactory,
    private readonly hourOf: (ts: number) => number,
  ) {
    super(factory);
  }

  protected check(s: SnapshotView, holds: (key: string, data: Held) => void): void {
    const t = this.t;
    const tauMs = t.baselineMin * 60_000;
    const warmMs = t.warmupMin * 60_000;
    const minBps = t.minMbps * 1e6;
    const hour = t.byHour ? this.hourOf(s.ts) : -1;
    const dirs = directionsOf(t.directions);
    const inOrder = endsWithClients(this.lastSample, s.clients);
    for (let i = 0; i < s.clients.length; i++) {
      const c = s.clients[i];
      const last = this.lastSample.get(c.mac);
      if (inOrder) this.lastSample.set(c.mac, s.ts);
      else touch(this.lastSample, c.mac, s.ts, this.dropBaselines);
      const dt = last === undefined ? 0 : Math.min(Math.max(s.ts - last, 0), MAX_SAMPLE_GAP_MS);
      let slots = this.baselines.get(c.mac);
      if (!slots) this.baselines.set(c.mac, (slots = []));
      for (let k = 0; k < dirs.length; k++) {
        const d = dirs[k];
        const slot = (d === 'down' ? 0 : 25) + hour + 1;
        const x = bpsOf(c, d);
        const b = slots[slot];
        if (!b) {
          slots[slot] = { mean: x, variance: 0, observedMs: 0, samples: 1 };
          continue;
        }
        if (b.observedMs >= warmMs && b.samples >= 2) {
          const sd = Math.max(Math.sqrt(b.variance), 0.1 * b.mean);
          if (x >= minBps && x > b.mean + t.sigma * sd) {
            holds(`unusual_traffic|${c.mac}|${d}`, {
              client: c,
              direction: d,
              figures: {
                usageBps: round(x),
                meanBps: round(b.mean),
                stdBps: round(sd),
                z: sd > 0 ? Math.round(((x - b.mean) / sd) * 10) / 10 : null,
                sigma: t.sigma,
                hour: t.byHour ? hour : null,
              },
            });
          }
        }
        const alpha = dt > 0 ? 1 - Math.exp(-dt / tauMs) : 0;
        const diff = x - b.mean;
        const incr = alpha * diff;
        b.mean += incr;
        b.variance = (1 - alpha) * (b.variance + diff * incr);
        b.observedMs += dt;
        b.samples++;
      }
    }
  }

  override evaluate(s: SnapshotView): Alert[] {
    const out = super.evaluate(s);
    this.forgetOld(s.ts);
    return out;
  }

  /** Baselines of clients not seen for FORGET_AFTER_MS go (phones rotate private MACs). */
  private forgetOld(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const [mac, last] of this.lastSample) {
      if (now - last < FORGET_AFTER_MS) continue;
      this.lastSample.delete(mac);
      this.baselines.delete(mac);
    }
  }

  protected raised(tr: Transition<Held>, ts: number): Alert {
    const { client, direction: d, figures: f } = tr.data;
    const msg = `${who(client)} ${verb(d)} ${mbps(f.usageBps as number)}, far above its usual ${mbps(f.meanBps as number)} ± ${mbps(f.stdBps as number)}${f.hour !== null ? ` at ${String(f.hour).padStart(2, '0')}:00` : ''} (${f.z} standard deviations, threshold ${f.sigma}), for ${duration(tr.sinceMs / 1000)}`;
    return this.factory.make('raised', tr.key, ts, client, d, msg, { ...f, forSec: round(tr.sinceMs / 1000) });
  }

  protected cleared(tr: Transition<Held>, ts: number): Alert {
    const { client, direction: d, figures } = tr.data;
    return this.factory.make('cleared', tr.key, ts, client, d, `${who(client)} is back to its usual ${noun(d)} rate (after ${duration(tr.raisedMs / 1000)})`, {
      ...figures,
      raisedSec: round(tr.raisedMs / 1000),
    });
  }
}

/** The whole link in a direction carries at least `percent` of its speed for `holdSec`. */
export class LinkSaturationRule extends HeldRule {
  readonly needsAlloc = false;
  private link: Record<Direction, number> | null = null;

  constructor(
    factory: AlertFactory,
    /** The link of the config node, for a snapshot that carries none (before priority-allocator); follows a config command. */
    public fallbackLinkBps: Record<Direction, number> | null,
  ) {
    super(factory);
  }

  /** The link speed this snapshot is judged against: its own allocation summary, else the config node's. */
  linkOf(s: SnapshotView): Record<Direction, number> | null {
    return s.linkBps ?? this.fallbackLinkBps;
  }

  override evaluate(s: SnapshotView): Alert[] {
    this.link = this.linkOf(s);
    return super.evaluate(s);
  }

  protected check(s: SnapshotView, holds: (key: string, data: Held | null) => void): void {
    if (!this.link) return;
    for (const d of directionsOf(this.t.directions)) {
      const link = this.link[d];
      const used = s.totalBps[d];
      if (link > 0 && used >= (this.t.percent / 100) * link) {
        holds(`link_saturation|${d}`, {
          client: null as unknown as ClientSample,
          direction: d,
          figures: { usageBps: round(used), linkBps: round(link), percent: Math.round((used / link) * 1000) / 10, thresholdPercent: this.t.percent, clients: s.clients.length },
        });
      }
    }
  }

  protected raised(tr: Transition<Held>, ts: number): Alert {
    const { direction: d, figures: f } = tr.data;
    const msg = `the ${noun(d)} link carries ${mbps(f.usageBps as number)} of ${mbps(f.linkBps as number)} (${pct(f.percent as number)}) for ${duration(tr.sinceMs / 1000)}, threshold ${this.t.percent} % for ${this.t.holdSec} s; ${f.clients} clients`;
    return this.factory.make('raised', tr.key, ts, null, d, msg, { ...f, forSec: round(tr.sinceMs / 1000) });
  }

  protected cleared(tr: Transition<Held>, ts: number): Alert {
    const { direction: d, figures } = tr.data;
    return this.factory.make('cleared', tr.key, ts, null, d, `the ${noun(d)} link is back under ${this.t.percent} % (after ${duration(tr.raisedMs / 1000)})`, {
      ...figures,
      raisedSec: round(tr.raisedMs / 1000),
    });
  }
}

/**
 * arp-discover left devices out of the snapshot because more were present than the client cap
 * (`payload.capped`): one alert for the whole condition, not one per device, held for `holdSec`,
 * cleared when the cap is no longer reached for `clearSec`, not repeated within the cooldown.
 * A MAC spray is the usual cause; the figures say how many were seen and how many new MACs the
 * per-minute limit held back.
 */
export class ClientCapRule extends HeldRule {
  readonly needsAlloc = false;

  protected check(s: SnapshotView, holds: (key: string, data: Held | null) => void): void {
    if (!s.capped || s.capped.left <= 0) return;
    holds('client_cap', {
      client: null as unknown as ClientSample,
      direction: 'down',
      figures: { limit: s.capped.limit, seen: s.capped.seen, left: s.capped.left, heldBack: s.limited?.ignored ?? 0 },
    });
  }

  protected raised(tr: Transition<Held>, ts: number): Alert {
    const f = tr.data.figures;
    const held = (f.heldBack as number) > 0 ? `; ${f.heldBack} new MACs held back by the per-minute limit` : '';
    const msg = `${f.seen} devices present, more than the client cap of ${f.limit}: ${f.left} are not shaped per client (they share the default class), for ${duration(tr.sinceMs / 1000)}${held}. A device spraying MAC addresses is the usual cause`;
    return this.factory.make('raised', tr.key, ts, null, null, msg, { ...f, forSec: round(tr.sinceMs / 1000) });
  }

  protected cleared(tr: Transition<Held>, ts: number): Alert {
    const f = tr.data.figures;
    return this.factory.make('cleared', tr.key, ts, null, null, `every device present fits in the client cap of ${f.limit} again (after ${duration(tr.raisedMs / 1000)})`, {
      limit: f.limit,
      raisedSec: round(tr.raisedMs / 1000),
    });
  }
}

const two = (n: number) => String(n).padStart(2, '0');
/** "00:00 on 2026-03-11", the router's local time (Node-RED's time zone, as the store's calendar). */
function localTime(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())} on ${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}
const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(bytes >= 1e9 ? 0 : 1)} MB`;

/**
 * quota_warning (80 %) and quota_exceeded: usage-store counts each device's quota use per tick and
 * marks a level on the tick it is first reached in the period (client.quota.crossed), once per
 * period and never again after a restart; this rule turns each mark of its level into one alert.
 * Nothing is held or cleared here: the period's reset lifts a throttle, no alert says so.
 */
export class QuotaRule implements SnapshotRule {
  readonly needsAlloc = false;
  readonly active = 0;

  constructor(
    private readonly factory: AlertFactory,
    private readonly level: 'warning' | 'exceeded',
  ) {}

  setThresholds(t: Thresholds): void {
    this.factory.thresholds = t;
  }

  evaluate(s: SnapshotView): Alert[] {
    const out: Alert[] = [];
    for (let i = 0; i < s.clients.length; i++) {
      const c = s.clients[i];
      for (let k = 0; k < c.quotaCrossed.length; k++) {
        const q = c.quotaCrossed[k];
        if (q.level !== this.level) continue;
        const percent = Math.round((q.usedBytes / q.limitBytes) * 100);
        const then = q.action === 'throttle' && q.throttleBps !== null ? `throttled to ${mbps(q.throttleBps)} until ${localTime(q.resetsAt)}` : `not throttled (alert only); the quota resets at ${localTime(q.resetsAt)}`;
        const msg =
          this.level === 'exceeded'
            ? `${who(c)} used ${megabytes(q.usedBytes)} of its ${q.period} quota of ${megabytes(q.limitBytes)} (${percent} %): ${then}`
            : `${who(c)} used ${megabytes(q.usedBytes)} of its ${q.period} quota of ${megabytes(q.limitBytes)} (${percent} %)`;
        out.push(
          this.factory.make('raised', `${this.factory.kind}:${c.mac}:${q.period}`, s.ts, c, null, msg, {
            period: q.period,
            usedBytes: q.usedBytes,
            limitBytes: q.limitBytes,
            action: q.action,
            throttleBps: q.throttleBps,
            resetsAt: q.resetsAt,
          }),
        );
      }
    }
    return out;
  }
}
