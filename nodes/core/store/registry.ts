/**
 * The device registry: which MACs are which device (the MAC→id map, read at open and kept in step
 * with device_macs), registering new devices within maxDevices, finding a device by MAC or IP, a
 * device's entry as queries and commands show it, and removing, merging and expiring devices.
 * The `device` command that edits it is device-command.ts.
 */
import { InputError, NotFoundError } from '../contract/errors';
import { isLocallyAdministered } from '../contract/mac';
import { formatTimestamp } from './calendar';
import { macParam } from './params';
import { limitsOfRow, type LimitColumns, type QuotaUse } from './quota';
import type { SessionTracker } from './sessions';
import type { ParsedClient } from './snapshot';
import { TIERS, type StoreContext } from './statements';
import type { DeviceEntry } from './types';

interface DeviceRow extends LimitColumns {
  id: number;
  mac: string;
  name: string | null;
  priority: number | null;
  device_type: string | null;
  vendor: string | null;
  hostname: string | null;
  ip: string | null;
  randomized: number;
  first_seen: number;
  last_seen: number;
  expired_at: number | null;
}

/** A device the user set something on (a name, a priority, a limit): never removed to make room, nor expired unless asked. */
const KEPT = `(name IS NOT NULL OR priority IS NOT NULL OR max_down_bps IS NOT NULL OR max_up_bps IS NOT NULL
  OR quota_daily_bytes IS NOT NULL OR quota_monthly_bytes IS NOT NULL)`;

export class DeviceRegistry {
  private readonly macToId = new Map<string, number>();
  /** A device's quota use now (the store's QuotaTracker), shown with its entry. */
  quotaUse: ((id: number) => QuotaUse) | null = null;

  constructor(
    private readonly ctx: StoreContext,
    private readonly sessions: SessionTracker,
    private readonly maxDevices: number,
  ) {
    for (const row of ctx.stmt.allMacs.all() as { mac: string; device_id: number }[]) this.macToId.set(row.mac, row.device_id);
  }

  /** The device a MAC belongs to, if it is registered. */
  idOf(mac: string): number | undefined {
    return this.macToId.get(mac);
  }

  has(mac: string): boolean {
    return this.macToId.has(mac);
  }

  /**
   * Room for `wanted` new devices within maxDevices: removes expired devices, then those seen the
   * longest ago, that have no name and no priority and are not in `present`. Returns how many fit (≤ wanted).
   * `removed` is called with each device removed, inside the transaction.
   */
  makeRoom(wanted: number, present: ParsedClient[], removed: (id: number) => void): number {
    const db = this.ctx.db;
    const total = (db.prepare('SELECT count(*) AS n FROM devices').get() as { n: number }).n;
    const over = total + wanted - this.maxDevices;
    if (over <= 0) return wanted;
    const keep = new Set<number>();
    for (const c of present) {
      const id = this.macToId.get(c.mac);
      if (id !== undefined) keep.add(id);
    }
    const candidates = db
      .prepare(`SELECT id FROM devices WHERE NOT ${KEPT} ORDER BY expired_at IS NULL, last_seen ASC, id ASC LIMIT ?`)
      .all(over + keep.size) as { id: number }[];
    const victims = candidates.map((r) => r.id).filter((id) => !keep.has(id)).slice(0, over);
    db.transaction(() => {
      for (const id of victims) {
        this.remove(id);
        removed(id);
      }
    })();
    return wanted - (over - victims.length);
  }

  /** Registers new devices, first and last seen at `sec`, in one transaction. */
  register(clients: ParsedClient[], sec: number): void {
    const stmt = this.ctx.stmt;
    this.ctx.db.transaction(() => {
      for (const c of clients) {
        const randomized = c.randomized ?? isLocallyAdministered(c.mac);
        const id = Number(
          stmt.insertDevice.run(c.mac, c.deviceType ?? null, c.vendor ?? null, c.hostname ?? null, c.ip, randomized ? 1 : 0, sec, sec)
            .lastInsertRowid,
        );
        stmt.insertMac.run(c.mac, id);
        this.macToId.set(c.mac, id);
        this.sessions.registered(id);
      }
    })();
  }

  /** The device a `mac` or `ip` names; InputError when nobody has seen it. */
  resolveDevice(p: Record<string, unknown>, path = 'payload'): number {
    if (p.mac !== undefined && p.mac !== null) return this.resolveMac(p.mac, `${path}.mac`);
    if (p.ip !== undefined && p.ip !== null) {
      const ip = String(p.ip);
      const row = this.ctx.stmt.deviceIdByIp.get({ ip }) as { id: number } | undefined;
      if (!row) throw new NotFoundError(`${path}.ip`, `unknown device ${JSON.stringify(ip)}: no device has used this address`);
      return row.id;
    }
    throw new InputError(path, 'needs a "mac" or an "ip"');
  }

  resolveMac(value: unknown, path: string): number {
    const mac = macParam(value, path);
    const id = this.macToId.get(mac);
    if (id === undefined) throw new NotFoundError(path, `unknown device ${mac}: it has never been seen on the LAN`);
    return id;
  }

  device(id: number): DeviceEntry {
    const row = this.ctx.stmt.deviceById.get(id) as DeviceRow | undefined;
    if (!row) throw new InputError('payload', `device ${id} no longer exists`);
    return this.entry(row);
  }

