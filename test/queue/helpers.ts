import { BufferQueue, type QueueDriver } from '../../src/queue/buffer-queue.js';
import { QueueHandle } from '../../src/queue/queue-handle.js';
import { isUvcError, type UvcErrorCode } from '../../src/errors.js';
import { expect } from 'vitest';

/** A promise with its resolve/reject exposed. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A driver whose hooks are counted and, on request, held open until the test lets them finish. */
export class ControlledDriver implements QueueDriver {
  starts = 0;
  stops = 0;
  holdStart: Deferred<void> | null = null;
  holdStop: Deferred<void> | null = null;
  failStart: unknown = null;
  /** Called inside startStreaming, e.g. to take buffers while starting. */
  onStart: ((queue: BufferQueue) => void) | null = null;

  async startStreaming(queue: BufferQueue): Promise<void> {
    this.starts++;
    this.onStart?.(queue);
    if (this.holdStart !== null) await this.holdStart.promise;
    if (this.failStart !== null) throw this.failStart;
  }

  async stopStreaming(): Promise<void> {
    this.stops++;
    if (this.holdStop !== null) await this.holdStop.promise;
  }
}

export function makeQueue(options: { bufferSize?: number; driver?: QueueDriver } = {}): {
  queue: BufferQueue;
  handle: QueueHandle;
  driver: ControlledDriver;
} {
  const driver = new ControlledDriver();
  const queue = new BufferQueue({ bufferSize: options.bufferSize ?? 1024, driver: options.driver ?? driver });
  return { queue, handle: new QueueHandle(queue), driver };
}

/** Asserts that `action` throws (synchronously) a UvcError with `code`. */
export function expectThrowsCode(action: () => unknown, code: UvcErrorCode): void {
  let thrown: unknown;
  try {
    action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected ${code}`).toBeDefined();
  expect(isUvcError(thrown, code), `expected ${code}, got ${String(thrown)}`).toBe(true);
}

/** Asserts that a promise rejects with a UvcError with `code`; returns the error. */
export async function expectRejectsCode(promise: Promise<unknown>, code: UvcErrorCode): Promise<Error> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected ${code}`).toBeDefined();
  expect(isUvcError(thrown, code), `expected ${code}, got ${String(thrown)}`).toBe(true);
  return thrown as Error;
}

/** Settles a promise's state without waiting: 'pending', 'fulfilled' or 'rejected' after the current microtasks. */
export async function promiseState(promise: Promise<unknown>): Promise<'pending' | 'fulfilled' | 'rejected'> {
  let state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  promise.then(
    () => {
      state = 'fulfilled';
    },
    () => {
      state = 'rejected';
    },
  );
  await new Promise<void>((resolve) => setImmediate(resolve));
  return state;
}

/** Lets every pending microtask and one macrotask run. */
export function tick(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
