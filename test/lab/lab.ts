/**
 * The lab: a small LAN made of Linux network namespaces, so that arp-discover, iface-counter and
 * tc-shaper run against a real kernel (neighbour table, counters, qdiscs) on one machine.
 *
 *   WAN namespace  (198.51.100.2, 2001:db8:ffff::2: "the internet", iperf3 servers go here)
 *        │ eth0 ── wan0
 *   router namespace: br-lan 10.77.0.1/24 + fd00:77::1/64, forwarding on, dnsmasq (DHCP + DNS)
 *        │ vc1 … vcN (bridge ports)
 *   client namespaces: eth0 with a vendor MAC, IPv4 from DHCP (hostname sent), static IPv6
 *
 * Every interface is created inside a namespace (`ip -n NS link add … peer … netns OTHER`), so
 * nothing ever appears in, or changes, the machine's own network. Names carry the owning process
 * id and a random tag (`eqlab-<pid>-<tag>-…`): two runs never collide, and a later run removes
 * the leftovers of a run whose process is gone (Lab.sweepStale). Teardown runs on destroy(), on
 * SIGINT/SIGTERM, and synchronously on process exit (mocha --exit included).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NS_PREFIX = 'eqlab-';
/** The temp directory of a lab whose namespaces start with `prefix` (equalnet-lab-… for the lab's own). */
function tmpPrefixOf(prefix: string): string {
  return prefix === NS_PREFIX ? 'equalnet-lab-' : `equalnet-${prefix.replace(/-$/, '')}-`;
}
export const LAN_IFACE = 'br-lan';
export const LAN4 = { router: '10.77.0.1', prefixlen: 24, dhcpFrom: '10.77.0.100', dhcpTo: '10.77.0.199' };
export const LAN6 = { router: 'fd00:77::1', prefix: 'fd00:77::', prefixlen: 64 };
export const WAN = { router4: '198.51.100.1', wan4: '198.51.100.2', router6: '2001:db8:ffff::1', wan6: '2001:db8:ffff::2' };
export const DOMAIN = 'lab';
export const ROUTER_LAN_MAC = '02:00:00:77:00:01';

export interface ClientSpec {
  /** Short name, [a-z0-9-]; also the namespace suffix. */
  name: string;
  mac: string;
  /** Hostname the client sends in DHCP (or, for an IPv6-only client, that DNS gives its address). */
  hostname: string;
  /** Default true; false makes an IPv6-only client (no DHCPv4). */
  ipv4?: boolean;
  /** The vendor the IEEE registry gives the MAC, for tests; null for a randomized MAC. */
  expectedVendor: string | null;
}

export interface LabClient {
  spec: ClientSpec;
  ns: string;
  /** The router-side bridge port. */
  port: string;
  mac: string;
  ipv4: string | null;
  ipv6: string;
  /** Date.now() when the client's link came up: the moment it "plugged in". */
  linkUpAt: number;
  /** Date.now() when it had its addresses and had talked to the router. */
  readyAt: number;
}

/**
 * Ten devices from real IEEE blocks (checked against oui-data): the eight vendors of a typical
 * home, one MA-S block (36-bit prefix inside the IEEE's own MA-L), one locally administered MAC as
 * a phone's private address uses, and one IPv6-only device.
 */
