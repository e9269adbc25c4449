// The HTTP API's input checks as pure functions (nodes/core/api/api.ts, the allow-lists of
// allocation.ts and alerts/options.ts). The same rules over real HTTP: test/runtime/api.spec.ts.
import assert from 'node:assert/strict';
import { applyConfigCommand, type AllocatorOptions } from '../../nodes/core/allocate/allocation';
import { applyThresholds, DEFAULTS } from '../../nodes/core/alerts/options';
import { alertsQuery, analyticsQuery, apiErrorAnswer, crossSiteProblem, deviceBody, isJsonContentType, priorityBody } from '../../nodes/core/api/api';
import { InputError } from '../../nodes/core/contract/errors';
import { applySettingsCommand, DEFAULT_SETTINGS } from '../../nodes/core/contract/settings';

/** What POST /api/config does: the config node's one check, with the client cap in force. */
const configBody = (body: unknown, clientCap: number) => applySettingsCommand({ ...DEFAULT_SETTINGS, clientCap }, body).settings;

const options: AllocatorOptions = { downMbps: 100, upMbps: 20, maxPriority: 5, minPercent: 10, headroomPercent: 0, defaultPriority: 1 };
/** Keys every plain object inherits, and the one JSON.parse makes an own property of. */
const INHERITED = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', '__defineGetter__'];
const parsed = (key: string) => JSON.parse(`{${JSON.stringify(key)}: 5}`) as Record<string, unknown>;

