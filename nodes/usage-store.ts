import { TOPIC } from './core/contract/message';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { InputError, NotFoundError } from './core/contract/errors';
import { toNumber } from './core/contract/settings';
import { UsageQueries } from './core/store/queries';
import { scheduledReport, type ReportFormat } from './core/store/report';
import { quotaCountsProblem, type QuotaCounts } from './core/store/quota';
import { DEFAULT_RETENTION, UsageStore, type Retention } from './core/store/store';
import { configOf } from './lib/config-node';
import { countOf, showError, showOk } from './lib/status';
import { adapt } from './lib/adapter';

interface UsageStoreDef extends NodeDef {
  config: string;
  resolutionSec: string | number;
  rawDays: string | number;
  hourlyDays: string | number;
  dailyDays: string | number;
  alertDays: string | number;
  expireDays: string | number;
  /** What counts against a quota: "both" (default) or "download". */
  quotaCounts?: string;
}

/** Outputs: 1 the snapshot, passed on; 2 answers to query / report / device; 3 the device registry. */
type Outputs = [NodeMessage | null, NodeMessage | null, NodeMessage | null];

const REGISTRY_DELAY_MS = 100;

/** dbFile from the config node: relative paths live in the Node-RED user directory. */
function databasePath(RED: NodeAPI, dbFile: string): string {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
  return resolve(userDir ?? process.cwd(), dbFile);
}

function mb(file: string): string {
  try {
    return `${(statSync(file).size / 1e6).toFixed(1)} MB`;
  } catch {
    return '? MB';
  }
}

