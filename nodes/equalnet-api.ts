import { TOPIC } from './core/contract/message';
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import type { AllocatedSnapshot } from './core/allocate/allocation';
import { alertsQuery, alertStateCommand, analyticsQuery, apiErrorAnswer, clientAnalyticsQuery, clientView, crossSiteProblem, deviceBody, findClient, historyQuery, isJsonContentType, priorityBody, statusView, tooLarge, type BodyError } from './core/api/api';
import { InputError } from './core/contract/errors';
import type { Settings } from './core/contract/settings';
import { API_NAMES, applyLimitChange, NO_LIMITS, type DeviceLimits } from './core/contract/limits';
import { configOf, type EqualnetConfigNode } from './lib/config-node';
import { showOk } from './lib/status';
import { adapt } from './lib/adapter';
import { skipEditorFor } from './lib/skip-editor';

interface ApiDef extends NodeDef {
  config: string;
  basePath: string;
}

type Req = IncomingMessage & { params: Record<string, string>; query: Record<string, unknown>; body?: unknown; acceptsEncodings(...encodings: string[]): string | false };
type Res = ServerResponse & { status(code: number): Res; json(body: unknown): void };
type Handler = (req: Req, res: Res) => void | Promise<void>;
interface Router {
  get(path: string, handler: Handler): void;
  post(path: string, handler: Handler): void;
  use(handler: ErrorHandler): void;
  _router?: { stack: Array<{ route?: { path: string }; handle?: unknown }> };
}

const BASE_PATH = /^(\/[A-Za-z0-9_-]+)+$/;
const BODY_LIMIT = 64 * 1024;
const ANSWER_TIMEOUT_MS = 10_000;
/** Questions to usage-store waiting at once: a LAN client asking in a loop cannot grow the table. */
const MAX_PENDING = 64;

/** What a request's body turned out to be: the parsed JSON, or the refusal to answer with. */
type BodyResult = { body: unknown } | { status: number; error: string };

/** Bytes of a body Node-RED's parser has read already: the declared length, or its JSON again. */
function parsedSize(req: Req): number {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared)) return declared;
  return Buffer.byteLength(JSON.stringify(req.body ?? null) ?? '');
}

/**
 * The JSON body of a write, or why it is refused: 413 when over BODY_LIMIT (whatever its type),
 * 415 when it is not `application/json` (never parsed then), 400 when it is not valid JSON.
 * With the editor at '/' Node-RED's admin app has parsed JSON and form bodies (up to its own
 * 5 MB) before our route, and marked it `_body`; anything else is still unread and read here,
 * all of it, as body-parser does, so the client gets the answer rather than a reset connection.
 */
function readBody(req: Req): Promise<BodyResult> {
  const json = isJsonContentType(req.headers['content-type']);
  if ((req as { _body?: boolean })._body === true || req.readableEnded) {
    if (parsedSize(req) > BODY_LIMIT) return Promise.resolve(tooLarge(BODY_LIMIT));
    if (!json) return Promise.resolve(NOT_JSON);
    return Promise.resolve({ body: req.body ?? {} });
  }
  return new Promise((resolve) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // past the limit or not JSON: count and drop the rest, answer at the end
      if (size <= BODY_LIMIT && json) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > BODY_LIMIT) return resolve(tooLarge(BODY_LIMIT));
      if (!json) return resolve(NOT_JSON);
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve({ body: {} });
      try {
        resolve({ body: JSON.parse(text) });
      } catch {
        resolve({ status: 400, error: 'body: is not valid JSON' });
      }
    });
    req.on('error', () => resolve({ status: 400, error: 'body: the upload was cut off' }));
  });
}

const NOT_JSON = Object.freeze({ status: 415, error: 'body: must be JSON, sent with Content-Type: application/json' });

