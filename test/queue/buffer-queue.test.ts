import { afterEach, describe, expect, it, vi } from 'vitest';
import { BufferQueue } from '../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import { UvcError } from '../../src/errors.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deferred, expectRejectsCode, expectThrowsCode, makeQueue, promiseState, tick } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A queue (untracked: nothing else holds it) whose one timed dqbuf was answered; its kept timer is still armed. */
async function answeredTimedWait(): Promise<BufferQueue> {
  const { queue, handle } = makeQueue();
  handle.reqbufs(1);
  handle.qbuf(0);
  await handle.streamon();
  const waiting = handle.dqbuf({ timeoutMs: 60_000 });
  queue.completeBuffer(queue.nextBuffer()!, { bytesused: 1, timestamp: 1, sequence: 0 });
  expect((await waiting).index).toBe(0);
  return queue;
}

const queues: BufferQueue[] = [];
function tracked<T extends { queue: BufferQueue }>(made: T): T {
  queues.push(made.queue);
  return made;
}
afterEach(() => {
  // Every test leaves the queue consistent, whatever it did.
  for (const queue of queues.splice(0)) queue.assertInvariants();
});

describe('reqbufs / querybuf', () => {
  it('allocates buffers of the committed size, each its own memory, and reqbufs(0) frees them', () => {
    const { queue, handle } = tracked(makeQueue({ bufferSize: 4096 }));
    expect(handle.reqbufs(4)).toBe(4);
    expect(handle.count).toBe(4);
    const buffers = [0, 1, 2, 3].map((i) => handle.querybuf(i));
    for (const [i, buffer] of buffers.entries()) {
      expect(buffer.index).toBe(i);
      expect(buffer.length).toBe(4096);
      expect(buffer.memory.length).toBe(4096);
      expect(buffer.state).toBe('dequeued');
      expect(buffer.bytesused).toBe(0);
    }
    expect(new Set(buffers.map((b) => b.memory.buffer)).size).toBe(4);
    expect(handle.isOwner).toBe(true);
    expect(handle.reqbufs(0)).toBe(0);
    expect(handle.count).toBe(0);
    expect(handle.isOwner).toBe(false);
    expect(queue.owner).toBeNull();
  });

  it('clamps the count to the maximum and reallocates on a second reqbufs', () => {
    const { handle } = tracked(makeQueue());
    expect(handle.reqbufs(100)).toBe(32);
    const before = handle.querybuf(0);
    expect(handle.reqbufs(2)).toBe(2);
    expect(handle.querybuf(0)).not.toBe(before);
    expectThrowsCode(() => handle.querybuf(2), 'EINVAL');
  });

  it('rejects bad counts and an unknown buffer size with EINVAL', () => {
    const { handle } = tracked(makeQueue());
    expectThrowsCode(() => handle.reqbufs(-1), 'EINVAL');
    expectThrowsCode(() => handle.reqbufs(1.5), 'EINVAL');
    expectThrowsCode(() => handle.reqbufs(Number.NaN), 'EINVAL');
    const sizeless = new BufferQueue();
    queues.push(sizeless);
    expectThrowsCode(() => new QueueHandle(sizeless).reqbufs(2), 'EINVAL');
  });

  it('answers EBUSY to reqbufs while streaming, and to setBufferSize while buffers exist', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(2);
    expectThrowsCode(() => queue.setBufferSize(10), 'EBUSY');
    await handle.streamon();
    expectThrowsCode(() => handle.reqbufs(4), 'EBUSY');
    expectThrowsCode(() => handle.reqbufs(0), 'EBUSY');
    await handle.streamoff();
    expect(handle.reqbufs(0)).toBe(0);
    queue.setBufferSize(10);
    expect(queue.bufferSize).toBe(10);
  });

  it('querybuf rejects indexes that are not buffers', () => {
    const { handle } = tracked(makeQueue());
    expectThrowsCode(() => handle.querybuf(0), 'EINVAL');
    handle.reqbufs(2);
    for (const bad of [-1, 2, 0.5, Number.NaN]) expectThrowsCode(() => handle.querybuf(bad), 'EINVAL');
  });
});

