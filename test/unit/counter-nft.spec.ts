/** The pure parts of per-client and interface counting: nft batches, nft / ip JSON, snapshot validation. */
import assert from 'node:assert/strict';
import { parseLinkStats } from '../../nodes/core/meter/iface-stats';
import { validateSnapshot } from '../../nodes/core/meter/metering';
import { addressKey, createScript, parseFlowtables, parseTableCounters, syncScript, tableNameFor } from '../../nodes/core/meter/nft-accounting';
import { InputError } from '../../nodes/core/contract/errors';

const T = 'equalnet_acct_br_lan';

describe('counter kernel objects: the nft table of our own', () => {
  it('names the table after the interface, in nft\'s alphabet; refuses a bad interface name (shared validator)', () => {
    assert.equal(tableNameFor('br-lan'), T);
    assert.equal(tableNameFor('eth0.10'), 'equalnet_acct_eth0_10');
    assert.throws(() => tableNameFor('eth0; rm -rf /'), /not a valid interface name/);
    assert.throws(() => tableNameFor('a-very-long-interface'), /longer than 15/);
  });

  it('spells every address one way, so the snapshot\'s and nft\'s spellings meet', () => {
    assert.equal(addressKey('10.77.0.5'), '10.77.0.5');
    assert.equal(addressKey('fd00:77::101'), 'fd00:0077:0000:0000:0000:0000:0000:0101');
    assert.equal(addressKey('FD00:77:0:0::101'), addressKey('fd00:77::101'));
    assert.equal(addressKey('::1'), '0000:0000:0000:0000:0000:0000:0000:0001');
    assert.equal(addressKey('::ffff:10.0.0.1'), addressKey('::ffff:a00:1'));
  });

  it('creates the table in one batch that first removes a leftover of ours, and touches no other table', () => {
    const script = createScript(T, 'br-lan', ['10.77.0.5', 'fd00:77::101']);
    // commands are separated by '; ' outside braces (a set's declaration has its own ';')
    const commands = script.split(/; (?![^{]*})/);
    assert.deepEqual(commands.slice(0, 3), [`add table inet ${T}`, `delete table inet ${T}`, `add table inet ${T}`]);
    for (const c of commands) assert.match(c, new RegExp(`^(add|delete) (table|set|chain|rule|element) inet ${T}( |$)`), c);
    assert.ok(commands.includes(`add set inet ${T} up4 { type ipv4_addr; size 1024; counter; }`));
    assert.ok(commands.includes(`add set inet ${T} up6 { type ipv6_addr; size 4096; counter; }`));
    assert.ok(commands.includes(`add rule inet ${T} lan_in iifname "br-lan" ip saddr @up4`));
    assert.ok(commands.includes(`add rule inet ${T} lan_out oifname "br-lan" ip6 daddr @down6`));
    assert.ok(commands.includes(`add element inet ${T} down4 { 10.77.0.5 }`));
    assert.ok(commands.includes(`add element inet ${T} up6 { fd00:77::101 }`));
    assert.throws(() => createScript(T, 'br-lan', ['10.77.0.5; flush ruleset']), /not an IP address/);
    assert.throws(() => createScript(T, 'br lan', []), /interface/);
  });

  it('syncScript checks every address and the table name itself: hostile strings throw, nothing is built', () => {
    const have = new Set(['10.77.0.5']);
    const hostile = ['1.2.3.4; flush ruleset', '10.77.0.9\nflush ruleset', '10.77.0.9 }', '10.77.0.9 } ; delete table inet filter', '', 'fd00::1 }', '::1\n', '10.77.0.256', 'fd00::1/64', ' 10.77.0.9'];
    for (const bad of hostile) {
      assert.throws(() => syncScript(T, have, ['10.77.0.5', bad]), /not an IP address/, JSON.stringify(bad));
      assert.throws(() => syncScript(T, new Set([bad]), ['10.77.0.5']), /not an IP address/, `in the table: ${JSON.stringify(bad)}`);
    }
    for (const bad of [5, null, { toString: () => '1.2.3.4' }] as unknown as string[]) assert.throws(() => syncScript(T, have, [bad]), /not an IP address/);
    for (const table of ['filter', `${T}; flush ruleset`, `${T} }`, `${T}\n`, 'equalnet_acct_', '']) {
      assert.throws(() => syncScript(table, have, ['10.77.0.5']), /table name/, JSON.stringify(table));
      assert.throws(() => createScript(table, 'br-lan', []), /table name/, JSON.stringify(table));
    }
  });

  it('keeps each set within its bound: the client cap for IPv4, four times it for IPv6', () => {
    const v4 = Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`);
    assert.throws(() => syncScript(T, new Set(), v4, 8), /at most 8 \/ 32/);
    assert.throws(() => createScript(T, 'br-lan', v4, 8), /at most 8 \/ 32/);
    assert.match(syncScript(T, new Set(), v4.slice(0, 8), 8).script!, /10\.0\.0\.8 }/);
    assert.match(createScript(T, 'br-lan', [], 8), /type ipv4_addr; size 8; counter;.*type ipv6_addr; size 32; counter;/);
  });

  it('keeps the sets in step with the clients: adds who joined, deletes who left, nothing when nothing changed', () => {
    const have = new Set(['10.77.0.5', addressKey('fd00:77::101')]);
    assert.equal(syncScript(T, have, ['10.77.0.5', 'fd00:77::101']).script, null);
    const { script, added, removed } = syncScript(T, have, ['10.77.0.5', '10.77.0.9']);
    assert.deepEqual(added, ['10.77.0.9']);
    assert.deepEqual(removed, [addressKey('fd00:77::101')]);
    assert.equal(
      script,
      [
        `add element inet ${T} up4 { 10.77.0.9 }`,
        `add element inet ${T} down4 { 10.77.0.9 }`,
        `delete element inet ${T} up6 { ${addressKey('fd00:77::101')} }`,
        `delete element inet ${T} down6 { ${addressKey('fd00:77::101')} }`,
      ].join('; '),
    );
  });

  it('reads element counters from nft -j, ignores other tables and sets; an empty set has no elements', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6', json_schema_version: 1 } },
        { table: { family: 'inet', name: T, handle: 1 } },
        { set: { family: 'inet', name: 'down4', table: T, type: 'ipv4_addr', elem: [{ elem: { val: '10.77.0.5', counter: { packets: 10, bytes: 15000 } } }] } },
        { set: { family: 'inet', name: 'down6', table: T, type: 'ipv6_addr', elem: [{ elem: { val: 'fd00:77::101', counter: { packets: 1, bytes: 1500 } } }] } },
        { set: { family: 'inet', name: 'up4', table: T, type: 'ipv4_addr' } },
        { set: { family: 'inet', name: 'down4', table: 'other', type: 'ipv4_addr', elem: [{ elem: { val: '10.77.0.6', counter: { packets: 1, bytes: 1 } } }] } },
        { chain: { family: 'inet', table: T, name: 'lan_in' } },
      ],
    });
    const c = parseTableCounters(json, T);
    assert.deepEqual(c.down4.get('10.77.0.5'), { bytes: 15000, packets: 10 });
    assert.deepEqual(c.down6.get(addressKey('fd00:77::101')), { bytes: 1500, packets: 1 });
    assert.equal(c.down4.size, 1);
    assert.equal(c.up4.size, 0);
    assert.throws(() => parseTableCounters('{}', T), /nftables/);
  });

  it('finds flowtables (flow offloading) anywhere in the ruleset', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: {} },
        { flowtable: { family: 'inet', table: 'fw4', name: 'ft', hook: 'ingress', prio: 0, dev: ['eth0', 'br-lan'], flags: ['offload'] } },
        { flowtable: { family: 'ip', table: 'filter', name: 'f2', hook: 'ingress', prio: 0, dev: 'eth1' } },
      ],
    });
    assert.deepEqual(parseFlowtables(json), ['inet fw4 ft (hardware offload)', 'ip filter f2']);
    assert.deepEqual(parseFlowtables(JSON.stringify({ nftables: [{ metainfo: {} }] })), []);
  });
});

describe('counter interface statistics: ip -j -s link', () => {
  it('reads the 64-bit counters, ifindex and operstate', () => {
    const json = JSON.stringify([{ ifindex: 4, ifname: 'br-lan', operstate: 'UP', stats64: { rx: { bytes: 2 ** 40, packets: 7 }, tx: { bytes: 1500, packets: 1 } } }]);
    assert.deepEqual(parseLinkStats(json, 'br-lan'), { ifindex: 4, operstate: 'UP', rxBytes: 2 ** 40, rxPackets: 7, txBytes: 1500, txPackets: 1 });
  });

  it('says what is wrong with an answer it cannot use', () => {
    assert.throws(() => parseLinkStats('[]', 'br-lan'), /br-lan: not in the output/);
    assert.throws(() => parseLinkStats(JSON.stringify([{ ifindex: 1, ifname: 'br-lan' }]), 'br-lan'), /no statistics/);
    assert.throws(() => parseLinkStats(JSON.stringify([{ ifindex: 1, ifname: 'br-lan', stats64: { rx: { bytes: -1 }, tx: { bytes: 0 } } }]), 'br-lan'), /rx bytes/);
  });
});

describe('counter input: the snapshot from arp-discover', () => {
  const ok = { ts: 1, clients: [{ mac: '3C-22-FB-10-00-01', ip: '10.77.0.5', ip6: ['fd00:77::101'] }, { mac: '10:4f:a8:10:00:08', ip: null, ip6: ['fd00:77::108'] }] };

  it('takes a valid snapshot and lists every address once', () => {
    const v = validateSnapshot(ok);
    assert.deepEqual(v.addresses, ['10.77.0.5', 'fd00:77::101', 'fd00:77::108']);
    assert.equal(v.keyStart[2] - v.keyStart[1], 1);
    assert.deepEqual(v.keys, ['10.77.0.5', 'fd00:0077:0000:0000:0000:0000:0000:0101', 'fd00:0077:0000:0000:0000:0000:0000:0108']);
  });

  const bad: [string, unknown, RegExp][] = [
    ['no payload', undefined, /^payload: must be a snapshot/],
    ['an array', [], /^payload: must be a snapshot/],
    ['no clients', { ts: 1 }, /^payload: must be a snapshot object with a "clients" array/],
    ['clients not an array', { clients: 'x' }, /^payload: must be a snapshot object with a "clients" array/],
    ['a client that is not an object', { clients: [1] }, /^payload\.clients\[0\]: must be an object/],
    ['a client without a MAC', { clients: [{ ip: '10.0.0.1' }] }, /^payload\.clients\[0\]\.mac: nothing is not a MAC/],
    ['a bad MAC', { clients: [{ mac: 'zz:22:fb:10:00:01' }] }, /^payload\.clients\[0\]\.mac/],
    ['a MAC twice', { clients: [{ mac: '3c:22:fb:10:00:01' }, { mac: '3C:22:FB:10:00:01' }] }, /^payload\.clients\[1\]\.mac: 3c:22:fb:10:00:01 appears twice/],
    ['a bad IPv4', { clients: [{ mac: '3c:22:fb:10:00:01', ip: '10.0.0.256' }] }, /^payload\.clients\[0\]\.ip: must be an IPv4/],
    ['an IPv6 as ip', { clients: [{ mac: '3c:22:fb:10:00:01', ip: 'fd00::1' }] }, /^payload\.clients\[0\]\.ip/],
    ['ip6 not an array', { clients: [{ mac: '3c:22:fb:10:00:01', ip6: 'fd00::1' }] }, /^payload\.clients\[0\]\.ip6: must be an array/],
    ['an injection as address', { clients: [{ mac: '3c:22:fb:10:00:01', ip6: ['fd00::1 } ; flush ruleset'] }] }, /^payload\.clients\[0\]\.ip6\[0\]/],
    ['one address for two clients', { clients: [{ mac: '3c:22:fb:10:00:01', ip: '10.0.0.1' }, { mac: '3c:22:fb:10:00:02', ip: '10.0.0.1' }] }, /^payload\.clients\[1\]: address 10\.0\.0\.1 also belongs to payload\.clients\[0\]/],
  ];
  for (const [what, payload, message] of bad) {
    it(`refuses ${what}, naming the field`, () => {
      assert.throws(
        () => validateSnapshot(payload),
        (err: unknown) => err instanceof InputError && message.test(err.message),
      );
    });
  }
});
