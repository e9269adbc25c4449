import { TOPIC } from './core/contract/message';
import { performance } from 'node:perf_hooks';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { MeteringCore, type MeteredSnapshot } from './core/meter/metering';
import { toNumber } from './core/contract/settings';
import { settingsOf } from './lib/config-node';
import { runnerFor } from './lib/process-runner';
import { openNetlinkReader } from './lib/netlink-reader';
import { countOf, formatMbps, showError, showOk, showWarning } from './lib/status';
import { adapt } from './lib/adapter';

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
    const adapter = adapt(node, 'iface-counter');
    let core: MeteringCore | null = null;
    let lastWarning: string | null = null;
    let lastFallback: string | null = null;
    let fast: ReturnType<typeof openNetlinkReader> | null = null;

    try {
      const settings = settingsOf(RED, def.config);
      const netns = (def.netns ?? '').trim();
      const runner = runnerFor(netns);
      // in our own namespace, counters are read over netlink (no process per tick); in another
      // one (lab, demo) a socket of ours would see the wrong namespace, so nft and ip read them
      fast = netns ? null : openNetlinkReader();
      if (fast?.problem) node.log(`${fast.problem}; counters are read with nft and ip`);
      core = new MeteringCore(
        { iface: settings.iface, perClient: def.perClient === true, smoothingS: toNumber(def.smoothing ?? 0), maxClients: settings.clientCap },
        { runner, reader: fast?.reader ?? null, now: () => performance.now() },
      );
      showOk(node, `ready · ${settings.iface}${def.perClient ? ' · per client' : ''}`);
      // a first reading now, so the first tick already has rates
      core.start().catch((err: Error) => showError(node, err.message));
    } catch (err) {
      fast?.reader?.close();
      adapter.setupFailed(err);
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
      const fallback = core?.fallbackReason ?? null;
      if (fallback && fallback !== lastFallback) node.log(fallback);
      lastFallback = fallback;
    };

    node.on('input', (msg, send, done) => {
      if (!core) {
        adapter.refuse(done);
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
          send({ ...msg, topic: TOPIC.snapshot, payload: snapshot });
          done();
        },
        (err: Error) => {
          showError(node, err.message);
          done(err);
        },
      );
    });

    adapter.onClose(async () => {
      await core?.close().catch((err: Error) => node.warn(`could not remove the counting table: ${err.message}`));
    });
  }
  RED.nodes.registerType('iface-counter', IfaceCounter);
};
