/**
 * The HTTP API of the original EqualNet Pro (/api/status, /api/clients, /api/analytics/...,
 * /api/alerts, /api/config, /api/priority/:id, /api/device/:id), as pure functions over the last
 * allocated snapshot: field names as the original had them, sizes in Mbit/s. The equalnet-api
 * node serves them and turns writes into the pipeline's own commands.
 */
import type { AllocatedSnapshot } from './allocation';
import { InputError } from './errors';
import { normalizeMac } from './mac';
import { countParam, QUERY_LIMITS } from './store/params';
import type { Client } from './types';

const mbps = (bps: number | null | undefined) => Math.round(((bps ?? 0) / 1e6) * 100) / 100;
/** A measured rate in Mbit/s, or null when it was not measured (per-client counting off). */
const measured = (bps: number | null | undefined) => (bps === null || bps === undefined ? null : mbps(bps));

export interface ClientView {
  ip: string | null;
  ip6: string[];
  mac: string;
  hostname: string | null;
  vendor: string | null;
  device_type: string | null;
  icon: string | null;
  friendly_name: string;
  randomized_mac: boolean;
  priority: number;
  /** download in use, Mbit/s (the original's `usage`); null when not measured */
  usage: number | null;
  /** the download share it is expected to get now, Mbit/s (the original's `allocated`) */
  allocated: number;
  usage_percent: number | null;
  upload_usage: number | null;
  upload_allocated: number;
  /** HTB rate (what it has for sure) and ceil (what it may borrow up to), Mbit/s */
  rate: number;
  upload_rate: number;
  ceil: number;
  upload_ceil: number;
  /** it ran at its rate last tick: it wants more, and gets its weighted share */
  busy: boolean;
  upload_busy: boolean;
}

export function clientView(c: Client): ClientView {
  const usage = measured(c.rxBps);
  // the share it is expected to get now; older snapshots without it: the rate
  const allocated = mbps(c.alloc?.down.expectedBps ?? c.alloc?.down.rateBps);
  return {
    ip: c.ip ?? null,
    ip6: c.ip6 ?? [],
    mac: c.mac,
    hostname: c.hostname ?? null,
    vendor: c.vendor ?? null,
    device_type: c.deviceType ?? null,
    icon: c.icon ?? null,
    friendly_name: c.name ?? c.hostname ?? c.mac,
    randomized_mac: c.randomizedMac === true,
    priority: c.priority ?? 0,
    usage,
    allocated,
    usage_percent: usage === null ? null : allocated > 0 ? Math.round((usage / allocated) * 1000) / 10 : 0,
    upload_usage: measured(c.txBps),
    upload_allocated: mbps(c.alloc?.up.expectedBps ?? c.alloc?.up.rateBps),
    rate: mbps(c.alloc?.down.rateBps),
    upload_rate: mbps(c.alloc?.up.rateBps),
    ceil: mbps(c.alloc?.down.ceilBps),
    upload_ceil: mbps(c.alloc?.up.ceilBps),
    busy: c.alloc?.down.busy === true,
    upload_busy: c.alloc?.up.busy === true,
  };
}

export function statusView(s: AllocatedSnapshot | null, fallback: { downMbps: number; upMbps: number; maxPriority: number; minPercent: number }) {
  const a = s?.allocation;
  return {
    total_bandwidth: a ? mbps(a.down.totalBps) : fallback.downMbps,
    upload_bandwidth: a ? mbps(a.up.totalBps) : fallback.upMbps,
    max_priority: a?.maxPriority ?? fallback.maxPriority,
    min_bandwidth_percent: a?.minPercent ?? fallback.minPercent,
    total_clients: s?.clients.length ?? 0,
    // as the original: Mbit/s the LAN sent (upload) and received (download)
    network_stats: { sent: mbps(s?.totals?.txBps), recv: mbps(s?.totals?.rxBps) },
    total_allocated: a ? mbps(a.down.allocatedBps) : 0,
    timestamp: s ? new Date(s.ts).toISOString() : null,
  };
}

/** A client of the last snapshot by IPv4, IPv6 or MAC (any case or separator). */
export function findClient(s: AllocatedSnapshot | null, id: string): Client | null {
  if (!s) return null;
  const mac = normalizeMac(id);
  return s.clients.find((c) => (mac !== null && c.mac === mac) || c.ip === id || (c.ip6 ?? []).includes(id)) ?? null;
}

