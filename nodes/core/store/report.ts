import { InputError } from '../contract/errors';
import { formatDate } from './calendar';
import { countParam, QUERY_LIMITS } from './params';
import type { UsageQueries } from './queries';
import type { UsageStore } from './store';
import type { Report } from './types';

export type ReportPeriod = 'daily' | 'weekly' | 'monthly';
export type ReportFormat = 'html' | 'text' | 'json';

/** A report ready to send: subject for msg.topic, bodies for an email or MQTT node. */
export interface ReadyReport {
  subject: string;
  text: string;
  html: string;
  data: Report & { period: ReportPeriod | 'days' };
}

/**
 * `report` command: payload { period: "daily" | "weekly" | "monthly" } or { days: N }.
 * Scheduled reports cover whole days that are over: daily = yesterday, weekly = the 7 days
 * before today, monthly = the previous calendar month; { days: N } = the N days before today.
 */
export function scheduledReport(store: UsageStore, queries: UsageQueries, payload: unknown): ReadyReport {
  const p = (payload && typeof payload === 'object' ? payload : { period: payload }) as Record<string, unknown>;
  const cal = store.calendar;
  const today = cal.dayStart(Math.floor(store.clock() / 1000));
  const back = (from: number, n: number) => {
    let d = from;
    for (let i = 0; i < n; i++) d = cal.dayStart(d - 1);
    return d;
  };
  let period: ReportPeriod | 'days';
  let fromSec: number;
  let toSec = today;
  if (p.days !== undefined) {
    period = 'days';
    fromSec = back(today, countParam(p.days, 'payload.days', QUERY_LIMITS.maxDays));
  } else if (p.period === 'daily' || p.period === undefined) {
    period = 'daily';
    fromSec = back(today, 1);
  } else if (p.period === 'weekly') {
    period = 'weekly';
    fromSec = back(today, 7);
  } else if (p.period === 'monthly') {
    period = 'monthly';
    const { day } = cal.parts(today);
    const firstOfThisMonth = back(today, day - 1);
    const lastOfPrevious = cal.dayStart(firstOfThisMonth - 1);
    fromSec = back(lastOfPrevious, cal.parts(lastOfPrevious).day - 1);
    toSec = firstOfThisMonth;
  } else {
    throw new InputError('payload.period', `must be "daily", "weekly" or "monthly" (or send { "days": N }), got ${JSON.stringify(p.period)}`);
  }
  let days = 0;
  for (let d = fromSec; d < toSec; d = cal.nextDayStart(d)) days++;
  const data = { ...queries.summary({ fromSec, toSec }, days), period };
  const title = period === 'days' ? `${days}-day` : period;
  const range = days === 1 ? formatDate(cal, fromSec) : `${formatDate(cal, fromSec)} – ${formatDate(cal, cal.dayStart(toSec - 1))}`;
  const subject = `EqualNet ${title} report: ${range}`;
  return { subject, text: renderText(subject, data), html: renderHtml(subject, data), data };
}

const n2 = (x: number) => x.toFixed(2);
const gb = (mb: number) => (mb >= 1000 ? `${(mb / 1000).toFixed(2)} GB` : `${mb.toFixed(1)} MB`);
const label = (r: { name: string | null; mac: string | null; ip_address: string | null }) => r.name ?? r.ip_address ?? r.mac ?? 'unknown';

function renderText(subject: string, r: Report): string {
  const lines = [
    subject,
    '',
    `Downloaded ${gb(r.total_download_mb)}, uploaded ${gb(r.total_upload_mb)} by ${r.unique_clients} clients.`,
    `Average per client ${n2(r.avg_bandwidth)} Mbit/s, peak ${n2(r.peak_bandwidth)} Mbit/s.`,
    `Busiest hour ${r.peak_hour} (${n2(r.peak_traffic)} Mbit/s on average).`,
    `Alerts: ${r.alerts.error} errors, ${r.alerts.warning} warnings, ${r.alerts.info} info.`,
    '',
    'Top consumers:',
    ...r.top.map((c, i) => `${i + 1}. ${label(c)}  ${gb(c.total_usage)}  (${n2(c.avg_usage)} Mbit/s avg)`),
    '',
    'Per day:',
    ...r.days.map((d) => `${d.date}  down ${gb(d.download_mb)}  up ${gb(d.upload_mb)}  ${d.avg_clients.toFixed(1)} clients`),
  ];
  return lines.join('\n');
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function renderHtml(subject: string, r: Report): string {
  const rows = (cells: string[][]) => cells.map((c) => `<tr>${c.map((x) => `<td>${esc(x)}</td>`).join('')}</tr>`).join('');
  return [
    `<h2>${esc(subject)}</h2>`,
    `<p>Downloaded <b>${gb(r.total_download_mb)}</b>, uploaded <b>${gb(r.total_upload_mb)}</b> by ${r.unique_clients} clients.<br>`,
    `Average per client ${n2(r.avg_bandwidth)} Mbit/s, peak ${n2(r.peak_bandwidth)} Mbit/s. Busiest hour ${esc(r.peak_hour)} (${n2(r.peak_traffic)} Mbit/s).<br>`,
    `Alerts: ${r.alerts.error} errors, ${r.alerts.warning} warnings, ${r.alerts.info} info.</p>`,
    '<h3>Top consumers</h3><table><tr><th>#</th><th>Device</th><th>Total</th><th>Average</th></tr>',
    rows(r.top.map((c, i) => [String(i + 1), label(c), gb(c.total_usage), `${n2(c.avg_usage)} Mbit/s`])),
    '</table><h3>Per day</h3><table><tr><th>Date</th><th>Down</th><th>Up</th><th>Clients</th></tr>',
    rows(r.days.map((d) => [d.date, gb(d.download_mb), gb(d.upload_mb), d.avg_clients.toFixed(1)])),
    '</table>',
  ].join('\n');
}
