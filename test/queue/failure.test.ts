import { describe, expect, it } from 'vitest';
import { UvcError } from '../../src/errors.js';
import { expectRejectsCode, expectThrowsCode, makeQueue, tick } from './helpers.js';

describe('a failed stream (vb2_queue_error)', () => {
  it('hands out what is done, then EIO to waiters, dqbuf, qbuf and the loop, until streamoff clears it', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(4);
    for (let i = 0; i < 4; i++) handle.qbuf(i);
    await handle.streamon();
    const done = queue.nextBuffer()!;
    queue.completeBuffer(done, { bytesused: 5, timestamp: 1, sequence: 0 });
    queue.nextBuffer(); // active when the stream breaks
    const first = await handle.dqbuf();
    expect(first).toBe(done);
    const waiting = handle.dqbuf();
    await tick();
    queue.fail(new UvcError('EIO', 'the endpoint keeps failing'));
    const error = await expectRejectsCode(waiting, 'EIO');
    expect((error as UvcError).cause).toBe(queue.error);
    expect(queue.nextBuffer()).toBeNull(); // the driver gets nothing more to fill
    expectThrowsCode(() => handle.qbuf(first.index), 'EIO');
    await expectRejectsCode(handle.dqbuf(), 'EIO');
    let loopError: unknown;
    try {
      for await (const buffer of handle.frames()) void buffer;
    } catch (caught) {
      loopError = caught;
    }
    expect((loopError as UvcError).code).toBe('EIO');
    queue.assertInvariants();
    await handle.streamoff();
    expect(queue.error).toBeNull();
    expect([0, 1, 2, 3].map((i) => handle.querybuf(i).state)).toEqual(['dequeued', 'dequeued', 'dequeued', 'dequeued']);
    handle.qbuf(0);
    await handle.streamon();
    expect(queue.nextBuffer()?.index).toBe(0);
    queue.assertInvariants();
  });

  it('a disconnect after the failure still wins: ENXIO', async () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(2);
    handle.qbuf(0);
    await handle.streamon();
    queue.fail(new UvcError('EIO', 'broken'));
    queue.disconnect();
    const returned = await handle.dqbuf();
    expect(returned.flags.error).toBe(true);
    await expectRejectsCode(handle.dqbuf(), 'ENXIO');
    queue.assertInvariants();
  });

  it('is ignored while not streaming', () => {
    const { queue, handle } = makeQueue();
    handle.reqbufs(1);
    queue.fail(new UvcError('EIO', 'late'));
    expect(queue.error).toBeNull();
    handle.qbuf(0);
  });
});