export = function (RED: NodeAPI) {
  function UsageStoreNode(this: Node, def: UsageStoreDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    let store: UsageStore | null = null;
    let queries: UsageQueries | null = null;
    const adapter = adapt(node, 'usage-store');
    const timers: NodeJS.Timeout[] = [];

    try {
      const config = configOf(RED, def.config);
      const settings = config.settings!;
      const number = (value: string | number, fallback: number) => (value === '' || value === undefined ? fallback : toNumber(value));
      const retention: Retention = {
        rawDays: number(def.rawDays, DEFAULT_RETENTION.rawDays),
        hourlyDays: number(def.hourlyDays, DEFAULT_RETENTION.hourlyDays),
        dailyDays: number(def.dailyDays, DEFAULT_RETENTION.dailyDays),
        alertDays: number(def.alertDays, DEFAULT_RETENTION.alertDays),
        expireDays: number(def.expireDays, DEFAULT_RETENTION.expireDays),
      };
      const file = databasePath(RED, settings.dbFile);
      const quotaCounts = (def.quotaCounts || 'both') as QuotaCounts;
      const countsProblem = quotaCountsProblem(quotaCounts);
      if (countsProblem) throw new Error(`quotas count: ${countsProblem}`);
      store = new UsageStore({
        file,
        resolutionSec: number(def.resolutionSec, 60),
        retention,
        maxPriority: settings.maxPriority,
        quotaCounts,
      });
      queries = new UsageQueries(store);
      const s = store;
      clampPriorities(s, settings.maxPriority);
      // fewer priorities (a config command): kept priorities below the new lowest move to it, and
      // the registry goes out again so arp-discover and the allocator hold the same
      config.listen(node, (next, previous) => {
        if (next.maxPriority === previous.maxPriority || !s.isOpen) return;
        if (clampPriorities(s, next.maxPriority) > 0) sendRegistry();
      });
      showOk(node, `ready · ${store.deviceCount()} devices · ${mb(file)}`);
      // Commits and prunes even when ticks stop coming.
      const every = Math.min(store.resolutionSec, 60) * 1000;
      timers.push(setInterval(() => maintain(), every));
    } catch (err) {
      store = null;
      adapter.setupFailed(err);
    }
    // Like an inject node's "once": after the flows have started, so the registry reaches
    // arp-discover and priority-allocator however the flow is wired, and Status nodes see the state.
    timers.push(
      setTimeout(() => {
        if (!store) return adapter.error(adapter.problem ?? 'usage-store is not configured');
        showOk(node, `ready · ${store.deviceCount()} devices · ${mb(store.file)}`);
        sendRegistry();
      }, REGISTRY_DELAY_MS),
    );

    function clampPriorities(s: UsageStore, maxPriority: number): number {
      const moved = s.setMaxPriority(maxPriority);
      if (moved > 0) node.warn(`priorities now run from 1 to ${maxPriority}: ${countOf(moved, 'device')} with a lower priority moved to ${maxPriority}`);
      return moved;
    }

    function sendRegistry(): void {
      if (!store?.isOpen) return;
      try {
        node.send([null, null, { topic: TOPIC.registry, payload: { devices: store.registry() } }] as Outputs);
      } catch (err) {
        failed(err as Error);
      }
    }

    function maintain(): void {
      if (!store?.isOpen) return;
      try {
        if (store.maintain()) showOk(node, `${store.deviceCount()} devices · ${mb(store.file)}`);
      } catch (err) {
        failed(err as Error);
      }
    }

    /** A fault of the file or the disk outside an input: status and log, the flow goes on. */
    function failed(err: Error): void {
      showError(node, err.message);
      node.error(`usage database: ${err.message}`);
    }

    node.on('input', (msg, send, done) => {
      const out = (outputs: Outputs) => send(outputs as unknown as NodeMessage[]);
      const command = ['query', 'report', 'device', 'alert', TOPIC.alertState, TOPIC.delivery].includes(msg.topic as string);
      if (!store || !queries) {
        // The pipeline keeps flowing through a store that cannot store.
        if (!command) out([msg, null, null]);
        // a command is answered (the API waits for it); a snapshot raises the problem once
        if (command) done(new Error(adapter.problem ?? 'usage-store is not configured'));
        else adapter.refuse(done);
        return;
      }
      try {
        switch (msg.topic) {
          case TOPIC.query: {
            const result = queries.run(msg.payload);
            out([null, { ...msg, topic: result.type, payload: result.payload, query: result.meta } as NodeMessage, null]);
            break;
          }
          case TOPIC.report: {
            const payload = (msg.payload ?? {}) as { format?: ReportFormat };
            const format = typeof payload === 'object' && payload.format ? payload.format : 'html';
            if (!['html', 'text', 'json'].includes(format)) {
              throw new InputError('payload.format', `must be "html", "text" or "json", got ${JSON.stringify(format)}`);
            }
            const report = scheduledReport(store, queries, msg.payload);
            const body = format === 'html' ? report.html : format === 'text' ? report.text : report.data;
            out([
              null,
              { ...msg, topic: report.subject, subject: report.subject, payload: body, plaintext: report.text, html: report.html, data: report.data } as NodeMessage,
              null,
            ]);
            break;
          }
          case TOPIC.device: {
            const result = store.command(msg.payload);
            out([
              null,
              { ...msg, topic: TOPIC.device, payload: result } as NodeMessage,
              { topic: TOPIC.registry, payload: { devices: store.registry() } },
            ]);
            showOk(node, `${result.action} · ${store.deviceCount()} devices`);
            break;
          }
          case TOPIC.alertState: {
            const result = store.changeAlerts(msg.payload);
            out([null, { ...msg, topic: TOPIC.alertState, payload: result } as NodeMessage, null]);
            break;
          }
          case TOPIC.delivery: {
            // an empty payload asks; fields given change and are kept; the answer is what is in force
            const empty = msg.payload === undefined || msg.payload === null || msg.payload === '' || (typeof msg.payload === 'object' && Object.keys(msg.payload as object).length === 0);
            const delivery = empty ? store.delivery() : store.setDelivery(msg.payload);
            out([null, { ...msg, topic: TOPIC.delivery, payload: delivery } as NodeMessage, null]);
            break;
          }
          case TOPIC.alert: {
            const alerts = Array.isArray(msg.payload) ? msg.payload : [msg.payload];
            for (const alert of alerts) store.storeAlert(alert);
            break;
          }
          default: {
            const { committed, quotaEvents, throttleChanged } = store.ingest(msg.payload);
            // a throttle started or ended on this tick: the registry goes to the allocator now, so
            // it re-allocates this tick's snapshot with the new ceil (crossing seen within one tick)
            out([
              { ...msg, payload: store.withQuota(msg.payload, quotaEvents) } as NodeMessage,
              null,
              throttleChanged ? { topic: TOPIC.registry, payload: { devices: store.registry() } } : null,
            ]);
            for (const e of quotaEvents) if (e.level === 'exceeded') showOk(node, `quota used up: device ${store.device(e.deviceId).name ?? store.device(e.deviceId).mac}`);
            if (committed) showOk(node, `${countOf((msg.payload as { clients: unknown[] }).clients.length, 'client')} · ${mb(store.file)}`);
          }
        }
        done();
      } catch (err) {
        if (err instanceof InputError) {
          // a question that asked for it (msg.answerErrors, the API and the dashboard) gets the
          // refusal as its answer, topic "error", instead of an error in the log
          if (command && (msg as { answerErrors?: unknown }).answerErrors === true) {
            out([null, { ...msg, topic: 'error', payload: { error: err.message, field: err.path, notFound: err instanceof NotFoundError } } as NodeMessage, null]);
            done();
            return;
          }
          done(err);
          return;
        }
        // The file or the disk failed: say so, keep the pipeline flowing.
        showError(node, (err as Error).message);
        if (!command) out([msg, null, null]);
        done(err as Error);
      }
    });

    adapter.onClose(() => {
      for (const t of timers) clearTimeout(t);
      try {
        store?.close();
      } catch (err) {
        node.error(`usage database: could not write the last minute on close: ${(err as Error).message}`);
      }
      store = null;
    });
  }
  RED.nodes.registerType('usage-store', UsageStoreNode);
};
