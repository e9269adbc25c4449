/**
 * The HTTP API of the original EqualNet Pro (/api/status, /api/clients, /api/analytics/...,
 * /api/alerts, /api/config, /api/priority/:id, /api/device/:id), as pure functions over the last
 * allocated snapshot: field names as the original had them, sizes in Mbit/s. The equalnet-api
 * node serves them and turns writes into the pipeline's own commands.
 */
import type { AllocatedSnapshot } from '../allocate/allocation';
import { InputError } from '../contract/errors';
import { API_NAMES, applyLimitChange, COMMAND_NAMES, hasLimitChange, limitFieldNames, NO_LIMITS, type DeviceLimits } from '../contract/limits';
import { isIPv4, isIPv6 } from '../contract/ip';
import { normalizeMac } from '../contract/mac';
import { priorityProblem, severityProblem } from '../contract/message';
import { toNumber } from '../contract/settings';
import { countParam, QUERY_LIMITS } from '../store/params';
import type { Client } from '../contract/types';

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
  /** Its maximum per direction, Mbit/s, or null (the link): issue 18's limits. */
  max_download: number | null;
  max_upload: number | null;
  /** Its data quotas, MB, or null; what a used-up one does; its throttle rate, kbit/s. */
  quota_daily_mb: number | null;
  quota_monthly_mb: number | null;
  quota_action: 'alert' | 'throttle';
  throttle_kbps: number | null;
  /** MB counted against its quotas this calendar day and month (null before usage-store). */
  quota_used_mb: { day: number; month: number } | null;
  /** A used-up quota throttles it now. */
  throttled: boolean;
}

/** What usage-store adds to a client of the snapshot it passes on (usage-store.ts's withQuota). */
interface QuotaSeen {
  dailyUsedBytes?: unknown;
  monthlyUsedBytes?: unknown;
  throttled?: unknown;
}

const megabytes = (bytes: number | null) => (bytes === null ? null : Math.round(bytes / 1e4) / 100);
const mbitOrNull = (bps: number | null) => (bps === null ? null : Math.round((bps / 1e6) * 1000) / 1000);

export function clientView(c: Client): ClientView {
  const usage = measured(c.rxBps);
  const limits = (c.limits as DeviceLimits | undefined) ?? NO_LIMITS;
  const quota = c.quota as QuotaSeen | undefined;
  const used = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v / 1e4) / 100 : 0);
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
    max_download: mbitOrNull(limits.maxDownBps),
    max_upload: mbitOrNull(limits.maxUpBps),
    quota_daily_mb: megabytes(limits.quotaDailyBytes),
    quota_monthly_mb: megabytes(limits.quotaMonthlyBytes),
    quota_action: limits.quotaAction,
    throttle_kbps: limits.throttleBps === null ? null : Math.round(limits.throttleBps / 1000),
    quota_used_mb: quota && typeof quota === 'object' ? { day: used(quota.dailyUsedBytes), month: used(quota.monthlyUsedBytes) } : null,
    throttled: quota?.throttled === true,
  };
}

