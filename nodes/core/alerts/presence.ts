import { duration, who, type Alert, type ClientInfo } from './alert';
import type { Thresholds } from './options';
import { AlertFactory, CLIENT_STATE_MAX, endsWithClients, FORGET_AFTER_MS, timingOf, touch } from './rules';
import type { SnapshotView } from './snapshot';
import { Tracker } from './tracker';

export interface SeenClient extends ClientInfo {
  vendor: string | null;
  hostname: string | null;
}

/**
 * A MAC never seen before. "Seen" means: in the usage-store's registry (topic "registry", sent
 * at start and after device commands, so a device known before a restart is not new again),
 * in the MACs this node kept in its context, or seen by this node since.
 *
 * Until it knows the past it does not judge: clients seen before the registry arrives wait;
 * when it arrives, those not in it are new. If no registry arrives within `waitSec` (no
 * usage-store wired), or it is empty (a first start), and nothing was kept, the clients present
 * so far are taken as known, silently: at a first start they cannot be told from new ones.
 */
export class NewDeviceRule {
  private readonly known: Set<string>;
  private ready: boolean;
  private readonly pending = new Map<string, { client: SeenClient; ts: number }>();
  /** Set when `known` grew, so the node saves it. */
  changed = false;

  constructor(
    private readonly factory: AlertFactory,
    private t: Thresholds,
    known: Iterable<string>,
    private readonly startedAt: number,
  ) {
    this.known = new Set();
    for (const mac of known) this.remember(mac);
    this.ready = this.known.size > 0;
  }

  setThresholds(t: Thresholds): void {
    this.t = t;
    this.factory.thresholds = t;
  }

  /**
   * Bounded: at most CLIENT_STATE_MAX MACs, the longest known forgotten first (a MAC forgotten
   * that comes back is new again). Without it every MAC a spraying device made would be kept.
   */
  private remember(mac: string): void {
    this.known.delete(mac);
    this.known.add(mac);
    for (const old of this.known) {
      if (this.known.size <= CLIENT_STATE_MAX) break;
      this.known.delete(old);
    }
  }

  get knownMacs(): string[] {
    return [...this.known];
  }

  get isReady(): boolean {
    return this.ready;
  }

  get active(): number {
    return 0;
  }

  /** Clients present at `ts` (a snapshot's, or a `joined` event's); `now` is the clock, for the wait. */
  observe(clients: SeenClient[], ts: number, now: number): Alert[] {
    if (!this.ready) {
      for (const c of clients) if (!this.known.has(c.mac) && !this.pending.has(c.mac) && this.pending.size < CLIENT_STATE_MAX) this.pending.set(c.mac, { client: c, ts });
      if (now - this.startedAt >= this.t.waitSec * 1000) {
        for (const mac of this.pending.keys()) this.remember(mac);
        this.changed ||= this.pending.size > 0;
        this.pending.clear();
        this.ready = true;
      }
      return [];
    }
    const out: Alert[] = [];
    for (let i = 0; i < clients.length; i++) {
      const c = clients[i];
      if (this.known.has(c.mac)) continue;
      this.remember(c.mac);
      this.changed = true;
      out.push(this.alert(c, ts));
    }
    return out;
  }

  /**
   * The usage-store's registry: its MACs are known, except those it first saw after this rule
   * started. Those it learnt from the same snapshots this rule is judging (the store is upstream
   * and may have registered a device a moment before sending the registry), so they are judged here.
   */
  registry(devices: Array<{ mac: string; firstSeenTs: number | null }>): Alert[] {
    const startSecMs = Math.floor(this.startedAt / 1000) * 1000;
    for (const { mac, firstSeenTs } of devices) {
      if (firstSeenTs !== null && firstSeenTs >= startSecMs) continue;
      if (!this.known.has(mac)) {
        this.remember(mac);
        this.changed = true;
      }
    }
    if (this.ready) return [];
    // An empty registry and nothing kept: a first start, the store has no history either. Every
    // device would be "new"; the wait decides instead, as without a registry.
    if (this.known.size === 0) return [];
    this.ready = true;
    const out: Alert[] = [];
    for (const { client, ts } of this.pending.values()) {
      if (this.known.has(client.mac)) continue;
      this.remember(client.mac);
      this.changed = true;
      out.push(this.alert(client, ts));
    }
    this.pending.clear();
    return out;
  }

  private alert(c: SeenClient, ts: number): Alert {
    const extra = [c.vendor && `vendor ${c.vendor}`, c.hostname && c.hostname !== c.label && `hostname ${c.hostname}`].filter(Boolean).join(', ');
    return this.factory.make('raised', `new_device|${c.mac}`, ts, c, null, `${who(c)} joined the LAN for the first time${extra ? ` (${extra})` : ''}`, {
      vendor: c.vendor,
      hostname: c.hostname,
      firstSeenTs: ts,
    });
  }
}

