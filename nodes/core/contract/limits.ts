/**
 * Per-device limits (issue 18): a maximum per direction (the HTB ceil of the device's classes),
 * data quotas per calendar day and month, and what happens when a quota is used up (an alert
 * only, or a throttle to a rate until the period resets). One shape and one check, used by the
 * `device` command (usage-store keeps them in the registry), the HTTP API (Mbit/s, MB and kbit/s
 * as the issue names them) and the registry message the allocator reads.
 *
 * Units kept: bit/s for rates, bytes for quotas (MB = 10^6 bytes, as the analytics).
 */
import { InputError } from './errors';
import { LIMITS } from './settings';
import { toNumber } from './settings';

export type QuotaAction = 'alert' | 'throttle';
export const QUOTA_ACTIONS: readonly QuotaAction[] = ['alert', 'throttle'];

export interface DeviceLimits {
  /** Most the device may download / upload, bit/s; null: the link. */
  maxDownBps: number | null;
  maxUpBps: number | null;
  /** Data it may move per calendar day / month (router's time zone), bytes; null: no quota. */
  quotaDailyBytes: number | null;
  quotaMonthlyBytes: number | null;
  /** What a used-up quota does. */
  quotaAction: QuotaAction;
  /** The rate a used-up quota throttles it to (both directions), bit/s; null: not set. */
  throttleBps: number | null;
}

export const NO_LIMITS: Readonly<DeviceLimits> = Object.freeze({
  maxDownBps: null,
  maxUpBps: null,
  quotaDailyBytes: null,
  quotaMonthlyBytes: null,
  quotaAction: 'alert',
  throttleBps: null,
});

/** The bounds of each value: HTB shapes nothing below 8 kbit/s; the top is a typo guard. */
export const LIMIT_BOUNDS = Object.freeze({
  /** A maximum: 0.008 Mbit/s (8 kbit/s) .. the largest link. */
  minMaxMbps: 0.008,
  maxMaxMbps: LIMITS.maxMbps,
  /** A quota: 1 MB .. 1,000,000,000 MB (1 EB, a typo guard). */
  minQuotaMb: 1,
  maxQuotaMb: 1e9,
  /** A throttle: 8 kbit/s .. the largest link. */
  minThrottleKbps: 8,
  maxThrottleKbps: LIMITS.maxMbps * 1000,
});

/** Share of a quota at which `quota_warning` goes out. */
export const QUOTA_WARNING_SHARE = 0.8;

/** The names a change is given under: the `device` command's, or the HTTP API's. */
export interface LimitNames {
  maxDown: string;
  maxUp: string;
  quotaDaily: string;
  quotaMonthly: string;
  quotaAction: string;
  throttle: string;
}

export const COMMAND_NAMES: Readonly<LimitNames> = Object.freeze({
  maxDown: 'maxDownMbps',
  maxUp: 'maxUpMbps',
  quotaDaily: 'quotaDailyMb',
  quotaMonthly: 'quotaMonthlyMb',
  quotaAction: 'quotaAction',
  throttle: 'throttleKbps',
});

export const API_NAMES: Readonly<LimitNames> = Object.freeze({
  maxDown: 'max_download',
  maxUp: 'max_upload',
  quotaDaily: 'quota_daily_mb',
  quotaMonthly: 'quota_monthly_mb',
  quotaAction: 'quota_action',
  throttle: 'throttle_kbps',
});

const KEYS = ['maxDown', 'maxUp', 'quotaDaily', 'quotaMonthly', 'quotaAction', 'throttle'] as const;

/** Whether an object carries any limit under these names. */
export function hasLimitChange(p: Record<string, unknown>, names: LimitNames): boolean {
  return KEYS.some((k) => Object.hasOwn(p, names[k]));
}

/** The names of every limit field, for "unknown field" messages. */
export const limitFieldNames = (names: LimitNames): string[] => KEYS.map((k) => names[k]);

/** A number in [min, max], or null (clears). Numbers as JSON numbers or plain decimal text. */
function amount(value: unknown, path: string, min: number, max: number, unit: string, whole = false): number | null {
  if (value === null) return null;
  const n = toNumber(value);
  if (!Number.isFinite(n) || n < min || n > max || (whole && !Number.isInteger(n))) {
    throw new InputError(path, `must be ${whole ? 'a whole number' : 'a number'} from ${min} to ${max} ${unit}, or null to clear, got ${JSON.stringify(value)?.slice(0, 60)}`);
  }
  return n;
}

/**
 * The limits of `current` with the change in `p` (given under `names`) applied, checked whole
 * first: an InputError names the first bad field and nothing changes. Absent fields keep their
 * value; null clears. `path` prefixes the field in errors ('' for the API's bare names). A
 * throttle action needs a throttle rate (given now or kept). A maximum
 * below the guarantee is allowed and wins (docs/limits-quotas.md).
 */
