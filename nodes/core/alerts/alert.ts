import type { Direction, RuleKind, Severity } from './options';

export type Figures = Record<string, number | string | boolean | null>;

/**
 * One alert, raised or cleared. `type`, `severity`, `message`, `mac`, `ip` and `ts` are what the
 * usage-store's alerts table keeps (send it with topic "alert"); the rest is for flows.
 */
export interface Alert {
  type: RuleKind;
  severity: Severity;
  /** "raised" when the condition starts; "cleared" (severity success) when it has ended. */
  state: 'raised' | 'cleared';
  /** One readable sentence, without the severity. */
  message: string;
  /** Short headline: "Over allocation: laptop". */
  title: string;
  mac: string | null;
  ip: string | null;
  /** Friendly name, hostname or address of the client; null for the link. */
  client: string | null;
  direction: Direction | null;
  /** ms, the snapshot time at which the rule decided. */
  ts: number;
  /** The numbers that triggered it (rates in bits/s, times in s). */
  figures: Figures;
  /** Rule, client and direction: alerts with the same key are one condition. */
  key: string;
}

export interface ClientInfo {
  mac: string;
  ip: string | null;
  label: string;
}

const TITLES: Record<RuleKind, string> = {
  over_allocation: 'Over allocation',
  new_device: 'New device',
  priority_starvation: 'Priority starvation',
  unusual_traffic: 'Unusual traffic',
  link_saturation: 'Link saturated',
  device_gone: 'Device gone',
  client_cap: 'Client cap reached',
  quota_warning: 'Quota at 80 %',
  quota_exceeded: 'Quota used up',
};

export const titleOf = (type: RuleKind, state: Alert['state']): string => `${TITLES[type]}${state === 'cleared' ? ' cleared' : ''}`;

export function mbps(bps: number): string {
  const m = bps / 1e6;
  return `${m >= 100 ? m.toFixed(0) : m >= 10 ? m.toFixed(1) : m.toFixed(2)} Mbit/s`;
}

export function duration(sec: number): string {
  const s = Math.round(sec);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim();
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** "laptop (a4:5e:60:00:00:01, 192.168.1.10)" */
export function who(c: ClientInfo): string {
  const ids = [c.mac, c.ip].filter((x) => x && x !== c.label);
  return ids.length ? `${c.label} (${ids.join(', ')})` : c.label;
}

export const verb = (d: Direction): string => (d === 'down' ? 'downloads' : 'uploads');
export const noun = (d: Direction): string => (d === 'down' ? 'download' : 'upload');

/** What the alert-rule node sends for an alert: topic for MQTT, subject for email, text for anything. */
export interface AlertMessage {
  /** "equalnet/alert/<type>": an MQTT topic a subscriber can filter with equalnet/alert/#. */
  topic: string;
  /** "[EqualNet warning] Over allocation: laptop": an email subject or a notification title. */
  subject: string;
  /** "WARNING Over allocation: laptop (a4:…, 192.168.1.10) downloads …": send on as is. */
  payload: string;
  alert: Alert;
}

export const TOPIC_PREFIX = 'equalnet/alert/';

export function toMessage(alert: Alert): AlertMessage {
  return {
    topic: `${TOPIC_PREFIX}${alert.type}`,
    subject: `[EqualNet ${alert.severity}] ${alert.title}`,
    payload: `${alert.severity.toUpperCase()} ${titleOf(alert.type, alert.state)}: ${alert.message}`,
    alert,
  };
}