  private entry(row: DeviceRow): DeviceEntry {
    const lastSeen = Math.max(row.last_seen, this.sessions.openEnd(row.id) ?? 0);
    const macs = (this.ctx.stmt.macsOf.all(row.id) as { mac: string }[]).map((m) => m.mac);
    macs.sort((a, b) => (a === row.mac ? -1 : b === row.mac ? 1 : a.localeCompare(b)));
    return {
      mac: row.mac,
      macs,
      name: row.name,
      priority: row.priority,
      deviceType: row.device_type,
      vendor: row.vendor,
      hostname: row.hostname,
      ip: row.ip,
      addresses: (this.ctx.stmt.addressesOf.all(row.id) as { address: string }[]).map((a) => a.address),
      randomizedMac: row.randomized === 1,
      firstSeen: formatTimestamp(this.ctx.calendar, row.first_seen),
      lastSeen: formatTimestamp(this.ctx.calendar, lastSeen),
      firstSeenTs: row.first_seen * 1000,
      lastSeenTs: lastSeen * 1000,
      expired: row.expired_at !== null,
      limits: limitsOfRow(row),
      quota: this.quotaUse ? this.quotaUse(row.id) : null,
    };
  }

  /** Devices in the registry (not expired). */
  count(): number {
    return (this.ctx.db.prepare('SELECT count(*) AS n FROM devices WHERE expired_at IS NULL').get() as { n: number }).n;
  }

  /** Every device, most recently seen first; expired ones only when asked. */
  list(includeExpired: boolean): DeviceEntry[] {
    const rows = this.ctx.db
      .prepare(`SELECT * FROM devices ${includeExpired ? '' : 'WHERE expired_at IS NULL'} ORDER BY last_seen DESC, id`)
      .all() as DeviceRow[];
    return rows.map((r) => this.entry(r));
  }

  /** Kept priorities below the lowest (`maxPriority`) moved to it. Returns how many devices moved. */
  capPriorities(maxPriority: number): number {
    return this.ctx.db.prepare('UPDATE devices SET priority = ? WHERE priority > ?').run(maxPriority, maxPriority).changes;
  }

  /** Removes a device with its MACs, addresses, sessions and usage rows (inside a transaction). */
  remove(id: number): void {
    const { db, stmt } = this.ctx;
    for (const t of stmt.deleteRows) t.run(id);
    db.prepare('DELETE FROM device_addresses WHERE device_id = ?').run(id);
    db.prepare('DELETE FROM device_sessions WHERE device_id = ?').run(id);
    for (const { mac } of stmt.macsOf.all(id) as { mac: string }[]) this.macToId.delete(mac);
    db.prepare('DELETE FROM device_macs WHERE device_id = ?').run(id);
    db.prepare('DELETE FROM devices WHERE id = ?').run(id);
    this.sessions.forget(id);
  }

  /**
   * Moves everything of device `from` onto `into` (usage rows added bucket by bucket, addresses,
   * sessions, MACs; name, priority and type where `into` has none), then removes `from`
   * (inside a transaction).
   */
  merge(from: number, into: number): void {
    const { db, stmt } = this.ctx;
    for (let t = 0; t < TIERS.length; t++) {
      stmt.moveRows[t].run({ from, into });
      stmt.deleteRows[t].run(from);
    }
    db.prepare(
      `INSERT INTO device_addresses (device_id, address, first_seen, last_seen)
         SELECT ?, address, first_seen, last_seen FROM device_addresses WHERE device_id = ? AND true
         ON CONFLICT (device_id, address) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen)`,
    ).run(into, from);
    db.prepare('DELETE FROM device_addresses WHERE device_id = ?').run(from);
    db.prepare('UPDATE device_sessions SET device_id = ? WHERE device_id = ?').run(into, from);
    db.prepare(
      `UPDATE devices SET
           name = coalesce(name, (SELECT name FROM devices WHERE id = @from)),
           priority = coalesce(priority, (SELECT priority FROM devices WHERE id = @from)),
           max_down_bps = coalesce(max_down_bps, (SELECT max_down_bps FROM devices WHERE id = @from)),
           max_up_bps = coalesce(max_up_bps, (SELECT max_up_bps FROM devices WHERE id = @from)),
           quota_daily_bytes = coalesce(quota_daily_bytes, (SELECT quota_daily_bytes FROM devices WHERE id = @from)),
           quota_monthly_bytes = coalesce(quota_monthly_bytes, (SELECT quota_monthly_bytes FROM devices WHERE id = @from)),
           quota_action = CASE WHEN quota_daily_bytes IS NULL AND quota_monthly_bytes IS NULL
             THEN (SELECT quota_action FROM devices WHERE id = @from) ELSE quota_action END,
           throttle_bps = coalesce(throttle_bps, (SELECT throttle_bps FROM devices WHERE id = @from)),
           device_type = coalesce(device_type, (SELECT device_type FROM devices WHERE id = @from)),
           first_seen = min(first_seen, (SELECT first_seen FROM devices WHERE id = @from)),
           last_seen = max(last_seen, (SELECT last_seen FROM devices WHERE id = @from)),
           expired_at = NULL
         WHERE id = @into`,
    ).run({ from, into });
    for (const { mac } of stmt.macsOf.all(from) as { mac: string }[]) this.macToId.set(mac, into);
    db.prepare('UPDATE device_macs SET device_id = ? WHERE device_id = ?').run(into, from);
    db.prepare('DELETE FROM devices WHERE id = ?').run(from);
    this.sessions.forget(from);
    this.sessions.forget(into);
  }

  /** Marks devices unseen for `days` as expired; named or prioritised ones only if `includeNamed`. */
  expire(days: number, includeNamed: boolean): number {
    const nowSec = Math.floor(this.ctx.clock() / 1000);
    return this.ctx.db
      .prepare(
        `UPDATE devices SET expired_at = ? WHERE expired_at IS NULL AND last_seen < ?
         ${includeNamed ? '' : `AND NOT ${KEPT}`}`,
      )
      .run(nowSec, nowSec - Math.round(days * 86400)).changes;
  }
}
