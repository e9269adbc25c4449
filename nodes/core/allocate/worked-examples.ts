/**
 * The worked examples of the README, computed by the real allocator. test/unit/readme.spec.ts
 * checks that the README shows exactly these numbers; `node scripts/worked-examples.js` prints them.
 */
import { allocateDirection, guaranteeOf, weightOf, type AllocationPolicy } from './allocator';

export interface WorkedExample {
  title: string;
  policy: AllocationPolicy;
  /** `used`: Mbit/s it used over the last tick, below its rate; 'busy': it ran at its rate (wants more). */
  clients: Array<{ name: string; priority: number; used: number | 'busy' }>;
}

const policy: AllocationPolicy = { totalBps: 100e6, maxPriority: 5, minPercent: 10, headroomPercent: 20 };

export const WORKED_EXAMPLES: WorkedExample[] = [
  {
    title: 'Contended: three busy clients and one idle one',
    policy,
    clients: [
      { name: 'laptop', priority: 1, used: 'busy' },
      { name: 'tv', priority: 2, used: 'busy' },
      { name: 'sensor', priority: 3, used: 0 },
      { name: 'console', priority: 5, used: 'busy' },
    ],
  },
  {
    title: 'Everyone wants the whole link',
    policy,
    clients: [
      { name: 'laptop', priority: 1, used: 'busy' },
      { name: 'tv', priority: 2, used: 'busy' },
      { name: 'phone', priority: 3, used: 'busy' },
      { name: 'console', priority: 5, used: 'busy' },
    ],
  },
  {
    title: 'A video call that needs less than its share, next to two downloads',
    policy,
    clients: [
      { name: 'laptop', priority: 1, used: 8 },
      { name: 'tv', priority: 2, used: 'busy' },
      { name: 'sensor', priority: 3, used: 0.1 },
      { name: 'console', priority: 5, used: 'busy' },
    ],
  },
  {
    title: 'Light load: nobody busy',
    policy,
    clients: [
      { name: 'laptop', priority: 1, used: 5 },
      { name: 'tv', priority: 2, used: 25 },
      { name: 'sensor', priority: 3, used: 0 },
      { name: 'console', priority: 5, used: 20 },
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
    example.clients.map((c) => ({ priority: c.priority, usedBps: c.used === 'busy' ? null : c.used * 1e6, wantsMore: c.used === 'busy' })),
    example.policy,
  );
  const original = originalMbps(example);
  const g = guaranteeOf(example.policy, example.clients.length);
  const lines = [
    `**${example.title}** (link ${mbps(example.policy.totalBps)} Mbit/s, guarantee ${mbps(g)} Mbit/s, floor ${mbps(result.floorBps)} Mbit/s, headroom ${example.policy.headroomPercent} %)`,
    '',
    '| client | priority | weight | uses Mbit/s | HTB rate Mbit/s | expected share Mbit/s | original EqualNet Pro Mbit/s |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...example.clients.map(
      (c, i) =>
        `| ${c.name} | ${c.priority} | ${weightOf(c.priority, example.policy.maxPriority)} | ${c.used === 'busy' ? 'busy' : c.used.toFixed(2)} | ${mbps(result.rateBps[i])} | ${mbps(result.expectedBps[i])} | ${original[i].toFixed(2)} |`,
    ),
  ];
  return lines.join('\n');
}

export const workedExamplesMarkdown = (): string => WORKED_EXAMPLES.map(exampleTable).join('\n\n');
