/**
 * The demo's video call, run inside the demo's namespaces:
 *   node videocall.js echo PORT                        (the far end, in the WAN namespace)
 *   node videocall.js call HOST PORT MBPS PACKETBYTES  (the laptop)
 * The laptop sends a steady UDP stream (MBPS, both ways once echoed), each packet carrying its
 * send time; the far end sends every packet straight back. Once a second the caller prints one
 * JSON line: { ts, sent, received, bps, rttMs } with bps the rate that came back and rttMs the
 * median round trip of that second (null when nothing came back). Runs until killed.
 */
import { createSocket } from 'node:dgram';

function echo(port: number): void {
  const socket = createSocket('udp4');
  socket.on('message', (msg, from) => socket.send(msg, from.port, from.address));
  socket.on('error', (err) => {
    console.error(err.message);
    process.exit(1);
  });
  socket.bind(port);
}

function call(host: string, port: number, mbps: number, packetBytes: number): void {
  const socket = createSocket('udp4');
  socket.on('error', () => undefined); // a packet refused now and then is loss, not an end
  const payload = Buffer.alloc(packetBytes - 28); // minus IPv4 and UDP headers
  const perSecond = (mbps * 1e6) / 8 / packetBytes;
  let seq = 0;
  let sent = 0;
  let received = 0;
  let bytes = 0;
  let rtts: number[] = [];
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  socket.on('message', (msg) => {
    if (msg.length < 12) return;
    received++;
    bytes += msg.length + 28;
    rtts.push(now() - msg.readDoubleBE(4));
  });
  const started = now();
  const tick = () => {
    // as many packets as the rate allows since the start: steady on average whatever the timer does
    const due = Math.floor(((now() - started) / 1000) * perSecond);
    for (; seq < due; seq++) {
      payload.writeUInt32BE(seq >>> 0, 0);
      payload.writeDoubleBE(now(), 4);
      socket.send(payload, port, host);
      sent++;
    }
  };
  setInterval(tick, 5);
  setInterval(() => {
    rtts.sort((a, b) => a - b);
    const median = rtts.length ? rtts[Math.floor(rtts.length / 2)] : null;
    console.log(JSON.stringify({ ts: Date.now(), sent, received, bps: bytes * 8, rttMs: median === null ? null : Math.round(median * 10) / 10 }));
    sent = 0;
    received = 0;
    bytes = 0;
    rtts = [];
  }, 1000);
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'echo') echo(Number(rest[0]));
else if (mode === 'call') call(rest[0], Number(rest[1]), Number(rest[2]), Number(rest[3]));
else {
  console.error('usage: videocall.js echo PORT | call HOST PORT MBPS PACKETBYTES');
  process.exit(2);
}
