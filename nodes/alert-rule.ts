import { TOPIC } from './core/contract/message';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { toMessage, type Alert } from './core/alerts/alert';
import { AlertEngine } from './core/alerts/engine';
import { DEFAULTS, type RuleKind } from './core/alerts/options';
import { mbpsToBps } from './core/contract/settings';
import { configOf } from './lib/config-node';
import { showError, showOk, showWarning } from './lib/status';
import { adapt } from './lib/adapter';

/** Thresholds as the editor saves them: strings, '' for the rule's default. */
interface AlertRuleDef extends NodeDef {
  rule: RuleKind;
  /** Optional: the link speed for link_saturation when snapshots carry no allocation. */
  config?: string;
  [threshold: string]: unknown;
}

const KNOWN_KEY = 'knownMacs';
/** Topics a rule takes for itself; anything else is a snapshot, passed on by output 3. */
const ADDRESSED = new Set<string>([TOPIC.config, TOPIC.registry, TOPIC.joined, TOPIC.left]);
const THRESHOLD_KEYS = Object.keys(DEFAULTS.over_allocation);

/** What usage-store's `alert` command stores (its alerts table). */
const forStore = (a: Alert): NodeMessage =>
  ({ topic: TOPIC.alert, payload: { type: a.type, severity: a.severity, message: a.message, mac: a.mac, ip: a.ip, ts: a.ts } }) as NodeMessage;

export = function (RED: NodeAPI) {
  function AlertRuleNode(this: Node, def: AlertRuleDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    let engine: AlertEngine | null = null;
    const adapter = adapt(node, 'alert-rule');
    let last = '';

    try {
      let linkBps = null;
      const config = def.config ? configOf(RED, def.config) : null;
      if (config) {
        const s = config.settings!;
        linkBps = { down: mbpsToBps(s.downMbps), up: mbpsToBps(s.upMbps) };
        config.listen(node, (next) => engine?.setLinkBps({ down: mbpsToBps(next.downMbps), up: mbpsToBps(next.upMbps) }));
      }
      const thresholds: Record<string, unknown> = {};
      for (const key of THRESHOLD_KEYS) if (def[key] !== undefined && def[key] !== '') thresholds[key] = def[key];
      engine = new AlertEngine(def.rule, thresholds, {
        now: Date.now,
        knownMacs: (node.context().get(KNOWN_KEY) as string[] | undefined) ?? [],
        linkBps,
      });
      showStatus();
    } catch (err) {
      adapter.setupFailed((err as Error).message.replace(/^thresholds\./, ''));
    }

    function showStatus(): void {
      if (!engine) return;
      const kind = engine.kind.replace(/_/g, ' ');
      if (engine.waitingForRegistry) showWarning(node, `${kind} · learning the LAN: registry or first ${engine.thresholds.waitSec} s`);
      else if (engine.active > 0) showWarning(node, `${engine.active} active · ${last}`);
      else showOk(node, last ? `${kind} · last: ${last}` : `${kind} · watching`);
    }

    // Output 3 passes each snapshot on, unchanged, once the rule has read it: rules wired one after
    // the other each get it without a copy. Node-RED deep-copies a message for every wire after the
    // first, and usage-store fanned out to nine rules: nine copies of 250 clients a tick, the largest
    // part of Node-RED's CPU in bench/pipeline. What is addressed to the rule itself (config,
    // registry, joined / left) stops here.
    const passOn = (msg: NodeMessage, send: (m: (NodeMessage | null)[]) => void) => {
      if (!ADDRESSED.has(msg.topic as string)) send([null, null, msg]);
    };

    node.on('input', (msg, send, done) => {
      if (!engine) {
        passOn(msg, send);
        adapter.refuse(done);
        return;
      }
      let alerts: Alert[];
      try {
        alerts = engine.handle(msg.topic, msg.payload);
        const known = engine.takeKnownMacs();
        if (known) node.context().set(KNOWN_KEY, known);
      } catch (err) {
        passOn(msg, send);
        showError(node, (err as Error).message);
        done(err as Error);
        return;
      }
      for (const alert of alerts) {
        send([toMessage(alert) as unknown as NodeMessage, forStore(alert)]);
        last = alert.title;
      }
      passOn(msg, send);
      showStatus();
      done();
    });
  }
  RED.nodes.registerType('alert-rule', AlertRuleNode);
};
