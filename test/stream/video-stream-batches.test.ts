/**
 * VideoStream.onTransfers: what a transport hands over together (the native engine: a frame's worth per wake)
 * must come out exactly as the same completions handed over one by one: the same frames, bytes, flags, sequence
 * numbers, timestamps and counters, every completion released once. Runs of plain completions go to the
 * assembler together (its native scan then goes from transfer to transfer, in the stream's slots: here a slot
 * memory's); a failed completion, or one after lost bus time, goes alone, in order.
 */
import { describe, expect, it } from 'vitest';
import { BufferQueue } from '../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import { VideoStream, type VideoStreamConfig } from '../../src/stream/video-stream.js';
import type { NativeAddon } from '../../src/transport/native/addon-types.js';
import {
  TransferStatus,
  type CompletedTransfer,
  type StreamOptions,
  type TransferCallback,
  type TransfersCallback,
  type UsbStream,
  type UsbTransport,
} from '../../src/transport/usb-transport.js';
import { optionalAddon } from './helpers/optional-addon.js';
import { Random } from './helpers/random.js';
import { SlotPool } from './helpers/slot-pool.js';
import { SyntheticCamera, type CameraSpec } from './helpers/synthetic-camera.js';
import { isoTransfer, type IsoPacket, type TestTransfer } from './helpers/transfers.js';

const ADDON = optionalAddon();

const PACKET = 1024;
const PACKETS = 32;
const INTERVAL = 125_000;

/** A transport that only starts a stream and keeps its callbacks: the test hands the completions over. */
class HandOverTransport {
  readonly isDisconnected = false;
  onTransfer: TransferCallback | null = null;
  onTransfers: TransfersCallback | null = null;
  /** The stream's slots: transfers are placed here before they are handed over. */
  readonly pool: SlotPool | null;
  constructor(readonly addon: NativeAddon | null) {
    this.pool = addon === null ? null : new SlotPool(addon, 64, PACKETS, PACKET);
  }
  /** The transfer as the stream would hand it over: in one of its slots (with the addon). */
  place(transfer: TestTransfer): TestTransfer {
    return this.pool === null ? transfer : this.pool.place(transfer);
  }
  get copyRuns() {
    return this.addon?.copyRuns;
  }
  get isoScan() {
    return this.addon?.isoScan;
  }
  on(): this {
    return this;
  }
  off(): this {
    return this;
  }
  startStream(options: StreamOptions, onTransfer: TransferCallback, onTransfers?: TransfersCallback): UsbStream {
    this.onTransfer = onTransfer;
    this.onTransfers = onTransfers ?? null;
    return {
      options,
      stopped: false,
      failure: undefined,
      intervalNs: INTERVAL,
      stats: { completed: 0, inFlight: 0, held: 0, lostIntervals: 0, sparesFree: 0, sparesLow: 0, wakes: 0, zeroCopy: false },
      stop: async () => undefined,
      scanSlots: this.pool?.scanSlots,
    } as unknown as UsbStream;
  }
}

/** The camera's packets as transfers, some failed and some after lost bus time (the same for the same seed). */
function transfersOf(spec: CameraSpec, count: number, seed: number): TestTransfer[] {
  const camera = new SyntheticCamera(spec);
  const random = new Random(seed);
  const scratch = new Uint8Array(PACKET);
  let now = 1_000_000_000;
  const transfers: TestTransfer[] = [];
  for (let t = 0; t < count; t++) {
    const lostIntervals = random.chance(0.03) ? random.int(1, 40) : 0;
    for (let i = 0; i < lostIntervals; i++) camera.isoMissed();
    const failed = random.chance(0.02);
    const packets: IsoPacket[] = Array.from({ length: PACKETS }, () => {
      const length = camera.isoPacket(scratch, 0, PACKET);
      return length < 0 ? { status: TransferStatus.ERROR } : { bytes: scratch.slice(0, length) };
    });
    now += (lostIntervals + PACKETS) * INTERVAL + random.int(0, 300_000);
    transfers.push(isoTransfer(packets, { stride: PACKET, slot: t % 6, completedAtNs: now, lostIntervals, status: failed ? TransferStatus.ERROR : TransferStatus.COMPLETED }));
  }
  return transfers;
}

