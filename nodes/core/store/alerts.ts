/**
 * Alerts into the store: what alert-rule sends (topic "alert") checked and written as one row of
 * the alerts table, returned as the `alerts` query shows it; which alerts a filter selects (the
 * `alerts` query and the `alert-state` command share it); acknowledging and clearing them.
 * Reading them back is queries.ts; how long they are kept, retention.ts.
 */
import { severityProblem, type Severity } from '../contract/message';
import type Database from 'better-sqlite3';
import { InputError } from '../contract/errors';
import { formatTimestamp } from './calendar';
import { countParam, macParam, objectParam, QUERY_LIMITS, textParam, timeParam } from './params';
import type { Calendar } from './calendar';
import type { StoreContext } from './statements';
import type { AlertRow } from './types';

/** What alert-rule sends (topic "alert"); the original's field names are accepted too. */
export interface AlertInput {
  type: string;
  severity: Severity;
  message: string;
  mac?: string;
  ip?: string;
  ts?: number;
}

/** Checks an alert and stores it; InputError (nothing stored) when a field is wrong. */
export function storeAlert(ctx: StoreContext, payload: unknown): AlertRow {
  const a = objectParam(payload, 'payload', '{ "type": "new_device", "severity": "info", "message": "..." }');
  const type = textParam(a.type ?? a.alert_type, 'payload.type', 100);
  if (!type) throw new InputError('payload.type', 'an alert needs a type such as "bandwidth_limit"');
  const severity = a.severity ?? 'info';
  if (severityProblem(severity)) throw new InputError('payload.severity', severityProblem(severity)!);
  if (typeof a.message !== 'string' || a.message.trim() === '') throw new InputError('payload.message', 'an alert needs a message');
  const message = a.message.slice(0, QUERY_LIMITS.maxMessageLength);
  const mac = a.mac === undefined || a.mac === null ? null : macParam(a.mac, 'payload.mac');
  const ip = textParam(a.ip ?? a.ip_address, 'payload.ip', 64);
  const ts = a.ts === undefined || a.ts === null ? ctx.clock() : timeParam(a.ts, 'payload.ts');
  const id = Number(ctx.stmt.insertAlert.run(Math.round(ts), type, severity, message, ip, mac).lastInsertRowid);
  return {
    id,
    timestamp: formatTimestamp(ctx.calendar, Math.floor(ts / 1000)),
    ts: Math.round(ts),
    type,
    alert_type: type,
    severity: severity as string,
    message,
    ip_address: ip,
    mac_address: mac,
    acknowledged: false,
    acknowledged_at: null,
    acknowledgedTs: null,
  };
}

/** An alerts row as the table has it. */
export interface AlertTableRow {
  id: number;
  ts: number;
  alert_type: string;
  severity: string;
  message: string;
  ip_address: string | null;
  mac_address: string | null;
  acknowledged_at: number | null;
  cleared_at: number | null;
}

/** A row as the `alerts` query (and GET /api/alerts) shows it. */
export function alertRow(calendar: Calendar, r: AlertTableRow): AlertRow {
  return {
    id: r.id,
    timestamp: formatTimestamp(calendar, Math.floor(r.ts / 1000)),
    ts: r.ts,
    type: r.alert_type,
    alert_type: r.alert_type,
    severity: r.severity,
    message: r.message,
    ip_address: r.ip_address,
    mac_address: r.mac_address,
    acknowledged: r.acknowledged_at !== null,
    acknowledged_at: r.acknowledged_at === null ? null : formatTimestamp(calendar, Math.floor(r.acknowledged_at / 1000)),
    acknowledgedTs: r.acknowledged_at,
  };
}

/** A yes/no filter: true or false, or "true" / "false" as a query string gives them. */
function flagParam(value: unknown, path: string): boolean {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new InputError(path, `must be true or false, got ${JSON.stringify(value)}`);
}

/**
 * The WHERE of an alerts filter: severity (one or a list), alertType / alert_type / kind (one or a
 * list), mac (every MAC of that device, through `macsOf`), hours or since / until (ms or ISO),
 * text (in the message, any case), acknowledged (true / false), includeCleared (default false: a
 * cleared alert is no longer listed). Values are bound, never put into the SQL.
 */