describe('qbuf', () => {
  it('queues a dequeued buffer, before or during streaming', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(3);
    expect(handle.qbuf(0)).toBeUndefined();
    expect(handle.querybuf(0).state).toBe('queued');
    await handle.streamon();
    handle.qbuf(1);
    expect(queue.queuedCount).toBe(2);
    queue.assertInvariants();
  });

  it('answers EINVAL for a bad index and for a buffer that is queued, active or done', async () => {
    const { queue, handle } = tracked(makeQueue());
    expectThrowsCode(() => handle.qbuf(0), 'EINVAL'); // no buffers at all
    handle.reqbufs(3);
    for (const bad of [-1, 3, 1.5]) expectThrowsCode(() => handle.qbuf(bad), 'EINVAL');
    handle.qbuf(0);
    expectThrowsCode(() => handle.qbuf(0), 'EINVAL');
    await handle.streamon();
    handle.qbuf(1);
    const active = queue.nextBuffer()!;
    expect(active.index).toBe(0);
    expect(active.state).toBe('active');
    expectThrowsCode(() => handle.qbuf(0), 'EINVAL');
    queue.completeBuffer(active, { bytesused: 10, timestamp: 1, sequence: 0 });
    expect(active.state).toBe('done');
    expectThrowsCode(() => handle.qbuf(0), 'EINVAL');
    expect(queue.queuedCount).toBe(1);
  });
});