interface Presence {
  client: SeenClient;
  lastSeen: number;
  /** A `left` event said so: gone at once. */
  left: boolean;
  /**
   * Handed to the tracker as a gone condition's data (its "back" alert reads it later): never
   * changed by a later snapshot, which makes a new one. Until then a snapshot updates it in place.
   */
  held?: boolean;
}

/**
 * A client that was on the LAN and is no longer: absent from the snapshots for `goneSec`, or a
 * `left` event from arp-discover. Cleared (success) when it is back. Raised at most once per
 * cooldown per client.
 */
const SWEEP_EVERY_MS = 3_600_000;

export class DeviceGoneRule {
  private readonly seen = new Map<string, Presence>();
  private lastSweep = Number.NEGATIVE_INFINITY;
  private readonly tracker: Tracker<Presence>;
  private readonly forgetGone = (mac: string) => this.tracker.forget(`device_gone|${mac}`);

  constructor(
    private readonly factory: AlertFactory,
    private t: Thresholds,
  ) {
    this.tracker = new Tracker(this.timing());
  }

  private timing() {
    // Gone is decided by goneSec; back is back at once.
    return { ...timingOf(this.t), holdMs: 0, clearMs: 0 };
  }

  setThresholds(t: Thresholds): void {
    this.t = t;
    this.factory.thresholds = t;
    this.tracker.timing = this.timing();
  }

  get active(): number {
    return this.tracker.raisedCount;
  }

  evaluate(s: SnapshotView): Alert[] {
    const out: Alert[] = [];
    const inOrder = endsWithClients(this.seen, s.clients);
    for (let i = 0; i < s.clients.length; i++) {
      const c = s.clients[i];
      const p = this.seen.get(c.mac);
      if (p && !p.held) {
        p.client = c;
        p.lastSeen = s.ts;
        p.left = false;
        if (!inOrder) touch(this.seen, c.mac, p, this.forgetGone);
      } else if (inOrder) this.seen.set(c.mac, { client: c, lastSeen: s.ts, left: false });
      // bounded: the client not seen the longest goes first (no "back" for it)
      else touch(this.seen, c.mac, { client: c, lastSeen: s.ts, left: false }, this.forgetGone);
    }
    this.tracker.begin();
    const goneMs = this.t.goneSec * 1000;
    // forEach, not for...of: no [key, value] pair made per client
    this.seen.forEach((p, mac) => {
      if (p.lastSeen === s.ts) return;
      if (p.left || s.ts - p.lastSeen >= goneMs) {
        p.held = true;
        const tr = this.tracker.true(`device_gone|${mac}`, s.ts, p);
        if (tr) out.push(this.gone(p, s.ts));
      }
    });
    for (const tr of this.tracker.end(s.ts)) out.push(this.back(tr.data, s.ts, tr.raisedMs));
    this.forgetOld(s.ts);
    return out;
  }

  /** Clients gone for FORGET_AFTER_MS are forgotten (phones rotate private MACs): no "back" for them. */
  private forgetOld(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    for (const [mac, p] of this.seen) {
      if (now - p.lastSeen < FORGET_AFTER_MS) continue;
      this.seen.delete(mac);
      this.tracker.forget(`device_gone|${mac}`);
    }
  }

  /** arp-discover's `left` event. */
  left(client: SeenClient, ts: number): Alert[] {
    const p = this.seen.get(client.mac) ?? { client, lastSeen: ts, left: true };
    p.left = true;
    p.held = true;
    touch(this.seen, client.mac, p, this.forgetGone);
    this.tracker.begin();
    const tr = this.tracker.true(`device_gone|${client.mac}`, ts, p);
    return tr ? [this.gone(p, ts)] : [];
  }

  /** arp-discover's `joined` event. */
  joined(client: SeenClient, ts: number): Alert[] {
    const p = this.seen.get(client.mac);
    touch(this.seen, client.mac, { client, lastSeen: ts, left: false }, this.forgetGone);
    this.tracker.begin();
    const tr = this.tracker.falseNow(`device_gone|${client.mac}`, ts);
    return tr && p ? [this.back({ ...p, client }, ts, tr.raisedMs)] : [];
  }

  private gone(p: Presence, ts: number): Alert {
    const silentSec = Math.max(0, (ts - p.lastSeen) / 1000);
    const why = p.left ? 'arp-discover reported it left' : `not seen for ${duration(silentSec)}`;
    return this.factory.make('raised', `device_gone|${p.client.mac}`, ts, p.client, null, `${who(p.client)} left the LAN (${why})`, {
      lastSeenTs: p.lastSeen,
      silentSec: Math.round(silentSec),
      goneSec: this.t.goneSec,
      reportedLeft: p.left,
    });
  }

  private back(p: Presence, ts: number, goneMs: number): Alert {
    return this.factory.make('cleared', `device_gone|${p.client.mac}`, ts, p.client, null, `${who(p.client)} is back on the LAN after ${duration(goneMs / 1000)}`, {
      goneForSec: Math.round(goneMs / 1000),
    });
  }
}
