import { describe, expect, it } from 'vitest';
import type { BufferQueue } from '../../src/queue/buffer-queue.js';
import type { UvcError } from '../../src/errors.js';
import { expectThrowsCode, makeQueue, tick } from './helpers.js';

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

describe('frames(): what ends a loop', () => {
  async function streaming(buffers = 3): Promise<ReturnType<typeof makeQueue>> {
    const made = makeQueue();
    made.handle.reqbufs(buffers);
    for (let i = 0; i < buffers; i++) made.handle.qbuf(i);
    await made.handle.streamon();
    return made;
  }

  /** Completes the next queued buffer with frame `sequence` (or in error). */
  function fill(queue: BufferQueue, sequence: number, error = false): void {
    const buffer = queue.nextBuffer();
    if (buffer === null) throw new Error('nothing queued');
    queue.completeBuffer(buffer, { bytesused: 10, timestamp: sequence, sequence, error });
  }

  it('an abort ends the loop quietly, both while waiting and before the next done buffer is taken', async () => {
    const { queue, handle } = await streaming();
    const abort = new AbortController();
    fill(queue, 0);
    fill(queue, 1);
    const seen: number[] = [];
    for await (const buffer of handle.frames({ signal: abort.signal })) {
      seen.push(buffer.sequence);
      abort.abort(); // frame 1 is done, but the loop must not take it
    }
    expect(seen).toEqual([0]);
    expect(queue.doneCount).toBe(1);

    const waiting = new AbortController();
    const loop = (async () => {
      const taken: number[] = [];
      for await (const buffer of handle.frames({ signal: waiting.signal })) taken.push(buffer.sequence);
      return taken;
    })();
    await tick();
    expect(queue.waiterCount).toBe(1); // frame 1 was done: taken at once, then the loop waits
    waiting.abort();
    expect(await loop).toEqual([1]);
    expect(queue.waiterCount).toBe(0);
    queue.assertInvariants();
  });

  it('after a disconnect: the frames done first, then the buffers returned unfilled, then ENXIO', async () => {
    const { queue, handle } = await streaming(3);
    fill(queue, 0);
    queue.nextBuffer(); // being filled when the device goes
    queue.disconnect();
    const seen: Array<{ sequence: number; error: boolean; bytesused: number }> = [];
    let failure: unknown;
    try {
      for await (const buffer of handle.frames()) seen.push({ sequence: buffer.sequence, error: buffer.flags.error, bytesused: buffer.bytesused });
    } catch (error) {
      failure = error;
    }
    expect(seen).toEqual([
      { sequence: 0, error: false, bytesused: 10 },
      { sequence: -1, error: true, bytesused: 0 },
      { sequence: -1, error: true, bytesused: 0 },
    ]);
    expect((failure as UvcError).code).toBe('ENXIO');
    queue.assertInvariants();
  });

  it('a wait longer than timeoutMs throws ETIMEDOUT; a bad timeoutMs is refused at once', async () => {
    const { handle } = await streaming();
    let failure: unknown;
    try {
      for await (const buffer of handle.frames({ timeoutMs: 5 })) void buffer;
    } catch (error) {
      failure = error;
    }
    expect((failure as UvcError).code).toBe('ETIMEDOUT');
    expectThrowsCode(() => handle.frames({ timeoutMs: -1 }), 'EINVAL');
  });

  it('close() ends a waiting loop', async () => {
    const { queue, handle } = await streaming();
    const loop = (async () => {
      let n = 0;
      for await (const buffer of handle.frames()) n += buffer.bytesused;
      return n;
    })();
    await tick();
    expect(queue.waiterCount).toBe(1);
    await handle.close();
    expect(await loop).toBe(0);
  });

  it('with requeue: false, every yielded buffer stays with the user', async () => {
    const { queue, handle } = await streaming(2);
    fill(queue, 0);
    fill(queue, 1);
    const held = [];
    for await (const buffer of handle.frames({ requeue: false })) {
      held.push(buffer);
      if (held.length === 2) break;
    }
    expect(held.map((b) => b.state)).toEqual(['dequeued', 'dequeued']);
    expect(queue.queuedCount).toBe(0);
    queue.assertInvariants();
  });

  it('does not queue again a buffer that streamoff returned, nor one of a freed pool', async () => {
    const { queue, handle } = await streaming(2);
    fill(queue, 0);
    const loop = (async () => {
      for await (const buffer of handle.frames()) {
        await handle.streamoff(); // inside the body: the buffer must stay with the user
        void buffer;
      }
    })();
    await loop;
    expect(queue.queuedCount).toBe(0);
    expect([0, 1].map((i) => handle.querybuf(i).state)).toEqual(['dequeued', 'dequeued']);
    queue.assertInvariants();
  });
});
