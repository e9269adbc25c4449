// The shipped flows are laid out to be read (docs/default-flow.md): test/helpers/flow-layout.ts
// checks the rules, here on flows/default.json and every example, and on the default flow as it was
// before its re-layout (test/fixtures/flows/default-before-layout.json), where it must find the
// backward wires and overlaps that made it unreadable.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { layoutProblems, nodeLabel, nodeSize, tabProblems, textWidth, type FlowNode } from '../helpers/flow-layout';

const ROOT = join(__dirname, '..', '..');
const read = (...path: string[]): FlowNode[] => JSON.parse(readFileSync(join(ROOT, ...path), 'utf8'));
const EXAMPLES = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.json')).sort();
const kind = (problems: string[], k: string) => problems.filter((p) => p.startsWith(`${k}:`));

describe('flow layout: the shipped flows', () => {
  for (const file of [join('flows', 'default.json'), ...EXAMPLES.map((f) => join('examples', f))]) {
    it(`${file} breaks no layout rule, and keeps what a tab split can break`, () => {
      const flow = read(file);
      assert.deepEqual(layoutProblems(flow), []);
      assert.deepEqual(tabProblems(flow), []);
    });
  }

  it('the default flow: the pipeline on one tab, the dashboard on another, joined by link nodes', () => {
    const flow = read('flows', 'default.json');
    const tabs = flow.filter((n) => n.type === 'tab').map((n) => n.id);
    assert.deepEqual(tabs, ['equalnet.tab', 'equalnet.dash.tab']);
    const z = (id: string) => flow.find((n) => n.id === id)!.z;
    for (const id of ['tick', 'discover', 'counter', 'allocator', 'shaper', 'store', 'alert.over', 'api', 'dash.catch']) assert.equal(z(`equalnet.${id}`), 'equalnet.tab', id);
    for (const n of flow.filter((n) => n.type.startsWith('ui_') && n.z)) assert.equal(n.z, 'equalnet.dash.tab', n.id);
    // left to right along one row: tick → arp-discover → iface-counter → allocator → tc-shaper → usage-store → the alert rules
    const chain = ['tick', 'discover', 'counter', 'allocator', 'shaper', 'store', 'alert.over'].map((id) => flow.find((n) => n.id === `equalnet.${id}`)!);
    for (let i = 1; i < chain.length; i++) assert.ok(chain[i].x! > chain[i - 1].x!, `${chain[i].id} is not right of ${chain[i - 1].id}`);
    assert.deepEqual(new Set(chain.map((n) => n.y)), new Set([chain[0].y]));
    // config nodes stay global
    for (const n of flow) if (typeof n.x !== 'number' && n.type !== 'tab') assert.equal(n.z, undefined, n.id);
  });
});

describe('flow layout: the default flow before its re-layout (the checker finds what was wrong)', () => {
  const before = layoutProblems(read('test', 'fixtures', 'flows', 'default-before-layout.json'));
  const has = (k: string, ...ids: string[]) => kind(before, k).some((p) => ids.every((id) => p.includes(`${id} (`)));

  it('28 wires right to left: usage-store back to arp-discover, the allocator and its alert rules, the dashboard back to the pipeline', () => {
    assert.equal(kind(before, 'wire right to left').length, 28, kind(before, 'wire right to left').join('\n'));
    for (const [from, to] of [
      ['equalnet.store', 'equalnet.discover'],
      ['equalnet.store', 'equalnet.allocator'],
      ['equalnet.store', 'equalnet.alert.over'],
      ['equalnet.store', 'equalnet.dash.notapi'],
      ['equalnet.api', 'equalnet.allocator'],
      ['equalnet.alert.cap', 'equalnet.store'],
      ['equalnet.dash.devices', 'equalnet.dash.commands'],
      ['equalnet.dash.commands', 'equalnet.allocator'],
      ['equalnet.dash.commands', 'equalnet.store'],
    ]) {
      assert.ok(has('wire right to left', from, to), `${from} → ${to} not reported`);
    }
  });

  it('7 pairs of overlapping nodes', () => {
    assert.equal(kind(before, 'overlap').length, 7, kind(before, 'overlap').join('\n'));
    for (const [a, b] of [
      ['equalnet.store', 'equalnet.reports'],
      ['equalnet.dash.link', 'equalnet.dash.settings.rules'],
      ['equalnet.dash.settings.link', 'equalnet.dash.settings.rules'],
      ['equalnet.dash.fn.devices', 'equalnet.dash.hourly'],
      ['equalnet.dash.query.alerts', 'equalnet.dash.notapi'],
      ['equalnet.dash.c.devices', 'equalnet.dash.top'],
    ]) {
      assert.ok(has('overlap', a, b), `${a} / ${b} not reported`);
    }
  });

  it('usage-store fans out over 1,020 px, alert statuses hidden, wires behind nodes, a comment off the canvas', () => {
    assert.ok(kind(before, 'fan-out').some((p) => p.includes('equalnet.store (') && p.includes('1020 px')), kind(before, 'fan-out').join('\n'));
    assert.ok(kind(before, 'fan-out').some((p) => p.startsWith('fan-out: output 1 of equalnet.store (') && p.includes('9 wires')));
    assert.equal(kind(before, 'status hidden').length, 7);
    assert.ok(has('wire behind a node', 'equalnet.shaper', 'equalnet.store', 'equalnet.reports'));
    assert.deepEqual(kind(before, 'off the canvas').map((p) => p.split(' ')[3]), ['equalnet.dash.c.queries']);
    assert.equal(before.length, 76);
  });
});

