// Part of `npm run build`: the default flow (flows/default.json, the one source) is also offered
// under Import > Examples, as examples/00-default-flow.json. A test checks the two are identical.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
copyFileSync(join(root, 'flows', 'default.json'), join(root, 'examples', '00-default-flow.json'));