/** The CORS headers Node-RED's editor app puts on every answer under '/': the API sends none. */
function dropCors(res: ServerResponse): void {
  for (const header of ['Access-Control-Allow-Origin', 'Access-Control-Allow-Credentials', 'Access-Control-Expose-Headers']) res.removeHeader(header);
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
    const adapter = adapt(node, 'equalnet-api');
    const app = RED.httpNode as unknown as Router;
    const base = (def.basePath || '/api').replace(/\/+$/, '');
    const paths: string[] = [];
    const pending = new Map<string, { res: Res; timer: NodeJS.Timeout }>();
    let latest: AllocatedSnapshot | null = null;
    /** GET /clients as sent, made from `latest` (`of`) at the first request after it changed. */
    let clientsReply: { of: AllocatedSnapshot | null; body: Buffer; etag: string; gzip: Buffer | null } | null = null;
    /** GET /status as sent, for the snapshot, settings and settings source it was made from. */
    let statusReply: { of: AllocatedSnapshot | null; settings: Settings; source: unknown; body: Buffer } | null = null;
    let config: EqualnetConfigNode | null = null;

    /** Thrown when a request arrives while the config node is invalid. */
    class NotConfigured extends Error {}
    const fail = (res: Res, err: unknown) => {
      if (res.headersSent) return;
      if (err instanceof InputError) res.status(400).json({ error: err.message });
      else if (err instanceof NotConfigured) res.status(503).json({ error: err.message });
      else {
        // the detail (it may name files) goes to the log, not to whoever asked
        node.error(`${base}: ${(err as Error)?.stack ?? String(err)}`);
        res.status(500).json({ error: 'internal error: see the Node-RED log' });
      }
    };
    type Route = (req: Req, res: Res, s: Settings, body: unknown) => void | Promise<void>;
    const route = (method: 'get' | 'post', path: string, handler: Route) => {
      paths.push(base + path);
      app[method](base + path, async (req, res) => {
        try {
          dropCors(res);
          // before anything is read or changed: another site's page, then the body's size and type
          const crossSite = crossSiteProblem(req.headers);
          if (crossSite) return void res.status(403).json({ error: crossSite });
          let body: unknown;
          if (method === 'post') {
            const read = await readBody(req);
            if (!('body' in read)) return void res.status(read.status).json({ error: read.error });
            body = read.body;
          }
          // the settings in force now: a config command changes them for every node at once
          if (!config?.settings) throw new NotConfigured('the EqualNet API is not configured: see the equalnet-config node');
          await handler(req, res, config.settings, body);
        } catch (err) {
          fail(res, err);
        }
      });
    };
    const clientOr404 = (res: Res, id: string) => {
      const client = findClient(latest, id);
      if (!client) res.status(404).json({ error: `unknown client ${JSON.stringify(id)}: not on the LAN in the last snapshot` });
      return client;
    };
    /** Sends a query to usage-store (output 2) and answers the request with its reply. */
    const ask = (res: Res, query: Record<string, unknown>, topic: string = TOPIC.query) => {
      if (pending.size >= MAX_PENDING) {
        res.status(503).json({ error: `usage-store has ${MAX_PENDING} questions waiting: try again shortly` });
        return;
      }
      const id = randomUUID();
      const timer = setTimeout(() => {
        pending.delete(id);
        res.status(503).json({ error: 'usage-store did not answer: is it wired to the API node?' });
      }, ANSWER_TIMEOUT_MS);
      pending.set(id, { res, timer });
      // answerErrors: a query usage-store refuses (an unknown device, a bad field) comes back as
      // an answer with topic "error", so the request gets 404 / 400 at once rather than waiting
      node.send([null, { topic, payload: query, answerErrors: true, _equalnetApi: id } as NodeMessage]);
    };

    try {
      config = configOf(RED, def.config);
      if (!BASE_PATH.test(base)) throw new Error(`base path ${JSON.stringify(def.basePath)} must look like /api (letters, digits, _ and -)`);
      // the most asked route: its text is made once per snapshot and settings, and sent as is
      // (express's res.json would stringify it and hash it for an ETag at every request)
      route('get', '/status', (_req, res, s) => {
        const source = config!.source;
        if (!statusReply || statusReply.of !== latest || statusReply.settings !== s || statusReply.source !== source) {
          statusReply = { of: latest, settings: s, source, body: Buffer.from(JSON.stringify({ ...statusView(latest, s), mode: s.mode, settings_source: source })) };
        }
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.status(200).end(statusReply.body);
      });
      // serialised once per snapshot, however many ask; a client that has it gets 304
      // and compressed once too for a client that takes gzip (a browser; 146 kB → 6.5 kB on the
      // pipeline bench's 250 devices), rather than by the dashboard's compression middleware each time
      route('get', '/clients', (req, res) => {
        if (!clientsReply || clientsReply.of !== latest) {
          // kept as bytes: a string would be encoded again at every request (144 kB at 250 devices)
          const body = Buffer.from(JSON.stringify((latest?.clients ?? []).map(clientView)));
          clientsReply = { of: latest, body, etag: `"${createHash('sha1').update(body).digest('base64url')}"`, gzip: null };
        }
        res.setHeader('ETag', clientsReply.etag);
        res.setHeader('Cache-Control', 'no-cache');
        res.setHeader('Vary', 'Accept-Encoding');
        if (req.headers['if-none-match'] === clientsReply.etag) return void res.status(304).end();
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        if (req.acceptsEncodings('gzip', 'identity') === 'gzip') {
          clientsReply.gzip ??= gzipSync(clientsReply.body);
          res.setHeader('Content-Encoding', 'gzip');
          return void res.status(200).end(clientsReply.gzip);
        }
        res.status(200).end(clientsReply.body);
      });
      route('get', '/analytics/client/:id/:hours', (req, res) => ask(res, clientAnalyticsQuery(req.params.id, req.params.hours, latest)));
      route('get', '/history/:id', (req, res) => ask(res, historyQuery(req.params.id, req.query, latest)));
      route('get', '/analytics/:kind/:n', (req, res) => ask(res, analyticsQuery(req.params.kind, req.params.n, req.query)));
      route('get', '/alerts', (req, res) => ask(res, alertsQuery(req.query)));
      // acknowledge or clear alerts (usage-store's alert-state command; its answer: { action, changed, ids })
      route('post', '/alerts/:action', (req, res, _s, body) => ask(res, alertStateCommand(req.params.action, body), TOPIC.alertState));
      // alert delivery (recipient, MQTT topic prefix, kinds sent): kept by usage-store, applied to the next alert
      route('get', '/alert-delivery', (_req, res) => ask(res, {}, TOPIC.delivery));
      route('post', '/alert-delivery', (_req, res, _s, body) => {
        if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length === 0) {
          throw new InputError('body', 'must be a JSON object with one or more of "email", "mqttPrefix", "kinds"');
        }
        ask(res, body as Record<string, unknown>, TOPIC.delivery);
      });
      route('get', '/device/:id', (req, res) => {
        const client = clientOr404(res, req.params.id);
        if (client) res.json(clientView(client));
      });
      route('post', '/config', (_req, res, _s, body) => {
        // validated once by the config node, applied to every node at once and kept across
        // restarts; its answer (or its InputError: 400 with the reason) is ours
        const { settings: next } = config!.applyCommand(body);
        res.json({ status: 'success', total_bandwidth: next.downMbps, upload_bandwidth: next.upMbps, max_priority: next.maxPriority, min_bandwidth_percent: next.minPercent, mode: next.mode, settings_source: config!.source });
      });
      route('post', '/priority/:id', (req, res, s, body) => {
        const priority = priorityBody(body, s.maxPriority);
        const client = clientOr404(res, req.params.id);
        if (!client) return;
        // at once in the allocator, and kept in the registry so it survives restarts
        node.send([{ topic: TOPIC.priority, payload: { mac: client.mac, priority } } as NodeMessage, { topic: TOPIC.device, payload: { mac: client.mac, priority } } as NodeMessage]);
        res.json({ status: 'success', mac: client.mac, ip: client.ip ?? null, priority });
      });
      route('post', '/device/:id', (req, res, s, body) => {
        // a limit change is checked against the device's limits as the last snapshot has them
        // (usage-store adds them), e.g. "throttle" needs a throttle rate given now or kept
        const current = (findClient(latest, req.params.id)?.limits as DeviceLimits | undefined) ?? NO_LIMITS;
        const change = deviceBody(body, s.maxPriority, current);
        const client = clientOr404(res, req.params.id);
        if (!client) return;
        const toAllocator = change.priority !== undefined ? ({ topic: TOPIC.priority, payload: { mac: client.mac, priority: change.priority } } as NodeMessage) : null;
        const { limits: limitChange, ...rest } = change;
        // the limits go to usage-store, which keeps them and sends the registry on to the allocator
        node.send([toAllocator, { topic: TOPIC.device, payload: { mac: client.mac, ...rest, ...(limitChange ?? {}) } } as NodeMessage]);
        const limits = limitChange ? applyLimitChange(current, body as Record<string, unknown>, API_NAMES, '') : current;
        const view = clientView({ ...client, limits });
        res.json({ status: 'success', device: { ...view, friendly_name: change.name === undefined ? view.friendly_name : (change.name ?? client.hostname ?? client.mac), priority: change.priority ?? view.priority } });
      });
      showOk(node, `serving ${base}/…`);
    } catch (err) {
      config = null;
      adapter.setupFailed(err);
    }

    node.on('input', (msg, _send, done) => {
      const id = (msg as { _equalnetApi?: string })._equalnetApi;
      if (id) {
        const waiting = pending.get(id);
        if (waiting) {
          clearTimeout(waiting.timer);
          pending.delete(id);
          if (msg.topic === 'error') {
            // usage-store refused the query: a device it has never seen is 404, the rest 400
            const answer = msg.payload as { error?: unknown; notFound?: unknown };
            waiting.res.status(answer?.notFound === true ? 404 : 400).json({ error: String(answer?.error ?? 'query refused') });
          } else waiting.res.json(msg.payload);
        }
        done();
        return;
      }
      // usage-store's second output also carries reports and device results: not for us
      if (msg.topic !== TOPIC.snapshot) {
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

    // Errors under our paths are answered in JSON with a fixed reason (see apiErrorAnswer), never
    // with express's HTML page (a stack trace with the install's paths). Two places raise them:
    // the editor's admin app, whose body parser runs first with the editor at '/' (the parent of
    // the RED.httpAdmin nodes get, the runtime's, mounted into it: an error there only reaches
    // error handlers of that app or its parents; Node-RED's http-in node walks the same `parent`
    // chain for its raw-body middleware), and httpNode itself, which decodes our route's
    // parameters (a malformed %-escape).
    const runtimeAdmin = RED.httpAdmin as unknown as (AdminApp & { parent?: AdminApp }) | undefined;
    const admin = runtimeAdmin?.parent ?? runtimeAdmin;
    const apiErrors: ErrorHandler = (err, req, res, next) => {
      const path = (req.originalUrl ?? req.url ?? '').split('?')[0];
      if (!(path === base || path.startsWith(base + '/')) || res.headersSent) return next(err);
      const answer = apiErrorAnswer(err);
      if (answer.status >= 500) node.error(`${base}: ${err?.stack ?? String(err)}`);
      dropCors(res);
      res.status(answer.status).json({ error: answer.error });
    };
    admin?.use?.(apiErrors);
    app.use?.(apiErrors);
    const skipAdmin = skipEditorFor(admin as never, base);

    adapter.onClose(() => {
      removeLayers(admin?._router?.stack, (layer) => layer.handle === apiErrors || layer.handle === skipAdmin);
      removeLayers(app._router?.stack, (layer) => layer.handle === apiErrors || (layer.route !== undefined && paths.includes(layer.route.path)));
      for (const { res, timer } of pending.values()) {
        clearTimeout(timer);
        res.status(503).json({ error: 'the flow is being redeployed' });
      }
      pending.clear();
    });
  }
  RED.nodes.registerType('equalnet-api', EqualnetApi);
};
