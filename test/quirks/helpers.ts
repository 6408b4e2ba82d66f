/**
 * Streaming through a quirky camera and checking every frame against what the virtual camera stamped into it.
 */
import sharp from 'sharp';
import { expect } from 'vitest';
import { openCamera, type Camera, type OpenCameraOptions } from '../../src/camera/index.js';
import { decodeAccessUnitStamp, decodeFrameStamp, scoreCapture, VirtualCamera, type ReceivedFrame, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';

export interface VerifiedFrame {
  sequence: number;
  stamp: number;
  bytesused: number;
  /** CLOCK_MONOTONIC ns. */
  timestamp: number;
}

export async function openVirtual(
  options: VirtualCameraOptions,
  openOptions: OpenCameraOptions = {},
  opened: Camera[] = [],
): Promise<{ vcam: VirtualCamera; camera: Camera }> {
  const vcam = new VirtualCamera(options);
  const camera = await openCamera(vcam, openOptions);
  opened.push(camera);
  return { vcam, camera };
}

/** The stamp a frame carries, whatever its format (MJPEG is decoded to greyscale first). */
export async function stampOf(data: Uint8Array, fourcc: string, width: number, height: number): Promise<number | null> {
  if (fourcc === 'H264') return decodeAccessUnitStamp('h264', data);
  if (fourcc === 'H265' || fourcc === 'HEVC') return decodeAccessUnitStamp('h265', data);
  if (fourcc === 'MJPG') {
    const { data: grey, info } = await sharp(data).greyscale().raw().toBuffer({ resolveWithObject: true });
    return decodeFrameStamp({ data: grey, width: info.width, height: info.height, format: 'grey' });
  }
  const format = fourcc === 'GREY' ? 'grey' : fourcc === 'NV12' ? 'grey' : 'yuyv';
  return decodeFrameStamp({ data, width, height, format });
}

const isUncompressed = (fourcc: string): boolean => fourcc !== 'MJPG' && fourcc !== 'H264' && fourcc !== 'HEVC' && fourcc !== 'H265';

/** Runs `body` with `buffers` buffers queued and the stream on; stops the stream and frees the buffers after. */
async function streaming(camera: Camera, buffers: number, body: (queue: Camera['queue']) => Promise<void>): Promise<void> {
  const queue = camera.queue;
  queue.reqbufs(buffers);
  for (let i = 0; i < buffers; i++) queue.qbuf(i);
  await queue.streamon();
  try {
    await body(queue);
  } finally {
    await queue.streamoff();
    queue.reqbufs(0);
  }
}

/**
 * Streams `count` frames from the camera's current format and checks each: not flagged, the exact size of an
 * uncompressed frame, and the stamp the camera put in it equal to the frame's sequence number (so no frame was
 * merged, split or lost without the sequence saying so).
 */
export async function streamVerified(camera: Camera, count = 60, buffers = 4): Promise<VerifiedFrame[]> {
  const format = camera.format!;
  const uncompressed = isUncompressed(format.fourcc);
  const frames: VerifiedFrame[] = [];
  await streaming(camera, buffers, async (queue) => {
    for await (const buffer of queue) {
      const frame = { sequence: buffer.sequence, stamp: -1, bytesused: buffer.bytesused, timestamp: buffer.timestamp };
      expect(buffer.flags.error, `frame ${buffer.sequence} flagged`).toBe(false);
      if (uncompressed) expect(buffer.bytesused).toBe(format.frameSize);
      frame.stamp = (await stampOf(buffer.memory.slice(0, buffer.bytesused), format.fourcc, format.width, format.height)) ?? -1;
      expect(frame.stamp, `stamp of frame ${buffer.sequence}`).toBe(buffer.sequence);
      frames.push(frame);
      if (frames.length === count) break;
    }
  });
  expect(frames).toHaveLength(count);
  return frames;
}

/**
 * Real-time pace, where a loaded machine's host may stop listening for a while: the camera then damages frames
 * (payloads that went out unheard) or skips captures (a newer one goes out instead), and records which
 * (`sentFrames`). Streams until `count` unflagged frames arrived and judges every frame against that record
 * (scoreCapture): no whole frame flagged or lost, no damaged uncompressed frame passed, and between two good
 * frames the driver's sequence advances by the frames the camera captured in between, less at most those it
 * skipped or sent unheard (nothing on the bus can tell of a skipped capture). Returns the good frames.
 */
export async function streamJudged(camera: Camera, vcam: VirtualCamera, count = 60, buffers = 4): Promise<VerifiedFrame[]> {
  const format = camera.format!;
  const uncompressed = isUncompressed(format.fourcc);
  const received: ReceivedFrame[] = [];
  const good: VerifiedFrame[] = [];
  await streaming(camera, buffers, async (queue) => {
    for await (const buffer of queue) {
      const stamp = await stampOf(buffer.memory.slice(0, buffer.bytesused), format.fourcc, format.width, format.height);
      received.push({ stamp: buffer.flags.error ? null : stamp, sequence: buffer.sequence, error: buffer.flags.error, timestamp: buffer.timestamp });
      if (!buffer.flags.error) {
        if (uncompressed) expect(buffer.bytesused).toBe(format.frameSize);
        expect(stamp, `stamp of frame ${buffer.sequence}`).not.toBeNull();
        good.push({ sequence: buffer.sequence, stamp: stamp!, bytesused: buffer.bytesused, timestamp: buffer.timestamp });
      }
      if (good.length === count || received.length === 3 * count) break;
    }
  });
  const sent = vcam.sentFrames;
  const score = scoreCapture(sent, received);
  const summary = JSON.stringify({ ...score, byFault: undefined });
  expect(score.unmatched, summary).toBe(0);
  expect(score.duplicates, summary).toBe(0);
  expect(score.falsePositives, summary).toBe(0);
  expect(score.wholeLost, summary).toBe(0);
  if (uncompressed) expect(score.falseNegatives, summary).toBe(0);
  expect(good).toHaveLength(count);
  const frames = sent.filter((f) => f.stream === score.stream);
  for (let i = 1; i < good.length; i++) {
    const [a, b] = [good[i - 1]!, good[i]!];
    const between = frames.filter((f) => f.sequence > a.stamp && f.sequence < b.stamp && (f.status === 'skipped' || f.unheard)).length;
    const steps = b.stamp - a.stamp;
    const advanced = b.sequence - a.sequence;
    expect(advanced, `sequence from frame ${a.stamp} to ${b.stamp} (${between} skipped or unheard between)`).toBeLessThanOrEqual(steps);
    expect(advanced, `sequence from frame ${a.stamp} to ${b.stamp} (${between} skipped or unheard between)`).toBeGreaterThanOrEqual(steps - between);
  }
  return good;
}

export const quirkNames = (camera: Camera): string[] => camera.stats.quirks.map((q) => `${q.name}:${q.source}`);
