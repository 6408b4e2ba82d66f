import { describe, expect, it } from 'vitest';
import type { UvcError } from '../../src/errors.js';
import type { VideoBuffer } from '../../src/queue/video-buffer.js';
import { deferred, expectRejectsCode, expectThrowsCode, makeQueue, promiseState, tick } from './helpers.js';

describe('disconnect', () => {
  it('wakes a waiting dqbuf within one event-loop turn', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    await handle.streamon();
    const waiting = handle.dqbuf();
    let settledFirst = false;
    let macrotaskRan = false;
    waiting.then(
      () => {
        settledFirst = !macrotaskRan;
      },
      () => {
        settledFirst = !macrotaskRan;
      },
    );
    setImmediate(() => {
      macrotaskRan = true;
    });
    queue.disconnect();
    await expectRejectsCode(waiting, 'ENXIO');
    expect(settledFirst).toBe(true);
  });

  it('completes every queued and active buffer in error, wakes every waiter, and no continuation sees it half done', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(4);
    const fences = [0, 1, 2].map((i) => handle.qbuf(i, { outFence: true }));
    await handle.streamon();
    const active = queue.nextBuffer()!;
    const observations: string[] = [];
    const observe = (label: string) => () => {
      const problems = queue.checkInvariants();
      observations.push(`${label}:${queue.disconnected}:${queue.queuedCount}:${queue.activeCount}:${problems.length}`);
    };
    for (const [i, fence] of fences.entries()) fence.then(observe(`fence${i}`), observe(`fence${i}`));
    const w1 = handle.dqbuf();
    const w2 = handle.dqbuf();
    w1.then(observe('w1'), observe('w1'));
    w2.then(observe('w2'), observe('w2'));
    queue.disconnect();
    queue.assertInvariants();
    // Waiters got the error buffers (oldest first: the active one).
    const b1 = await w1;
    const b2 = await w2;
    expect(b1).toBe(active);
    expect([b1.flags.error, b2.flags.error]).toEqual([true, true]);
    for (const fence of fences) await expectRejectsCode(fence, 'ENXIO');
    expect(observations).toHaveLength(5);
    for (const seen of observations) expect(seen).toMatch(/:true:0:0:0$/);
    // One error buffer is left in the done list; then ENXIO at once, never a wait.
    const b3 = await handle.dqbuf();
    expect(b3.flags.error).toBe(true);
    expect(new Set([b1.index, b2.index, b3.index])).toEqual(new Set([0, 1, 2]));
    await expectRejectsCode(handle.dqbuf(), 'ENXIO');
    await expectRejectsCode(handle.dqbuf({ timeoutMs: 60_000 }), 'ENXIO');
    expect(queue.waiterCount).toBe(0);
  });

  it('after an unplug between qbuf calls, qbuf fails with ENXIO and queues nothing', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(3);
    await handle.streamon();
    handle.qbuf(0);
    queue.disconnect();
    expectThrowsCode(() => handle.qbuf(1), 'ENXIO');
    expect(handle.querybuf(1).state).toBe('dequeued');
    expect(queue.queuedCount).toBe(0);
    const b0 = await handle.dqbuf();
    expect(b0.index).toBe(0);
    expect(b0.flags.error).toBe(true);
    await expectRejectsCode(handle.dqbuf({ nonblock: true }), 'ENXIO');
    // A dequeued error buffer cannot be queued again either.
    expectThrowsCode(() => handle.qbuf(0), 'ENXIO');
    queue.assertInvariants();
  });

  it('streamon after disconnect fails with ENXIO; reqbufs(0), streamoff and close still work', async () => {
    const { queue, handle, driver } = makeQueue();
    handle.reqbufs(2);
    handle.qbuf(0);
    await handle.streamon();
    queue.disconnect();
    queue.disconnect(); // idempotent
    await expectRejectsCode(handle.streamon(), 'ENXIO');
    expectThrowsCode(() => handle.reqbufs(2), 'ENXIO');
    await tick();
    expect(driver.stops).toBe(1); // the queue let the driver go, once
    await handle.streamoff();
    expect(driver.stops).toBe(1);
    expect(handle.querybuf(0).state).toBe('dequeued');
    expect(handle.reqbufs(0)).toBe(0);
    await handle.close();
    queue.assertInvariants();
  });

  it('reqbufs(0) frees right after the disconnect, even before the driver has stopped', async () => {
    const { queue, handle, driver } = makeQueue();
    handle.reqbufs(2);
    handle.qbuf(0);
    handle.qbuf(1);
    await handle.streamon();
    const active = queue.nextBuffer()!;
    const activation = active._activation;
    driver.holdStop = deferred();
    queue.disconnect();
    expect(handle.reqbufs(0)).toBe(0);
    // The driver finishing its frame late is harmless: the buffer is not its any more.
    expect(queue.isActive(active, activation)).toBe(false);
    expect(queue.completeBuffer(active, { bytesused: 1, timestamp: 0, sequence: 0 })).toBe(false);
    expect(queue.requeueBuffer(active)).toBe(false);
    driver.holdStop.resolve();
    await tick();
    expect(driver.stops).toBe(1);
    queue.assertInvariants();
  });

  it('unplug during streamon (startStreaming pending): streamon fails with ENXIO, buffers end in error, the driver is stopped once it started', async () => {
    const { queue, handle, driver } = makeQueue();
    handle.reqbufs(3);
    const fence = handle.qbuf(0, { outFence: true });
    handle.qbuf(1);
    driver.holdStart = deferred();
    driver.onStart = (q) => {
      q.nextBuffer(); // the driver already took buffer 0 while starting
    };
    const on = handle.streamon();
    const waiting = handle.dqbuf();
    await tick();
    expect(queue.phase).toBe('starting');
    queue.disconnect();
    queue.assertInvariants();
    expect((await waiting).index).toBe(0);
    expect(await promiseState(on)).toBe('pending');
    driver.holdStart.resolve();
    await expectRejectsCode(on, 'ENXIO');
    const error = (await expectRejectsCode(fence, 'ENXIO')) as UvcError;
    expect((error.details['buffer'] as VideoBuffer).index).toBe(0);
    await tick();
    expect(driver.stops).toBe(1);
    expect((await handle.dqbuf()).index).toBe(1);
    await expectRejectsCode(handle.dqbuf(), 'ENXIO');
    queue.assertInvariants();
  });

  it('unplug during streamon whose start then fails: ENXIO, and no stop for a driver that never started', async () => {
    const { queue, handle, driver } = makeQueue();
    handle.reqbufs(1);
    handle.qbuf(0);
    driver.holdStart = deferred();
    driver.failStart = new Error('device gone');
    const on = handle.streamon();
    await tick();
    queue.disconnect();
    driver.holdStart.resolve();
    await expectRejectsCode(on, 'ENXIO');
    await tick();
    expect(driver.stops).toBe(0);
    expect(handle.querybuf(0).state).toBe('error');
    queue.assertInvariants();
  });

  it('the async iterator yields the remaining error buffers, then throws ENXIO', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    handle.qbuf(0);
    handle.qbuf(1);
    await handle.streamon();
    queue.disconnect();
    const seen: number[] = [];
    let failure: unknown;
    try {
      for await (const buffer of handle) seen.push(buffer.index);
    } catch (error) {
      failure = error;
    }
    expect(seen).toEqual([0, 1]);
    expect((failure as UvcError).code).toBe('ENXIO');
  });
});
