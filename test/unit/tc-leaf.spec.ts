/**
 * Leaf detection with least privilege, for real: the shaper core runs in a child process inside a
 * network namespace this test creates, as nobody with ONLY CAP_NET_ADMIN (setpriv: inheritable,
 * ambient and bounding sets reduced to net_admin), as a systemd service with
 * AmbientCapabilities=CAP_NET_ADMIN would. Nothing is mocked: the kernel answers. The expected leaf
 * is what root finds in the same namespace, so the test holds on a kernel with fq_codel too; on
 * this machine's kernel (no fq_codel, no sfq) it is FIFO with "not in this kernel".
 * Needs root (to create the namespace and drop to the capabilities).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { assertRoot, NS_PREFIX } from '../lab/lab';

const NS = `${NS_PREFIX}${process.pid}-${randomBytes(2).toString('hex')}-leaf`;
const sh = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const ROOT = join(__dirname, '..', '..');
const CAPS = (caps: string) => ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', `--inh-caps=-all${caps}`, `--ambient-caps=-all${caps}`, `--bounding-set=-all${caps}`];

/** Runs the shaper core's detectLeaf in the namespace with the given capabilities; returns what it found and its calls. */
function detect(mode: 'enforce' | 'dry-run', caps: string): { leaf: string; leafNote: string | null; capEff: string } {
  const script = `
    const { Shaper } = require(${JSON.stringify(join(ROOT, 'nodes/core/shape/tc-apply.js'))});
    const { processRunner } = require(${JSON.stringify(join(ROOT, 'nodes/lib/process-runner.js'))});
    const capEff = require('fs').readFileSync('/proc/self/status', 'utf8').match(/CapEff:\\s*(\\S+)/)[1];
    const s = new Shaper({ iface: 'lan0', mode: ${JSON.stringify(mode)}, thresholdPercent: 5 }, processRunner);
    s.detectLeaf().then(() => console.log(JSON.stringify({ leaf: s.leaf, leafNote: s.leafNote, capEff })));`;
  const r = spawnSync('ip', ['netns', 'exec', NS, ...CAPS(caps), process.execPath, '-e', script], { encoding: 'utf8', cwd: '/' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** What root finds in the namespace: fq_codel, sfq, or neither. */
function kernelLeaf(): string {
  for (const kind of ['fq_codel', 'sfq']) {
    try {
      sh(['ip', 'netns', 'exec', NS, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', kind]);
      sh(['ip', 'netns', 'exec', NS, 'tc', 'qdisc', 'del', 'dev', 'lo', 'root']);
      return kind;
    } catch {
      /* not in this kernel */
    }
  }
  return 'bfifo';
}

describe('tc-shaper leaf detection without CAP_SYS_ADMIN (real kernel, a namespace of the test, only CAP_NET_ADMIN)', function () {
  this.timeout(30_000);
  before(() => {
    assertRoot();
    sh(['ip', 'netns', 'add', NS]);
    sh(['ip', '-n', NS, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
  });
  after(() => {
    try {
      sh(['ip', 'netns', 'del', NS]);
    } catch {
      /* gone */
    }
  });

  it('enforce with only CAP_NET_ADMIN finds what the kernel has, on a throwaway IFB it removes again', () => {
    const expected = kernelLeaf();
    const found = detect('enforce', ',+net_admin');
    assert.equal(found.capEff, '0000000000001000', 'the child has CAP_NET_ADMIN and nothing else');
    assert.equal(found.leaf, expected);
    if (expected === 'bfifo') {
      assert.equal(found.leafNote, 'fq_codel and sfq not in this kernel: FIFO leaves');
      assert.doesNotMatch(found.leafNote ?? '', /not permitted/);
    } else assert.equal(found.leafNote, null);
    assert.doesNotMatch(sh(['ip', '-n', NS, '-o', 'link', 'show']), /eqt-/, 'the test device is gone');
  });

  it('a test device a killed run left behind is replaced and removed', () => {
    sh(['ip', '-n', NS, 'link', 'add', 'eqt-lan0', 'type', 'ifb']);
    const found = detect('enforce', ',+net_admin');
    assert.equal(found.leaf, kernelLeaf());
    assert.doesNotMatch(sh(['ip', '-n', NS, '-o', 'link', 'show']), /eqt-/);
  });

  it('without CAP_NET_ADMIN it says "not permitted", not "not in this kernel"', () => {
    const found = detect('enforce', '');
    assert.equal(found.capEff, '0000000000000000');
    assert.equal(found.leaf, 'bfifo');
    assert.match(found.leafNote ?? '', /^leaf not checked \(not permitted: CAP_NET_ADMIN; .*Operation not permitted.*\): FIFO leaves$/);
  });

  it('dry-run with only CAP_NET_ADMIN touches nothing and says the leaf was not checked (no namespace of its own)', () => {
    const before = sh(['ip', '-n', NS, '-o', 'link', 'show']);
    const found = detect('dry-run', ',+net_admin');
    assert.equal(found.leaf, 'bfifo');
    assert.match(found.leafNote ?? '', /not permitted: CAP_SYS_ADMIN for a throwaway namespace in dry-run/);
    assert.equal(sh(['ip', '-n', NS, '-o', 'link', 'show']), before);
  });
});
