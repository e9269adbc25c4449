import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CLIENTS, rxBpsOf } from './store-crash-child';
import { TempDir } from './store-fixtures';

const RUNS = 20;
const T0 = Date.UTC(2026, 0, 1);

/** Starts the child, waits for its first commits, kills it with SIGKILL mid-write; returns the ticks it reported committed. */
function runAndKill(file: string, firstTickMs: number, killAfterMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, 'store-crash-child.js'), file, String(firstTickMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const committed: number[] = [];
    let buffer = '';
    let stderr = '';
    let timer: NodeJS.Timeout | null = null;
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() as string;
      for (const line of lines) {
        if (line.startsWith('c ')) committed.push(...line.slice(2).split(' ').map(Number));
        if (line.startsWith('c ') && !timer) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child ended by itself (code ${code}): ${stderr}`));
      else resolve(committed);
    });
  });
}

describe('usage store: a crash mid-write (SIGKILL) never corrupts the file or loses a committed tick', function () {
  this.timeout(60_000);
  const dir = new TempDir();
  after(() => dir.remove());

  it(`survives ${RUNS} kills at random moments`, async () => {
    const file = dir.file();
    const all: number[] = [];
    const kills: number[] = [];
    let rolledUp = 0;
    for (let run = 0; run < RUNS; run++) {
      const killAfterMs = 5 + Math.floor(Math.random() * 120);
      kills.push(killAfterMs);
      const first = T0 + run * 3_600_000;
      const committed = await runAndKill(file, first, killAfterMs);
      assert.ok(committed.length > 0, `run ${run}: the child committed nothing`);
      all.push(...committed);

      const db = new Database(file);
      try {
        assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', `run ${run}: integrity_check`);
        // Every reported tick: its raw bucket holds all 250 clients plus the interface row, with the rates sent.
        const rows = db
          .prepare(
            `SELECT bucket, count(*) AS n, sum(peak_rx_bps) AS rx, sum(CASE WHEN device_id = 0 THEN peak_rx_bps END) AS total
             FROM usage_raw WHERE bucket >= ? AND bucket < ? GROUP BY bucket`,
          )
          .all(first / 1000, first / 1000 + 3600) as { bucket: number; n: number; rx: number; total: number }[];
        const byBucket = new Map(rows.map((r) => [r.bucket, r]));
        for (const ts of committed) {
          const k = (ts - first) / 1000;
          const expected = Array.from({ length: CLIENTS }, (_, i) => rxBpsOf(k, i)).reduce((a, b) => a + b, 0);
          const row = byBucket.get(ts / 1000);
          assert.ok(row, `run ${run}: committed tick ${k} is missing`);
          assert.deepEqual([row.n, row.total, row.rx], [CLIENTS + 1, expected, 2 * expected], `run ${run}: tick ${k}`);
        }
        // A rollup and its mark move in one transaction: the tiers always agree on the hours rolled up.
        const until = (db.prepare('SELECT until FROM rollup_state').get() as { until: number }).until;
        const samples = (table: string, before = Number.MAX_SAFE_INTEGER) =>
          (db.prepare(`SELECT coalesce(sum(samples), 0) AS s FROM ${table} WHERE device_id = 0 AND bucket < ?`).get(before) as { s: number }).s;
        const raw = samples('usage_raw');
        assert.ok(raw >= all.length, `run ${run}: ${raw} raw ticks stored, ${all.length} reported committed`);
        assert.equal(samples('usage_hourly'), samples('usage_raw', until), `run ${run}: hourly tier disagrees with raw`);
        assert.equal(samples('usage_daily'), samples('usage_raw', until), `run ${run}: daily tier disagrees with raw`);
        assert.equal(samples('usage_monthly'), samples('usage_raw', until), `run ${run}: monthly tier disagrees with raw`);
        rolledUp = Math.max(rolledUp, samples('usage_hourly'));
        assert.equal((db.prepare('SELECT count(*) AS n FROM devices').get() as { n: number }).n, CLIENTS);
      } finally {
        db.close();
      }
    }
    assert.ok(rolledUp > 0, 'no hour was ever rolled up: the tier check checked nothing');
    console.log(`      ${RUNS} kills after ${Math.min(...kills)}–${Math.max(...kills)} ms; ${all.length} committed ticks of ${CLIENTS} clients checked, ${rolledUp} rolled up`);
  });
});
