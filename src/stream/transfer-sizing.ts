/**
 * How many transfers to keep in flight and how big each one is.
 *
 * uvcvideo keeps 5 URBs of up to 32 packets: at high speed 5 × 32 microframes = 20 ms of bus time queued, which
 * rides out scheduling hiccups without losing data. We aim for the same 20 ms whatever the speed (a full-speed
 * camera gets fewer, smaller transfers; a SuperSpeed one as many packets as 20 ms takes), and cap the memory in
 * flight well below Linux's usbfs limit (16 MB by default, shared by every program using libusb on the machine).
 *
 * Beyond those in flight, spare transfers let the bus ride out a stalled JavaScript thread (GC, a file write, a
 * busy handler): the addon submits a spare the moment a transfer completes, whatever JavaScript holds. Their
 * number comes from a time budget, `stallToleranceMs`: enough spares to cover that much bus time on their own.
 * They are plain memory (nothing is pinned in usbfs beyond the transfers in flight), bounded by MAX_SPARE_BYTES.
 *
 * Bulk has a second constraint: a bulk payload ends when a transfer comes back short or when
 * dwMaxPayloadTransferSize bytes have arrived. A transfer must therefore never straddle two payloads: if the
 * payload size is a multiple of the packet size (no short packet ends it), the transfer size must divide it.
 */
import type { UsbSpeed } from '../spec/usb.js';
import { MAX_SPARE_BYTES, type StreamOptions } from '../transport/usb-transport.js';
import { uvcError } from '../errors.js';

export interface TransferSizingInput {
  transferType: 'iso' | 'bulk';
  speed: UsbSpeed;
  /** iso: bytes the alt setting's endpoint moves per service interval (wMaxPacketSize × mult, or SS wBytesPerInterval). */
  bytesPerInterval?: number;
  /** iso: the endpoint's bInterval (service interval 2^(bInterval−1) frames or microframes). Default 1. */
  bInterval?: number;
  /** bulk: the endpoint's wMaxPacketSize. Default: 64 full speed, 512 high speed, 1024 SuperSpeed. */
  maxPacketSize?: number;
  dwMaxPayloadTransferSize: number;
  dwMaxVideoFrameSize: number;
  /** Overrides. */
  transfers?: number;
  packetsPerTransfer?: number;
  transferSize?: number;
  /** Bus time to keep queued. Default 20 ms. */
  targetInFlightMs?: number;
  /** Most transfer memory in flight for this stream. Default 6 MiB. */
  maxInFlightBytes?: number;
  /** How long JavaScript may stall with no bus time lost: sizes the spare transfers. Default 0 (none). */
  stallToleranceMs?: number;
}

export interface TransferPlan {
  transferType: 'iso' | 'bulk';
  transfers: number;
  /** iso: packets per transfer (0 for bulk). */
  packetsPerTransfer: number;
  /** iso: bytes reserved per packet, the stride between packets (0 for bulk). */
  packetSize: number;
  /** Bytes of one transfer buffer. */
  transferSize: number;
  /** transfers × transferSize. */
  inFlightBytes: number;
  /** Bus time the transfers in flight cover (bulk: at the bus's nominal rate). */
  inFlightNs: number;
  /** iso: the service interval, ns (bulk: 0). */
  intervalNs: number;
  /** Transfers beyond those in flight (see stallToleranceMs). */
  spareTransfers: number;
  /** Bus time the spares cover on their own, ns (may fall short of stallToleranceMs when MAX_SPARE_BYTES caps them). */
  spareNs: number;
}

export const DEFAULT_TRANSFERS = 5;
/**
 * Bus time one iso transfer covers when the caller does not say. A frame's last packet reaches JavaScript only
 * when its transfer completes, so this bounds the latency transfers add; a longer time in flight is had with more
 * transfers, not longer ones (uvcvideo's URBs hold 32 microframes: 4 ms).
 */
export const ISO_TRANSFER_MS = 4;
export const DEFAULT_TARGET_IN_FLIGHT_MS = 20;
export const DEFAULT_MAX_IN_FLIGHT_BYTES = 6 * 1024 * 1024;
/** Linux usbfs takes at most 128 iso packets per URB. */
export const MAX_ISO_PACKETS_PER_TRANSFER = 128;
export const MAX_BULK_TRANSFER_SIZE = 512 * 1024;
const MIN_BULK_TRANSFERS = 4;
const MAX_TRANSFERS = 32;

/** Bus time of one frame (full/low speed, 1 ms) or microframe (high speed and faster, 125 µs). */
export function busIntervalNs(speed: UsbSpeed): number {
  return speed === 'full' || speed === 'low' ? 1_000_000 : 125_000;
}