const ANALYTICS: Record<string, { param: string; max: number }> = {
  bandwidth: { param: 'hours', max: QUERY_LIMITS.maxHours },
  hourly: { param: 'hours', max: QUERY_LIMITS.maxHours },
  top: { param: 'limit', max: QUERY_LIMITS.maxLimit },
  report: { param: 'days', max: QUERY_LIMITS.maxDays },
};

/** /api/analytics/:kind/:n as a usage-store query, or an InputError (HTTP 400). */
export function analyticsQuery(kind: string, n: string): Record<string, unknown> {
  const spec = ANALYTICS[kind];
  if (!spec) throw new InputError('kind', `unknown report "${kind}" (known: ${Object.keys(ANALYTICS).join(', ')})`);
  return { type: kind, [spec.param]: countParam(n, spec.param, spec.max) };
}

const SEVERITIES = ['info', 'warning', 'error', 'success'];

/** GET /api/alerts?severity=warning&hours=24&limit=50 as a usage-store query. */
export function alertsQuery(query: Record<string, unknown>): Record<string, unknown> {
  const q: Record<string, unknown> = { type: 'alerts' };
  if (query.severity !== undefined) {
    const severity = String(query.severity);
    if (!SEVERITIES.includes(severity)) throw new InputError('severity', `must be one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(severity)}`);
    q.severity = severity;
  }
  if (query.type !== undefined) q.alertType = String(query.type);
  if (query.hours !== undefined) q.hours = countParam(query.hours, 'hours', QUERY_LIMITS.maxHours);
  if (query.limit !== undefined) q.limit = countParam(query.limit, 'limit', QUERY_LIMITS.maxLimit);
  return q;
}

/** Body of POST /api/priority/:id: { priority }, checked against maxPriority. */
export function priorityBody(body: unknown, maxPriority: number): number {
  const p = (body as { priority?: unknown } | null)?.priority;
  const n = typeof p === 'string' && p.trim() !== '' ? Number(p) : p;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > maxPriority) {
    throw new InputError('priority', `must be a whole number from 1 (highest) to ${maxPriority} (lowest), got ${JSON.stringify(p)}`);
  }
  return n;
}

/** Body of POST /api/device/:id: { friendly_name? | name?, priority? }. */
export function deviceBody(body: unknown, maxPriority: number): { name?: string | null; priority?: number } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InputError('body', 'must be a JSON object such as { "friendly_name": "My Laptop" }');
  const b = body as Record<string, unknown>;
  const out: { name?: string | null; priority?: number } = {};
  for (const key of Object.keys(b)) {
    if (!['friendly_name', 'name', 'priority'].includes(key)) throw new InputError(key, 'unknown field (known: friendly_name, priority)');
  }
  const raw = 'friendly_name' in b ? b.friendly_name : b.name;
  if ('friendly_name' in b || 'name' in b) {
    if (raw !== null && typeof raw !== 'string') throw new InputError('friendly_name', `must be text, got ${JSON.stringify(raw)}`);
    const name = raw === null ? null : raw.trim();
    if (name !== null && name.length > QUERY_LIMITS.maxNameLength) throw new InputError('friendly_name', `must be at most ${QUERY_LIMITS.maxNameLength} characters`);
    // eslint-disable-next-line no-control-regex
    if (name !== null && /[\u0000-\u001f\u007f]/.test(name)) throw new InputError('friendly_name', 'must not contain control characters');
    out.name = name === '' ? null : name;
  }
  if ('priority' in b) out.priority = priorityBody(b, maxPriority);
  if (Object.keys(out).length === 0) throw new InputError('body', 'nothing to set: send "friendly_name" or "priority"');
  return out;
}

/** An error of the body parser (body-parser's `type`, `status`, `limit`). */
export type BodyError = Error & { type?: string; status?: number; limit?: number };

/**
 * What to answer for a body Node-RED's own parser refused. With the editor at '/' (Node-RED's
 * default httpAdminRoot) its admin app parses every JSON body, ours included, before httpNode's
 * routes, and answers a malformed one with an HTML page carrying a stack trace; an API client
 * wants JSON with a reason, like every other 400 here. Null: not a body error, not ours to answer.
 */
export function bodyErrorAnswer(err: BodyError): { status: number; error: string } | null {
  if (!err || typeof err.type !== 'string' || !(typeof err.status === 'number' && err.status >= 400 && err.status < 500)) return null;
  if (err.type === 'entity.parse.failed') return { status: 400, error: 'body: is not valid JSON' };
  if (err.type === 'entity.too.large') return { status: 413, error: `body: must be at most ${err.limit ?? '?'} bytes` };
  return { status: err.status, error: `body: ${err.message}` };
}
