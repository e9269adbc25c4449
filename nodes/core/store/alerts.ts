/**
 * Alerts into the store: what alert-rule sends (topic "alert") checked and written as one row of
 * the alerts table, returned as the `alerts` query shows it. Reading them back is queries.ts;
 * how long they are kept, retention.ts.
 */
import { severityProblem, type Severity } from '../contract/message';
import { InputError } from '../contract/errors';
import { formatTimestamp } from './calendar';
import { macParam, objectParam, QUERY_LIMITS, textParam, timeParam } from './params';
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
  };
}