export const DEFAULT_CLIENTS: readonly ClientSpec[] = Object.freeze([
  { name: 'iphone', mac: '3c:22:fb:10:00:01', hostname: 'iPhone-Anna', expectedVendor: 'Apple, Inc.' },
  { name: 'galaxy', mac: '5c:49:7d:10:00:02', hostname: 'Galaxy-S23', expectedVendor: 'Samsung Electronics Co.,Ltd' },
  { name: 'pi', mac: 'dc:a6:32:10:00:03', hostname: 'raspberrypi', expectedVendor: 'Raspberry Pi Trading Ltd' },
  { name: 'laptop', mac: '3c:a9:f4:10:00:04', hostname: 'work-laptop', expectedVendor: 'Intel Corporate' },
  { name: 'extender', mac: '50:c7:bf:10:00:05', hostname: 'TL-WA850RE', expectedVendor: 'TP-LINK TECHNOLOGIES CO.,LTD.' },
  { name: 'plug', mac: '24:0a:c4:10:00:06', hostname: 'esp-plug-kitchen', expectedVendor: 'Espressif Inc.' },
  { name: 'echo', mac: '74:c2:46:10:00:07', hostname: 'echo-dot', expectedVendor: 'Amazon Technologies Inc.' },
  { name: 'tv', mac: '10:4f:a8:10:00:08', hostname: 'bravia-tv', ipv4: false, expectedVendor: 'Sony Corporation' },
  { name: 'sensor', mac: '70:b3:d5:01:60:09', hostname: 'boiler-sensor', expectedVendor: 'Guardian Controls International Ltd' },
  { name: 'pixel', mac: 'da:a1:19:10:00:0a', hostname: 'Pixel-7', expectedVendor: null },
]) as readonly ClientSpec[];

