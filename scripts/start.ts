// `npm start`: Node-RED 4.1 with EqualNet and node-red-dashboard, a user directory inside the
// project (.node-red/, gitignored) and the default flow from flows/ deployed. Dry-run throughout.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ifaceNameProblem } from '../nodes/core/iface';
import { nodeRedArgs, prepareHome, PROJECT_ROOT } from './node-red-home';

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

const port = Number(process.env.PORT ?? 1880);
const userDir = process.env.EQUALNET_USER_DIR ?? join(PROJECT_ROOT, '.node-red');
const iface = lanIface();
const home = prepareHome(userDir, port, iface);

console.log(`EqualNet: Node-RED user directory ${home.userDir}`);
console.log(
  home.createdFlow
    ? `EqualNet: deployed the default flow from flows/default.json, LAN interface "${iface || '(none found: choose one in the config node)'}", dry-run, passive discovery`
    : 'EqualNet: kept the existing flows.json (delete it to get the shipped default flow back)',
);
console.log(`EqualNet: editor    http://127.0.0.1:${port}/`);
console.log(`EqualNet: dashboard http://127.0.0.1:${port}/ui/`);

const child = spawn(process.execPath, nodeRedArgs(userDir, port), { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
