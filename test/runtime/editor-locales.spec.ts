// The editor's texts as a user meets them (issue 14, locales): palette labels, node and port
// labels, edit dialogs, validation texts and help, all from nodes/locales/en-US, in a real Node-RED
// with the package installed from its `npm pack` tarball, looked at in Debian's Chromium (driven by
// playwright-core). CI installs the chromium package; without /usr/bin/chromium this test fails.
//
// The user directory holds the unpacked tarball as node_modules/node-red-contrib-equalnet (so only
// what package.json "files" ships is there: nodes/locales/ must be in it); its dependencies resolve
// from this clone's node_modules through NODE_PATH, and Node-RED is this clone's (test/runtime/
// install.spec.ts does the full `npm install` into a Node-RED of its own prefix). Without a login
// file the settings EqualNet writes leave the editor open on 127.0.0.1, which is where Chromium goes.
// The flow is one node of each type on a disabled tab: the editor shows them, the runtime starts
// none of them.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { nodeRedEntry, PACKAGE_NAME, PROJECT_ROOT, settingsSource } from '../../scripts/node-red-home';
import { adminGet, freePort, startNodeRed, worrying, type RunningNodeRed } from '../helpers/runtime';

// the editor's globals, inside page.evaluate
declare const RED: any;
declare const $: any;
declare const i18next: any;
declare const window: any;

const CHROMIUM = '/usr/bin/chromium';
const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'));
/** node type -> the basename of its .js/.html (and so of its locale files) */
const FILES: Record<string, string> = Object.fromEntries(Object.entries(pkg['node-red'].nodes as Record<string, string>).map(([type, file]) => [type, basename(file, '.js')]));
const TYPES = Object.keys(FILES);
const CONFIG = 'equalnet-config';
const LOCALES = join(PROJECT_ROOT, 'nodes', 'locales', 'en-US');
const catalogOf = (file: string): Record<string, any> => JSON.parse(readFileSync(join(LOCALES, `${file}.json`), 'utf8'));
const helpOf = (type: string): string => readFileSync(join(LOCALES, `${FILES[type]}.html`), 'utf8');
const CORE = JSON.parse(readFileSync(require.resolve('@node-red/nodes/locales/en-US/messages.json'), 'utf8'));

/** Optional message properties (dt class="optional") each help text marks. */
const OPTIONAL: Record<string, string[]> = {
  'equalnet-config': ['Name'],
  'arp-discover': ['topic', 'payload.capped', 'payload.limited'],
  'iface-counter': [],
  'priority-allocator': ['topic'],
  'tc-shaper': [],
  'usage-store': ['topic', 'query', 'plaintext, html, data'],
  'alert-rule': ['topic'],
  'equalnet-api': [],
};

/** The text of a key as the editor resolves it: "ns:path" (ns a node set id, or node-red), or a path in the type's own set. */
function expected(key: string, type: string, args: Record<string, string | number> = {}): string {
  const at = key.indexOf(':');
  const ns = at >= 0 ? key.slice(0, at) : `${PACKAGE_NAME}/${FILES[type]}`;
  const path = at >= 0 ? key.slice(at + 1) : key;
  let value: any;
  if (ns === 'node-red') value = CORE;
  else if (ns.startsWith(`${PACKAGE_NAME}/`)) value = catalogOf(ns.slice(PACKAGE_NAME.length + 1));
  else throw new Error(`unexpected namespace in ${key}`);
  for (const part of path.split('.')) value = value?.[part];
  assert.equal(typeof value, 'string', `no text for ${key} (type ${type})`);
  return (value as string).replace(/__(\w+)__/g, (_, name: string) => String(args[name]));
}

/** Text that is a key rather than a translation: a catalog path, or a namespace. */
const RAW_KEY = new RegExp(`${PACKAGE_NAME}/|\\b(?:${[...TYPES, 'equalnet', 'common'].join('|')})\\.(?:label|placeholder|errors|field|mode|rule|directions|severity|unit|inputs|outputs|paletteLabel|tip|alert)\\b`);

/**
 * One node of each type, on a disabled tab, with only the properties set here: the others are
 * missing, as in a hand-written or older flow, which the editor must not flag (the runtime uses
 * its defaults).
 */
