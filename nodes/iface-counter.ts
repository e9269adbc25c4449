import { performance } from 'node:perf_hooks';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { MeteringCore, type MeteredSnapshot } from './core/metering';
import { toNumber } from './core/settings';
import { settingsOf } from './lib/config-node';
import { runnerFor } from './lib/execa-runner';
import { countOf, formatMbps, showError, showOk, showWarning } from './lib/status';

interface IfaceCounterDef extends NodeDef {
  config: string;
  perClient: boolean;
  smoothing: string | number;
  netns: string;
}


const rate = (bps: number | null) => (bps === null ? '–' : formatMbps(bps));

export = function (RED: NodeAPI) {
  function IfaceCounter(this: Node, def: IfaceCounterDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    let core: MeteringCore | null = null;
    let setupProblem: string | null = null;
    let lastWarning: string | null = null;

    try {
      const settings = settingsOf(RED, def.config);
      core = new MeteringCore(
        { iface: settings.iface, perClient: def.perClient === true, smoothingS: toNumber(def.smoothing ?? 0) },
        { runner: runnerFor((def.netns ?? '').trim()), now: () => performance.now() },
      );
      showOk(node, `ready · ${settings.iface}${def.perClient ? ' · per client' : ''}`);
      // a first reading now, so the first tick already has rates
      core.start().catch((err: Error) => showError(node, err.message));
    } catch (err) {
      setupProblem = (err as Error).message;
      showError(node, setupProblem);
      node.error(setupProblem);
    }

    const report = (s: MeteredSnapshot) => {
      const text = `↓${rate(s.totals.rxBps)} ↑${rate(s.totals.txBps)} Mbit/s · ${countOf(s.clients.length, 'client')}`;
      const warning = s.metering.warning;
      if (s.metering.ifaceState === null) showError(node, warning ?? 'interface unreadable');
      else if (warning) showWarning(node, `${text} · ${warning}`);
      else showOk(node, text);
      // logged once per change, not on every tick
      if (warning && warning !== lastWarning) node.warn(warning);
      lastWarning = warning;
    };

    node.on('input', (msg, send, done) => {
      if (!core) {
        showError(node, setupProblem ?? 'not configured');
        done(new Error(setupProblem ?? 'not configured'));
        return;
      }
      let counting: Promise<MeteredSnapshot>;
      try {
        counting = core.tick(msg.payload);
      } catch (err) {
        done(err as Error); // bad input: to a Catch node; the next message is counted as usual
        return;
      }
      counting.then(
        (snapshot) => {
          report(snapshot);
          send({ ...msg, topic: 'snapshot', payload: snapshot });
          done();
        },
        (err: Error) => {
          showError(node, err.message);
          done(err);
        },
      );
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      if (!core) return done();
      const timer = setTimeout(done, 10_000);
      core.close().then(
        () => {
          clearTimeout(timer);
          done();
        },
        (err: Error) => {
          clearTimeout(timer);
          node.warn(`could not remove the counting table: ${err.message}`);
          done();
        },
      );
    });
  }
  RED.nodes.registerType('iface-counter', IfaceCounter);
};
