/**
 * The dashboard example (examples/10-dashboard.json) on a real Node-RED started from this project,
 * and Debian's Chromium (driven by playwright-core) looking at /ui the way a user does. Shared by
 * the dashboard specs under test/runtime/. CI installs the chromium package; without
 * /usr/bin/chromium a spec using this fails, it does not skip.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { nodeRedArgs, prepareHome, PROJECT_ROOT } from '../../scripts/node-red-home';
import { freePort, startNodeRed, type RunningNodeRed } from './runtime';

export const CHROMIUM = '/usr/bin/chromium';
export type FlowNode = { id: string; type: string; name?: string; [key: string]: unknown };
/** examples/10-dashboard.json as built (npm run build). */
export const DASHBOARD_FLOW = JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples', '10-dashboard.json'), 'utf8')) as FlowNode[];
/** The dashboard's pages, in their order: /ui/#!/<index>. */
export const PAGES = DASHBOARD_FLOW.filter((n) => n.type === 'ui_tab').map((n) => String(n.name));
/** The path of page `name`: /ui/#!/<index>. */
export function pagePath(name: string): string {
  const i = PAGES.indexOf(name);
  assert.ok(i >= 0, `no dashboard page "${name}" in the example (pages: ${PAGES.join(', ')})`);
  return `/ui/#!/${i}`;
}

/** Polls `read` until `ok`: the pipeline and the dashboard's socket are asynchronous. */
export async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch {
      // not rendered yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${ms} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface Dashboard {
  /** http://127.0.0.1:<port> */
  base: string;
  /** Node-RED's user directory (settings, the SQLite file equalnet-dashboard-example.db). */
  userDir: string;
  /** Screenshots go here, outside the project. */
  shots: string;
  /** The running Node-RED; replaced by restart(). */
  nodeRed: RunningNodeRed;
  browser: Browser;
  /** The browser tab; replaced by restart(). */
  page: Page;
  /** Loads page `name` afresh (the dashboard does not follow a change of the hash alone) and waits for its title. */
  open(name: string): Promise<void>;
  /** A request to the example's HTTP API (/api/...), its status and JSON body. */
  api(path: string, init?: RequestInit): Promise<{ status: number; body: any }>;
  /** Stops Node-RED, starts it again on the same user directory and port, opens a new tab. */
  restart(): Promise<void>;
  /** Closes the browser, stops Node-RED, removes the user directory (not the screenshots). */
  close(): Promise<void>;
}

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const VIEWPORT = { width: 1400, height: 900 };

/**
 * Starts Node-RED on `flow` (by default the dashboard example) in a new user directory and
 * Chromium with one tab. `name` prefixes the temporary directories.
 */
export async function startDashboard(name = 'equalnet-dashboard', flow: FlowNode[] = DASHBOARD_FLOW): Promise<Dashboard> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); this test drives it with playwright-core`);
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const shots = mkdtempSync(join(tmpdir(), `${name}-shots-`));
  const flowFile = join(dir, 'flow.json');
  writeFileSync(flowFile, JSON.stringify(flow));
  const port = await freePort();
  const userDir = join(dir, 'user');
  prepareHome(userDir, port, '', flowFile);
  let nodeRed: RunningNodeRed | undefined;
  let browser: Browser | undefined;
  try {
    nodeRed = await startNodeRed(nodeRedArgs(userDir, port), port);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: VIEWPORT });
    const base = `http://127.0.0.1:${port}`;
    const d: Dashboard = {
      base,
      userDir,
      shots,
      nodeRed,
      browser,
      page,
      async open(pageName: string) {
        await d.page.goto('about:blank');
        await d.page.goto(base + pagePath(pageName));
        await d.page.locator('md-toolbar').getByText(pageName, { exact: true }).first().waitFor({ timeout: 10_000 });
      },
      async api(path: string, init?: RequestInit) {
        const res = await fetch(base + path, init);
        return { status: res.status, body: (await res.json()) as any };
      },
      async restart() {
        // the page of the Node-RED that stops goes with it: a new one for the restarted
        await d.page.close();
        await d.nodeRed.stop();
        d.nodeRed = await startNodeRed(nodeRedArgs(userDir, port), port);
        d.page = await d.browser.newPage({ viewport: VIEWPORT });
      },
      async close() {
        await d.browser.close();
        await d.nodeRed.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
    return d;
  } catch (err) {
    await browser?.close();
    await nodeRed?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Like restart(), with `whileStopped` run between the stop and the start (e.g. rows written into
 * the example's SQLite file, userDir/equalnet-dashboard-example.db, while no one has it open).
 */
export async function restartWith(d: Dashboard, whileStopped: () => void): Promise<void> {
  const port = d.nodeRed.port;
  await d.page.close();
  await d.nodeRed.stop();
  whileStopped();
  d.nodeRed = await startNodeRed(nodeRedArgs(d.userDir, port), port);
  d.page = await d.browser.newPage({ viewport: VIEWPORT });
}
