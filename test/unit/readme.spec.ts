import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workedExamplesMarkdown } from '../../nodes/core/allocate/worked-examples';

describe('README', () => {
  it('shows the worked examples exactly as the allocator computes them', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const match = /<!-- worked-examples:start -->\n([\s\S]*?)\n<!-- worked-examples:end -->/.exec(readme);
    assert.ok(match, 'README has no worked-examples block');
    assert.equal(match[1].trim(), workedExamplesMarkdown().trim(), 'run `node scripts/worked-examples.js` and paste its output into the README');
  });
});