describe('dqbuf', () => {
  it('answers EINVAL when not streaming and EAGAIN when nonblocking with nothing done', async () => {
    const { handle } = tracked(makeQueue());
    await expectRejectsCode(handle.dqbuf(), 'EINVAL');
    handle.reqbufs(2);
    handle.qbuf(0);
    await expectRejectsCode(handle.dqbuf(), 'EINVAL');
    await handle.streamon();
    await expectRejectsCode(handle.dqbuf({ nonblock: true }), 'EAGAIN');
  });

  it('returns done buffers in completion order, with their frame fields, as a zero-copy view', async () => {
    const { queue, handle } = tracked(makeQueue({ bufferSize: 64 }));
    handle.reqbufs(3);
    for (const i of [2, 0, 1]) handle.qbuf(i);
    await handle.streamon();
    const first = queue.nextBuffer()!;
    const second = queue.nextBuffer()!;
    expect([first.index, second.index]).toEqual([2, 0]);
    second.memory.set([9, 8, 7], 0);
    first.memory.set([1, 2, 3, 4], 0);
    // Completed out of order: dqbuf follows completion order.
    queue.completeBuffer(second, { bytesused: 3, timestamp: 200, sequence: 1, error: true });
    queue.completeBuffer(first, { bytesused: 4, timestamp: 100, sequence: 0, keyframe: true });
    const a = await handle.dqbuf();
    expect(a).toBe(second);
    expect(a.state).toBe('dequeued');
    expect(a.flags).toEqual({ error: true, keyframe: false });
    expect(Array.from(a.data)).toEqual([9, 8, 7]);
    const b = await handle.dqbuf({ nonblock: true });
    expect(b).toBe(first);
    expect(b.sequence).toBe(0);
    expect(b.timestamp).toBe(100);
    expect(b.bytesused).toBe(4);
    expect(b.flags).toEqual({ error: false, keyframe: true });
    expect(b.data.buffer).toBe(b.memory.buffer);
    expect(b.data.byteOffset).toBe(b.memory.byteOffset);
    expect(b.data.length).toBe(4);
    expect(b.memory.length).toBe(64);
  });

  it('waits for a buffer and wakes when the driver completes one; several waiters are served in order', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(2);
    handle.qbuf(0);
    handle.qbuf(1);
    await handle.streamon();
    const w1 = handle.dqbuf();
    const w2 = handle.dqbuf();
    expect(await promiseState(w1)).toBe('pending');
    expect(queue.waiterCount).toBe(2);
    const b0 = queue.nextBuffer()!;
    const b1 = queue.nextBuffer()!;
    queue.completeBuffer(b1, { bytesused: 1, timestamp: 1, sequence: 0 });
    queue.assertInvariants();
    expect(await w1).toBe(b1);
    expect(await promiseState(w2)).toBe('pending');
    queue.completeBuffer(b0, { bytesused: 1, timestamp: 2, sequence: 1 });
    expect(await w2).toBe(b0);
    expect(queue.waiterCount).toBe(0);
  });

  it('times out with ETIMEDOUT and leaves nothing behind', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(1);
    handle.qbuf(0);
    await handle.streamon();
    await expectRejectsCode(handle.dqbuf({ timeoutMs: 5 }), 'ETIMEDOUT');
    expect(queue.waiterCount).toBe(0);
    await expectRejectsCode(handle.dqbuf({ timeoutMs: -1 }), 'EINVAL');
  });

  it('times each wait from its own call, one after another or several at once, with one or several lengths', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }); // (setImmediate stays real: promiseState uses it)
    try {
      const { queue, handle } = tracked(makeQueue());
      handle.reqbufs(2);
      handle.qbuf(0);
      handle.qbuf(1);
      await handle.streamon();
      // Answered in time: nothing of its timeout is left to cut a later wait short.
      const first = handle.dqbuf({ timeoutMs: 40 });
      await vi.advanceTimersByTimeAsync(30);
      queue.completeBuffer(queue.nextBuffer()!, { bytesused: 1, timestamp: 1, sequence: 0 });
      expect((await first).index).toBe(0);
      const second = handle.dqbuf({ timeoutMs: 40 });
      await vi.advanceTimersByTimeAsync(30); // 60 ms after the first call: past its 40
      expect(await promiseState(second)).toBe('pending');
      await vi.advanceTimersByTimeAsync(10);
      await expectRejectsCode(second, 'ETIMEDOUT');
      // Again after one timed out, and two at once, with different lengths: each at its own time.
      const third = handle.dqbuf({ timeoutMs: 40 });
      const fourth = handle.dqbuf({ timeoutMs: 20 });
      const fifth = handle.dqbuf({ timeoutMs: 40 });
      const fourthTimedOut = expectRejectsCode(fourth, 'ETIMEDOUT');
      const thirdTimedOut = expectRejectsCode(third, 'ETIMEDOUT');
      const fifthTimedOut = expectRejectsCode(fifth, 'ETIMEDOUT');
      await vi.advanceTimersByTimeAsync(20);
      await fourthTimedOut;
      expect(await promiseState(third)).toBe('pending');
      expect(await promiseState(fifth)).toBe('pending');
      await vi.advanceTimersByTimeAsync(20);
      await thirdTimedOut;
      await fifthTimedOut;
      expect(queue.waiterCount).toBe(0);
      // A wait that is answered before its timeout resolves, and no timer keeps the process alive afterwards.
      const sixth = handle.dqbuf({ timeoutMs: 40 });
      queue.completeBuffer(queue.nextBuffer()!, { bytesused: 1, timestamp: 2, sequence: 1 });
      expect((await sixth).index).toBe(1);
      expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
      await vi.advanceTimersByTimeAsync(100);
      expect(queue.waiterCount).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps nothing of the queue alive through its kept timeout timer once no wait owns it', async () => {
    // The timer stays armed (unref'd) after a timed wait is answered; Node's timer list holds it. If its callback
    // held the queue, a closed camera's queue, stream and native device would live until the timer ran out.
    const made = new WeakRef(await answeredTimedWait());
    for (let i = 0; i < 4 && made.deref() !== undefined; i++) {
      await tick();
      gc();
    }
    expect(made.deref()).toBeUndefined();
  });

  it('is aborted by its signal with ECANCELED (before or during the wait)', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(1);
    await handle.streamon();
    const pre = new AbortController();
    pre.abort(new Error('no thanks'));
    const early = await expectRejectsCode(handle.dqbuf({ signal: pre.signal }), 'ECANCELED');
    expect((early as UvcError).cause).toBeInstanceOf(Error);
    const controller = new AbortController();
    const waiting = handle.dqbuf({ signal: controller.signal, timeoutMs: 10_000 });
    controller.abort();
    await expectRejectsCode(waiting, 'ECANCELED');
    expect(queue.waiterCount).toBe(0);
  });
});

