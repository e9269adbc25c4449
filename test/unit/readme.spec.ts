import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { workedExamplesMarkdown } from '../../nodes/core/allocate/worked-examples';

describe('README', () => {
  it('shows the worked examples exactly as the allocator computes them', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const match = /<!-- worked-examples:start -->\n([\s\S]*?)\n<!-- worked-examples:end -->/.exec(readme);
    assert.ok(match, 'README has no worked-examples block');
    assert.equal(match[1].trim(), workedExamplesMarkdown().trim(), 'run `node scripts/worked-examples.js` and paste its output into the README');
  });
});

describe('README: about this project alone', () => {
  const root = join(__dirname, '..', '..');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  it('every relative link and image is a file in the repository', () => {
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^(https?:|mailto:|#)/.test(t));
    assert.ok(targets.length > 0);
    for (const t of targets) {
      const file = resolve(root, t.split('#')[0]);
      assert.ok(!relative(root, file).startsWith('..'), `${t} points outside the repository`);
      assert.ok(existsSync(file), `${t} does not exist`);
    }
  });
});
