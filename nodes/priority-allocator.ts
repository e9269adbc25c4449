import type { Node, NodeAPI, NodeDef } from 'node-red';
import { AllocatorController, optionsFrom, priorityProblem } from './core/allocation';
import { percentProblem, toNumber } from './core/settings';
import { settingsOf } from './lib/config-node';
import { countOf, formatMbps, showError, showOk } from './lib/status';

interface PriorityAllocatorDef extends NodeDef {
  config: string;
  defaultPriority: string | number;
  headroomPercent: string | number;
}

const PRIORITIES_KEY = 'priorities';

export = function (RED: NodeAPI) {
  function PriorityAllocator(this: Node, def: PriorityAllocatorDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    let controller: AllocatorController | null = null;
    let setupProblem: string | null = null;
    try {
      const settings = settingsOf(RED, def.config);
      const defaultPriority = toNumber(def.defaultPriority);
      const headroomPercent = toNumber(def.headroomPercent);
      const problem =
        (priorityProblem(defaultPriority, settings.maxPriority) && `default priority ${priorityProblem(defaultPriority, settings.maxPriority)}`) ||
        (percentProblem(headroomPercent) && `headroom ${percentProblem(headroomPercent)}`);
      if (problem) throw new Error(problem);
      const remembered = (node.context().get(PRIORITIES_KEY) as [string, number][] | undefined) ?? [];
      controller = new AllocatorController(optionsFrom(settings, { defaultPriority, headroomPercent }), remembered);
      const o = controller.current;
      showOk(node, `ready · ↓${o.downMbps} ↑${o.upMbps} Mbit/s`);
    } catch (err) {
      setupProblem = (err as Error).message;
      showError(node, setupProblem);
      node.error(setupProblem);
    }

    node.on('input', (msg, send, done) => {
      if (!controller) {
        done(new Error(setupProblem ?? 'not configured'));
        return;
      }
      try {
        let snapshot;
        if (msg.topic === 'priority') {
          const result = controller.setPriority(msg.payload);
          node.context().set(PRIORITIES_KEY, controller.rememberedPriorities);
          snapshot = result.snapshot;
        } else if (msg.topic === 'registry') {
          const result = controller.applyRegistry(msg.payload);
          node.context().set(PRIORITIES_KEY, controller.rememberedPriorities);
          if (result.skipped.length > 0) node.warn(`registry: skipped ${result.skipped.join('; ')}`);
          snapshot = result.snapshot;
        } else if (msg.topic === 'config') {
          snapshot = controller.configure(msg.payload).snapshot;
        } else {
          snapshot = controller.allocate(msg.payload);
        }
        if (snapshot) {
          const a = snapshot.allocation;
          showOk(node, `${countOf(snapshot.clients.length, 'client')} · ↓${formatMbps(a.down.totalBps)} ↑${formatMbps(a.up.totalBps)} Mbit/s`);
          send({ ...msg, topic: 'snapshot', payload: snapshot });
        }
        done();
      } catch (err) {
        showError(node, (err as Error).message);
        done(err as Error);
      }
    });
  }
  RED.nodes.registerType('priority-allocator', PriorityAllocator);
};