describe('streamon / streamoff', () => {
  it('answers EINVAL to streamon without buffers', async () => {
    const { handle, driver } = tracked(makeQueue());
    await expectRejectsCode(handle.streamon(), 'EINVAL');
    expect(driver.starts).toBe(0);
  });

  it('treats repeated streamon and streamoff as no-ops', async () => {
    const { handle, driver } = tracked(makeQueue());
    handle.reqbufs(2);
    await Promise.all([handle.streamon(), handle.streamon()]);
    await handle.streamon();
    expect(driver.starts).toBe(1);
    expect(handle.streaming).toBe(true);
    await Promise.all([handle.streamoff(), handle.streamoff()]);
    await handle.streamoff();
    expect(driver.stops).toBe(1);
    expect(handle.streaming).toBe(false);
  });

  it('streamoff wakes a blocked dqbuf with EINVAL and returns every buffer to dequeued at once', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(4);
    for (let i = 0; i < 4; i++) handle.qbuf(i);
    await handle.streamon();
    const done = queue.nextBuffer()!;
    queue.completeBuffer(done, { bytesused: 1, timestamp: 1, sequence: 0 });
    queue.nextBuffer(); // one active
    // queued: 2, active: 1, done: 1
    await handle.dqbuf(); // take the done one
    const waiting = handle.dqbuf();
    const stopped = handle.streamoff();
    // Synchronously: everything is back with the user.
    for (let i = 0; i < 4; i++) expect(handle.querybuf(i).state).toBe('dequeued');
    queue.assertInvariants();
    await expectRejectsCode(waiting, 'EINVAL');
    await stopped;
    expect(queue.queuedCount + queue.activeCount + queue.doneCount).toBe(0);
  });

  it('streamoff returns buffers queued before streamon ever ran, and done buffers nobody dequeued', async () => {
    const { queue, handle, driver } = tracked(makeQueue());
    handle.reqbufs(2);
    handle.qbuf(0);
    await handle.streamoff();
    expect(handle.querybuf(0).state).toBe('dequeued');
    expect(driver.stops).toBe(0); // the driver never started
    handle.qbuf(0);
    handle.qbuf(1);
    await handle.streamon();
    queue.completeBuffer(queue.nextBuffer()!, { bytesused: 1, timestamp: 1, sequence: 0 });
    expect(queue.doneCount).toBe(1);
    await handle.streamoff();
    expect(handle.querybuf(0).state).toBe('dequeued');
    expect(queue.doneCount).toBe(0);
  });

  it('a failing startStreaming rejects streamon with its error and puts the taken buffers back to queued', async () => {
    const { queue, handle, driver } = tracked(makeQueue());
    handle.reqbufs(3);
    for (let i = 0; i < 3; i++) handle.qbuf(i);
    driver.failStart = new UvcError('ENOSPC', 'no bandwidth');
    driver.onStart = (q) => {
      q.nextBuffer();
      q.nextBuffer();
    };
    const waiting = handle.dqbuf().catch((e: unknown) => e);
    const error = await expectRejectsCode(handle.streamon(), 'ENOSPC');
    expect(error).toBe(driver.failStart);
    expect([0, 1, 2].map((i) => handle.querybuf(i).state)).toEqual(['queued', 'queued', 'queued']);
    expect(queue.queuedCount).toBe(3);
    expect(handle.streaming).toBe(false);
    expect((await waiting as UvcError).code).toBe('EINVAL');
    // Taken order is kept: buffer 0 is still first.
    driver.failStart = null;
    driver.onStart = null;
    await handle.streamon();
    expect(queue.nextBuffer()!.index).toBe(0);
  });

  it('a start error that is not a UvcError becomes EIO', async () => {
    const { handle, driver } = tracked(makeQueue());
    handle.reqbufs(1);
    driver.failStart = new Error('boom');
    const error = await expectRejectsCode(handle.streamon(), 'EIO');
    expect((error as UvcError).cause).toBe(driver.failStart);
  });

  it('streamoff during a pending start: the start finishes, then the driver is stopped', async () => {
    const { queue, handle, driver } = tracked(makeQueue());
    handle.reqbufs(2);
    driver.holdStart = deferred();
    const on = handle.streamon();
    await tick();
    expect(queue.phase).toBe('starting');
    const off = handle.streamoff();
    expect(handle.streaming).toBe(false);
    driver.holdStart.resolve();
    await on;
    await off;
    expect(driver.stops).toBe(1);
    expect(queue.phase).toBe('idle');
  });

  it('streamoff then qbuf then streamon without awaiting keeps the buffer queued', async () => {
    const { queue, handle, driver } = tracked(makeQueue());
    handle.reqbufs(2);
    await handle.streamon();
    driver.holdStop = deferred();
    const off = handle.streamoff();
    handle.qbuf(1);
    const on = handle.streamon();
    driver.holdStop.resolve();
    await off;
    await on;
    expect(driver.starts).toBe(2);
    expect(handle.querybuf(1).state).toBe('queued');
    expect(queue.nextBuffer()!.index).toBe(1);
  });
});

