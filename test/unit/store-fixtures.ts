/** Shared by the usage-store specs: a temp folder per test, a controllable clock, tick generators. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixedOffsetCalendar } from '../../nodes/core/store/calendar';
import { UsageQueries } from '../../nodes/core/store/queries';
import { UsageStore, type StoreOptions } from '../../nodes/core/store/store';

/** UTC+2 without daylight saving: day and hour boundaries differ from UTC, so the tests catch a mix-up. */
export const calendar = fixedOffsetCalendar(120);

/** ms of a wall-clock time in that calendar. */
export function local(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  return Date.UTC(y, mo - 1, d, h, mi, s) - 120 * 60_000;
}

export const MBIT = 1_000_000;
export const A = 'a4:5e:60:00:00:01'; // Apple prefix, globally administered
export const B = 'b8:27:eb:00:00:02'; // Raspberry Pi prefix

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'equalnet-store-'));
  file(name = 'usage.db'): string {
    return join(this.path, name);
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

export class Clock {
  constructor(public ms: number) {}
  readonly now = () => this.ms;
}

export function openStore(file: string, clock: Clock, options: Partial<StoreOptions> = {}) {
  const store = new UsageStore({ file, clock: clock.now, calendar, ...options });
  return { store, queries: new UsageQueries(store) };
}

export interface TickClient {
  mac: string;
  rxBps: number;
  txBps: number;
  ip?: string;
  [extra: string]: unknown;
}

/** Ingests one tick every `stepMs` from `fromMs` (inclusive) to `toMs` (exclusive); the clock follows. */
export function ticks(store: UsageStore, clock: Clock, fromMs: number, toMs: number, clients: TickClient[], totals?: { rxBps: number; txBps: number }, stepMs = 2000): number {
  let n = 0;
  for (let ts = fromMs; ts < toMs; ts += stepMs) {
    clock.ms = ts;
    store.ingest({ ts, clients, ...(totals ? { totals } : {}) });
    n++;
  }
  return n;
}
