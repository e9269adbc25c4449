import { InputError } from '../contract/errors';
import { normalizeMac } from '../contract/mac';

/** Upper bounds that catch typos and units mix-ups (ms for hours) without limiting any real report. */
export const QUERY_LIMITS = Object.freeze({
  maxHours: 24 * 366 * 20,
  maxDays: 366 * 20,
  maxLimit: 10_000,
  maxNameLength: 100,
  maxMessageLength: 2_000,
});

/**
 * A count such as N hours or the top N: a whole number from 1 to `max`. Numeric strings are
 * accepted because HTTP routes (/api/analytics/top/10) deliver them as text.
 */
export function countParam(value: unknown, path: string, max: number, fallback?: number): number {
  if ((value === undefined || value === null) && fallback !== undefined) return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(n)) throw new InputError(path, `must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`);
  if (!Number.isInteger(n) || n < 1) throw new InputError(path, `must be a whole number of at least 1, got ${JSON.stringify(value)}`);
  if (n > max) throw new InputError(path, `must be at most ${max}, got ${n}`);
  return n;
}

export function macParam(value: unknown, path: string): string {
  const mac = normalizeMac(value);
  if (!mac) throw new InputError(path, `${JSON.stringify(value)} is not a MAC address`);
  return mac;
}

/** Optional text (a name, a device type): trimmed, at most `max` characters; '' and null clear it. */
export function textParam(value: unknown, path: string, max: number): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw new InputError(path, `must be text, got ${JSON.stringify(value)}`);
  const text = value.trim();
  if (text.length > max) throw new InputError(path, `must be at most ${max} characters, got ${text.length}`);
  return text === '' ? null : text;
}

/** A point in time: ms since the epoch, or a date string Date.parse understands. */
export function timeParam(value: unknown, path: string): number {
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0 || ms > 8.64e15) throw new InputError(path, `must be a time (ms since 1970 or an ISO date), got ${JSON.stringify(value)}`);
  return ms;
}

export function objectParam(value: unknown, path: string, example: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new InputError(path, `must be an object such as ${example}`);
  return value as Record<string, unknown>;
}
