/**
 * Data quotas (issue 18): what each device has moved in the current calendar day and month (the
 * router's time zone, the store's calendar), counted from the same per-tick volumes as usage (the
 * ingest's), and the quota levels crossed.
 *
 * Nothing runs on a timer: the current periods follow the ticks' own time, and at the start of a
 * period (at open, at the first tick of a new day or month, after a merge or forget) each device's
 * use is read from the stored usage rows (the daily tier up to the rollup mark, raw rows after it),
 * then every tick's volume is added in memory. So a quota used up before a restart is still used
 * up after it, and one whose day ended while Node-RED was down starts the new day at zero.
 *
 * Levels: 0 below QUOTA_WARNING_SHARE of the quota, 1 (warning) from there, 2 (exceeded) at the
 * quota. A level is announced once per period, on the tick it is first reached (an event); levels
 * found at the start of a period (a restart) are taken silently, so a restart sends no second alert.
 */
import { InputError } from '../contract/errors';
import { NO_LIMITS, QUOTA_WARNING_SHARE, type DeviceLimits, type QuotaAction } from '../contract/limits';
import type { StoreContext } from './statements';

export type QuotaPeriod = 'daily' | 'monthly';
export type QuotaCounts = 'both' | 'download';
export const QUOTA_COUNTS: readonly QuotaCounts[] = ['both', 'download'];

export function quotaCountsProblem(value: unknown): string | null {
  return QUOTA_COUNTS.includes(value as QuotaCounts) ? null : `must be "both" (download and upload) or "download", got ${JSON.stringify(value)}`;
}

/** A quota level first reached on this tick. */
export interface QuotaEvent {
  deviceId: number;
  period: QuotaPeriod;
  level: 'warning' | 'exceeded';
  usedBytes: number;
  limitBytes: number;
  action: QuotaAction;
  throttleBps: number | null;
  /** Start of the period (unix seconds) and of the next one: when a throttle lifts. */
  periodStart: number;
  resetsAt: number;
}

/** What a device has used of its quotas now. */
export interface QuotaUse {
  /** Counted this calendar day / month, bytes (download and upload, or download only: the store's setting). */
  dailyUsedBytes: number;
  monthlyUsedBytes: number;
  dailyBytes: number | null;
  monthlyBytes: number | null;
  action: QuotaAction;
  /** A used-up quota throttles it now. */
  throttled: boolean;
  /** Unix seconds: the next day's and month's start (when the use starts again from zero). */
  dayResetsAt: number;
  monthResetsAt: number;
}

interface Used {
  day: number;
  month: number;
}

/** The devices table's limit columns (schema 3). */
export interface LimitColumns {
  max_down_bps: number | null;
  max_up_bps: number | null;
  quota_daily_bytes: number | null;
  quota_monthly_bytes: number | null;
  quota_action: string | null;
  throttle_bps: number | null;
}

interface LimitRow extends LimitColumns {
  id: number;
}

export function limitsOfRow(r: LimitColumns): DeviceLimits {
  return {
    maxDownBps: r.max_down_bps,
    maxUpBps: r.max_up_bps,
    quotaDailyBytes: r.quota_daily_bytes,
    quotaMonthlyBytes: r.quota_monthly_bytes,
    quotaAction: r.quota_action === 'throttle' ? 'throttle' : 'alert',
    throttleBps: r.throttle_bps,
  };
}

const levelOf = (used: number, limit: number | null): number => (limit === null ? 0 : used >= limit ? 2 : used >= QUOTA_WARNING_SHARE * limit ? 1 : 0);

export class QuotaTracker {
  private dayStart = Number.NaN;
  private monthStart = Number.NaN;
  private nextDay = Number.NaN;
  private nextMonth = Number.NaN;
  /** Per device with any use this period: bytes counted this day and month. */
  private used = new Map<number, Used>();
  /** Devices with a limit set, and their limits. */
  private limits = new Map<number, DeviceLimits>();
  /** Levels reached this period per device with a quota (announced or found at the period's start). */
  private levels = new Map<number, { day: number; month: number }>();
  /** Devices throttled after the last tick. */
  private throttledNow = new Set<number>();
  private readonly sinceStmt: { daily: import('better-sqlite3').Statement; raw: import('better-sqlite3').Statement };

