import { InputError } from '../contract/errors';
import { SEVERITIES, severityProblem, type Severity } from '../contract/message';
import { toNumber } from '../contract/settings';

/** The rule an alert-rule node runs; also the alert's `type` (the usage-store `alert_type`). */
export const RULE_KINDS = ['over_allocation', 'new_device', 'priority_starvation', 'unusual_traffic', 'link_saturation', 'device_gone', 'client_cap', 'quota_warning', 'quota_exceeded'] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export { SEVERITIES, type Severity } from '../contract/message';

export type Direction = 'down' | 'up';
export type Directions = 'both' | Direction;

/** Every threshold a rule may use. One flat shape, so a `config` command and the editor share names. */
export interface Thresholds {
  /** over_allocation: % of the client's allocation; link_saturation: % of the link. */
  percent: number;
  /** The condition must hold at every tick for this long before the alert is raised. */
  holdSec: number;
  /** The condition must be false for this long before the "cleared" alert. */
  clearSec: number;
  /** At most one alert per rule and client (and direction) in this time. */
  cooldownSec: number;
  /** priority_starvation: a client "wants more" when it moves at least this % of its allocation. */
  wantPercent: number;
  /** priority_starvation: how much less counts as less (guarantee, or the lower priority's rate). */
  tolerancePercent: number;
  /** unusual_traffic: how many standard deviations above the client's mean. */
  sigma: number;
  /** unusual_traffic: time constant of the EWMA baseline. */
  baselineMin: number;
  /** unusual_traffic: observed time before a client's baseline is trusted. */
  warmupMin: number;
  /** unusual_traffic: rates below this are never unusual. */
  minMbps: number;
  /** unusual_traffic: one baseline per hour of the day. */
  byHour: boolean;
  /** new_device: how long to wait for a registry from usage-store before taking the clients present as known. */
  waitSec: number;
  /** device_gone: silent for this long (absent from snapshots) means gone. */
  goneSec: number;
  directions: Directions;
  /** '' = the rule's own severity. */
  severity: Severity | '';
}

interface Limit {
  min: number;
  max: number;
  integer?: boolean;
  unit: string;
}

/** Ranges checked in the runtime and mirrored by the editor (alert-rule.html, ALERT_LIMITS; a test keeps them equal). */
export const LIMITS: Readonly<Record<Exclude<keyof Thresholds, 'byHour' | 'directions' | 'severity'>, Limit>> = Object.freeze({
  percent: { min: 1, max: 1000, unit: '%' },
  holdSec: { min: 0, max: 86400, unit: 's' },
  clearSec: { min: 0, max: 86400, unit: 's' },
  cooldownSec: { min: 0, max: 604800, unit: 's' },
  wantPercent: { min: 50, max: 100, unit: '%' },
  tolerancePercent: { min: 0, max: 100, unit: '%' },
  sigma: { min: 1, max: 20, unit: 'standard deviations' },
  baselineMin: { min: 1, max: 10080, unit: 'min' },
  warmupMin: { min: 0, max: 10080, unit: 'min' },
  minMbps: { min: 0, max: 100000, unit: 'Mbit/s' },
  waitSec: { min: 0, max: 3600, unit: 's' },
  goneSec: { min: 10, max: 604800, integer: true, unit: 's' },
});

const COMMON: Omit<Thresholds, 'percent' | 'holdSec'> = {
  clearSec: 10,
  cooldownSec: 300,
  wantPercent: 95,
  tolerancePercent: 10,
  sigma: 4,
  baselineMin: 60,
  warmupMin: 30,
  minMbps: 1,
  byHour: false,
  waitSec: 30,
  goneSec: 300,
  directions: 'both',
  severity: '',
};

