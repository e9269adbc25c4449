/**
 * What the kernel counted per HTB class: the bytes of whole frames (headers included) each of
 * EqualNet's classes sent, read with `tc -s class show` in the lab's router namespace. HTB's rates
 * are in the same unit, so a rate compared with these counts needs no payload/header arithmetic
 * and does not depend on when a busy machine let iperf3 run.
 */
import type { Lab } from './lab';

export async function htbClassBytes(lab: Lab, dev: string): Promise<Map<number, number>> {
  const text = await lab.routerExec(['tc', '-s', 'class', 'show', 'dev', dev]);
  const out = new Map<number, number>();
  let minor: number | null = null;
  for (const line of text.split('\n')) {
    const head = /^class htb eb:([0-9a-f]+) /.exec(line);
    if (head) minor = parseInt(head[1], 16);
    else if (/^class /.test(line)) minor = null;
    const sent = /^\s*Sent (\d+) bytes/.exec(line);
    if (sent && minor !== null) out.set(minor, Number(sent[1]));
  }
  return out;
}

/** Bit/s each class sent over `ms` (frames), by minor. */
export async function htbClassRates(lab: Lab, dev: string, ms: number): Promise<Map<number, number>> {
  const a = await htbClassBytes(lab, dev);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const b = await htbClassBytes(lab, dev);
  const seconds = (performance.now() - t0) / 1000;
  const out = new Map<number, number>();
  for (const [minor, bytes] of b) out.set(minor, ((bytes - (a.get(minor) ?? 0)) * 8) / seconds);
  return out;
}
