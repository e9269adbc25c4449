// Secure by default (issue 13): a real Node-RED started the way `npm start` starts it
// (scripts/start.js), on a free port, asked over HTTP what a LAN neighbour or a web page could ask.
// Where it listens is read from the kernel's socket table, not from the log.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CREDENTIALS_FILE, PROJECT_ROOT, settingsSource, writeSettings } from '../../scripts/node-red-home';
import { freePort, startNodeRed, worrying, type RunningNodeRed } from '../helpers/runtime';

const START = join(PROJECT_ROOT, 'scripts', 'start.js');
const PASSWORD = join(PROJECT_ROOT, 'scripts', 'password.js');
const FOREIGN = 'http://evil.example';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** node:http rather than fetch: fetch does not let a test choose the Host header. */
function request(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** Local addresses with a listening TCP socket on `port`, from /proc/net/tcp and tcp6. */
function listeningOn(port: number): string[] {
  const found: string[] = [];
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4 || fields[3] !== '0A') continue; // 0A: LISTEN
      const [hexAddr, hexPort] = fields[1].split(':');
      if (parseInt(hexPort, 16) !== port) continue;
      if (!v6) {
        found.push(Buffer.from(hexAddr, 'hex').reverse().join('.'));
      } else {
        // four little-endian 32-bit words
        const bytes = Buffer.from(hexAddr, 'hex');
        for (let i = 0; i < 16; i += 4) bytes.subarray(i, i + 4).reverse();
        const groups = [];
        for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
        found.push(groups.join(':'));
      }
    }
  }
  return found;
}

function start(userDir: string, port: number, env: NodeJS.ProcessEnv = {}): Promise<RunningNodeRed> {
  return startNodeRed([START], port, { PORT: String(port), EQUALNET_USER_DIR: userDir, EQUALNET_HOST: undefined, EQUALNET_IFACE: undefined, ...env });
}

/** Runs scripts/start.js to its end (a start that is refused), with a deadline. */
function runToExit(userDir: string, port: number, env: NodeJS.ProcessEnv): Promise<{ code: number | null; log: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [START], { env: { ...process.env, PORT: String(port), EQUALNET_USER_DIR: userDir, EQUALNET_HOST: undefined, EQUALNET_IFACE: undefined, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, log });
    });
  });
}

function setPassword(userDir: string, password: string, user = 'admin') {
  return spawnSync(process.execPath, [PASSWORD, '--user', user, '--user-dir', userDir], { input: `${password}\n`, encoding: 'utf8' });
}

function assertNoWildcardCors(reply: Reply, what: string) {
  const allowed = reply.headers['access-control-allow-origin'];
  assert.ok(allowed === undefined, `${what}: Access-Control-Allow-Origin: ${allowed}`);
}