async function streaming(spec: CameraSpec, addon: NativeAddon | null) {
  const transport = new HandOverTransport(addon);
  const queue = new BufferQueue({ bufferSize: spec.frameSize });
  const config: VideoStreamConfig = {
    endpoint: 0x81,
    transferType: 'iso',
    speed: 'high',
    bytesPerInterval: PACKET,
    dwMaxPayloadTransferSize: PACKET,
    dwMaxVideoFrameSize: spec.frameSize,
    expectedFrameSize: spec.kind === 'uncompressed' ? spec.frameSize : undefined,
    formatKind: spec.kind,
    dwClockFrequency: 48_000_000,
  };
  const errors: unknown[] = [];
  const stream = new VideoStream(transport as unknown as UsbTransport, queue, config, { onError: (e) => errors.push(e) });
  queue.setDriver(stream);
  const handle = new QueueHandle(queue);
  const count = handle.reqbufs(3);
  for (let i = 0; i < count; i++) handle.qbuf(i);
  await handle.streamon();
  const frames: unknown[] = [];
  const drain = async () => {
    while (queue.doneCount > 0) {
      const buffer = await handle.dqbuf({ nonblock: true });
      frames.push({ sequence: buffer.sequence, bytesused: buffer.bytesused, error: buffer.flags.error, timestamp: buffer.timestamp, data: Buffer.from(buffer.data).toString('base64') });
      handle.qbuf(buffer.index);
    }
  };
  return { transport, stream, frames, drain, errors };
}

describe('VideoStream: completions handed over together', () => {
  it('makes what the same completions make one by one, releasing each once', async () => {
    if (ADDON === null) console.log('video stream batches: the native addon does not load here: the assembler copies in JavaScript');
    let together = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const random = new Random(seed);
      const spec: CameraSpec = {
        kind: random.pick(['uncompressed', 'mjpeg'] as const),
        transfer: 'iso',
        framing: 'standard',
        frameSize: random.pick([20_000, 40_960]),
        packetSize: PACKET,
        headerLength: 12,
        idlePackets: random.int(0, 5),
        maxPayload: PACKET,
        faults: { lostPacket: 0.05, errBit: 0.02, missingEof: 0, shortFrame: 0.02, bogusHeader: 0.02 },
        seed,
      };
      const one = await streaming(spec, ADDON);
      const many = await streaming(spec, ADDON);
      const made = transfersOf(spec, 150, seed);
      const singly: TestTransfer[] = [];
      const grouped: TestTransfer[] = [];
      for (let t = 0; t < made.length; ) {
        const n = Math.min(random.int(1, 25), made.length - t);
        for (let i = t; i < t + n; i++) {
          singly.push(one.transport.place(made[i]!));
          one.transport.onTransfer!(singly[i]!);
        }
        for (let i = t; i < t + n; i++) grouped.push(many.transport.place(made[i]!));
        // The transport's array may be longer than the batch.
        const list: CompletedTransfer[] = grouped.slice(t, t + n).concat(grouped.slice(0, 2));
        many.transport.onTransfers!(list, n);
        together += n > 1 ? 1 : 0;
        t += n;
        await one.drain();
        await many.drain();
      }
      expect(many.frames, `seed ${seed}`).toEqual(one.frames);
      expect(many.stream.stats, `seed ${seed}`).toEqual(one.stream.stats);
      expect(many.stream.timestampStats, `seed ${seed}`).toEqual(one.stream.timestampStats);
      expect(one.frames.length, `seed ${seed}`).toBeGreaterThan(20);
      expect(grouped.map((t) => t.released), `seed ${seed}`).toEqual(singly.map(() => 1));
      expect(singly.map((t) => t.released), `seed ${seed}`).toEqual(singly.map(() => 1));
      expect(many.errors).toEqual(one.errors);
    }
    expect(together).toBeGreaterThan(100);
  });
});