  constructor(
    private readonly ctx: StoreContext,
    /** Raw rows before this (unix seconds) are summed into the daily tier. */
    private readonly rolledUntil: () => number,
    public counts: QuotaCounts = 'both',
  ) {
    const problem = quotaCountsProblem(counts);
    if (problem) throw new InputError('quotaCounts', problem);
    const db = ctx.db;
    this.sinceStmt = {
      daily: db.prepare('SELECT device_id AS id, sum(rx_bytes) AS rx, sum(tx_bytes) AS tx FROM usage_daily WHERE bucket >= ? AND device_id > 0 GROUP BY device_id'),
      raw: db.prepare('SELECT device_id AS id, sum(rx_bytes) AS rx, sum(tx_bytes) AS tx FROM usage_raw WHERE bucket >= ? AND device_id > 0 GROUP BY device_id'),
    };
    this.loadLimits();
    this.roll(Math.floor(ctx.clock() / 1000), true);
    this.throttledNow = this.throttledSet();
  }

  /** Reads every device's limits from the registry (at open, and after a device command). */
  loadLimits(): void {
    const rows = this.ctx.db
      .prepare(
        `SELECT id, max_down_bps, max_up_bps, quota_daily_bytes, quota_monthly_bytes, quota_action, throttle_bps FROM devices
         WHERE max_down_bps IS NOT NULL OR max_up_bps IS NOT NULL OR quota_daily_bytes IS NOT NULL OR quota_monthly_bytes IS NOT NULL`,
      )
      .all() as LimitRow[];
    this.limits = new Map(rows.map((r) => [r.id, limitsOfRow(r)]));
    for (const id of this.levels.keys()) if (!this.limits.has(id)) this.levels.delete(id);
  }

  limitsOf(id: number): DeviceLimits {
    return this.limits.get(id) ?? NO_LIMITS;
  }

  /** Usage rows moved or removed (a merge, a forget): the use is read again at the next tick. */
  invalidate(): void {
    this.dayStart = Number.NaN;
  }

  /** A device removed to make room: its use is dropped (the map holds registered devices only). */
  forget(id: number): void {
    this.used.delete(id);
    this.levels.delete(id);
  }

  /**
   * The current periods for `sec`; at a new period (or after invalidate) the use of every device is
   * read from the stored rows, and the levels found are taken without events.
   */
  private roll(sec: number, force = false): boolean {
    const { calendar } = this.ctx;
    const dayStart = calendar.dayStart(sec);
    if (!force && dayStart === this.dayStart) return false;
    const monthStart = calendar.monthStart(sec);
    const until = this.rolledUntil();
    const used = new Map<number, Used>();
    const bytes = (r: { rx: number; tx: number }) => r.rx + (this.counts === 'both' ? r.tx : 0);
    const read = (start: number, key: keyof Used) => {
      for (const stmt of [this.sinceStmt.daily, this.sinceStmt.raw]) {
        const from = stmt === this.sinceStmt.raw ? Math.max(start, until) : start;
        for (const r of stmt.all(from) as { id: number; rx: number; tx: number }[]) {
          let u = used.get(r.id);
          if (!u) used.set(r.id, (u = { day: 0, month: 0 }));
          u[key] += bytes(r);
        }
      }
    };
    read(dayStart, 'day');
    read(monthStart, 'month');
    this.used = used;
    this.dayStart = dayStart;
    this.monthStart = monthStart;
    this.nextDay = calendar.nextDayStart(sec);
    this.nextMonth = calendar.nextMonthStart(sec);
    this.levels.clear();
    for (const [id, l] of this.limits) {
      const u = used.get(id);
      this.levels.set(id, { day: levelOf(u?.day ?? 0, l.quotaDailyBytes), month: levelOf(u?.month ?? 0, l.quotaMonthlyBytes) });
    }
    return true;
  }