describe('security: the default start (no EQUALNET_HOST, no login)', function () {
  this.timeout(120_000);
  let userDir: string;
  let nodeRed: RunningNodeRed;
  let port: number;

  before(async () => {
    userDir = mkdtempSync(join(tmpdir(), 'equalnet-sec-default-'));
    port = await freePort();
    nodeRed = await start(userDir, port);
  });
  after(async () => {
    await nodeRed?.stop();
    rmSync(userDir, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 only (the kernel\'s socket table), and says so', async () => {
    assert.deepEqual(listeningOn(port), ['127.0.0.1']);
    assert.match(nodeRed.log(), new RegExp(`listening on 127\\.0\\.0\\.1 port ${port}, this machine only`));
    assert.equal((await request(port, '/settings')).status, 200);
  });

  it('grants no other origin CORS access: admin API, its preflight, the dashboard, the API', async () => {
    const origin = { Origin: FOREIGN };
    assertNoWildcardCors(await request(port, '/settings', { headers: origin }), 'GET /settings');
    assertNoWildcardCors(await request(port, '/flows', { headers: origin }), 'GET /flows');
    const preflight = await request(port, '/flows', { method: 'OPTIONS', headers: { ...origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' } });
    assertNoWildcardCors(preflight, 'OPTIONS /flows');
    assert.equal(preflight.headers['access-control-allow-methods'], undefined);
    assertNoWildcardCors(await request(port, '/ui/', { headers: origin }), 'GET /ui/');
    assertNoWildcardCors(await request(port, '/api/status', { headers: origin }), 'GET /api/status');
  });

  it('refuses a write from another site (a form or fetch on a web page the user opens): the flows stay', async () => {
    const before = await request(port, '/flows', { headers: { 'Node-RED-API-Version': 'v2' } });
    const forged = [{ id: 'evil', type: 'tab', label: 'x' }];
    for (const [type, body] of [['application/json', JSON.stringify(forged)], ['application/x-www-form-urlencoded', 'flows[0][id]=evil&flows[0][type]=tab'], ['text/plain', '[]']]) {
      const reply = await request(port, '/flows', { method: 'POST', headers: { Origin: FOREIGN, 'Content-Type': type }, body });
      assert.equal(reply.status, 403, `${type}: ${reply.status} ${reply.body}`);
    }
    const opaque = await request(port, '/flows', { method: 'POST', headers: { Origin: 'null', 'Content-Type': 'application/json' }, body: '[]' });
    assert.equal(opaque.status, 403);
    const after = await request(port, '/flows', { headers: { 'Node-RED-API-Version': 'v2' } });
    assert.equal(after.body, before.body);
  });

  it('refuses a Host header that is not loopback (DNS rebinding), serves localhost', async () => {
    for (const path of ['/settings', '/flows', '/', '/ui/', '/api/status']) {
      const reply = await request(port, path, { headers: { Host: `evil.example:${port}` } });
      assert.equal(reply.status, 403, `${path} with a foreign Host: ${reply.status}`);
    }
    assert.equal((await request(port, '/api/status', { headers: { Host: `localhost:${port}` } })).status, 200);
    assert.equal((await request(port, '/settings', { headers: { Host: `[::1]:${port}` } })).status, 200);
  });

  it('cannot install from the palette, and the update notification (telemetry) is off', async () => {
    const install = await request(port, '/nodes', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ module: 'node-red-contrib-anything' }) });
    assert.ok(install.status >= 400 && install.status < 500, `POST /nodes: ${install.status}`);
    const settings = JSON.parse((await request(port, '/settings')).body);
    assert.equal(settings.externalModules.palette.allowInstall, false);
    assert.equal(settings.externalModules.palette.allowUpload, false);
    assert.equal(settings.telemetryEnabled, false, 'telemetry (and with it the update prompt) is not off');
    const modules = JSON.parse((await request(port, '/nodes', { headers: { Accept: 'application/json' } })).body) as Array<{ module: string }>;
    assert.ok(!modules.some((m) => m.module === 'node-red-contrib-anything'));
  });

  it('answers a malformed request without a stack trace', async () => {
    const reply = await request(port, '/flows', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{bad' });
    assert.equal(reply.status, 400);
    assert.doesNotMatch(reply.body, /node_modules|\bat \w|SyntaxError/);
  });

  it('logs nothing worrying', () => {
    assert.deepEqual(worrying(nodeRed.log()), []);
  });
});

describe('security: EQUALNET_HOST beyond loopback', function () {
  this.timeout(180_000);
  let userDir: string;
  let port: number;

  before(async () => {
    userDir = mkdtempSync(join(tmpdir(), 'equalnet-sec-lan-'));
    port = await freePort();
  });
  after(() => rmSync(userDir, { recursive: true, force: true }));

  it('without a login: refuses to start, says how to set one, listens nowhere', async () => {
    const { code, log } = await runToExit(userDir, port, { EQUALNET_HOST: '0.0.0.0' });
    assert.notEqual(code, 0);
    assert.match(log, /refusing to listen on 0\.0\.0\.0 without a login/);
    assert.match(log, /npm run password/);
    assert.deepEqual(listeningOn(port), []);
  });

  it('refuses an EQUALNET_HOST that is not an address, before anything starts', async () => {
    const { code, log } = await runToExit(userDir, port, { EQUALNET_HOST: '$(reboot)' });
    assert.notEqual(code, 0);
    assert.match(log, /EQUALNET_HOST must be an IP address/);
  });

  it('`npm run password` refuses a short password and writes nothing', () => {
    const result = setPassword(userDir, 'short');
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /at least 8 characters/);
    assert.ok(!existsSync(join(userDir, CREDENTIALS_FILE)));
  });

  it('`npm run password` writes a bcrypt hash, owner-only (0600), never the password', () => {
    const result = setPassword(userDir, 'correct horse battery');
    assert.equal(result.status, 0, result.stderr);
    const file = join(userDir, CREDENTIALS_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /correct horse/);
    const login = JSON.parse(text);
    assert.equal(login.user, 'admin');
    assert.match(login.hash, /^\$2[aby]\$10\$/);
  });

  describe('with the login, on 0.0.0.0', () => {
    let nodeRed: RunningNodeRed;
    before(async () => {
      nodeRed = await start(userDir, port, { EQUALNET_HOST: '0.0.0.0' });
    });
    after(async () => nodeRed?.stop());

    it('listens on 0.0.0.0 and prints that address with "login required"', () => {
      assert.deepEqual(listeningOn(port), ['0.0.0.0']);
      assert.match(nodeRed.log(), new RegExp(`listening on 0\\.0\\.0\\.0 port ${port} \\(every IPv4 address of this machine\\), login required`));
    });

    it('answers nothing but 401 without the login (admin API, dashboard, /api), also with a wrong password', async () => {
      for (const path of ['/flows', '/settings', '/nodes', '/diagnostics', '/ui/', '/api/status', '/api/clients']) {
        const reply = await request(port, path, { headers: { Accept: 'application/json' } });
        assert.equal(reply.status, 401, `${path}: ${reply.status}`);
        assert.doesNotMatch(reply.body, /total_clients|"flows"|httpNodeRoot/);
      }
      const post = await request(port, '/api/priority/192.168.1.13', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"priority":1}' });
      assert.equal(post.status, 401);
      for (const auth of [basic('admin', 'wrong password'), basic('root', 'correct horse battery'), { Authorization: 'Bearer forged' }]) {
        assert.equal((await request(port, '/api/status', { headers: auth })).status, 401);
        assert.equal((await request(port, '/flows', { headers: auth })).status, 401);
      }
    });

    it('works with the login: a token from /auth/token for the admin API, basic auth for /ui and /api', async () => {
      const form = new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'admin', password: 'wrong password' });
      const refused = await request(port, '/auth/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() });
      assert.ok(refused.status === 401 || refused.status === 403, `${refused.status}`);
      form.set('password', 'correct horse battery');
      const tokenReply = await request(port, '/auth/token', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() });
      assert.equal(tokenReply.status, 200, tokenReply.body);
      const token = JSON.parse(tokenReply.body).access_token as string;
      const flows = await request(port, '/flows', { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(flows.status, 200);
      assert.ok(JSON.parse(flows.body).some((n: { type: string }) => n.type === 'equalnet-config'));

      const auth = basic('admin', 'correct horse battery');
      const ui = await request(port, '/ui/', { headers: { ...auth, Origin: FOREIGN } });
      assert.equal(ui.status, 200);
      assertNoWildcardCors(ui, 'GET /ui/ with the login');
      const status = await request(port, '/api/status', { headers: auth });
      assert.equal(status.status, 200);
      assert.equal(typeof JSON.parse(status.body).total_clients, 'number');
    });

    it('the dashboard\'s socket (socket.io, outside Express) refuses to connect without the login', async () => {
      const connect = async (headers: Record<string, string>) => {
        const open = await request(port, '/ui/socket.io/?EIO=4&transport=polling', { headers });
        if (open.status !== 200) return `HTTP ${open.status}`;
        const sid = JSON.parse(open.body.slice(1)).sid as string;
        const path = `/ui/socket.io/?EIO=4&transport=polling&sid=${sid}`;
        await request(port, path, { method: 'POST', headers: { ...headers, 'Content-Type': 'text/plain' }, body: '40' });
        return (await request(port, path, { headers })).body;
      };
      const anonymous = await connect({});
      assert.match(anonymous, /^(HTTP 401|44.*Unauthorized)/);
      assert.match(await connect(basic('admin', 'correct horse battery')), /^40\{"sid"/);
    });

    it('logs nothing worrying', () => {
      assert.deepEqual(worrying(nodeRed.log()), []);
    });
  });
});

describe('security: the settings.js EqualNet wrote earlier', function () {
  this.timeout(60_000);
  let userDir: string;
  const v01 = (port: number) => `// Node-RED settings written by EqualNet's \`npm start\`; edit freely, it is not overwritten.
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
  beforeEach(() => (userDir = mkdtempSync(join(tmpdir(), 'equalnet-sec-settings-'))));
  afterEach(() => rmSync(userDir, { recursive: true, force: true }));

  it('replaces the unmodified 0.1 file (no uiHost, palette install on) with the current one', () => {
    writeFileSync(join(userDir, 'settings.js'), v01(1880));
    assert.equal(writeSettings(userDir, 1880), 'updated');
    assert.equal(readFileSync(join(userDir, 'settings.js'), 'utf8'), settingsSource(1880));
    assert.equal(writeSettings(userDir, 1880), 'kept');
  });

  it('replaces an unmodified older versioned file, keeps one the user edited (even by one character)', () => {
    const older = settingsSource(1880).replace(/settings version \d+\)/, 'settings version 1)');
    const body = older.slice(0, older.lastIndexOf('// equalnet-settings-checksum'));
    const resigned = `${body}// equalnet-settings-checksum: sha256:${require('node:crypto').createHash('sha256').update(body).digest('hex')}\n`;
    writeFileSync(join(userDir, 'settings.js'), resigned);
    assert.equal(writeSettings(userDir, 1880), 'updated');
    assert.equal(readFileSync(join(userDir, 'settings.js'), 'utf8'), settingsSource(1880));

    const edited = settingsSource(1880).replace("flowFilePretty: true", 'flowFilePretty: false');
    writeFileSync(join(userDir, 'settings.js'), edited);
    assert.equal(writeSettings(userDir, 1880), 'modified');
    assert.equal(readFileSync(join(userDir, 'settings.js'), 'utf8'), edited);
    const v01Edited = v01(1880).replace('allowInstall: true', 'allowInstall: false');
    writeFileSync(join(userDir, 'settings.js'), v01Edited);
    assert.equal(writeSettings(userDir, 1880), 'modified');
    assert.equal(readFileSync(join(userDir, 'settings.js'), 'utf8'), v01Edited);
  });

  it('start warns when the user\'s own file listens beyond loopback without a login', async () => {
    // 192.0.2.123 (TEST-NET-1) is on no interface here: Node-RED cannot bind it and exits, so nothing listens
    writeFileSync(join(userDir, 'settings.js'), v01(1880).replace("flowFile: 'flows.json',", "flowFile: 'flows.json',\n    uiHost: '192.0.2.123',"));
    const port = await freePort();
    const { code, log } = await runToExit(userDir, port, {});
    assert.match(log, /settings\.js was edited: kept as it is/);
    assert.match(log, /WARNING: .*settings\.js makes Node-RED listen on 192\.0\.2\.123 WITHOUT a login/);
    assert.match(log, /listening on 192\.0\.2\.123 port/);
    assert.notEqual(code, 0);
  });
});

describe('security: the systemd unit (systemd/equalnet.service)', function () {
  this.timeout(60_000);
  const unit = join(PROJECT_ROOT, 'systemd', 'equalnet.service');

  it('passes `systemd-analyze verify`', function () {
    let analyze: string;
    try {
      analyze = execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim();
    } catch {
      throw new Error('systemd-analyze is missing: install the Debian package systemd (.ci/run does)');
    }
    // verify wants the ExecStart binary to exist: point the copy at this machine's node, and the
    // script at this checkout's; everything else is verified as shipped.
    const dir = mkdtempSync(join(tmpdir(), 'equalnet-unit-'));
    try {
      const text = readFileSync(unit, 'utf8');
      assert.match(text, /^ExecStart=\/usr\/bin\/node \/var\/lib\/equalnet\/node_modules\/node-red-contrib-equalnet\/scripts\/start\.js$/m);
      const copy = join(dir, 'equalnet.service');
      writeFileSync(copy, text.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${START}`));
      const result = spawnSync(analyze, ['verify', copy], { encoding: 'utf8' });
      const complaints = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.includes('equalnet.service'));
      assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
      assert.deepEqual(complaints, []);
      // the check can fail: the same unit with one bad value is reported
      writeFileSync(copy, readFileSync(copy, 'utf8').replace('NoNewPrivileges=yes', 'NoNewPrivileges=perhaps'));
      const broken = spawnSync(analyze, ['verify', copy], { encoding: 'utf8' });
      assert.match(`${broken.stdout}${broken.stderr}`, /equalnet\.service:\d+: Failed to parse boolean value/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as a dedicated user with CAP_NET_ADMIN and CAP_NET_RAW only, and ships in the package', () => {
    const text = readFileSync(unit, 'utf8');
    const value = (key: string) => text.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1];
    assert.equal(value('User'), 'equalnet');
    assert.equal(value('AmbientCapabilities'), 'CAP_NET_ADMIN CAP_NET_RAW');
    assert.equal(value('CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_NET_RAW');
    assert.equal(value('NoNewPrivileges'), 'yes');
    assert.equal(value('Restart'), 'on-failure');
    assert.equal(value('StateDirectory'), 'equalnet');
    const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'));
    assert.ok(pkg.files.includes('systemd/'));
  });
});