const FLOW = [
  { id: 'tab.locales', type: 'tab', label: 'locales', disabled: true },
  { id: 'n.equalnet-config', type: CONFIG, z: 'tab.locales', name: '', iface: 'lo', ifaceType: 'str', downMbps: 100, downMbpsType: 'num', upMbps: 20, upMbpsType: 'num', maxPriority: 5, minPercent: 10, clientCap: 1024, mode: 'dry-run', dbFile: 'equalnet-locales.db' },
  ...TYPES.filter((t) => t !== CONFIG).map((type, i) => ({
    id: `n.${type}`,
    type,
    z: 'tab.locales',
    name: '',
    ...(type === 'alert-rule' ? { rule: 'over_allocation', directions: 'both', severity: '' } : { config: 'n.equalnet-config' }),
    x: 200,
    y: 60 + 60 * i,
    wires: [],
  })),
];

/**
 * Per type: a bad value for a property, the text its validator gives (key and interpolation), and
 * whether the edit dialog is checked with it (the first plain text input of each type).
 */
const BAD: Array<{ type: string; prop: string; value: string; key: string; args?: Record<string, string | number>; inDialog?: boolean }> = [
  { type: CONFIG, prop: 'maxPriority', value: '1', key: 'equalnet-config.errors.range', args: { what: 'max priority', min: 2, max: 20 }, inDialog: true },
  { type: CONFIG, prop: 'clientCap', value: '2.5', key: 'equalnet-config.errors.whole', args: { what: 'client cap' } },
  { type: CONFIG, prop: 'minPercent', value: '0x10', key: 'equalnet-config.errors.decimal', args: { what: 'minimum guarantee' } },
  { type: CONFIG, prop: 'downMbps', value: '0', key: 'equalnet-config.errors.mbps', args: { what: 'download' } },
  { type: CONFIG, prop: 'upMbps', value: '0.5', key: 'equalnet-config.errors.mbpsMin', args: { what: 'upload', min: 8.2, cap: 1024 } },
  { type: CONFIG, prop: 'iface', value: 'no spaces', key: 'equalnet-config.errors.iface' },
  { type: 'arp-discover', prop: 'probeInterval', value: '0', key: 'arp-discover.errors.probeInterval', args: { min: 1, max: 3600 }, inDialog: true },
  { type: 'arp-discover', prop: 'absence', value: '90000', key: 'arp-discover.errors.absence', args: { min: 1, max: 86400 } },
  { type: 'arp-discover', prop: 'newMacs', value: '1.5', key: 'arp-discover.errors.newMacs' },
  { type: 'arp-discover', prop: 'deviceTypes', value: '{}', key: 'arp-discover.errors.deviceTypesArray' },
  { type: 'arp-discover', prop: 'netns', value: 'a b', key: `${PACKAGE_NAME}/equalnet-config:equalnet.errors.netns` },
  { type: 'iface-counter', prop: 'smoothing', value: '-1', key: 'iface-counter.errors.smoothing', inDialog: true },
  { type: 'iface-counter', prop: 'netns', value: 'a b', key: `${PACKAGE_NAME}/equalnet-config:equalnet.errors.netns` },
  { type: 'priority-allocator', prop: 'defaultPriority', value: '0', key: 'priority-allocator.errors.defaultPriority', args: { max: 5 }, inDialog: true },
  { type: 'priority-allocator', prop: 'headroomPercent', value: '101', key: 'priority-allocator.errors.headroomPercent' },
  { type: 'tc-shaper', prop: 'thresholdPercent', value: '101', key: 'tc-shaper.errors.thresholdPercent', inDialog: true },
  { type: 'tc-shaper', prop: 'netns', value: 'a b', key: `${PACKAGE_NAME}/equalnet-config:equalnet.errors.netns` },
  { type: 'usage-store', prop: 'resolutionSec', value: '7', key: 'usage-store.errors.resolutionSec', inDialog: true },
  { type: 'usage-store', prop: 'rawDays', value: '0', key: 'usage-store.errors.rawDays' },
  { type: 'usage-store', prop: 'expireDays', value: '-1', key: 'usage-store.errors.expireDays' },
  { type: 'alert-rule', prop: 'holdSec', value: '-1', key: 'alert-rule.errors.number', args: { field: 'holdSec', min: 0, max: 86400, unit: 's' }, inDialog: true },
  { type: 'alert-rule', prop: 'goneSec', value: '10.5', key: 'alert-rule.errors.whole', args: { field: 'goneSec', min: 10, max: 604800, unit: 's' } },
  { type: 'alert-rule', prop: 'sigma', value: '0', key: 'alert-rule.errors.number', args: { field: 'sigma', min: 1, max: 20, unit: 'standard deviations' } },
  { type: 'alert-rule', prop: 'directions', value: 'sideways', key: 'alert-rule.errors.directions' },
  { type: 'alert-rule', prop: 'rule', value: 'none', key: 'alert-rule.errors.rule' },
  { type: 'equalnet-api', prop: 'basePath', value: 'api', key: 'equalnet-api.errors.basePath', inDialog: true },
];

