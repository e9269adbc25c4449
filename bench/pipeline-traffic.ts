/**
 * The pipeline bench's traffic, run inside one of its namespaces:
 *   node pipeline-traffic.js down|up '{"n":250,"downBps":…,"upBps":…,"phaseSeconds":30,"sink":"198.51.100.2"}'
 * down (router namespace): UDP to each busy device's address, which leaves br0 towards the LAN;
 * up (sink namespace): UDP from each busy device's address to the sink address behind the router.
 * One device in ten is busy, a different tenth each phase, at rates that differ by device, so the
 * allocator sees busy and idle clients and the shaper has classes to change. 1,400-byte packets,
 * paced every 20 ms. Runs until killed.
 */
import { createSocket, type Socket } from 'node:dgram';
import { busyDevices, type Device } from './pipeline-lan';

const PACKET = 1400;
const STEP_MS = 20;

interface Spec {
  n: number;
  downBps: number;
  upBps: number;
  phaseSeconds: number;
  sink: string;
}

function main(): void {
  const dir = process.argv[2];
  const spec = JSON.parse(process.argv[3]) as Spec;
  if (dir !== 'down' && dir !== 'up') throw new Error('direction: down or up');
  const total = dir === 'down' ? spec.downBps : spec.upBps;
  const payload = Buffer.alloc(PACKET - 28, 0x5a);
  let phase = -1;
  let flows: { device: Device; bps: number; credit: number; socket: Socket }[] = [];
  const shared = createSocket('udp4');
  shared.on('error', () => undefined);

  const startPhase = (next: number) => {
    for (const f of flows) if (f.socket !== shared) f.socket.close();
    phase = next;
    const busy = busyDevices(spec.n, phase);
    const weights = busy.map((d) => 1 + (d.index % 7));
    const sum = weights.reduce((a, b) => a + b, 0);
    flows = busy.map((device, k) => {
      let socket = shared;
      if (dir === 'up') {
        socket = createSocket('udp4');
        socket.on('error', () => undefined);
        socket.bind({ address: device.ip, exclusive: true });
      }
      return { device, bps: (total * weights[k]) / sum, credit: 0, socket };
    });
  };

  const started = Date.now();
  let last = started;
  setInterval(() => {
    const now = Date.now();
    const p = Math.floor((now - started) / 1000 / spec.phaseSeconds);
    if (p !== phase) startPhase(p);
    const dt = (now - last) / 1000;
    last = now;
    for (const f of flows) {
      f.credit = Math.min(f.credit + (f.bps / 8) * dt, PACKET * 50);
      while (f.credit >= PACKET) {
        f.credit -= PACKET;
        if (dir === 'down') f.socket.send(payload, 9, f.device.ip, () => undefined);
        else f.socket.send(payload, 9, spec.sink, () => undefined);
      }
    }
  }, STEP_MS);
}

main();
