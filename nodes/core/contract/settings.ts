import { ifaceNameProblem } from './iface';
import { InputError } from './errors';

export type ShapingMode = 'dry-run' | 'enforce';

/** Shared settings held by the equalnet-config node, validated. */
export interface Settings {
  /** LAN interface of the router; empty when not chosen yet. */
  iface: string;
  downMbps: number;
  upMbps: number;
  maxPriority: number;
  minPercent: number;
  /**
   * Most clients shaped, counted and remembered per direction; devices beyond it share the
   * default class (a MAC-spraying device cannot grow the kernel tables or the process).
   */
  clientCap: number;
  mode: ShapingMode;
  dbFile: string;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  iface: '',
  downMbps: 100,
  upMbps: 20,
  maxPriority: 5,
  minPercent: 10,
  clientCap: 1024,
  mode: 'dry-run',
  dbFile: 'equalnet.db',
});

export const LIMITS = Object.freeze({
  /** 100 Gbit/s: beyond any LAN this runs on, and a typo guard. */
  maxMbps: 100_000,
  minMaxPriority: 2,
  maxMaxPriority: 20,
  minClientCap: 1,
  /** A /20 of clients; HTB minors and u32 hash buckets are far from full there. */
  maxClientCap: 4096,
});

export type Problems = Record<string, string>;

/**
 * A plain decimal: an optional minus, digits, optionally a point and more digits. No spaces
 * around it, no sign `+`, no hex ("0x10"), no exponent ("1e3"), no "Infinity", nothing empty:
 * what the editor's number fields and an env value hold, and nothing `Number()` reads loosely.
 */
export const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * The one number parser for settings, `config` commands and the HTTP API: a JSON number as it
 * is, or a string of plain decimal (DECIMAL, as the editor stores numbers); anything else is NaN.
 */
export function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.length <= 40 && DECIMAL.test(value)) return Number(value);
  return Number.NaN;
}

/**
 * A link speed in Mbit/s: a number of at least 16 kbit/s (one client and the shared class at
 * 8 kbit/s each, the smallest client cap) and at most LIMITS.maxMbps. linkProblem also checks
 * it against the client cap in force.
 */
export function bandwidthProblem(value: unknown): string | null {
  const n = toNumber(value);
  if (!Number.isFinite(n)) return `must be a number of Mbit/s, got ${JSON.stringify(value)} (plain decimal, such as 250 or 12.5)`;
  if (n <= 0) return `must be greater than 0 Mbit/s, got ${n}`;
  // what one client and the shared class need even at the smallest client cap
  if (n < minLinkMbps(LIMITS.minClientCap)) return `must be at least ${minLinkMbps(LIMITS.minClientCap)} Mbit/s (16 kbit/s), got ${n}`;
  if (n > LIMITS.maxMbps) return `must be at most ${LIMITS.maxMbps} Mbit/s, got ${n}`;
  return null;
}

/** Slowest rate a client is guaranteed (HTB needs a real rate per class): 8 kbit/s. */
export const MIN_CLIENT_KBPS = 8;

/** Slowest link, in Mbit/s, that gives `clientCap` clients and the default class 8 kbit/s each. */
export const minLinkMbps = (clientCap: number): number => ((clientCap + 1) * MIN_CLIENT_KBPS) / 1000;

/**
 * A link speed checked against the client cap as well: at least (clientCap + 1) × 8 kbit/s, so
 * every shaped client and the shared default class get a rate tc can keep. Null when fine.
 */
export function linkProblem(mbps: unknown, clientCap: number): string | null {
  const problem = bandwidthProblem(mbps);
  if (problem) return problem;
  const min = minLinkMbps(clientCap);
  const n = toNumber(mbps);
  if (n < min) {
    return `must be at least ${min} Mbit/s for a client cap of ${clientCap} (8 kbit/s per client and for the shared class), got ${n}; for a slow link, lower the client cap`;
  }
  return null;
}

export function maxPriorityProblem(value: unknown): string | null {
  const n = toNumber(value);
  if (!Number.isInteger(n) || n < LIMITS.minMaxPriority || n > LIMITS.maxMaxPriority) {
    return `must be a whole number from ${LIMITS.minMaxPriority} to ${LIMITS.maxMaxPriority}, got ${JSON.stringify(value)}`;
  }
  return null;
}

export function clientCapProblem(value: unknown): string | null {
  const n = toNumber(value);
  if (!Number.isInteger(n) || n < LIMITS.minClientCap || n > LIMITS.maxClientCap) {
    return `must be a whole number of clients from ${LIMITS.minClientCap} to ${LIMITS.maxClientCap}, got ${JSON.stringify(value)}`;
  }
  return null;
}

export function percentProblem(value: unknown): string | null {
  const n = toNumber(value);
  if (!Number.isFinite(n) || n < 0 || n > 100) return `must be a percentage from 0 to 100, got ${JSON.stringify(value)}`;
  return null;
}

/**
 * Validates raw settings (from the editor or a `config` command). Returns the typed settings,
 * or every problem found, keyed by field, so the user can fix them all at once.
 */
