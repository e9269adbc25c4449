/**
 * The pipeline bench's clients of the Node-RED under test: an HTTP load generator (what
 * autocannon does, with node:http and a keep-alive Agent, so no new dependency) and a dashboard
 * client on the /ui socket that counts what the dashboard sends it.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
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

/**
 * `connections` keep-alive connections, each sending GET `path` again as soon as the answer is
 * read, for `seconds`. Latency: from the request's start to the answer's last byte.
 */
export async function httpLoad(port: number, path: string, connections: number, seconds: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const samples: number[] = [];
  const others: Record<string, number> = {};
  let replyBytes = 0;
  const deadline = performance.now() + seconds * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const start = performance.now();
      const req = request({ host: '127.0.0.1', port, path, agent, headers: { Accept: 'application/json' } }, (res) => {
        let bytes = 0;
        res.on('data', (b: Buffer) => (bytes += b.length));
        res.on('end', () => {
          samples.push(performance.now() - start);
          if (res.statusCode === 200) replyBytes = bytes;
          else others[String(res.statusCode)] = (others[String(res.statusCode)] ?? 0) + 1;
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        others.error = (others.error ?? 0) + 1;
        resolve();
      });
      req.end();
    });
  const began = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  const took = (performance.now() - began) / 1000;
  agent.destroy();
  samples.sort((a, b) => a - b);
  return {
    path,
    connections,
    seconds: took,
    requests: samples.length,
    others,
    p50Ms: quantile(samples, 0.5),
    p99Ms: quantile(samples, 0.99),
    maxMs: samples[samples.length - 1] ?? NaN,
    perSecond: samples.length / took,
    replyBytes,
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
