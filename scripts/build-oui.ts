/**
 * Writes the vendor index arp-discover loads (data/oui-index.bin) from the oui-data package's
 * registry: 1.4 MB that load in about a millisecond, instead of 5 MB of JSON read and searched
 * (~90 ms and a passing 20 MB) each time a node needs it (nodes/core/discover/oui.ts). Run by
 * `npm run build`; a missing or outdated file only makes the nodes read the JSON instead.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { BINARY_INDEX_FILE, indexFromRegistry, OuiIndex, registryVersion } from '../nodes/core/discover/oui';

const version = registryVersion();
const index = indexFromRegistry();
const bytes = index.toBinary(version);
// read back before it is written: the file the nodes load must give what the registry gives
const back = OuiIndex.fromBinary(bytes, version);
if (!back || back.size !== index.size) throw new Error('build-oui: the binary index does not read back');
mkdirSync(dirname(BINARY_INDEX_FILE), { recursive: true });
writeFileSync(BINARY_INDEX_FILE, bytes);
console.log(`build-oui: ${index.size} prefixes from oui-data ${version}, ${(bytes.length / 2 ** 20).toFixed(1)} MB`);
