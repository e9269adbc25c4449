/**
 * Alert delivery settings (issue 16): who gets the alerts by e-mail, under which MQTT topic prefix
 * they are published, and which kinds go out at all. Set on the dashboard's Settings page or with
 * POST /api/alert-delivery, kept by usage-store in its file (app_settings), applied by the flow's
 * "alert delivery" function to every alert from then on: no redeploy. The SMTP server and its
 * credentials stay in the e-mail node's own config (Node-RED's credentials store), never here.
 */
import { InputError } from '../contract/errors';
import { RULE_KINDS, type RuleKind } from './options';

export interface Delivery {
  /** Recipient(s) of the e-mails, comma-separated; null: the e-mail node's own "To". */
  email: string | null;
  /** MQTT topics are `<prefix>/<type>`, e.g. equalnet/alert/new_device. */
  mqttPrefix: string;
  /** The kinds sent (e-mail and MQTT); the others are still stored and shown on the dashboard. */
  kinds: RuleKind[];
}

export const DEFAULT_DELIVERY: Readonly<Delivery> = Object.freeze({ email: null, mqttPrefix: 'equalnet/alert', kinds: [...RULE_KINDS] });

/** Field names as the API and the dashboard send them. */
const FIELDS = ['email', 'mqttPrefix', 'kinds'] as const;
const ALIASES: Readonly<Record<string, (typeof FIELDS)[number]>> = Object.freeze({ email: 'email', recipient: 'email', mqttPrefix: 'mqttPrefix', mqtt_prefix: 'mqttPrefix', kinds: 'kinds' });

/** One address: local@domain, no spaces, quotes, angle brackets or line breaks (no header injection). */
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
export const MAX_EMAIL_LENGTH = 500;
export const MAX_PREFIX_LENGTH = 100;

function emailOf(value: unknown): string | null {
  if (value === null || value === '') return null;
  if (typeof value !== 'string') throw new InputError('email', `must be text (addresses separated by commas) or null, got ${JSON.stringify(value)}`);
  const text = value.trim();
  if (text === '') return null;
  if (text.length > MAX_EMAIL_LENGTH) throw new InputError('email', `must be at most ${MAX_EMAIL_LENGTH} characters`);
  const addresses = text.split(',').map((a) => a.trim());
  if (addresses.length > 10) throw new InputError('email', 'at most 10 addresses');
  for (const a of addresses) {
    if (!ADDRESS.test(a)) throw new InputError('email', `${JSON.stringify(a.slice(0, 100))} is not an e-mail address such as admin@example.com`);
  }
  return addresses.join(', ');
}

function prefixOf(value: unknown): string {
  if (typeof value !== 'string') throw new InputError('mqttPrefix', `must be text such as "equalnet/alert", got ${JSON.stringify(value)}`);
  const prefix = value.trim().replace(/\/+$/, '');
  if (prefix === '') throw new InputError('mqttPrefix', 'must not be empty (the default is "equalnet/alert")');
  if (prefix.length > MAX_PREFIX_LENGTH) throw new InputError('mqttPrefix', `must be at most ${MAX_PREFIX_LENGTH} characters`);
  // MQTT: no wildcards in a topic published to, no NUL; a leading "$" is reserved for the broker
  // eslint-disable-next-line no-control-regex
  if (/[+#\u0000-\u001f\u007f]/.test(prefix) || prefix.startsWith('$') || prefix.includes('//')) {
    throw new InputError('mqttPrefix', `must be an MQTT topic without +, #, control characters, a leading $ or empty levels, got ${JSON.stringify(prefix.slice(0, 100))}`);
  }
  return prefix;
}

function kindsOf(value: unknown): RuleKind[] {
  const list = typeof value === 'string' ? value.split(',').map((k) => k.trim()).filter((k) => k !== '') : value;
  if (!Array.isArray(list) || list.length > RULE_KINDS.length * 2) throw new InputError('kinds', `must be a list of alert kinds (${RULE_KINDS.join(', ')}), got ${JSON.stringify(value).slice(0, 100)}`);
  for (const k of list) {
    if (!RULE_KINDS.includes(k as RuleKind)) throw new InputError('kinds', `unknown alert kind ${JSON.stringify(k).slice(0, 100)} (known: ${RULE_KINDS.join(', ')})`);
  }
  // in the rules' order, once each
  return RULE_KINDS.filter((k) => list.includes(k));
}

/**
 * The delivery settings after a change (only the fields given change); InputError naming the
 * field, and nothing changes, for an unknown field or a bad value.
 */
export function applyDelivery(current: Delivery, payload: unknown): Delivery {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new InputError('payload', 'must be an object such as { "email": "admin@example.com", "mqttPrefix": "equalnet/alert", "kinds": ["new_device"] }');
  const next: Delivery = { ...current, kinds: [...current.kinds] };
  for (const [key, value] of Object.entries(payload as Record<string, unknown>)) {
    const field = Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined;
    if (!field) throw new InputError(key, `unknown field (known: ${FIELDS.join(', ')})`);
    if (field === 'email') next.email = emailOf(value);
    else if (field === 'mqttPrefix') next.mqttPrefix = prefixOf(value);
    else next.kinds = kindsOf(value);
  }
  return next;
}

/** Settings read back from the file: a damaged or older row falls back field by field to the defaults. */
export function deliveryFrom(json: string | undefined): Delivery {
  let stored: Record<string, unknown> = {};
  try {
    const parsed = json === undefined ? {} : JSON.parse(json);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) stored = parsed;
  } catch {
    // a damaged row: the defaults
  }
  const d: Delivery = { ...DEFAULT_DELIVERY, kinds: [...DEFAULT_DELIVERY.kinds] };
  for (const field of FIELDS) {
    if (!Object.hasOwn(stored, field)) continue;
    try {
      Object.assign(d, applyDelivery(d, { [field]: stored[field] }));
    } catch {
      // keep the default of that field
    }
  }
  return d;
}

/** What one alert (alert-rule's output 1) becomes: the e-mail and the MQTT message, or null when its kind is not sent. */
export function routeAlert<M extends { topic?: unknown; subject?: unknown; alert?: { type?: unknown } }>(msg: M, d: Delivery): { email: M & { to?: string } | null; mqtt: M | null } {
  const type = String(msg.alert?.type ?? '');
  if (!d.kinds.includes(type as RuleKind)) return { email: null, mqtt: null };
  const email = { ...msg, topic: msg.subject ?? msg.topic } as M & { to?: string };
  if (d.email) email.to = d.email;
  return { email, mqtt: { ...msg, topic: `${d.mqttPrefix}/${type}` } };
}
