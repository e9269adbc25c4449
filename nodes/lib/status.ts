import type { Node } from 'node-red';

type StatusTarget = Pick<Node, 'status'>;

const SHORT = 60;
const shorten = (text: string) => (text.length > SHORT ? `${text.slice(0, SHORT - 1)}…` : text);

export const showOk = (node: StatusTarget, text: string) => node.status({ fill: 'green', shape: 'dot', text: shorten(text) });
export const showWarning = (node: StatusTarget, text: string) => node.status({ fill: 'yellow', shape: 'ring', text: shorten(text) });
export const showError = (node: StatusTarget, text: string) => node.status({ fill: 'red', shape: 'ring', text: shorten(text) });

export function formatMbps(bps: number): string {
  const mbps = bps / 1e6;
  return mbps >= 100 ? mbps.toFixed(0) : mbps >= 10 ? mbps.toFixed(1) : mbps.toFixed(2);
}

/** "1 client", "4 clients". */
export const countOf = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
