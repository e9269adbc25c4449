/**
 * Rollups: the raw rows of whole hours summed into the hourly, daily and monthly tiers, and the
 * mark (rollup_state.until) they are summed up to. Queries read the tiers before the mark and raw
 * rows after it, so the tiers always agree. Each rollup also writes the sessions' ends.
 */
import type { SessionTracker } from './sessions';
import type { StoreContext } from './statements';

export class Rollups {
  private rolledUntil: number;

  constructor(
    private readonly ctx: StoreContext,
    private readonly sessions: SessionTracker,
  ) {
    this.rolledUntil = (ctx.stmt.getRolledUntil.get() as { until: number }).until;
  }

  /** Raw rows before this (unix seconds, an hour start) are summed into the hourly and daily tiers. */
  get until(): number {
    return this.rolledUntil;
  }

  /** Sums the raw rows of whole hours before `until` into the hourly and daily tiers, if not done yet. */
  upTo(until: number): void {
    if (until > this.rolledUntil) this.rollup(until);
  }

  private rollup(until: number): void {
    const from = this.rolledUntil;
    this.ctx.db.transaction(() => {
      for (const stmt of this.ctx.stmt.rollup) stmt.run(from, until);
      this.ctx.stmt.setRolledUntil.run(until);
    })();
    this.rolledUntil = until;
    this.sessions.sync();
  }
}
