/**
 * The flow the demo deploys: the shipped default flow (flows/default.json) with the settings a
 * machine we built ourselves allows, and nothing else changed:
 * - live: the router namespace's br-lan, enforce, per-client counting, dnsmasq's leases, probing
 *   and a short absence (so a device that leaves is reported within the demo's minute), the demo's
 *   link speeds; with a recorder, iface-counter's snapshots and arp-discover's events are also
 *   POSTed to the demo process (http request nodes), which writes the recording;
 * - replay: dry-run, the tick off (nothing is read from this machine), an `http in` route on
 *   loopback that takes the recorded snapshots into priority-allocator and the recorded
 *   joined/left events into the alert rules, and a banner on every dashboard page.
 */
import { LINK } from './household';

export type FlowNode = Record<string, unknown> & { id: string; type: string };

export const REPLAY_PATH = '/demo/replay';
export const REPLAY_BANNER = 'Replay of a recorded EqualNet demo: nothing is shaped, no device here is real.';

function byId(flow: FlowNode[], id: string): FlowNode {
  const node = flow.find((n) => n.id === id);
  if (!node) throw new Error(`demo: flows/default.json has no node ${id}`);
  return node;
}

export interface LiveOptions {
  routerNs: string;
  iface: string;
  leasesFile: string;
  /** POST target for the recorder (the demo's own loopback server), when recording. */
  recorderUrl?: string;
}

function common(flow: FlowNode[], link: { downMbps: number; upMbps: number }): void {
  const config = byId(flow, 'equalnet.config');
  config.downMbps = String(link.downMbps);
  config.upMbps = String(link.upMbps);
  // a household: 64 devices at most, which also allows the slower upload (8 kbit/s per client)
  config.clientCap = '64';
  config.dbFile = 'equalnet-demo.db';
  // a row every 10 s, so the Analytics page has something within the demo's first minute
  byId(flow, 'equalnet.store').resolutionSec = '10';
}

export function liveFlow(base: readonly FlowNode[], o: LiveOptions): FlowNode[] {
  const flow = structuredClone(base) as FlowNode[];
  common(flow, LINK);
  const config = byId(flow, 'equalnet.config');
  config.iface = o.iface;
  config.mode = 'enforce';
  Object.assign(byId(flow, 'equalnet.discover'), { netns: o.routerNs, leasesFile: o.leasesFile, probe: true, probeInterval: '5', absence: '12' });
  Object.assign(byId(flow, 'equalnet.counter'), { netns: o.routerNs, perClient: true });
  Object.assign(byId(flow, 'equalnet.shaper'), { netns: o.routerNs });
  if (o.recorderUrl) {
    const z = 'equalnet.tab';
    flow.push(
      {
        id: 'equalnet.demo.record', type: 'function', z, name: 'to the demo recorder', x: 820, y: 40, outputs: 1, noerr: 0,
        func: "// the body the demo's recorder takes: { topic, payload }\nreturn { payload: { topic: msg.topic, payload: msg.payload }, headers: { 'content-type': 'application/json' } };",
        wires: [['equalnet.demo.post']],
      },
      { id: 'equalnet.demo.post', type: 'http request', z, name: 'POST to the demo', method: 'POST', ret: 'txt', paytoqs: 'ignore', url: o.recorderUrl, tls: '', persist: false, proxy: '', insecureHTTPParser: false, authType: '', senderr: false, headers: [], x: 1040, y: 40, wires: [[]] },
    );
    const counter = byId(flow, 'equalnet.counter');
    (counter.wires as string[][])[0].push('equalnet.demo.record');
    const discover = byId(flow, 'equalnet.discover');
    (discover.wires as string[][])[1].push('equalnet.demo.record');
  }
  return flow;
}

export function replayFlow(base: readonly FlowNode[], link: { downMbps: number; upMbps: number }, iface: string): FlowNode[] {
  const flow = structuredClone(base) as FlowNode[];
  common(flow, link);
  const config = byId(flow, 'equalnet.config');
  config.iface = iface;
  config.mode = 'dry-run';
  // nothing of this machine is read: no tick for arp-discover and iface-counter, no watcher
  byId(flow, 'equalnet.tick').d = true;
  Object.assign(byId(flow, 'equalnet.discover'), { watch: false, probe: false, leasesFile: '' });
  const z = 'equalnet.tab';
  const dash = 'equalnet.dash.tab';
  flow.push(
    { id: 'equalnet.demo.replay.in', type: 'http in', z, name: '', url: REPLAY_PATH, method: 'post', upload: false, swaggerDoc: '', x: 150, y: 40, wires: [['equalnet.demo.replay.ok', 'equalnet.demo.replay.split']] },
    { id: 'equalnet.demo.replay.ok', type: 'http response', z, name: '', statusCode: '204', headers: {}, x: 360, y: 20, wires: [] },
    {
      id: 'equalnet.demo.replay.split', type: 'function', z, name: 'recorded snapshot or event', x: 400, y: 60, outputs: 2, noerr: 0,
      func: [
        '// the demo process posts { topic: "snapshot" | "joined" | "left", payload } from its recording',
        'const body = msg.req.body || {};',
        'const out = { topic: body.topic, payload: body.payload };',
        "if (body.topic === 'snapshot') return [out, null];",
        "if (body.topic === 'joined' || body.topic === 'left') return [null, out];",
        'return [null, null];',
      ].join('\n'),
      wires: [['equalnet.allocator'], ['equalnet.alert.new', 'equalnet.alert.gone', 'equalnet.events']],
    },
    {
      id: 'equalnet.demo.replay.banner', type: 'ui_template', z: dash, group: '', name: 'replay banner', order: 0, width: 0, height: 0,
      // a global template lands in the page's <head>: its script puts the banner into the body, once
      format: [
        '<style>.equalnet-replay-banner { position: fixed; left: 0; right: 0; bottom: 0; z-index: 1000; padding: 8px 16px; background: #b71c1c; color: #fff; font-weight: bold; text-align: center; }</style>',
        '<script>',
        '(function () {',
        '  function add() {',
        "    if (document.querySelector('body .equalnet-replay-banner')) return;",
        "    var banner = document.createElement('div');",
        "    banner.className = 'equalnet-replay-banner';",
        `    banner.textContent = ${JSON.stringify(REPLAY_BANNER)};`,
        '    document.body.appendChild(banner);',
        '  }',
        "  if (document.body) add(); else document.addEventListener('DOMContentLoaded', add);",
        '})();',
        '</script>',
      ].join('\n'),
      storeOutMessages: false, fwdInMessages: false, resendOnRefresh: false, templateScope: 'global', className: '', x: 160, y: 40, wires: [[]],
    },
  );
  return flow;
}