/** The first paragraph of a help text, as text. */
function firstSentence(type: string): string {
  const p = /<p>([\s\S]*?)<\/p>/.exec(helpOf(type));
  assert.ok(p, `no <p> in the help of ${type}`);
  return p[1].replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim();
}

/** The names of the dt class="optional" entries a help file marks. */
function optionalInFile(type: string): string[] {
  return [...helpOf(type).matchAll(/<dt class="optional">([^<]*?)\s*(?:<span|<\/dt>)/g)].map((m) => m[1].trim()).sort();
}

describe('editor texts from nodes/locales/en-US, in a real Node-RED with the packed package, seen in Chromium', function () {
  this.timeout(300_000);
  let work: string;
  let nodeRed: RunningNodeRed;
  let browser: Browser | undefined;
  let page: Page;
  let base: string;
  const pageErrors: string[] = [];

  /** Opens the node's edit dialog (a config node's own for the config node); returns its form selector. */
  const openEditor = async (type: string): Promise<string> => {
    const form = type === CONFIG ? '#node-config-dialog-edit-form' : '#dialog-form';
    await page.evaluate(
      ({ type, config }) => (type === config ? RED.editor.editConfig('', type, `n.${type}`) : RED.editor.edit(RED.nodes.node(`n.${type}`))),
      { type, config: CONFIG },
    );
    await page.locator(form).waitFor({ state: 'visible', timeout: 10_000 });
    // the tray slides in; oneditprepare has run once the form is visible, give it a moment
    await page.waitForTimeout(500);
    return form;
  };
  const closeEditor = async (type: string) => {
    const form = type === CONFIG ? '#node-config-dialog-edit-form' : '#dialog-form';
    await page.locator(type === CONFIG ? '#node-config-dialog-cancel' : '#node-dialog-cancel').click();
    await page.locator(form).waitFor({ state: 'detached', timeout: 10_000 });
  };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); this test drives it with playwright-core`);
    work = mkdtempSync(join(tmpdir(), 'equalnet-locales-'));
    // --ignore-scripts: the tarball of the tree as built (the test command compiles first), without
    // `prepare` rewriting built files in the checkout while others work in it
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
    const userDir = join(work, 'user');
    mkdirSync(join(userDir, 'node_modules'), { recursive: true });
    execFileSync('tar', ['-xzf', join(work, packed), '-C', work]);
    renameSync(join(work, 'package'), join(userDir, 'node_modules', PACKAGE_NAME));
    writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'user-dir', private: true, dependencies: { [PACKAGE_NAME]: pkg.version } }));
    const port = await freePort();
    writeFileSync(join(userDir, 'settings.js'), settingsSource(port));
    writeFileSync(join(userDir, 'flows.json'), JSON.stringify(FLOW, null, 2));
    nodeRed = await startNodeRed([nodeRedEntry(), '--userDir', userDir, '--port', String(port), '--settings', join(userDir, 'settings.js')], port, {
      NODE_PATH: join(PROJECT_ROOT, 'node_modules'),
    });
    base = `http://127.0.0.1:${port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, locale: 'en-US' });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' || /Definition error|Validation error/.test(msg.text())) pageErrors.push(msg.text());
    });
    await page.goto(`${base}/`);
    await page.waitForFunction(
      (types: string[]) => typeof RED !== 'undefined' && RED.nodes && RED.nodes.node && types.every((t) => RED.nodes.node(`n.${t}`)),
      TYPES,
      { timeout: 60_000 },
    );
    // record every key the editor looks up and does not find (i18next's missingKey)
    await page.evaluate(() => {
      window.__missing = [];
      i18next.options.saveMissing = true;
      i18next.options.missingKeyHandler = (_lngs: string[], ns: string, key: string) => window.__missing.push(`${ns}:${key}`);
    });
  });

  after(async () => {
    await browser?.close();
    await nodeRed?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships nodes/locales in the tarball; the node .html files hold no help and no inline labels', () => {
    const installed = join(work, 'user', 'node_modules', PACKAGE_NAME, 'nodes', 'locales', 'en-US');
    assert.deepEqual(readdirSync(installed).sort(), TYPES.flatMap((t) => [`${FILES[t]}.html`, `${FILES[t]}.json`]).sort());
    for (const type of TYPES) {
      const html = readFileSync(join(PROJECT_ROOT, 'nodes', `${FILES[type]}.html`), 'utf8');
      assert.doesNotMatch(html, /data-help-name/, `${type}: help still in nodes/${FILES[type]}.html`);
      const template = /<script type="text\/html" data-template-name="[^"]+">([\s\S]*?)<\/script>/.exec(html)![1];
      assert.doesNotMatch(template, /\splaceholder="/, `${type}: a placeholder not from the locale file`);
      assert.deepEqual(template.replace(/<[^>]*>/g, ' ').trim().split(/\s+/).filter(Boolean), [], `${type}: text in the template`);
      assert.ok(catalogOf(FILES[type])[type], `${type}: the locale file has no "${type}" section`);
    }
  });

  it('serves each node set\'s catalog and help, the way the editor asks for them', async () => {
    const { body: all } = await adminGet<Record<string, unknown>>(nodeRed.port, '/nodes/messages?lng=en-US');
    const { body: nodesHtml } = await adminGet<string>(nodeRed.port, '/nodes', 'text/html');
    const servedText = nodesHtml.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ');
    for (const type of TYPES) {
      const ns = `${PACKAGE_NAME}/${FILES[type]}`;
      assert.deepEqual(all[ns], catalogOf(FILES[type]), `/nodes/messages: ${ns}`);
      const { status, body } = await adminGet(nodeRed.port, `/nodes/${ns}/messages?lng=en-US`);
      assert.equal(status, 200);
      assert.deepEqual(body, catalogOf(FILES[type]));
      assert.match(nodesHtml, new RegExp(`data-help-name="${type}"`));
      assert.ok(servedText.includes(firstSentence(type)), `${type}: help sentence not served`);
    }
    assert.deepEqual(worrying(nodeRed.log()), []);
  });

  for (const type of TYPES) {
    it(`${type}: palette and node label, port labels, edit dialog and help from its locale files`, async () => {
      const file = FILES[type];
      const own = catalogOf(file)[type];
      const shown = await page.evaluate(
        ({ type }) => {
          const node = RED.nodes.node(`n.${type}`);
          const def = RED.nodes.getType(type);
          const ports = (labels: unknown, n: number) =>
            Array.from({ length: n }, (_, i) => (typeof labels === 'function' ? labels.call(node, i) : Array.isArray(labels) ? labels[i] : labels));
          return {
            palette: ($(`.red-ui-palette-node[data-palette-type="${type}"] .red-ui-palette-label`).text() as string).replace(/\s+/g, ' ').trim(),
            label: RED.utils.getNodeLabel(node) as string,
            inputs: ports(def.inputLabels, def.inputs || 0),
            outputs: ports(def.outputLabels, def.outputs || 0),
          };
        },
        { type },
      );
      if (type === CONFIG) {
        assert.equal(shown.palette, '', 'a config node has no palette entry');
        assert.equal(shown.label, 'lo ↓100 ↑20 Mbit/s');
      } else {
        assert.equal(shown.palette, own.paletteLabel);
        assert.equal(shown.label, type === 'equalnet-api' ? 'EqualNet API /api' : type === 'alert-rule' ? 'over allocation' : own.paletteLabel);
        assert.deepEqual(shown.inputs, Object.values(own.inputs));
        assert.deepEqual(shown.outputs, Object.values(own.outputs));
      }

      // the edit dialog: every data-i18n element shows its catalog's text; nothing raw is visible
      const form = await openEditor(type);
      try {
        const dialog = await page.evaluate((form: string) => {
          const items: Array<{ key: string; attr: string; value: string }> = [];
          $(`${form} [data-i18n]`).each(function (this: any) {
            for (const spec of String($(this).attr('data-i18n')).split(';')) {
              const m = /^(?:\[([^\]]+)\])?(.*)$/.exec(spec)!;
              const attr = m[1] ?? '';
              const value = attr === 'html' ? $(this).html() : attr ? $(this).attr(attr) : $(this).text();
              items.push({ key: m[2], attr, value: String(value ?? '') });
            }
          });
          const labels: string[] = $(`${form} label[for]`).map(function (this: any) { return $(this).text().trim(); }).get();
          const placeholders: string[] = $(`${form} input[placeholder]`).map(function (this: any) { return String($(this).attr('placeholder')); }).get();
          const options: Array<{ value: string; text: string }> = $(`${form} option`).map(function (this: any) { return { value: String($(this).val()), text: $(this).text() }; }).get();
          return { items, labels, placeholders, options, text: $(form).prop('innerText') as string };
        }, form);
        assert.ok(dialog.items.length >= 3, `${type}: only ${dialog.items.length} translated elements`);
        for (const { key, attr, value } of dialog.items) {
          assert.match(key, new RegExp(`^(?:node-red|${PACKAGE_NAME}/[a-z-]+):`), `${type}: ${key} was not given a namespace`);
          assert.equal(value.trim(), expected(key, type).trim(), `${type}: ${attr ? `[${attr}]` : ''}${key}`);
        }
        for (const label of dialog.labels) assert.notEqual(label, '', `${type}: an empty label`);
        for (const text of [dialog.text, ...dialog.placeholders, ...dialog.options.map((o) => o.text)]) {
          assert.doesNotMatch(text, RAW_KEY, `${type}: a raw key is shown`);
        }
        if (type === 'alert-rule') {
          const rules = dialog.options.filter((o) => Object.hasOwn(own.rule, o.value));
          assert.equal(rules.length, Object.keys(own.rule).length);
          for (const o of rules) assert.equal(o.text, own.rule[o.value], `rule option ${o.value}`);
        }

        // a bad value is marked in the dialog (the validators are live)
        for (const bad of BAD.filter((b) => b.type === type && b.inDialog)) {
          const prefix = type === CONFIG ? 'node-config-input' : 'node-input';
          const marked = await page.evaluate(
            ({ id, value }) => {
              $(`#${id}`).val(value).trigger('change');
              return $(`#${id}`).hasClass('input-error');
            },
            { id: `${prefix}-${bad.prop}`, value: bad.value },
          );
          assert.ok(marked, `${type}: ${bad.prop} = ${bad.value} is not marked in the dialog`);
        }
      } finally {
        await closeEditor(type);
      }

      // validation texts, from the locale files
      for (const bad of BAD.filter((b) => b.type === type)) {
        const text = await page.evaluate(
          ({ type, prop, value }) => RED.nodes.getType(type).defaults[prop].validate.call(RED.nodes.node(`n.${type}`), value, {}),
          { type, prop: bad.prop, value: bad.value },
        );
        assert.equal(text, expected(bad.key, type, bad.args), `${type}.${bad.prop} = ${JSON.stringify(bad.value)}`);
      }
      const valid = await page.evaluate((type: string) => {
        const node = RED.nodes.node(`n.${type}`);
        RED.editor.validateNode(node);
        return { valid: node.valid, errors: node.validationErrors };
      }, type);
      assert.deepEqual(valid, { valid: true, errors: [] }, `${type}: the test flow's node is invalid`);

      // help, in the help sidebar
      await page.evaluate((type: string) => RED.sidebar.help.show(type), type);
      const help = page.locator('.red-ui-help').filter({ hasText: firstSentence(type) });
      await help.first().waitFor({ state: 'visible', timeout: 10_000 });
      const sidebar = await help.first().evaluate((el: unknown) => {
        const h = $(el);
        return {
          title: String(h.find('h1').first().text()).trim(),
          sections: h.find('h3').map(function (this: any) { return $(this).text().trim(); }).get() as string[],
          optional: h.find('dl.message-properties dt.optional').map(function (this: any) { return $(this).clone().children('.property-type').remove().end().text().trim(); }).get() as string[],
          text: String(h.prop('innerText')),
        };
      });
      assert.equal(sidebar.title, type === CONFIG ? CONFIG : own.paletteLabel);
      assert.ok(sidebar.text.replace(/\s+/g, ' ').includes(firstSentence(type)), `${type}: the help's first sentence is not shown`);
      assert.deepEqual(sidebar.sections, type === CONFIG ? ['Properties', 'Details', 'References'] : ['Inputs', 'Outputs', 'Details', 'References']);
      assert.deepEqual(optionalInFile(type), [...OPTIONAL[type]].sort(), `${type}: optional properties marked in ${file}.html`);
      assert.deepEqual([...sidebar.optional].sort(), [...OPTIONAL[type]].sort(), `${type}: optional properties shown`);
    });
  }

  it('flows/default.json and every example import into the editor with no invalid EqualNet node (the validators are live)', async () => {
    const files = [join(PROJECT_ROOT, 'flows', 'default.json'), ...readdirSync(join(PROJECT_ROOT, 'examples')).filter((f) => f.endsWith('.json')).map((f) => join(PROJECT_ROOT, 'examples', f))];
    for (const f of files) {
      const invalid = await page.evaluate(
        ({ flow, module }) => {
          const before = new Set<string>();
          RED.nodes.eachNode((n: any) => before.add(n.id));
          RED.nodes.eachConfig((n: any) => before.add(n.id));
          RED.view.importNodes(flow, { generateIds: true, addFlow: true });
          const bad: unknown[] = [];
          const check = (n: any) => {
            if (before.has(n.id) || n._def?.set?.module !== module) return;
            RED.editor.validateNode(n);
            if (!n.valid) bad.push({ type: n.type, name: n.name, errors: n.validationErrors });
          };
          RED.nodes.eachNode(check);
          RED.nodes.eachConfig(check);
          return bad;
        },
        { flow: JSON.parse(readFileSync(f, 'utf8')), module: PACKAGE_NAME },
      );
      assert.deepEqual(invalid, [], basename(f));
    }
  });

  it('the editor looked up no missing key and logged no error', async () => {
    const missing = await page.evaluate(() => {
      // the detector works: a key that is not there is recorded
      RED.nodes.getType('arp-discover')._('arp-discover.label.noSuchKey');
      return window.__missing as string[];
    });
    const ours = new RegExp(`^(?:${PACKAGE_NAME}/|[^:]*:(?:${[...TYPES, 'equalnet'].join('|')})\\.)`);
    assert.deepEqual(missing.filter((k) => ours.test(k)), [`${PACKAGE_NAME}/arp-discover:arp-discover.label.noSuchKey`]);
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(worrying(nodeRed.log()), []);
  });

  it('in a German browser, the same English texts (Node-RED falls back to en-US), not keys', async () => {
    const context = await browser!.newContext({ locale: 'de-DE' });
    try {
      const german = await context.newPage();
      await german.goto(`${base}/`);
      await german.waitForFunction(() => typeof RED !== 'undefined' && RED.nodes && RED.nodes.node && RED.nodes.node('n.arp-discover'), null, { timeout: 60_000 });
      const shown = await german.evaluate(() => ({
        lang: RED.i18n.detectLanguage(),
        palette: ($('.red-ui-palette-node[data-palette-type="tc-shaper"] .red-ui-palette-label').text() as string).replace(/\s+/g, ' ').trim(),
        probe: RED.nodes.getType('arp-discover')._('arp-discover.label.probe'),
        shared: RED._(`node-red-contrib-equalnet/equalnet-config:equalnet.label.netns`),
        name: RED._('node-red:common.label.name'),
        help: RED.nodes.getNodeHelp('usage-store') as string,
      }));
      assert.equal(shown.lang, 'de-DE');
      assert.equal(shown.palette, catalogOf('tc-shaper')['tc-shaper'].paletteLabel);
      assert.equal(shown.probe, catalogOf('arp-discover')['arp-discover'].label.probe);
      assert.equal(shown.shared, catalogOf('equalnet-config').equalnet.label.netns);
      assert.equal(shown.name, 'Name'); // Node-RED's own German catalog has it as "Name" too
      assert.ok(shown.help.replace(/\s+/g, ' ').includes(firstSentence('usage-store')));
    } finally {
      await context.close();
    }
  });
});
