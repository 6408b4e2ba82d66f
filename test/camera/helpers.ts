import { expect } from 'vitest';
import { isUvcError } from '../../src/errors.js';
import type { VideoBuffer } from '../../src/queue/index.js';
import { decodeFrameStamp } from '../../src/virtual-camera/index.js';

/** The frame number the virtual camera stamped into a YUYV buffer (null when unreadable). */
export function stampOf(buffer: VideoBuffer, width: number, height: number): number | null {
  return decodeFrameStamp({ data: buffer.memory.subarray(0, buffer.bytesused), width, height, format: 'yuyv' });
}

export async function expectCode(action: Promise<unknown> | (() => unknown), code: string): Promise<unknown> {
  try {
    await (typeof action === 'function' ? action() : action);
  } catch (error) {
    expect(isUvcError(error), `expected a UvcError ${code}, got ${String(error)}`).toBe(true);
    expect((error as { code: string }).code).toBe(code);
    return error;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

/** Resolves after one turn of the event loop (timers, I/O and immediates included). */
export function oneTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function small(width = 160, height = 120, fps = [30, 15]): { format: 'yuyv'; frames: Array<{ width: number; height: number; fps: number[] }> } {
  return { format: 'yuyv', frames: [{ width, height, fps }] };
}
