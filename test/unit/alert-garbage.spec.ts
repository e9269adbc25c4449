/**
 * The alert rules with less garbage a tick (issue 17: a flat sample per client, presence updated
 * in place until the tracker holds it, maps not reordered when the clients come in the same
 * order, no iterators per client) decide exactly as the code before: test/unit/alert-scenario's
 * 1,500 ticks through the nine rules give the very alerts, in the same order, that the code of
 * commit 3cee42f gave (its JSON's SHA-256 and counts, recorded by running that code on the same
 * scenario).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { AlertEngine } from '../../nodes/core/alerts/engine';
import { endsWithClients, touch } from '../../nodes/core/alerts/rules';
import { runScenario } from './alert-scenario';

const BEFORE = {
  sha256: 'abf8f1334205990411ce7eb5e8492b413b08dc7fc09c5273080c3e5fbe790f74',
  counts: {
    'new_device:raised': 69,
    'over_allocation:raised': 463,
    'over_allocation:cleared': 457,
    'priority_starvation:raised': 357,
    'priority_starvation:cleared': 357,
    'unusual_traffic:raised': 354,
    'unusual_traffic:cleared': 353,
    'link_saturation:raised': 27,
    'link_saturation:cleared': 27,
    'device_gone:raised': 148,
    'device_gone:cleared': 72,
    'client_cap:raised': 2,
    'client_cap:cleared': 2,
    'quota_warning:raised': 119,
    'quota_exceeded:raised': 113,
  } as Record<string, number>,
};

describe('alert rules: less garbage, the same alerts', () => {
  it('1,500 ticks of a busy LAN through the nine rules give the alerts the code before gave, in order', function () {
    this.timeout(60_000);
    const alerts = runScenario(AlertEngine) as { kind: string; a: { state: string } }[];
    const counts: Record<string, number> = {};
    for (const x of alerts) counts[`${x.kind}:${x.a.state}`] = (counts[`${x.kind}:${x.a.state}`] ?? 0) + 1;
    assert.deepEqual(counts, BEFORE.counts);
    assert.equal(createHash('sha256').update(JSON.stringify(alerts)).digest('hex'), BEFORE.sha256);
  });

  it('endsWithClients: true only when the clients are the map\'s last keys in their order', () => {
    const map = new Map<string, number>(['a', 'b', 'c', 'd'].map((k, i) => [k, i]));
    const of = (...macs: string[]) => macs.map((mac) => ({ mac }));
    assert.equal(endsWithClients(map, of('c', 'd')), true);
    assert.equal(endsWithClients(map, of('a', 'b', 'c', 'd')), true);
    assert.equal(endsWithClients(map, of()), true);
    assert.equal(endsWithClients(map, of('d', 'c')), false);
    assert.equal(endsWithClients(map, of('b', 'd')), false);
    assert.equal(endsWithClients(map, of('c', 'd', 'e')), false);
    assert.equal(endsWithClients(map, of('x', 'a', 'b', 'c', 'd')), false);
    // touching them in that order leaves the order as it was: what the shortcut relies on
    for (const k of ['c', 'd']) touch(map, k, 9, () => assert.fail('nothing dropped'));
    assert.deepEqual([...map.keys()], ['a', 'b', 'c', 'd']);
  });

  it('touch drops the keys seen the longest ago beyond the bound, and says which', () => {
    const map = new Map<string, number>();
    const dropped: string[] = [];
    for (const k of ['a', 'b', 'c', 'a', 'd', 'e']) touch(map, k, 0, (key) => dropped.push(key), 3);
    assert.deepEqual(dropped, ['b', 'c']);
    assert.deepEqual([...map.keys()], ['a', 'd', 'e']);
  });
});
