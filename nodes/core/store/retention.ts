/**
 * Retention: how long each usage tier, the alerts and unseen devices are kept, and the job that
 * applies it, once an hour (after a commit or from the maintenance timer): prunes every tier past
 * its age, expires stale devices, deletes expired ones whose history is gone, and returns freed
 * pages to the file system.
 */
import { InputError } from '../contract/errors';
import type { DeviceRegistry } from './registry';
import type { Rollups } from './rollup';
import type { SessionTracker } from './sessions';
import type { StoreContext } from './statements';

export interface Retention {
  /** Raw rows (one per client per resolution). */
  rawDays: number;
  hourlyDays: number;
  dailyDays: number;
  alertDays: number;
  /** A device unseen this long leaves the registry, unless the user named it or set its priority; 0 = never. */
  expireDays: number;
}

export const DEFAULT_RETENTION: Readonly<Retention> = Object.freeze({
  rawDays: 7,
  hourlyDays: 90,
  dailyDays: 1830,
  alertDays: 90,
  expireDays: 30,
});

/** The defaults with `retention` over them, checked; InputError naming the first wrong one. */
export function retentionOf(retention: Partial<Retention> | undefined): Retention {
  const result = { ...DEFAULT_RETENTION, ...retention };
  for (const [key, value] of Object.entries(result)) {
    if (!Number.isFinite(value) || value < 0 || (key !== 'expireDays' && value === 0)) {
      throw new InputError(`retention.${key}`, `must be a number of days${key === 'expireDays' ? ' (0 = never)' : ' above 0'}, got ${value}`);
    }
  }
  return result;
}

/** What one run of the retention job removed. */
export interface RetentionResult {
  rawDeleted: number;
  hourlyDeleted: number;
  dailyDeleted: number;
  alertsDeleted: number;
  devicesExpired: number;
  devicesDeleted: number;
}

export class RetentionJob {
  private lastHour = -1;

  constructor(
    private readonly ctx: StoreContext,
    private readonly retention: Retention,
    private readonly rollups: Rollups,
    private readonly registry: DeviceRegistry,
    private readonly sessions: SessionTracker,
  ) {}

  /** Runs the job if it has not run yet in the hour of `nowSec` (unix seconds). */
  hourly(nowSec: number): void {
    const hour = this.ctx.calendar.hourStart(nowSec);
    if (hour !== this.lastHour) {
      this.lastHour = hour;
      this.run();
    }
  }

  /** Prunes every tier past its retention, expires stale devices, and returns freed space. */
  run(): RetentionResult {
    const { db, stmt, calendar } = this.ctx;
    const nowSec = Math.floor(this.ctx.clock() / 1000);
    const r = this.retention;
    const cut = (days: number) => nowSec - Math.round(days * 86400);
    // Hours that are over are rolled up even when no tick came to do it.
    this.rollups.upTo(calendar.hourStart(nowSec));
    const result = db.transaction(() => {
      const [rawDeleted, hourlyDeleted, dailyDeleted] = [r.rawDays, r.hourlyDays, r.dailyDays, r.dailyDays].map(
        // raw rows wait for their rollup; a month goes once it is wholly past the daily retention
        (days, t) => stmt.pruneRows[t].run(t === 0 ? Math.min(cut(days), this.rollups.until) : t === 3 ? calendar.monthStart(cut(days)) : cut(days)).changes,
      );
      const alertsDeleted = db.prepare('DELETE FROM alerts WHERE ts < ?').run(cut(r.alertDays) * 1000).changes;
      db.prepare('DELETE FROM device_sessions WHERE end_ts < ?').run(cut(r.hourlyDays));
      const devicesExpired = r.expireDays > 0 ? this.registry.expire(r.expireDays, false) : 0;
      // An expired device whose last usage rows are gone too leaves no trace worth keeping.
      const gone = db
        .prepare('SELECT id FROM devices WHERE expired_at IS NOT NULL AND last_seen < ?')
        .all(cut(r.dailyDays)) as { id: number }[];
      for (const { id } of gone) this.registry.remove(id);
      this.sessions.forgetWritten(); // an expired device seen again must be written (and so un-expired)
      return { rawDeleted, hourlyDeleted, dailyDeleted, alertsDeleted, devicesExpired, devicesDeleted: gone.length };
    })();
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    if (free > 256 && free > pages / 10) db.pragma(`incremental_vacuum(${Math.min(free, 10_000)})`);
    return result;
  }
}