describe('driver side', () => {
  it('nextBuffer gives nothing while not streaming or with nothing queued', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(1);
    handle.qbuf(0);
    expect(queue.nextBuffer()).toBeNull();
    await handle.streamon();
    expect(queue.nextBuffer()!.index).toBe(0);
    expect(queue.nextBuffer()).toBeNull();
  });

  it('completeBuffer ignores buffers that are not active, requeueBuffer puts one back at the head', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(3);
    handle.qbuf(0);
    handle.qbuf(1);
    await handle.streamon();
    const b0 = queue.nextBuffer()!;
    expect(queue.completeBuffer(handle.querybuf(2), { bytesused: 1, timestamp: 0, sequence: 0 })).toBe(false);
    expect(queue.requeueBuffer(b0)).toBe(true);
    expect(b0.state).toBe('queued');
    expect(queue.completeBuffer(b0, { bytesused: 1, timestamp: 0, sequence: 0 })).toBe(false);
    expect(queue.nextBuffer()).toBe(b0);
    queue.assertInvariants();
  });

  it('bytesused is clamped to the buffer length', async () => {
    const { queue, handle } = tracked(makeQueue({ bufferSize: 16 }));
    handle.reqbufs(1);
    handle.qbuf(0);
    await handle.streamon();
    queue.completeBuffer(queue.nextBuffer()!, { bytesused: 99, timestamp: 0, sequence: 0 });
    expect((await handle.dqbuf()).bytesused).toBe(16);
  });

  it('cancelAll completes every queued and active buffer in error and keeps streaming', async () => {
    const { queue, handle } = tracked(makeQueue());
    handle.reqbufs(3);
    for (let i = 0; i < 3; i++) handle.qbuf(i);
    await handle.streamon();
    queue.nextBuffer();
    const waiting = handle.dqbuf();
    queue.cancelAll();
    queue.assertInvariants();
    const first = await waiting;
    expect(first.flags.error).toBe(true);
    expect(queue.doneCount).toBe(2);
    expect(handle.streaming).toBe(true);
    handle.qbuf(first.index);
    expect(queue.nextBuffer()).toBe(first);
  });
});

describe('invariant checker', () => {
  it('reports a buffer that is in two places and a state that matches no list', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    expect(queue.checkInvariants()).toEqual([]);
    const buffer = handle.querybuf(0);
    buffer._state = 'queued'; // claims to be queued but is in no list
    expect(queue.checkInvariants().join('\n')).toMatch(/buffer 0 is queued but in no list/);
    buffer._state = 'dequeued';
    handle.qbuf(1);
    const list = (queue as unknown as { queued: unknown[] }).queued;
    list.push(handle.querybuf(1));
    expect(queue.checkInvariants().join('\n')).toMatch(/buffer 1 is in queued and in queued/);
    expect(() => queue.assertInvariants()).toThrow(/invariants broken/);
  });
});