/** A bulk endpoint's usual wMaxPacketSize at this speed. */
export function defaultBulkPacketSize(speed: UsbSpeed): number {
  if (speed === 'low' || speed === 'full') return 64;
  if (speed === 'high' || speed === 'unknown') return 512;
  return 1024;
}

/** Rough payload rate a bulk endpoint reaches, bytes per second, to turn a time target into bytes. */
function bulkRate(speed: UsbSpeed): number {
  switch (speed) {
    case 'low':
    case 'full':
      return 1_200_000;
    case 'super':
      return 400_000_000;
    case 'super-plus':
      return 800_000_000;
    default:
      return 48_000_000;
  }
}

function positiveInteger(value: number | undefined, name: string): number {
  if (value === undefined || !Number.isInteger(value) || value <= 0) {
    throw uvcError('EINVAL', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/** Most spare transfers a stream gets, whatever the budget (the addon's own limit is higher). */
export const MAX_SPARE_TRANSFERS = 1024;

export function planTransfers(input: TransferSizingInput): TransferPlan {
  const targetMs = input.targetInFlightMs ?? DEFAULT_TARGET_IN_FLIGHT_MS;
  const budget = input.maxInFlightBytes ?? DEFAULT_MAX_IN_FLIGHT_BYTES;
  const plan = input.transferType === 'iso' ? planIso(input, targetMs, budget) : planBulk(input, targetMs, budget);
  const stallMs = input.stallToleranceMs ?? 0;
  if (!(Number.isFinite(stallMs) && stallMs >= 0)) throw uvcError('EINVAL', `stallToleranceMs must be a number >= 0, got ${stallMs}`);
  const transferNs = plan.inFlightNs / plan.transfers;
  const wanted = stallMs > 0 ? Math.ceil((stallMs * 1_000_000) / transferNs) : 0;
  plan.spareTransfers = Math.min(wanted, MAX_SPARE_TRANSFERS, Math.floor(MAX_SPARE_BYTES / plan.transferSize));
  plan.spareNs = Math.round(plan.spareTransfers * transferNs);
  return plan;
}

function planIso(input: TransferSizingInput, targetMs: number, budget: number): TransferPlan {
  const packetSize = positiveInteger(input.bytesPerInterval, 'bytesPerInterval');
  const bInterval = input.bInterval ?? 1;
  if (!Number.isInteger(bInterval) || bInterval < 1 || bInterval > 16) throw uvcError('EINVAL', `bad bInterval ${bInterval}`);
  const intervalNs = busIntervalNs(input.speed) * 2 ** (bInterval - 1);
  const intervalsWanted = Math.max(1, Math.ceil((targetMs * 1_000_000) / intervalNs));
  let transfers: number;
  let packets: number;
  if (input.transfers !== undefined) {
    transfers = positiveInteger(input.transfers, 'transfers');
    packets = input.packetsPerTransfer ?? Math.ceil(intervalsWanted / transfers);
  } else {
    const perTransfer = input.packetsPerTransfer ?? Math.max(1, Math.round((ISO_TRANSFER_MS * 1_000_000) / intervalNs));
    transfers = Math.min(MAX_TRANSFERS, Math.max(DEFAULT_TRANSFERS, Math.ceil(intervalsWanted / perTransfer)));
    // Spread the time asked for evenly (longer transfers past MAX_TRANSFERS, shorter ones for a short time).
    packets = input.packetsPerTransfer ?? Math.ceil(intervalsWanted / transfers);
  }
  positiveInteger(packets, 'packetsPerTransfer');
  packets = Math.min(packets, MAX_ISO_PACKETS_PER_TRANSFER);
  if (input.packetsPerTransfer === undefined && transfers * packets * packetSize > budget) {
    packets = Math.max(1, Math.floor(budget / (transfers * packetSize)));
  }
  if (input.transfers === undefined && transfers * packets * packetSize > budget) {
    transfers = Math.max(2, Math.floor(budget / (packets * packetSize)));
  }
  const transferSize = packets * packetSize;
  return {
    transferType: 'iso',
    transfers,
    packetsPerTransfer: packets,
    packetSize,
    transferSize,
    inFlightBytes: transfers * transferSize,
    inFlightNs: transfers * packets * intervalNs,
    intervalNs,
    spareTransfers: 0,
    spareNs: 0,
  };
}

/** The largest multiple of `packet` that is at most `cap` and lets transfers tile a payload of `payload` bytes. */
export function bulkTransferSize(payload: number, packet: number, cap: number): number {
  const roundedUp = Math.ceil(payload / packet) * packet;
  if (roundedUp <= cap) return roundedUp;
  const capPackets = Math.max(1, Math.floor(cap / packet));
  // A payload that is not a whole number of packets ends with a short packet, which ends any transfer.
  if (payload % packet !== 0) return capPackets * packet;
  const payloadPackets = payload / packet;
  for (let d = capPackets; d > 1; d--) {
    if (payloadPackets % d === 0) return d * packet;
  }
  return packet;
}

function planBulk(input: TransferSizingInput, targetMs: number, budget: number): TransferPlan {
  const payload = positiveInteger(input.dwMaxPayloadTransferSize, 'dwMaxPayloadTransferSize');
  const packet = input.maxPacketSize ?? defaultBulkPacketSize(input.speed);
  positiveInteger(packet, 'maxPacketSize');
  let transferSize: number;
  if (input.transferSize !== undefined) {
    transferSize = positiveInteger(input.transferSize, 'transferSize');
    if (transferSize % packet !== 0) {
      throw uvcError('EINVAL', `transferSize ${transferSize} is not a multiple of the packet size ${packet}`);
    }
    if (payload % packet === 0 && payload > transferSize && payload % transferSize !== 0) {
      throw uvcError('EINVAL', `transferSize ${transferSize} would make transfers straddle ${payload}-byte payloads`);
    }
  } else {
    transferSize = bulkTransferSize(payload, packet, Math.min(MAX_BULK_TRANSFER_SIZE, budget >>> 2));
  }
  const rate = bulkRate(input.speed);
  let transfers = input.transfers ?? Math.ceil((rate * targetMs) / 1000 / transferSize);
  positiveInteger(transfers, 'transfers');
  if (input.transfers === undefined) {
    transfers = Math.min(MAX_TRANSFERS, Math.max(MIN_BULK_TRANSFERS, transfers));
    if (transfers * transferSize > budget) transfers = Math.max(2, Math.floor(budget / transferSize));
  }
  return {
    transferType: 'bulk',
    transfers,
    packetsPerTransfer: 0,
    packetSize: 0,
    transferSize,
    inFlightBytes: transfers * transferSize,
    inFlightNs: Math.round(((transfers * transferSize) / rate) * 1e9),
    intervalNs: 0,
    spareTransfers: 0,
    spareNs: 0,
  };
}

/**
 * How long a completion may wait for a frame edge before the transport hands it over anyway (StreamOptions.
 * wakeAfterMs): one and a half nominal frame intervals, so that a camera that ends frames as it should (EOF, or a
 * FID toggle at the next frame's first payload) wakes JavaScript once per frame, and one that marks neither (some
 * MJPEG cameras end a frame only by the next one's SOI) still flows, a frame and a half late at most; 10–100 ms.
 */
export function wakeAfterMsFor(frameIntervalNs: number | undefined): number {
  if (frameIntervalNs === undefined || !(frameIntervalNs > 0)) return 50;
  return Math.min(100, Math.max(10, Math.round((frameIntervalNs * 1.5) / 1e6)));
}

/**
 * How many of a plan's transfer buffers get usbfs memory when the native transport has zero copy
 * (StreamOptions.zeroCopyTransfers): those in flight, plus twice what JavaScript may hold between two wakes (at
 * most `wakeAfterMs` of completions, and two more while it processes them), so that a pause of the JavaScript
 * thread as long again (a garbage collection, a busy moment) costs no copy either. The spares beyond are for a
 * longer stall and stay plain memory: usbfs counts every mapping against one budget for the whole machine
 * (16 MiB), and mapping them all (8.25 MiB for 640×480 iso with openCamera's defaults, 12.5 MiB for 320×240 bulk)
 * left a second camera none.
 */
export function zeroCopyTransfersFor(plan: TransferPlan, wakeAfterMs: number): number {
  const transferNs = plan.inFlightNs / plan.transfers;
  const held = Math.ceil((wakeAfterMs * 1_000_000) / transferNs) + 2;
  return Math.min(plan.transfers + plan.spareTransfers, plan.transfers + 2 * held);
}

/**
 * The transport's stream options for a plan. A UVC video stream: the native transport wakes JavaScript once per
 * frame rather than once per transfer ('uvc-frame', a large share of the CPU a frame costs: issue 15.3).
 */
export function streamOptionsFor(endpoint: number, plan: TransferPlan, frameIntervalNs?: number): StreamOptions {
  const wakeAfterMs = wakeAfterMsFor(frameIntervalNs);
  const spares = plan.spareTransfers > 0 ? { spareTransfers: plan.spareTransfers, zeroCopyTransfers: zeroCopyTransfersFor(plan, wakeAfterMs) } : {};
  const wake = { wakeOn: 'uvc-frame', wakeAfterMs } as const;
  if (plan.transferType === 'iso') {
    return {
      endpoint,
      type: 'iso',
      transfers: plan.transfers,
      ...spares,
      packetsPerTransfer: plan.packetsPerTransfer,
      packetSize: plan.packetSize,
      ...wake,
    };
  }
  return { endpoint, type: 'bulk', transfers: plan.transfers, ...spares, transferSize: plan.transferSize, ...wake };
}
