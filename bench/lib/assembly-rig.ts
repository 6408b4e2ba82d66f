/**
 * The project's FrameAssembler wired to a real BufferQueue (reqbufs, qbuf, streamon; dqbuf/qbuf cycling after
 * every hand-over), fed a SyntheticStream cycle by cycle, with every delivered frame checked; and, beside it, the
 * copy baselines over exactly the same bytes and destinations. With a slot scan (the stream's scanSlots over the
 * slots the transfers live in) the transfers are handed over as the native engine hands them to JavaScript
 * (VideoStream.onTransfers → processTransfers): together, up to and including each one whose headers show a frame
 * edge (EOF, or a FID toggle), one frame per wake.
 */
import { BufferQueue } from '../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import type { VideoBuffer } from '../../src/queue/video-buffer.js';
import { FrameAssembler, type AssemblerStats } from '../../src/stream/frame-assembler.js';
import type { CopyRuns, IsoScan, SlotScan } from '../../src/transport/usb-transport.js';
import type { CopierHolder } from './copy-counter.js';
import { checksum, type SyntheticStream } from './synthetic-stream.js';

/** 'full': checksum of every byte of every frame; 'spot': size, flags, order and 8 sampled bytes per frame. */
export type FrameCheck = 'full' | 'spot';

export interface AssemblyRigOptions {
  buffers?: number;
  bufferSize: number;
  /** Uncompressed: the exact frame size the assembler checks. */
  expectedFrameSize?: number;
  frameIntervalNs?: number;
  /** openCamera's option of that name (default true): false stamps frames from the host's clock only. */
  hardwareTimestamps?: boolean;
  /** The native transport's batched copy (the addon's copyRuns), as openCamera on a real device uses; none: TypedArray.set. */
  copyRuns?: CopyRuns;
  /** The native transport's iso short path in C (the addon's isoScan), as openCamera on a real device uses. */
  isoScan?: IsoScan;
  /**
   * The same over runs of transfers in the slots they live in (SyntheticStreamSpec.slotMemory; the addon's slotMemory,
   * as a native stream's scanSlots), with the transfers handed over a frame at a time.
   */
  slotScan?: SlotScan;
}

export class FrameCheckError extends Error {}

export class AssemblyRig {
  readonly queue: BufferQueue;
  readonly handle: QueueHandle;
  readonly assembler: FrameAssembler;
  /** The assembler's native copy goes through here (copy-counter.ts swaps it to count while verifying). */
  readonly copier: CopierHolder;
  /** Frames delivered and checked so far. */
  framesChecked = 0;
  /** Bytes of delivered frames (sum of bytesused). */
  bytesDelivered = 0;
  private nextSequence = 0;
  private lastTimestamp = -Infinity;
  private readonly memories: Uint8Array[];
  private readonly spotOffsets: Int32Array[];
  /** With a slot scan: where each hand-over ends (the index after its last transfer), as the engine wakes. */
  private readonly handOvers: number[] | null;

  private constructor(
    readonly stream: SyntheticStream,
    queue: BufferQueue,
    handle: QueueHandle,
    options: AssemblyRigOptions,
  ) {
    this.queue = queue;
    this.handle = handle;
    const spec = stream.spec;
    const copier: CopierHolder = {
      copyRuns: options.copyRuns ?? null,
      isoScan: options.isoScan ?? null,
      slotScan: options.slotScan ?? null,
      slotMemory: stream.slots?.[0]?.buffer.buffer ?? null,
    };
    this.copier = copier;
    this.assembler = new FrameAssembler(queue, {
      ...(options.copyRuns ? { copyRuns: (source, destination, table, count) => copier.copyRuns!(source, destination, table, count) } : {}),
      ...(options.isoScan
        ? { isoScan: (source, lengths, statuses, memory, block) => copier.isoScan!(source, lengths, statuses, memory, block) }
        : {}),

      formatKind: spec.kind,
      transferType: 'iso',
      expectedFrameSize: options.expectedFrameSize,
      intervalNs: spec.intervalNs,
      clockFrequency: spec.clockFrequency,
      hardwareTimestamps: options.hardwareTimestamps,
      frameIntervalNs: options.frameIntervalNs,
    });
    this.memories = queue.buffers().map((buffer) => buffer.memory);
    if (options.slotScan) this.assembler.useSlotScan((slots, counts, memory, block) => copier.slotScan!(slots, counts, memory, block));
    this.handOvers = options.slotScan ? frameEdgeHandOvers(stream) : null;
    // Eight positions per frame, spread over it, first and last byte included.
    this.spotOffsets = stream.frames.map((frame) => {
      const n = frame.data.length;
      return Int32Array.from([0, 1, (n * 0.13) | 0, (n * 0.37) | 0, (n * 0.61) | 0, (n * 0.89) | 0, n - 2, n - 1]);
    });
  }

