import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { Settings } from '../core/settings';

/** The raw equalnet-config properties as the editor saves them. */
export interface EqualnetConfigDef extends NodeDef {
  iface: string;
  /** typedInput types: 'str' / 'num' (default) or 'env' (the value names an environment variable) */
  ifaceType?: string;
  downMbps: string | number;
  downMbpsType?: string;
  upMbps: string | number;
  upMbpsType?: string;
  maxPriority: string | number;
  minPercent: string | number;
  mode: string;
  dbFile: string;
}

export interface EqualnetConfigNode extends Node {
  /** Validated settings, or null when the config is invalid (see `problem`). */
  settings: Settings | null;
  problem: string | null;
}

/**
 * The validated settings a worker node points to. Throws an Error whose message says what to fix,
 * for the worker to show in its status and raise on every message until the config is fixed.
 */
export function settingsOf(RED: NodeAPI, configId: string | undefined): Settings {
  const config = configId ? (RED.nodes.getNode(configId) as EqualnetConfigNode | null) : null;
  if (!config) throw new Error('no EqualNet config selected: open the node and choose or add one');
  if (!config.settings) throw new Error(`EqualNet config "${config.name || config.id}" is invalid: ${config.problem}`);
  return config.settings;
}
