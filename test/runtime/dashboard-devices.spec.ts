// The dashboard's Overview and Devices pages (issue 16) in Debian's Chromium on a real Node-RED
// running the dashboard example (examples/10-dashboard.json; set-up in test/helpers/dashboard.ts).
// The example's sample clients come every 2 s; here the laptop's download moves a little on every
// tick (the inject's payload as a JSONata expression of the time), so that each tick changes a row
// and "a tick does not reset ..." is tried against real updates. Everything else is the example
// as shipped. The page's figures are compared with the example's HTTP API for the same moment
// (polled until both agree: the socket and the API answer asynchronously).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { DASHBOARD_FLOW, startDashboard, until, type Dashboard, type FlowNode } from '../helpers/dashboard';
import { worrying } from '../helpers/runtime';

const LAPTOP = 'a4:5e:60:00:00:01';
const TV = 'dc:a6:32:00:00:02';
const SENSOR = 'b8:27:eb:00:00:03';
const CONSOLE = '3c:5a:b4:00:00:04';

/** The example, its laptop's download 60 + 0.1 x (seconds mod 10) Mbit/s: a different figure every tick. */
function movingFlow(): FlowNode[] {
  return DASHBOARD_FLOW.map((n) => {
    if (n.id !== 'dash.sample') return n;
    const payload = JSON.parse(String(n.payload));
    const laptop = payload.clients.find((c: { mac: string }) => c.mac === LAPTOP);
    assert.equal(laptop.rxBps, 60e6);
    laptop.rxBps = '@RX@';
    const expr = JSON.stringify(payload).replace('"@RX@"', '60000000 + ($floor($millis() / 1000) % 10) * 100000');
    return { ...n, payload: expr, payloadType: 'jsonata' };
  });
}

