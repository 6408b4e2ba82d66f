import { describe, expect, it } from 'vitest';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import { expectRejectsCode, expectThrowsCode, makeQueue } from './helpers.js';

describe('queue ownership', () => {
  it('the handle that allocates owns the queue; another handle gets EBUSY from every owner operation', async () => {
    const { queue, handle: a } = makeQueue();
    const b = new QueueHandle(queue);
    a.reqbufs(2);
    expect(a.isOwner).toBe(true);
    expect(b.isOwner).toBe(false);
    expectThrowsCode(() => b.reqbufs(2), 'EBUSY');
    expectThrowsCode(() => b.reqbufs(0), 'EBUSY');
    expectThrowsCode(() => b.qbuf(0), 'EBUSY');
    await expectRejectsCode(b.dqbuf(), 'EBUSY');
    await expectRejectsCode(b.streamon(), 'EBUSY');
    await expectRejectsCode(b.streamoff(), 'EBUSY');
    // Anyone may look at buffers.
    expect(b.querybuf(1).index).toBe(1);
    queue.assertInvariants();
  });

  it('reqbufs(0) gives up ownership and another handle may take it', async () => {
    const { queue, handle: a } = makeQueue();
    const b = new QueueHandle(queue);
    a.reqbufs(2);
    a.reqbufs(0);
    expect(b.reqbufs(3)).toBe(3);
    expect(b.isOwner).toBe(true);
    expectThrowsCode(() => a.qbuf(0), 'EBUSY');
  });

  it('the EBUSY check comes before the disconnect check (another handle learns it is not the owner)', async () => {
    const { queue, handle: a } = makeQueue();
    const b = new QueueHandle(queue);
    a.reqbufs(2);
    queue.disconnect();
    expectThrowsCode(() => b.qbuf(0), 'EBUSY');
    expectThrowsCode(() => a.qbuf(0), 'ENXIO');
  });

  it('closing the owner while streaming stops the driver, frees the buffers and releases the queue', async () => {
    const { queue, handle: a, driver } = makeQueue();
    const b = new QueueHandle(queue);
    a.reqbufs(3);
    for (let i = 0; i < 3; i++) a.qbuf(i);
    await a.streamon();
    queue.nextBuffer();
    const waiting = a.dqbuf();
    const fence = queue.buffers()[2]!;
    expect(fence.state).toBe('queued');
    await a.close();
    await expectRejectsCode(waiting, 'EINVAL');
    expect(driver.stops).toBe(1);
    expect(queue.count).toBe(0);
    expect(queue.owner).toBeNull();
    expect(queue.streaming).toBe(false);
    queue.assertInvariants();
    // The closed handle is dead; the other one can take over.
    expectThrowsCode(() => a.reqbufs(1), 'EBADF');
    expectThrowsCode(() => a.qbuf(0), 'EBADF');
    expectThrowsCode(() => a.querybuf(0), 'EBADF');
    await expectRejectsCode(a.dqbuf(), 'EBADF');
    await expectRejectsCode(a.streamon(), 'EBADF');
    await expectRejectsCode(a.streamoff(), 'EBADF');
    await a.close(); // idempotent
    expect(b.reqbufs(2)).toBe(2);
  });

  it('closing a handle that does not own the queue changes nothing', async () => {
    const { queue, handle: a } = makeQueue();
    const b = new QueueHandle(queue);
    a.reqbufs(2);
    await a.streamon();
    await b.close();
    expect(a.isOwner).toBe(true);
    expect(queue.streaming).toBe(true);
  });

  it('the rule lives in the handles: the queue core offers plain operations and only keeps the owner mark', async () => {
    const { queue, handle: a } = makeQueue();
    const b = new QueueHandle(queue);
    expect(a.reqbufs(2)).toBe(2);
    expect(queue.owner).toBe(a);
    // The driver side (and the camera layer) may act on the queue directly: no caller, no EBUSY.
    queue.qbuf(0);
    await queue.streamon();
    expect(queue.nextBuffer()?.index).toBe(0);
    await queue.streamoff();
    expect(queue.owner).toBe(a); // the core never changes the mark by itself…
    expectThrowsCode(() => b.qbuf(1), 'EBUSY'); // …and every other handle still meets it
    await a.close();
    expect(queue.owner).toBeNull();
    expect(queue.count).toBe(0);
    queue.assertInvariants();
  });
});
