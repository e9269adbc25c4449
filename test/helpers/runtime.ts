/**
 * A real Node-RED process, started the way a user starts it, and the two things a user looks at:
 * the admin HTTP API (what the editor loads) and the comms websocket (status under each node,
 * the debug sidebar).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import WebSocket from 'ws';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export interface RunningNodeRed {
  port: number;
  log(): string;
  stop(): Promise<void>;
}

/** Spawns `argv` and resolves once Node-RED logs "Started flows"; rejects with the log otherwise. */
export async function startNodeRed(argv: string[], port: number, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<RunningNodeRed> {
  const child: ChildProcess = spawn(process.execPath, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (!/Started flows/.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`Node-RED did not start (exit ${child.exitCode}):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, log: () => log, stop };
}

export async function adminGet<T = unknown>(port: number, path: string, accept = 'application/json'): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { Accept: accept } });
  const text = await res.text();
  return { status: res.status, body: (accept === 'application/json' ? JSON.parse(text) : text) as T };
}

/**
 * Switches a debug node on, as its button in the editor does (POST /debug/:id/enable). The
 * default flow's debug nodes are off: an active one encodes every message it gets, 250 clients
 * or not, even with no editor open.
 */
export async function enableDebug(port: number, id: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/debug/${encodeURIComponent(id)}/enable`, { method: 'POST' });
  if (res.status !== 200) throw new Error(`enabling debug node ${id}: HTTP ${res.status} ${await res.text()}`);
}

export interface CommsEvent {
  topic: string;
  data: any;
}

/** Collects comms events (status/<id>, debug) until `until` returns true for one, or times out. */
export function watchComms(port: number, until: (e: CommsEvent) => boolean, timeoutMs = 15_000, onSubscribed?: () => void): Promise<CommsEvent[]> {
  return new Promise((resolve, reject) => {
    const seen: CommsEvent[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${port}/comms`);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`comms: condition not met in ${timeoutMs} ms; saw ${seen.map((e) => e.topic).join(', ')}`));
    }, timeoutMs);
    ws.on('open', () => ws.send(JSON.stringify({ subscribe: '#' }), () => onSubscribed?.()));
    ws.on('message', (data) => {
      for (const event of JSON.parse(String(data)) as CommsEvent[]) {
        seen.push(event);
        if (until(event)) {
          clearTimeout(timer);
          ws.terminate();
          resolve(seen);
          return;
        }
      }
    });
    ws.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Log lines a user would worry about: errors, and nodes the runtime could not find. */
export function worrying(log: string): string[] {
  return log.split('\n').filter((line) => /\[error\]|Waiting for missing types|missing types|Unknown type|TypeError/.test(line));
}
