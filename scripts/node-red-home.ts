/**
 * A Node-RED user directory for EqualNet: settings, the package linked in, the default flow.
 * Used by `npm start` (scripts/start.ts), by the systemd unit (which runs the same script from the
 * installed package) and by the runtime tests, so all of them start Node-RED the same way.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, lstatSync, mkdirSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP, isIPv4 } from 'node:net';
import { delimiter, join, relative, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..');
export const PACKAGE_NAME = 'node-red-contrib-equalnet';
/** The login `npm run password` writes (user name and bcrypt hash), in the user directory, mode 0600. */
export const CREDENTIALS_FILE = 'equalnet-credentials.json';
/** Bumped whenever settingsSource changes, so an unmodified older file is replaced. */
export const SETTINGS_VERSION = 2;
const CHECKSUM_PREFIX = '// equalnet-settings-checksum: sha256:';

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The settings.js EqualNet writes. Self-contained (Node's own modules only, bcryptjs and cors from
 * the Node-RED that loads it), so it works in any Node-RED 4.1 whatever else is installed:
 * - listens on 127.0.0.1 unless EQUALNET_HOST names another address;
 * - reads the login from equalnet-credentials.json and refuses to load beyond loopback without one;
 * - the login protects the editor and admin API (adminAuth), and the dashboard, its socket and
 *   the /api routes (httpNodeAuth, ui.ioMiddleware);
 * - no cross-origin access: Node-RED's hard-coded `Access-Control-Allow-Origin: *` on the admin
 *   app is switched off, writes with a foreign Origin are refused, and without a login only a
 *   loopback Host header is accepted (DNS rebinding);
 * - palette install, telemetry and its update prompt off; Express errors without stack traces.
 * The last line is a checksum of the rest: while it matches, the file is EqualNet's and a newer
 * version replaces it; once edited it is the user's and is kept.
 */
