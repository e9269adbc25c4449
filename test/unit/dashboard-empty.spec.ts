// The dashboard's hourly chart on a first start: no rows yet must read as an empty state (the
// chart's "no usage recorded yet"), not as two bars labelled "undefined" (node-red-dashboard swaps
// a bar chart's series and labels when its rows are empty). The function node's own code, run on
// the answers usage-store gives, in the shipped flow and in the dashboard example.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

for (const file of ['flows/default.json', 'examples/10-dashboard.json']) {
  describe(`${file}: the hourly chart's function`, () => {
    const flow = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as Array<{ type: string; name?: string; func?: string }>;
    const node = flow.find((n) => n.type === 'function' && n.name === 'hourly bars');
    const run = (payload: unknown) => new Function('msg', node!.func!)({ topic: 'hourly', payload }) as { payload: unknown };

    it('no rows: an empty array, which clears the chart and shows its empty-state text', () => {
      assert.ok(node, 'no "hourly bars" function');
      assert.deepEqual(run([]).payload, []);
    });

    it('rows: one bar chart, download and upload per hour, in Mbit/s', () => {
      const rows = [
        { hour: '2026-11-29 15:00', avg_download: 12.345, avg_upload: 1.2 },
        { hour: '2026-11-29 16:00', avg_download: 38.1, avg_upload: 8.456 },
      ];
      assert.deepEqual(run(rows).payload, [{ series: ['download', 'upload'], labels: ['2026-11-29 15:00', '2026-11-29 16:00'], data: [[12.35, 38.1], [1.2, 8.46]] }]);
    });
  });
}