describe('HTTP API input checks', () => {
  describe('allow-lists take own keys only', () => {
    for (const key of INHERITED) {
      it(`a config command with "${key}" is an unknown setting`, () => {
        assert.throws(() => applyConfigCommand(options, parsed(key)), (err: Error) => err instanceof InputError && err.message === `payload.${key}: unknown setting (known: downMbps, total_bandwidth, upMbps, upload_bandwidth, maxPriority, max_priority, minPercent, min_bandwidth_percent, mode, headroomPercent, defaultPriority)`);
      });
      it(`/api/analytics/${key}/1 is an unknown report (a 400, not a query nobody answers)`, () => {
        assert.throws(() => analyticsQuery(key, '1'), (err: Error) => err instanceof InputError && /^kind: unknown report ".*" \(known: bandwidth, hourly, top, report\)$/.test(err.message));
      });
      it(`an alert threshold "${key}" is unknown`, () => {
        assert.throws(() => applyThresholds(DEFAULTS.over_allocation, parsed(key), 'thresholds'), (err: Error) => err instanceof InputError && err.message.startsWith(`thresholds.${key}: unknown threshold`));
      });
    }
    it('a device body with only inherited keys sets nothing; a priority must be its own', () => {
      assert.throws(() => deviceBody(parsed('constructor'), 5), /constructor: unknown field/);
      assert.throws(() => priorityBody(Object.create({ priority: 1 }), 5), /priority: must be a whole number/);
      assert.equal(priorityBody({ priority: 2 }, 5), 2);
    });
    it('the known names still work', () => {
      assert.equal(applyConfigCommand(options, { total_bandwidth: 200 }).downMbps, 200);
      assert.deepEqual(analyticsQuery('top', '10'), { type: 'top', limit: 10 });
    });
  });

  describe('numbers are plain decimal', () => {
    for (const text of ['0x10', '1e3', ' ', 'Infinity', ' 1e3', '', '+3', '2.']) {
      it(`refuses ${JSON.stringify(text)} as a priority, a report size, a link and an alerts limit`, () => {
        assert.throws(() => priorityBody({ priority: text }, 20), /priority: must be a whole number from 1 \(highest\) to 20/);
        assert.throws(() => analyticsQuery('top', text), /limit: must be a whole number from 1 to 10000 in plain decimal/);
        assert.throws(() => applyConfigCommand(options, { total_bandwidth: text }), /payload\.total_bandwidth: must be a number of Mbit\/s/);
        assert.throws(() => alertsQuery({ limit: text }), /limit: must be a whole number/);
      });
    }
    it('reads decimal strings as the original API sent them', () => {
      assert.equal(priorityBody({ priority: '3' }, 5), 3);
      assert.deepEqual(analyticsQuery('report', '7'), { type: 'report', days: 7 });
      assert.deepEqual(alertsQuery({ severity: 'warning', hours: '24', limit: '50' }), { type: 'alerts', severity: 'warning', hours: 24, limit: 50 });
    });
    it('a query parameter given twice or as an object is refused, not turned into text', () => {
      assert.throws(() => alertsQuery({ severity: ['info', 'error'] }), /severity: must be given once/);
      assert.throws(() => alertsQuery({ hours: { a: '1' } }), /hours: must be given once/);
    });
  });

  describe('link speeds in POST /api/config against the client cap (the config node\'s check)', () => {
    it('refuses 1e-300, and a link below (cap + 1) × 8 kbit/s under either name', () => {
      assert.throws(() => configBody({ total_bandwidth: 1e-300 }, 1024), /payload\.total_bandwidth: must be at least 0\.016 Mbit\/s/);
      assert.throws(() => configBody({ upload_bandwidth: 8 }, 1024), /payload\.upload_bandwidth: must be at least 8\.2 Mbit\/s for a client cap of 1024.*lower the client cap/);
      assert.throws(() => configBody({ downMbps: '0.5' }, 100), /payload\.downMbps: must be at least 0\.808 Mbit\/s/);
      assert.throws(() => configBody({ upMbps: 0 }, 100), /payload\.upMbps: must be greater than 0/);
    });
    it('lets a link at the bound and other settings through', () => {
      const body = { total_bandwidth: 8.2, upload_bandwidth: '10', max_priority: 7 };
      const s = configBody(body, 1024);
      assert.deepEqual([s.downMbps, s.upMbps, s.maxPriority], [8.2, 10, 7]);
      // a slow link with the cap lowered to 50 (0.408 Mbit/s at least)
      assert.doesNotThrow(() => configBody({ upload_bandwidth: 1 }, 50));
    });
  });

  describe('requests from other sites', () => {
    it('accepts JSON with any case and parameters, nothing else', () => {
      for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8', ' application/json ']) assert.ok(isJsonContentType(type), type);
      for (const type of [undefined, '', 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'application/json-patch+json', 'text/json', 'application/json, text/plain']) {
        assert.equal(isJsonContentType(type), false, String(type));
      }
    });
    it('passes requests without Origin (curl, scripts) and same-origin pages', () => {
      assert.equal(crossSiteProblem({ host: '192.168.1.1:1880' }), null);
      assert.equal(crossSiteProblem({ host: '192.168.1.1:1880', origin: 'http://192.168.1.1:1880' }), null);
      assert.equal(crossSiteProblem({ host: 'Router.lan', origin: 'http://router.lan:80' }), null);
      assert.equal(crossSiteProblem({ host: 'router.lan:443', origin: 'https://router.lan' }), null);
      assert.equal(crossSiteProblem({ host: '[fd00::1]:1880', origin: 'http://[fd00::1]:1880', 'sec-fetch-site': 'same-origin' }), null);
    });
    it('refuses a foreign Origin, another port, "null", a garbled one, and Sec-Fetch-Site: cross-site', () => {
      const cases: Array<Record<string, string>> = [
        { host: '192.168.1.1:1880', origin: 'http://evil.example' },
        { host: '192.168.1.1:1880', origin: 'http://192.168.1.1:8080' },
        { host: '192.168.1.1:1880', origin: 'http://192.168.1.1.evil.example:1880' },
        { host: '192.168.1.1:1880', origin: 'null' },
        { host: '192.168.1.1:1880', origin: '::::' },
        { origin: 'http://192.168.1.1:1880' },
        { host: '192.168.1.1:1880', 'sec-fetch-site': 'cross-site' },
      ];
      for (const headers of cases) assert.match(crossSiteProblem(headers) ?? 'accepted', /^request: comes from a page on another site/, JSON.stringify(headers));
    });
  });

  describe('error answers carry a reason, never a stack trace or a path', () => {
    const leak = /\/work|node_modules|\bat [\w.<>]+ \(|\.js:\d+/;
    it('a malformed %-escape is a 400', () => {
      let uriError: unknown;
      try {
        decodeURIComponent('%E0%A4%A');
      } catch (err) {
        uriError = err;
      }
      const fromExpress = Object.assign(new Error("Failed to decode param '%E0%A4%A'"), { status: 400 });
      for (const err of [uriError, fromExpress]) {
        const answer = apiErrorAnswer(err as Error);
        assert.equal(answer.status, 400);
        assert.match(answer.error, /^path: has a malformed %-escape/);
      }
    });
    it('body-parser errors keep their meaning; anything else is a bare 4xx or 500', () => {
      assert.deepEqual(apiErrorAnswer(Object.assign(new Error('x'), { type: 'entity.too.large', status: 413, limit: 5 })), { status: 413, error: 'body: must be at most 5 bytes' });
      assert.deepEqual(apiErrorAnswer(Object.assign(new Error('x'), { type: 'entity.parse.failed', status: 400 })), { status: 400, error: 'body: is not valid JSON' });
      assert.deepEqual(apiErrorAnswer(Object.assign(new Error('unsupported charset "UTF-16"'), { type: 'charset.unsupported', status: 415 })), { status: 415, error: 'body: must be JSON in UTF-8' });
      const internal = new Error("ENOENT: no such file or directory, open '/work/secret/equalnet.db'");
      assert.deepEqual(apiErrorAnswer(internal), { status: 500, error: 'internal error: see the Node-RED log' });
      assert.deepEqual(apiErrorAnswer(Object.assign(new Error('/home/x/y.js'), { status: 405 })), { status: 405, error: 'request: refused (HTTP 405)' });
      assert.equal(apiErrorAnswer(null).status, 500);
      for (const err of [internal, Object.assign(internal, { status: 404 })]) assert.doesNotMatch(apiErrorAnswer(err).error, leak);
    });
  });
});
