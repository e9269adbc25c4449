/** An express app as far as this needs it (express 4: the router's stack is `_router.stack`). */
export interface ExpressApp {
  use(path: string, fn: (req: never, res: never, next: (to?: 'router') => void) => void): void;
  _router?: { stack: unknown[] };
}

/**
 * With the editor at '/' (Node-RED's default, and `npm start`'s), every request passes through the
 * editor's admin app before it reaches httpNode: its body parsers, its login routes, the editor's
 * static files (a file-system stat of `<editor>/api/status` on every request) and a hundred admin
 * routes tried one by one (/api/status answered 4,682 requests a second at 50 connections through
 * it, 9,073 without it, with the replies below made once: docs/performance.md). None of it is
 * for our paths, so requests under `base` leave that app (express's `next('router')`) right
 * after its CORS handler and the settings' `httpAdminMiddleware`, which still see them, before
 * its body parser: a POST body is then read by our own `readBody`, with its 64 kB limit. Node-RED
 * has no admin route under /api. Nothing is inserted when the app's stack is not as expected
 * (another Node-RED version): requests then take the long way, as before.
 */
export function skipEditorFor(admin: ExpressApp | undefined, base: string): ((req: unknown, res: unknown, next: (to?: 'router') => void) => void) | null {
  const stack = admin?._router?.stack as Array<{ name?: string; handle?: unknown }> | undefined;
  const at = stack?.findIndex((layer) => layer.name === 'jsonParser') ?? -1;
  if (!admin || !stack || at < 0) return null;
  const skip = (_req: unknown, _res: unknown, next: (to?: 'router') => void) => next('router');
  admin.use(base, skip);
  const layer = stack.pop()!;
  stack.splice(at, 0, layer);
  return skip;
}

