import { TOPIC } from './core/contract/message';
import { readFile, stat } from 'node:fs/promises';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { DeviceTypeTable, validateDeviceTypeRules } from './core/discover/device-type';
import { DEVICES_MAX, Discovery, type DeviceSettings, type ScanResult } from './core/discover/discovery';
import { LazyOuiIndex } from './core/discover/oui';
import { parseRegistry } from './core/contract/registry';
import type { CommandRunner, Watcher } from './core/runner';
import { toNumber } from './core/contract/settings';
import { configOf } from './lib/config-node';
import { openNetlinkReader, type NetlinkReader } from './lib/netlink-reader';
import { runnerFor } from './lib/process-runner';
import { adapt } from './lib/adapter';
import { countOf, showError, showOk, showWarning } from './lib/status';

interface ArpDiscoverDef extends NodeDef {
  config: string;
  probe: boolean;
  probeInterval: string | number;
  absence: string | number;
  leasesFile: string;
  reverseDns: boolean;
  watch: boolean;
  deviceTypes: string;
  netns: string;
  newMacs: string | number;
}

const DEVICES_KEY = 'devices';
const WATCH_DEBOUNCE_MS = 30;
const WATCH_RESTART_MS = 5_000;
// the editor's defaults, for flows written by hand or by an older version
const DEFAULT_PROBE_INTERVAL_S = 30;
const DEFAULT_ABSENCE_S = 300;
const DEFAULT_NEW_MACS_PER_MINUTE = 60;


