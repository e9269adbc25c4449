// Part of `npm run build`: the examples made from the default flow (flows/default.json, the one
// source), so that nothing of it is kept twice by hand. Tests check both files equal what this
// writes.
// - examples/00-default-flow.json: the default flow itself, under Import > Examples.
// - examples/10-dashboard.json: the default flow's dashboard tab, as it is, fed by a sample pipeline
//   of four made-up clients (flows/dashboard-example-pipeline.json) instead of a LAN.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
const DASHBOARD_TAB = 'equalnet.dash.tab';

export type FlowNode = { id: string; type: string; z?: string; links?: string[]; [key: string]: unknown };

/** A flow as the repository writes its flows: two-space JSON, non-ASCII as \uXXXX, a final newline. */
export function flowText(flow: FlowNode[]): string {
  return JSON.stringify(flow, null, 2).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + '\n';
}

/**
 * The dashboard example: the sample pipeline, then the default flow's dashboard tab with the
 * dashboard's pages and groups (ui_tab, ui_group: nodes without a tab). Link nodes are joined both
 * ways (a link in lists its link outs and each of them lists it back), and a link to a node that is
 * not in the example is an error, naming it: a link node added on the dashboard tab needs its other
 * end in the sample pipeline.
 */
export function dashboardExample(defaultFlow: FlowNode[], pipeline: FlowNode[]): FlowNode[] {
  const dashboard = defaultFlow.filter((n) => n.id === DASHBOARD_TAB || n.z === DASHBOARD_TAB || n.type === 'ui_tab' || n.type === 'ui_group' || n.type === 'ui_base');
  const flow = [...pipeline, ...dashboard].map((n) => (n.links ? { ...n, links: [...n.links] } : n));
  const byId = new Map(flow.map((n) => [n.id, n]));
  for (const n of flow) {
    if (n.type !== 'link in' && n.type !== 'link out') continue;
    for (const other of n.links ?? []) {
      const end = byId.get(other);
      if (!end) throw new Error(`dashboard example: link node ${n.id} ("${String(n.name ?? '')}") links to ${other}, which the sample pipeline (flows/dashboard-example-pipeline.json) does not have`);
      if (!end.links!.includes(n.id)) end.links!.push(n.id);
    }
  }
  return flow;
}

if (require.main === module) {
  copyFileSync(join(root, 'flows', 'default.json'), join(root, 'examples', '00-default-flow.json'));
  const read = (...p: string[]) => JSON.parse(readFileSync(join(root, ...p), 'utf8')) as FlowNode[];
  writeFileSync(join(root, 'examples', '10-dashboard.json'), flowText(dashboardExample(read('flows', 'default.json'), read('flows', 'dashboard-example-pipeline.json'))));
}