export function settingsSource(port: number): string {
  const body = `// Node-RED settings written by EqualNet (settings version ${SETTINGS_VERSION}).
// While this file is unchanged (the checksum on its last line matches), EqualNet's start script
// replaces it with newer versions. Once you edit it, it is yours: it is never overwritten, and
// the start script only warns if it leaves Node-RED reachable beyond loopback without a login.
// What each part protects: docs/security.md of node-red-contrib-equalnet.
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');
const crypto = require('crypto');
const { createRequire } = require('module');

function isLoopback(host) {
    return host === 'localhost' || host === '::1' || (net.isIPv4(host) && host.split('.')[0] === '127');
}

// Where to listen: loopback unless EQUALNET_HOST says otherwise (0.0.0.0 or :: for every address).
const host = (process.env.EQUALNET_HOST || '127.0.0.1').trim();
if (!isLoopback(host) && !net.isIP(host)) {
    throw new Error('EQUALNET_HOST must be an IP address (127.0.0.1, 0.0.0.0, ::, 192.168.1.1), got ' + JSON.stringify(host));
}

// The login written by \`npm run password\`: { "user": "...", "hash": "<bcrypt>" }, owner-only.
const credentialsFile = path.join(__dirname, '${CREDENTIALS_FILE}');
function readLogin() {
    let stat;
    try {
        stat = fs.statSync(credentialsFile);
    } catch (err) {
        if (err.code === 'ENOENT') return null;
        throw err;
    }
    if (stat.mode & 0o077) {
        throw new Error(credentialsFile + ' can be read by other users (mode ' + (stat.mode & 0o777).toString(8) + '): chmod 600 it');
    }
    let login;
    try {
        login = JSON.parse(fs.readFileSync(credentialsFile, 'utf8'));
    } catch (err) {
        throw new Error(credentialsFile + ' is not valid JSON (' + err.message + '): run \`npm run password\` again');
    }
    if (!login || typeof login.user !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(login.user) ||
        typeof login.hash !== 'string' || !/^\\$2[aby]\\$\\d\\d\\$[./A-Za-z0-9]{53}$/.test(login.hash)) {
        throw new Error(credentialsFile + ' does not hold a user and a bcrypt hash: run \`npm run password\` again');
    }
    return login;
}
const login = readLogin();
if (!login && !isLoopback(host)) {
    throw new Error('EqualNet: refusing to listen on ' + host + ' without a login. Set one with \`npm run password\` ' +
        '(or: node node_modules/${PACKAGE_NAME}/scripts/password.js --user-dir ' + __dirname + '), then start again.');
}

// Modules of the Node-RED that loads this file (red.js), wherever it is installed.
function fromNodeRed(name) {
    try {
        return createRequire(require.main.filename)(name);
    } catch (err) {
        return require(name);
    }
}

// Node-RED's editor-api answers every origin with Access-Control-Allow-Origin: * (it calls
// cors({ origin: "*", methods: "GET,PUT,POST,DELETE" }) unconditionally, before any setting is
// consulted). Turn exactly that call into a no-op: same-origin use is unaffected, other sites get
// no CORS grant. An httpAdminCors/httpNodeCors you set yourself still applies.
(function noWildcardAdminCors() {
    if (!require.main || path.basename(require.main.filename) !== 'red.js') return; // not loaded by Node-RED
    try {
        const fromRed = createRequire(require.main.filename);
        const fromEditorApi = createRequire(fromRed.resolve('@node-red/editor-api'));
        const corsPath = fromEditorApi.resolve('cors');
        const cors = fromEditorApi('cors');
        if (cors.equalnetNoWildcard) return;
        const guarded = function (options) {
            if (options && options.origin === '*' && options.methods === 'GET,PUT,POST,DELETE') return cors({ origin: false });
            return cors.apply(this, arguments);
        };
        guarded.equalnetNoWildcard = true;
        require.cache[corsPath].exports = guarded;
    } catch (err) {
        console.warn('EqualNet: could not switch off the admin CORS wildcard: ' + err.message);
    }
})();

function hostnameOf(hostHeader) {
    const value = String(hostHeader || '').toLowerCase();
    const v6 = /^\\[([^\\]]+)\\](?::\\d+)?$/.exec(value);
    return v6 ? v6[1] : value.replace(/:\\d+$/, '');
}

// Without a login, only requests addressed to loopback are served: a web page that rebinds its
// own name to 127.0.0.1 (DNS rebinding) sends its own name as Host and is refused.
function hostAllowed(req) {
    return !!login || isLoopback(hostnameOf(req.headers.host));
}

// A browser names the page that sent a request in Origin; a write from another site is refused.
function foreignOrigin(req) {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    try {
        return new URL(origin).host.toLowerCase() !== String(req.headers.host || '').toLowerCase();
    } catch (err) {
        return true; // "null" (sandboxed frames, files) or garbage
    }
}

// refusals in JSON, as every error of EqualNet's API is
function refuse(res, status, text) {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({ error: text }) + '\\n');
}

function guard(req, res, next) {
    if (!hostAllowed(req)) return refuse(res, 403, 'Host not allowed: without a login, open this from the machine itself (127.0.0.1)');
    if (!['GET', 'HEAD', 'OPTIONS'].includes(req.method) && foreignOrigin(req)) {
        // worded as EqualNet's API words it
        return refuse(res, 403, 'request: comes from a page on another site (Origin ' + JSON.stringify(String(req.headers.origin).slice(0, 200)) + ' is not this host)');
    }
    next();
}

// Basic auth for the dashboard and the API with the same login. bcrypt is slow by design, so the
// last accepted Authorization header is remembered (as a digest) as Node-RED does for its own.
let bcrypt = null;
let acceptedDigest = null;
function basicAuthOk(header) {
    if (!login) return true;
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(String(header || ''));
    if (!match) return false;
    const digest = crypto.createHash('sha256').update(match[1]).digest('hex');
    if (digest === acceptedDigest) return true;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0 || decoded.slice(0, colon) !== login.user) return false;
    bcrypt = bcrypt || fromNodeRed('bcryptjs');
    if (!bcrypt.compareSync(decoded.slice(colon + 1), login.hash)) return false;
    acceptedDigest = digest;
    return true;
}

function httpNodeGuard(req, res, next) {
    guard(req, res, function () {
        if (basicAuthOk(req.headers.authorization)) return next();
        res.setHeader('WWW-Authenticate', 'Basic realm="EqualNet", charset="UTF-8"');
        refuse(res, 401, 'Unauthorized');
    });
}

module.exports = {
    uiPort: process.env.PORT || ${port},
    uiHost: host,
    flowFile: 'flows.json',
    flowFilePretty: true,
    // priorities and other node state survive restarts
    contextStorage: { default: { module: 'localfilesystem' } },
    logging: { console: { level: 'info', metrics: false, audit: false } },
    // the editor and admin API: a login when one is set, same-origin and loopback Host otherwise
    adminAuth: login ? { type: 'credentials', users: [{ username: login.user, password: login.hash, permissions: '*' }] } : undefined,
    httpAdminMiddleware: guard,
    // everything on Node-RED's HTTP node app (the dashboard at /ui, EqualNet's /api): the same
    httpNodeAuth: httpNodeGuard,
    // Express answers errors with the status text, not a stack trace
    httpServerOptions: { env: 'production' },
    editorTheme: { projects: { enabled: false }, tours: false },
    // no reporting home and no "update available" prompt in the editor
    telemetry: { enabled: false, updateNotification: false },
    ui: {
        path: 'ui',
        // the dashboard's socket.io bypasses Express: the same checks for it
        ioMiddleware: function (socket, next) {
            const req = socket.request;
            if (!hostAllowed(req) || foreignOrigin(req)) return next(new Error('Forbidden'));
            if (!basicAuthOk(req.headers.authorization)) return next(new Error('Unauthorized'));
            next();
        }
    },
    functionExternalModules: false,
    // the editor cannot install or upload npm packages (they would run as this user)
    externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false } }
};
`;
  return `${body}${CHECKSUM_PREFIX}${sha256(body)}\n`;
}