export function validateSettings(raw: Record<string, unknown>): { settings: Settings } | { problems: Problems } {
  const problems: Problems = {};
  const check = (field: string, problem: string | null) => {
    if (problem) problems[field] = problem;
  };
  const iface = raw.iface === undefined || raw.iface === null ? '' : raw.iface;
  if (iface !== '') check('iface', ifaceNameProblem(iface));
  else if (typeof iface !== 'string') check('iface', 'must be a string');
  check('maxPriority', maxPriorityProblem(raw.maxPriority));
  check('minPercent', percentProblem(raw.minPercent));
  // flows saved before the cap existed have no value: the default
  const clientCap = raw.clientCap === undefined || raw.clientCap === '' ? DEFAULT_SETTINGS.clientCap : raw.clientCap;
  check('clientCap', clientCapProblem(clientCap));
  // the lower bound of a link depends on the cap; with a bad cap only the plain bounds apply
  const cap = problems.clientCap ? null : toNumber(clientCap);
  check('downMbps', cap === null ? bandwidthProblem(raw.downMbps) : linkProblem(raw.downMbps, cap));
  check('upMbps', cap === null ? bandwidthProblem(raw.upMbps) : linkProblem(raw.upMbps, cap));
  check('mode', runtimeSettingProblem('mode', raw.mode, 0));
  if (typeof raw.dbFile !== 'string' || raw.dbFile.trim() === '') check('dbFile', 'must be a file path');
  else if (raw.dbFile.includes('\0')) check('dbFile', 'must not contain NUL characters');

  if (Object.keys(problems).length > 0) return { problems };
  return {
    settings: {
      iface: iface as string,
      downMbps: toNumber(raw.downMbps),
      upMbps: toNumber(raw.upMbps),
      maxPriority: toNumber(raw.maxPriority),
      minPercent: toNumber(raw.minPercent),
      clientCap: toNumber(clientCap),
      mode: raw.mode as ShapingMode,
      dbFile: (raw.dbFile as string).trim(),
    },
  };
}

export function describeProblems(problems: Problems): string {
  return Object.entries(problems)
    .map(([field, problem]) => `${field} ${problem}`)
    .join('; ');
}

export const mbpsToBps = (mbps: number): number => Math.round(mbps * 1_000_000);

/** What a `config` command (the API's POST /api/config, the Settings page) may change at run time. */
export type RuntimeSettings = Pick<Settings, 'downMbps' | 'upMbps' | 'maxPriority' | 'minPercent' | 'mode'>;

/** A config command's names, ours and the original EqualNet Pro's, for the settings the config node owns. */
export const SETTING_ALIASES: Readonly<Record<string, keyof RuntimeSettings>> = Object.freeze({
  downMbps: 'downMbps',
  total_bandwidth: 'downMbps',
  upMbps: 'upMbps',
  upload_bandwidth: 'upMbps',
  maxPriority: 'maxPriority',
  max_priority: 'maxPriority',
  minPercent: 'minPercent',
  min_bandwidth_percent: 'minPercent',
  mode: 'mode',
});

/** The one check of a runtime setting's value (a link is checked against the client cap in force). */
export function runtimeSettingProblem(field: keyof RuntimeSettings, value: unknown, clientCap: number): string | null {
  switch (field) {
    case 'downMbps':
    case 'upMbps':
      return linkProblem(value, clientCap);
    case 'maxPriority':
      return maxPriorityProblem(value);
    case 'minPercent':
      return percentProblem(value);
    case 'mode':
      return value === 'dry-run' || value === 'enforce' ? null : `must be "dry-run" or "enforce", got ${JSON.stringify(value)}`;
  }
}

/**
 * The settings after a config command, or an InputError naming the first bad field (the API
 * answers 400 with it). Keys outside SETTING_ALIASES are left to `others` (a node's own options,
 * such as the allocator's headroom): an unknown key is an error only when `others` does not know
 * it either. Pure: validated once, here, for every node and the API.
 */
export function applySettingsCommand(current: Settings, payload: unknown, others: readonly string[] = []): { settings: Settings; changed: (keyof RuntimeSettings)[] } {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new InputError('payload', 'a config command needs an object such as { "downMbps": 200, "maxPriority": 10 }');
  }
  const next: Settings = { ...current };
  const changed = new Set<keyof RuntimeSettings>();
  for (const [key, value] of Object.entries(payload)) {
    const field = Object.hasOwn(SETTING_ALIASES, key) ? SETTING_ALIASES[key] : undefined;
    if (!field) {
      if (others.includes(key)) continue;
      throw new InputError(`payload.${key}`, `unknown setting (known: ${[...Object.keys(SETTING_ALIASES), ...others].join(', ')})`);
    }
    const problem = runtimeSettingProblem(field, value, current.clientCap);
    if (problem) throw new InputError(`payload.${key}`, problem);
    const v = field === 'mode' ? (value as ShapingMode) : toNumber(value);
    if (next[field] !== v) changed.add(field);
    (next as unknown as Record<string, unknown>)[field] = v;
  }
  return { settings: next, changed: [...changed] };
}

/** The runtime settings of `settings` that differ from `base`: what a config command changed and is kept. */
export function runtimeOverride(base: Settings, settings: Settings): Partial<RuntimeSettings> {
  const out: Partial<RuntimeSettings> = {};
  for (const field of new Set(Object.values(SETTING_ALIASES))) {
    if (settings[field] !== base[field]) (out as Record<string, unknown>)[field] = settings[field];
  }
  return out;
}
