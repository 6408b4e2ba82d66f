/**
 * The fault matrix of issue 12: the whole stack (openCamera on the in-process host) against a virtual camera
 * committing one fault, scored against the camera's own record of what it sent (camera.sentFrames,
 * scoreCapture): whole frames flagged or lost by the driver, damaged frames it passed as good.
 *
 * Used by test/camera/fault-matrix.test.ts (which asserts) and bench/fault-matrix.ts (which writes the table to
 * test/camera/FAULT-MATRIX.md).
 */
import sharp from 'sharp';
import { openCamera } from '../../src/camera/index.js';
import type { AssemblerStats } from '../../src/stream/index.js';
import { decodeFrameStamp, scoreCapture, VirtualCamera, type CaptureScore, type FaultOptions, type ReceivedFrame } from '../../src/virtual-camera/index.js';

export const MATRIX_FAULTS = ['loss', 'silent-loss', 'err', 'no-eof', 'no-fid', 'short', 'overflow', 'jitter'] as const;
export type MatrixFault = (typeof MATRIX_FAULTS)[number];

export interface MatrixCell {
  fault: MatrixFault;
  transfer: 'iso' | 'bulk';
  format: 'yuyv' | 'mjpeg';
  pace: 'realtime' | 'fast';
}

/** What each fault is in virtual camera terms. */
export const FAULT_OPTIONS: Readonly<Record<MatrixFault, FaultOptions>> = {
  /** Packets spoiled on the bus: iso packets complete in error, bulk transfers fail (for bulk see BULK_LOSS). */
  loss: { packetLossRate: 0.002, packetLoss: 'error' },
  /** Iso packets that arrive empty with status OK: nothing but the frame's own bytes shows the loss. */
  'silent-loss': { packetLossRate: 0.002, packetLoss: 'missing' },
  err: { errorFrames: { every: 5, offset: 2 } },
  'no-eof': { missingEof: { every: 3, offset: 1 } },
  'no-fid': { fidNeverToggles: true },
  short: { shortFrames: { every: 5, offset: 3 } },
  overflow: { overflowFrames: { every: 7, offset: 4 } },
  /** Completions 0..150 ms late, in bursts, as over USB/IP: the host's clock sees gaps the device never had. */
  jitter: { completionJitterMs: 150 },
};

/** A bulk transfer of 64 max-size packets fails when one of them is spoiled: a lower rate per packet. */
export const BULK_LOSS: FaultOptions = { packetLossRate: 0.002, packetLoss: 'error' };

export const WIDTH = 160;
export const HEIGHT = 120;
const FRAME_CACHE = 96;

/** Every cell that exists (silent loss is an iso packet status; a bulk transfer fails or does not). */
export function matrixCells(): MatrixCell[] {
  const cells: MatrixCell[] = [];
  for (const fault of MATRIX_FAULTS) {
    for (const transfer of ['iso', 'bulk'] as const) {
      if (fault === 'silent-loss' && transfer === 'bulk') continue;
      for (const format of ['yuyv', 'mjpeg'] as const) {
        for (const pace of ['realtime', 'fast'] as const) cells.push({ fault, transfer, format, pace });
      }
    }
  }
  return cells;
}

export function cellName(cell: MatrixCell): string {
  return `${cell.fault} ${cell.transfer} ${cell.format} ${cell.pace}`;
}

export interface CellResult {
  cell: MatrixCell;
  /** Frames the driver delivered. */
  received: number;
  score: CaptureScore;
  /** Frames sent whole / damaged among those scored (received or lost). */
  whole: number;
  damaged: number;
  stats: AssemblerStats;
}