export function applyLimitChange(current: DeviceLimits, p: Record<string, unknown>, names: LimitNames, path = 'payload'): DeviceLimits {
  const next: DeviceLimits = { ...current };
  const at = (k: (typeof KEYS)[number]) => (path ? `${path}.${names[k]}` : names[k]);
  const has = (k: (typeof KEYS)[number]) => Object.hasOwn(p, names[k]) && p[names[k]] !== undefined;
  const b = LIMIT_BOUNDS;
  const mbps = (k: 'maxDown' | 'maxUp') => {
    const v = amount(p[names[k]], at(k), b.minMaxMbps, b.maxMaxMbps, 'Mbit/s');
    return v === null ? null : Math.round(v * 1e6);
  };
  const mb = (k: 'quotaDaily' | 'quotaMonthly') => {
    const v = amount(p[names[k]], at(k), b.minQuotaMb, b.maxQuotaMb, 'MB');
    return v === null ? null : Math.round(v * 1e6);
  };
  if (has('maxDown')) next.maxDownBps = mbps('maxDown');
  if (has('maxUp')) next.maxUpBps = mbps('maxUp');
  if (has('quotaDaily')) next.quotaDailyBytes = mb('quotaDaily');
  if (has('quotaMonthly')) next.quotaMonthlyBytes = mb('quotaMonthly');
  if (has('throttle')) {
    const v = amount(p[names.throttle], at('throttle'), b.minThrottleKbps, b.maxThrottleKbps, 'kbit/s', true);
    next.throttleBps = v === null ? null : v * 1000;
  }
  if (has('quotaAction')) {
    const v = p[names.quotaAction];
    if (v === null) next.quotaAction = 'alert';
    else if (!QUOTA_ACTIONS.includes(v as QuotaAction)) throw new InputError(at('quotaAction'), `must be "alert" or "throttle", got ${JSON.stringify(v)?.slice(0, 60)}`);
    else next.quotaAction = v as QuotaAction;
  }
  if (next.quotaAction === 'throttle' && next.throttleBps === null) {
    throw new InputError(at('throttle'), `"${names.quotaAction}": "throttle" needs a throttle rate: send "${names.throttle}" (kbit/s, ${b.minThrottleKbps} to ${b.maxThrottleKbps})`);
  }
  return next;
}

/** Limits as the registry message carries them (checked: a bad entry is an InputError at `path`). */
export function parseLimits(value: unknown, path: string): DeviceLimits {
  if (value === undefined || value === null) return { ...NO_LIMITS };
  if (typeof value !== 'object' || Array.isArray(value)) throw new InputError(path, 'must be an object { maxDownBps, maxUpBps, quotaDailyBytes, quotaMonthlyBytes, quotaAction, throttleBps }');
  const v = value as Record<string, unknown>;
  const num = (key: keyof DeviceLimits, min: number): number | null => {
    const x = v[key];
    if (x === undefined || x === null) return null;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw new InputError(`${path}.${key}`, `must be a number ≥ ${min} or null, got ${JSON.stringify(x)?.slice(0, 60)}`);
    return x;
  };
  const action = v.quotaAction ?? 'alert';
  if (!QUOTA_ACTIONS.includes(action as QuotaAction)) throw new InputError(`${path}.quotaAction`, `must be "alert" or "throttle", got ${JSON.stringify(action)?.slice(0, 60)}`);
  return {
    maxDownBps: num('maxDownBps', 8000),
    maxUpBps: num('maxUpBps', 8000),
    quotaDailyBytes: num('quotaDailyBytes', 1),
    quotaMonthlyBytes: num('quotaMonthlyBytes', 1),
    quotaAction: action as QuotaAction,
    throttleBps: num('throttleBps', 8000),
  };
}

/** Whether a device has any limit set. */
export const isLimited = (l: DeviceLimits): boolean =>
  l.maxDownBps !== null || l.maxUpBps !== null || l.quotaDailyBytes !== null || l.quotaMonthlyBytes !== null;

/**
 * The most a device may use now, per direction, bit/s (Infinity: no cap): its maximum, and the
 * throttle rate while a used-up quota throttles it (whichever is lower).
 */
export function capsOf(l: DeviceLimits, throttled: boolean): { down: number; up: number } {
  const t = throttled && l.throttleBps !== null ? l.throttleBps : Number.POSITIVE_INFINITY;
  return { down: Math.min(l.maxDownBps ?? Number.POSITIVE_INFINITY, t), up: Math.min(l.maxUpBps ?? Number.POSITIVE_INFINITY, t) };
}