/** The settings.js that EqualNet 0.1 wrote (no version marker), to recognise an unmodified one. */
function legacySettingsSource(port: string): string {
  return `// Node-RED settings written by EqualNet's \`npm start\`; edit freely, it is not overwritten.
module.exports = {
    uiPort: process.env.PORT || ${port},
    flowFile: 'flows.json',
    flowFilePretty: true,
    // priorities and other node state survive restarts
    contextStorage: { default: { module: 'localfilesystem' } },
    logging: { console: { level: 'info', metrics: false, audit: false } },
    editorTheme: { projects: { enabled: false }, tours: false },
    ui: { path: 'ui' },
    functionExternalModules: false,
    externalModules: { palette: { allowInstall: true } }
};
`;
}

export type SettingsOrigin = 'current' | 'outdated' | 'modified';

/** Whether a settings.js is EqualNet's current one, an unmodified older one of EqualNet's, or the user's. */
export function settingsOrigin(text: string): SettingsOrigin {
  const at = text.lastIndexOf(CHECKSUM_PREFIX);
  if (at >= 0) {
    const body = text.slice(0, at);
    const sum = text.slice(at + CHECKSUM_PREFIX.length).trim();
    if (sum !== sha256(body) || !text.endsWith('\n')) return 'modified';
    const version = /settings version (\d+)\)/.exec(body);
    return version && Number(version[1]) === SETTINGS_VERSION ? 'current' : 'outdated';
  }
  const port = /uiPort: process\.env\.PORT \|\| (\d+),/.exec(text)?.[1];
  return port !== undefined && text === legacySettingsSource(port) ? 'outdated' : 'modified';
}

export type SettingsStatus = 'created' | 'updated' | 'kept' | 'modified';

/**
 * Writes settings.js if missing, replaces an unmodified older one of EqualNet's, keeps the
 * user's own. Returns what it did.
 */
export function writeSettings(userDir: string, port: number): SettingsStatus {
  const file = join(userDir, 'settings.js');
  if (!existsSync(file)) {
    writeFileSync(file, settingsSource(port));
    return 'created';
  }
  const origin = settingsOrigin(readFileSync(file, 'utf8'));
  if (origin === 'outdated') {
    writeFileSync(file, settingsSource(port));
    return 'updated';
  }
  return origin === 'current' ? 'kept' : 'modified';
}

export function writeIfMissing(path: string, content: string): boolean {
  if (existsSync(path)) return false;
  writeFileSync(path, content);
  return true;
}

/**
 * Makes userDir/node_modules/node-red-contrib-equalnet a link to this checkout, as `npm link`
 * would. When this package is itself installed in that directory (a router install), nothing.
 */
export function linkPackage(userDir: string): void {
  const modules = join(userDir, 'node_modules');
  const link = join(modules, PACKAGE_NAME);
  if (existsSync(link) && realpathSync(link) === realpathSync(PROJECT_ROOT)) return;
  if (!relative(realpathSync(userDir), realpathSync(PROJECT_ROOT)).startsWith('..')) {
    throw new Error(`${PROJECT_ROOT} is inside the user directory ${userDir} but not at ${link}`);
  }
  mkdirSync(modules, { recursive: true });
  try {
    if (lstatSync(link).isSymbolicLink() && resolve(modules, readlinkSync(link)) === PROJECT_ROOT) return;
    rmSync(link, { recursive: true, force: true });
  } catch {
    // not there yet
  }
  symlinkSync(PROJECT_ROOT, link, 'dir');
}

