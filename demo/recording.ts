/**
 * A recorded demo session, small enough to ship (demo/recording.json), and its player.
 *
 * Recorded by the live demo (`npm run demo -- --record FILE`): every snapshot iface-counter
 * sends (what priority-allocator takes in) and every joined/left event of arp-discover. What does
 * not change from tick to tick (addresses, hostname, vendor, …) is stored once per device; a tick
 * holds its time offset, the interface totals and each present device's rates.
 * Played back (`--replay`) into the default flow's allocator and alert rules, with times moved to
 * now, in a loop.
 */
import type { Client, Snapshot } from '../nodes/core/contract/types';

export const RECORDING_VERSION = 1;
/** Fields of a client that are the same at every tick, kept once per device. */
const STATIC_FIELDS = ['ip', 'ip6', 'hostname', 'vendor', 'deviceType', 'icon', 'randomizedMac'] as const;
/** At most this many devices and ticks in a recording (a LAN-controlled thing is bounded). */
export const MAX_DEVICES = 256;
export const MAX_TICKS = 2000;

export interface Recording {
  version: number;
  recordedAt: string;
  iface: string;
  link: { downMbps: number; upMbps: number };
  /** The time from the first to the last tick, ms, plus one tick: a loop's length. */
  durationMs: number;
  devices: Record<string, Partial<Client>>;
  /** [offset ms, totals rx, totals tx, [mac, rx, tx] …] */
  ticks: Array<{ t: number; totals: [number, number] | null; clients: Array<[string, number | null, number | null]> }>;
  events: Array<{ t: number; event: 'joined' | 'left'; mac: string }>;
}

export class Recorder {
  private start = 0;
  private readonly devices = new Map<string, Partial<Client>>();
  private readonly ticks: Recording['ticks'] = [];
  private readonly events: Recording['events'] = [];
  private iface = '';

  constructor(private readonly link: { downMbps: number; upMbps: number }) {}

  get tickCount(): number {
    return this.ticks.length;
  }

  /** One message of the flow's recorder tap: { topic, payload }. Anything else is refused. */
  add(message: unknown): void {
    const m = message as { topic?: unknown; payload?: Record<string, unknown> };
    if (!m || typeof m !== 'object' || !m.payload || typeof m.payload !== 'object') throw new Error('recorder: not a { topic, payload } message');
    if (m.topic === 'snapshot') this.addSnapshot(m.payload as unknown as Snapshot);
    else if (m.topic === 'joined' || m.topic === 'left') this.addEvent(m.topic, m.payload as { ts?: number; client?: Client });
    else throw new Error(`recorder: unknown topic ${JSON.stringify(m.topic)}`);
  }

  private offset(ts: unknown): number {
    const t = typeof ts === 'number' && Number.isFinite(ts) ? ts : Date.now();
    if (!this.start) this.start = t;
    return Math.max(0, t - this.start);
  }

  private remember(c: Client): void {
    if (typeof c.mac !== 'string') throw new Error('recorder: a client without a MAC');
    if (!this.devices.has(c.mac) && this.devices.size >= MAX_DEVICES) return;
    const kept: Partial<Client> = {};
    for (const f of STATIC_FIELDS) if (c[f] !== undefined) (kept as Record<string, unknown>)[f] = c[f];
    this.devices.set(c.mac, kept);
  }

  private addSnapshot(s: Snapshot): void {
    if (!Array.isArray(s.clients)) throw new Error('recorder: a snapshot without clients');
    if (this.ticks.length >= MAX_TICKS) return;
    this.iface = typeof s.iface === 'string' ? s.iface : this.iface;
    const t = this.offset(s.ts);
    for (const c of s.clients) this.remember(c);
    const rate = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v) : null);
    this.ticks.push({
      t,
      totals: s.totals ? [rate(s.totals.rxBps) ?? 0, rate(s.totals.txBps) ?? 0] : null,
      clients: s.clients.filter((c) => this.devices.has(c.mac)).map((c) => [c.mac, rate(c.rxBps), rate(c.txBps)]),
    });
  }

  private addEvent(event: 'joined' | 'left', e: { ts?: number; client?: Client }): void {
    if (!e.client || typeof e.client.mac !== 'string') throw new Error('recorder: an event without a client');
    if (this.events.length >= MAX_TICKS) return;
    this.remember(e.client);
    this.events.push({ t: this.offset(e.ts), event, mac: e.client.mac });
  }

  recording(): Recording {
    const last = this.ticks.at(-1)?.t ?? 0;
    const step = this.ticks.length > 1 ? Math.round(last / (this.ticks.length - 1)) : 2000;
    return {
      version: RECORDING_VERSION,
      recordedAt: new Date(this.start || Date.now()).toISOString(),
      iface: this.iface,
      link: this.link,
      durationMs: last + step,
      devices: Object.fromEntries(this.devices),
      ticks: this.ticks,
      events: this.events,
    };
  }
}

/** Checks a recording read from a file; a clear error naming what is wrong. */
export function parseRecording(text: string, source: string): Recording {
  let r: Recording;
  try {
    r = JSON.parse(text) as Recording;
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  const bad = (what: string) => new Error(`${source}: ${what}`);
  if (!r || r.version !== RECORDING_VERSION) throw bad(`version must be ${RECORDING_VERSION}`);
  if (!Array.isArray(r.ticks) || r.ticks.length === 0 || r.ticks.length > MAX_TICKS) throw bad(`ticks: 1 to ${MAX_TICKS} needed`);
  if (!r.devices || typeof r.devices !== 'object' || Object.keys(r.devices).length > MAX_DEVICES) throw bad(`devices: at most ${MAX_DEVICES}`);
  if (!Array.isArray(r.events)) throw bad('events: an array');
  if (!(r.durationMs > 0) || !(r.link?.downMbps > 0) || !(r.link?.upMbps > 0)) throw bad('durationMs and link must be positive');
  return r;
}

export type Played = { topic: 'snapshot'; payload: Snapshot } | { topic: 'joined' | 'left'; payload: { ts: number; iface: string; event: string; client: Client; initial: boolean } };

/**
 * The messages of one loop of the recording, each with the time (ms from the loop's start) it is
 * due, times in the messages moved so that the loop starts at `loopStart` (Unix ms).
 */
export function loopMessages(r: Recording, loopStart: number): Array<{ at: number; message: Played }> {
  const firstSeen = new Map<string, number>();
  const out: Array<{ at: number; message: Played }> = [];
  const client = (mac: string, ts: number): Client => {
    if (!firstSeen.has(mac)) firstSeen.set(mac, ts);
    return { mac, name: null, ...r.devices[mac], firstSeen: firstSeen.get(mac), lastSeen: ts };
  };
  for (const e of r.events) {
    const ts = loopStart + e.t;
    out.push({ at: e.t, message: { topic: e.event, payload: { ts, iface: r.iface, event: e.event, client: client(e.mac, ts), initial: false } } });
  }
  for (const tick of r.ticks) {
    const ts = loopStart + tick.t;
    out.push({
      at: tick.t,
      message: {
        topic: 'snapshot',
        payload: {
          ts,
          iface: r.iface,
          ...(tick.totals ? { totals: { rxBps: tick.totals[0], txBps: tick.totals[1] } } : {}),
          clients: tick.clients.map(([mac, rx, tx]) => ({ ...client(mac, ts), rxBps: rx, txBps: tx })),
        },
      },
    });
  }
  return out.sort((a, b) => a.at - b.at);
}
