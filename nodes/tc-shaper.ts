import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { InputError } from './core/errors';
import { percentProblem, toNumber } from './core/settings';
import { Shaper, type ShapingReport } from './core/tc-apply';
import { settingsOf } from './lib/config-node';
import { runnerFor } from './lib/execa-runner';
import { countOf, showError, showOk, showWarning } from './lib/status';

interface TcShaperDef extends NodeDef {
  config: string;
  thresholdPercent: string | number;
  keepShaping: boolean;
  netns: string;
}

const IDS_KEY = 'classIds';
const DEFAULT_THRESHOLD_PERCENT = 5;
const CLOSE_TIMEOUT_MS = 10_000;


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
    let shaper: Shaper | null = null;
    let setupProblem: string | null = null;
    // one snapshot at a time: a tick waits for the previous batch
    let queue: Promise<unknown> = Promise.resolve();

    try {
      const settings = settingsOf(RED, def.config);
      if (!settings.iface) throw new Error('no LAN interface set in the EqualNet config');
      const threshold = def.thresholdPercent === undefined || def.thresholdPercent === '' ? DEFAULT_THRESHOLD_PERCENT : toNumber(def.thresholdPercent);
      const problem = percentProblem(threshold);
      if (problem) throw new Error(`change threshold ${problem}`);
      // whatever the context holds is sanitised and bounded by ClassIds
      const remembered: unknown = node.context().get(IDS_KEY) ?? [];
      shaper = new Shaper({ iface: settings.iface, mode: settings.mode, thresholdPercent: threshold }, runnerFor((def.netns ?? '').trim()), remembered);
      const s = shaper;
      showOk(node, `${settings.mode} · ${settings.iface} · starting`);
      queue = s.start().then(
        () => (s.leafNote ? showWarning(node, `${settings.mode} · ${s.leafNote}`) : showOk(node, `${settings.mode} · ${settings.iface} · leaf ${s.leaf}`)),
        (err: Error) => showError(node, err.message),
      );
    } catch (err) {
      setupProblem = (err as Error).message;
      showError(node, setupProblem);
      node.error(setupProblem);
    }

    node.on('input', (msg, send, done) => {
      const s = shaper;
      if (!s) {
        showError(node, setupProblem ?? 'not configured');
        // the snapshot goes on: a shaper that cannot work must not stop the pipeline
        send({ ...msg, topic: 'snapshot' } as NodeMessage);
        done(new Error(setupProblem ?? 'not configured'));
        return;
      }
      queue = queue.then(async () => {
        let report: ShapingReport;
        try {
          report = await s.shape(msg.payload);
        } catch (err) {
          showError(node, (err as Error).message);
          if (!(err instanceof InputError)) send({ ...msg, topic: 'snapshot' } as NodeMessage);
          done(err as Error);
          return;
        }
        node.context().set(IDS_KEY, s.ids.entries());
        const payload = { ...(msg.payload as object), shaping: report };
        if (report.error) showError(node, `${report.rolledBack ? 'rolled back: ' : ''}${report.error}`);
        else if (report.leafNote) showWarning(node, statusText(report));
        else showOk(node, statusText(report));
        send({ ...msg, topic: 'snapshot', payload } as NodeMessage);
        done(report.error ? new Error(`tc-shaper: ${report.error}${report.rolledBack ? ' (previous state restored)' : ''}`) : undefined);
      });
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      const s = shaper;
      shaper = null;
      if (!s) return done();
      const timer = setTimeout(done, CLOSE_TIMEOUT_MS);
      queue
        .catch(() => undefined)
        .then(() => s.stop(def.keepShaping === true))
        .catch((err: Error) => node.warn(`could not remove the shaping from ${s.options.iface}: ${err.message}`))
        .then(() => {
          clearTimeout(timer);
          done();
        });
    });
  }
  RED.nodes.registerType('tc-shaper', TcShaper);
};
