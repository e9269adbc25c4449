// `npm start` (and the systemd unit): Node-RED 4.1 with EqualNet and node-red-dashboard, a user
// directory (.node-red/ in a clone, $EQUALNET_USER_DIR otherwise), the settings EqualNet writes and
// the default flow deployed. Dry-run throughout. Loopback only unless EQUALNET_HOST says otherwise,
// and then only with a login (`npm run password`).
import { execFileSync, spawn } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ifaceNameProblem } from '../nodes/core/contract/iface';
import { hostProblem, isLoopbackHost, nodeEnv, nodeFlags, nodeRedArgs, prepareHome, PROJECT_ROOT, type SettingsStatus } from './node-red-home';

/**
 * The LAN interface for a machine we know nothing about: $EQUALNET_IFACE, else the interface of
 * the default route (on a single-homed machine, the one its neighbours are on). Only read.
 */
function lanIface(): string {
  const chosen = process.env.EQUALNET_IFACE;
  if (chosen !== undefined) {
    const problem = ifaceNameProblem(chosen);
    if (problem) throw new Error(`EQUALNET_IFACE ${problem}`);
    return chosen;
  }
  try {
    const routes = JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' })) as Array<{ dev?: string }>;
    const dev = routes.find((r) => r.dev && !ifaceNameProblem(r.dev))?.dev;
    return dev ?? '';
  } catch {
    return '';
  }
}

interface LoadedSettings {
  uiHost?: string;
  uiPort?: number | string;
  adminAuth?: unknown;
  httpNodeAuth?: unknown;
}

function fail(message: string): never {
  console.error(`EqualNet: ${message}`);
  process.exit(1);
}

/** The URLs a user can open for a bind address: the address itself, or each of this machine's for a wildcard. */
function urlsFor(host: string, port: number): string[] {
  const url = (address: string) => `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
  if (host !== '0.0.0.0' && host !== '::') return [url(host)];
  const addresses = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && (host === '::' || a.family === 'IPv4') && !(a.family === 'IPv6' && a.address.startsWith('fe80')))
    .map((a) => a!.address);
  return addresses.map(url);
}

const port = Number(process.env.PORT ?? 1880);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`PORT must be a port number (1..65535), got ${JSON.stringify(process.env.PORT)}`);
if (process.env.EQUALNET_HOST !== undefined) {
  const problem = hostProblem(process.env.EQUALNET_HOST.trim());
  if (problem) fail(`EQUALNET_HOST ${problem}`);
}
const userDir = process.env.EQUALNET_USER_DIR ?? join(PROJECT_ROOT, '.node-red');
let iface = '';
try {
  iface = lanIface();
} catch (err) {
  fail((err as Error).message);
}
const home = prepareHome(userDir, port, iface);
const settingsFile = join(home.userDir, 'settings.js');

// Load the settings as Node-RED will: EqualNet's own refuses here (with the reason) to listen
// beyond loopback without a login; a file the user edited is only checked and warned about.
let settings: LoadedSettings;
let checked = true;
try {
  settings = require(settingsFile) as LoadedSettings;
} catch (err) {
  const message = `${(err as Error).message.replace(/^EqualNet: /, '')} (${settingsFile})`;
  if (home.settings !== 'modified') fail(message);
  // the user's own file may need what only Node-RED provides: Node-RED will say if it fails
  console.warn(`EqualNet: WARNING: could not check ${settingsFile} (${(err as Error).message}); who can reach Node-RED is up to it`);
  settings = {};
  checked = false;
}
const bindHost = String(settings.uiHost || '0.0.0.0'); // Node-RED's own default when uiHost is unset
const listenPort = port; // start passes --port, which wins over the settings' uiPort
const loggedIn = Boolean(settings.adminAuth);

const settingsNote: Record<SettingsStatus, string> = {
  created: 'wrote settings.js',
  updated: 'brought settings.js up to date (it was an unmodified older one of EqualNet\'s)',
  kept: 'settings.js is current',
  modified: 'settings.js was edited: kept as it is',
};
console.log(`EqualNet: Node-RED user directory ${home.userDir} (${settingsNote[home.settings]})`);
console.log(
  home.createdFlow
    ? `EqualNet: deployed the default flow from flows/default.json, LAN interface "${iface || '(none found: choose one in the config node)'}", dry-run, passive discovery`
    : 'EqualNet: kept the existing flows.json (delete it to get the shipped default flow back)',
);
if (checked && !isLoopbackHost(bindHost)) {
  if (!loggedIn) {
    console.warn(`EqualNet: WARNING: ${settingsFile} makes Node-RED listen on ${bindHost} WITHOUT a login: anyone who can reach port ${listenPort} can run commands as ${process.env.USER ?? 'this user'}. Set adminAuth, or remove uiHost and use EQUALNET_HOST with \`npm run password\`.`);
  } else if (!settings.httpNodeAuth) {
    console.warn(`EqualNet: WARNING: ${settingsFile} has no httpNodeAuth: the dashboard (/ui) and the API (/api) answer anyone who can reach port ${listenPort}.`);
  }
}
const wildcard = bindHost === '0.0.0.0' || bindHost === '::';
if (checked) console.log(
  `EqualNet: listening on ${bindHost} port ${listenPort}` +
    (wildcard ? ` (every ${bindHost === '::' ? '' : 'IPv4 '}address of this machine)` : '') +
    (loggedIn ? ', login required' : isLoopbackHost(bindHost) ? ', this machine only, no login' : ''),
);
if (checked) for (const base of urlsFor(bindHost === 'localhost' ? '127.0.0.1' : bindHost, listenPort)) {
  console.log(`EqualNet: editor    ${base}`);
  console.log(`EqualNet: dashboard ${base}ui/`);
}

const child = spawn(process.execPath, [...nodeFlags(), ...nodeRedArgs(userDir, port)], { stdio: 'inherit', env: { NODE_ENV: 'production', ...nodeEnv() } });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
