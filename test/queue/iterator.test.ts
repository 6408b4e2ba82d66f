import { describe, expect, it } from 'vitest';
import type { BufferQueue } from '../../src/queue/buffer-queue.js';
import type { UvcError } from '../../src/errors.js';
import { makeQueue, tick } from './helpers.js';

/** A fake producer: completes whatever buffer is queued, one per macrotask, numbering frames. */
function produce(queue: BufferQueue, frames: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let sequence = 0;
    const step = (): void => {
      if (sequence >= frames || !queue.streaming) {
        resolve();
        return;
      }
      const buffer = queue.nextBuffer();
      if (buffer !== null) {
        buffer.memory[0] = sequence & 0xff;
        queue.completeBuffer(buffer, { bytesused: 1, timestamp: sequence, sequence });
        sequence++;
      }
      setImmediate(step);
    };
    setImmediate(step);
  });
}

describe('async iteration', () => {
  it('yields buffers in order and queues the previous one again on each step', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    handle.qbuf(0);
    handle.qbuf(1);
    await handle.streamon();
    const producing = produce(queue, 10);
    const sequences: number[] = [];
    for await (const buffer of handle) {
      expect(buffer.state).toBe('dequeued');
      expect(buffer.data[0]).toBe(buffer.sequence & 0xff);
      sequences.push(buffer.sequence);
      queue.assertInvariants();
      if (sequences.length === 10) break;
    }
    await producing;
    // Two buffers cycled through ten frames: each one was re-queued by the iterator.
    expect(sequences).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('does not queue a buffer the loop body already queued itself', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    handle.qbuf(0);
    handle.qbuf(1);
    await handle.streamon();
    const producing = produce(queue, 4);
    let count = 0;
    for await (const buffer of handle) {
      handle.qbuf(buffer.index);
      if (++count === 4) break;
    }
    await producing;
    queue.assertInvariants();
  });

  it('ends when streaming is turned off, and leaves the last buffer with the user on break', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    handle.qbuf(0);
    handle.qbuf(1);
    await handle.streamon();
    const producing = produce(queue, 3);
    let last = -1;
    const loop = (async () => {
      for await (const buffer of handle) last = buffer.sequence;
    })();
    await producing;
    await tick();
    await handle.streamoff();
    await loop; // ends, no throw
    expect(last).toBe(2);

    handle.qbuf(0);
    await handle.streamon();
    const again = produce(queue, 1);
    let kept = null;
    for await (const buffer of handle) {
      kept = buffer;
      break;
    }
    await again;
    expect(kept!.state).toBe('dequeued');
  });

  it('refuses to start while not streaming', async () => {
    const { handle } = makeQueue();
    handle.reqbufs(1);
    let failure: unknown;
    try {
      for await (const buffer of handle) void buffer;
    } catch (error) {
      failure = error;
    }
    expect((failure as UvcError).code).toBe('EINVAL');
  });
});
