/**
 * Run by `npm test` before mocha: the Debian packages the tests use (the lab's network tools,
 * Chromium for the dashboard, systemd-analyze for the unit). All there: silent. Missing, as root on
 * Debian with apt-get: installs them (as .ci/run does). Otherwise: fails at once with the one
 * line that installs them, rather than half-way through the suite.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A command the tests run (or its path) and the Debian package that has it; .ci/run installs the same. */
export const TEST_PACKAGES: ReadonlyArray<[command: string, pkg: string]> = [
  ['ip', 'iproute2'],
  ['tc', 'iproute2'],
  ['dnsmasq', 'dnsmasq-base'],
  ['iperf3', 'iperf3'],
  ['arp-scan', 'arp-scan'],
  ['nft', 'nftables'],
  ['busybox', 'busybox'],
  ['ping', 'iputils-ping'],
  ['ps', 'procps'],
  ['fuser', 'psmisc'],
  ['/usr/bin/chromium', 'chromium'],
  ['systemd-analyze', 'systemd'],
];

const DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function has(command: string): boolean {
  if (command.startsWith('/')) return existsSync(command);
  return [...(process.env.PATH ?? '').split(':').filter(Boolean), ...DIRS].some((dir) => existsSync(`${dir}/${command}`));
}

export function missingPackages(): string[] {
  return [...new Set(TEST_PACKAGES.filter(([command]) => !has(command)).map(([, pkg]) => pkg))];
}

function main(): void {
  const missing = missingPackages();
  if (missing.length === 0) return;
  const line = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  const root = process.getuid?.() === 0;
  if (!root || !has('apt-get') || process.env.EQUALNET_NO_APT === '1') {
    console.error(`npm test: missing Debian packages; as root: ${line}`);
    process.exit(1);
  }
  console.log(`npm test: installing the Debian packages the tests use: ${line}`);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  } catch (err) {
    console.error(`npm test: could not install them (${(err as Error).message.split('\n')[0]}); as root: ${line}`);
    process.exit(1);
  }
  const still = missingPackages();
  if (still.length) {
    console.error(`npm test: still missing after apt-get: ${still.join(' ')}`);
    process.exit(1);
  }
}

if (require.main === module) main();
