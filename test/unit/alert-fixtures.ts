import { AlertEngine, type EngineDeps } from '../../nodes/core/alerts/engine';
import type { Alert } from '../../nodes/core/alerts/alert';
import type { RuleKind } from '../../nodes/core/alerts/options';

export const MBIT = 1_000_000;
export const T0 = 1_700_000_000_000;
export const TICK_MS = 2000;

export interface C {
  mac: string;
  name?: string;
  ip?: string | null;
  priority?: number;
  rx?: number;
  tx?: number;
  /** allocation rates, Mbit/s */
  down?: number;
  up?: number;
}

/** A snapshot as it leaves usage-store; rates in Mbit/s for readability. */
export function snap(ts: number, clients: C[], link = { down: 100, up: 20, guaranteeDown: 10, guaranteeUp: 2 }) {
  const list = clients.map((c) => ({
    mac: c.mac,
    ip: c.ip === undefined ? `192.168.1.${parseInt(c.mac.slice(-2), 16)}` : c.ip,
    ip6: [],
    hostname: null,
    vendor: null,
    name: c.name ?? null,
    priority: c.priority ?? 3,
    rxBps: (c.rx ?? 0) * MBIT,
    txBps: (c.tx ?? 0) * MBIT,
    alloc: {
      down: { rateBps: (c.down ?? 20) * MBIT, ceilBps: link.down * MBIT, prio: 2 },
      up: { rateBps: (c.up ?? 4) * MBIT, ceilBps: link.up * MBIT, prio: 2 },
    },
  }));
  return {
    ts,
    iface: 'br-lan',
    totals: { rxBps: list.reduce((a, c) => a + c.rxBps, 0), txBps: list.reduce((a, c) => a + c.txBps, 0) },
    clients: list,
    allocation: {
      maxPriority: 5,
      minPercent: 10,
      down: { totalBps: link.down * MBIT, guaranteeBps: link.guaranteeDown * MBIT, allocatedBps: link.down * MBIT },
      up: { totalBps: link.up * MBIT, guaranteeBps: link.guaranteeUp * MBIT, allocatedBps: link.up * MBIT },
    },
  };
}

/** An engine with a fake clock that follows the ticks it is fed. */
export function rule(kind: RuleKind, thresholds: Record<string, unknown> = {}, deps: Partial<EngineDeps> = {}) {
  let clock = T0;
  const engine = new AlertEngine(kind, thresholds, { now: () => clock, ...deps });
  return {
    engine,
    /** Feeds a snapshot at T0 + i ticks; returns its alerts. */
    tick(i: number, clients: C[], link?: Parameters<typeof snap>[2]): Alert[] {
      clock = T0 + i * TICK_MS;
      return engine.handle('snapshot', snap(clock, clients, link));
    },
    /** Feeds ticks from..to (inclusive) with the same clients; returns all alerts with their tick. */
    run(from: number, to: number, clients: C[] | ((i: number) => C[])): Array<Alert & { tick: number }> {
      const out: Array<Alert & { tick: number }> = [];
      for (let i = from; i <= to; i++) {
        for (const a of this.tick(i, typeof clients === 'function' ? clients(i) : clients)) out.push({ ...a, tick: i });
      }
      return out;
    },
    setClock(ms: number) {
      clock = ms;
    },
  };
}

export const summary = (alerts: Array<Alert & { tick?: number }>) => alerts.map((a) => `${a.tick ?? '-'} ${a.state} ${a.mac ?? a.direction}${a.mac && a.direction ? `/${a.direction}` : ''}`);