export interface PreparedHome {
  userDir: string;
  createdFlow: boolean;
  settings: SettingsStatus;
}

/**
 * Idempotent: a second call changes nothing that is already there. `lanIface`, when given, goes
 * into the config node of a newly deployed default flow.
 */
export function prepareHome(userDir: string, port: number, lanIface = '', flowSource = join(PROJECT_ROOT, 'flows', 'default.json')): PreparedHome {
  mkdirSync(userDir, { recursive: true });
  const settings = writeSettings(userDir, port);
  writeIfMissing(
    join(userDir, 'package.json'),
    JSON.stringify({ name: 'equalnet-node-red-home', description: 'Node-RED user directory for EqualNet', private: true }, null, 2) + '\n',
  );
  linkPackage(userDir);
  const flowFile = join(userDir, 'flows.json');
  const createdFlow = !existsSync(flowFile);
  if (createdFlow) {
    const flow = JSON.parse(readFileSync(flowSource, 'utf8')) as Array<Record<string, unknown>>;
    for (const node of flow) if (node.type === 'equalnet-config' && lanIface) node.iface = lanIface;
    writeFileSync(flowFile, JSON.stringify(flow, null, 2) + '\n');
  }
  return { userDir, createdFlow, settings };
}

/**
 * Node-RED's red.js: $EQUALNET_NODE_RED, else this project's own (a clone: the devDependency),
 * else the `node-red` command on PATH (a router: Node-RED installed in its own prefix).
 */
export function nodeRedEntry(): string {
  const chosen = process.env.EQUALNET_NODE_RED;
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`EQUALNET_NODE_RED: ${chosen} does not exist`);
    return chosen;
  }
  try {
    return require.resolve('node-red/red.js');
  } catch {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      const candidate = join(dir, 'node-red');
      try {
        if (statSync(candidate).isFile()) return realpathSync(candidate);
      } catch {
        // not in this directory
      }
    }
  }
  throw new Error('Node-RED not found: install it (npm install -g node-red@4.1) or set EQUALNET_NODE_RED to its red.js');
}

/** A module of the Node-RED that EqualNet runs (bcryptjs for the password script). */
export function requireFromNodeRed<T = unknown>(name: string): T {
  try {
    return require(name) as T;
  } catch {
    return createRequire(nodeRedEntry())(name) as T;
  }
}

/** argv to start Node-RED 4.1 on a user directory. */
/**
 * V8 flags for the Node-RED process EqualNet starts (`npm start`, the systemd unit, the demo, the
 * pipeline bench): none by default. Measured (bench/pipeline, 250 devices): capping the young
 * generation (--max-semi-space-size=2) kept it at 4 MB instead of 32 MB, but what a tick makes was
 * then promoted and the old generation grew to 130 MB before a full GC: RSS 219 MB against 170 MB
 * without. $EQUALNET_NODE_FLAGS sets them (space separated), for such comparisons.
 */
/**
 * What Node-RED's process gets in its environment besides the caller's (npm start, and the
 * systemd unit through it; the benches): glibc's malloc keeps at most two arenas. By default each
 * thread that allocates (V8's collector and compiler threads, libuv's pool) gets an arena of its
 * own, and what they freed stays in the process: 15 MB of RSS at 250 devices that two arenas do
 * not keep (docs/performance.md). A value set by the caller wins.
 */
export function nodeEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { MALLOC_ARENA_MAX: '2', ...env };
}

export function nodeFlags(): string[] {
  return (process.env.EQUALNET_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

export function nodeRedArgs(userDir: string, port: number): string[] {
  return [nodeRedEntry(), '--userDir', userDir, '--port', String(port), '--settings', join(userDir, 'settings.js')];
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIPv4(host) && host.split('.')[0] === '127');
}

/** $EQUALNET_HOST checked as the settings file checks it; undefined when unset. */
export function hostProblem(host: string): string | undefined {
  return isLoopbackHost(host) || isIP(host) ? undefined : `must be an IP address (127.0.0.1, 0.0.0.0, ::, 192.168.1.1), got ${JSON.stringify(host)}`;
}
