import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isUvcError, type UvcError } from '../../src/errors.js';
import type { VideoBuffer } from '../../src/queue/video-buffer.js';
import { expectRejectsCode, makeQueue, promiseState, tick } from './helpers.js';

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('out-fences', () => {
  it('resolves with the buffer when it is done', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    const fence = handle.qbuf(0, { outFence: true });
    expect(fence).toBeInstanceOf(Promise);
    await handle.streamon();
    const buffer = queue.nextBuffer()!;
    expect(await promiseState(fence)).toBe('pending');
    queue.completeBuffer(buffer, { bytesused: 5, timestamp: 7, sequence: 3 });
    const done = await fence;
    expect(done).toBe(buffer);
    expect(done.sequence).toBe(3);
    expect(done.bytesused).toBe(5);
  });

  it('rejects with EIO carrying the buffer when the frame completes in error', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(1);
    const fence = handle.qbuf(0, { outFence: true });
    await handle.streamon();
    const buffer = queue.nextBuffer()!;
    queue.completeBuffer(buffer, { bytesused: 5, timestamp: 7, sequence: 3, error: true });
    const error = (await expectRejectsCode(fence, 'EIO')) as UvcError;
    expect(error.details['buffer']).toBe(buffer);
    // The buffer itself is still dequeued normally, flagged.
    const dequeued = await handle.dqbuf();
    expect(dequeued).toBe(buffer);
    expect(dequeued.flags.error).toBe(true);
  });

  it('rejects with ECANCELED when streamoff takes the buffer back (queued or active)', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    const activeFence = handle.qbuf(0, { outFence: true });
    const queuedFence = handle.qbuf(1, { outFence: true });
    await handle.streamon();
    queue.nextBuffer();
    await handle.streamoff();
    const a = (await expectRejectsCode(activeFence, 'ECANCELED')) as UvcError;
    const q = (await expectRejectsCode(queuedFence, 'ECANCELED')) as UvcError;
    expect((a.details['buffer'] as VideoBuffer).index).toBe(0);
    expect((q.details['buffer'] as VideoBuffer).index).toBe(1);
  });

  it('rejects with ECANCELED when reqbufs frees a queued buffer, and with ENXIO on disconnect', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    const freed = handle.qbuf(0, { outFence: true });
    handle.reqbufs(0);
    await expectRejectsCode(freed, 'ECANCELED');
    handle.reqbufs(2);
    const gone = handle.qbuf(1, { outFence: true });
    await handle.streamon();
    queue.disconnect();
    const error = (await expectRejectsCode(gone, 'ENXIO')) as UvcError;
    expect((error.details['buffer'] as VideoBuffer).state).toBe('error');
  });

  it('never turns an unobserved rejected fence into an unhandled rejection', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(4);
    // Fences nobody looks at: error completion, streamoff, disconnect.
    handle.qbuf(0, { outFence: true });
    handle.qbuf(1, { outFence: true });
    await handle.streamon();
    queue.completeBuffer(queue.nextBuffer()!, { bytesused: 1, timestamp: 0, sequence: 0, error: true });
    await handle.streamoff();
    handle.qbuf(2, { outFence: true });
    handle.qbuf(3, { outFence: true });
    await handle.streamon();
    queue.disconnect();
    await tick();
    await tick();
    expect(unhandled).toEqual([]);
    // The mechanism is live: a plain rejected promise in the same setup is reported.
    void Promise.reject(new Error('control'));
    await tick();
    await tick();
    expect(unhandled.length).toBe(1);
    expect(isUvcError(unhandled[0])).toBe(false);
  });
});