export function alertFilter(p: Record<string, unknown>, now: number, macsOf: (mac: unknown) => string[]): { where: string[]; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  const list = (value: unknown, path: string, check?: (v: string) => void): string[] | null => {
    if (value === undefined || value === null) return null;
    const values = Array.isArray(value) ? value : [value];
    if (values.length === 0 || values.length > 100 || values.some((v) => typeof v !== 'string' || v === '' || v.length > 100)) {
      throw new InputError(path, 'must be text or a list of at most 100 texts');
    }
    values.forEach((v) => check?.(v as string));
    return values as string[];
  };
  const severities = list(p.severity, 'payload.severity', (v) => {
    if (severityProblem(v)) throw new InputError('payload.severity', severityProblem(v)!);
  });
  if (severities) {
    where.push(`severity IN (${severities.map(() => '?').join(', ')})`);
    args.push(...severities);
  }
  const types = list(p.alertType ?? p.alert_type ?? p.kind, 'payload.alertType');
  if (types) {
    where.push(`alert_type IN (${types.map(() => '?').join(', ')})`);
    args.push(...types);
  }
  if (p.mac !== undefined) {
    const macs = macsOf(p.mac);
    where.push(`mac_address IN (${macs.map(() => '?').join(', ')})`);
    args.push(...macs);
  }
  if (p.hours !== undefined) {
    where.push('ts >= ?');
    args.push(now - countParam(p.hours, 'payload.hours', QUERY_LIMITS.maxHours) * 3_600_000);
  }
  if (p.since !== undefined) {
    where.push('ts >= ?');
    args.push(timeParam(p.since, 'payload.since'));
  }
  if (p.until !== undefined) {
    where.push('ts < ?');
    args.push(timeParam(p.until, 'payload.until'));
  }
  const text = textParam(p.text, 'payload.text', 200);
  if (text) {
    where.push(`instr(lower(message), lower(?)) > 0`);
    args.push(text);
  }
  if (p.acknowledged !== undefined) where.push(flagParam(p.acknowledged, 'payload.acknowledged') ? 'acknowledged_at IS NOT NULL' : 'acknowledged_at IS NULL');
  if (p.includeCleared === undefined || !flagParam(p.includeCleared, 'payload.includeCleared')) where.push('cleared_at IS NULL');
  return { where, args };
}

export const ALERT_ACTIONS = ['acknowledge', 'clear'] as const;
export type AlertAction = (typeof ALERT_ACTIONS)[number];
/** Alerts one `alert-state` command may name by id. */
export const MAX_ALERT_IDS = 1000;

/**
 * The `alert-state` command: { action: "acknowledge" | "clear", ids: [1, 2] } or { action, all:
 * true, ...the filters of the alerts query } (e.g. every warning of the last 24 h). Acknowledged:
 * still listed, marked; cleared: no longer listed (the row stays for reports until retention
 * removes it). The first time counts: acknowledging again keeps the first time. Returns how many
 * changed; InputError (nothing changes) for a bad action, id or filter.
 */
export function changeAlerts(
  db: Database.Database,
  payload: unknown,
  now: number,
  macsOf: (mac: unknown) => string[],
): { action: AlertAction; changed: number; ids: number[] | null } {
  const p = objectParam(payload, 'payload', '{ "action": "acknowledge", "ids": [12, 13] }');
  if (!ALERT_ACTIONS.includes(p.action as AlertAction)) throw new InputError('payload.action', `must be one of ${ALERT_ACTIONS.join(', ')}, got ${JSON.stringify(p.action)}`);
  const action = p.action as AlertAction;
  const column = action === 'acknowledge' ? 'acknowledged_at' : 'cleared_at';
  let where: string[];
  let args: unknown[];
  let ids: number[] | null = null;
  if (p.ids !== undefined) {
    if (p.all !== undefined) throw new InputError('payload.all', 'give "ids" or "all", not both');
    if (!Array.isArray(p.ids) || p.ids.length === 0 || p.ids.length > MAX_ALERT_IDS || !p.ids.every((id) => Number.isSafeInteger(id) && (id as number) > 0)) {
      throw new InputError('payload.ids', `must be a list of 1 to ${MAX_ALERT_IDS} alert ids (whole numbers from 1), got ${JSON.stringify(p.ids).slice(0, 100)}`);
    }
    ids = [...new Set(p.ids as number[])];
    where = [`id IN (${ids.map(() => '?').join(', ')})`];
    args = [...ids];
  } else if (p.all === true) {
    const { action: _a, all: _all, ...filters } = p;
    ({ where, args } = alertFilter(filters, now, macsOf));
  } else {
    throw new InputError('payload.ids', 'name the alerts: "ids": [12, 13], or "all": true with the filters of the alerts query');
  }
  const changed = db.prepare(`UPDATE alerts SET ${column} = ? WHERE ${column} IS NULL AND ${where.join(' AND ')}`).run(Math.round(now), ...args).changes;
  return { action, changed, ids };
}
