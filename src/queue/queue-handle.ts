/**
 * The user side of a BufferQueue: what `camera.queue` is. Several handles may share one queue (two Camera
 * handles on one device); like a V4L2 file handle, the one that allocates buffers with reqbufs(n > 0) owns the
 * queue until reqbufs(0) or close(), and every other handle gets EBUSY from reqbufs, qbuf, dqbuf, streamon and
 * streamoff meanwhile. querybuf() is open to all (vb2 does the same).
 */
import { isUvcError, uvcError } from '../errors.js';
import type { BufferQueue, DqbufOptions, QbufOptions } from './buffer-queue.js';
import type { VideoBuffer } from './video-buffer.js';

export class QueueHandle implements AsyncIterable<VideoBuffer> {
  private readonly queue: BufferQueue;
  private closed = false;

  /** @internal Use BufferQueue.open(). */
  constructor(queue: BufferQueue) {
    this.queue = queue;
  }

  /** True while this handle owns the queue's buffers. */
  get isOwner(): boolean {
    return this.queue.owner === this;
  }
  get isClosed(): boolean {
    return this.closed;
  }
  get streaming(): boolean {
    return this.queue.streaming;
  }
  get disconnected(): boolean {
    return this.queue.disconnected;
  }
  /** Buffers in the pool. */
  get count(): number {
    return this.queue.count;
  }
  /** Bytes per buffer (the committed dwMaxVideoFrameSize). */
  get bufferSize(): number {
    return this.queue.bufferSize;
  }

  /**
   * Frees the pool and allocates `count` buffers of bufferSize bytes (at most 32; returns how many). reqbufs(0)
   * frees and gives up ownership. EBUSY while streaming or while another handle owns the queue; ENXIO for
   * count > 0 after a disconnect; EINVAL for a bad count or an unknown size. Buffers of a freed pool keep their
   * memory (JavaScript cannot unmap it) but belong to nothing: queue operations reject them.
   */
  reqbufs(count: number): number {
    this.checkOpen();
    return this.queue._reqbufs(this, count);
  }

  /** The buffer at `index` (EINVAL if there is none). The object is live: its fields follow the buffer. */
  querybuf(index: number): VideoBuffer {
    this.checkOpen();
    return this.queue._querybuf(index);
  }

  /**
   * Queues a dequeued buffer to be filled. Synchronous: when it returns, the buffer is queued. EINVAL for a bad
   * index or a buffer that is not 'dequeued'; ENXIO after a disconnect (nothing is queued); EBUSY for a handle
   * that does not own the queue. With `{ outFence: true }` it returns a Promise for the filled buffer (see
   * QbufOptions).
   */
  qbuf(index: number, options?: { outFence?: false }): undefined;
  qbuf(index: number, options: { outFence: true }): Promise<VideoBuffer>;
  qbuf(index: number, options?: QbufOptions): Promise<VideoBuffer> | undefined;
  qbuf(index: number, options?: QbufOptions): Promise<VideoBuffer> | undefined {
    this.checkOpen();
    return this.queue._qbuf(this, index, options);
  }

  /**
   * The oldest filled buffer (good or flagged `error`), now 'dequeued' and yours. Waits while streaming.
   * Rejects with EINVAL when not streaming or when streamoff() ends the wait, EAGAIN for a nonblocking call with
   * nothing ready, ETIMEDOUT after `timeoutMs`, ECANCELED when `signal` aborts, and after a disconnect returns the
   * buffers still done, then ENXIO at once.
   */
  dqbuf(options?: DqbufOptions): Promise<VideoBuffer> {
    if (this.closed) return Promise.reject(uvcError('EBADF', 'the queue handle is closed'));
    return this.queue._dqbuf(this, options);
  }

  /**
   * Starts streaming (the driver's startStreaming hook). EINVAL without buffers, ENXIO after a disconnect, and the
   * hook's own error if it fails (the buffers stay queued). Calling it while streaming is a no-op.
   */
  streamon(): Promise<void> {
    if (this.closed) return Promise.reject(uvcError('EBADF', 'the queue handle is closed'));
    return this.queue._streamon(this);
  }

  /**
   * Stops streaming: wakes every waiting dqbuf with EINVAL and returns every buffer to 'dequeued' before it
   * returns; the promise resolves once the driver has stopped. Works after a disconnect. Repeating it is harmless.
   */
  streamoff(): Promise<void> {
    if (this.closed) return Promise.reject(uvcError('EBADF', 'the queue handle is closed'));
    return this.queue._streamoff(this);
  }

  /**
   * `for await (const buffer of handle)`: dequeues buffers in order; each step first queues the buffer the
   * previous step yielded (unless you queued it yourself). Ends when streaming is turned off; throws ENXIO after
   * a disconnect (after the buffers still done). Leaving the loop early leaves the last buffer with you.
   * Streaming must be on when the loop starts (EINVAL otherwise).
   */
  [Symbol.asyncIterator](): AsyncIterator<VideoBuffer> {
    return this.frames();
  }

  /** Streams off and frees the buffers if this handle owns them; afterwards every call fails with EBADF. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue._release(this);
  }

  private async *frames(): AsyncGenerator<VideoBuffer, void, undefined> {
    this.checkOpen();
    if (!this.queue.streaming && !this.queue.disconnected && this.queue.doneCount === 0) {
      throw uvcError('EINVAL', 'not streaming: call streamon() before iterating');
    }
    let previous: VideoBuffer | null = null;
    for (;;) {
      if (previous !== null && previous.state === 'dequeued' && this.queue.streaming && this.isOwner) {
        const current = this.queue.buffers()[previous.index];
        if (current === previous) this.queue._qbuf(this, previous.index, undefined);
      }
      previous = null;
      let buffer: VideoBuffer;
      try {
        buffer = await this.dqbuf();
      } catch (error) {
        if (isUvcError(error, 'EINVAL') && !this.queue.disconnected) return;
        throw error;
      }
      previous = buffer;
      yield buffer;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw uvcError('EBADF', 'the queue handle is closed');
  }
}
