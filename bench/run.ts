// `npm run bench`: runs every bench/*.bench.js in turn; each prints its own table.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

async function main() {
  const only = process.argv[2];
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.js'))
    .filter((f) => !only || f.startsWith(only))
    .sort();
  for (const file of files) {
    const mod = require(join(__dirname, file)) as { bench: () => Promise<void> | void };
    console.log(`\n## ${file.replace(/\.bench\.js$/, '')}`);
    await mod.bench();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