describe('flow layout: the rules, one by one', () => {
  const tab = { id: 't', type: 'tab', label: 'T' };
  const node = (id: string, x: number, y: number, wires: string[][] = [], extra: Partial<FlowNode> = {}): FlowNode => ({ id, type: 'function', z: 't', name: id, x, y, wires, ...extra });

  it('a wire into a node whose left edge is not right of the source\'s right edge runs right to left (at dx = 0 the editor loops it back)', () => {
    // "a" and "b" are 100 px wide: a spans 50..150
    assert.deepEqual(layoutProblems([tab, node('a', 100, 100, [['b']]), node('b', 250, 100)]), []);
    assert.equal(kind(layoutProblems([tab, node('a', 100, 100, [['b']]), node('b', 200, 160)]), 'wire right to left').length, 1);
    assert.equal(kind(layoutProblems([tab, node('a', 300, 100, [['b']]), node('b', 100, 200)]), 'wire right to left').length, 1);
  });

  it('a wire to another tab, or to a node that does not exist', () => {
    const p = layoutProblems([tab, { id: 'u', type: 'tab' }, node('a', 100, 100, [['b', 'gone']]), node('b', 400, 100, [], { z: 'u' })]);
    assert.equal(kind(p, 'wire across tabs').length, 1);
    assert.equal(kind(p, 'wire to a missing node').length, 1);
  });

  it('overlapping boxes on one tab, the inject and debug buttons counted; on two tabs they do not overlap', () => {
    assert.equal(kind(layoutProblems([tab, node('a', 100, 100), node('b', 150, 110)]), 'overlap').length, 1);
    assert.deepEqual(layoutProblems([tab, { id: 'u', type: 'tab' }, node('a', 100, 100), node('b', 150, 110, [], { z: 'u' })]), []);
    // 120 px apart: the boxes (100 wide) leave 20 px, the debug's button (26 px right of it) reaches the next one
    const debug = { ...node('d', 100, 100), type: 'debug' };
    assert.deepEqual(layoutProblems([tab, node('a', 100, 100), node('b', 220, 100)]), []);
    assert.equal(kind(layoutProblems([tab, debug, node('b', 220, 100)]), 'overlap').length, 1);
    const inject = { ...node('i', 220, 100), type: 'inject' };
    assert.equal(kind(layoutProblems([tab, node('a', 100, 100), inject]), 'overlap').length, 1);
  });

  it('a node in the status line under one that shows a status, a wire drawn behind a node, a node off the canvas', () => {
    const store = { ...node('s', 100, 100), type: 'usage-store', name: 'store' };
    assert.equal(kind(layoutProblems([tab, store, node('b', 100, 140)]), 'status hidden').length, 1);
    assert.deepEqual(kind(layoutProblems([tab, store, node('b', 100, 150)]), 'status hidden'), []);
    assert.deepEqual(kind(layoutProblems([tab, node('b', 100, 140), node('a', 100, 100)]), 'status hidden'), [], 'a function shows no status');
    const behind = layoutProblems([tab, node('a', 100, 100, [['c']]), node('b', 300, 100), node('c', 500, 100)]);
    assert.deepEqual(behind, ['wire behind a node: a ("a") → c ("c") passes behind b ("b")']);
    assert.equal(kind(layoutProblems([tab, node('a', 40, 100)]), 'off the canvas').length, 1);
    assert.equal(kind(layoutProblems([tab, node('a', 100, 10)]), 'off the canvas').length, 1);
  });

  it('fan-out: more than 8 wires from one output, or a node and its targets over more than 600 px', () => {
    const targets = (n: number, dy: number) => Array.from({ length: n }, (_, i) => node(`t${i}`, 400, 100 + dy * i));
    const fan = (n: number, dy: number) => layoutProblems([tab, node('a', 100, 100, [targets(n, dy).map((t) => t.id)]), ...targets(n, dy)]);
    assert.deepEqual(kind(fan(8, 60), 'fan-out'), []);
    assert.equal(kind(fan(9, 60), 'fan-out').length, 1);
    assert.deepEqual(kind(fan(2, 600), 'fan-out'), []);
    assert.equal(kind(fan(2, 620), 'fan-out').length, 1);
  });

  it('link nodes name each other both ways', () => {
    const out = { id: 'o', type: 'link out', z: 't', mode: 'link', links: ['i'], x: 100, y: 100, wires: [] } as FlowNode;
    const into = { id: 'i', type: 'link in', z: 't', links: ['o'], x: 300, y: 200, wires: [[]] } as FlowNode;
    assert.deepEqual(layoutProblems([tab, out, into]), []);
    assert.equal(kind(layoutProblems([tab, out, { ...into, links: [] }]), 'one-way link').length, 1);
    assert.equal(kind(layoutProblems([tab, { ...out, links: [] }, into]), 'one-way link').length, 1);
  });

  it('groups: a member outside the group\'s box, a node inside it that is not a member', () => {
    const group = { id: 'g', type: 'group', z: 't', name: 'G', nodes: ['a'], x: 20, y: 60, w: 200, h: 80 } as FlowNode;
    assert.deepEqual(layoutProblems([tab, group, node('a', 100, 100, [], { g: 'g' })]), []);
    assert.equal(kind(layoutProblems([tab, group, node('a', 400, 100, [], { g: 'g' })]), 'outside its group').length, 1);
    assert.equal(kind(layoutProblems([tab, group, node('a', 100, 100, [], { g: 'g' }), node('b', 160, 120)]), 'in a group it is not part of').length, 1);
  });

  it('config nodes (no position) are left out', () => {
    assert.deepEqual(layoutProblems([tab, { id: 'c', type: 'equalnet-config', name: 'LAN' }, { id: 'u', type: 'ui_group', name: 'G' }]), []);
  });

  it('tab splits: a catch node watching another tab, a flow-context key used on two tabs', () => {
    const other = { id: 'u', type: 'tab' };
    const fn = (id: string, z: string, func: string) => ({ ...node(id, 100, 100), z, func });
    assert.equal(tabProblems([tab, other, node('a', 100, 100), { ...node('c', 100, 200), type: 'catch', z: 'u', scope: ['a'] }]).length, 1);
    assert.equal(tabProblems([tab, other, fn('f', 't', "flow.set('names', 1)"), fn('g', 'u', "flow.get('names')")]).length, 1);
    assert.deepEqual(tabProblems([tab, other, fn('f', 't', "flow.set('names', 1)"), fn('g', 't', "flow.get('names')")]), []);
  });
});

