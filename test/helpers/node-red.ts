/**
 * Promise wrappers around node-red-node-test-helper (which ships no types), for node tests.
 * The helper starts a real Node-RED runtime in-process and loads real flows.
 */
import type { Node, NodeMessage } from 'node-red';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

export type FlowNode = Record<string, unknown> & { id: string; type: string };
export type TestNode = Node & { [key: string]: unknown };

export const catchNodeModule = require('@node-red/nodes/core/common/25-catch');
/** A Status node forwards every status change of the nodes in its tab: what the editor shows under them. */
export const statusNodeModule = require('@node-red/nodes/core/common/25-status');
export const configNodeModule = require('../../nodes/equalnet-config');

export function startServer(): Promise<void> {
  return new Promise((resolve) => helper.startServer(resolve));
}

export async function stopServer(): Promise<void> {
  await helper.unload();
  await new Promise<void>((resolve) => helper.stopServer(resolve));
}

export function load(modules: unknown[], flow: FlowNode[], credentials: Record<string, unknown> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      helper.load(modules, flow, credentials, () => resolve());
    } catch (err) {
      reject(err);
    }
  });
}

export function getNode(id: string): TestNode {
  const node = helper.getNode(id);
  if (!node) throw new Error(`node ${id} is not in the running flow`);
  return node;
}

/**
 * Messages reaching a helper node, in order. Node-RED keeps 'input' handlers in its own list
 * (removeListener and once do not apply to them), so each helper node gets one handler that
 * queues messages for whoever waits.
 */
class Inbox {
  private readonly queue: unknown[] = [];
  private waiter: ((msg: unknown) => void) | null = null;

  constructor(node: TestNode) {
    node.on('input', (msg: unknown) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(msg);
      } else this.queue.push(msg);
    });
  }

  next<T>(timeoutMs: number, what: string): Promise<T> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift() as T);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no message reached ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (msg) => {
        clearTimeout(timer);
        resolve(msg as T);
      };
    });
  }

  drain(): unknown[] {
    return this.queue.splice(0);
  }
}

const inboxes = new WeakMap<TestNode, Inbox>();

function inbox(id: string): Inbox {
  const node = getNode(id);
  let box = inboxes.get(node);
  if (!box) {
    box = new Inbox(node);
    inboxes.set(node, box);
  }
  return box;
}

/** Starts recording messages at these helper nodes (call right after load, before sending). */
export function record(...ids: string[]): void {
  for (const id of ids) inbox(id);
}

/** Resolves with the next message that reaches the helper node `id` (queued ones first). */
export function nextMessage<T extends NodeMessage = NodeMessage & { payload: any }>(id: string, timeoutMs = 5000): Promise<T> {
  return inbox(id).next<T>(timeoutMs, id);
}

/** The messages that reached `id` and nobody took yet (after `ms` for stragglers), removed from its queue. */
export async function drainMessages(id: string, ms = 100): Promise<unknown[]> {
  const box = inbox(id);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return box.drain();
}

/** Resolves once no message reached `id` for `ms`; rejects with the message if one did. */
export async function noMessage(id: string, ms = 300): Promise<void> {
  const box = inbox(id);
  await new Promise((resolve) => setTimeout(resolve, ms));
  const arrived = box.drain();
  if (arrived.length > 0) throw new Error(`unexpected message at ${id}: ${JSON.stringify(arrived[0]).slice(0, 200)}`);
}

export { helper };

/**
 * Runs `work` with PATH set to an empty directory, so that any command a node starts fails to be
 * found: proof that what it did needed no process. PATH and the directory are restored / removed after.
 */
export async function withoutCommands<T>(work: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  const empty = mkdtempSync(join(tmpdir(), 'eqn-nopath-'));
  process.env.PATH = empty;
  try {
    return await work();
  } finally {
    rmSync(empty, { recursive: true, force: true });
    process.env.PATH = saved;
  }
}