export function statusView(s: AllocatedSnapshot | null, settings: { downMbps: number; upMbps: number; maxPriority: number; minPercent: number }) {
  const a = s?.allocation;
  // the settings in force (the config node's), not the last allocation's: a config command is
  // seen here at once, with or without traffic
  return {
    total_bandwidth: settings.downMbps,
    upload_bandwidth: settings.upMbps,
    max_priority: settings.maxPriority,
    min_bandwidth_percent: settings.minPercent,
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

/** The reports of /api/analytics/:kind/:n; a Map, so "constructor" or "__proto__" is no report. */
const ANALYTICS = new Map<string, { param: string; max: number }>([
  ['bandwidth', { param: 'hours', max: QUERY_LIMITS.maxHours }],
  ['hourly', { param: 'hours', max: QUERY_LIMITS.maxHours }],
  ['top', { param: 'limit', max: QUERY_LIMITS.maxLimit }],
  ['report', { param: 'days', max: QUERY_LIMITS.maxDays }],
]);

/** A count from a URL (text) or a body: plain decimal only (toNumber), then 1..max. */
function count(value: unknown, path: string, max: number): number {
  const n = toNumber(value);
  if (Number.isNaN(n)) throw new InputError(path, `must be a whole number from 1 to ${max} in plain decimal, got ${JSON.stringify(value)}`);
  return countParam(n, path, max);
}

/**
 * /api/analytics/:kind/:n as a usage-store query, or an InputError (HTTP 400). `top` also takes
 * `?hours=N` (the period, default 24: the dashboard's Analytics period); the other reports refuse it.
 */
export function analyticsQuery(kind: string, n: string, query: Record<string, unknown> = {}): Record<string, unknown> {
  const spec = ANALYTICS.get(kind);
  if (!spec) throw new InputError('kind', `unknown report ${JSON.stringify(kind)} (known: ${[...ANALYTICS.keys()].join(', ')})`);
  const q: Record<string, unknown> = { type: kind, [spec.param]: count(n, spec.param, spec.max) };
  const hours = single(query, 'hours');
  if (hours !== undefined) {
    if (kind !== 'top') throw new InputError('hours', `only /analytics/top/N takes a period (?hours=N); /analytics/${kind}/N is itself the period`);
    q.hours = count(hours, 'hours', QUERY_LIMITS.maxHours);
  }
  return q;
}


/**
 * A device named in a path, as usage-store's queries take it: a MAC (any case or separator), an
 * IPv4 or an IPv6 address (of the device now or before: the store keeps every address it used).
 * Anything else is 400, so nothing but a MAC or an address reaches the query.
 */
export function deviceRef(id: string): { mac: string } | { ip: string } {
  const mac = normalizeMac(id);
  if (mac !== null) return { mac };
  if (isIPv4(id)) return { ip: id };
  if (isIPv6(id)) return { ip: id.toLowerCase() };
  throw new InputError('id', `must be a MAC address (aa:bb:cc:dd:ee:ff), an IPv4 or an IPv6 address, got ${JSON.stringify(id.slice(0, 100))}`);
}

/** GET /api/analytics/client/:id/:hours: the device's traffic over the last N hours, by hour. */
export function clientAnalyticsQuery(id: string, hours: string, s: AllocatedSnapshot | null = null): Record<string, unknown> {
  const n = count(hours, 'hours', QUERY_LIMITS.maxHours);
  return { type: 'client', ...deviceOf(id, s), hours: n };
}

/**
 * deviceRef, and a device on the LAN now by its MAC: an address of the last snapshot reaches the
 * store's file with the raw row it is first counted in (up to a minute later).
 */
function deviceOf(id: string, s: AllocatedSnapshot | null): { mac: string } | { ip: string } {
  const ref = deviceRef(id);
  const now = 'ip' in ref ? findClient(s, ref.ip) : null;
  return now ? { mac: now.mac } : ref;
}

/** GET /api/history/:id?days=7&limit=100: the device's connection sessions, newest first. */
export function historyQuery(id: string, query: Record<string, unknown>, s: AllocatedSnapshot | null = null): Record<string, unknown> {
  const q: Record<string, unknown> = { type: 'history', ...deviceOf(id, s) };
  const days = single(query, 'days');
  if (days !== undefined) q.days = count(days, 'days', QUERY_LIMITS.maxDays);
  const limit = single(query, 'limit');
  if (limit !== undefined) q.limit = count(limit, 'limit', QUERY_LIMITS.maxLimit);
  for (const key of Object.keys(query)) if (key !== 'days' && key !== 'limit') throw new InputError(key, 'unknown parameter (known: days, limit)');
  return q;
}

/** A query-string value given once: `?x=1&x=2` or `?x[a]=1` is refused, not turned into text. */
function single(query: Record<string, unknown>, key: string): string | undefined {
  if (!Object.hasOwn(query, key)) return undefined;
  const value = query[key];
  if (typeof value !== 'string') throw new InputError(key, 'must be given once, as plain text');
  return value;
}

/** GET /api/alerts?severity=warning&hours=24&limit=50 as a usage-store query. */
export function alertsQuery(query: Record<string, unknown>): Record<string, unknown> {
  const q: Record<string, unknown> = { type: 'alerts' };
  const severity = single(query, 'severity');
  if (severity !== undefined) {
    if (severityProblem(severity)) throw new InputError('severity', severityProblem(severity)!);
    q.severity = severity;
  }
  const type = single(query, 'type');
  if (type !== undefined) q.alertType = type;
  const hours = single(query, 'hours');
  if (hours !== undefined) q.hours = count(hours, 'hours', QUERY_LIMITS.maxHours);
  const limit = single(query, 'limit');
  if (limit !== undefined) q.limit = count(limit, 'limit', QUERY_LIMITS.maxLimit);
  for (const key of ['since', 'until', 'acknowledged', 'include_cleared'] as const) {
    const value = single(query, key);
    if (value === undefined) continue;
    if ((key === 'acknowledged' || key === 'include_cleared') && value !== 'true' && value !== 'false') throw new InputError(key, `must be true or false, got ${JSON.stringify(value.slice(0, 50))}`);
    if ((key === 'since' || key === 'until') && !/^\d{1,15}$/.test(value) && Number.isNaN(Date.parse(value))) throw new InputError(key, `must be a time in ms or an ISO date, got ${JSON.stringify(value.slice(0, 50))}`);
    q[key === 'include_cleared' ? 'includeCleared' : key] = key === 'since' || key === 'until' ? (/^\d+$/.test(value) ? Number(value) : value) : value === 'true';
  }
  return q;
}

/**
 * Body of POST /api/alerts/:action (acknowledge or clear): { ids: [12, 13] } or { all: true,
 * severity?, type?, hours? }, as usage-store's alert-state command (which checks the rest).
 */
export function alertStateCommand(action: string, body: unknown): Record<string, unknown> {
  if (action !== 'acknowledge' && action !== 'clear') throw new InputError('action', `must be acknowledge or clear, got ${JSON.stringify(action.slice(0, 50))}`);
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InputError('body', 'must be a JSON object such as { "ids": [12, 13] } or { "all": true, "severity": "warning" }');
  const b = body as Record<string, unknown>;
  const known = ['ids', 'all', 'severity', 'type', 'hours'];
  for (const key of Object.keys(b)) if (!known.includes(key)) throw new InputError(key, `unknown field (known: ${known.join(', ')})`);
  const { type, ...rest } = b;
  return { action, ...rest, ...(type !== undefined ? { alertType: type } : {}) };
}

/** Body of POST /api/priority/:id: { priority }, checked against maxPriority. */
export function priorityBody(body: unknown, maxPriority: number): number {
  const p = body && typeof body === 'object' && Object.hasOwn(body, 'priority') ? (body as { priority: unknown }).priority : undefined;
  const n = toNumber(p);
  if (priorityProblem(n, maxPriority)) throw new InputError('priority', priorityProblem(p, maxPriority)!);
  return n;
}

/** The limit fields of a POST /api/device/:id, as the `device` command names them. */
export type LimitCommand = Partial<Record<(typeof COMMAND_NAMES)[keyof typeof COMMAND_NAMES], number | string | null>>;

/**
 * Body of POST /api/device/:id: { friendly_name? | name?, priority?, max_download?, max_upload?,
 * quota_daily_mb?, quota_monthly_mb?, quota_action?, throttle_kbps? }. The limits are checked
 * against the device's current ones (`current`, from the last snapshot) with the one check of
 * contract/limits.ts, and handed on under the `device` command's names.
 */
export function deviceBody(body: unknown, maxPriority: number, current: DeviceLimits = NO_LIMITS): { name?: string | null; priority?: number; limits?: LimitCommand } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new InputError('body', 'must be a JSON object such as { "friendly_name": "My Laptop" }');
  const b = body as Record<string, unknown>;
  const out: { name?: string | null; priority?: number; limits?: LimitCommand } = {};
  const known = ['friendly_name', 'name', 'priority', ...limitFieldNames(API_NAMES)];
  for (const key of Object.keys(b)) {
    if (!known.includes(key)) throw new InputError(key, `unknown field (known: friendly_name, priority, ${limitFieldNames(API_NAMES).join(', ')})`);
  }
  const has = (key: string) => Object.hasOwn(b, key);
  const raw = has('friendly_name') ? b.friendly_name : b.name;
  if (has('friendly_name') || has('name')) {
    if (raw !== null && typeof raw !== 'string') throw new InputError('friendly_name', `must be text, got ${JSON.stringify(raw)}`);
    const name = raw === null ? null : raw.trim();
    if (name !== null && name.length > QUERY_LIMITS.maxNameLength) throw new InputError('friendly_name', `must be at most ${QUERY_LIMITS.maxNameLength} characters`);
    // eslint-disable-next-line no-control-regex
    if (name !== null && /[\u0000-\u001f\u007f]/.test(name)) throw new InputError('friendly_name', 'must not contain control characters');
    out.name = name === '' ? null : name;
  }
  if (has('priority')) out.priority = priorityBody(b, maxPriority);
  if (hasLimitChange(b, API_NAMES)) {
    // checked whole here (400 with the field), so the command usage-store gets is one it takes
    applyLimitChange(current, b, API_NAMES, '');
    const limits: LimitCommand = {};
    for (const k of Object.keys(API_NAMES) as (keyof typeof API_NAMES)[]) {
      if (has(API_NAMES[k])) limits[COMMAND_NAMES[k]] = b[API_NAMES[k]] as number | string | null;
    }
    out.limits = limits;
  }
  if (Object.keys(out).length === 0) throw new InputError('body', `nothing to set: send "friendly_name", "priority" or a limit (${limitFieldNames(API_NAMES).join(', ')})`);
  return out;
}

/** An error of the body parser (body-parser's `type`, `status`, `limit`) or of express's routing. */
export type BodyError = Error & { type?: string; status?: number; statusCode?: number; limit?: number; expose?: boolean };

/**
 * What to answer, in JSON, for an error raised under the API's paths before or around our
 * handlers: a body Node-RED's own parser refused (with the editor at '/', Node-RED's default
 * httpAdminRoot, its admin app parses every JSON and form body, ours included, before httpNode's
 * routes), a path express could not decode (a malformed %-escape), anything else. Express alone
 * would answer with an HTML page carrying a stack trace and the install's file paths; the answer
 * here never carries more than a fixed reason.
 */
export function apiErrorAnswer(err: BodyError | null | undefined): { status: number; error: string } {
  const status = typeof err?.status === 'number' ? err.status : typeof err?.statusCode === 'number' ? err.statusCode : 500;
  if (err instanceof URIError || /^Failed to decode param/.test(err?.message ?? '')) {
    return { status: 400, error: 'path: has a malformed %-escape (each % must start a valid UTF-8 escape such as %20)' };
  }
  if (err?.type === 'entity.parse.failed') return { status: 400, error: 'body: is not valid JSON' };
  if (err?.type === 'entity.too.large') return { status: 413, error: `body: must be at most ${err.limit ?? '?'} bytes` };
  if (err?.type === 'charset.unsupported' || err?.type === 'encoding.unsupported') return { status: 415, error: 'body: must be JSON in UTF-8' };
  if (status >= 400 && status < 500) return { status, error: `request: refused (HTTP ${status})` };
  return { status: 500, error: 'internal error: see the Node-RED log' };
}

/** The answer for a body that is too big: the same as Node-RED's parser's. */
export const tooLarge = (limit: number) => ({ status: 413, error: `body: must be at most ${limit} bytes` });

/**
 * Whether a Content-Type header is JSON: `application/json`, any case, optionally with
 * parameters (`; charset=utf-8`). A form or `text/plain` (what a page on another site can send
 * without asking the browser first) is not.
 */
export function isJsonContentType(header: string | undefined): boolean {
  return typeof header === 'string' && /^application\/json[ \t]*(;.*)?$/i.test(header.trim());
}

/** The host:port a URL-ish origin names, as a browser compares them (default ports dropped). */
function hostOf(origin: string, protocol = 'http:'): string | null {
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(origin) ? origin : `${protocol}//${origin}`);
    return url.host.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * Why a request comes from another site's page, or null. A browser names the page's origin in
 * `Origin` (on every POST, and on GETs made by fetch from another origin); it must be the host
 * the request was sent to (`Host`). `Sec-Fetch-Site: cross-site` is refused too. curl and scripts
 * send neither and pass; so does the same-origin dashboard.
 */
export function crossSiteProblem(headers: { origin?: string | string[]; host?: string | string[]; 'sec-fetch-site'?: string | string[] }): string | null {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && String(site).toLowerCase() === 'cross-site') return 'request: comes from a page on another site (Sec-Fetch-Site: cross-site)';
  const origin = headers.origin;
  if (origin === undefined) return null;
  const text = String(origin);
  const from = text === 'null' ? null : hostOf(text);
  const protocol = /^https:/i.test(text) ? 'https:' : 'http:';
  const to = typeof headers.host === 'string' ? hostOf(headers.host, protocol) : null;
  if (from === null || to === null || from !== to) {
    return `request: comes from a page on another site (Origin ${JSON.stringify(text.slice(0, 200))} is not this host)`;
  }
  return null;
}