/** Runs one cell: `frames` frames delivered by the driver, then scored. */
export async function runCell(cell: MatrixCell, frames: number, seed = 1): Promise<CellResult> {
  const fast = cell.pace === 'fast';
  const vcam = new VirtualCamera({
    transfer: cell.transfer,
    pace: cell.pace,
    seed,
    // Fast pace runs far ahead of the consumer until streamoff: keep the truth for all of it.
    sentFramesLimit: 100_000,
    formats: [{ format: cell.format, frames: [{ width: WIDTH, height: HEIGHT, fps: [30] }] }],
    // Fast pace: encode a few JPEGs and cycle them (stamps repeat every FRAME_CACHE frames).
    ...(fast && cell.format === 'mjpeg' ? { frameCache: FRAME_CACHE } : {}),
    faults: cell.fault === 'loss' && cell.transfer === 'bulk' ? BULK_LOSS : FAULT_OPTIONS[cell.fault],
  });
  // Fast pace sends as fast as the host reads, and small frames come many to a transfer: a short time in flight
  // and many buffers keep a burst of completions from outrunning the consumer (a frame with no buffer queued is
  // lost, which is not what is tested here).
  const camera = await openCamera(vcam, fast ? { inFlightMs: 5 } : {});
  const copies: { data: Uint8Array; sequence: number; error: boolean; timestamp: number }[] = [];
  let stats: AssemblerStats;
  try {
    const queue = camera.queue;
    const count = queue.reqbufs(128);
    for (let i = 0; i < count; i++) queue.qbuf(i);
    await queue.streamon();
    while (copies.length < frames) {
      // Take every frame that is done, then queue the buffers again: one turn of the event loop may complete
      // many small frames.
      const done = [await queue.dqbuf()];
      for (;;) {
        try {
          done.push(await queue.dqbuf({ nonblock: true }));
        } catch {
          break;
        }
      }
      for (const buffer of done) {
        if (copies.length < frames) {
          copies.push({ data: buffer.memory.slice(0, buffer.bytesused), sequence: buffer.sequence, error: buffer.flags.error, timestamp: buffer.timestamp });
        }
        queue.qbuf(buffer.index);
      }
    }
    stats = { ...camera.stats.assembly! };
    await queue.streamoff();
  } finally {
    await camera.close();
  }
  const received: ReceivedFrame[] = [];
  for (const copy of copies) {
    received.push({ stamp: await stampOf(cell.format, copy.data), sequence: copy.sequence, error: copy.error, timestamp: copy.timestamp });
  }
  const score = scoreCapture(vcam.sentFrames, received, fast && cell.format === 'mjpeg' ? { frameCache: FRAME_CACHE } : {});
  return {
    cell,
    received: received.length,
    score,
    whole: score.trueNegatives + score.falsePositives + score.wholeLost,
    damaged: score.truePositives + score.falseNegatives + (score.lost - score.wholeLost),
    stats,
  };
}

/** The stamp in a delivered frame, or null when it cannot be read (a damaged frame, say). */
async function stampOf(format: 'yuyv' | 'mjpeg', data: Uint8Array): Promise<number | null> {
  if (format === 'yuyv') {
    return data.length === WIDTH * HEIGHT * 2 ? decodeFrameStamp({ data, width: WIDTH, height: HEIGHT, format: 'yuyv' }) : null;
  }
  try {
    const { data: grey, info } = await sharp(data).greyscale().raw().toBuffer({ resolveWithObject: true });
    return decodeFrameStamp({ data: grey, width: info.width, height: info.height, format: 'grey' });
  } catch {
    return null;
  }
}

/** Runs `run` over `items` with at most `limit` at a time, results in order. */
export async function inBatches<T, R>(items: readonly T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The two error rates of a cell: whole frames flagged or lost, damaged frames passed as good. */
export function rates(result: CellResult): { wholeBad: number; damagedMissed: number } {
  const s = result.score;
  return {
    wholeBad: result.whole === 0 ? 0 : (s.falsePositives + s.wholeLost) / result.whole,
    damagedMissed: s.truePositives + s.falseNegatives === 0 ? 0 : s.falseNegatives / (s.truePositives + s.falseNegatives),
  };
}
