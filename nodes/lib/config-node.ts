import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { applySettingsCommand, runtimeOverride, type RuntimeSettings, type Settings } from '../core/contract/settings';

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

/** Called with the settings in force after a config command changed them, and the ones before. */
export type SettingsListener = (next: Settings, previous: Settings, changed: (keyof RuntimeSettings)[]) => void;

/** Where the settings in force come from: the deployed config node, or a config command kept since. */
export type SettingsSource = 'deployed' | 'config command';

export interface EqualnetConfigNode extends Node {
  /** The settings in force (validated), or null when the config is invalid (see `problem`). */
  settings: Settings | null;
  problem: string | null;
  source: SettingsSource;
  /**
   * Validates a config command once, for every node (InputError with the field and the reason
   * otherwise), applies it to every node that uses this config, and keeps it across restarts.
   * Keys in `others` are a node's own options: skipped here, not refused.
   */
  applyCommand(payload: unknown, others?: readonly string[]): { settings: Settings; changed: (keyof RuntimeSettings)[] };
  /** Registers a node for changes; deregistered when the node closes. */
  listen(node: Node, listener: SettingsListener): void;
}

/**
 * The validated settings a worker node points to. Throws an Error whose message says what to fix,
 * for the worker to show in its status and raise on every message until the config is fixed.
 */
export function settingsOf(RED: NodeAPI, configId: string | undefined): Settings {
  return configOf(RED, configId).settings!;
}

/** The config node a worker points to, valid; throws like settingsOf. */
export function configOf(RED: NodeAPI, configId: string | undefined): EqualnetConfigNode {
  const config = configId ? (RED.nodes.getNode(configId) as EqualnetConfigNode | null) : null;
  if (!config) throw new Error('no EqualNet config selected: open the node and choose or add one');
  if (!config.settings) throw new Error(`EqualNet config "${config.name || config.id}" is invalid: ${config.problem}`);
  return config;
}

/** The file, in Node-RED's user directory, that keeps config commands across restarts. */
export const OVERRIDES_FILE = 'equalnet-settings.json';

interface StoredOverride {
  /** Hash of the deployed settings the override was made on: a changed deploy wins over it. */
  deployed: string;
  override: Partial<RuntimeSettings>;
  at: string;
}

export const deployedHash = (s: Settings): string =>
  createHash('sha256')
    .update(JSON.stringify(Object.entries(s).sort(([a], [b]) => (a < b ? -1 : 1))))
    .digest('hex')
    .slice(0, 16);

/**
 * Config commands kept across restarts, per config node id, in one small JSON file in the user
 * directory (written whole, to a temporary file renamed over it). Without a user directory (a
 * test harness) they are kept in memory only. Keyed by config node ids, which come from the
 * flow, not from the LAN; entries of config nodes no longer deployed are dropped on the next write.
 */
export class OverrideFile {
  constructor(private readonly file: string | null) {}

  private readAll(): Record<string, StoredOverride> {
    if (!this.file) return {};
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, StoredOverride>) : {};
    } catch {
      return {};
    }
  }

  read(id: string): StoredOverride | null {
    const entry = this.readAll()[id];
    return entry && typeof entry === 'object' && typeof entry.deployed === 'string' && entry.override && typeof entry.override === 'object' ? entry : null;
  }

  /** `live`: when given, entries of config nodes it says are gone are dropped too (only once every node is deployed). */
  write(id: string, entry: StoredOverride | null, live?: (id: string) => boolean): void {
    if (!this.file) return;
    const all = this.readAll();
    if (live) for (const key of Object.keys(all)) if (key !== id && !live(key)) delete all[key];
    if (entry && Object.keys(entry.override).length > 0) all[id] = entry;
    else delete all[id];
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

export function overrideFileFor(RED: NodeAPI): OverrideFile {
  const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
  return new OverrideFile(userDir ? join(userDir, OVERRIDES_FILE) : null);
}

/**
 * Makes `node` the owner of `deployed`: the settings in force are the deployed ones plus a kept
 * config command made on exactly these deployed settings (a changed deploy wins, and drops it).
 */
export function ownSettings(RED: NodeAPI, node: EqualnetConfigNode, deployed: Settings): void {
  const file = overrideFileFor(RED);
  const hash = deployedHash(deployed);
  const listeners = new Map<string, SettingsListener>();
  let settings: Settings = deployed;
  node.source = 'deployed';
  const stored = file.read(node.id);
  if (stored && stored.deployed === hash) {
    try {
      settings = applySettingsCommand(deployed, stored.override).settings;
      node.source = Object.keys(runtimeOverride(deployed, settings)).length > 0 ? 'config command' : 'deployed';
      if (node.source === 'config command') node.log(`settings from a config command kept since ${stored.at}: ${JSON.stringify(runtimeOverride(deployed, settings))} (deploy a changed config node to replace them)`);
    } catch (err) {
      node.warn(`a kept config command no longer applies and is dropped: ${(err as Error).message}`);
    }
  } else if (stored) {
    node.log('the deployed config node changed: it is in force, and the config command kept before is dropped');
    safeWrite(null);
  }
  node.settings = settings;

  /** At start other config nodes may not exist yet: their entries are pruned only by a command's write, later. */
  function safeWrite(entry: StoredOverride | null, prune = false): void {
    try {
      file.write(node.id, entry, prune ? (id) => RED.nodes.getNode(id) !== null : undefined);
    } catch (err) {
      node.warn(`config command not kept across restarts: ${(err as Error).message}`);
    }
  }

  node.applyCommand = (payload, others = []) => {
    const previous = node.settings!;
    const result = applySettingsCommand(previous, payload, others);
    if (result.changed.length === 0) return result;
    node.settings = result.settings;
    const override = runtimeOverride(deployed, result.settings);
    node.source = Object.keys(override).length > 0 ? 'config command' : 'deployed';
    safeWrite({ deployed: hash, override, at: new Date().toISOString() }, true);
    for (const [id, listener] of listeners) {
      try {
        listener(result.settings, previous, result.changed);
      } catch (err) {
        node.warn(`node ${id} could not take the new settings: ${(err as Error).message}`);
      }
    }
    return result;
  };
  node.listen = (user, listener) => {
    listeners.set(user.id, listener);
    user.on('close', () => listeners.delete(user.id));
  };
  node.on('close', () => listeners.clear());
}