  static async create(stream: SyntheticStream, options: AssemblyRigOptions): Promise<AssemblyRig> {
    const queue = new BufferQueue({ bufferSize: options.bufferSize });
    const handle = new QueueHandle(queue);
    const count = handle.reqbufs(options.buffers ?? 4);
    for (let i = 0; i < count; i++) handle.qbuf(i);
    await handle.streamon();
    return new AssemblyRig(stream, queue, handle, options);
  }

  get stats(): Readonly<AssemblerStats> {
    return this.assembler.stats;
  }

  /** The queue's buffer memories (the destinations of the one copy). */
  get bufferMemories(): readonly Uint8Array[] {
    return this.memories;
  }

  /** Feeds one cycle of the stream (call stream.advanceClock() first), dequeuing and requeuing every frame. */
  async runCycle(check: FrameCheck): Promise<void> {
    const transfers = this.stream.transfers;
    const assembler = this.assembler;
    const queue = this.queue;
    const handle = this.handle;
    const handOvers = this.handOvers;
    for (let t = 0, h = 0; t < transfers.length; h++) {
      if (handOvers === null) {
        assembler.processTransfer(transfers[t]!);
        t++;
      } else {
        const end = handOvers[h]!;
        assembler.processTransfers(transfers, t, end);
        t = end;
      }
      while (queue.doneCount > 0) {
        const buffer = await handle.dqbuf({ nonblock: true });
        this.check(buffer, check);
        handle.qbuf(buffer.index);
      }
    }
  }

  private check(buffer: VideoBuffer, check: FrameCheck): void {
    const frames = this.stream.frames;
    const sequence = buffer.sequence;
    if (sequence !== this.nextSequence) this.fail(`frame sequence ${sequence}, expected ${this.nextSequence}`);
    const expected = frames[sequence % frames.length]!;
    const used = buffer.bytesused;
    if (buffer.flags.error) this.fail(`frame ${sequence} is flagged as an error`);
    if (used !== expected.data.length) this.fail(`frame ${sequence} has ${used} bytes, expected ${expected.data.length}`);
    if (!(buffer.timestamp > this.lastTimestamp)) this.fail(`frame ${sequence}: timestamp did not advance`);
    const memory = buffer.memory;
    if (check === 'full') {
      const sum = checksum(memory, used);
      if (sum !== expected.checksum) this.fail(`frame ${sequence}: checksum ${sum.toString(16)}, expected ${expected.checksum.toString(16)}`);
    } else {
      const spots = this.spotOffsets[sequence % frames.length]!;
      for (let i = 0; i < spots.length; i++) {
        const at = spots[i]!;
        if (memory[at] !== expected.data[at]) this.fail(`frame ${sequence}: byte ${at} differs`);
      }
    }
    this.lastTimestamp = buffer.timestamp;
    this.nextSequence = sequence + 1;
    this.framesChecked++;
    this.bytesDelivered += used;
  }

  private fail(message: string): never {
    throw new FrameCheckError(`assembled frames are wrong: ${message}`);
  }

  /**
   * Baseline 1: Uint8Array.prototype.set of exactly the payload slices the assembler copies, each into the queue
   * buffer and offset the assembler puts it (frame f goes to buffer f mod pool size, as qbuf order makes it).
   */
  copySlices(): void {
    const slices = this.stream.slices;
    const memories = this.memories;
    const pool = memories.length;
    for (let i = 0; i < slices.length; i++) {
      const slice = slices[i]!;
      memories[slice.frame % pool]!.set(slice.view, slice.frameOffset);
    }
  }

  /** Baseline 2: one big copy per frame, from a contiguous copy of the frame into the same queue buffers. */
  copyFrames(): void {
    const frames = this.stream.frames;
    const memories = this.memories;
    const pool = memories.length;
    for (let f = 0; f < frames.length; f++) memories[f % pool]!.set(frames[f]!.data);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/**
 * Where the native engine (woken per frame: StreamOptions.wakeOn 'uvc-frame') would end each hand-over of the
 * stream's transfers: after each transfer whose packet headers show a frame edge (an EOF, or a FID toggle that no
 * EOF came before), and after the last.
 */
function frameEdgeHandOvers(stream: SyntheticStream): number[] {
  const ends: number[] = [];
  let fid = -1;
  let ended = false;
  stream.transfers.forEach((transfer, t) => {
    let edge = false;
    for (let p = 0; p < transfer.packetCount; p++) {
      if (transfer.packetLength[p]! < 2) continue;
      const info = transfer.buffer[p * transfer.packetStride + 1]!;
      if (fid >= 0 && (info & 0x01) !== fid) {
        if (!ended) edge = true;
        ended = false;
      }
      if ((info & 0x02) !== 0) {
        edge = true;
        ended = true;
      }
      fid = info & 0x01;
    }
    if (edge) ends.push(t + 1);
  });
  if (ends[ends.length - 1] !== stream.transfers.length) ends.push(stream.transfers.length);
  return ends;
}
