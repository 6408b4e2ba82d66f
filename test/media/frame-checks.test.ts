import { describe, expect, it } from 'vitest';
import { frameProblem, frameToJpeg, frameToPng, decodeJpeg, jpegMarkersOf, pixelLayoutOf, frameExtensionOf } from '../../src/media/index.js';
import { openCamera } from '../../src/camera/index.js';
import { decodeFrameStamp, VirtualCamera } from '../../src/virtual-camera/index.js';
import sharp from 'sharp';

describe('frame checks', () => {
  it('name layouts and extensions from FourCC and kind', () => {
    expect(pixelLayoutOf('YUY2', 'uncompressed')).toBe('yuyv');
    expect(pixelLayoutOf('MJPG', 'mjpeg')).toBe('mjpeg');
    expect(pixelLayoutOf('NV12')).toBe('nv12');
    expect(pixelLayoutOf('H264', 'frame-based')).toBe('h264');
    expect(pixelLayoutOf('UYVY', 'uncompressed')).toBe('other');
    expect(['yuyv', 'nv12', 'mjpeg', 'h264', 'other'].map((l) => frameExtensionOf(l as never))).toEqual(['yuv', 'nv12', 'jpg', 'h264', 'raw']);
  });

  it('want uncompressed frames of exactly their size', () => {
    expect(frameProblem(new Uint8Array(640 * 480 * 2), { layout: 'yuyv', width: 640, height: 480 })).toBeNull();
    expect(frameProblem(new Uint8Array(1000), { layout: 'yuyv', width: 640, height: 480 })).toBe('1000 bytes, expected 614400 (640×480 YUYV)');
    expect(frameProblem(new Uint8Array(6 * 4 * 3 / 2), { layout: 'nv12', width: 6, height: 4 })).toBeNull();
    expect(frameProblem(new Uint8Array(0), { layout: 'mjpeg', width: 6, height: 4 })).toBe('empty frame');
  });

  it('want JPEGs between SOI and EOI (zero padding allowed), H.264 with a start code', () => {
    const jpeg = Uint8Array.from([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
    expect(jpegMarkersOf(jpeg)).toEqual({ soi: true, eoi: true });
    expect(frameProblem(Uint8Array.from([...jpeg, 0, 0, 0]), { layout: 'mjpeg', width: 1, height: 1 })).toBeNull();
    expect(frameProblem(jpeg.subarray(0, 5), { layout: 'mjpeg', width: 1, height: 1 })).toMatch(/no JPEG EOI/);
    expect(frameProblem(jpeg.subarray(2), { layout: 'mjpeg', width: 1, height: 1 })).toMatch(/no JPEG SOI/);
    expect(frameProblem(Uint8Array.from([0, 0, 0, 1, 0x67]), { layout: 'h264', width: 1, height: 1 })).toBeNull();
    expect(frameProblem(Uint8Array.from([0, 0, 1, 0x65]), { layout: 'h264', width: 1, height: 1 })).toBeNull();
    expect(frameProblem(Uint8Array.from([1, 2, 3, 4]), { layout: 'h264', width: 1, height: 1 })).toMatch(/start code/);
  });
});

describe('frames as pictures', () => {
  it('a YUYV frame of the virtual camera becomes a PNG and a JPEG that carry its stamp', async () => {
    const camera = await openCamera(new VirtualCamera({ pace: 'fast' }));
    try {
      const queue = camera.queue;
      queue.reqbufs(2);
      queue.qbuf(0);
      queue.qbuf(1);
      await queue.streamon();
      const buffer = await queue.dqbuf();
      const data = buffer.data.slice();
      await queue.streamoff();
      const geometry = { layout: 'yuyv' as const, width: 640, height: 480 };
      const stamp = decodeFrameStamp({ data, width: 640, height: 480, format: 'yuyv' });
      expect(stamp).toBe(buffer.sequence);
      const png = await frameToPng(data, geometry);
      const { data: rgb, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height]).toEqual([640, 480]);
      expect(decodeFrameStamp({ data: rgb, width: 640, height: 480, format: 'rgb' })).toBe(stamp);
      const jpeg = await frameToJpeg(data, geometry);
      const decoded = await decodeJpeg(jpeg);
      expect(decodeFrameStamp({ data: decoded.data, width: 640, height: 480, format: 'rgb' })).toBe(stamp);
      await expect(frameToJpeg(data, { layout: 'h264', width: 640, height: 480 })).rejects.toMatchObject({ code: 'ENOTSUP' });
      await expect(decodeJpeg(Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]))).rejects.toThrow(/does not decode/);
    } finally {
      await camera.close();
    }
  });
});
