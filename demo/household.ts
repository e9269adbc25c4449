/**
 * The demo's household: who lives on the LAN, the internet link and the ISP's bottleneck, and
 * what each device does. Pure data, so the tests and the demo read the same figures.
 *
 * Every MAC is from a real IEEE block (checked by test/unit/demo.spec.ts against oui-data), except
 * the Pixel's, which is locally administered as a phone's private address is.
 */
import type { ClientSpec } from '../test/lab/lab';

/** Namespace prefix of the demo (the lab's tests use eqlab-, the pipeline bench eqpipe-). */
export const DEMO_PREFIX = 'eqdemo-';
/** Set in the environment of every process the demo starts: the demo's pid (finds a killed run's leftovers). */
export const OWNER_ENV = 'EQUALNET_DEMO_OWNER';
/** The temporary Node-RED user directory: /tmp/equalnet-demo-home-<pid>-XXXXXX. */
export const HOME_PREFIX = 'equalnet-demo-home-';
/** The link EqualNet is told about (Mbit/s) and the ISP's real bottleneck, a little above it. */
export const LINK = { downMbps: 40, upMbps: 10 };
export const ISP = { downMbps: 44, upMbps: 11, /** a modem's deep buffer: what bufferbloat is made of */ bufferMs: 250 };
/** The video call: a steady UDP stream both ways, each packet echoed by the far end. */
export const CALL = { mbps: 2.5, packetBytes: 1000, port: 5300 };

export type Role =
  | 'video-call'
  | 'game-download'
  | 'stream-4k'
  | 'backup'
  | 'browsing'
  | 'heartbeat'
  | 'music';

export interface Member extends ClientSpec {
  /** What the demo prints about it. */
  label: string;
  role: Role;
  /** Seconds after the household is ready: when it arrives (absent: there from the start). */
  joinsAt?: number;
  /** Seconds after ready: when it leaves the house. */
  leavesAt?: number;
}

export const HOUSEHOLD: readonly Member[] = Object.freeze([
  { name: 'laptop', mac: '3c:a9:f4:d0:00:01', hostname: 'work-laptop', expectedVendor: 'Intel Corporate', label: 'work laptop', role: 'video-call' },
  { name: 'ps5', mac: '00:d9:d1:d0:00:02', hostname: 'PS5-Living-Room', expectedVendor: 'Sony Interactive Entertainment Inc.', label: 'game console', role: 'game-download' },
  { name: 'tv', mac: '10:4f:a8:d0:00:03', hostname: 'bravia-tv', expectedVendor: 'Sony Corporation', label: 'TV', role: 'stream-4k' },
  { name: 'nas', mac: '00:11:32:d0:00:04', hostname: 'DiskStation', expectedVendor: 'Synology Incorporated', label: 'NAS', role: 'backup' },
  { name: 'iphone', mac: '3c:22:fb:d0:00:05', hostname: 'iPhone-Anna', expectedVendor: 'Apple, Inc.', label: "Anna's phone", role: 'browsing' },
  { name: 'galaxy', mac: '5c:49:7d:d0:00:06', hostname: 'Galaxy-S23', expectedVendor: 'Samsung Electronics Co.,Ltd', label: "Ben's phone", role: 'browsing', leavesAt: 36 },
  { name: 'pixel', mac: 'da:a1:19:d0:00:07', hostname: 'Pixel-7', expectedVendor: null, label: 'phone with a private MAC', role: 'browsing' },
  { name: 'plug', mac: '24:0a:c4:d0:00:08', hostname: 'esp-plug-kitchen', expectedVendor: 'Espressif Inc.', label: 'smart plug', role: 'heartbeat' },
  { name: 'echo', mac: '74:c2:46:d0:00:09', hostname: 'echo-dot', expectedVendor: 'Amazon Technologies Inc.', label: 'smart speaker', role: 'music' },
  { name: 'switch', mac: '98:b6:e9:d0:00:0a', hostname: 'Nintendo-Switch', expectedVendor: 'Nintendo Co.,Ltd', label: "a guest's Switch", role: 'browsing', joinsAt: 35 },
] as Member[]) as readonly Member[];

/** Seconds after ready when the measurement of the video call is over and the schedule may go on. */
export const MEASURE = { settleSec: 6, windowSec: 8, switchSec: 3 };
