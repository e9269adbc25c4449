// `npm test` on a fresh Debian machine: the packages the tests need are checked (and installed as
// root) before mocha starts; the list is the one .ci/run installs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { missingPackages, TEST_PACKAGES } from '../../scripts/test-prereqs';

const ROOT = join(__dirname, '..', '..');

describe('npm test: the Debian packages the tests use', () => {
  it('are the ones .ci/run installs', () => {
    const ci = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
    const installed = /apt-get install -y -qq --no-install-recommends \\\n\s*([^>]+)>/.exec(ci)?.[1].trim().split(/\s+/);
    assert.ok(installed, '.ci/run has no apt-get install line');
    for (const [, pkg] of TEST_PACKAGES) assert.ok(installed.includes(pkg), `${pkg} is not installed by .ci/run`);
    for (const pkg of installed) assert.ok(TEST_PACKAGES.some(([, p]) => p === pkg), `.ci/run installs ${pkg}, which npm test does not check`);
  });

  it('npm test checks them before mocha', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts.test, /node scripts\/test-prereqs\.js && mocha/);
  });

  it('are all here (the suite would fail later otherwise)', () => {
    assert.deepEqual(missingPackages(), []);
  });
});
