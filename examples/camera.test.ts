/**
 * A hardware-in-the-loop test file for vitest: it runs against the first real camera attached and, when there is
 * none, against the built-in virtual camera, so the same file runs on a developer's laptop, in CI, and on a rig
 * with the camera under test plugged in. Copy it into your project (`npx vitest run camera.test.ts`).
 *
 * The virtual camera stamps each frame's number into its picture; with a real camera, only what any camera must do
 * is checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listCameras, openCamera, VirtualCamera, decodeFrameStamp, type Camera } from 'uvc-capture';

let camera: Camera;
let virtual: VirtualCamera | null = null;

beforeAll(async () => {
  const attached = (await listCameras()).filter((c) => c.access === 'ok');
  if (attached.length === 0) virtual = new VirtualCamera();
  camera = await openCamera(virtual ?? attached[0]);
  console.log(`testing ${camera.info.product ?? 'a camera'} (${camera.info.transport})`);
});

afterAll(async () => {
  await camera?.close();
});

/** Streams `count` frames in the current mode; copies each (buffers are reused). */
async function grab(count: number): Promise<Array<{ data: Uint8Array; sequence: number; error: boolean }>> {
  const queue = camera.queue;
  const n = queue.reqbufs(4);
  for (let i = 0; i < n; i++) queue.qbuf(i);
  await queue.streamon();
  const frames = [];
  try {
    for await (const buffer of queue) {
      frames.push({ data: buffer.data.slice(), sequence: buffer.sequence, error: buffer.flags.error });
      if (frames.length === count) break;
    }
  } finally {
    await queue.streamoff();
    queue.reqbufs(0);
  }
  return frames;
}

describe('the camera under test', () => {
  it('offers at least one format with frame sizes and rates', () => {
    expect(camera.formats.length).toBeGreaterThan(0);
    for (const format of camera.formats) expect(format.frames.length).toBeGreaterThan(0);
  });

  it('streams whole frames of the negotiated size, in order', async () => {
    const mode = await camera.setFormat({});
    const frames = await grab(15);
    const good = frames.filter((f) => !f.error);
    expect(good.length).toBeGreaterThan(10);
    for (let i = 1; i < frames.length; i++) expect(frames[i]!.sequence).toBeGreaterThan(frames[i - 1]!.sequence);
    for (const frame of good) {
      if (mode.kind === 'uncompressed' && mode.fourcc === 'YUY2') expect(frame.data.length).toBe(mode.width * mode.height * 2);
      if (mode.kind === 'mjpeg') expect([frame.data[0], frame.data[1]]).toEqual([0xff, 0xd8]);
    }
    if (virtual && mode.fourcc === 'YUY2') {
      // Each picture carries its frame number: none is stale, none out of order.
      const stamps = good.map((f) => decodeFrameStamp({ data: f.data, width: mode.width, height: mode.height, format: 'yuyv' }));
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]!).toBeGreaterThan(stamps[i - 1]!);
    }
  });

  it('keeps a brightness it is given, and refuses one out of range', async () => {
    const brightness = camera.controls.find((c) => c.name === 'brightness');
    if (!brightness || typeof brightness.max !== 'number') return; // a camera without brightness has nothing to test here
    const original = await camera.getControl('brightness');
    try {
      await camera.setControl('brightness', brightness.max);
      expect(await camera.getControl('brightness')).toBe(brightness.max);
      await expect(camera.setControl('brightness', brightness.max + 1)).rejects.toMatchObject({ code: 'ERANGE' });
    } finally {
      await camera.setControl('brightness', original);
    }
  });
});
