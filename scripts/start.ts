// `npm start`: Node-RED 4.1 with EqualNet and node-red-dashboard, a user directory inside the
// project (.node-red/, gitignored) and the default flow from flows/ deployed. Dry-run throughout.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { nodeRedArgs, prepareHome, PROJECT_ROOT } from './node-red-home';

const port = Number(process.env.PORT ?? 1880);
const userDir = process.env.EQUALNET_USER_DIR ?? join(PROJECT_ROOT, '.node-red');
const home = prepareHome(userDir, port);

console.log(`EqualNet: Node-RED user directory ${home.userDir}`);
console.log(
  home.createdFlow
    ? 'EqualNet: deployed the default flow from flows/default.json'
    : 'EqualNet: kept the existing flows.json (delete it to get the shipped default flow back)',
);
console.log(`EqualNet: editor    http://127.0.0.1:${port}/`);
console.log(`EqualNet: dashboard http://127.0.0.1:${port}/ui/`);

const child = spawn(process.execPath, nodeRedArgs(userDir, port), { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
