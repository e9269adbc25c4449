/**
 * Our vendor lookup (oui-data, longest prefix) against an independent copy of the IEEE registry:
 * Debian's arp-scan package ships it as /usr/share/arp-scan/ieee-oui.txt (the lab installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { defaultOuiIndex } from '../../nodes/core/discover/oui';

const ARP_SCAN_OUI = '/usr/share/arp-scan/ieee-oui.txt';

const LEGAL_FORMS = new Set(
  'inc incorporated corp corporation co company ltd limited llc gmbh ag sa s a de cv bv b v plc the pty oy ab as srl spa kg kk sro sas lda l c p ltda nv'.split(' '),
);

/** Case, accents, punctuation, spacing and legal form ("Inc.", "Co.,Ltd", "GmbH") do not make a different name. */
export function normaliseVendor(name: string): string {
  return name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/&/g, ' and ')
    .replace(/[^a-z0-9]+/g, ' ')
    .split(' ')
    .filter((w) => w && !LEGAL_FORMS.has(w))
    .join('');
}

/**
 * Organisations whose registered name changed between the two copies (arp-scan's is from
 * December 2022, oui-data's from 2025): renames and acquisitions the IEEE recorded, each moving
 * many prefixes at once. Listed, not guessed: every pair here was read off the disagreements.
 */
const RENAMED: Record<string, string> = {
  'ARRIS Group, Inc.': 'Commscope',
  'Technicolor CH USA Inc.': 'Vantiva USA LLC',
  'Technicolor Delivery Technologies Belgium NV': 'Vantiva Technologies Belgium',
  'Wistron Neweb Corporation': 'WNC Corporation',
  'Kaonmedia CO., LTD.': 'Kaon Group Co., Ltd.',
  'Laird Connectivity': 'Ezurio, LLC',
  'Novatel Wireless Solutions, Inc.': 'Inseego Wireless, Inc',
  'Aruba, a Hewlett Packard Enterprise Company': 'Hewlett Packard Enterprise',
};

describe('arp-discover: vendor lookup agrees with an independent IEEE list (arp-scan ieee-oui.txt)', () => {
  it('for at least 99 % of the MA-L prefixes in both, after normalising names', () => {
    assert.ok(existsSync(ARP_SCAN_OUI), `${ARP_SCAN_OUI} is missing: apt-get install arp-scan`);
    const theirs = new Map<string, string>();
    for (const line of readFileSync(ARP_SCAN_OUI, 'utf8').split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const [prefix, vendor] = line.split('\t');
      if (prefix?.length === 6 && vendor) theirs.set(prefix.toUpperCase(), vendor.trim());
    }
    const oui = defaultOuiIndex();
    let both = 0;
    let skipped = 0;
    let same = 0;
    let sameAfterRenames = 0;
    const differ = new Map<string, number>();
    for (const [prefix] of oui.maL()) {
      const other = theirs.get(prefix);
      if (other === undefined) continue;
      // through the public lookup, so the longest-prefix logic is what is checked; a MAC at the
      // block's end, where MA-M/MA-S sub-blocks (assigned from the start) are least likely
      const ours = oui.lookup(`${prefix.slice(0, 2)}:${prefix.slice(2, 4)}:${prefix.slice(4, 6)}:ff:ff:ff`.toLowerCase());
      if (ours?.block !== 'MA-L') {
        // an MA-L block carved into MA-M/MA-S, or with the local bit set (never a vendor)
        skipped++;
        continue;
      }
      both++;
      const mine = ours.vendor;
      if (normaliseVendor(mine) === normaliseVendor(other)) {
        same++;
        sameAfterRenames++;
      } else if (RENAMED[other] && normaliseVendor(RENAMED[other]) === normaliseVendor(mine)) {
        sameAfterRenames++;
      } else {
        const key = `${other} -> ${mine}`;
        differ.set(key, (differ.get(key) ?? 0) + 1);
      }
    }
    const pct = (n: number) => ((100 * n) / both).toFixed(2);
    console.log(`      MA-L prefixes in both lists: ${both} compared (${skipped} not: carved into MA-M/MA-S blocks, or locally administered)`);
    console.log(`      same name after normalising:                 ${same} (${pct(same)} %)`);
    console.log(`      same organisation, counting ${Object.keys(RENAMED).length} recorded renames: ${sameAfterRenames} (${pct(sameAfterRenames)} %)`);
    const top = [...differ.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    console.log(`      still different: ${both - sameAfterRenames}, e.g. ${top.map(([k, n]) => `${k} (${n})`).join('; ')}`);
    assert.ok(both > 30_000, `only ${both} prefixes in common: one of the lists did not load`);
    assert.ok(same / both >= 0.97, `only ${pct(same)} % same name`);
    assert.ok(sameAfterRenames / both >= 0.99, `only ${pct(sameAfterRenames)} % agree`);
  });
});
