/**
 * The pipeline bench's LAN: N devices behind a router, made of two network namespaces.
 *
 *   router namespace  eqpipe-<pid>-<tag>
 *     br0 10.88.0.1/21 (fixed MAC), one port p0; forwarding on; 198.51.100.0/24 a blackhole route
 *     the N devices: one PERMANENT neighbour entry each on br0 (IP 10.88.0.10 …, a MAC of a real
 *     vendor's block, one in ten locally administered), written with one `ip -batch`
 *   sink namespace  eqpipe-<pid>-<tag>-s
 *     eth0 10.88.7.254/21 (the other end of p0: the bridge has a carrier, so br0's qdiscs run),
 *     plus the devices' addresses as /32s, from which their upload is sent; the router's MAC as a
 *     permanent entry, so the sink never sends an ARP request and the router never learns it
 *
 * The devices are neighbour entries, not namespaces: 1,000 namespaces would cost minutes and
 * gigabytes. PERMANENT entries are what the spray lab uses: the kernel leaves them out of the
 * machine-wide garbage-collection count (gc_thresh3, 1,024 for every namespace together), so the
 * 1,000 entries of the largest run take nothing from other users of the machine, and gc_thresh is
 * never touched. IPv4 only, so the IPv6 neighbour table gets no entries of ours at all.
 *
 * Traffic (optional): download from the router namespace to the busy devices' addresses (it
 * leaves br0: counted by nft in postrouting, queued in the devices' HTB classes, flooded to the
 * sink, which drops it), upload from the sink's /32s to 198.51.100.2 (counted in prerouting,
 * shaped on the IFB, dropped by the blackhole route). Every packet stays inside the two namespaces.
 *
 * Where Node-RED runs: by default the bench itself runs inside the router namespace (bench/
 * pipeline.bench.ts re-runs itself with `ip netns exec`, ROUTER_NS_ENV names the namespace), so
 * Node-RED runs as on a router: on the LAN's interface in its own namespace, reading counters over
 * netlink and running its commands without `ip netns exec`. Then the LAN is built in that given
 * namespace (`onRouter`), and removing it removes what was added there (the bridge, the veth, the
 * route, nft tables, IFBs), not the namespace, which belongs to the bench's outer process.
 *
 * Names carry the bench's pid, so a later run removes what a killed run left (sweepStale).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive } from '../test/lab/lab';
import { killOrphans, removeOrphanDirs } from './orphans';

export const NS_PREFIX = 'eqpipe-';
export const TMP_PREFIX = 'equalnet-pipeline-';
export const LAN_IFACE = 'br0';
/** Set in the environment of every Node-RED the bench starts: the bench's pid. */
export const OWNER_ENV = 'EQUALNET_PIPELINE_BENCH_OWNER';
/** Set for the bench re-run inside the router namespace: that namespace's name. */
export const ROUTER_NS_ENV = 'EQUALNET_BENCH_ROUTER_NS';
export const ROUTER_IP = '10.88.0.1';
const SINK_IP = '10.88.7.254';
const PREFIX_LEN = 21;
const ROUTER_MAC = '02:00:00:88:00:01';
const WAN_SINK = '198.51.100.2';

/** Blocks of real vendors (checked against oui-data by the lab's tests) and a hostname style for each. */
const VENDORS: { prefix: string; host: string }[] = [
  { prefix: '3c:22:fb', host: 'iPhone' },
  { prefix: '5c:49:7d', host: 'Galaxy' },
  { prefix: 'dc:a6:32', host: 'raspberrypi' },
  { prefix: '3c:a9:f4', host: 'laptop' },
  { prefix: '50:c7:bf', host: 'TL-WA850RE' },
  { prefix: '24:0a:c4', host: 'esp-plug' },
  { prefix: '74:c2:46', host: 'echo-dot' },
  { prefix: '10:4f:a8', host: 'bravia-tv' },
  { prefix: '70:b3:d5', host: 'sensor' },
  { prefix: 'da:a1:19', host: 'Pixel' }, // locally administered: a phone's private address
];

export interface Device {
  index: number;
  ip: string;
  mac: string;
  hostname: string | null;
}

const hex = (v: number) => v.toString(16).padStart(2, '0');

