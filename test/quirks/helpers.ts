/**
 * Streaming through a quirky camera and checking every frame against what the virtual camera stamped into it.
 */
import sharp from 'sharp';
import { expect } from 'vitest';
import { openCamera, type Camera, type OpenCameraOptions } from '../../src/camera/index.js';
import { decodeAccessUnitStamp, decodeFrameStamp, VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';

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

/**
 * Streams `count` frames from the camera's current format and checks each: not flagged, the exact size of an
 * uncompressed frame, and the stamp the camera put in it equal to the frame's sequence number (so no frame was
 * merged, split or lost without the sequence saying so).
 */
export async function streamVerified(camera: Camera, count = 60, buffers = 4): Promise<VerifiedFrame[]> {
  const format = camera.format!;
  const uncompressed = format.fourcc !== 'MJPG' && format.fourcc !== 'H264' && format.fourcc !== 'HEVC' && format.fourcc !== 'H265';
  const queue = camera.queue;
  queue.reqbufs(buffers);
  for (let i = 0; i < buffers; i++) queue.qbuf(i);
  await queue.streamon();
  const frames: VerifiedFrame[] = [];
  try {
    for await (const buffer of queue) {
      const frame = { sequence: buffer.sequence, stamp: -1, bytesused: buffer.bytesused, timestamp: buffer.timestamp };
      expect(buffer.flags.error, `frame ${buffer.sequence} flagged`).toBe(false);
      if (uncompressed) expect(buffer.bytesused).toBe(format.frameSize);
      frame.stamp = (await stampOf(buffer.memory.slice(0, buffer.bytesused), format.fourcc, format.width, format.height)) ?? -1;
      expect(frame.stamp, `stamp of frame ${buffer.sequence}`).toBe(buffer.sequence);
      frames.push(frame);
      if (frames.length === count) break;
    }
  } finally {
    await queue.streamoff();
    queue.reqbufs(0);
  }
  expect(frames).toHaveLength(count);
  return frames;
}

export const quirkNames = (camera: Camera): string[] => camera.stats.quirks.map((q) => `${q.name}:${q.source}`);
