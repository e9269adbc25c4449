// What a bench killed with -9 leaves behind, found by the marks it put on it: processes whose
// environment names the bench's pid (OWNER_ENV), temp dirs named after it.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive } from '../test/lab/lab';

/** Kills the processes whose `ownerEnv` names a bench pid that is gone; says which ("Node-RED <pid>"). */
export function killOrphans(ownerEnv: string): string[] {
  const gone: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let owner: number;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      owner = Number(env.find((e) => e.startsWith(`${ownerEnv}=`))?.slice(ownerEnv.length + 1));
    } catch {
      continue;
    }
    if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      gone.push(`Node-RED ${entry}`);
    } catch {
      /* gone */
    }
  }
  return gone;
}

/** Removes the temp dirs `<prefix><pid>-…` of bench pids that are gone; says which. */
export function removeOrphanDirs(prefix: string): string[] {
  const gone: string[] = [];
  for (const dir of readdirSync(tmpdir())) {
    const pid = Number(dir.startsWith(prefix) ? dir.slice(prefix.length).split('-')[0] : NaN);
    if (!Number.isInteger(pid) || alive(pid)) continue;
    rmSync(join(tmpdir(), dir), { recursive: true, force: true });
    gone.push(dir);
  }
  return gone;
}
