import { InputError } from '../contract/errors';
import { normalizeMac } from '../contract/mac';
import type { Alert } from './alert';
import { applyThresholds, DEFAULTS, kindProblem, type Direction, type RuleKind, type Thresholds } from './options';
import { DeviceGoneRule, NewDeviceRule, type SeenClient } from './presence';
import { AlertFactory, ClientCapRule, LinkSaturationRule, OverAllocationRule, PriorityStarvationRule, QuotaRule, UnusualTrafficRule, type SnapshotRule } from './rules';
import { TOPIC, timeOf } from '../contract/message';
import { labelOf, readSnapshot } from './snapshot';

export interface EngineDeps {
  /** ms since 1970; used when a message carries no `ts`, and as the start of the new-device wait. */
  now: () => number;
  /** Hour of the day (0..23) of a time, for unusual_traffic by hour; default: local time. */
  hourOf?: (ts: number) => number;
  /** new_device: MACs kept from an earlier run (the node's context). */
  knownMacs?: Iterable<string>;
  /** link_saturation: link speed when the snapshot has no `allocation` (from the config node). */
  linkBps?: Record<Direction, number> | null;
}

/**
 * One alert rule of one kind, without Node-RED: takes the messages an alert-rule node receives
 * (by topic) and returns the alerts to send. Every message is checked completely before any
 * state changes, so a rejected message leaves the rule exactly as it was.
 */
export class AlertEngine {
  readonly kind: RuleKind;
  private thresholdsNow: Thresholds;
  private readonly factory: AlertFactory;
  private readonly snapshotRule: SnapshotRule | null = null;
  private readonly newDevice: NewDeviceRule | null = null;
  private readonly gone: DeviceGoneRule | null = null;

  constructor(kind: RuleKind, thresholds: Record<string, unknown>, deps: EngineDeps) {
    const problem = kindProblem(kind);
    if (problem) throw new InputError('rule', problem);
    this.kind = kind;
    this.thresholdsNow = applyThresholds(DEFAULTS[kind], thresholds, 'thresholds');
    this.factory = new AlertFactory(kind, this.thresholdsNow);
    const hourOf = deps.hourOf ?? ((ts: number) => new Date(ts).getHours());
    switch (kind) {
      case 'over_allocation':
        this.snapshotRule = new OverAllocationRule(this.factory);
        break;
      case 'priority_starvation':
        this.snapshotRule = new PriorityStarvationRule(this.factory);
        break;
      case 'unusual_traffic':
        this.snapshotRule = new UnusualTrafficRule(this.factory, hourOf);
        break;
      case 'link_saturation':
        this.snapshotRule = new LinkSaturationRule(this.factory, deps.linkBps ?? null);
        break;
      case 'new_device':
        this.newDevice = new NewDeviceRule(this.factory, this.thresholdsNow, deps.knownMacs ?? [], deps.now());
        break;
      case 'device_gone':
        this.gone = new DeviceGoneRule(this.factory, this.thresholdsNow);
        break;
      case 'client_cap':
        this.snapshotRule = new ClientCapRule(this.factory);
        break;
      case 'quota_warning':
        this.snapshotRule = new QuotaRule(this.factory, 'warning');
        break;
      case 'quota_exceeded':
        this.snapshotRule = new QuotaRule(this.factory, 'exceeded');
        break;
    }
    this.now = deps.now;
  }

  private readonly now: () => number;

  get thresholds(): Readonly<Thresholds> {
    return this.thresholdsNow;
  }

  /** Conditions raised and not yet cleared. */
  get active(): number {
    return this.snapshotRule?.active ?? this.gone?.active ?? 0;
  }

  /** new_device: the MACs to keep across restarts, and whether they changed since the last call. */
  takeKnownMacs(): string[] | null {
    if (!this.newDevice?.changed) return null;
    this.newDevice.changed = false;
    return this.newDevice.knownMacs;
  }

  get waitingForRegistry(): boolean {
    return this.newDevice ? !this.newDevice.isReady : false;
  }