export = function (RED: NodeAPI) {
  function ArpDiscover(this: Node, def: ArpDiscoverDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    let discovery: Discovery | null = null;
    const adapter = adapt(node, 'arp-discover');
    let runner: CommandRunner | null = null;
    let netlink: NetlinkReader | null = null;
    let watcher: Watcher | null = null;
    let closed = false;
    const timers = new Set<NodeJS.Timeout>();
    let lastWarnings = '';
    let lastWatchProblem = '';
    // loaded for lookups of MACs not seen before, let go when none came for a minute
    const oui = new LazyOuiIndex();

    try {
      const config = configOf(RED, def.config);
      const settings = config.settings!;
      const netns = (def.netns ?? '').trim();
      runner = runnerFor(netns);
      // in our own namespace the neighbour table is read over netlink (no process per tick); in
      // another one (lab, demo) a socket of ours would see the wrong namespace, so `ip` reads it
      const fast = netns ? null : openNetlinkReader();
      if (fast?.problem) node.log(`${fast.problem}; the neighbour table is read with ip`);
      netlink = fast?.reader ?? null;
      let rules;
      try {
        rules = validateDeviceTypeRules(JSON.parse(def.deviceTypes?.trim() || '[]'));
      } catch (err) {
        throw new Error(`device types: ${(err as Error).message}`);
      }
      discovery = new Discovery(
        {
          iface: settings.iface,
          probe: def.probe === true,
          probeIntervalMs: toNumber(def.probeInterval ?? DEFAULT_PROBE_INTERVAL_S) * 1000,
          absenceMs: toNumber(def.absence ?? DEFAULT_ABSENCE_S) * 1000,
          leasesFile: (def.leasesFile ?? '').trim(),
          reverseDns: def.reverseDns === true,
          maxPriority: settings.maxPriority,
          deviceTypes: new DeviceTypeTable(rules),
          clientCap: settings.clientCap,
          newMacsPerMinute: def.newMacs === undefined || def.newMacs === '' ? DEFAULT_NEW_MACS_PER_MINUTE : toNumber(def.newMacs),
        },
        { runner, readNeighbours: netlink ? (iface) => netlink!.readNeighbours(iface) : undefined, readFile: (path) => readFile(path, 'utf8'), statFile: (path) => stat(path), now: Date.now, oui },
        (node.context().get(DEVICES_KEY) as [string, DeviceSettings][] | undefined) ?? [],
      );
      showOk(node, `ready · ${settings.iface}${def.probe ? ' · probing' : ''}`);
      const d = discovery;
      d.setMaxPriority(settings.maxPriority);
      // fewer priorities: the ones kept here move to the new lowest (usage-store says so once)
      config.listen(node, (next) => {
        if (d.setMaxPriority(next.maxPriority) > 0) node.context().set(DEVICES_KEY, d.rememberedDevices);
      });
    } catch (err) {
      adapter.setupFailed(err);
    }

    const eventMessages = (result: ScanResult): NodeMessage[] =>
      result.events.map((e) => ({ topic: e.event, payload: e }) as NodeMessage);

    /** Status and warnings after a scan; a warning is logged once, not on every tick. */
    const report = (result: ScanResult) => {
      const s = result.snapshot;
      // the cap and the new-MAC limit are said in the status, not logged every tick (kept short:
      // the editor shows 60 characters, so the interface is left out then)
      let text = `${countOf(s.clients.length, 'client')}${s.capped || s.limited ? '' : ` on ${s.iface}`}`;
      if (s.capped) text += ` · ${s.capped.left} over cap ${s.capped.limit}`;
      if (s.limited) text += ` · ${s.limited.ignored} new MAC${s.limited.ignored === 1 ? '' : 's'} waiting`;
      const warnings = result.warnings.join('; ');
      if (warnings) {
        showWarning(node, `${text} · ${result.warnings[0]}`);
        if (warnings !== lastWarnings) node.warn(warnings);
      } else if (s.capped || s.limited) {
        showWarning(node, text);
      } else {
        showOk(node, text);
      }
      lastWarnings = warnings;
    };

    // Between ticks, follow the kernel's neighbour table so an arrival is reported at once.
    const startWatch = () => {
      if (!discovery || !runner || closed || def.watch === false) return;
      let pending: NodeJS.Timeout | null = null;
      const d = discovery;
      watcher = runner.watch(
        ['ip', 'monitor', 'neigh', 'dev', d.iface],
        () => {
          if (pending) return;
          pending = setTimeout(() => {
            timers.delete(pending!);
            pending = null;
            d.scan({ allowProbe: false }).then(
              (result) => {
                if (closed) return;
                report(result);
                const events = eventMessages(result);
                if (events.length > 0) node.send([null, events]);
              },
              (err: Error) => showError(node, err.message),
            );
          }, WATCH_DEBOUNCE_MS);
          timers.add(pending);
        },
        (err) => {
          watcher = null;
          if (closed) return;
          // said once per distinct problem: the watcher is retried every few seconds
          if (err && err.message !== lastWatchProblem) node.warn(`watching the neighbour table stopped, arrivals are seen at the next tick: ${err.message}`);
          lastWatchProblem = err?.message ?? '';
          const retry = setTimeout(() => {
            timers.delete(retry);
            startWatch();
          }, WATCH_RESTART_MS);
          timers.add(retry);
        },
      );
    };
    startWatch();

    node.on('input', (msg, send, done) => {
      if (!discovery) {
        adapter.refuse(done);
        return;
      }
      if (msg.topic === TOPIC.registry) {
        // names and priorities kept by usage-store: applied to every MAC of each device
        try {
          const problems: string[] = [];
          const devices = parseRegistry(msg.payload);
          const unknown = discovery.setKnown(devices.flatMap((d) => d.macs));
          if (unknown > 0) problems.push(`${unknown} MACs beyond the ${DEVICES_MAX} known devices kept`);
          for (const device of devices) {
            const settings = { ...(device.name !== null && { name: device.name }), ...(device.priority !== null && { priority: device.priority }) };
            if (Object.keys(settings).length === 0) continue;
            for (const mac of device.macs) {
              try {
                discovery.setDevice({ mac, ...settings });
              } catch (err) {
                problems.push((err as Error).message);
              }
            }
          }
          node.context().set(DEVICES_KEY, discovery.rememberedDevices);
          if (problems.length > 0) node.warn(`registry: skipped ${problems.join('; ')}`);
          done();
        } catch (err) {
          done(err as Error);
        }
        return;
      }
      if (msg.topic === TOPIC.device) {
        try {
          const result = discovery.setDevice(msg.payload);
          node.context().set(DEVICES_KEY, discovery.rememberedDevices);
          if (result.snapshot) send([{ ...msg, topic: TOPIC.snapshot, payload: result.snapshot }, null]);
          done();
        } catch (err) {
          done(err as Error);
        }
        return;
      }
      discovery.scan().then(
        (result) => {
          report(result);
          send([{ ...msg, topic: TOPIC.snapshot, payload: result.snapshot }, eventMessages(result)]);
          done();
        },
        (err: Error) => {
          showError(node, err.message);
          done(err);
        },
      );
    });

    adapter.onClose(() => {
      oui.release();
      closed = true;
      netlink?.close();
      netlink = null;
      watcher?.stop();
      watcher = null;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    });
  }
  RED.nodes.registerType('arp-discover', ArpDiscover);
};
