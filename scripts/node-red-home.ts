/**
 * A Node-RED user directory for EqualNet: settings, the package linked in, the default flow.
 * Used by `npm start` (scripts/start.ts) and by the runtime tests, so both start Node-RED the
 * same way.
 */
import { existsSync, readFileSync, lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..');
export const PACKAGE_NAME = 'node-red-contrib-equalnet';

export function settingsSource(port: number): string {
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

export function writeIfMissing(path: string, content: string): boolean {
  if (existsSync(path)) return false;
  writeFileSync(path, content);
  return true;
}

/** Makes userDir/node_modules/node-red-contrib-equalnet a link to this checkout, as `npm link` would. */
export function linkPackage(userDir: string): void {
  const modules = join(userDir, 'node_modules');
  mkdirSync(modules, { recursive: true });
  const link = join(modules, PACKAGE_NAME);
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
}

/**
 * Idempotent: a second call changes nothing that is already there. `lanIface`, when given, goes
 * into the config node of a newly deployed default flow.
 */
export function prepareHome(userDir: string, port: number, lanIface = '', flowSource = join(PROJECT_ROOT, 'flows', 'default.json')): PreparedHome {
  mkdirSync(userDir, { recursive: true });
  writeIfMissing(join(userDir, 'settings.js'), settingsSource(port));
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
  return { userDir, createdFlow };
}

/** argv to start Node-RED 4.1 from this project's dependencies on a user directory. */
export function nodeRedArgs(userDir: string, port: number): string[] {
  return [require.resolve('node-red/red.js'), '--userDir', userDir, '--port', String(port), '--settings', join(userDir, 'settings.js')];
}
