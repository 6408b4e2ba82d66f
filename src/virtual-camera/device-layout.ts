/**
 * The fixed shape of the virtual camera on the bus: interface numbers, endpoint addresses, and the bandwidth of
 * each alternate setting of the video streaming interface at a given speed. Descriptors, standard requests,
 * negotiation and the endpoint servers all read it, so they can never disagree.
 */
import { busIntervalMicroseconds } from '../spec/usb.js';
import type { VirtualSpeed, VirtualTransfer } from './types.js';

export interface IsoAltSetting {
  /** bAlternateSetting (1…n; 0 is the zero-bandwidth setting without an endpoint). */
  alt: number;
  /** wMaxPacketSize as it appears in the endpoint descriptor (bits 11–12: extra transactions at high speed). */
  wMaxPacketSize: number;
  /** What the endpoint moves per bus interval: size × transactions, or the SuperSpeed companion's wBytesPerInterval. */
  bytesPerInterval: number;
  /** SuperSpeed companion: bMaxBurst (0–15) and Mult (0–2). */
  ssMaxBurst: number;
  ssMult: number;
}

export interface DeviceLayout {
  speed: VirtualSpeed;
  transfer: VirtualTransfer;
  vcInterface: number;
  vsInterface: number;
  /** The video data IN endpoint (iso or bulk). */
  videoEndpoint: number;
  /** The VideoControl status interrupt IN endpoint. */
  statusEndpoint: number;
  busIntervalUs: number;
  /** Bus intervals in one 1 ms USB frame (the SOF frame number counts frames). */
  intervalsPerFrame: number;
  /** iso only: alternate settings 1…n of the VS interface, smallest first. */
  isoAlts: IsoAltSetting[];
  /** bulk only: wMaxPacketSize of the video endpoint. */
  bulkMaxPacket: number;
  /** bulk only: bytes the bus can move for us in one interval (bulk is not reserved; this is a fair share). */
  bulkBytesPerInterval: number;
  statusMaxPacket: number;
  /** bInterval of the status endpoint as the descriptor says it (ms at full speed, 2^(n−1) microframes above). */
  statusBInterval: number;
  /** bMaxPacketSize0 as written in the device descriptor (9 means 512 at SuperSpeed). */
  ep0MaxPacketField: number;
}

const HIGH_SPEED_ALTS: Array<[size: number, transactions: number]> = [
  [128, 1],
  [256, 1],
  [512, 1],
  [1024, 1],
  [1024, 2],
  [1024, 3],
];

const FULL_SPEED_ALTS = [128, 256, 512, 768, 1023];

/** SuperSpeed iso: 1024-byte packets, bursts of bMaxBurst+1, Mult+1 bursts per service interval. */
const SUPER_SPEED_ALTS: Array<[burst: number, mult: number]> = [
  [0, 0],
  [1, 0],
  [3, 0],
  [7, 0],
  [15, 0],
  [15, 1],
  [15, 2],
];

export function buildLayout(speed: VirtualSpeed, transfer: VirtualTransfer): DeviceLayout {
  const busIntervalUs = busIntervalMicroseconds(speed);
  let isoAlts: IsoAltSetting[] = [];
  if (transfer === 'iso') {
    if (speed === 'full') {
      isoAlts = FULL_SPEED_ALTS.map((size, i) => ({
        alt: i + 1,
        wMaxPacketSize: size,
        bytesPerInterval: size,
        ssMaxBurst: 0,
        ssMult: 0,
      }));
    } else if (speed === 'high') {
      isoAlts = HIGH_SPEED_ALTS.map(([size, transactions], i) => ({
        alt: i + 1,
        wMaxPacketSize: size | ((transactions - 1) << 11),
        bytesPerInterval: size * transactions,
        ssMaxBurst: 0,
        ssMult: 0,
      }));
    } else {
      isoAlts = SUPER_SPEED_ALTS.map(([burst, mult], i) => ({
        alt: i + 1,
        wMaxPacketSize: 1024,
        bytesPerInterval: 1024 * (burst + 1) * (mult + 1),
        ssMaxBurst: burst,
        ssMult: mult,
      }));
    }
  }
  const bulkMaxPacket = speed === 'full' ? 64 : speed === 'high' ? 512 : 1024;
  // A fair share of the bus rather than its theoretical peak: 19 packets per 1 ms frame at full speed,
  // 13 per microframe at high speed, 48 KiB per 125 µs at SuperSpeed.
  const bulkBytesPerInterval = speed === 'full' ? 19 * 64 : speed === 'high' ? 13 * 512 : 48 * 1024;
  return {
    speed,
    transfer,
    vcInterface: 0,
    vsInterface: 1,
    videoEndpoint: 0x81,
    statusEndpoint: 0x82,
    busIntervalUs,
    intervalsPerFrame: 1000 / busIntervalUs,
    isoAlts,
    bulkMaxPacket,
    bulkBytesPerInterval,
    statusMaxPacket: 16,
    // 16 ms either way: 16 frames at full speed, 2^(8−1) microframes above.
    statusBInterval: speed === 'full' ? 16 : 8,
    ep0MaxPacketField: speed === 'super' ? 9 : 64,
  };
}

/** The largest bytes-per-interval any alternate setting offers (0 for bulk). */
export function maxIsoBytesPerInterval(layout: DeviceLayout): number {
  return layout.isoAlts.reduce((max, a) => Math.max(max, a.bytesPerInterval), 0);
}
