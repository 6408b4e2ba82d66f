/**
 * Reads a file of raw YUYV frames (as a capture program wrote it) frame by frame and keeps only what each
 * frame's stamp says (the virtual camera's frame number, painted in the picture): which frame numbers arrived
 * and how many were skipped between them. Streamed: 500 VGA frames (300 MB) pass through one frame's buffer.
 */
import { createReadStream } from 'node:fs';
import { decodeFrameStamp } from '../../../src/virtual-camera/index.js';

export interface StampCount {
  frames: number;
  /** Frames whose stamp could not be read (0 for a whole picture). */
  unreadable: number;
  first: number | null;
  last: number | null;
  /** Frame numbers missing between the first and the last one received. */
  skipped: number;
  /** Stamps that did not increase (a repeat or a step back): a delivered frame in the wrong place. */
  backwards: number;
}

export function countStamps(path: string, width: number, height: number): Promise<StampCount> {
  const size = width * height * 2;
  const frame = Buffer.alloc(size);
  let fill = 0;
  const count: StampCount = { frames: 0, unreadable: 0, first: null, last: null, skipped: 0, backwards: 0 };
  const onFrame = (): void => {
    count.frames++;
    const stamp = decodeFrameStamp({ data: frame, width, height, format: 'yuyv' });
    if (stamp === null) {
      count.unreadable++;
      return;
    }
    if (count.last !== null) {
      if (stamp > count.last) count.skipped += stamp - count.last - 1;
      else count.backwards++;
    }
    count.first ??= stamp;
    count.last = stamp;
  };
  return new Promise((resolve, reject) => {
    const input = createReadStream(path, { highWaterMark: 1 << 20 });
    input.on('data', (chunk) => {
      const c = chunk as Buffer;
      let at = 0;
      while (at < c.length) {
        const take = Math.min(size - fill, c.length - at);
        c.copy(frame, fill, at, at + take);
        fill += take;
        at += take;
        if (fill === size) {
          onFrame();
          fill = 0;
        }
      }
    });
    input.on('error', reject);
    input.on('end', () => resolve(count));
  });
}