  /**
   * A message as the node receives it:
   *  - topic "config": payload { threshold: value, ... } changes thresholds (all checked first);
   *  - topic "registry": the usage-store's { devices: [ { mac, macs?, firstSeenTs? } ] } (new_device);
   *  - topic "joined" / "left": arp-discover's events { ts, client } (new_device, device_gone);
   *  - anything else: a pipeline snapshot.
   * Messages a rule has no use for (a registry for over_allocation) return no alerts.
   */
  handle(topic: unknown, payload: unknown): Alert[] {
    switch (topic) {
      case TOPIC.config:
        this.configure(payload);
        return [];
      case TOPIC.registry:
        return this.registry(payload);
      case TOPIC.joined:
      case TOPIC.left:
        return this.event(topic, payload);
      default:
        return this.snapshot(payload);
    }
  }

  /** The config node's link changed (a config command): what a snapshot without an allocation is compared with. */
  setLinkBps(linkBps: Record<Direction, number>): void {
    if (this.snapshotRule instanceof LinkSaturationRule) this.snapshotRule.fallbackLinkBps = linkBps;
  }

  configure(payload: unknown): Thresholds {
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) {
      throw new InputError('payload', 'a config command needs an object such as { "percent": 80, "holdSec": 20 }');
    }
    const next = applyThresholds(this.thresholdsNow, payload as Record<string, unknown>, 'payload');
    this.thresholdsNow = next;
    this.snapshotRule?.setThresholds(next);
    this.newDevice?.setThresholds(next);
    this.gone?.setThresholds(next);
    return next;
  }

  snapshot(payload: unknown): Alert[] {
    const s = readSnapshot(payload, this.now, this.snapshotRule?.needsAlloc ?? false);
    if (this.snapshotRule instanceof LinkSaturationRule && !this.snapshotRule.linkOf(s)) {
      throw new InputError('payload.allocation', 'missing: link_saturation needs the link speed, so wire alert-rule after priority-allocator');
    }
    if (this.snapshotRule) return this.snapshotRule.evaluate(s);
    if (this.newDevice) return this.newDevice.observe(s.clients, s.ts, this.now());
    if (this.gone) return this.gone.evaluate(s);
    return [];
  }

  registry(payload: unknown): Alert[] {
    const devices = (payload as { devices?: unknown })?.devices;
    if (!Array.isArray(devices)) throw new InputError('payload.devices', 'a registry needs { devices: [ { mac } ] } (as usage-store sends)');
    const entries: Array<{ mac: string; firstSeenTs: number | null }> = [];
    devices.forEach((d, i) => {
      const firstSeenTs = typeof d?.firstSeenTs === 'number' && Number.isFinite(d.firstSeenTs) ? d.firstSeenTs : null;
      const list = [d?.mac, ...(Array.isArray(d?.macs) ? d.macs : [])];
      for (const m of list) {
        if (m === undefined) continue;
        const mac = normalizeMac(m);
        if (!mac) throw new InputError(`payload.devices[${i}].mac`, `${JSON.stringify(m)} is not a MAC address`);
        entries.push({ mac, firstSeenTs });
      }
    });
    return this.newDevice ? this.newDevice.registry(entries) : [];
  }

  event(topic: typeof TOPIC.joined | typeof TOPIC.left, payload: unknown): Alert[] {
    const p = payload as { ts?: unknown; client?: Record<string, unknown> } | null;
    if (!p || typeof p !== 'object' || !p.client || typeof p.client !== 'object') {
      throw new InputError('payload.client', `a ${topic} event needs { ts, client: { mac, ip } } (as arp-discover sends)`);
    }
    const mac = normalizeMac(p.client.mac);
    if (!mac) throw new InputError('payload.client.mac', `${JSON.stringify(p.client.mac)} is not a MAC address`);
    const ts = timeOf(p.ts, 'payload.ts', this.now);
    const c = p.client;
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
    const client: SeenClient = { mac, ip: text(c.ip), label: labelOf(c, mac), vendor: text(c.vendor), hostname: text(c.hostname) };
    if (this.newDevice && topic === TOPIC.joined) return this.newDevice.observe([client], ts, this.now());
    if (this.gone) return topic === TOPIC.left ? this.gone.left(client, ts) : this.gone.joined(client, ts);
    return [];
  }
}
