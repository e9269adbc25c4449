import assert from 'node:assert/strict';
import { InputError } from '../../nodes/core/contract/errors';
import type { UsageQueries } from '../../nodes/core/store/queries';
import type { UsageStore } from '../../nodes/core/store/store';
import type { ConsumerRow } from '../../nodes/core/store/types';
import { A, Clock, local, MBIT, openStore, TempDir, ticks } from './store-fixtures';

const isInputError = (message: RegExp) => (err: Error) => err instanceof InputError && message.test(err.message);

describe('usage store: bad input is rejected clearly and loses nothing', () => {
  const dir = new TempDir();
  const clock = new Clock(local(2026, 9, 1, 12));
  let store: UsageStore;
  let q: UsageQueries;
  const stored = () => (q.run({ type: 'top', hours: 24 }).payload as ConsumerRow[]).map((r) => [r.mac, r.download_mb]);

  before(() => {
    ({ store, queries: q } = openStore(dir.file(), clock));
    ticks(store, clock, local(2026, 9, 1, 12), local(2026, 9, 1, 12, 1), [{ mac: A, rxBps: 8 * MBIT, txBps: 0 }]);
    store.flush();
    assert.deepEqual(stored(), [[A, 60]]);
  });
  afterEach(() => assert.deepEqual(stored(), [[A, 60]], 'what was stored before is still there'));
  after(() => {
    store.close();
    dir.remove();
  });

  describe('N in a query', () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['hours 0', { type: 'bandwidth', hours: 0 }, /payload.hours: must be a whole number of at least 1, got 0/],
      ['hours -5', { type: 'hourly', hours: -5 }, /payload.hours: must be a whole number of at least 1, got -5/],
      ['hours NaN', { type: 'bandwidth', hours: Number.NaN }, /payload.hours: must be a whole number from 1 to 175680, got null/],
      ['hours "abc"', { type: 'hourly', hours: 'abc' }, /payload.hours: must be a whole number from 1 to 175680, got "abc"/],
      ['hours Infinity', { type: 'bandwidth', hours: Number.POSITIVE_INFINITY }, /payload.hours/],
      ['hours 2.5', { type: 'bandwidth', hours: 2.5 }, /payload.hours: must be a whole number of at least 1, got 2.5/],
      ['hours absurdly large', { type: 'bandwidth', hours: 1e12 }, /payload.hours: must be at most 175680, got 1000000000000/],
      ['hours as an object', { type: 'bandwidth', hours: { $gt: 0 } }, /payload.hours/],
      ['top limit 0', { type: 'top', limit: 0 }, /payload.limit: must be a whole number of at least 1/],
      ['top limit huge', { type: 'top', limit: 1e9 }, /payload.limit: must be at most 10000/],
      ['report days -1', { type: 'report', days: -1 }, /payload.days/],
      ['report days absurdly large', { type: 'report', days: 10_000_000 }, /payload.days: must be at most 7320/],
      ['history days NaN', { type: 'history', days: 'NaN' }, /payload.days/],
      ['alerts limit 0', { type: 'alerts', limit: 0 }, /payload.limit/],
      ['alerts unknown severity', { type: 'alerts', severity: 'critical' }, /payload.severity: must be one of info, warning, error, success/],
      ['alerts since not a time', { type: 'alerts', since: 'yesterday-ish' }, /payload.since: must be a time/],
      ['client unknown MAC', { type: 'client', mac: 'de:ad:be:ef:00:02' }, /payload.mac: unknown device de:ad:be:ef:00:02/],
      ['history unknown MAC', { type: 'history', mac: '00:11:22:33:44:55' }, /payload.mac: unknown device/],
      ['client unknown IP', { type: 'client', ip: '192.168.99.1' }, /payload.ip: unknown device "192.168.99.1"/],
      ['an unknown type', { type: 'everything' }, /payload.type: must be one of bandwidth, hourly, top, report, client, history, alerts, registry/],
    ];
    for (const [what, payload, message] of cases) it(what, () => assert.throws(() => q.run(payload), isInputError(message)));

    it('accepts N as a numeric string, as HTTP routes deliver it', () => {
      assert.equal((q.run({ type: 'top', limit: '10', hours: '24' }).payload as ConsumerRow[]).length, 1);
    });
    it('rejects a query that is not an object', () => {
      assert.throws(() => q.run('top'), isInputError(/payload: must be an object/));
    });
  });

  describe('snapshots', () => {
    const cases: [string, unknown, RegExp][] = [
      ['no clients array', { ts: 1 }, /payload: must be a snapshot object with a "clients" array/],
      ['a bad MAC', { clients: [{ mac: 'zz:zz', rxBps: 1 }] }, /payload.clients\[0\].mac: "zz:zz" is not a MAC address/],
      ['a negative rate', { clients: [{ mac: A, rxBps: -1 }] }, /payload.clients\[0\].rxBps: must be a number of bits\/s ≥ 0/],
      ['a NaN rate', { clients: [{ mac: A, txBps: Number.NaN }] }, /payload.clients\[0\].txBps/],
      ['the same MAC twice', { clients: [{ mac: A }, { mac: A.toUpperCase() }] }, /payload.clients\[1\].mac: a4:5e:60:00:00:01 appears twice/],
      ['a bad ts', { ts: 'now', clients: [] }, /payload.ts: must be a time in ms since 1970/],
      ['bad totals', { clients: [], totals: { rxBps: 'lots' } }, /payload.totals.rxBps/],
    ];
    for (const [what, payload, message] of cases) {
      it(what, () => {
        assert.throws(() => store.ingest(payload), isInputError(message));
        store.flush();
      });
    }
    it('a rejected snapshot adds nothing, not even in memory', () => {
      assert.throws(() => store.ingest({ ts: local(2026, 9, 1, 12, 5), clients: [{ mac: A, rxBps: 8 * MBIT }, { mac: 'bad' }] }));
      assert.equal(store.flush(), false);
    });
  });

  describe('alerts', () => {
    const cases: [string, unknown, RegExp][] = [
      ['no type', { severity: 'info', message: 'x' }, /payload.type: an alert needs a type/],
      ['unknown severity', { type: 't', severity: 'panic', message: 'x' }, /payload.severity: must be one of info, warning, error, success/],
      ['no message', { type: 't', severity: 'info' }, /payload.message: an alert needs a message/],
      ['a bad MAC', { type: 't', message: 'x', mac: 'nope' }, /payload.mac: "nope" is not a MAC address/],
      ['a bad ts', { type: 't', message: 'x', ts: -5 }, /payload.ts: must be a time/],
    ];
    for (const [what, payload, message] of cases) it(what, () => assert.throws(() => store.storeAlert(payload), isInputError(message)));

    it('stores SQL text and the original field names literally', () => {
      const row = store.storeAlert({ alert_type: "x'; DELETE FROM alerts;--", ip_address: '10.0.0.1', message: 'Robert"); DROP TABLE alerts;--' });
      const [back] = q.run({ type: 'alerts', limit: 1 }).payload as { type: string; message: string; ip_address: string; severity: string }[];
      assert.deepEqual([back.type, back.message, back.ip_address, back.severity], ["x'; DELETE FROM alerts;--", 'Robert"); DROP TABLE alerts;--', '10.0.0.1', 'info']);
      assert.equal(row.type, back.type);
    });
  });
});
