/**
 * Hold, cooldown, de-duplication and clear for conditions keyed by rule, client and direction.
 * A condition that is true at every tick for `holdMs` raises once; while raised it is not raised
 * again; once it has been false for `clearMs` it clears (one "cleared"). A key raises at most once
 * per `cooldownMs`: a condition that comes back sooner raises when the cooldown ends, if it still holds.
 * A key not reported at a tick counts as false (its client left, or the rule no longer applies).
 */
export interface Timing {
  holdMs: number;
  clearMs: number;
  cooldownMs: number;
}

interface KeyState<T> {
  /** ts since which the condition has been true at every tick, or null */
  since: number | null;
  raised: boolean;
  raisedAt: number;
  falseSince: number | null;
  lastRaise: number;
  tick: number;
  data: T;
}

export type Transition<T> = { kind: 'raise' | 'clear'; key: string; data: T; sinceMs: number; raisedMs: number };

export class Tracker<T> {
  private readonly states = new Map<string, KeyState<T>>();
  private tick = 0;

  /** `maxKeys`: conditions kept at most; past it, the ones not raised and reported the longest ago go first. */
  constructor(
    public timing: Timing,
    readonly maxKeys = 8192,
  ) {}

  /** Starts a tick at `now`; report true conditions with `true()`, then call `end()`. */
  begin(): void {
    this.tick++;
  }

  /** The condition of `key` holds at `now`; returns a raise when it is due. */
  true(key: string, now: number, data: T): Transition<T> | null {
    let s = this.states.get(key);
    if (!s) {
      if (this.states.size >= this.maxKeys && !this.makeRoom()) return null; // full of raised conditions: not tracked
      s = { since: now, raised: false, raisedAt: 0, falseSince: null, lastRaise: Number.NEGATIVE_INFINITY, tick: this.tick, data };
      this.states.set(key, s);
    }
    s.tick = this.tick;
    s.data = data;
    s.falseSince = null;
    if (s.since === null) s.since = now;
    if (!s.raised && now - s.since >= this.timing.holdMs && now - s.lastRaise >= this.timing.cooldownMs) {
      s.raised = true;
      s.raisedAt = now;
      s.lastRaise = now;
      return { kind: 'raise', key, data, sinceMs: now - s.since, raisedMs: 0 };
    }
    return null;
  }

  /** Every key not reported true in this tick is false at `now`; returns the clears that are due. */
  end(now: number): Transition<T>[] {
    const out: Transition<T>[] = [];
    // forEach, not for...of: no [key, value] pair made per condition
    this.states.forEach((s, key) => {
      if (s.tick === this.tick) return;
      const t = this.false(key, s, now);
      if (t) out.push(t);
    });
    return out;
  }

  /** The condition of `key` is false at `now` (e.g. a device came back); returns a clear when due. */
  falseNow(key: string, now: number): Transition<T> | null {
    const s = this.states.get(key);
    if (!s) return null;
    s.tick = this.tick;
    return this.false(key, s, now);
  }

  /** Drops a key without a transition (its client is forgotten). */
  forget(key: string): void {
    this.states.delete(key);
  }

  isRaised(key: string): boolean {
    return this.states.get(key)?.raised ?? false;
  }

  get raisedCount(): number {
    let n = 0;
    for (const s of this.states.values()) if (s.raised) n++;
    return n;
  }

  get size(): number {
    return this.states.size;
  }

  /** Drops the not-raised condition reported the longest ago; false when every one is raised. */
  private makeRoom(): boolean {
    let oldest: string | null = null;
    let oldestTick = Infinity;
    for (const [key, s] of this.states) {
      if (!s.raised && s.tick < oldestTick) {
        oldest = key;
        oldestTick = s.tick;
      }
    }
    if (oldest === null) return false;
    this.states.delete(oldest);
    return true;
  }

  private false(key: string, s: KeyState<T>, now: number): Transition<T> | null {
    s.since = null;
    if (s.raised) {
      if (s.falseSince === null) s.falseSince = now;
      if (now - s.falseSince >= this.timing.clearMs) {
        s.raised = false;
        s.falseSince = null;
        return { kind: 'clear', key, data: s.data, sinceMs: 0, raisedMs: now - s.raisedAt };
      }
      return null;
    }
    // Kept only while it still matters for the cooldown.
    if (now - s.lastRaise >= this.timing.cooldownMs) this.states.delete(key);
    return null;
  }
}