describe('dashboard Overview and Devices in a real Node-RED, seen in Chromium', function () {
  this.timeout(180_000);
  let d: Dashboard;
  const page = (): Page => d.page;
  const rows = () => page().locator('table.equalnet-devices tbody tr');
  const row = (mac: string) => page().locator(`table.equalnet-devices tbody tr[data-mac="${mac}"]`);
  const clients = async () => (await d.api('/api/clients')).body as any[];
  const shownMacs = async () => rows().evaluateAll((trs) => trs.filter((tr) => !(tr as HTMLElement).hidden).map((tr) => tr.getAttribute('data-mac')));
  /** Waits for `n` ticks that change the laptop's row (its usage text). */
  const ticks = async (n: number) => {
    let last = await row(LAPTOP).locator('td.usage').innerText();
    for (let i = 0; i < n; i++) last = await until(`tick ${i + 1}`, () => row(LAPTOP).locator('td.usage').innerText(), (t) => t !== last, 8_000);
  };
  const menu = async (name: string, item: string) => {
    await page().getByRole('button', { name: `actions for ${name}`, exact: true }).click();
    await page().getByRole('menu', { name: `actions for ${name}` }).getByRole('menuitem', { name: item }).click();
  };
  const db = <T>(sql: string, ...args: unknown[]): T => {
    const file = new Database(join(d.userDir, 'equalnet-dashboard-example.db'), { readonly: true });
    try {
      return file.prepare(sql).get(...args) as T;
    } finally {
      file.close();
    }
  };

  before(async () => {
    d = await startDashboard('equalnet-dashboard-devices', movingFlow());
  });
  after(async () => {
    await d?.close();
  });

  it('Overview: clients, the two gauges, the busiest devices\' rates and the shaping mode equal /api/status and /api/clients', async () => {
    await d.open('Overview');
    const gauge = (id: string) => page().locator(`md-card[node-id="${id}"] svg text`).evaluateAll((ts) => ts.map((t) => (t.textContent ?? '').trim()));
    const seen = await until(
      'the Overview equal to the API',
      async () => {
        const [status, list] = [(await d.api('/api/status')).body, await clients()];
        const shown = {
          clients: (await page().locator('md-card[node-id="equalnet.dash.clients"] .value').innerText()).trim(),
          down: await gauge('equalnet.dash.gauge.down'),
          up: await gauge('equalnet.dash.gauge.up'),
          mode: (await page().getByLabel('shaping mode').innerText()).trim(),
          chartLink: (await page().locator('.equalnet-traffic .now-link').innerText()).trim(),
          chartPoints: Number(await page().locator('.equalnet-traffic svg').getAttribute('data-points')),
          busiest: await page().locator('table.equalnet-busiest tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-mac'), tr.querySelector('.down')!.textContent!.trim(), tr.querySelector('.up')!.textContent!.trim(), tr.querySelector('.name')!.textContent!.trim()])),
        };
        const sum = (k: string) => list.reduce((s: number, c: any) => s + (c[k] ?? 0), 0);
        const pct = (used: number, of: number) => String(Math.round((used / of) * 1000) / 10);
        const busiest = [...list]
          .filter((c) => c.usage + c.upload_usage > 0)
          .sort((a, b) => b.usage + b.upload_usage - (a.usage + a.upload_usage))
          .slice(0, 5)
          .map((c) => [c.mac, c.usage.toFixed(2), c.upload_usage.toFixed(2), c.friendly_name]);
        const expected = { clients: String(status.total_clients), down: pct(sum('usage'), status.total_bandwidth), up: pct(sum('upload_usage'), status.upload_bandwidth), mode: status.mode, busiest, link: String(status.total_bandwidth) };
        return { shown, expected };
      },
      ({ shown, expected }) =>
        shown.clients === expected.clients && shown.chartLink === expected.link && shown.chartPoints >= 1 && shown.down.includes(expected.down) && shown.up.includes(expected.up) && shown.mode === expected.mode && JSON.stringify(shown.busiest) === JSON.stringify(expected.busiest),
      15_000,
    );
    assert.equal(seen.shown.clients, '4');
    assert.deepEqual(seen.shown.busiest.map((b) => b[3]), ['console', 'work-laptop', 'tv'], 'the idle sensor is not busy');
    assert.equal(seen.shown.mode, 'dry-run');
    // the icons arp-discover gives (here the sample's)
    assert.equal(await page().locator(`table.equalnet-busiest tr[data-mac="${CONSOLE}"] i.fa-gamepad`).count(), 1);
  });

  it('Devices: icon, type, vendor, every address (IPv4 + IPv6) and name equal /api/clients', async () => {
    await d.open('Devices');
    const shown = await until(
      'the table equal to the API',
      async () => {
        const table = await rows().evaluateAll((trs) =>
          trs.map((tr) => ({
            mac: tr.getAttribute('data-mac'),
            name: tr.querySelector('td.name a')!.textContent,
            icon: Array.from(tr.querySelector("td.kind i")!.classList).find((c) => c.startsWith('fa-')),
            type: tr.querySelector('td.kind .type')!.textContent,
            vendor: tr.querySelector('td.vendor')!.textContent,
            addresses: Array.from(tr.querySelectorAll("td.addresses span")).map((s) => s.textContent),
          })),
        );
        const api = (await clients()).map((c) => ({ mac: c.mac, name: c.friendly_name, icon: c.icon, type: c.device_type, vendor: c.vendor, addresses: [c.ip, ...c.ip6] }));
        const byMac = (a: { mac: string | null }, b: { mac: string | null }) => String(a.mac).localeCompare(String(b.mac));
        return { table: table.sort(byMac), api: api.sort(byMac) };
      },
      (v) => v.table.length === 4 && JSON.stringify(v.table) === JSON.stringify(v.api),
    );
    assert.deepEqual(shown.table.find((r) => r.mac === LAPTOP)!.addresses, ['192.168.1.10', 'fd00::10', 'fe80::a65e:60ff:fe00:1']);
    assert.equal(shown.table.find((r) => r.mac === SENSOR)!.type, 'single-board computer');
    // usage beside the allocation, as bars: the laptop uses more than it is allocated (dry-run)
    const bar = row(LAPTOP).locator('.use-bar.down');
    assert.ok(Number(await bar.getAttribute('aria-valuenow')) > 100);
    assert.equal(await page().locator('.count').innerText(), '4 devices');
  });

  it('Devices: the search box narrows the rows (name, vendor, address); the columns sort both ways', async () => {
    await d.open('Devices');
    await until('four rows', () => rows().count(), (n) => n === 4);
    const search = page().getByLabel('search devices');
    await search.fill('raspberry');
    await until('the two Raspberry Pi vendors', () => shownMacs(), (m) => JSON.stringify(m.sort()) === JSON.stringify([SENSOR, TV].sort()));
    assert.equal(await page().locator('.count').innerText(), '2 of 4 devices shown');
    await search.fill('FD00::13');
    await until('the console by its IPv6 address', () => shownMacs(), (m) => JSON.stringify(m) === JSON.stringify([CONSOLE]));
    await search.fill('work-lap');
    await until('the laptop by its name', () => shownMacs(), (m) => JSON.stringify(m) === JSON.stringify([LAPTOP]));
    await search.fill('no such device');
    await until('nothing matches', () => page().locator('.equalnet-devices-nomatch').isVisible(), (v) => v);
    await search.fill('');
    await until('all four again', () => shownMacs(), (m) => m.length === 4);
    // sort by name, then by download usage (ascending, then descending), as the API has them
    await page().locator('th[data-sort="name"]').click();
    assert.deepEqual(await shownMacs(), [CONSOLE, SENSOR, TV, LAPTOP]);
    const usage = page().locator('th[data-sort="down"]');
    await usage.click();
    const byUsage = (await clients()).sort((a, b) => a.usage - b.usage).map((c) => c.mac);
    assert.deepEqual(await shownMacs(), byUsage);
    assert.equal(await usage.getAttribute('aria-sort'), 'ascending');
    await usage.click();
    assert.deepEqual(await shownMacs(), [...byUsage].reverse());
    assert.equal(await usage.getAttribute('aria-sort'), 'descending');
    // the order holds over ticks (the rows are reordered only when a figure changes the order)
    await ticks(1);
    assert.deepEqual(await shownMacs(), [...byUsage].reverse());
  });

  it('Devices: ticks do not reset the scroll, the sort, the search text, an open menu, or a name being typed', async () => {
    await page().setViewportSize({ width: 1000, height: 300 });
    await d.open('Devices');
    await until('four rows', () => rows().count(), (n) => n === 4);
    await page().locator('th[data-sort="name"]').click();
    await page().getByLabel('search devices').fill('192.168');
    const scroller = page().locator('.equalnet-devices-page .scroll');
    const top = await scroller.evaluate((e) => { e.scrollTop = 60; return e.scrollTop; });
    assert.ok(top > 0, 'the table scrolls in this window');
    await page().getByRole('button', { name: 'actions for tv', exact: true }).click();
    const open = page().getByRole('menu', { name: 'actions for tv' });
    await open.waitFor();
    const laptopRow = await row(LAPTOP).elementHandle();
    await ticks(2);
    assert.ok(await open.isVisible(), 'the menu is still open');
    assert.equal(await scroller.evaluate((e) => e.scrollTop), top);
    assert.equal(await page().getByLabel('search devices').inputValue(), '192.168');
    assert.equal(await page().locator('th[data-sort="name"]').getAttribute('aria-sort'), 'ascending');
    assert.ok(await laptopRow!.evaluate((tr, mac) => tr === document.querySelector(`tr[data-mac="${mac}"]`), LAPTOP), 'the same row element, updated in place');
    await open.getByRole('menuitem', { name: 'Rename' }).click();
    // a rename half typed: kept, and focused, over ticks
    const input = page().getByLabel('new name of tv');
    await input.fill('tv in the liv');
    await ticks(2);
    assert.equal(await input.inputValue(), 'tv in the liv');
    assert.ok(await input.evaluate((e) => e === document.activeElement));
    await input.press('Escape');
    assert.equal((await row(TV).locator('td.name').innerText()).trim(), 'tv');
    assert.equal((await d.api(`/api/device/${TV}`)).body.friendly_name, 'tv', 'nothing sent');
    await page().setViewportSize({ width: 1400, height: 900 });
  });

  it('Devices: a rename and a priority set on the page are in the API and the registry, and survive a restart of Node-RED', async () => {
    await d.open('Devices');
    await until('four rows', () => rows().count(), (n) => n === 4);
    await menu('sensor', 'Rename');
    await page().getByLabel('new name of sensor').fill('garden sensor');
    await page().getByLabel('new name of sensor').press('Enter');
    await row(SENSOR).locator('select').selectOption({ label: '2' });
    const device = await until('the API with the new name and priority', async () => (await d.api(`/api/device/${SENSOR}`)).body, (b) => b.friendly_name === 'garden sensor' && b.priority === 2, 15_000);
    assert.equal(device.hostname, 'sensor');
    assert.deepEqual(db('SELECT name, priority FROM devices WHERE mac = ?', SENSOR), { name: 'garden sensor', priority: 2 });
    await until('the new name in the table', () => row(SENSOR).locator('td.name').innerText(), (t) => t.trim() === 'garden sensor');
    await d.restart();
    const after = await until('the API after the restart', async () => (await d.api(`/api/device/${SENSOR}`)).body, (b) => b.friendly_name === 'garden sensor' && b.priority === 2, 20_000);
    assert.equal(after.priority, 2);
    await d.open('Devices');
    await until('the name on the page after the restart', () => row(SENSOR).locator('td.name').innerText(), (t) => t.trim() === 'garden sensor', 15_000);
    assert.equal(await row(SENSOR).locator('select').inputValue(), '2');
  });

  it('Devices: "merge into" and "forget device" reach usage-store\'s registry (GET /api/device/:id, the file)', async () => {
    await d.open('Devices');
    await until('four rows', () => rows().count(), (n) => n === 4);
    // the console named; the tv merged into it: its MAC is the console's device now, named so
    await menu('console', 'Rename');
    await page().getByLabel('new name of console').fill('playroom');
    await page().getByLabel('new name of console').press('Enter');
    await until('the console named', async () => (await d.api(`/api/device/${CONSOLE}`)).body.friendly_name, (n) => n === 'playroom', 15_000);
    await menu('tv', 'Merge into …');
    await page().getByLabel('merge tv into').selectOption(CONSOLE);
    await page().getByRole('button', { name: 'Merge', exact: true }).click();
    await until('the tv\'s MAC named as the console', async () => (await d.api(`/api/device/${TV}`)).body.friendly_name, (n) => n === 'playroom', 15_000);
    const ids = db<{ tv: number; console: number }>('SELECT (SELECT device_id FROM device_macs WHERE mac = ?) AS tv, (SELECT id FROM devices WHERE mac = ?) AS console', TV, CONSOLE);
    assert.equal(ids.tv, ids.console, 'the tv\'s MAC belongs to the console\'s device');
    await until('the merged row named in the table', () => row(TV).locator('td.name').innerText(), (t) => t.trim() === 'playroom', 15_000);
    // forget the renamed sensor: its name and priority gone from the registry; seen again, it is new
    await menu('garden sensor', 'Forget device');
    await page().getByRole('button', { name: 'Forget', exact: true }).click();
    await until('the sensor unnamed in the API', async () => (await d.api(`/api/device/${SENSOR}`)).body.friendly_name, (n) => n === 'sensor', 15_000);
    const kept = await until('the sensor a new device in the file', async () => db<{ name: string | null; priority: number | null } | undefined>('SELECT name, priority FROM devices WHERE mac = ?', SENSOR), (r) => r !== undefined && r.name === null && r.priority === null, 15_000);
    assert.deepEqual(kept, { name: null, priority: null });
    await until('the sensor\'s row shows its hostname', () => row(SENSOR).locator('td.name').innerText(), (t) => t.trim() === 'sensor', 15_000);
  });

  it('a name with markup is shown as text on both pages, never run', async () => {
    const hostile = '<img src=x onerror="window.__pwned=1"><b>laptop</b>';
    const res = await d.api(`/api/device/${LAPTOP}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ friendly_name: hostile }) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await d.open('Devices');
    await until('the name as text in the table', () => row(LAPTOP).locator('td.name a').textContent(), (t) => t === hostile, 15_000);
    assert.equal(await row(LAPTOP).locator('img, b').count(), 0);
    await d.open('Overview');
    await until('the name as text in the busiest devices', () => page().locator(`table.equalnet-busiest tr[data-mac="${LAPTOP}"] td.name`).textContent(), (t) => t === hostile, 15_000);
    assert.equal(await page().locator('table.equalnet-busiest img').count(), 0);
    assert.equal(await page().evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined);
  });

  it('Devices: a device\'s name opens its page (device.open to the Device page)', async () => {
    await d.open('Devices');
    await row(LAPTOP).locator('td.name a').click();
    await page().locator('md-toolbar').getByText('Device', { exact: true }).first().waitFor({ timeout: 10_000 });
    await until('the device page shows the laptop', () => page().locator('body').innerText(), (t) => t.includes(LAPTOP), 15_000);
  });

  /** Deploys the running flow with the sample clients' inject changed, as a user does it in the editor (POST /flows, deployment type "nodes"). */
  const deploy = async (change: (n: FlowNode) => FlowNode) => {
    const flows = (await (await fetch(`${d.base}/flows`)).json()) as FlowNode[];
    const res = await fetch(`${d.base}/flows`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Node-RED-Deployment-Type': 'nodes' }, body: JSON.stringify(flows.map((n) => (n.id === 'dash.sample' ? change(n) : n))) });
    assert.ok(res.status === 200 || res.status === 204, `deploy: ${res.status} ${await res.text()}`);
  };

  it('Devices, 60 devices: a tick redraws the rows in sight; a row scrolled into view then shows the figures of the latest tick', async () => {
    // 60 sample clients, each one's download moving every tick
    const sixty = '{"iface":"","clients":[0..59].{"mac":"02:00:00:00:00:" & $pad($formatBase($, 16), -2, "0"),"ip":"10.0.0." & $string($ + 10),"hostname":"dev-" & $string($),"rxBps":1000000 + $ * 10000 + ($floor($millis() / 1000) % 100) * 100000,"txBps":100000}}';
    await deploy((n) => ({ ...n, payload: sixty, payloadType: 'jsonata' }));
    await page().setViewportSize({ width: 1400, height: 600 });
    await d.open('Devices');
    await until('60 rows', () => rows().count(), (n) => n === 60, 15_000);
    const last = '02:00:00:00:00:3b';
    const usage = async (mac: string) => (await row(mac).locator('td.usage').innerText()).trim();
    const api = async (mac: string) => {
      const c = (await d.api(`/api/device/${mac}`)).body;
      return `${c.usage.toFixed(2)} / ${c.upload_usage.toFixed(2)}`;
    };
    const drawn = await until('the last row drawn once', () => usage(last), (t) => /^\d+\.\d\d \/ 0\.10$/.test(t));
    // two ticks seen in the first row; the last one, out of sight, still shows what it was drawn with
    const first = '02:00:00:00:00:00';
    let seen = await usage(first);
    for (let i = 0; i < 2; i++) seen = await until(`tick ${i + 1} in the first row`, () => usage(first), (t) => t !== seen, 8_000);
    assert.equal(await usage(last), drawn, 'a row out of sight is not redrawn on a tick');
    assert.notEqual(await api(last), drawn, 'while its figures moved');
    await page().locator('.equalnet-devices-page .scroll').evaluate((e) => { e.scrollTop = e.scrollHeight; });
    await until('the last row in view equal to the API', async () => ({ shown: await usage(last), api: await api(last) }), (v) => v.shown === v.api, 8_000);
    await page().setViewportSize({ width: 1400, height: 900 });
  });

  it('empty states: no clients yet (Overview and Devices), then "pipeline not running" once no snapshot comes', async () => {
    // the same flow with an empty client list, then with the sample clients' inject disabled
    await deploy((n) => ({ ...n, payload: '{"iface":"","clients":[]}', payloadType: 'json' }));
    await d.open('Overview');
    await until('no clients on the Overview', () => page().locator('.equalnet-now .state.empty').innerText(), (t) => /No clients yet/.test(t), 15_000);
    assert.equal(await page().locator('table.equalnet-busiest').count(), 0);
    await d.open('Devices');
    await until('no clients on Devices', () => page().locator('.equalnet-devices-empty').isVisible(), (v) => v, 15_000);
    assert.equal(await rows().count(), 0);
    assert.ok(!(await page().locator('.equalnet-devices-page .scroll').isVisible()));
    await page().screenshot({ path: join(d.shots, 'devices-empty.png'), fullPage: true });
    await deploy((n) => ({ ...n, d: true }));
    await d.open('Overview');
    const alert = await until('pipeline not running', () => page().locator('.equalnet-now .state.stopped').innerText(), (t) => /Pipeline not running: no snapshot for \d+ ticks/.test(t), 20_000);
    assert.match(alert, /the last at \d\d:\d\d:\d\d/);
    await page().screenshot({ path: join(d.shots, 'overview-stopped.png'), fullPage: true });
    // the Devices page says it too, above the last figures it has
    await d.open('Devices');
    const devices = await until('pipeline not running on Devices', () => page().locator('.equalnet-devices-stopped').innerText(), (t) => /Pipeline not running: no snapshot for \d+ ticks/.test(t), 20_000);
    assert.match(devices, /the last at \d\d:\d\d:\d\d/);
    await page().screenshot({ path: join(d.shots, 'devices-stopped.png'), fullPage: true });
    console.log(`      screenshots: ${d.shots}`);
  });

  it('logs no error', () => {
    assert.deepEqual(worrying(d.nodeRed.log()), []);
  });
});
