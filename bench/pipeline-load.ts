/**
 * The pipeline bench's clients of the Node-RED under test: an HTTP load generator
 * (autocannon, in a process of its own) and a dashboard
 * client on the /ui socket that counts what the dashboard sends it.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import WebSocket from 'ws';

export interface LoadResult {
  path: string;
  connections: number;
  seconds: number;
  requests: number;
  /** Answers other than 200, by status ("error" for a failed request). */
  others: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  perSecond: number;
  /** Body bytes of one 200 answer (the last one). */
  replyBytes: number;
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** One GET, for what a 200 answer weighs (autocannon counts headers in its bytes). */
function bodyBytes(port: number, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Accept: 'application/json' } }, (res) => {
      let bytes = 0;
      res.on('data', (b: Buffer) => (bytes += b.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

interface AutocannonJson {
  latency: { p50: number; p99: number; max: number };
  requests: { total: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
  [status: `${number}xx`]: number;
}

/**
 * `connections` keep-alive connections, each sending GET `path` again as soon as the answer is
 * read, for `seconds`: autocannon (its command, in a process of its own, so the load generator's
 * work is not counted in the latency it measures, and not in this bench's event loop either).
 * Latency: from the request's start to the answer's last byte.
 */
export async function httpLoad(port: number, path: string, connections: number, seconds: number): Promise<LoadResult> {
  const one = await bodyBytes(port, path);
  const bin = require.resolve('autocannon/autocannon.js');
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, '-j', '-c', String(connections), '-d', String(seconds), '-H', 'Accept=application/json', `http://127.0.0.1:${port}${path}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`autocannon exited with ${code}: ${stderr.slice(-500)}`))));
  });
  const r = JSON.parse(out) as AutocannonJson;
  const others: Record<string, number> = {};
  for (const k of ['1xx', '3xx', '4xx', '5xx'] as const) if (r[k] > 0) others[k] = r[k];
  if (r.errors > 0) others.error = r.errors;
  if (r.timeouts > 0) others.timeout = r.timeouts;
  return {
    path,
    connections,
    seconds: r.duration,
    requests: r.requests.total,
    others,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    perSecond: r.requests.total / r.duration,
    replyBytes: one.status === 200 ? one.bytes : 0,
  };
}

/**
 * A dashboard client as far as the socket goes: connects to /ui's socket.io (Engine.IO 4 over a
 * websocket, as the browser does after its first poll), joins the main namespace, answers the
 * server's pings, and counts every frame the server sends, by event name. node-red-dashboard
 * emits every widget update to every connected client whatever page it shows, so this is what one
 * open dashboard receives.
 */
export class DashboardMeter {
  private ws: WebSocket | null = null;
  bytes = 0;
  frames = 0;
  readonly byEvent = new Map<string, { frames: number; bytes: number }>();
  private connected = false;

  connect(port: number, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ui/socket.io/?EIO=4&transport=websocket`);
      this.ws = ws;
      const timer = setTimeout(() => reject(new Error('dashboard socket: not connected in time')), timeoutMs);
      // ws 7 (this project's): a text frame arrives as a string, a binary one as a Buffer
      ws.on('message', (data: WebSocket.Data) => {
        const isBinary = typeof data !== 'string';
        const size = typeof data === 'string' ? Buffer.byteLength(data) : Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : Buffer.from(data as ArrayBuffer).byteLength;
        const text = typeof data === 'string' ? data : '';
        if (text === '2') {
          ws.send('3'); // pong
          return;
        }
        if (text.startsWith('0')) {
          ws.send('40'); // join the main namespace
          return;
        }
        if (text.startsWith('40')) {
          this.connected = true;
          clearTimeout(timer);
          resolve();
          return;
        }
        this.bytes += size;
        this.frames++;
        const name = /^42\["([^"]+)"/.exec(text)?.[1] ?? (isBinary ? '(binary)' : text.slice(0, 2));
        const e = this.byEvent.get(name) ?? { frames: 0, bytes: 0 };
        e.frames++;
        e.bytes += size;
        this.byEvent.set(name, e);
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        if (!this.connected) reject(err);
      });
    });
  }

  /** Counts from zero again. */
  reset(): void {
    this.bytes = 0;
    this.frames = 0;
    this.byEvent.clear();
  }

  close(): void {
    this.ws?.terminate();
    this.ws = null;
  }
}
