/**
 * The end-to-end benchmark's frame check: real frames from the virtual camera pass, and frames that are not what
 * their sequence number says (wrong stamp, wrong bytes) are refused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FrameVerifier } from '../../bench/lib/frame-verifier.js';
import { throughputCamera } from '../../bench/lib/quiet-camera.js';
import { openCamera, type Camera } from '../../src/camera/index.js';
import type { VideoBuffer } from '../../src/queue/index.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

/** Frames as the consumer sees them, copied out so they outlive the buffers. */
async function capture(count: number, frameCache: number): Promise<VideoBuffer[]> {
  const vcam = throughputCamera({ formats: [{ format: 'yuyv', frames: [{ width: 320, height: 240, fps: [30] }] }] }, frameCache);
  const camera = await openCamera(vcam);
  open.push(camera);
  const queue = camera.queue;
  queue.reqbufs(4);
  for (let i = 0; i < 4; i++) queue.qbuf(i);
  await queue.streamon();
  const frames: VideoBuffer[] = [];
  while (frames.length < count) {
    const buffer = await queue.dqbuf();
    const memory = buffer.memory.slice();
    frames.push({ sequence: buffer.sequence, bytesused: buffer.bytesused, flags: buffer.flags, memory, data: memory.subarray(0, buffer.bytesused) } as unknown as VideoBuffer);
    queue.qbuf(buffer.index);
  }
  await queue.streamoff();
  return frames;
}

describe('FrameVerifier', () => {
  it('accepts the frames of a cycling frame cache and refuses frames out of place', async () => {
    const frames = await capture(12, 4);
    const verifier = new FrameVerifier('yuyv', 320, 240, 4);
    for (const frame of frames.slice(0, 8)) verifier.verifyFully(frame);
    expect(verifier.references).toBe(4);
    for (const frame of frames.slice(8)) verifier.verifyQuickly(frame, true);
    expect(verifier.framesVerifiedQuickly).toBe(4);

    // Same bytes, claimed to be the next frame: the stamp gives it away.
    const shifted = { ...frames[9]!, sequence: frames[9]!.sequence + 1 } as unknown as VideoBuffer;
    expect(() => verifier.verifyFully(shifted)).toThrow(/stamp/);
    expect(() => verifier.verifyQuickly(shifted, true)).toThrow(/differs|stamp/);
    // One sampled byte changed: the quick check sees it.
    const damaged = frames[10]!;
    const copy = damaged.memory.slice();
    copy[Math.floor(damaged.bytesused * 0.61)] ^= 0x40; // one of the 8 sampled positions
    const tampered = { ...damaged, memory: copy, data: copy.subarray(0, damaged.bytesused) } as unknown as VideoBuffer;
    expect(() => verifier.verifyQuickly(tampered, false)).toThrow(/differs/);
    // And the full check sees any byte.
    const subtle = damaged.memory.slice();
    subtle[12345] ^= 0x01;
    expect(() => verifier.verifyFully({ ...damaged, memory: subtle, data: subtle.subarray(0, damaged.bytesused) } as unknown as VideoBuffer)).toThrow(
      /differs from the earlier frame/,
    );
  });
});
