/**
 * Reads a file of raw YUYV frames (as a capture program wrote it) frame by frame and keeps only what each
 * frame's stamp says (the virtual camera's frame number, painted in the picture): which frame numbers arrived
 * and how many were skipped between them. Streamed: 500 VGA frames (300 MB) pass through one frame's buffer.
 *
 * A driver may write its frames in another order than its own: uvcvideo copies each URB's payloads on an unbound
 * workqueue (several at once) and a buffer is done when its last copy is, so under load a frame can be dequeued
 * before the one before it. Given the driver's sequence number of each frame in the file (v4l2-ctl's dqbuf lines:
 * `writtenSequences`), the stamps are judged in that order.
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
  /** Frames the driver wrote out of its own sequence order (0 when judged in file order). */
  reordered: number;
  /** No sequence numbers were given, or not one per frame: the stamps were judged in file order. */
  judgedInFileOrder: boolean;
}

export interface StampCountOptions {
  /** The driver's sequence number of each frame in the file, in file order; judged in file order without it. */
  sequences?: readonly number[];
}

export async function countStamps(path: string, width: number, height: number, options: StampCountOptions = {}): Promise<StampCount> {
  const stamps = await readStamps(path, width, height);
  const count: StampCount = { frames: stamps.length, unreadable: 0, first: null, last: null, skipped: 0, backwards: 0, reordered: 0, judgedInFileOrder: true };
  const sequences = options.sequences;
  let order = stamps.map((_, i) => i);
  if (sequences !== undefined && sequences.length === stamps.length) {
    order = order.sort((a, b) => sequences[a]! - sequences[b]!);
    count.reordered = order.filter((k, i) => k !== i).length;
    count.judgedInFileOrder = false;
  }
  for (const k of order) {
    const stamp = stamps[k]!;
    if (stamp === null) {
      count.unreadable++;
      continue;
    }
    if (count.last !== null) {
      if (stamp > count.last) count.skipped += stamp - count.last - 1;
      else count.backwards++;
    }
    count.first ??= stamp;
    count.last = stamp;
  }
  return count;
}

/** Each frame's stamp, in file order (null: unreadable). */
function readStamps(path: string, width: number, height: number): Promise<(number | null)[]> {
  const size = width * height * 2;
  const frame = Buffer.alloc(size);
  let fill = 0;
  const stamps: (number | null)[] = [];
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
          stamps.push(decodeFrameStamp({ data: frame, width, height, format: 'yuyv' }));
          fill = 0;
        }
      }
    });
    input.on('error', reject);
    input.on('end', () => resolve(stamps));
  });
}
