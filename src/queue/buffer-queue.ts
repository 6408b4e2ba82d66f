/**
 * A buffer queue with the contract of Linux videobuf2 (vb2), for one video stream.
 *
 * Two sides use it. The user side allocates a pool of buffers, queues them, dequeues filled ones, and turns
 * streaming on and off: plain operations, like vb2_core_reqbufs/qbuf/dqbuf/streamon/streamoff. Who may call them
 * is not decided here but in the file-handle layer (QueueHandle, see queue-handle.ts), as vb2 does it in
 * vb2_queue_is_busy(); the queue only keeps the mark of which handle owns it (`owner`, vb2's q->owner). The
 * driver side (the VideoStream and the camera that owns it) takes queued buffers with nextBuffer(), fills them
 * and hands them back with completeBuffer(); the queue calls the driver's startStreaming()/stopStreaming() hooks
 * like vb2's start_streaming/stop_streaming.
 *
 * Every buffer is in exactly one place at any moment: with the user ('dequeued'), in the queued list ('queued'),
 * held by the driver ('active'), or in the done list ('done'/'error'). Every state change happens inside one
 * synchronous method, so no promise continuation ever sees a half-made change; checkInvariants() proves it.
 */
import { UvcError, uvcError } from '../errors.js';
import { VideoBuffer, bufferFlags, type BufferPoolTag, type Fence } from './video-buffer.js';

/** The driver side hooks, vb2's start_streaming/stop_streaming. */
export interface QueueDriver {
  /**
   * Start filling buffers (take them with queue.nextBuffer()). If it rejects, the buffers it took go back to
   * 'queued' and streamon() rejects with that error.
   */
  startStreaming(queue: BufferQueue): Promise<void>;
  /** Stop filling buffers; no buffer is touched after it resolves. Errors are reported, not thrown to the user. */
  stopStreaming(queue: BufferQueue): Promise<void>;
}

export interface BufferQueueOptions {
  /** Bytes per buffer: the committed dwMaxVideoFrameSize. May be set later with setBufferSize(). */
  bufferSize?: number;
  /** Most buffers reqbufs() allocates (vb2 clamps the count the same way). Default 32. */
  maxBuffers?: number;
  driver?: QueueDriver;
  /** Called with errors that have no caller to go to (a failing stopStreaming hook). */
  onDriverError?: (error: UvcError) => void;
}

/** What the driver reports with a finished frame. */
export interface CompletedFrame {
  bytesused: number;
  error?: boolean;
  /** CLOCK_MONOTONIC ns. */
  timestamp: number;
  sequence: number;
  keyframe?: boolean;
}

export interface DqbufOptions {
  /** Fail with EAGAIN instead of waiting when no buffer is done. */
  nonblock?: boolean;
  /** Fail with ETIMEDOUT after this many milliseconds; absent: wait as long as streaming lasts. */
  timeoutMs?: number;
  /** Abort the wait (ECANCELED, with the signal's reason as cause). */
  signal?: AbortSignal;
}

export interface QbufOptions {
  /**
   * Return a Promise that resolves with the buffer when it is done, and rejects with a UvcError (EIO when the
   * frame completed in error, ECANCELED when the buffer was taken back by streamoff/reqbufs, ENXIO on
   * disconnect) whose `details.buffer` is the buffer. An unobserved rejection is never reported as unhandled.
   */
  outFence?: boolean;
}

/** The driver side's view of streaming: vb2's start_streaming_called, plus the transitions. */
export type DriverPhase = 'idle' | 'starting' | 'started' | 'stopping';

interface Waiter {
  resolve(buffer: VideoBuffer): void;
  reject(error: UvcError): void;
}

const DEFAULT_MAX_BUFFERS = 32;
const noop = (): void => {};

const timedOut = (timeoutMs: number): UvcError => uvcError('ETIMEDOUT', `no buffer was done within ${timeoutMs} ms`);

/** The kept dqbuf timer's state: the wait that owns it (none: null) and its length. */
interface KeptTimeout {
  owner: Waiter | null;
  ms: number;
}

