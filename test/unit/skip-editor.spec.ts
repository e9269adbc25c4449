// API requests leave the editor's admin app early (nodes/lib/skip-editor.ts). Real express apps
// laid out as Node-RED 4.1 lays them out with the editor at '/' (node-red/red.js): the admin app
// (CORS, the settings' httpAdminMiddleware, body parsers, the editor's static files, admin routes)
// mounted before httpNode, both at '/'. The runtime tests (test/runtime/api.spec.ts) run every
// route through the real Node-RED with the layer in place.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { skipEditorFor, type ExpressApp } from '../../nodes/lib/skip-editor';

describe('API requests skip the editor app (skipEditorFor)', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let admin: express.Express;
  const seen: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'equalnet-skip-'));
    // a file where the editor's static middleware would find /api/status: whoever answers shows
    // whether the request went through that middleware
    mkdirSync(join(dir, 'api'));
    writeFileSync(join(dir, 'api', 'status'), 'the editor answered');
    const outer = express();
    admin = express();
    admin.use((_req, res, next) => {
      res.setHeader('Access-Control-Allow-Origin', '*');
      next();
    });
    admin.use(function httpAdminMiddleware(req, _res, next) {
      seen.push(req.url);
      next();
    });
    admin.use(express.json());
    admin.use(express.static(dir));
    admin.post('/api/echo', (_req, res) => void res.send('the admin app answered'));
    const node = express();
    node.get('/api/status', (_req, res) => void res.send('the API answered'));
    node.post('/api/echo', (req, res) => void res.send(`body read by us: ${req.body === undefined}`));
    outer.use('/', admin);
    outer.use('/', node);
    server = outer.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const text = async (path: string, init?: RequestInit) => {
    const res = await fetch(base + path, init);
    return { body: await res.text(), cors: res.headers.get('access-control-allow-origin') };
  };

  it('without it the editor app answers first; with it the API does, after the admin middleware saw the request', async () => {
    assert.equal((await text('/api/status')).body, 'the editor answered');
    const skip = skipEditorFor(admin as unknown as ExpressApp, '/api');
    assert.ok(skip);
    seen.length = 0;
    const answer = await text('/api/status');
    assert.equal(answer.body, 'the API answered');
    // the layers before the body parser still run: CORS, then the settings' middleware
    assert.equal(answer.cors, '*');
    assert.deepEqual(seen, ['/api/status']);
    // a body is not parsed by the admin app any more, and its routes are not reached
    const post = await text('/api/echo', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' });
    assert.equal(post.body, 'body read by us: true');
    // anything else still goes through the editor app
    writeFileSync(join(dir, 'index.html'), 'the editor');
    assert.equal((await text('/index.html')).body, 'the editor');
    assert.equal((await text('/apiary')).body.includes('the API'), false);
  });

  it('inserts nothing when the app is not laid out as expected (no body parser: another version)', () => {
    const app = express();
    app.use((_req, _res, next) => next());
    app.get('/x', (_req, res) => void res.end());
    const before = (app as unknown as { _router: { stack: unknown[] } })._router.stack.length;
    assert.equal(skipEditorFor(app as unknown as ExpressApp, '/api'), null);
    assert.equal((app as unknown as { _router: { stack: unknown[] } })._router.stack.length, before);
    assert.equal(skipEditorFor(undefined, '/api'), null);
  });
});
