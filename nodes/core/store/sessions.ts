/**
 * What a commit records about the devices it saw, besides their usage: new facts (ip, hostname,
 * vendor, type, randomized MAC), addresses, and connection sessions. A session's end moves every
 * commit in memory and is written when the device leaves, at each hourly rollup and at close (so a
 * crash loses at most an hour of it); facts and addresses already written are not written again.
 */
import type { StoreContext } from './statements';

/** What the ticks of one raw bucket saw of one device. */
/** What was last written of a device: its facts (null where unknown) and the addresses. */
interface Written {
  ip: string | null;
  hostname: string | null;
  vendor: string | null;
  deviceType: string | null;
  randomized: boolean | null;
  addresses: Set<string>;
}

export interface Seen {
  firstSec: number;
  lastSec: number;
  ip: string | null;
  addresses: Set<string>;
  hostname?: string;
  vendor?: string;
  deviceType?: string;
  randomized?: boolean;
}

interface OpenSession {
  id: number;
  endSec: number;
  writtenEndSec: number;
  ip: string | null;
}

export class SessionTracker {
  /** Open connection sessions by device; null: a device registered since, which has none yet. */
  private readonly sessions = new Map<number, OpenSession | null>();
  /** What was last written per device (metadata, addresses), so unchanged facts are not rewritten. */
  private readonly written = new Map<number, Written>();

  constructor(private readonly ctx: StoreContext) {}

  /** End of a device's open session as known in memory (written to the file at most an hour later). */
  openSessionEnd(deviceId: number, sessionId: number): number | undefined {
    const session = this.sessions.get(deviceId);
    return session && session.id === sessionId ? session.endSec : undefined;
  }

  /** End (unix seconds) of the device's session held in memory, if it has one. */
  openEnd(deviceId: number): number | undefined {
    return this.sessions.get(deviceId)?.endSec;
  }

  /** A device just registered: no session of it to look for in the file. */
  registered(deviceId: number): void {
    this.sessions.set(deviceId, null);
  }

  /** A device removed or merged into another: what memory holds of it goes. */
  forget(deviceId: number): void {
    this.sessions.delete(deviceId);
    this.written.delete(deviceId);
  }

  /** Forgets what was written, so the next commit writes every device it sees again. */
  forgetWritten(): void {
    this.written.clear();
  }

  /**
   * Registry bookkeeping of one commit (inside its transaction), for the raw bucket starting at
   * `bucket`: new facts, addresses and sessions; unchanged ones cost nothing.
   */
  record(seen: ReadonlyMap<number, Seen>, bucket: number): void {
    const stmt = this.ctx.stmt;
    const gapSec = Math.max(300, 3 * this.ctx.resolutionSec);
    seen.forEach((s, id) => {
      let w = this.written.get(id);
      // unknown (undefined) and null are the same fact
      const same =
        w !== undefined &&
        w.ip === (s.ip ?? null) &&
        w.hostname === (s.hostname ?? null) &&
        w.vendor === (s.vendor ?? null) &&
        w.deviceType === (s.deviceType ?? null) &&
        w.randomized === (s.randomized ?? null);
      if (!same) {
        stmt.touchDevice.run({
          id,
          last: s.lastSec,
          ip: s.ip,
          hostname: s.hostname ?? null,
          vendor: s.vendor ?? null,
          deviceType: s.deviceType ?? null,
          randomized: s.randomized === undefined ? null : s.randomized ? 1 : 0,
        });
        w = { ip: s.ip ?? null, hostname: s.hostname ?? null, vendor: s.vendor ?? null, deviceType: s.deviceType ?? null, randomized: s.randomized ?? null, addresses: w?.addresses ?? new Set() };
        this.written.set(id, w);
      }
      for (const address of s.addresses) {
        if (w!.addresses.has(address)) continue;
        stmt.upsertAddress.run(id, address, s.firstSec, s.lastSec);
        w!.addresses.add(address);
      }
      let session = this.sessions.get(id);
      if (session === undefined) {
        const row = stmt.lastSession.get(id) as { id: number; end_ts: number } | undefined;
        session = row ? { id: row.id, endSec: row.end_ts, writtenEndSec: row.end_ts, ip: null } : null;
      }
      if (session && s.firstSec - session.endSec <= gapSec) {
        session.endSec = Math.max(session.endSec, s.lastSec);
        session.ip = s.ip ?? session.ip;
      } else {
        if (session) this.closeSession(id, session);
        const sid = Number(stmt.insertSession.run(id, s.firstSec, s.lastSec, s.ip).lastInsertRowid);
        session = { id: sid, endSec: s.lastSec, writtenEndSec: s.lastSec, ip: s.ip };
        stmt.seenUntil.run(s.lastSec, id);
      }
      this.sessions.set(id, session);
    });
    // Devices that left: their session ends where they were last seen.
    for (const [id, session] of this.sessions) {
      if (session && !seen.has(id) && bucket - session.endSec > gapSec) {
        this.closeSession(id, session);
        this.sessions.delete(id);
      }
    }
  }

  private closeSession(id: number, session: OpenSession): void {
    if (session.endSec === session.writtenEndSec) return;
    this.ctx.stmt.extendSession.run(session.endSec, session.ip, session.id);
    this.ctx.stmt.seenUntil.run(session.endSec, id);
    session.writtenEndSec = session.endSec;
  }

  /** Writes every session end and last-seen time kept in memory, and forgets what was written. */
  sync(): void {
    this.ctx.db.transaction(() => {
      for (const [id, session] of this.sessions) if (session) this.closeSession(id, session);
    })();
    this.written.clear();
  }
}
