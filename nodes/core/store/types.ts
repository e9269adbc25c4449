import type { DeviceLimits } from '../contract/limits';
import type { QuotaUse } from './quota';
/** Shapes the usage store hands out. Names the original EqualNet Pro API had keep its snake_case;
 * new ones use the pipeline's camelCase. Rates are Mbit/s, volumes MB (10^6 bytes). */

/** One device of the registry (`registry` query, `device` command results). */
export interface DeviceEntry {
  /** The MAC the entry is keyed by (the one others were merged into). */
  mac: string;
  /** Every MAC merged into this entry, `mac` first. */
  macs: string[];
  name: string | null;
  /** Priority set by the user (1 = highest), or null: the allocator's default applies. */
  priority: number | null;
  deviceType: string | null;
  vendor: string | null;
  hostname: string | null;
  /** Last IPv4 (or first address) seen. */
  ip: string | null;
  /** Every address seen, newest first. */
  addresses: string[];
  randomizedMac: boolean;
  firstSeen: string;
  lastSeen: string;
  firstSeenTs: number;
  lastSeenTs: number;
  /** Set when the entry expired (hidden from the registry unless asked for). */
  expired: boolean;
  /** Its maximum rates, quotas and quota action (contract/limits.ts). */
  limits: DeviceLimits;
  /** What it used of its quotas this day and month, and whether it is throttled now. */
  quota: QuotaUse | null;
}

/** `bandwidth` query row: the interface over one bucket (original: bandwidth_history). */
export interface BandwidthRow {
  timestamp: string;
  ts: number;
  seconds: number;
  total_upload: number;
  total_download: number;
  total_clients: number;
}

/** `hourly` query row (original: get_hourly_stats). */
export interface HourlyRow {
  hour: string;
  ts: number;
  avg_upload: number;
  avg_download: number;
  peak_upload: number;
  peak_download: number;
  avg_clients: number;
}

/** `top` query row (original: get_top_clients), and `client` breakdown rows. */
export interface ConsumerRow {
  mac: string | null;
  name: string | null;
  /** The hostname it last announced (DHCP), kept after it left: a name for an unnamed device. */
  hostname: string | null;
  ip_address: string | null;
  vendor: string | null;
  device_type: string | null;
  /** Average download + upload while connected, Mbit/s. */
  avg_usage: number;
  /** Downloaded + uploaded, MB. */
  total_usage: number;
  download_mb: number;
  upload_mb: number;
  /** Ticks seen (the original's data points). */
  sessions: number;
  connected_seconds: number;
  /** Share of all clients' traffic in the period, % (breakdown only). */
  share_percent?: number;
}

export interface DayRow {
  date: string;
  ts: number;
  download_mb: number;
  upload_mb: number;
  avg_clients: number;
}

/** `report` query payload and scheduled report `data` (original: get_daily_report). */
export interface Report {
  period_days: number;
  unique_clients: number;
  avg_bandwidth: number;
  peak_bandwidth: number;
  peak_hour: string;
  peak_traffic: number;
  from: string;
  to: string;
  fromTs: number;
  toTs: number;
  total_download_mb: number;
  total_upload_mb: number;
  top: ConsumerRow[];
  days: DayRow[];
  alerts: { info: number; warning: number; error: number; success: number };
}

export interface ClientSummary {
  mac: string;
  name: string | null;
  ip_address: string | null;
  hours: number;
  avg_usage: number;
  peak_usage: number;
  avg_upload: number;
  avg_download: number;
  data_points: number;
  download_mb: number;
  upload_mb: number;
  series: { timestamp: string; ts: number; download: number; upload: number }[];
}

export interface SessionRow {
  mac: string;
  name: string | null;
  start: string;
  end: string;
  startTs: number;
  endTs: number;
  durationSec: number;
  ip: string | null;
}

export interface AlertRow {
  id: number;
  timestamp: string;
  ts: number;
  type: string;
  alert_type: string;
  severity: string;
  message: string;
  ip_address: string | null;
  mac_address: string | null;
  /** Acknowledged on the dashboard (or by an alert-state command), and when. */
  acknowledged: boolean;
  acknowledged_at: string | null;
  acknowledgedTs: number | null;
}
