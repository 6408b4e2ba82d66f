/** A FrameAssembler wired to a real BufferQueue, with a way to read back what it produced. */
import { BufferQueue } from '../../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../../src/queue/queue-handle.js';
import { FrameAssembler, type FrameAssemblerOptions } from '../../../src/stream/frame-assembler.js';
import type { CompletedTransfer } from '../../../src/transport/usb-transport.js';

export interface FrameRecord {
  index: number;
  sequence: number;
  bytesused: number;
  error: boolean;
  keyframe: boolean;
  timestamp: number;
  data: Uint8Array;
}

export interface AssemblerRig {
  queue: BufferQueue;
  handle: QueueHandle;
  assembler: FrameAssembler;
  feed(...transfers: CompletedTransfer[]): void;
  /** Dequeues every done buffer (copying its frame), queues it again, and returns the frames in order. */
  drain(): Promise<FrameRecord[]>;
}

export async function assemblerRig(
  options: FrameAssemblerOptions,
  setup: { buffers?: number; bufferSize: number; queueAll?: boolean },
): Promise<AssemblerRig> {
  const queue = new BufferQueue({ bufferSize: setup.bufferSize });
  const handle = new QueueHandle(queue);
  const count = handle.reqbufs(setup.buffers ?? 4);
  if (setup.queueAll !== false) for (let i = 0; i < count; i++) handle.qbuf(i);
  await handle.streamon();
  const assembler = new FrameAssembler(queue, options);
  return {
    queue,
    handle,
    assembler,
    feed(...transfers) {
      for (const transfer of transfers) assembler.processTransfer(transfer);
      queue.assertInvariants();
    },
    async drain() {
      const frames: FrameRecord[] = [];
      while (queue.doneCount > 0) {
        const buffer = await handle.dqbuf({ nonblock: true });
        frames.push({
          index: buffer.index,
          sequence: buffer.sequence,
          bytesused: buffer.bytesused,
          error: buffer.flags.error,
          keyframe: buffer.flags.keyframe,
          timestamp: buffer.timestamp,
          data: buffer.data.slice(),
        });
        handle.qbuf(buffer.index);
      }
      queue.assertInvariants();
      return frames;
    },
  };
}
