// The dashboard's hourly pattern on a first start: no rows yet must read as an empty state ("No
// usage recorded yet."), never as bars labelled "undefined" (what node-red-dashboard's bar chart
// showed for empty rows, before the page drew its own bars). The function node's own code, run on
// the answers usage-store gives, in the shipped flow and in the dashboard example.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

for (const file of ['flows/default.json', 'examples/10-dashboard.json']) {
  describe(`${file}: the hourly chart's function`, () => {
    const flow = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as Array<{ id: string; type: string; name?: string; func?: string; format?: string }>;
    const node = flow.find((n) => n.type === 'function' && n.name === 'hourly bars');
    const run = (payload: unknown) => new Function('msg', node!.func!)({ topic: 'hourly', payload }) as { payload: { max: number; bar: number; hours: Array<Record<string, number | string>> } };

    it('no rows: no bars, and the page says so', () => {
      assert.ok(node, 'no "hourly bars" function');
      assert.deepEqual(run([]).payload.hours, []);
      assert.deepEqual(run(undefined).payload.hours, []);
      const page = flow.find((n) => n.id === 'equalnet.dash.hourly')!;
      assert.equal(page.type, 'ui_template');
      assert.match(page.format!, /ng-if="msg\.payload && !msg\.payload\.hours\.length">No usage recorded yet\.</);
    });

    it('rows: download and upload per hour in Mbit/s, side by side, scaled to the highest, every third hour labelled', () => {
      const rows = [
        { hour: '2026-11-29 15:00', avg_download: 12.345, avg_upload: 1.2 },
        { hour: '2026-11-29 16:00', avg_download: 38.1, avg_upload: 8.456 },
        { hour: '2026-11-29 17:00', avg_download: 0, avg_upload: 0 },
        { hour: '2026-11-29 18:00', avg_download: 19.05, avg_upload: 0 },
      ];
      const { payload } = run(rows);
      assert.equal(payload.max, 38.1);
      assert.equal(payload.bar, 60);
      assert.deepEqual(payload.hours.map((h) => [h.label, h.down, h.up, h.x, h.hDown, h.hUp]), [
        ['15:00', 12.35, 1.2, 15, 38.9, 3.8],
        ['', 38.1, 8.46, 165, 120, 26.6],
        ['', 0, 0, 315, 0, 0],
        ['18:00', 19.05, 0, 465, 60, 0],
      ]);
    });
  });
}
