// The file that keeps config commands across restarts (nodes/lib/config-node.ts's OverrideFile),
// on a real temporary file. The whole behaviour, in a real Node-RED: test/runtime/settings.spec.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployedHash, OverrideFile } from '../../nodes/lib/config-node';
import { DEFAULT_SETTINGS } from '../../nodes/core/contract/settings';

describe('config commands kept across restarts: the overrides file', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'equalnet-overrides-'));
    path = join(dir, 'equalnet-settings.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const entry = (maxPriority: number) => ({ deployed: deployedHash(DEFAULT_SETTINGS), override: { maxPriority }, at: '2026-11-29T00:00:00Z' });

  it('keeps one entry per config node, owner-only, and drops one that no longer overrides anything', () => {
    const file = new OverrideFile(path);
    file.write('a', entry(10));
    file.write('b', entry(3));
    assert.equal(file.read('a')?.override.maxPriority, 10);
    assert.equal(file.read('b')?.override.maxPriority, 3);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    file.write('a', { ...entry(10), override: {} });
    assert.equal(file.read('a'), null);
    assert.equal(file.read('b')?.override.maxPriority, 3);
  });

  it("dropping one node's entry at start leaves the others (not deployed yet); a command's write prunes the gone ones", () => {
    const file = new OverrideFile(path);
    file.write('a', entry(10));
    file.write('b', entry(3));
    // at start, config node a was redeployed changed: its entry goes, b's stays (b may start later)
    file.write('a', null);
    assert.equal(file.read('b')?.override.maxPriority, 3);
    // later, a command on c, with b gone from the flows
    file.write('c', entry(7), (id) => id !== 'b');
    assert.equal(file.read('b'), null);
    assert.equal(file.read('c')?.override.maxPriority, 7);
  });

  it('reads a damaged or foreign file as empty, and without a user directory keeps nothing', () => {
    writeFileSync(path, '{"a": 5, "b": {"deployed": 1}}');
    const file = new OverrideFile(path);
    assert.equal(file.read('a'), null);
    assert.equal(file.read('b'), null);
    writeFileSync(path, 'not json');
    assert.equal(file.read('a'), null);
    const memoryOnly = new OverrideFile(null);
    memoryOnly.write('a', entry(10));
    assert.equal(memoryOnly.read('a'), null);
    assert.equal(readFileSync(path, 'utf8'), 'not json');
  });
});
