// The examples `npm run build` makes from the default flow (scripts/default-example.ts): what is
// committed is what the build writes, so a page changed in flows/default.json is the same page in
// the dashboard example, and nothing of the default flow is kept twice by hand.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dashboardExample, flowText, type FlowNode } from '../../scripts/default-example';

const ROOT = join(__dirname, '..', '..');
const text = (...p: string[]) => readFileSync(join(ROOT, ...p), 'utf8');
const flow = (...p: string[]) => JSON.parse(text(...p)) as FlowNode[];

describe('examples made from the default flow', () => {
  it('examples/00-default-flow.json is flows/default.json, byte for byte', () => {
    assert.equal(text('examples', '00-default-flow.json'), text('flows', 'default.json'));
  });

  it('examples/10-dashboard.json is the default flow\'s dashboard tab behind the sample pipeline, as the build writes it', () => {
    assert.equal(text('examples', '10-dashboard.json'), flowText(dashboardExample(flow('flows', 'default.json'), flow('flows', 'dashboard-example-pipeline.json'))));
    const example = flow('examples', '10-dashboard.json');
    const dashboard = flow('flows', 'default.json').filter((n) => n.z === 'equalnet.dash.tab' && !n.type.startsWith('link '));
    for (const n of dashboard) assert.deepEqual(example.find((e) => e.id === n.id), n, n.id);
  });

  it('joins link nodes both ways, and names a link to a node the sample pipeline does not have', () => {
    const pipeline: FlowNode[] = [{ id: 'p', type: 'link out', z: 't', links: [] }];
    const dash: FlowNode[] = [
      { id: 'equalnet.dash.tab', type: 'tab' },
      { id: 'in', type: 'link in', z: 'equalnet.dash.tab', links: ['p'] },
    ];
    const joined = dashboardExample(dash, pipeline);
    assert.deepEqual(joined.find((n) => n.id === 'p')!.links, ['in']);
    assert.deepEqual(pipeline[0].links, [], 'the source is not changed');
    dash.push({ id: 'out', type: 'link out', z: 'equalnet.dash.tab', name: 'to nowhere', links: ['missing.in'] });
    assert.throws(() => dashboardExample(dash, pipeline), /link node out \("to nowhere"\) links to missing.in, which the sample pipeline/);
  });
});