function run(argv: readonly string[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err) reject(new Error(`lab: ${argv.join(' ')} failed: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

function runSync(argv: readonly string[]): string {
  try {
    return execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString();
  } catch {
    return '';
  }
}

/** Refuses to go on without root: a lab test that cannot build its lab must fail, loudly. */
export function assertRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the lab needs root (network namespaces, veth, dnsmasq): run the lab tests as root, e.g. in CI or with sudo');
  }
}

function listNamespaces(prefix: string): string[] {
  return runSync(['ip', 'netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n && n.startsWith(prefix));
}

/** Whether a process is there (EPERM: there, not ours). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills every process inside `ns`, then deletes it. Synchronous, so it can run in an exit handler. */
function removeNamespaceSync(ns: string): void {
  for (const pid of runSync(['ip', 'netns', 'pids', ns]).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  runSync(['ip', 'netns', 'del', ns]);
  rmSync(join('/etc/netns', ns), { recursive: true, force: true });
}

const liveLabs = new Set<Lab>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const lab of liveLabs) lab.destroySync();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
}

export interface LabOptions {
  clients?: readonly ClientSpec[];
  /**
   * Namespace prefix, [a-z]+-, default NS_PREFIX (eqlab-). Another user of the lab (the demo:
   * eqdemo-) takes its own, so that its sweep and its leftovers are told apart from the tests'.
   */
  prefix?: string;
}

export class Lab {
  readonly id: string;
  readonly routerNs: string;
  readonly wanNs: string;
  /** The router's LAN interface (inside routerNs): what arp-discover & co. are pointed at. */
  readonly lanIface = LAN_IFACE;
  readonly dir: string;
  readonly leasesFile: string;
  readonly clients = new Map<string, LabClient>();
  private readonly namespaces: string[] = [];
  private dnsmasq: ChildProcess | null = null;
  private readonly background = new Set<ChildProcess>();
  private portCount = 0;
  private destroyed = false;

  private constructor(readonly prefix: string) {
    this.id = `${process.pid}-${randomBytes(2).toString('hex')}`;
    this.routerNs = `${prefix}${this.id}-r`;
    this.wanNs = `${prefix}${this.id}-w`;
    this.dir = mkdtempSync(join(tmpdir(), `${tmpPrefixOf(prefix)}${this.id}-`));
    this.leasesFile = join(this.dir, 'dnsmasq.leases');
  }

  /**
   * Builds the router, the WAN side and the clients (DEFAULT_CLIENTS unless given). If anything
   * fails half-way, what was built is removed before the error is thrown.
   */
  static async create(options: LabOptions = {}): Promise<Lab> {
    const prefix = options.prefix ?? NS_PREFIX;
    if (!/^[a-z]{2,10}-$/.test(prefix)) throw new Error(`lab: prefix "${prefix}" must be 2 to 10 letters and a dash`);
    assertRoot();
    installHandlers();
    Lab.sweepStale(false, prefix);
    const lab = new Lab(prefix);
    liveLabs.add(lab);
    try {
      await lab.buildRouter();
      lab.writeUdhcpcScript();
      await lab.startDnsmasq();
      await Promise.all((options.clients ?? DEFAULT_CLIENTS).map((c) => lab.addClient(c)));
      return lab;
    } catch (err) {
      await lab.destroy();
      throw err;
    }
  }

  /** Removes the namespaces of labs whose process is gone (a crash, a kill -9). Returns their names. */
  static sweepStale(all = false, prefix = NS_PREFIX): string[] {
    const stale = listNamespaces(prefix).filter((ns) => {
      const pid = Number(ns.slice(prefix.length).split('-')[0]);
      return all || !Number.isInteger(pid) || !alive(pid);
    });
    for (const ns of stale) removeNamespaceSync(ns);
    // and their temp dirs (config, leases, logs)
    for (const entry of readdirSync(tmpdir())) {
      const m = new RegExp(`^${tmpPrefixOf(prefix)}(\\d+)-[0-9a-f]{4}-`).exec(entry);
      if (m && (all || !alive(Number(m[1])))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    }
    return stale;
  }

  /** Runs a command inside one of the lab's namespaces. */
  exec(ns: string, argv: readonly string[], timeoutMs?: number): Promise<string> {
    return run(['ip', 'netns', 'exec', ns, ...argv], timeoutMs);
  }

  routerExec(argv: readonly string[], timeoutMs?: number): Promise<string> {
    return this.exec(this.routerNs, argv, timeoutMs);
  }

  /**
   * Starts a long-running command inside a namespace (an iperf3 server in the WAN, say). It is
   * killed by stop(), or at the latest by destroy(); `output()` is what it printed so far.
   */
  spawnIn(ns: string, argv: readonly string[]): { child: ChildProcess; output: () => string; stop: () => void } {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    this.background.add(child);
    child.on('exit', () => this.background.delete(child));
    return { child, output: () => out, stop: () => child.kill('SIGKILL') };
  }

  clientNs(name: string): string {
    return `${this.prefix}${this.id}-c-${name}`;
  }

  private async addNamespace(ns: string): Promise<void> {
    await run(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }

  private async buildRouter(): Promise<void> {
    const r = this.routerNs;
    const w = this.wanNs;
    await this.addNamespace(r);
    await this.addNamespace(w);
    await this.exec(r, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv6.conf.default.accept_dad=0']);
    // A fixed address: otherwise the bridge takes its lowest port's MAC, changes it as devices come
    // and go, and the kernel flushes the neighbour table on every change (a real router's does not move).
    await run(['ip', '-n', r, 'link', 'add', LAN_IFACE, 'address', ROUTER_LAN_MAC, 'type', 'bridge']);
    await run(['ip', '-n', r, 'link', 'set', LAN_IFACE, 'up']);
    await run(['ip', '-n', r, 'addr', 'add', `${LAN4.router}/${LAN4.prefixlen}`, 'dev', LAN_IFACE]);
    await run(['ip', '-n', r, '-6', 'addr', 'add', `${LAN6.router}/${LAN6.prefixlen}`, 'dev', LAN_IFACE, 'nodad']);
    // WAN link: created in the router namespace with its peer straight in the WAN namespace
    await run(['ip', '-n', r, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', w]);
    await run(['ip', '-n', r, 'addr', 'add', `${WAN.router4}/24`, 'dev', 'wan0']);
    await run(['ip', '-n', r, '-6', 'addr', 'add', `${WAN.router6}/64`, 'dev', 'wan0', 'nodad']);
    await run(['ip', '-n', r, 'link', 'set', 'wan0', 'up']);
    await run(['ip', '-n', w, 'addr', 'add', `${WAN.wan4}/24`, 'dev', 'eth0']);
    await run(['ip', '-n', w, '-6', 'addr', 'add', `${WAN.wan6}/64`, 'dev', 'eth0', 'nodad']);
    await run(['ip', '-n', w, 'link', 'set', 'eth0', 'up']);
    await run(['ip', '-n', r, 'route', 'add', 'default', 'via', WAN.wan4]);
    await run(['ip', '-n', r, '-6', 'route', 'add', 'default', 'via', WAN.wan6]);
    await run(['ip', '-n', w, 'route', 'add', `10.77.0.0/${LAN4.prefixlen}`, 'via', WAN.router4]);
    await run(['ip', '-n', w, '-6', 'route', 'add', `${LAN6.prefix}/${LAN6.prefixlen}`, 'via', WAN.router6]);
    // what `ip netns exec` bind-mounts as the router's resolv.conf: its own dnsmasq
    mkdirSync(join('/etc/netns', r), { recursive: true });
    writeFileSync(join('/etc/netns', r, 'resolv.conf'), 'nameserver 127.0.0.1\n');
  }

  private hostsFile(): string {
    return join(this.dir, 'hosts');
  }

  private async startDnsmasq(): Promise<void> {
    const conf = join(this.dir, 'dnsmasq.conf');
    writeFileSync(this.hostsFile(), '');
    writeFileSync(
      conf,
      [
        `interface=${LAN_IFACE}`,
        'user=root',
        'no-resolv',
        'no-hosts',
        `domain=${DOMAIN}`,
        `local=/${DOMAIN}/`,
        'expand-hosts',
        `addn-hosts=${this.hostsFile()}`,
        `dhcp-range=${LAN4.dhcpFrom},${LAN4.dhcpTo},255.255.255.0,12h`,
        `dhcp-option=option:router,${LAN4.router}`,
        `dhcp-option=option:dns-server,${LAN4.router}`,
        `dhcp-leasefile=${this.leasesFile}`,
        'dhcp-authoritative',
        'no-ping',
        `pid-file=${join(this.dir, 'dnsmasq.pid')}`,
        `log-facility=${join(this.dir, 'dnsmasq.log')}`,
        'log-dhcp',
        '',
      ].join('\n'),
    );
    const child = spawn('ip', ['netns', 'exec', this.routerNs, 'dnsmasq', '--keep-in-foreground', `--conf-file=${conf}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    this.dnsmasq = child;
    // ready when it answers DHCP/DNS: its pid file is written after the sockets are bound
    const deadline = Date.now() + 5_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`lab: dnsmasq exited: ${stderr.trim()}`);
      const listening = await this.routerExec(['ss', '-Hlun', 'sport', '=', ':67']).catch(() => '');
      if (listening.trim() !== '') return;
      if (Date.now() > deadline) throw new Error(`lab: dnsmasq did not start within 5 s: ${stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** dnsmasq re-reads its hosts file on SIGHUP. */
  private reloadDnsmasq(): void {
    // `ip netns exec` execs dnsmasq in place, so the child's pid is dnsmasq's
    if (this.dnsmasq?.pid) process.kill(this.dnsmasq.pid, 'SIGHUP');
  }

  private nextIPv6(): string {
    return `${LAN6.prefix}${(0x100 + this.portCount).toString(16)}`;
  }

  /**
   * Plugs a device in: namespace, veth to the bridge, its MAC, IPv6, DHCPv4 with its hostname
   * (unless IPv6-only), then one ping to the router as any device's first traffic. Adding a
   * client that exists with the same MAC returns it (idempotent); a different MAC is an error.
   */
  async addClient(spec: ClientSpec): Promise<LabClient> {
    if (this.destroyed) throw new Error('lab: already destroyed');
    if (!/^[a-z0-9][a-z0-9-]{0,15}$/.test(spec.name)) throw new Error(`lab: client name "${spec.name}" must be [a-z0-9-], at most 16`);
    const existing = this.clients.get(spec.name);
    if (existing) {
      if (existing.mac === spec.mac) return existing;
      throw new Error(`lab: client ${spec.name} exists with MAC ${existing.mac}`);
    }
    const ns = this.clientNs(spec.name);
    const port = `vc${++this.portCount}`;
    const ipv6 = this.nextIPv6();
    await this.addNamespace(ns);
    // DAD off: a device's addresses are usable at once, so arrival timing is the kernel's, not DAD's 1 s
    await this.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    await run(['ip', '-n', this.routerNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'address', spec.mac, 'netns', ns]);
    await run(['ip', '-n', this.routerNs, 'link', 'set', port, 'master', LAN_IFACE, 'up']);
    await run(['ip', '-n', ns, '-6', 'addr', 'add', `${ipv6}/${LAN6.prefixlen}`, 'dev', 'eth0', 'nodad']);
    await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    const linkUpAt = Date.now();
    await run(['ip', '-n', ns, '-6', 'route', 'add', 'default', 'via', LAN6.router]);
    if (spec.ipv4 === false) {
      writeFileSync(this.hostsFile(), `${ipv6} ${spec.hostname}\n`, { flag: 'a' });
      this.reloadDnsmasq();
    }
    let ipv4: string | null = null;
    if (spec.ipv4 !== false) {
      const dhcp = await this.exec(ns, ['busybox', 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '5', '-T', '1', '-s', this.udhcpcScript, '-x', `hostname:${spec.hostname}`]);
      const addrs = JSON.parse(await run(['ip', '-n', ns, '-j', '-4', 'addr', 'show', 'dev', 'eth0'])) as { addr_info: { local: string }[] }[];
      ipv4 = addrs[0]?.addr_info[0]?.local ?? null;
      if (!ipv4) throw new Error(`lab: ${spec.name} got no IPv4 address from DHCP (udhcpc said: ${dhcp.trim()})`);
    }
    // a device's first traffic: talk to the gateway, as every phone and laptop does
    await Promise.all([
      ipv4 ? this.exec(ns, ['ping', '-c', '1', '-W', '1', LAN4.router]) : Promise.resolve(''),
      this.exec(ns, ['ping', '-6', '-c', '1', '-W', '1', LAN6.router]),
    ]);
    const client: LabClient = { spec, ns, port, mac: spec.mac, ipv4, ipv6, linkUpAt, readyAt: Date.now() };
    this.clients.set(spec.name, client);
    return client;
  }

  /** Unplugs a device: its namespace goes, and with it its end of the veth (the bridge port too). */
  async removeClient(name: string): Promise<void> {
    const client = this.clients.get(name);
    if (!client) return;
    this.clients.delete(name);
    removeNamespaceSync(client.ns);
    const i = this.namespaces.indexOf(client.ns);
    if (i !== -1) this.namespaces.splice(i, 1);
  }

  private get udhcpcScript(): string {
    return join(this.dir, 'udhcpc.sh');
  }

  /** Written once: clients are added in parallel, and a script being rewritten cannot be executed (ETXTBSY). */
  private writeUdhcpcScript(): void {
    const file = this.udhcpcScript;
    writeFileSync(
      file,
      [
        '#!/bin/sh',
        '# busybox udhcpc calls this with bound/renew/deconfig; $ip, $mask (prefix length) and $router are set',
        'case "$1" in',
        '  bound|renew)',
        '    ip -4 addr flush dev "$interface"',
        '    ip -4 addr add "$ip/$mask" dev "$interface"',
        '    [ -n "$router" ] && ip -4 route replace default via "${router%% *}" dev "$interface"',
        '    ;;',
        '  deconfig) ip -4 addr flush dev "$interface" ;;',
        'esac',
        'exit 0',
        '',
      ].join('\n'),
    );
    chmodSync(file, 0o755);
  }

  /** Stops dnsmasq and removes every namespace and file of this lab. Safe to call twice. */
  async destroy(): Promise<void> {
    this.destroySync();
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    this.dnsmasq?.kill('SIGKILL');
    for (const child of this.background) child.kill('SIGKILL');
    for (const ns of [...this.namespaces].reverse()) removeNamespaceSync(ns);
    this.namespaces.length = 0;
    this.clients.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
