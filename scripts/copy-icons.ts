// Node-RED looks for a package's icons in an `icons` folder next to each node's .js file, so the
// build mirrors the top-level icons/ into nodes/icons/.
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
rmSync(join(root, 'nodes', 'icons'), { recursive: true, force: true });
cpSync(join(root, 'icons'), join(root, 'nodes', 'icons'), { recursive: true });
