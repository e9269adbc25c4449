/**
 * The `device` command (topic "device"): names, priorities and types set on a device, devices
 * merged (several MACs of one device), expired or forgotten. Checks the payload, then changes the
 * registry (registry.ts) in one transaction; merge, expire and forget first write what is summed
 * in memory, so they see the file complete.
 */
import { applyLimitChange, COMMAND_NAMES, hasLimitChange, type DeviceLimits } from '../contract/limits';
import { priorityProblem } from '../contract/message';
import { InputError } from '../contract/errors';
import { objectParam, QUERY_LIMITS, textParam } from './params';
import type { DeviceRegistry } from './registry';
import type { Retention } from './retention';
import type { StoreContext } from './statements';
import type { DeviceEntry } from './types';

export class DeviceCommand {
  constructor(
    private readonly ctx: StoreContext,
    private readonly registry: DeviceRegistry,
    private readonly retention: Retention,
    /** Highest priority number the command may set (the store's current one). */
    private readonly maxPriority: () => number,
    /** Writes what is summed in memory and every session end. */
    private readonly settle: () => void,
    /** Limits or usage rows changed: the quota tracker reads them again. */
    private readonly limitsChanged: (rowsMoved: boolean) => void = () => {},
  ) {}

  /**
   * Actions:
   *  - set (default): { mac | ip, name?, priority?, deviceType?, maxDownMbps?, maxUpMbps?,
   *    quotaDailyMb?, quotaMonthlyMb?, quotaAction?, throttleKbps? } (also the original's
   *    friendly_name); null or '' clears a name, null a priority or a limit (contract/limits.ts)
   *  - merge: { from: mac | mac[], into: mac } or { name } (all entries with that name into the latest seen)
   *  - expire: { days?, includeNamed? }: expires entries unseen for `days` (default: the node's setting)
   *  - forget: { mac }: removes a device and its usage rows
   */
  run(payload: unknown): { action: string; device?: DeviceEntry; changed: number } {
    const p = objectParam(payload, 'payload', '{ "mac": "a4:5e:60:..", "name": "Anna\'s phone" }');
    const action = p.action === undefined ? 'set' : p.action;
    switch (action) {
      case 'set':
      case 'name':
      case 'priority':
        return this.set(p);
      case 'merge':
        return this.merge(p);
      case 'expire': {
        const days = p.days === undefined ? this.retention.expireDays : Number(p.days);
        if (typeof p.days === 'boolean' || !Number.isFinite(days) || days <= 0) {
          throw new InputError('payload.days', `must be a number of days above 0, got ${JSON.stringify(p.days ?? days)}`);
        }
        this.settle();
        return { action: 'expire', changed: this.ctx.db.transaction(() => this.registry.expire(days, p.includeNamed === true))() };
      }
      case 'forget': {
        this.settle();
        const id = this.registry.resolveDevice(p);
        this.ctx.db.transaction(() => this.registry.remove(id))();
        this.limitsChanged(true);
        return { action: 'forget', changed: 1 };
      }
      default:
        throw new InputError('payload.action', `must be one of set, merge, expire, forget, got ${JSON.stringify(action)}`);
    }
  }

  private set(p: Record<string, unknown>) {
    const { db, stmt } = this.ctx;
    const maxPriority = this.maxPriority();
    const id = this.registry.resolveDevice(p);
    const hasName = 'name' in p || 'friendly_name' in p;
    const name = hasName ? textParam('name' in p ? p.name : p.friendly_name, 'payload.name', QUERY_LIMITS.maxNameLength) : undefined;
    let priority: number | null | undefined;
    if ('priority' in p) {
      priority = p.priority === null ? null : typeof p.priority === 'string' && p.priority.trim() !== '' ? Number(p.priority) : (p.priority as number);
      if (priority !== null && priorityProblem(priority, maxPriority)) throw new InputError('payload.priority', `${priorityProblem(p.priority, maxPriority)} (or null)`);
    }
    const deviceType = 'deviceType' in p ? textParam(p.deviceType, 'payload.deviceType', 40) : undefined;
    let limits: DeviceLimits | undefined;
    if (hasLimitChange(p, COMMAND_NAMES)) limits = applyLimitChange(this.registry.device(id).limits, p, COMMAND_NAMES);
    if (name === undefined && priority === undefined && deviceType === undefined && limits === undefined) {
      throw new InputError('payload', `nothing to set: send "name", "priority", "deviceType" or a limit (${Object.values(COMMAND_NAMES).join(', ')})`);
    }
    db.transaction(() => {
      if (name !== undefined) stmt.setName.run(name, id);
      if (priority !== undefined) stmt.setPriority.run(priority, id);
      if (deviceType !== undefined) stmt.setType.run(deviceType, id);
      if (limits !== undefined) {
        db.prepare(
          `UPDATE devices SET max_down_bps = @maxDownBps, max_up_bps = @maxUpBps, quota_daily_bytes = @quotaDailyBytes,
             quota_monthly_bytes = @quotaMonthlyBytes, quota_action = @quotaAction, throttle_bps = @throttleBps WHERE id = @id`,
        ).run({ ...limits, id });
      }
    })();
    if (limits !== undefined) this.limitsChanged(false);
    return { action: 'set', device: this.registry.device(id), changed: 1 };
  }

  private merge(p: Record<string, unknown>) {
    let into: number;
    let from: number[];
    if (p.name !== undefined) {
      const name = textParam(p.name, 'payload.name', QUERY_LIMITS.maxNameLength);
      const ids = (this.ctx.db.prepare('SELECT id FROM devices WHERE name = ? ORDER BY last_seen DESC, id DESC').all(name) as { id: number }[]).map((r) => r.id);
      if (ids.length === 0) throw new InputError('payload.name', `no device is named ${JSON.stringify(name)}`);
      [into, ...from] = ids;
    } else {
      into = this.registry.resolveMac(p.into, 'payload.into');
      const list = Array.isArray(p.from) ? p.from : [p.from];
      if (p.from === undefined || list.length === 0) throw new InputError('payload.from', 'a merge needs "from" (a MAC or a list of MACs) and "into"');
      from = list.map((mac, i) => this.registry.resolveMac(mac, Array.isArray(p.from) ? `payload.from[${i}]` : 'payload.from'));
      from = [...new Set(from)].filter((id) => id !== into);
    }
    this.settle();
    this.ctx.db.transaction(() => {
      for (const id of from) this.registry.merge(id, into);
    })();
    this.limitsChanged(true);
    return { action: 'merge', device: this.registry.device(into), changed: from.length };
  }
}
