// The alert examples delivering to real servers on loopback: an MQTT broker (aedes) receives what
// examples/06-alert-mqtt.json publishes with the core mqtt out node, and an SMTP server
// (smtp-server) receives the mail examples/07-alert-email.json sends with node-red-node-email.
// The flows are loaded as shipped; only what a user fills in (server, port, user, password) is set.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { getNode, helper, load, startServer, stopServer, type FlowNode } from '../helpers/node-red';

const alertRuleModule = require('../../nodes/alert-rule');
const configNodeModule = require('../../nodes/equalnet-config');
const core = (path: string) => require(`@node-red/nodes/core/${path}`);
const baseModules = [alertRuleModule, configNodeModule, core('common/20-inject'), core('common/21-debug'), core('common/90-comment'), core('function/15-change')];

const example = (name: string): FlowNode[] => JSON.parse(readFileSync(join(__dirname, '../../examples', name), 'utf8'));
const listen = (server: { listen: (port: number, host: string, cb: () => void) => unknown }) =>
  new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

/** Waits until `check` returns a value, polling; fails with `what` after `ms`. */
async function eventually<T>(check: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('alert delivery with the shipped examples, to real servers on loopback', function () {
  this.timeout(30_000);
  before(startServer);
  after(stopServer);
  afterEach(() => helper.unload());

  describe('examples/06-alert-mqtt.json → an MQTT broker (aedes)', () => {
    let broker: any;
    let server: Server;
    const published: Array<{ topic: string; payload: string; qos: number; clientId: string | undefined }> = [];

    before(async () => {
      const { Aedes } = await import('aedes');
      broker = await Aedes.createBroker();
      broker.on('publish', (packet: { topic: string; payload: Buffer; qos: number }, client: { id: string } | null) => {
        if (client) published.push({ topic: packet.topic, payload: packet.payload.toString(), qos: packet.qos, clientId: client.id });
      });
      server = createServer(broker.handle);
      await listen(server);
    });

    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    });

    it('publishes the alert on equalnet/alert/<type> with the readable payload, then the "cleared" one', async () => {
      const flow = example('06-alert-mqtt.json');
      const brokerNode = flow.find((n) => n.type === 'mqtt-broker')!;
      assert.equal(brokerNode.broker, 'localhost', 'the example points at a local broker until the user changes it');
      brokerNode.broker = '127.0.0.1';
      brokerNode.port = String((server.address() as AddressInfo).port);
      await load([...baseModules, core('network/10-mqtt')], flow);
      // connected: the broker sees the mqtt out node's client
      await eventually(() => (Object.keys(broker.clients).length > 0 ? true : undefined), 'mqtt out did not connect');

      getNode('ex6.busy').receive({} as never);
      const raised = await eventually(() => published.find((p) => p.topic === 'equalnet/alert/over_allocation'), 'no alert published');
      assert.match(
        raised.payload,
        /^WARNING Over allocation: work-laptop \(a4:5e:60:00:00:01, 192\.168\.1\.10\) downloads 19\.0 Mbit\/s, 95 % of its allocation of 20\.0 Mbit\/s/,
      );
      assert.equal(raised.qos, 1);

      getNode('ex6.calm').receive({} as never);
      const cleared = await eventually(() => published.find((p) => p.payload.startsWith('SUCCESS')), 'no "cleared" alert published');
      assert.equal(cleared.topic, 'equalnet/alert/over_allocation');
      assert.match(cleared.payload, /^SUCCESS Over allocation cleared: work-laptop .* is back under 90 % of its download allocation/);
      assert.equal(published.filter((p) => p.topic.startsWith('equalnet/alert/')).length, 2, 'one message per alert');
    });
  });

  describe('examples/07-alert-email.json → an SMTP server (smtp-server)', () => {
    let smtp: SMTPServer;
    const mails: Array<{ from: string; to: string[]; user: string | undefined; mail: ParsedMail }> = [];

    before(async () => {
      smtp = new SMTPServer({
        // loopback only and no certificate here: plain SMTP with AUTH, as a LAN relay might offer
        disabledCommands: ['STARTTLS'],
        allowInsecureAuth: true,
        logger: false,
        onAuth(auth, _session, callback) {
          if (auth.username === 'router@example.com' && auth.password === 'secret') callback(null, { user: auth.username });
          else callback(new Error('invalid user or password'));
        },
        onData(stream, session, callback) {
          simpleParser(stream)
            .then((mail) => {
              mails.push({
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                to: session.envelope.rcptTo.map((r) => r.address),
                user: session.user as string | undefined,
                mail,
              });
              callback();
            })
            .catch(callback);
        },
      });
      await listen(smtp);
    });

    after(() => new Promise<void>((resolve) => smtp.close(() => resolve())));

    it('mails the new device with the subject line and the readable body', async () => {
      const flow = example('07-alert-email.json');
      const email = flow.find((n) => n.type === 'e-mail')!;
      email.server = '127.0.0.1';
      email.port = String((smtp.server.address() as AddressInfo).port);
      await load([...baseModules, require('node-red-node-email/61-email.js')], flow, {
        [email.id]: { userid: 'router@example.com', password: 'secret' },
      });
      getNode('ex7.registry').receive({} as never);
      getNode('ex7.snapshot').receive({} as never);
      const { from, to, user, mail } = await eventually(() => mails[0], 'no mail received');
      assert.equal(user, 'router@example.com');
      assert.equal(from, 'router@example.com');
      assert.deepEqual(to, ['you@example.com']);
      assert.equal(mail.subject, '[EqualNet info] New device: annas-phone');
      assert.equal(mail.text?.trim(), 'INFO New device: annas-phone (3c:22:fb:00:00:03, 192.168.1.23) joined the LAN for the first time');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(mails.length, 1, 'the known laptop and tv are not mailed');
    });
  });
});