/** The kept dqbuf timer's callback: it holds this record, never the queue itself (see BufferQueue.kept). */
function keptTimeoutRanOut(kept: KeptTimeout): void {
  kept.owner?.reject(timedOut(kept.ms));
}

/** A buffer going back into the queue forgets its previous frame. */
function forgetFrame(buffer: VideoBuffer): void {
  buffer._bytesused = 0;
  buffer._flags = bufferFlags(false, false);
}

function toUvcError(error: unknown, fallback: string): UvcError {
  if (error instanceof UvcError) return error;
  return new UvcError('EIO', `${fallback}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

export class BufferQueue {
  private driver: QueueDriver | null;
  private size: number;
  private readonly maxBuffers: number;
  private readonly onDriverError: ((error: UvcError) => void) | undefined;

  private pool: VideoBuffer[] = [];
  private poolTag: BufferPoolTag = { generation: 0 };
  private readonly queued: VideoBuffer[] = [];
  private readonly active: VideoBuffer[] = [];
  private readonly done: VideoBuffer[] = [];
  private readonly waiters: Waiter[] = [];
  /**
   * dqbuf's timeout, kept: a streaming loop calls dqbuf once per frame with the same timeoutMs, and a new Node
   * timer per call makes and drops a timer list each frame (an allocation, a priority-queue insert and removal,
   * libuv's timer restarted). One timed wait at a time owns this one, restarted with refresh(); while none does it
   * is unref'd (it keeps no process alive, and if it fires it finds no owner). Another timed wait meanwhile, or one
   * of another length, gets a timer of its own as before.
   */
  private timeoutTimer: ReturnType<typeof setTimeout> | null = null;
  /**
   * What the kept timer's callback reaches: the owning wait (and through it the queue) while a wait owns the
   * timer, nothing while none does. An armed timer is held by Node's timer list even when unref'd, so a callback
   * that held the queue would keep the queue, its camera and the addon's device alive after close() until the
   * timer ran out.
   */
  private readonly kept: KeptTimeout = { owner: null, ms: -1 };

  /** What the user asked for: true from streamon() until streamoff(), a failed start, or a disconnect. */
  private userStreaming = false;
  private driverPhase: DriverPhase = 'idle';
  private isDisconnected = false;
  /** Set by fail() (vb2's q->error): what every wait and qbuf answers until streamoff. */
  private failure: UvcError | null = null;
  /** Bumped by every streamon, streamoff and disconnect, so a late hook result knows it was overtaken. */
  private generation = 0;
  /** Driver hook calls run one after the other, like vb2's ioctls under the queue lock. */
  private chain: Promise<void> = Promise.resolve();
  private pendingStart: Promise<void> | null = null;

  constructor(options: BufferQueueOptions = {}) {
    this.driver = options.driver ?? null;
    this.size = 0;
    this.maxBuffers = options.maxBuffers ?? DEFAULT_MAX_BUFFERS;
    if (!Number.isInteger(this.maxBuffers) || this.maxBuffers < 1) {
      throw uvcError('EINVAL', `maxBuffers must be a positive integer, got ${options.maxBuffers}`);
    }
    this.onDriverError = options.onDriverError;
    if (options.bufferSize !== undefined) this.setBufferSize(options.bufferSize);
  }

  // ---------------------------------------------------------------- configuration (the owner: camera layer)

  /** Bytes per buffer. */
  get bufferSize(): number {
    return this.size;
  }

  /** Sets the size of the buffers reqbufs() will allocate. EBUSY while buffers are allocated (vb2's S_FMT rule). */
  setBufferSize(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes <= 0) throw uvcError('EINVAL', `buffer size must be a positive integer, got ${bytes}`);
    if (this.pool.length > 0) throw uvcError('EBUSY', 'buffers are allocated: free them with reqbufs(0) first');
    this.size = bytes;
  }

  /** Attaches the driver hooks. EBUSY while streaming. */
  setDriver(driver: QueueDriver | null): void {
    if (this.userStreaming || this.driverPhase !== 'idle') throw uvcError('EBUSY', 'cannot change the driver while streaming');
    this.driver = driver;
  }

  /**
   * Which user-side handle owns the buffers (vb2's q->owner), or null. Only the file-handle layer (QueueHandle)
   * reads and writes it: it sets it when its reqbufs allocates and clears it when it frees. The queue's own
   * operations never look at it.
   */
  owner: object | null = null;

  /** Number of buffers in the pool. */
  get count(): number {
    return this.pool.length;
  }
  /** True from streamon() until streamoff(), a failed start, or a disconnect. */
  get streaming(): boolean {
    return this.userStreaming;
  }
  get disconnected(): boolean {
    return this.isDisconnected;
  }
  /** The error the stream failed with (fail()), until streamoff; null while all is well. */
  get error(): UvcError | null {
    return this.failure;
  }
  get phase(): DriverPhase {
    return this.driverPhase;
  }
  get queuedCount(): number {
    return this.queued.length;
  }
  get activeCount(): number {
    return this.active.length;
  }
  get doneCount(): number {
    return this.done.length;
  }
  get waiterCount(): number {
    return this.waiters.length;
  }
  /** The pool, in index order. */
  buffers(): readonly VideoBuffer[] {
    return this.pool;
  }

  // ---------------------------------------------------------------- user side (QueueHandle checks who calls)

  /**
   * Frees the pool and allocates `count` buffers of bufferSize bytes (at most maxBuffers; returns how many);
   * reqbufs(0) only frees. EBUSY while streaming, ENXIO for count > 0 after a disconnect, EINVAL for a bad count
   * or an unknown size, ENOMEM when the memory cannot be had.
   */
  reqbufs(count: number): number {
    if (!Number.isInteger(count) || count < 0) throw uvcError('EINVAL', `buffer count must be a non-negative integer, got ${count}`);
    if (this.userStreaming) throw uvcError('EBUSY', 'cannot change buffers while streaming: call streamoff() first');
    if (count === 0) {
      this.freePool();
      return 0;
    }
    if (this.isDisconnected) throw uvcError('ENXIO', 'the device is gone');
    if (this.size <= 0) throw uvcError('EINVAL', 'the buffer size is not known yet: set a format first');
    const wanted = Math.min(count, this.maxBuffers);
    this.freePool();
    const tag: BufferPoolTag = { generation: this.poolTag.generation + 1 };
    const buffers: VideoBuffer[] = [];
    try {
      for (let i = 0; i < wanted; i++) buffers.push(new VideoBuffer(i, new Uint8Array(this.size), tag));
    } catch (error) {
      throw new UvcError('ENOMEM', `cannot allocate ${wanted} buffers of ${this.size} bytes`, { cause: error });
    }
    this.poolTag = tag;
    this.pool = buffers;
    return wanted;
  }

  /** The buffer at `index` (EINVAL if there is none). */
  querybuf(index: number): VideoBuffer {
    return this.bufferAt(index);
  }

  /** Queues a dequeued buffer (see QueueHandle.qbuf). */
  qbuf(index: number, options?: QbufOptions): Promise<VideoBuffer> | undefined {
    if (this.isDisconnected) throw uvcError('ENXIO', 'the device is gone');
    if (this.failure !== null) throw this.failureError();
    const buffer = this.bufferAt(index);
    if (buffer._state !== 'dequeued') {
      throw uvcError('EINVAL', `buffer ${index} is ${buffer._state}, only a dequeued buffer can be queued`, { index });
    }
    let fencePromise: Promise<VideoBuffer> | undefined;
    if (options?.outFence === true) {
      let fence!: Fence;
      fencePromise = new Promise<VideoBuffer>((resolve, reject) => {
        fence = { resolve, reject };
      });
      // Marks the fence as handled: a fence nobody awaits must not become an unhandled rejection.
      fencePromise.catch(noop);
      buffer._fence = fence;
    }
    forgetFrame(buffer);
    buffer._state = 'queued';
    this.queued.push(buffer);
    return fencePromise;
  }

  /** The oldest done buffer, or a wait for one (see QueueHandle.dqbuf). */
  dqbuf(options?: DqbufOptions): Promise<VideoBuffer> {
    const ready = this.done.shift();
    if (ready !== undefined) {
      ready._state = 'dequeued';
      return Promise.resolve(ready);
    }
    if (this.isDisconnected) return Promise.reject(uvcError('ENXIO', 'the device is gone'));
    if (!this.userStreaming) return Promise.reject(uvcError('EINVAL', 'not streaming'));
    if (this.failure !== null) return Promise.reject(this.failureError());
    if (options?.nonblock === true) return Promise.reject(uvcError('EAGAIN', 'no buffer is ready'));
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      return Promise.reject(uvcError('EINVAL', `timeoutMs must be a non-negative number, got ${timeoutMs}`));
    }
    const signal = options?.signal;
    if (signal?.aborted === true) {
      return Promise.reject(new UvcError('ECANCELED', 'dqbuf aborted', { cause: signal.reason }));
    }
    return this.wait(timeoutMs, signal);
  }

  /** Starts streaming: the driver's startStreaming hook (see QueueHandle.streamon). */
  streamon(): Promise<void> {
    try {
      if (this.isDisconnected) throw uvcError('ENXIO', 'the device is gone');
      if (this.pool.length === 0) throw uvcError('EINVAL', 'no buffers: call reqbufs() first');
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.userStreaming) return this.pendingStart ?? Promise.resolve();
    this.userStreaming = true;
    const generation = ++this.generation;
    const start = this.runExclusive(() => this.startDriver(generation));
    this.pendingStart = start;
    const clear = (): void => {
      if (this.pendingStart === start) this.pendingStart = null;
    };
    start.then(clear, clear);
    return start;
  }

  /** Stops streaming and returns every buffer to the user (see QueueHandle.streamoff). */
  streamoff(): Promise<void> {
    // vb2 returns the buffers even when streaming never started: queued buffers come back to the user.
    this.generation++;
    this.userStreaming = false;
    this.pendingStart = null;
    this.failure = null;
    this.wakeWaiters(() => uvcError('EINVAL', 'streaming was turned off'));
    this.returnAllToUser();
    return this.runExclusive(() => this.stopDriver());
  }

  /** Streams off and frees the pool (vb2_queue_release, for a closing owner); resolves once the driver stopped. */
  release(): Promise<void> {
    const stopped = this.streamoff();
    this.freePool();
    return stopped;
  }

  // ---------------------------------------------------------------- driver side

  /**
   * Takes the oldest queued buffer and marks it active, or returns null (nothing queued, not streaming,
   * disconnected). The driver writes into `buffer.memory` and hands it back with completeBuffer().
   */
  nextBuffer(): VideoBuffer | null {
    if (!this.userStreaming || this.isDisconnected || this.failure !== null) return null;
    if (this.driverPhase !== 'starting' && this.driverPhase !== 'started') return null;
    const buffer = this.queued.shift();
    if (buffer === undefined) return null;
    buffer._state = 'active';
    buffer._activation++;
    this.active.push(buffer);
    return buffer;
  }

  /** True while the buffer is still the driver's to write: active and not taken back since `activation`. */
  isActive(buffer: VideoBuffer, activation: number): boolean {
    return buffer._state === 'active' && buffer._activation === activation && buffer.pool === this.poolTag;
  }

  /**
   * Hands a filled buffer back. Returns false (and changes nothing) when the buffer is no longer active: it was
   * taken back by streamoff, cancelAll or disconnect.
   */
  completeBuffer(buffer: VideoBuffer, frame: CompletedFrame): boolean {
    if (!this.removeActive(buffer)) return false;
    const error = frame.error === true;
    buffer._bytesused = Math.max(0, Math.min(buffer.length, Math.trunc(frame.bytesused)));
    buffer._sequence = frame.sequence;
    buffer._timestamp = frame.timestamp;
    buffer._flags = bufferFlags(error, frame.keyframe === true);
    buffer._state = error ? 'error' : 'done';
    const fence = buffer._fence;
    buffer._fence = null;
    this.deliver(buffer);
    if (fence !== null) {
      if (error) fence.reject(new UvcError('EIO', `buffer ${buffer.index} completed in error`, { details: { buffer } }));
      else fence.resolve(buffer);
    }
    return true;
  }

  /** Gives an active buffer back unfilled, at the head of the queue (vb2_buffer_done with VB2_BUF_STATE_QUEUED). */
  requeueBuffer(buffer: VideoBuffer): boolean {
    if (!this.removeActive(buffer)) return false;
    buffer._state = 'queued';
    forgetFrame(buffer);
    this.queued.unshift(buffer);
    return true;
  }

  /**
   * Completes every queued and active buffer in error and wakes every waiter; streaming goes on and the user may
   * queue the buffers again (uvcvideo's queue cancel on a stream error).
   */
  cancelAll(): void {
    this.failPending('ECANCELED', 'the driver cancelled the buffer');
  }

  /**
   * The stream broke for good (vb2_queue_error): a transfer that keeps failing. Every waiting dqbuf rejects with
   * `error` (after the buffers still done), and so do later dqbuf and qbuf calls, until streamoff() clears it.
   * Queued and active buffers stay where they are; streamoff returns them. Ignored while not streaming.
   */
  fail(error: UvcError): void {
    if (!this.userStreaming || this.isDisconnected || this.failure !== null) return;
    this.failure = error;
    this.wakeWaiters(() => this.failureError());
  }

  /**
   * The device is gone. In one synchronous step: every queued and active buffer completes in error, every waiter
   * wakes, the queue is marked disconnected. After that qbuf and streamon fail with ENXIO, dqbuf returns the
   * buffers still done and then fails with ENXIO at once; reqbufs(0) and close still work. The driver's
   * stopStreaming hook is then called once (if it was started) so it can let go of the transport. Idempotent.
   */
  disconnect(): void {
    if (this.isDisconnected) return;
    this.isDisconnected = true;
    this.generation++;
    this.userStreaming = false;
    this.pendingStart = null;
    this.failPending('ENXIO', 'the device is gone');
    this.wakeWaiters(() => uvcError('ENXIO', 'the device is gone'));
    if (this.driverPhase === 'starting' || this.driverPhase === 'started') {
      this.runExclusive(() => this.stopDriver()).catch(noop);
    }
  }

  /** Every broken rule of the queue's bookkeeping; empty when all is well. */
  checkInvariants(): string[] {
    const problems: string[] = [];
    const seen = new Map<VideoBuffer, string>();
    const place = (list: readonly VideoBuffer[], name: string, states: readonly string[]): void => {
      for (const buffer of list) {
        if (buffer.pool !== this.poolTag) problems.push(`${name} holds buffer ${buffer.index} of a freed pool`);
        const where = seen.get(buffer);
        if (where !== undefined) problems.push(`buffer ${buffer.index} is in ${where} and in ${name}`);
        seen.set(buffer, name);
        if (!states.includes(buffer._state)) problems.push(`buffer ${buffer.index} in ${name} has state ${buffer._state}`);
      }
    };
    place(this.queued, 'queued', ['queued']);
    place(this.active, 'active', ['active']);
    place(this.done, 'done', ['done', 'error']);
    for (const buffer of this.pool) {
      if (buffer.pool !== this.poolTag) problems.push(`pool buffer ${buffer.index} has a stale pool tag`);
      if (this.pool[buffer.index] !== buffer) problems.push(`pool buffer ${buffer.index} is not at its index`);
      if (!seen.has(buffer) && buffer._state !== 'dequeued') {
        problems.push(`buffer ${buffer.index} is ${buffer._state} but in no list`);
      }
      const fenced = buffer._state === 'queued' || buffer._state === 'active';
      if (buffer._fence !== null && !fenced) problems.push(`buffer ${buffer.index} is ${buffer._state} with a pending fence`);
    }
    for (const buffer of seen.keys()) {
      if (!this.pool.includes(buffer)) problems.push(`a list holds buffer ${buffer.index} which is not in the pool`);
    }
    if (this.waiters.length > 0 && this.done.length > 0) problems.push('waiters wait while buffers are done');
    if (this.waiters.length > 0 && !this.userStreaming) problems.push('waiters wait while not streaming');
    if (this.waiters.length > 0 && this.failure !== null) problems.push('waiters wait on a failed stream');
    if (!this.userStreaming && this.active.length > 0) problems.push('buffers are active while not streaming');
    if (this.isDisconnected && (this.queued.length > 0 || this.active.length > 0)) {
      problems.push('buffers are queued or active after disconnect');
    }
    if (this.pool.length === 0 && this.owner !== null) problems.push('an owner holds no buffers');
    return problems;
  }

  /** Throws when checkInvariants() finds anything. */
  assertInvariants(): void {
    const problems = this.checkInvariants();
    if (problems.length > 0) throw new Error(`buffer queue invariants broken:\n  ${problems.join('\n  ')}`);
  }

  // ---------------------------------------------------------------- internals

  /** A fresh error each time, with the stream's failure as its cause (a rejection per caller). */
  private failureError(): UvcError {
    const failure = this.failure!;
    return new UvcError(failure.code, failure.message, { cause: failure });
  }

  private bufferAt(index: number): VideoBuffer {
    const buffer = Number.isInteger(index) ? this.pool[index] : undefined;
    if (buffer === undefined) {
      throw uvcError('EINVAL', `no buffer ${index}: the queue has ${this.pool.length}`, { index });
    }
    return buffer;
  }

  private wait(timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<VideoBuffer> {
    return new Promise<VideoBuffer>((resolve, reject) => {
      let disarm: (() => void) | undefined;
      const settle = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        disarm?.();
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        resolve: (buffer) => {
          settle();
          resolve(buffer);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      };
      const onAbort = (): void => waiter.reject(new UvcError('ECANCELED', 'dqbuf aborted', { cause: signal?.reason }));
      if (timeoutMs !== undefined) disarm = this.armTimeout(waiter, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Rejects `waiter` with ETIMEDOUT after `timeoutMs` unless the returned function is called first. */
  private armTimeout(waiter: Waiter, timeoutMs: number): () => void {
    const kept = this.kept;
    if (kept.owner !== null) {
      const timer = setTimeout(() => waiter.reject(timedOut(timeoutMs)), timeoutMs);
      return () => clearTimeout(timer);
    }
    if (this.timeoutTimer !== null && kept.ms === timeoutMs) {
      this.timeoutTimer.refresh(); // counts from now again (and runs again if it had fired)
      this.timeoutTimer.ref();
    } else {
      if (this.timeoutTimer !== null) clearTimeout(this.timeoutTimer);
      this.timeoutTimer = setTimeout(keptTimeoutRanOut, timeoutMs, kept);
      kept.ms = timeoutMs;
    }
    kept.owner = waiter;
    return () => {
      if (kept.owner !== waiter) return;
      kept.owner = null;
      this.timeoutTimer?.unref();
    };
  }

  /** A finished buffer goes to the longest waiting dqbuf, or to the done list. */
  private deliver(buffer: VideoBuffer): void {
    const waiter = this.waiters[0];
    if (waiter !== undefined) {
      buffer._state = 'dequeued';
      waiter.resolve(buffer);
    } else {
      this.done.push(buffer);
    }
  }

  private wakeWaiters(makeError: () => UvcError): void {
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0]!;
      const ready = this.done.shift();
      if (ready !== undefined) {
        ready._state = 'dequeued';
        waiter.resolve(ready);
      } else {
        waiter.reject(makeError());
      }
    }
  }

  /** Completes every active, then every queued buffer in error; the fences reject with `code`. */
  private failPending(code: 'ECANCELED' | 'ENXIO', message: string): void {
    const victims = this.active.splice(0, this.active.length);
    for (const buffer of this.queued.splice(0, this.queued.length)) victims.push(buffer);
    for (const buffer of victims) {
      // No frame: nothing was (completely) written, so no sequence number or time either.
      buffer._bytesused = 0;
      buffer._sequence = -1;
      buffer._timestamp = 0;
      buffer._flags = bufferFlags(true, false);
      buffer._state = 'error';
      const fence = buffer._fence;
      buffer._fence = null;
      this.deliver(buffer);
      fence?.reject(new UvcError(code, `buffer ${buffer.index}: ${message}`, { details: { buffer } }));
    }
  }

  /** Every buffer back to the user; fences of buffers still pending reject with ECANCELED. */
  private returnAllToUser(): void {
    const pending = this.active.splice(0, this.active.length);
    for (const buffer of this.queued.splice(0, this.queued.length)) pending.push(buffer);
    for (const buffer of pending) {
      buffer._state = 'dequeued';
      const fence = buffer._fence;
      buffer._fence = null;
      fence?.reject(new UvcError('ECANCELED', `buffer ${buffer.index} was returned by streamoff`, { details: { buffer } }));
    }
    for (const buffer of this.done.splice(0, this.done.length)) buffer._state = 'dequeued';
  }

  private freePool(): void {
    this.returnAllToUser();
    this.pool = [];
    this.poolTag = { generation: this.poolTag.generation + 1 };
  }

  private removeActive(buffer: VideoBuffer): boolean {
    if (buffer._state !== 'active' || buffer.pool !== this.poolTag) return false;
    const at = this.active.indexOf(buffer);
    if (at < 0) return false;
    // Swap-remove: no array is allocated per frame.
    const last = this.active.length - 1;
    this.active[at] = this.active[last]!;
    this.active.length = last;
    return true;
  }

  private runExclusive(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.then(noop, noop);
    return run;
  }

  private async startDriver(generation: number): Promise<void> {
    // Overtaken by a streamoff or a disconnect while an earlier hook was still running.
    if (generation !== this.generation) {
      if (this.isDisconnected) throw uvcError('ENXIO', 'the device went away while streaming was starting');
      return;
    }
    if (this.driverPhase === 'started') return;
    if (this.driver === null) {
      this.driverPhase = 'started';
      return;
    }
    this.driverPhase = 'starting';
    let failure: unknown;
    let failed = false;
    try {
      await this.driver.startStreaming(this);
    } catch (error) {
      failure = error;
      failed = true;
    }
    if (!failed) {
      this.driverPhase = 'started';
      // The stop that disconnect() scheduled runs next and lets the driver go.
      if (this.isDisconnected) throw uvcError('ENXIO', 'the device went away while streaming was starting');
      return;
    }
    this.driverPhase = 'idle';
    if (this.isDisconnected) {
      throw new UvcError('ENXIO', 'the device went away while streaming was starting', { cause: failure });
    }
    const reason = toUvcError(failure, 'startStreaming failed');
    if (generation === this.generation) {
      this.generation++;
      this.userStreaming = false;
      // The buffers the driver took go back to the head of the queue, in the order it took them.
      const taken = this.active.splice(0, this.active.length);
      for (let i = taken.length - 1; i >= 0; i--) {
        const buffer = taken[i]!;
        buffer._state = 'queued';
        forgetFrame(buffer);
        this.queued.unshift(buffer);
      }
      this.wakeWaiters(() => new UvcError('EINVAL', 'streaming failed to start', { cause: reason }));
    }
    throw reason;
  }

  private async stopDriver(): Promise<void> {
    if (this.driverPhase !== 'started') return;
    this.driverPhase = 'stopping';
    try {
      if (this.driver !== null) await this.driver.stopStreaming(this);
    } catch (error) {
      const reason = toUvcError(error, 'stopStreaming failed');
      if (this.onDriverError !== undefined) this.onDriverError(reason);
    } finally {
      this.driverPhase = 'idle';
    }
  }
}
