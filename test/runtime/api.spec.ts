// The HTTP API of the original EqualNet Pro, served by a real Node-RED (started as `npm start`
// starts it) from the HTTP API example flow, called over HTTP as a user's script would.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { nodeRedArgs, prepareHome, PROJECT_ROOT } from '../../scripts/node-red-home';
import { freePort, startNodeRed, worrying, type RunningNodeRed } from '../helpers/runtime';

// the example flow of Import > Examples, as a user imports it
const flow = JSON.parse(readFileSync(join(PROJECT_ROOT, 'examples', '09-http-api.json'), 'utf8'));

describe('HTTP API (equalnet-api in a real Node-RED)', function () {
  this.timeout(60_000);
  let dir: string;
  let nodeRed: RunningNodeRed;
  let base: string;

  const get = async (path: string) => {
    const res = await fetch(base + path);
    return { status: res.status, body: (await res.json()) as any };
  };
  const post = async (path: string, body: unknown, raw = false) => {
    const res = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: raw ? (body as string) : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  /** Polls `path` until `ok(body)`: the pipeline is asynchronous. */
  const until = async (path: string, ok: (body: any) => boolean) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const { body } = await get(path);
      if (ok(body)) return body;
      if (Date.now() > deadline) throw new Error(`${path} never satisfied the condition; last: ${JSON.stringify(body).slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'equalnet-api-'));
    const flowFile = join(dir, 'flow.json');
    writeFileSync(flowFile, JSON.stringify(flow));
    const port = await freePort();
    const userDir = join(dir, 'user');
    prepareHome(userDir, port, '', flowFile);
    nodeRed = await startNodeRed(nodeRedArgs(userDir, port), port);
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await nodeRed?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET /api/status before any snapshot: the configured link, no clients', async () => {
    const { status, body } = await get('/api/status');
    assert.equal(status, 200);
    assert.deepEqual([body.total_bandwidth, body.max_priority, body.min_bandwidth_percent, body.total_clients], [100, 5, 10, 0]);
  });

  it('GET /api/clients: the last allocation with the original field names, in Mbit/s', async () => {
    const click = await fetch(`${base}/inject/api.sample`, { method: 'POST' });
    assert.equal(click.status, 200);
    const clients = await until('/api/clients', (b) => b.length === 4);
    const laptop = clients.find((c: any) => c.ip === '192.168.1.10');
    assert.equal(laptop.mac, 'a4:5e:60:00:00:01');
    assert.equal(laptop.friendly_name, 'work-laptop');
    assert.equal(laptop.priority, 1);
    assert.equal(laptop.usage, 60);
    // the share it is expected to get (README's contended case: 5L + 4L + max(10, L) = 100, L = 10),
    // its HTB rate (the share less its part of what the idle sensor leaves) and ceil apart
    assert.equal(laptop.allocated, 50);
    assert.equal(laptop.rate, 49.88);
    assert.equal(laptop.ceil, 100);
    assert.equal(laptop.busy, true);
    assert.equal(laptop.usage_percent, 120);
    const { body: status } = await get('/api/status');
    assert.equal(status.total_clients, 4);
    assert.equal(status.total_allocated, 100);
  });

  it('GET /api/clients: gzip for a client that takes it, the same JSON as without, one ETag for both', async () => {
    await until('/api/clients', (b) => b.length === 4);
    const raw = (headers: Record<string, string>) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        const req = request(`${base}/api/clients`, { headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (b: Buffer) => chunks.push(b));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.on('error', reject);
        req.end();
      });
    // the snapshot may change between two reads: ask again until both answers have one ETag
    for (let attempt = 0; ; attempt++) {
      const plain = await raw({});
      const zipped = await raw({ 'Accept-Encoding': 'gzip, deflate, br' });
      if (plain.headers.etag !== zipped.headers.etag && attempt < 20) continue;
      assert.equal(plain.status, 200);
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(zipped.headers['content-encoding'], 'gzip');
      assert.match(String(zipped.headers.vary), /Accept-Encoding/i);
      assert.ok(zipped.body.length < plain.body.length, `${zipped.body.length} bytes zipped, ${plain.body.length} plain`);
      assert.deepEqual(JSON.parse(gunzipSync(zipped.body).toString()), JSON.parse(plain.body.toString()));
      // refused gzip (q=0) is plain; a client that has the reply gets 304 either way
      assert.equal((await raw({ 'Accept-Encoding': 'gzip;q=0' })).headers['content-encoding'], undefined);
      const again = await raw({ 'Accept-Encoding': 'gzip', 'If-None-Match': String(zipped.headers.etag) });
      // a tick came in between (another ETag): ask again from the start
      if (again.status === 200 && again.headers.etag !== zipped.headers.etag && attempt < 20) continue;
      assert.equal(again.status, 304);
      break;
    }
  });

  it('POST /api/priority/:id changes the allocation at once; by IPv4, IPv6 or MAC', async () => {
    const res = await post('/api/priority/192.168.1.13', { priority: 1 });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'success', mac: '3c:5a:b4:00:00:04', ip: '192.168.1.13', priority: 1 });
    const consoleNow = await until('/api/device/192.168.1.13', (b) => b.priority === 1);
    assert.ok(consoleNow.allocated > 16, `console still at ${consoleNow.allocated} Mbit/s`);
    assert.equal((await post('/api/priority/fd00::11', { priority: 3 })).status, 200);
    assert.equal((await post('/api/priority/DC-A6-32-00-00-02', { priority: 2 })).status, 200);
    // The API answers before the allocator has re-allocated, and each command reaches it twice: at
    // once, and again through usage-store's registry, so the tv (fd00::11, then by MAC) may show 2,
    // then 3 again, then 2. The next cases compare before/after: wait until the allocation rests.
    const settled = (cs: any[]) => JSON.stringify(cs.map(({ quota_used_mb: _used, ...rest }) => rest));
    for (let last = ''; ; ) {
      const cs = (await get('/api/clients')).body as any[];
      const now = settled(cs);
      const tv = cs.find((c) => c.mac === 'dc:a6:32:00:00:02');
      if (tv?.priority === 2 && now === last) break;
      last = now;
      await new Promise((r) => setTimeout(r, 400));
    }
  });

  describe('refuses bad requests with HTTP 400 and a reason, changing nothing', () => {
    const cases: Array<[string, string, unknown, RegExp, boolean?]> = [
      ['priority 0', '/api/priority/192.168.1.10', { priority: 0 }, /priority: must be a whole number from 1 \(highest\) to 5/],
      ['priority -1', '/api/priority/192.168.1.10', { priority: -1 }, /priority: must be a whole number/],
      ['priority 2.5', '/api/priority/192.168.1.10', { priority: 2.5 }, /priority: must be a whole number/],
      ['priority "x"', '/api/priority/192.168.1.10', { priority: 'x' }, /priority: must be a whole number.*got "x"/],
      ['priority above max', '/api/priority/192.168.1.10', { priority: 6 }, /to 5 \(lowest\), got 6/],
      ['a negative link', '/api/config', { total_bandwidth: -5 }, /payload\.total_bandwidth: must be greater than 0/],
      ['a link that is not a number', '/api/config', { total_bandwidth: 'fast' }, /must be a number of Mbit\/s, got "fast"/],
      ['max priority 50', '/api/config', { max_priority: 50 }, /payload\.max_priority: must be a whole number from 2 to 20/],
      ['an unknown setting', '/api/config', { bandwidth: 10 }, /payload\.bandwidth: unknown setting/],
      ['a device name that is not text', '/api/device/192.168.1.10', { friendly_name: 42 }, /friendly_name: must be text/],
    ];
    // what a request could change: everything but the quota use, which grows with every snapshot
    // usage-store counts (the sample clients keep coming: a tick may fall between the two reads)
    const unchangeable = (res: { status: number; body: Array<Record<string, unknown>> }) => ({ ...res, body: res.body.map(({ quota_used_mb: _used, ...rest }) => rest) });
    for (const [name, path, body, message, raw] of cases) {
      it(name, async () => {
        const before = unchangeable(await get('/api/clients'));
        const res = await post(path, body, raw);
        assert.equal(res.status, 400);
        assert.match(res.body.error, message);
        await new Promise((r) => setTimeout(r, 150));
        assert.deepEqual(unchangeable(await get('/api/clients')), before);
      });
    }

    it('a body that is not JSON: 400 in JSON with the reason (not Node-RED\'s HTML page with a stack trace)', async () => {
      const res = await fetch(`${base}/api/priority/192.168.1.10`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{priority:' });
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await res.json(), { error: 'body: is not valid JSON' });
      const config = await post('/api/config', '{"total_bandwidth": 10,', true);
      assert.deepEqual(config, { status: 400, body: { error: 'body: is not valid JSON' } });
    });

    it('a body over Node-RED\'s size limit: 413 in JSON', async () => {
      const big = JSON.stringify({ priority: 1, padding: 'x'.repeat(6 * 1024 * 1024) });
      const res = await post('/api/priority/192.168.1.10', big, true);
      assert.equal(res.status, 413);
      assert.match(res.body.error, /^body: must be at most \d+ bytes$/);
    });

    it('a malformed body elsewhere (not under /api) is left to Node-RED', async () => {
      const res = await fetch(`${base}/not-the-api`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{x' });
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    });

    it('an analytics N of 0, "abc" or an unknown report', async () => {
      assert.match((await get('/api/analytics/top/0')).body.error, /limit: must be a whole number of at least 1/);
      assert.equal((await get('/api/analytics/report/abc')).status, 400);
      assert.match((await get('/api/analytics/weekly/3')).body.error, /unknown report "weekly"/);
      assert.match((await get('/api/alerts?severity=panic')).body.error, /severity: must be one of info, warning, error, success/);
    });

    it('an unknown client gets 404', async () => {
      const res = await post('/api/priority/10.9.9.9', { priority: 1 });
      assert.equal(res.status, 404);
      assert.match(res.body.error, /unknown client "10\.9\.9\.9"/);
      assert.equal((await get('/api/device/02:00:00:00:00:99')).status, 404);
    });
  });

  describe('after the bad requests', () => {
    it('POST /api/config changes the link, as the original took it', async () => {
      const res = await post('/api/config', { total_bandwidth: 200, max_priority: 10, min_bandwidth_percent: 5 });
      assert.equal(res.status, 200);
      assert.equal(res.body.total_bandwidth, 200);
      // the settings at once; the allocation made with them follows through the flow
      const status = await until('/api/status', (b) => b.total_bandwidth === 200 && b.total_allocated === 200);
      assert.deepEqual([status.max_priority, status.min_bandwidth_percent, status.total_allocated], [10, 5, 200]);
    });

    it('POST /api/device/:id names a device (quotes and SQL stored as text) and GET returns it', async () => {
      const name = "Bob's \"laptop\"'); DROP TABLE devices;--";
      const res = await post('/api/device/a4:5e:60:00:00:01', { friendly_name: name });
      assert.equal(res.status, 200);
      assert.equal(res.body.device.friendly_name, name);
      const { status, body } = await get('/api/device/192.168.1.10');
      assert.equal(status, 200);
      assert.equal(body.mac, 'a4:5e:60:00:00:01');
    });

    it('GET /api/analytics/... and /api/alerts are answered by usage-store', async () => {
      for (const path of ['/api/analytics/bandwidth/24', '/api/analytics/hourly/24', '/api/analytics/top/10', '/api/alerts?hours=24']) {
        const { status, body } = await get(path);
        assert.equal(status, 200, `${path}: ${JSON.stringify(body)}`);
        assert.ok(Array.isArray(body), `${path} is not a list: ${JSON.stringify(body).slice(0, 200)}`);
      }
      const { status, body } = await get('/api/analytics/report/7');
      assert.equal(status, 200);
      assert.equal(typeof body, 'object');
    });
  });

  describe('a device\'s traffic by hour and its connection history', () => {
    it('GET /api/analytics/client/:id/:hours and /api/history/:id by MAC, IPv4 or IPv6: the device usage-store registered', async () => {
      const client = await get('/api/analytics/client/192.168.1.11/24');
      assert.equal(client.status, 200, JSON.stringify(client.body));
      assert.equal(client.body.mac, 'dc:a6:32:00:00:02');
      assert.equal(client.body.hours, 24);
      assert.ok(Array.isArray(client.body.series));
      assert.deepEqual((await get('/api/analytics/client/FD00::11/24')).body, client.body);
      assert.deepEqual((await get('/api/analytics/client/DC-A6-32-00-00-02/24')).body, client.body);
      const history = await get('/api/history/dc:a6:32:00:00:02?days=7&limit=10');
      assert.equal(history.status, 200, JSON.stringify(history.body));
      assert.equal(history.body.device.mac, 'dc:a6:32:00:00:02');
      assert.equal(history.body.device.hostname, 'tv');
      assert.ok(Array.isArray(history.body.sessions));
      assert.deepEqual((await get('/api/history/fd00::11?days=7&limit=10')).body, history.body);
    });

    it('a bad N, a bad id or an unknown parameter: 400; a device never seen: 404, at once', async () => {
      const cases: Array<[string, number, RegExp]> = [
        ['/api/analytics/client/192.168.1.10/0', 400, /^hours: /],
        ['/api/analytics/client/192.168.1.10/0x10', 400, /^hours: .*got "0x10"/],
        ['/api/analytics/client/$(reboot)/24', 400, /^id: must be a MAC address/],
        ['/api/history/192.168.1.10?days=-1', 400, /^days: /],
        ['/api/history/192.168.1.10?hours=1', 400, /^hours: unknown parameter/],
        ['/api/analytics/client/02:00:00:00:00:99/24', 404, /unknown device 02:00:00:00:00:99/],
        ['/api/history/10.9.9.9', 404, /unknown device "10\.9\.9\.9"/],
      ];
      for (const [path, status, error] of cases) {
        const started = Date.now();
        const res = await get(path);
        assert.equal(res.status, status, `${path}: ${JSON.stringify(res.body)}`);
        assert.match(res.body.error, error, path);
        assert.ok(Date.now() - started < 5000, `${path} waited for the time-out`);
      }
    });
  });

  describe('alerts acknowledged or cleared, alert delivery settings', () => {
    it('POST /api/alerts/:action and GET /api/alerts?acknowledged=&include_cleared=: checked, answered by usage-store', async () => {
      const none = await post('/api/alerts/acknowledge', { ids: [999999] });
      assert.equal(none.status, 200, JSON.stringify(none.body));
      assert.deepEqual(none.body, { action: 'acknowledge', changed: 0, ids: [999999] });
      assert.deepEqual((await post('/api/alerts/clear', { all: true, severity: 'warning', hours: 24 })).body, { action: 'clear', changed: 0, ids: null });
      assert.equal((await get('/api/alerts?acknowledged=false&include_cleared=true&since=0')).status, 200);
      const refused: Array<[string, unknown, RegExp]> = [
        ['/api/alerts/delete', { ids: [1] }, /^action: must be acknowledge or clear/],
        ['/api/alerts/clear', { ids: ['1; DROP TABLE alerts'] }, /^payload\.ids: must be a list/],
        ['/api/alerts/clear', {}, /^payload\.ids: name the alerts/],
        ['/api/alerts/clear', { all: true, severity: 'panic' }, /^payload\.severity: /],
        ['/api/alerts/clear', { all: true, where: '1=1' }, /^where: unknown field/],
      ];
      for (const [path, body, error] of refused) {
        const res = await post(path, body);
        assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
        assert.match(res.body.error, error);
      }
      assert.match((await get('/api/alerts?acknowledged=maybe')).body.error, /^acknowledged: must be true or false/);
    });

    it('GET / POST /api/alert-delivery: the settings in force, changed field by field, bad ones 400', async () => {
      const before = await get('/api/alert-delivery');
      assert.equal(before.status, 200);
      assert.deepEqual([before.body.email, before.body.mqttPrefix, before.body.kinds.length], [null, 'equalnet/alert', 9]);
      const set = await post('/api/alert-delivery', { email: 'admin@example.com', kinds: ['new_device', 'quota_exceeded'] });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.deepEqual(set.body, { email: 'admin@example.com', mqttPrefix: 'equalnet/alert', kinds: ['new_device', 'quota_exceeded'] });
      assert.deepEqual((await get('/api/alert-delivery')).body, set.body);
      for (const [body, error] of [
        [{ email: 'a@b.cd\r\nBcc: x@y.zz' }, /^email: /],
        [{ mqttPrefix: 'a/#' }, /^mqttPrefix: /],
        [{ kinds: ['nope'] }, /^kinds: unknown alert kind "nope"/],
        [{ smtp_password: 'x' }, /^smtp_password: unknown field/],
        [{}, /^body: must be a JSON object with one or more of/],
      ] as Array<[unknown, RegExp]>) {
        const res = await post('/api/alert-delivery', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match(res.body.error, error);
      }
      assert.deepEqual((await get('/api/alert-delivery')).body, set.body, 'nothing changed');
    });
  });

  describe('writes from other sites, odd bodies and loose input are refused in JSON, changing nothing', () => {
    // Where this block starts: the link at 200/20 Mbit/s, max priority 10, min 5 % (set above).
    const LINK = { total_bandwidth: 200, upload_bandwidth: 20, max_priority: 10 };
    const FOREIGN = 'http://evil.example';
    /** An answer as a user's client sees it: status, headers, the text of the body. */
    const send = async (path: string, init: RequestInit = {}) => {
      const res = await fetch(base + path, init);
      return { status: res.status, headers: res.headers, text: await res.text() };
    };
    /** A refusal: the status, JSON with a reason matching `reason`, no CORS header, no stack or path. */
    const refused = (res: { status: number; headers: Headers; text: string }, status: number, reason: RegExp) => {
      assert.equal(res.status, status, res.text.slice(0, 300));
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const { error } = JSON.parse(res.text) as { error: string };
      assert.match(error, reason);
      assert.doesNotMatch(res.text, /node_modules|\/work\/|\bat [\w.<>]+ \(|\.js:\d+|<html|<pre/i);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    };
    let barrier = 5;
    /**
     * Makes a real change through the same pipeline (the minimum guarantee, from a same-origin
     * page) and waits for it: a refused write sent earlier would have reached the allocator first.
     * Then the link and the priorities must be as they were.
     */
    const unchanged = async () => {
      barrier += 1;
      const ok = await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: base }, body: JSON.stringify({ min_bandwidth_percent: barrier }) });
      assert.equal(ok.status, 200, ok.text);
      const status = await until('/api/status', (b) => b.min_bandwidth_percent === barrier);
      assert.deepEqual({ total_bandwidth: status.total_bandwidth, upload_bandwidth: status.upload_bandwidth, max_priority: status.max_priority }, LINK);
      assert.equal((await get('/api/device/192.168.1.13')).body.priority, 1);
    };

    it('a form on another site (urlencoded or text/plain, with its Origin): 403, nothing changed', async () => {
      refused(await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: FOREIGN }, body: 'total_bandwidth=1' }), 403, /^request: comes from a page on another site \(Origin "http:\/\/evil\.example" is not this host\)$/);
      refused(await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'text/plain', Origin: FOREIGN }, body: '{"total_bandwidth":1}' }), 403, /another site/);
      refused(await send('/api/priority/192.168.1.13', { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=UTF-8', Origin: 'null' }, body: '{"priority":9}' }), 403, /Origin "null"/);
      await unchanged();
    });

    it('JSON from another site (foreign Origin, another port, Sec-Fetch-Site: cross-site): 403, nothing changed', async () => {
      const json = (origin: Record<string, string>, path = '/api/config', body: unknown = { total_bandwidth: 1 }) =>
        send(path, { method: 'POST', headers: { 'Content-Type': 'application/json', ...origin }, body: JSON.stringify(body) });
      refused(await json({ Origin: FOREIGN }), 403, /another site/);
      refused(await json({ Origin: base.replace(/:(\d+)$/, (_m, port) => `:${Number(port) + 1}`) }), 403, /another site/);
      refused(await json({ 'Sec-Fetch-Site': 'cross-site' }), 403, /^request: comes from a page on another site \(Sec-Fetch-Site: cross-site\)$/);
      refused(await json({ Origin: FOREIGN }, '/api/priority/192.168.1.13', { priority: 9 }), 403, /another site/);
      refused(await json({ Origin: FOREIGN }, '/api/device/192.168.1.13', { priority: 9 }), 403, /another site/);
      // reading from another site's page is refused as well, and no answer allows it by CORS
      refused(await send('/api/clients', { headers: { Origin: FOREIGN } }), 403, /another site/);
      assert.equal((await send('/api/status')).headers.get('access-control-allow-origin'), null);
      await unchanged();
    });

    it('a write that is not application/json (even without Origin): 415 before it is read', async () => {
      const reason = /^body: must be JSON, sent with Content-Type: application\/json$/;
      refused(await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: '{"total_bandwidth":1}' }), 415, reason);
      refused(await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'total_bandwidth=1' }), 415, reason);
      refused(await send('/api/priority/192.168.1.13', { method: 'POST', headers: { 'Content-Type': 'text/plain', Origin: base }, body: '{"priority":9}' }), 415, reason);
      refused(await send('/api/device/192.168.1.13', { method: 'POST', body: '{"priority":9}' }), 415, reason);
      await unchanged();
    });

    it('an oversized body: 413 in JSON whatever its type (not a dropped connection), nothing changed', async () => {
      const padding = 'x'.repeat(200 * 1024);
      const over = /^body: must be at most 65536 bytes$/;
      refused(await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: padding }), 413, over);
      refused(await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ total_bandwidth: 1, padding }) }), 413, over);
      refused(await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `total_bandwidth=1&padding=${padding}` }), 413, over);
      // sent in chunks, without Content-Length: counted as it arrives
      const chunked = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(`${base}/api/config`, { method: 'POST', headers: { 'Content-Type': 'text/plain' } }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        for (let i = 0; i < 20; i++) req.write(padding.slice(0, 10 * 1024));
        req.end();
      });
      assert.deepEqual({ status: chunked.status, body: JSON.parse(chunked.text) }, { status: 413, body: { error: 'body: must be at most 65536 bytes' } });
      await unchanged();
    });

    it('a malformed %-escape in the path: 400 in JSON, not an HTML stack trace', async () => {
      const reason = /^path: has a malformed %-escape/;
      refused(await send('/api/device/%E0%A4%A'), 400, reason);
      refused(await send('/api/analytics/%ZZ/1'), 400, reason);
      refused(await send('/api/priority/%E0%A4%A', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"priority":9}' }), 400, reason);
      await unchanged();
    });

    it('inherited names (constructor, toString, __proto__) are unknown settings and reports, answered at once', async () => {
      for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
        const res = await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: `{${JSON.stringify(key)}: 1}` });
        refused(res, 400, new RegExp(`^payload\\.${key}: unknown setting \\(known: downMbps, total_bandwidth`));
        // before the fix this waited 10 s for usage-store and answered 503
        refused(await send(`/api/analytics/${key}/1`), 400, /^kind: unknown report ".*" \(known: bandwidth, hourly, top, report\)$/);
      }
      await unchanged();
    });

    it('numbers Number() reads loosely, 1e-300 and a link too slow for the client cap: 400', async () => {
      const config = (body: string) => send('/api/config', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      for (const text of ['0x10', '1e3', ' ', 'Infinity', ' 1e3', '']) {
        refused(await config(JSON.stringify({ total_bandwidth: text })), 400, /^payload\.total_bandwidth: must be a number of Mbit\/s, got .*plain decimal/);
        refused(await config(JSON.stringify({ max_priority: text })), 400, /^payload\.max_priority: must be a whole number/);
        refused(await send('/api/priority/192.168.1.13', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ priority: text }) }), 400, /^priority: must be a whole number/);
      }
      refused(await send('/api/analytics/top/0x10'), 400, /^limit: must be a whole number from 1 to 10000 in plain decimal, got "0x10"$/);
      refused(await send('/api/analytics/bandwidth/1e3'), 400, /^hours: must be a whole number/);
      refused(await send('/api/alerts?limit=Infinity'), 400, /^limit: must be a whole number/);
      refused(await config('{"total_bandwidth":1e-300}'), 400, /^payload\.total_bandwidth: must be at least 0\.016 Mbit\/s/);
      refused(await config('{"upload_bandwidth":5}'), 400, /^payload\.upload_bandwidth: must be at least 8\.2 Mbit\/s for a client cap of 1024 .*lower the client cap$/);
      refused(await config('{"total_bandwidth":0}'), 400, /greater than 0/);
      await unchanged();
    });

    it('still takes plain decimal strings and JSON with a charset, from curl or the same origin', async () => {
      const res = await send('/api/config', { method: 'POST', headers: { 'Content-Type': 'application/json; charset=utf-8', Origin: base }, body: JSON.stringify({ total_bandwidth: '200', upload_bandwidth: '20', max_priority: '10' }) });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual((await get('/api/analytics/top/10')).status, 200);
      await unchanged();
    });
  });

  describe('afterwards', () => {
    it('logs no error', () => {
      assert.deepEqual(worrying(nodeRed.log()), []);
    });
  });
});
