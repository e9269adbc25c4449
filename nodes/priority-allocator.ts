import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { ALLOCATOR_KEYS, AllocatorController, applyConfigCommand, optionsFrom, type AllocatedSnapshot } from './core/allocate/allocation';
import { TOPIC, priorityProblem } from './core/contract/message';
import { LIMITS, percentProblem, toNumber } from './core/contract/settings';
import { adapt } from './lib/adapter';
import { configOf, type EqualnetConfigNode } from './lib/config-node';
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
    const adapter = adapt(node, 'priority-allocator');
    let controller: AllocatorController | null = null;
    let config: EqualnetConfigNode | null = null;
    /** While a config message of ours is applied: its one snapshot is sent by the input handler. */
    let applying = false;
    const source = () => (config?.source === 'config command' ? ' · set by command' : '');
    const sendSnapshot = (snapshot: AllocatedSnapshot, msg: object = {}, send: (m: NodeMessage) => void = (m) => node.send(m)) => {
      const a = snapshot.allocation;
      showOk(node, `${countOf(snapshot.clients.length, 'client')} · ↓${formatMbps(a.down.totalBps)} ↑${formatMbps(a.up.totalBps)} Mbit/s${source()}`);
      send({ ...msg, topic: TOPIC.snapshot, payload: snapshot } as NodeMessage);
    };
    try {
      config = configOf(RED, def.config);
      const settings = config.settings!;
      const defaultPriority = toNumber(def.defaultPriority);
      const headroomPercent = toNumber(def.headroomPercent);
      // a default above the lowest priority in force (fewer priorities set by a command) is the lowest
      const problem =
        (priorityProblem(defaultPriority, LIMITS.maxMaxPriority) && `default priority ${priorityProblem(defaultPriority, settings.maxPriority)}`) ||
        (percentProblem(headroomPercent) && `headroom ${percentProblem(headroomPercent)}`);
      if (problem) throw new Error(problem);
      const remembered = (node.context().get(PRIORITIES_KEY) as [string, number][] | undefined) ?? [];
      controller = new AllocatorController(optionsFrom(settings, { defaultPriority: Math.min(defaultPriority, settings.maxPriority), headroomPercent }), remembered);
      const o = controller.current;
      showOk(node, `ready · ↓${o.downMbps} ↑${o.upMbps} Mbit/s${source()}`);
      // the config node's settings changed (a config command, from anywhere): applied here at once
      const c = controller;
      config.listen(node, (next) => {
        const { snapshot } = c.settingsChanged(next);
        node.context().set(PRIORITIES_KEY, c.rememberedPriorities);
        if (snapshot && !applying) sendSnapshot(snapshot);
      });
    } catch (err) {
      adapter.setupFailed(err);
    }

    node.on('input', (msg, send, done) => {
      if (!controller) {
        adapter.refuse(done);
        return;
      }
      try {
        let snapshot;
        if (msg.topic === TOPIC.priority) {
          const result = controller.setPriority(msg.payload);
          node.context().set(PRIORITIES_KEY, controller.rememberedPriorities);
          snapshot = result.snapshot;
        } else if (msg.topic === TOPIC.registry) {
          const result = controller.applyRegistry(msg.payload);
          node.context().set(PRIORITIES_KEY, controller.rememberedPriorities);
          if (result.skipped.length > 0) node.warn(`registry: skipped ${result.skipped.join('; ')}`);
          snapshot = result.snapshot;
        } else if (msg.topic === TOPIC.config) {
          // checked whole first (nothing changes on a bad key), then the shared settings go to
          // the config node, which applies them to every node, and our own options stay here
          applyConfigCommand(controller.current, msg.payload);
          const own = Object.fromEntries(Object.entries(msg.payload as object).filter(([k]) => ALLOCATOR_KEYS.includes(k)));
          applying = true;
          try {
            config!.applyCommand(msg.payload, ALLOCATOR_KEYS);
          } finally {
            applying = false;
          }
          snapshot = controller.configure(own).snapshot;
        } else {
          snapshot = controller.allocate(msg.payload);
        }
        if (snapshot) sendSnapshot(snapshot, msg, send);
        done();
      } catch (err) {
        showError(node, (err as Error).message);
        done(err as Error);
      }
    });
  }
  RED.nodes.registerType('priority-allocator', PriorityAllocator);
};
