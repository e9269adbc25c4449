/**
 * The worked examples of the README, computed by the real allocator. test/unit/readme.spec.ts
 * checks that the README shows exactly these numbers; `node scripts/worked-examples.js` prints them.
 */
import { allocateDirection, guaranteeOf, weightOf, type AllocationPolicy } from './allocator';

export interface WorkedExample {
  title: string;
  policy: AllocationPolicy;
  clients: Array<{ name: string; priority: number; demandMbps: number }>;
}

const policy: AllocationPolicy = { totalBps: 100e6, maxPriority: 5, minPercent: 10, headroomPercent: 20 };

export const WORKED_EXAMPLES: WorkedExample[] = [
  {
    title: 'Contended: three busy clients and one idle one',
    policy,
    clients: [
      { name: 'laptop', priority: 1, demandMbps: 60 },
      { name: 'tv', priority: 2, demandMbps: 50 },
      { name: 'sensor', priority: 3, demandMbps: 0 },
      { name: 'console', priority: 5, demandMbps: 80 },
    ],
  },
  {
    title: 'Everyone wants the whole link',
    policy,
    clients: [
      { name: 'laptop', priority: 1, demandMbps: 100 },
      { name: 'tv', priority: 2, demandMbps: 100 },
      { name: 'phone', priority: 3, demandMbps: 100 },
      { name: 'console', priority: 5, demandMbps: 100 },
    ],
  },
  {
    title: 'Light load: every demand fits',
    policy,
    clients: [
      { name: 'laptop', priority: 1, demandMbps: 5 },
      { name: 'tv', priority: 2, demandMbps: 25 },
      { name: 'sensor', priority: 3, demandMbps: 0 },
      { name: 'console', priority: 5, demandMbps: 20 },
    ],
  },
];

/** What the original EqualNet Pro computed: min + priority / Σpriorities × rest (inverted). */
function originalMbps(example: WorkedExample): number[] {
  const total = example.policy.totalBps / 1e6;
  const min = (example.policy.minPercent / 100) * total;
  const available = total - min * example.clients.length;
  const sum = example.clients.reduce((a, c) => a + c.priority, 0);
  return example.clients.map((c) => min + (c.priority / sum) * available);
}

const mbps = (bps: number) => (bps / 1e6).toFixed(2);

export function exampleTable(example: WorkedExample): string {
  const result = allocateDirection(
    example.clients.map((c) => ({ priority: c.priority, demandBps: c.demandMbps * 1e6 })),
    example.policy,
  );
  const original = originalMbps(example);
  const g = guaranteeOf(example.policy, example.clients.length);
  const lines = [
    `**${example.title}** (link ${mbps(example.policy.totalBps)} Mbit/s, guarantee ${mbps(g)} Mbit/s each, headroom ${example.policy.headroomPercent} %)`,
    '',
    '| client | priority | weight | demand Mbit/s | EqualNet rate Mbit/s | original EqualNet Pro Mbit/s |',
    '|---|---:|---:|---:|---:|---:|',
    ...example.clients.map(
      (c, i) =>
        `| ${c.name} | ${c.priority} | ${weightOf(c.priority, example.policy.maxPriority)} | ${c.demandMbps.toFixed(2)} | ${mbps(result.rateBps[i])} | ${original[i].toFixed(2)} |`,
    ),
  ];
  return lines.join('\n');
}

export const workedExamplesMarkdown = (): string => WORKED_EXAMPLES.map(exampleTable).join('\n\n');