export function deviceOf(i: number): Device {
  const host = 10 + i; // 10.88.0.10 … 10.88.3.241 for 1,000
  const v = VENDORS[i % VENDORS.length];
  return {
    index: i,
    ip: `10.88.${host >> 8}.${host & 255}`,
    mac: `${v.prefix}:5e:${hex((i >> 8) & 255)}:${hex(i & 255)}`,
    // four in five named by DHCP, as on a home LAN
    hostname: i % 5 === 4 ? null : `${v.host}-${String(i).padStart(4, '0')}`,
  };
}

/** Which devices are busy in a traffic phase: one in ten, a different tenth each phase. */
export function busyDevices(n: number, phase: number): Device[] {
  const out: Device[] = [];
  for (let i = 0; i < n; i++) if ((i + phase) % 10 === 0) out.push(deviceOf(i));
  return out;
}

function sh(argv: readonly string[], input?: string): string {
  return execFileSync(argv[0], argv.slice(1), { input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: 60_000 }).toString();
}

function quiet(argv: readonly string[]): string {
  try {
    return sh(argv);
  } catch {
    return '';
  }
}


/** Kills what runs inside `ns` (it is ours), then deletes it. Synchronous: usable in an exit handler. */
export function removeNamespace(ns: string): void {
  for (const pid of quiet(['ip', 'netns', 'pids', ns]).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  quiet(['ip', 'netns', 'del', ns]);
}

/** Removes the namespaces a bench process `pid` made (and what runs in them). */
export function removeNamespacesOf(pid: number): void {
  for (const line of quiet(['ip', 'netns', 'list']).split('\n')) {
    const ns = line.trim().split(/\s+/)[0];
    if (ns && ns.startsWith(`${NS_PREFIX}${pid}-`)) removeNamespace(ns);
  }
}

/** Namespaces, Node-REDs and temp dirs of pipeline benches whose process is gone (a kill -9). */
export function sweepStale(): string[] {
  const gone = killOrphans(OWNER_ENV);
  for (const line of quiet(['ip', 'netns', 'list']).split('\n')) {
    const ns = line.trim().split(/\s+/)[0];
    if (!ns || !ns.startsWith(NS_PREFIX)) continue;
    const pid = Number(ns.slice(NS_PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || !alive(pid)) {
      removeNamespace(ns);
      gone.push(ns);
    }
  }
  removeOrphanDirs(TMP_PREFIX);
  return gone;
}

export interface TrafficOptions {
  /** Offered download over all busy devices, bit/s (the link is 100 Mbit/s). */
  downBps: number;
  upBps: number;
  /** The busy tenth changes every this many seconds. */
  phaseSeconds: number;
}

export class PipelineLan {
  readonly tag = `${process.pid}-${randomBytes(2).toString('hex')}`;
  /** This process runs in the router namespace (given, not made here): Node-RED needs no `netns`. */
  readonly onRouter: boolean;
  readonly ns: string;
  readonly sinkNs = `${NS_PREFIX}${this.tag}-s`;
  readonly iface = LAN_IFACE;
  readonly dir = mkdtempSync(join(tmpdir(), `${TMP_PREFIX}${this.tag}-`));
  readonly leasesFile = join(this.dir, 'dnsmasq.leases');
  readonly devices: Device[];
  private readonly children = new Set<ChildProcess>();
  private built: string[] = [];
  private removed = false;

  /** `routerNs`: the namespace this process runs in, to be the router (see the file's comment). */
  constructor(readonly size: number, routerNs?: string) {
    this.devices = Array.from({ length: size }, (_, i) => deviceOf(i));
    this.onRouter = routerNs !== undefined;
    this.ns = routerNs ?? `${NS_PREFIX}${this.tag}`;
  }

  /** Builds both namespaces, the N neighbour entries and the leases file; on failure removes what it made. */
  build(): void {
    try {
      const r = this.ns;
      const s = this.sinkNs;
      if (!this.onRouter) {
        sh(['ip', 'netns', 'add', r]);
        this.built.push(r);
      }
      sh(['ip', 'netns', 'add', s]);
      this.built.push(s);
      sh(['ip', 'netns', 'exec', r, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      // the sink answers nothing and asks the router with its own address only
      sh(['ip', 'netns', 'exec', s, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.all.arp_ignore=8', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
      sh(['ip', '-n', r, 'link', 'set', 'lo', 'up']);
      sh(['ip', '-n', s, 'link', 'set', 'lo', 'up']);
      sh(['ip', '-n', r, 'link', 'add', LAN_IFACE, 'address', ROUTER_MAC, 'type', 'bridge']);
      sh(['ip', '-n', r, 'addr', 'add', `${ROUTER_IP}/${PREFIX_LEN}`, 'dev', LAN_IFACE]);
      sh(['ip', '-n', r, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', s]);
      sh(['ip', '-n', r, 'link', 'set', 'p0', 'master', LAN_IFACE, 'up']);
      sh(['ip', '-n', r, 'link', 'set', LAN_IFACE, 'up']);
      sh(['ip', '-n', r, 'route', 'add', 'blackhole', '198.51.100.0/24']);
      sh(['ip', '-n', s, 'addr', 'add', `${SINK_IP}/${PREFIX_LEN}`, 'dev', 'eth0']);
      sh(['ip', '-n', s, 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', s, 'route', 'add', 'default', 'via', ROUTER_IP]);
      // the sink never asks for the router's MAC, so the router never learns a 1,001st "device"
      sh(['ip', '-n', s, 'neigh', 'replace', ROUTER_IP, 'lladdr', ROUTER_MAC, 'dev', 'eth0', 'nud', 'permanent']);
      sh(['ip', '-n', r, '-batch', '-'], this.devices.map((d) => `neigh replace ${d.ip} lladdr ${d.mac} dev ${LAN_IFACE} nud permanent`).join('\n') + '\n');
      const expiry = Math.floor(Date.now() / 1000) + 12 * 3600;
      writeFileSync(this.leasesFile, this.devices.filter((d) => d.hostname).map((d) => `${expiry} ${d.mac} ${d.ip} ${d.hostname} 01:${d.mac}`).join('\n') + '\n');
      const entries = this.neighbourCount();
      if (entries < this.size) throw new Error(`only ${entries} of ${this.size} neighbour entries in ${r}`);
    } catch (err) {
      this.remove();
      throw err;
    }
  }

  neighbourCount(): number {
    return (JSON.parse(sh(['ip', '-n', this.ns, '-j', '-4', 'neigh', 'show', 'dev', LAN_IFACE, 'nud', 'permanent'])) as unknown[]).length;
  }

  /**
   * Starts the traffic: one generator in the router namespace (download) and one in the sink
   * (upload, from the busy devices' /32s: every address of any phase is added once).
   */
  startTraffic(script: string, options: TrafficOptions): void {
    // every device is busy in one phase of ten: all their addresses, once (addresses are no neighbour entries)
    sh(['ip', '-n', this.sinkNs, '-batch', '-'], this.devices.map((d) => `addr add ${d.ip}/32 dev eth0`).join('\n') + '\n');
    const spec = JSON.stringify({ n: this.size, ...options, sink: WAN_SINK });
    for (const dir of ['down', 'up'] as const) {
      const ns = dir === 'down' ? this.ns : this.sinkNs;
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, dir, spec], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
      child.on('exit', (code, signal) => {
        this.children.delete(child);
        if (!this.removed && signal === null) console.error(`(traffic ${dir} stopped: exit ${code} ${err.trim()})`);
      });
      this.children.add(child);
    }
  }

  /** Download bytes the router namespace sent out of br0 (to check that the traffic flows). */
  lanTxBytes(): number {
    const link = JSON.parse(sh(['ip', '-n', this.ns, '-j', '-s', 'link', 'show', 'dev', LAN_IFACE])) as { stats64: { tx: { bytes: number } } }[];
    return link[0]?.stats64.tx.bytes ?? 0;
  }

  /** Stops the generators, removes both namespaces (and what runs in them) and the temp dir. Twice is fine. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    for (const c of this.children) c.kill('SIGKILL');
    for (const ns of [...this.built].reverse()) removeNamespace(ns);
    this.built = [];
    if (this.onRouter) {
      // what this LAN and the Node-RED on it added to the given namespace (the sink's end of p0 went with the sink)
      for (const l of JSON.parse(quiet(['ip', '-n', this.ns, '-j', 'link', 'show', 'type', 'ifb']) || '[]') as { ifname: string }[]) quiet(['ip', '-n', this.ns, 'link', 'del', l.ifname]);
      quiet(['ip', '-n', this.ns, 'link', 'del', LAN_IFACE]);
      quiet(['ip', '-n', this.ns, 'route', 'del', 'blackhole', '198.51.100.0/24']);
      quiet(['ip', 'netns', 'exec', this.ns, 'nft', 'flush', 'ruleset']);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
