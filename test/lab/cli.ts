// `npm run lab`: builds the lab and keeps it until Ctrl-C; `node test/lab/cli.js sweep [--all]`
// removes the namespaces of labs whose process is gone (or of all labs with --all).
import { Lab } from './lab';

async function main() {
  const [command = 'up', flag] = process.argv.slice(2);
  if (command === 'sweep') {
    const removed = Lab.sweepStale(flag === '--all');
    console.log(removed.length ? `removed ${removed.join(', ')}` : 'no lab namespaces to remove');
    return;
  }
  if (command !== 'up') throw new Error(`unknown command "${command}" (up | sweep [--all])`);
  const started = Date.now();
  const lab = await Lab.create();
  console.log(`lab ${lab.id} up in ${Date.now() - started} ms`);
  console.log(`  router namespace ${lab.routerNs}, LAN interface ${lab.lanIface}, leases ${lab.leasesFile}`);
  console.log(`  WAN namespace    ${lab.wanNs}`);
  for (const c of lab.clients.values()) {
    console.log(`  ${c.spec.name.padEnd(9)} ${c.mac}  ${(c.ipv4 ?? '-').padEnd(12)} ${c.ipv6.padEnd(14)} ${c.spec.hostname}  (${c.ns})`);
  }
  console.log(`try: ip netns exec ${lab.routerNs} ip neigh show dev ${lab.lanIface}`);
  console.log('Ctrl-C removes everything.');
  await new Promise(() => undefined);
}

main().catch((err) => {
  console.error((err as Error).message);
  process.exit(1);
});