describe('flow layout: node geometry as the editor draws it', () => {
  it('widths and heights measured in Node-RED 4.1\'s editor (Chromium, DejaVu Sans: the widest of its fonts)', () => {
    // [node, width, height] as the editor drew them
    const drawn: Array<[FlowNode, number, number]> = [
      [{ id: 's', type: 'usage-store', wires: [[], [], []] }, 140, 45],
      [{ id: 'f', type: 'function', name: 'overview figures', outputs: 4, wires: [[], [], [], []] }, 180, 60],
      [{ id: 'c', type: 'comment', name: 'Overview' }, 120, 30],
      [{ id: 'i', type: 'inject', name: 'every 2 s', repeat: '2' }, 140, 30],
      [{ id: 't', type: 'ui_text', name: '', label: 'Link' }, 100, 30],
      [{ id: 'a', type: 'alert-rule', rule: 'priority_starvation', wires: [[], []] }, 200, 30],
      [{ id: 'l', type: 'link out', name: 'to usage-store', mode: 'link', l: true }, 160, 30],
    ];
    for (const [n, w, h] of drawn) assert.deepEqual(nodeSize(n), { w, h }, nodeLabel(n));
  });

  it('a link node without its label, and one with l: false, is a 30 px square; a label of two lines is 54 px high', () => {
    assert.deepEqual(nodeSize({ id: 'o', type: 'link out' }), { w: 30, h: 30 });
    assert.deepEqual(nodeSize({ id: 'f', type: 'function', name: 'x', l: false, outputs: 3 }), { w: 30, h: 45 });
    assert.equal(nodeSize({ id: 'c', type: 'comment', name: 'one\\n two' }).h, 54);
  });

  it('text is never narrower than Helvetica (Arial has the same widths) or DejaVu Sans draws it at 14px', () => {
    // advance widths in 1/1000 em: Helvetica's AFM, DejaVu Sans as Chromium measured it
    const widths: Array<[string, number, number]> = [['a', 556, 613], ['m', 833, 974], ['i', 222, 278], ['W', 944, 989], [' ', 278, 318], ['@', 1015, 1000]];
    for (const [c, helvetica, dejavu] of widths) assert.ok(textWidth(c) >= (Math.max(helvetica, dejavu) * 14) / 1000, c);
    // measured in the editor (offsetWidth, DejaVu Sans): "priority allocator" 116 px, "weekly report, Monday 07:00 ↻" 222 px
    assert.ok(textWidth('priority allocator') >= 116 && textWidth('priority allocator') < 118);
    assert.ok(textWidth('weekly report, Monday 07:00 ↻') >= 222);
  });

  it("EqualNet's own default labels are the ones nodes/*.html give, in English", () => {
    const messages = (set: string): Record<string, unknown> => JSON.parse(readFileSync(join(ROOT, 'nodes', 'locales', 'en-US', `${set}.json`), 'utf8'));
    const translate = (key: string, args: Record<string, unknown> = {}) => {
      const [set, path] = key.includes(':') ? [key.split(':')[0].split('/').pop()!, key.split(':')[1]] : ['', key];
      const found = path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), messages(set));
      return typeof found === 'string' ? found.replace(/__(\w+)__/g, (_, k) => String(args[k])) : key; // Node-RED shows the key when a text is missing
    };
    const samples: FlowNode[] = [
      { id: '1', type: '' },
      { id: '2', type: '', name: 'named' },
      { id: '3', type: '', rule: 'new_device' },
      { id: '4', type: '', basePath: '/v2' },
    ];
    for (const type of ['alert-rule', 'arp-discover', 'equalnet-api', 'iface-counter', 'priority-allocator', 'tc-shaper', 'usage-store']) {
      const html = join(ROOT, 'nodes', `${type}.html`);
      assert.ok(existsSync(html), html);
      const script = /<script type="text\/javascript">([\s\S]*?)<\/script>/.exec(readFileSync(html, 'utf8'))![1];
      let def: { label: (this: FlowNode) => string; _?: unknown } | undefined;
      const anything: unknown = new Proxy(function () {}, { get: () => anything, apply: () => anything });
      const RED = new Proxy({ nodes: { registerType: (_: string, d: typeof def) => (def = d) } }, { get: (t, k) => (k in t ? t[k as 'nodes'] : anything) });
      // as in the editor: the shared script first (resources/editor.js: EqualNetEditor.register), `window` is the global
      const context: Record<string, unknown> = { RED, $: anything, jQuery: anything };
      context.window = context;
      runInNewContext(readFileSync(join(ROOT, 'resources', 'editor.js'), 'utf8') + '\n' + script, context);
      assert.ok(def, `${type}: no registerType`);
      def._ = (key: string, args?: Record<string, unknown>) => translate(key.includes(':') ? key : `node-red-contrib-equalnet/${type}:${key}`, args);
      for (const sample of samples) {
        const n = { ...sample, type };
        assert.equal(nodeLabel(n), def.label.call(n), `${type} ${JSON.stringify(sample)}`);
      }
    }
  });
});
