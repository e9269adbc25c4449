import { TOPIC } from './core/contract/message';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { InputError } from './core/contract/errors';
import { percentProblem, toNumber } from './core/contract/settings';
import { Shaper, type ShapingReport } from './core/shape/tc-apply';
import { configOf } from './lib/config-node';
import { runnerFor } from './lib/process-runner';
import { countOf, showError, showOk, showWarning } from './lib/status';
import { adapt } from './lib/adapter';

interface TcShaperDef extends NodeDef {
  config: string;
  thresholdPercent: string | number;
  keepShaping: boolean;
  netns: string;
}

const IDS_KEY = 'classIds';
const DEFAULT_THRESHOLD_PERCENT = 5;


function statusText(r: ShapingReport): string {
  const n = r.commands.length;
  const changes = n === 0 ? 'no change' : `${n} tc cmd${n === 1 ? '' : 's'}`;
  const leaf = r.leafNote ? ' · FIFO leaves' : '';
  return r.mode === 'dry-run' ? `dry-run · ${countOf(r.clients, 'client')} · ${changes} planned${leaf}` : `shaping ${countOf(r.clients, 'client')} · ${changes}${leaf}`;
}

export = function (RED: NodeAPI) {
  function TcShaper(this: Node, def: TcShaperDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    // one snapshot at a time (a tick waits for the previous batch): adapter.serial
    const adapter = adapt(node, 'tc-shaper');
    const serial = adapter.serial;
    let shaper: Shaper | null = null;
    /** Each shaper's `ids.changes` when its class ids were last put in the context. */
    const savedIds = new WeakMap<object, number>();

    try {
      const config = configOf(RED, def.config);
      const settings = config.settings!;
      if (!settings.iface) throw new Error('no LAN interface set in the EqualNet config');
      const threshold = def.thresholdPercent === undefined || def.thresholdPercent === '' ? DEFAULT_THRESHOLD_PERCENT : toNumber(def.thresholdPercent);
      const problem = percentProblem(threshold);
      if (problem) throw new Error(`change threshold ${problem}`);
      const runner = runnerFor((def.netns ?? '').trim());
      /** A shaper in `mode`, started; the class ids go on from `remembered`. */
      const begin = async (mode: typeof settings.mode, remembered: unknown) => {
        const s = new Shaper({ iface: settings.iface, mode, thresholdPercent: threshold }, runner, remembered);
        shaper = s;
        showOk(node, `${mode} · ${settings.iface} · starting`);
        try {
          await s.start();
          if (s.leafNote) showWarning(node, `${mode} · ${s.leafNote}`);
          else showOk(node, `${mode} · ${settings.iface} · leaf ${s.leaf}`);
        } catch (err) {
          showError(node, (err as Error).message);
        }
      };
      // whatever the context holds is sanitised and bounded by ClassIds
      serial(() => begin(settings.mode, node.context().get(IDS_KEY) ?? {}));
      // dry-run <-> enforce by a config command: the tree of the old mode goes (unless kept by
      // "keep shaping"), the new mode starts; snapshots wait in the queue meanwhile
      config.listen(node, (next, previous) => {
        if (next.mode === previous.mode) return;
        serial(async () => {
          const old = shaper;
          if (old) await old.stop(def.keepShaping === true);
          await begin(next.mode, old ? old.ids.entries() : {});
        });
      });
    } catch (err) {
      adapter.setupFailed(err);
    }

    node.on('input', (msg, send, done) => {
      if (adapter.problem !== null) {
        // the snapshot goes on: a shaper that cannot work must not stop the pipeline
        send({ ...msg, topic: TOPIC.snapshot } as NodeMessage);
        adapter.refuse(done);
        return;
      }
      serial(async () => {
        // the shaper in force when this snapshot's turn comes (a mode change may come before it)
        const s = shaper;
        if (!s) return done(); // closing
        let report: ShapingReport;
        try {
          report = await s.shape(msg.payload);
        } catch (err) {
          showError(node, (err as Error).message);
          if (!(err instanceof InputError)) send({ ...msg, topic: TOPIC.snapshot } as NodeMessage);
          done(err as Error);
          return;
        }
        // kept for a restart when a MAC got, changed or lost its class id (the order of use drifts
        // between those: a restart takes it a little older, which only matters to which id is reused)
        if (s.ids.changes !== savedIds.get(s)) {
          node.context().set(IDS_KEY, s.ids.entries());
          savedIds.set(s, s.ids.changes);
        }
        const payload = { ...(msg.payload as object), shaping: report };
        if (report.error) showError(node, `${report.rolledBack ? 'rolled back: ' : ''}${report.error}`);
        else if (report.leafNote) showWarning(node, statusText(report));
        else showOk(node, statusText(report));
        send({ ...msg, topic: TOPIC.snapshot, payload } as NodeMessage);
        done(report.error ? new Error(`tc-shaper: ${report.error}${report.rolledBack ? ' (previous state restored)' : ''}`) : undefined);
      });
    });

    // after the jobs queued (the shaper in force may have changed with the mode)
    adapter.onClose(async () => {
      const s = shaper;
      shaper = null;
      await s?.stop(def.keepShaping === true).catch((err: Error) => node.warn(`could not remove the shaping from ${s.options.iface}: ${err.message}`));
    });
  }
  RED.nodes.registerType('tc-shaper', TcShaper);
};