/** Defaults per rule kind: the original's 90 % for over-allocation; the rest chosen for a 2 s tick. */
export const DEFAULTS: Readonly<Record<RuleKind, Thresholds>> = Object.freeze({
  over_allocation: { ...COMMON, percent: 90, holdSec: 10 },
  new_device: { ...COMMON, percent: 90, holdSec: 0 },
  priority_starvation: { ...COMMON, percent: 90, holdSec: 10 },
  unusual_traffic: { ...COMMON, percent: 90, holdSec: 10, clearSec: 30 },
  link_saturation: { ...COMMON, percent: 95, holdSec: 30 },
  device_gone: { ...COMMON, percent: 90, holdSec: 0, clearSec: 0 },
  client_cap: { ...COMMON, percent: 90, holdSec: 10, clearSec: 60 },
  // usage-store announces a quota level once per period: nothing to hold or clear here
  quota_warning: { ...COMMON, percent: 80, holdSec: 0, clearSec: 0, cooldownSec: 0 },
  quota_exceeded: { ...COMMON, percent: 100, holdSec: 0, clearSec: 0, cooldownSec: 0 },
});

/** The severity an alert of each kind has unless the node sets one; "cleared" alerts are always success. */
export const DEFAULT_SEVERITY: Readonly<Record<RuleKind, Severity>> = Object.freeze({
  over_allocation: 'warning',
  new_device: 'info',
  priority_starvation: 'warning',
  unusual_traffic: 'warning',
  link_saturation: 'error',
  device_gone: 'info',
  client_cap: 'warning',
  quota_warning: 'warning',
  quota_exceeded: 'error',
});

export function kindProblem(value: unknown): string | null {
  return RULE_KINDS.includes(value as RuleKind) ? null : `must be one of ${RULE_KINDS.join(', ')}, got ${JSON.stringify(value)}`;
}

/** Problem with one threshold value, or null. Accepts numbers as the editor stores them (strings). */
export function thresholdProblem(key: keyof Thresholds, value: unknown): string | null {
  if (key === 'byHour') {
    return value === true || value === false || value === 'true' || value === 'false' ? null : `must be true or false, got ${JSON.stringify(value)}`;
  }
  if (key === 'directions') {
    return ['both', 'down', 'up'].includes(value as string) ? null : `must be "both", "down" or "up", got ${JSON.stringify(value)}`;
  }
  if (key === 'severity') {
    return value === '' || !severityProblem(value) ? null : `must be "" (the rule's own) or one of ${SEVERITIES.join(', ')}, got ${JSON.stringify(value)}`;
  }
  const limit = LIMITS[key];
  const n = toNumber(value);
  const what = limit.integer ? 'a whole number' : 'a number';
  if (!Number.isFinite(n) || n < limit.min || n > limit.max || (limit.integer && !Number.isInteger(n))) {
    return `must be ${what} from ${limit.min} to ${limit.max} ${limit.unit}, got ${JSON.stringify(value)}`;
  }
  return null;
}

function parse(key: keyof Thresholds, value: unknown): Thresholds[keyof Thresholds] {
  if (key === 'byHour') return value === true || value === 'true';
  if (key === 'directions' || key === 'severity') return value as Directions;
  return toNumber(value);
}

/**
 * Thresholds from `base` with `changes` applied, all checked first: throws InputError naming the
 * first bad field (prefixed by `path`) and changes nothing. Unknown names are errors too, so a
 * typo in a `config` command does not pass silently. Empty strings and undefined keep the base value.
 */
export function applyThresholds(base: Thresholds, changes: Record<string, unknown>, path: string): Thresholds {
  const next: Thresholds = { ...base };
  for (const [key, value] of Object.entries(changes)) {
    if (!Object.hasOwn(base, key)) {
      throw new InputError(`${path}.${key}`, `unknown threshold (known: ${Object.keys(base).join(', ')})`);
    }
    if (value === undefined || (value === '' && key !== 'severity')) continue;
    const k = key as keyof Thresholds;
    const problem = thresholdProblem(k, value);
    if (problem) throw new InputError(`${path}.${key}`, problem);
    (next as unknown as Record<string, unknown>)[k] = parse(k, value);
  }
  return next;
}

export const directionsOf = (d: Directions): Direction[] => (d === 'both' ? ['down', 'up'] : [d]);
