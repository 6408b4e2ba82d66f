/**
 * The user side of a BufferQueue: what `camera.queue` is, V4L2's file handle. Several handles may share one
 * queue (two Camera handles on one device); the one that allocates buffers with reqbufs(n > 0) owns the queue
 * until reqbufs(0) or close(), and every other handle gets EBUSY from reqbufs, qbuf, dqbuf, streamon and
 * streamoff meanwhile. querybuf() is open to all. The ownership rule lives here and only here, as vb2 keeps
 * vb2_queue_is_busy() in its file-handle helpers (videobuf2-v4l2.c) and the queue core never asks who calls.
 */
import { isUvcError, uvcError } from '../errors.js';
import type { BufferQueue, DqbufOptions, QbufOptions } from './buffer-queue.js';
import type { VideoBuffer } from './video-buffer.js';

/** Options of QueueHandle.frames(). */
export interface FramesOptions {
  /** Ends the loop (without an error) when it aborts. */
  signal?: AbortSignal;
  /** Queue each yielded buffer again on the next step. Default true. */
  requeue?: boolean;
  /** Fail with ETIMEDOUT when no buffer is done within this many ms of waiting. Default: wait while streaming. */
  timeoutMs?: number;
}

export class QueueHandle implements AsyncIterable<VideoBuffer> {
  private readonly queue: BufferQueue;
  private closed = false;

  /** @internal Camera hands out handles (`camera.queue`). */
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
    this.checkNotBusy();
    const allocated = this.queue.reqbufs(count);
    // vb2_ioctl_reqbufs: the handle that allocates owns the queue; freeing gives it up.
    this.queue.owner = allocated > 0 ? this : null;
    return allocated;
  }

  /** The buffer at `index` (EINVAL if there is none). The object is live: its fields follow the buffer. */
  querybuf(index: number): VideoBuffer {
    this.checkOpen();
    return this.queue.querybuf(index);
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
    this.checkNotBusy();
    return this.queue.qbuf(index, options);
  }

  /**
   * The oldest filled buffer (good or flagged `error`), now 'dequeued' and yours. Waits while streaming.
   * Rejects with EINVAL when not streaming or when streamoff() ends the wait, EAGAIN for a nonblocking call with
   * nothing ready, ETIMEDOUT after `timeoutMs`, ECANCELED when `signal` aborts, and after a disconnect returns the
   * buffers still done, then ENXIO at once.
   */
  dqbuf(options?: DqbufOptions): Promise<VideoBuffer> {
    const refused = this.refusal();
    return refused ?? this.queue.dqbuf(options);
  }

  /**
   * Starts streaming (the driver's startStreaming hook). EINVAL without buffers, ENXIO after a disconnect, and the
   * hook's own error if it fails (the buffers stay queued). Calling it while streaming is a no-op.
   */
  streamon(): Promise<void> {
    const refused = this.refusal();
    return refused ?? this.queue.streamon();
  }

  /**
   * Stops streaming: wakes every waiting dqbuf with EINVAL and returns every buffer to 'dequeued' before it
   * returns; the promise resolves once the driver has stopped. Works after a disconnect. Repeating it is harmless.
   */
  streamoff(): Promise<void> {
    const refused = this.refusal();
    return refused ?? this.queue.streamoff();
  }

  /** `for await (const buffer of handle)`: the same as `for await (const buffer of handle.frames())`. */
  [Symbol.asyncIterator](): AsyncIterator<VideoBuffer> {
    return this.frames();
  }

  /**
   * The consumer loop: `for await (const buffer of handle.frames({ signal }))` dequeues the filled buffers in
   * order (good ones and ones flagged `error`). Streaming must be on when the loop starts (EINVAL otherwise).
   *
   * What ends it is decided here, once, for every loop:
   * - streamoff() (or close()): the loop ends. Buffers that were done are returned to you by streamoff, not yielded.
   * - `signal` aborts: the loop ends before it takes another buffer; a wait in progress ends at once.
   * - the camera is unplugged: the buffers still done come first (the frames completed before the unplug, then the
   *   buffers it returned unfilled: `flags.error`, `bytesused` 0, `sequence` -1), then the loop throws ENXIO.
   * - anything else throws: EIO when the stream failed (a transfer that keeps failing), ETIMEDOUT when no buffer
   *   was done within `timeoutMs`, EBUSY/EBADF when this handle lost the queue or was closed.
   *
   * With `requeue` (the default) each step first queues the buffer the previous step yielded, unless you queued it
   * yourself or streaming has stopped. Leaving the loop early (break, return, throw) leaves the buffer you hold
   * with you. With `requeue: false` every buffer is yours until you qbuf() it.
   */
  frames(options: FramesOptions = {}): AsyncIterableIterator<VideoBuffer> {
    const { signal, timeoutMs, requeue = true } = options;
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      throw uvcError('EINVAL', `timeoutMs must be a non-negative number, got ${timeoutMs}`);
    }
    return this.consume(signal, timeoutMs, requeue);
  }

  /** Streams off and frees the buffers if this handle owns them; afterwards every call fails with EBADF. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.queue.owner !== this) return;
    // vb2_fop_release: the owner's close streams off, frees the buffers and gives up the queue.
    const stopped = this.queue.release();
    this.queue.owner = null;
    await stopped;
  }

  private async *consume(signal: AbortSignal | undefined, timeoutMs: number | undefined, requeue: boolean): AsyncGenerator<VideoBuffer, void, undefined> {
    this.checkOpen();
    if (!this.queue.streaming && !this.queue.disconnected && this.queue.doneCount === 0) {
      throw uvcError('EINVAL', 'not streaming: call streamon() before iterating');
    }
    const dqbufOptions: DqbufOptions = {};
    if (signal !== undefined) dqbufOptions.signal = signal;
    if (timeoutMs !== undefined) dqbufOptions.timeoutMs = timeoutMs;
    // A function, so that the compiler does not assume the signal cannot change across the await.
    const aborted = (): boolean => signal?.aborted === true;
    let previous: VideoBuffer | null = null;
    for (;;) {
      if (previous !== null) {
        if (requeue) this.requeue(previous);
        previous = null;
      }
      if (aborted()) return;
      let buffer: VideoBuffer;
      try {
        buffer = await this.dqbuf(dqbufOptions);
      } catch (error) {
        if (aborted() && isUvcError(error, 'ECANCELED')) return;
        // EINVAL from a wait means streaming was turned off (a disconnect answers ENXIO instead).
        if (isUvcError(error, 'EINVAL') && !this.queue.disconnected) return;
        throw error;
      }
      previous = buffer;
      yield buffer;
    }
  }

  /** Gives a yielded buffer back to the driver, if it is still the user's and streaming goes on. */
  private requeue(buffer: VideoBuffer): void {
    if (buffer.state !== 'dequeued' || !this.queue.streaming || !this.isOwner) return;
    if (this.queue.buffers()[buffer.index] !== buffer) return; // a buffer of a freed pool
    this.queue.qbuf(buffer.index);
  }

  private checkOpen(): void {
    if (this.closed) throw uvcError('EBADF', 'the queue handle is closed');
  }

  /** vb2_queue_is_busy(): another handle owns the queue. */
  private checkNotBusy(): void {
    const owner = this.queue.owner;
    if (owner !== null && owner !== this) throw uvcError('EBUSY', 'another handle owns this queue');
  }

  /** The checks of the asynchronous calls, as a rejected promise (null when the call may go on). */
  private refusal(): Promise<never> | null {
    try {
      this.checkOpen();
      this.checkNotBusy();
      return null;
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
