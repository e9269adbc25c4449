import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { applyConfigCommand, type AllocatedSnapshot } from './core/allocation';
import { alertsQuery, analyticsQuery, bodyErrorAnswer, clientView, deviceBody, findClient, priorityBody, statusView, type BodyError } from './core/api';
import { InputError } from './core/errors';
import type { Settings } from './core/settings';
import { settingsOf } from './lib/config-node';
import { showError, showOk } from './lib/status';

interface ApiDef extends NodeDef {
  config: string;
  basePath: string;
}

type Req = IncomingMessage & { params: Record<string, string>; query: Record<string, unknown>; body?: unknown };
type Res = ServerResponse & { status(code: number): Res; json(body: unknown): void };
type Handler = (req: Req, res: Res) => void | Promise<void>;
interface Router {
  get(path: string, handler: Handler): void;
  post(path: string, handler: Handler): void;
  _router?: { stack: Array<{ route?: { path: string } }> };
}

const BASE_PATH = /^(\/[A-Za-z0-9_-]+)+$/;
const BODY_LIMIT = 64 * 1024;
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * The JSON body. Node-RED's HTTP server parses JSON bodies before any route (and answers a
 * malformed one with 400 itself); if no parser ran (another Content-Type), read it here.
 */
function readJson(req: Req): Promise<unknown> {
  // a body parser installed by httpNodeMiddleware has consumed the stream already
  if (req.body !== undefined && req.readableEnded) return Promise.resolve(req.body);
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        reject(new InputError('body', `must be at most ${BODY_LIMIT} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve(req.body ?? {});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new InputError('body', 'is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

type ErrorHandler = (err: BodyError, req: Req & { originalUrl?: string }, res: Res, next: (err?: unknown) => void) => void;
interface AdminApp {
  use(handler: ErrorHandler): void;
  _router?: { stack: Array<{ handle?: unknown }> };
}

/** Takes the layers `ours` picks out of an express router's stack: what a closing node had added. */
function removeLayers<L>(stack: L[] | undefined, ours: (layer: L) => boolean): void {
  if (!stack) return;
  for (let i = stack.length - 1; i >= 0; i--) if (ours(stack[i])) stack.splice(i, 1);
}

export = function (RED: NodeAPI) {
  function EqualnetApi(this: Node, def: ApiDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const app = RED.httpNode as unknown as Router;
    const base = (def.basePath || '/api').replace(/\/+$/, '');
    const paths: string[] = [];
    const pending = new Map<string, { res: Res; timer: NodeJS.Timeout }>();
    let latest: AllocatedSnapshot | null = null;
    let settings: Settings | null = null;

    const fail = (res: Res, err: unknown) => {
      if (err instanceof InputError) res.status(400).json({ error: err.message });
      else res.status(500).json({ error: (err as Error).message });
    };
    const route = (method: 'get' | 'post', path: string, handler: (req: Req, res: Res, s: Settings) => void | Promise<void>) => {
      paths.push(base + path);
      app[method](base + path, async (req, res) => {
        try {
          if (!settings) throw new Error('EqualNet API is not configured');
          await handler(req, res, settings);
        } catch (err) {
          fail(res, err);
        }
      });
    };
    const maxPriority = (s: Settings) => latest?.allocation.maxPriority ?? s.maxPriority;
    const clientOr404 = (res: Res, id: string) => {
      const client = findClient(latest, id);
      if (!client) res.status(404).json({ error: `unknown client ${JSON.stringify(id)}: not on the LAN in the last snapshot` });
      return client;
    };
    /** Sends a query to usage-store (output 2) and answers the request with its reply. */
    const ask = (res: Res, query: Record<string, unknown>) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        pending.delete(id);
        res.status(503).json({ error: 'usage-store did not answer: is it wired to the API node?' });
      }, ANSWER_TIMEOUT_MS);
      pending.set(id, { res, timer });
      node.send([null, { topic: 'query', payload: query, _equalnetApi: id } as NodeMessage]);
    };

    try {
      settings = settingsOf(RED, def.config);
      if (!BASE_PATH.test(base)) throw new Error(`base path ${JSON.stringify(def.basePath)} must look like /api (letters, digits, _ and -)`);
      route('get', '/status', (_req, res, s) => res.json(statusView(latest, s)));
      route('get', '/clients', (_req, res) => res.json((latest?.clients ?? []).map(clientView)));
      route('get', '/analytics/:kind/:n', (req, res) => ask(res, analyticsQuery(req.params.kind, req.params.n)));
      route('get', '/alerts', (req, res) => ask(res, alertsQuery(req.query)));
      route('get', '/device/:id', (req, res) => {
        const client = clientOr404(res, req.params.id);
        if (client) res.json(clientView(client));
      });
      route('post', '/config', async (req, res, s) => {
        const body = await readJson(req);
        const current = latest?.allocation;
        const options = applyConfigCommand(
          {
            downMbps: current ? current.down.totalBps / 1e6 : s.downMbps,
            upMbps: current ? current.up.totalBps / 1e6 : s.upMbps,
            maxPriority: maxPriority(s),
            minPercent: current?.minPercent ?? s.minPercent,
            headroomPercent: 0,
            defaultPriority: 1,
          },
          body,
        );
        node.send([{ topic: 'config', payload: body } as NodeMessage, null]);
        res.json({ status: 'success', total_bandwidth: options.downMbps, upload_bandwidth: options.upMbps, max_priority: options.maxPriority, min_bandwidth_percent: options.minPercent });
      });
      route('post', '/priority/:id', async (req, res, s) => {
        const priority = priorityBody(await readJson(req), maxPriority(s));
        const client = clientOr404(res, req.params.id);
        if (!client) return;
        // at once in the allocator, and kept in the registry so it survives restarts
        node.send([{ topic: 'priority', payload: { mac: client.mac, priority } } as NodeMessage, { topic: 'device', payload: { mac: client.mac, priority } } as NodeMessage]);
        res.json({ status: 'success', mac: client.mac, ip: client.ip ?? null, priority });
      });
      route('post', '/device/:id', async (req, res, s) => {
        const change = deviceBody(await readJson(req), maxPriority(s));
        const client = clientOr404(res, req.params.id);
        if (!client) return;
        const toAllocator = change.priority !== undefined ? ({ topic: 'priority', payload: { mac: client.mac, priority: change.priority } } as NodeMessage) : null;
        node.send([toAllocator, { topic: 'device', payload: { mac: client.mac, ...change } } as NodeMessage]);
        const view = clientView(client);
        res.json({ status: 'success', device: { ...view, friendly_name: change.name === undefined ? view.friendly_name : (change.name ?? client.hostname ?? client.mac), priority: change.priority ?? view.priority } });
      });
      showOk(node, `serving ${base}/…`);
    } catch (err) {
      settings = null;
      showError(node, (err as Error).message);
      node.error((err as Error).message);
    }

    node.on('input', (msg, _send, done) => {
      const id = (msg as { _equalnetApi?: string })._equalnetApi;
      if (id) {
        const waiting = pending.get(id);
        if (waiting) {
          clearTimeout(waiting.timer);
          pending.delete(id);
          waiting.res.json(msg.payload);
        }
        done();
        return;
      }
      // usage-store's second output also carries reports and device results: not for us
      if (msg.topic !== 'snapshot') {
        done();
        return;
      }
      const payload = msg.payload as AllocatedSnapshot | undefined;
      if (!payload || !Array.isArray(payload.clients) || !payload.allocation) {
        done(new InputError('payload', 'the API node takes allocated snapshots (from priority-allocator) and usage-store answers'));
        return;
      }
      latest = payload;
      done();
    });

    // Answers the editor's body-parser errors for our paths in JSON (see bodyErrorAnswer). The
    // parser is in the editor's admin app, the parent of the RED.httpAdmin nodes get (the runtime's,
    // mounted into it): an error there only reaches error handlers of that app or its parents.
    // Node-RED's http-in node walks the same `parent` chain for its raw-body middleware.
    const runtimeAdmin = RED.httpAdmin as unknown as (AdminApp & { parent?: AdminApp }) | undefined;
    const admin = runtimeAdmin?.parent ?? runtimeAdmin;
    const bodyErrors: ErrorHandler = (err, req, res, next) => {
      const path = (req.originalUrl ?? req.url ?? '').split('?')[0];
      const answer = path === base || path.startsWith(base + '/') ? bodyErrorAnswer(err) : null;
      if (!answer || res.headersSent) return next(err);
      res.status(answer.status).json({ error: answer.error });
    };
    admin?.use?.(bodyErrors);

    node.on('close', (_removed: boolean, done: () => void) => {
      removeLayers(admin?._router?.stack, (layer) => layer.handle === bodyErrors);
      removeLayers(app._router?.stack, (layer) => layer.route !== undefined && paths.includes(layer.route.path));
      for (const { res, timer } of pending.values()) {
        clearTimeout(timer);
        res.status(503).json({ error: 'the flow is being redeployed' });
      }
      pending.clear();
      done();
    });
  }
  RED.nodes.registerType('equalnet-api', EqualnetApi);
};