  /**
   * One tick at `sec`: `volumes` holds each device's bytes of this tick, flat: id, download,
   * upload, id, download, upload, ... (no array per device).
   * Returns the levels first reached, and whether the set of throttled devices changed (a new
   * period lifts throttles: then it changed without an event).
   */
  tick(sec: number, volumes: ArrayLike<number>): { events: QuotaEvent[]; throttleChanged: boolean } {
    this.roll(sec);
    for (let k = 0; k + 2 < volumes.length; k += 3) {
      const id = volumes[k];
      const add = volumes[k + 1] + (this.counts === 'both' ? volumes[k + 2] : 0);
      if (add <= 0) continue;
      const u = this.used.get(id);
      if (u) {
        u.day += add;
        u.month += add;
      } else this.used.set(id, { day: add, month: add });
    }
    const events: QuotaEvent[] = [];
    for (const [id, l] of this.limits) {
      if (l.quotaDailyBytes === null && l.quotaMonthlyBytes === null) continue;
      const u = this.used.get(id) ?? { day: 0, month: 0 };
      let had = this.levels.get(id);
      if (!had) this.levels.set(id, (had = { day: 0, month: 0 }));
      const check = (period: QuotaPeriod, used: number, limit: number | null, key: 'day' | 'month') => {
        const level = levelOf(used, limit);
        if (level > had![key]) {
          had![key] = level;
          events.push({
            deviceId: id,
            period,
            level: level === 2 ? 'exceeded' : 'warning',
            usedBytes: Math.round(used),
            limitBytes: limit!,
            action: l.quotaAction,
            throttleBps: l.throttleBps,
            periodStart: key === 'day' ? this.dayStart : this.monthStart,
            resetsAt: key === 'day' ? this.nextDay : this.nextMonth,
          });
        }
      };
      check('daily', u.day, l.quotaDailyBytes, 'day');
      check('monthly', u.month, l.quotaMonthlyBytes, 'month');
    }
    const now = this.throttledSet();
    const throttleChanged = now.size !== this.throttledNow.size || [...now].some((id) => !this.throttledNow.has(id));
    this.throttledNow = now;
    return { events, throttleChanged };
  }

  private throttled(id: number, l: DeviceLimits): boolean {
    if (l.quotaAction !== 'throttle' || l.throttleBps === null) return false;
    const u = this.used.get(id);
    if (!u) return false;
    return (l.quotaDailyBytes !== null && u.day >= l.quotaDailyBytes) || (l.quotaMonthlyBytes !== null && u.month >= l.quotaMonthlyBytes);
  }

  private throttledSet(): Set<number> {
    const out = new Set<number>();
    for (const [id, l] of this.limits) if (this.throttled(id, l)) out.add(id);
    return out;
  }

  /** Whether a limit change (a device command) changed who is throttled: then the registry goes out. */
  refreshThrottled(): boolean {
    const now = this.throttledSet();
    const changed = now.size !== this.throttledNow.size || [...now].some((id) => !this.throttledNow.has(id));
    this.throttledNow = now;
    return changed;
  }

  /** A device's use now; `inMs`: the two reset times in ms (as the snapshot carries them), not unix seconds. */
  use(id: number, inMs = false): QuotaUse {
    const u = this.used.get(id);
    const l = this.limits.get(id) ?? NO_LIMITS;
    const unit = inMs ? 1000 : 1;
    return {
      dailyUsedBytes: Math.round(u?.day ?? 0),
      monthlyUsedBytes: Math.round(u?.month ?? 0),
      dailyBytes: l.quotaDailyBytes,
      monthlyBytes: l.quotaMonthlyBytes,
      action: l.quotaAction,
      throttled: this.throttled(id, l),
      dayResetsAt: this.nextDay * unit,
      monthResetsAt: this.nextMonth * unit,
    };
  }
}
