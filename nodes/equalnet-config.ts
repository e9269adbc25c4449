import { networkInterfaces } from 'node:os';
import type { NodeAPI } from 'node-red';
import { describeProblems, validateSettings } from './core/contract/settings';
import { ownSettings, type EqualnetConfigDef, type EqualnetConfigNode } from './lib/config-node';

export = function (RED: NodeAPI) {
  function EqualnetConfig(this: EqualnetConfigNode, def: EqualnetConfigDef) {
    RED.nodes.createNode(this, def);
    // typed inputs: a value of type env names an environment variable, read now
    const typed = (value: unknown, type: string | undefined) =>
      type === 'env' ? RED.util.evaluateNodeProperty(String(value), 'env', this, {} as never) : value;
    const result = validateSettings({
      ...(def as unknown as Record<string, unknown>),
      iface: typed(def.iface, def.ifaceType),
      downMbps: typed(def.downMbps, def.downMbpsType),
      upMbps: typed(def.upMbps, def.upMbpsType),
    });
    this.source = 'deployed';
    if ('problems' in result) {
      this.settings = null;
      this.problem = describeProblems(result.problems);
      this.error(`invalid settings: ${this.problem}`);
      this.applyCommand = () => {
        throw new Error(`EqualNet config "${this.name || this.id}" is invalid: ${this.problem}`);
      };
      this.listen = () => undefined;
    } else {
      this.problem = null;
      // the settings in force: these, or a config command kept since (see docs/settings.md)
      ownSettings(RED, this, result.settings);
    }
  }
  RED.nodes.registerType('equalnet-config', EqualnetConfig);

  // Names only, for the editor's interface picker; nothing is probed.
  RED.httpAdmin.get('/equalnet/interfaces', RED.auth.needsPermission('equalnet-config.read'), (_req, res) => {
    res.json(Object.keys(networkInterfaces()).sort());
  });
};
