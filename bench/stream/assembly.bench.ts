/**
 * Frame assembly against a plain memcpy of the same bytes: 1280×720 YUYV (1 843 200 bytes a frame) arriving in
 * 3072-byte iso packets with 12-byte headers (PTS + SCR), 32 packets per transfer, 5 transfer slots whose
 * buffers are reused as a transport reuses them, through FrameAssembler into BufferQueue buffers.
 * Run: npx vitest bench bench/stream --run   (numbers only, nothing is asserted).
 *
 * The assembly side also rewrites each packet's two header bytes (FID, EOF) and length, as the device would;
 * that costs about 6 µs of the frame.
 */
import { bench, describe } from 'vitest';
import { BufferQueue } from '../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import { FrameAssembler } from '../../src/stream/frame-assembler.js';
import { PayloadHeader } from '../../src/spec/uvc.js';
import { TransferStatus, type CompletedTransfer } from '../../src/transport/usb-transport.js';

const FRAME = 1280 * 720 * 2;
const PACKET = 3072;
const HEADER = 12;
const DATA = PACKET - HEADER;
const PER_TRANSFER = 32;
const SLOTS = 5;
const PACKETS = Math.ceil(FRAME / DATA);
const TRANSFERS = Math.ceil(PACKETS / PER_TRANSFER);
const BUFFERS = Number(process.env['BENCH_BUFFERS'] ?? 4);
const INFO = PayloadHeader.EOH | PayloadHeader.PTS | PayloadHeader.SCR;
const EOF = PayloadHeader.EOF;

interface Slot extends CompletedTransfer {
  packetCount: number;
}

const slots: Slot[] = Array.from({ length: SLOTS }, (_, slot) => {
  const buffer = new Uint8Array(PER_TRANSFER * PACKET);
  for (let i = 0; i < buffer.length; i++) buffer[i] = i & 0xff;
  return {
    slot,
    sequence: 0,
    status: TransferStatus.COMPLETED,
    buffer,
    actualLength: 0,
    packetCount: PER_TRANSFER,
    packetStride: PACKET,
    packetStatus: new Int32Array(PER_TRANSFER),
    packetLength: new Int32Array(PER_TRANSFER),
    lostIntervals: 0,
    completedAtNs: 0,
    release() {},
  };
});

const queue = new BufferQueue({ bufferSize: FRAME });
const handle = new QueueHandle(queue);
handle.reqbufs(BUFFERS);
for (let i = 0; i < BUFFERS; i++) handle.qbuf(i);
await handle.streamon();
const assembler = new FrameAssembler(queue, {
  formatKind: 'uncompressed',
  transferType: 'iso',
  expectedFrameSize: FRAME,
  intervalNs: 125_000,
  clockFrequency: 48_000_000,
});

let frame = 0;
let next = 0;
function assembleOneFrame(): void {
  const fid = frame++ & 1;
  for (let t = 0; t < TRANSFERS; t++) {
    const transfer = slots[next++ % SLOTS]!;
    const count = Math.min(PER_TRANSFER, PACKETS - t * PER_TRANSFER);
    transfer.packetCount = count;
    for (let i = 0; i < count; i++) {
      const packet = t * PER_TRANSFER + i;
      const at = i * PACKET;
      transfer.buffer[at] = HEADER;
      transfer.buffer[at + 1] = INFO | fid | (packet === PACKETS - 1 ? EOF : 0);
      transfer.packetLength[i] = HEADER + Math.min(DATA, FRAME - packet * DATA);
    }
    assembler.processTransfer(transfer);
  }
  // A consumer that queues each buffer again at once (dqbuf dequeues synchronously).
  while (queue.doneCount > 0) void handle.dqbuf({ nonblock: true });
  for (const buffer of queue.buffers()) if (buffer.state === 'dequeued') handle.qbuf(buffer.index);
}

const source = new Uint8Array(FRAME);
const target = new Uint8Array(FRAME);

describe(`1280x720 YUYV frame, 3072-byte packets, ${BUFFERS} queue buffers`, () => {
  // Long warm-up: the assembler's loop must be optimized by V8 before it is measured.
  const options = { warmupIterations: 200, warmupTime: 1000, time: 2000 };
  bench('memcpy of the frame (TypedArray.set)', () => {
    target.set(source);
  }, options);
  bench('assembly into the queue buffer', assembleOneFrame, {
    ...options,
    teardown: () => {
      if (assembler.stats.erroredFrames > 0) throw new Error('the benchmark frames must assemble clean');
    },
  });
});
