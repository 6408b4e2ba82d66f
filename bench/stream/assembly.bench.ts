/**
 * Frame assembly against a plain memcpy of the same bytes: 1280×720 YUYV (1 843 200 bytes a frame) arriving in
 * 3072-byte iso packets with 12-byte headers, 32 packets per transfer, through FrameAssembler into a
 * BufferQueue buffer. Run: npx vitest bench bench/stream (numbers only, nothing is asserted).
 */
import { bench, describe } from 'vitest';
import { BufferQueue } from '../../src/queue/buffer-queue.js';
import { FrameAssembler } from '../../src/stream/frame-assembler.js';
import { PayloadHeader } from '../../src/spec/uvc.js';
import { TransferStatus, type CompletedTransfer } from '../../src/transport/usb-transport.js';

const WIDTH = 1280;
const HEIGHT = 720;
const FRAME = WIDTH * HEIGHT * 2;
const PACKET = 3072;
const HEADER = 12;
const DATA = PACKET - HEADER;
const PER_TRANSFER = 32;
const PACKETS = Math.ceil(FRAME / DATA);
const TRANSFERS = Math.ceil(PACKETS / PER_TRANSFER);

/** The transfers of one frame with this FID, as a transport would hand them over (buffers reused per slot). */
function frameTransfers(fid: number): CompletedTransfer[] {
  const out: CompletedTransfer[] = [];
  for (let t = 0; t < TRANSFERS; t++) {
    const count = Math.min(PER_TRANSFER, PACKETS - t * PER_TRANSFER);
    const buffer = new Uint8Array(PER_TRANSFER * PACKET);
    const packetLength = new Int32Array(PER_TRANSFER);
    for (let i = 0; i < count; i++) {
      const packet = t * PER_TRANSFER + i;
      const data = Math.min(DATA, FRAME - packet * DATA);
      const at = i * PACKET;
      buffer[at] = HEADER;
      buffer[at + 1] = PayloadHeader.EOH | PayloadHeader.PTS | PayloadHeader.SCR | fid | (packet === PACKETS - 1 ? PayloadHeader.EOF : 0);
      for (let b = HEADER; b < HEADER + data; b++) buffer[at + b] = (packet + b) & 0xff;
      packetLength[i] = HEADER + data;
    }
    out.push({
      slot: t, // one slot per transfer: a transport reuses each slot's buffer
      sequence: t,
      status: TransferStatus.COMPLETED,
      buffer,
      actualLength: 0,
      packetCount: count,
      packetStride: PACKET,
      packetStatus: new Int32Array(PER_TRANSFER),
      packetLength,
      lostIntervals: 0,
      completedAtNs: t * 4_000_000,
      release() {},
    });
  }
  return out;
}

const frames = [frameTransfers(0), frameTransfers(1)];
const queue = new BufferQueue({ bufferSize: FRAME });
const handle = queue.open();
handle.reqbufs(4);
for (let i = 0; i < 4; i++) handle.qbuf(i);
await handle.streamon();
const assembler = new FrameAssembler(queue, {
  formatKind: 'uncompressed',
  transferType: 'iso',
  expectedFrameSize: FRAME,
  intervalNs: 125_000,
  clockFrequency: 48_000_000,
});
let next = 0;
if (process.env['BENCH_CHECK']) {
  for (let i = 0; i < 4; i++) for (const transfer of frames[next++ & 1]!) assembler.processTransfer(transfer);
  console.log('frames assembled', assembler.stats.frames, 'errored', assembler.stats.erroredFrames);
}

const source = new Uint8Array(FRAME);
const target = new Uint8Array(FRAME);

describe('1280x720 YUYV frame, 3072-byte packets', () => {
  bench('memcpy of the frame (TypedArray.set)', () => {
    target.set(source);
  });

  bench('assembly into the queue buffer', () => {
    for (const transfer of frames[next++ & 1]!) assembler.processTransfer(transfer);
    // Hand the buffer straight back, as a consumer that queues at once would (dqbuf dequeues synchronously).
    while (queue.doneCount > 0) void handle.dqbuf({ nonblock: true });
    for (const buffer of queue.buffers()) if (buffer.state === 'dequeued') handle.qbuf(buffer.index);
  });
});
