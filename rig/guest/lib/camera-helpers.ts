/**
 * Our driver (openCamera/listCameras through the native addon) against a VirtualCamera served over USB/IP, as
 * checks use it: find the served camera, stream N frames and judge each one by its content.
 */
import type { Camera, CameraInfo, CameraStats } from '../../../src/camera/index.js';
import { listCameras } from '../../../src/camera/index.js';
import { isUvcError } from '../../../src/errors.js';
import { decodeFrameStamp } from '../../../src/virtual-camera/index.js';
import { waitFor } from './exec.js';

export const CAMERA_VID = 0x1209;
export const CAMERA_PID = 0x0001;

/** The served camera as listCameras() (the `usb` package's enumeration) sees it, once it is there. */
export function findServedCamera(timeoutMs = 120_000): Promise<CameraInfo> {
  return waitFor(
    'listCameras() to list the served camera',
    async () => (await listCameras()).find((c) => c.vendorId === CAMERA_VID && c.productId === CAMERA_PID),
    timeoutMs,
    250,
  );
}

export interface StreamVerdict {
  frames: number;
  /** Not flagged, the right size, and a stamp consistent with the frame's sequence number (see streamYuyv). */
  good: number;
  /** Returned with the error flag (damaged or incomplete: the driver said so). */
  flagged: number;
  /** What each flagged frame held: its sequence, bytes, and the stamp if the bytes still carry one. */
  flaggedFrames: string[];
  /** The camera's assembler and transfer statistics just before streamoff. */
  stats: CameraStats | null;
  /** Not flagged but wrong: size, unreadable stamp, or a stamp other than expected. The one unforgivable outcome. */
  wrong: string[];
  /** Sequence numbers the driver skipped (frames it never delivered). */
  skipped: number;
  seconds: number;
  firstSequence: number;
  lastSequence: number;
  /**
   * sequence − stamp of the last good frame: how many frame boundaries the driver counted that the device never
   * had (its estimate of frames swallowed by a gap in which, in fact, nothing was lost). At most the assembler's
   * droppedFrames.
   */
  sequenceAhead: number;
}

/**
 * Streams `count` YUYV frames (width × height) and judges every one. A frame the driver did not flag must be
 * exactly width × height × 2 bytes and carry a readable stamp (the device numbers its frames from 0 at streamon),
 * and the stamps must agree with the driver's sequence numbers: from one good frame to the next the stamp grows by
 * at least 1 (no frame repeated or reordered) and by no more than the sequence did (the driver never delivers a
 * frame under an older frame's number). The sequence may run ahead of the stamp only where the driver estimated
 * frames lost in a gap: `sequenceAhead` (checked by the caller against the assembler's droppedFrames). With no
 * gap this is exactly stamp === sequence.
 */
export async function streamYuyv(camera: Camera, o: { width: number; height: number; count: number; buffers?: number; dqbufTimeoutMs?: number }): Promise<StreamVerdict> {
  const { width, height } = o;
  const expectedBytes = width * height * 2;
  const queue = camera.queue;
  const n = queue.reqbufs(o.buffers ?? 4);
  for (let i = 0; i < n; i++) queue.qbuf(i);
  const verdict: StreamVerdict = { frames: 0, good: 0, flagged: 0, flaggedFrames: [], stats: null, wrong: [], skipped: 0, seconds: 0, firstSequence: -1, lastSequence: -1, sequenceAhead: 0 };
  let lastGood: { sequence: number; stamp: number } | null = null;
  const t0 = performance.now();
  await queue.streamon();
  try {
    let previous = -1;
    while (verdict.frames < o.count) {
      const buffer = await queue.dqbuf({ timeoutMs: o.dqbufTimeoutMs ?? 30_000 });
      verdict.frames++;
      if (verdict.firstSequence < 0) verdict.firstSequence = buffer.sequence;
      verdict.lastSequence = buffer.sequence;
      if (previous >= 0 && buffer.sequence > previous + 1) verdict.skipped += buffer.sequence - previous - 1;
      previous = buffer.sequence;
      if (buffer.flags.error) {
        verdict.flagged++;
        const stamp = buffer.bytesused > 0 ? decodeFrameStamp({ data: buffer.data, width, height, format: 'yuyv' }) : null;
        verdict.flaggedFrames.push(`${buffer.sequence}: ${buffer.bytesused} B, stamp ${String(stamp)}`);
      } else if (buffer.bytesused !== expectedBytes) {
        verdict.wrong.push(`sequence ${buffer.sequence}: ${buffer.bytesused} bytes, expected ${expectedBytes}`);
      } else {
        const stamp = decodeFrameStamp({ data: buffer.data, width, height, format: 'yuyv' });
        const sequence = buffer.sequence;
        let problem = '';
        if (stamp === null) problem = 'no readable stamp';
        else if (lastGood === null && stamp > sequence) problem = `stamp ${stamp} ahead of the sequence`;
        else if (lastGood !== null && stamp <= lastGood.stamp) problem = `stamp ${stamp} after stamp ${lastGood.stamp} (repeated or out of order)`;
        else if (lastGood !== null && stamp - lastGood.stamp > sequence - lastGood.sequence) {
          problem = `stamp ${stamp} after stamp ${lastGood.stamp} at sequence ${lastGood.sequence}: the driver counted fewer frames than came`;
        }
        if (problem !== '' || stamp === null) {
          verdict.wrong.push(`sequence ${sequence}: ${problem}`);
        } else {
          verdict.good++;
          lastGood = { sequence, stamp };
          verdict.sequenceAhead = sequence - stamp;
        }
      }
      queue.qbuf(buffer.index);
    }
  } finally {
    verdict.seconds = (performance.now() - t0) / 1000;
    verdict.stats = structuredClone(camera.stats);
    await queue.streamoff().catch((error: unknown) => {
      if (!isUvcError(error, 'ENXIO')) throw error;
    });
    queue.reqbufs(0);
  }
  return verdict;
}

export function describeVerdict(v: StreamVerdict): string {
  return (
    `${v.frames} frames in ${v.seconds.toFixed(1)} s (${(v.frames / v.seconds).toFixed(1)} fps): ${v.good} good, ${v.flagged} flagged, ` +
    `${v.wrong.length} wrong, ${v.skipped} sequence numbers skipped (sequence ${v.firstSequence}…${v.lastSequence}, ` +
    `ahead of the stamps by ${v.sequenceAhead} at the end)` +
    (v.flaggedFrames.length > 0 ? `; flagged: ${v.flaggedFrames.join(', ')}` : '')
  );
}
