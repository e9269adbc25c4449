/**
 * What every EqualNet node does around its core, written once: the setup problem (status, log,
 * and raised to a Catch node once, again only when it changes), the status, a serial queue that
 * no failing job can wedge, and a close that waits for that queue and its own clean-up, with a
 * time-out so a stuck `tc` never holds a redeploy.
 */
import type { Node } from 'node-red';
import { showError, showOk, showWarning } from './status';

/** How long a node's close may take (tc teardown, the last database commit) before Node-RED goes on. */
export const CLOSE_TIMEOUT_MS = 10_000;

export interface Adapter {
  readonly node: Node;
  /** Why the node cannot work (shown in its status), or null. */
  readonly problem: string | null;
  /** Records a setup failure: red status, logged once, raised to a Catch node with the next message. */
  setupFailed(err: unknown): void;
  /**
   * For a message while the node cannot work: the status says why, and the problem is raised to a
   * Catch node once (again when it changes), not on every tick.
   */
  refuse(done: (err?: Error) => void): void;
  /** Runs `job` after the jobs queued before; one that throws is shown and logged, and the next still runs. */
  serial(job: () => Promise<void>): void;
  /** What must happen at close, after the queue: awaited up to CLOSE_TIMEOUT_MS. */
  onClose(cleanup: (removed: boolean) => Promise<void> | void): void;
  ok(text: string): void;
  warning(text: string): void;
  error(text: string): void;
}

export function adapt(node: Node, what: string): Adapter {
  let problem: string | null = null;
  let raised: string | null = null;
  let queue: Promise<void> = Promise.resolve();
  const cleanups: ((removed: boolean) => Promise<void> | void)[] = [];

  const adapter: Adapter = {
    node,
    get problem() {
      return problem;
    },
    setupFailed(err) {
      problem = err instanceof Error ? err.message : String(err);
      showError(node, problem);
      node.error(problem);
    },
    refuse(done) {
      const text = problem ?? `${what} is not configured`;
      showError(node, text);
      if (raised === text) return done();
      raised = text;
      done(new Error(text));
    },
    serial(job) {
      queue = queue.then(job).catch((err: unknown) => {
        const text = err instanceof Error ? err.message : String(err);
        showError(node, text);
        node.error(`${what}: ${text}`);
      });
    },
    onClose(cleanup) {
      cleanups.push(cleanup);
    },
    ok: (text) => showOk(node, text),
    warning: (text) => showWarning(node, text),
    error: (text) => showError(node, text),
  };

  node.on('close', (removed: boolean, done: () => void) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done();
    };
    const timer = setTimeout(() => {
      node.warn(`${what}: closing took over ${CLOSE_TIMEOUT_MS / 1000} s; going on without waiting`);
      finish();
    }, CLOSE_TIMEOUT_MS);
    queue
      .then(async () => {
        for (const cleanup of cleanups) {
          try {
            await cleanup(removed);
          } catch (err) {
            node.warn(`${what}: ${(err as Error).message}`);
          }
        }
      })
      .then(finish, finish);
  });
  return adapter;
}
