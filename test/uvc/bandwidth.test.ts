import { describe, expect, it } from 'vitest';
import {
  chooseAltSetting,
  estimatePayloadSize,
  largestBytesPerInterval,
  serviceIntervalsPerSecond,
  suggestFittingMode,
} from '../../src/uvc/bandwidth.js';
import { parseUvcDescriptors } from '../../src/uvc/descriptors/parse.js';
import * as b from './helpers/descriptor-builder.js';
import { readHex } from './helpers/fixtures.js';

const c270 = parseUvcDescriptors(readHex('esp_logitech_c270.cfg_desc.hex')).streamingInterfaces[0]!;

describe('bandwidth', () => {
  it('service intervals per second by speed and bInterval', () => {
    expect(serviceIntervalsPerSecond('full')).toBe(1000);
    expect(serviceIntervalsPerSecond('high')).toBe(8000);
    expect(serviceIntervalsPerSecond('super', 4)).toBe(1000);
    expect(serviceIntervalsPerSecond('high', 0)).toBe(8000);
  });

  it('the smallest alt setting that carries the payload (C270: 192 … 3 × 1020 bytes)', () => {
    expect(largestBytesPerInterval(c270)).toBe(3060);
    expect(chooseAltSetting(c270, 1)?.alternateSetting).toBe(1);
    expect(chooseAltSetting(c270, 192)?.alternateSetting).toBe(1);
    expect(chooseAltSetting(c270, 193)).toMatchObject({ alternateSetting: 2, bytesPerInterval: 384 });
    expect(chooseAltSetting(c270, 3060)?.alternateSetting).toBe(11);
    expect(chooseAltSetting(c270, 3061)).toBe(null);
  });

  it('bulk interfaces stream on the alt setting with the bulk endpoint', () => {
    const bulk = parseUvcDescriptors(readHex('esp_customer.cfg_desc.hex')).streamingInterfaces[0]!;
    expect(chooseAltSetting(bulk, 10_000_000)).toMatchObject({ alternateSetting: 0, transferType: 'bulk' });
  });

  it('estimates: uncompressed by frame size and rate; compressed by dwMaxBitRate scaled to the interval', () => {
    const yuyv = c270.formats[0]!;
    const vga = yuyv.frames.find((f) => f.width === 640 && f.height === 480)!;
    expect(estimatePayloadSize(yuyv, vga, 1_000_000, 'high')).toBe(Math.ceil((614400 * 10) / 8000) + 12);
    expect(estimatePayloadSize(yuyv, vga, 1_000_000, 'full')).toBe(Math.ceil((614400 * 10) / 1000) + 12);
    const mjpeg = c270.formats[1]!;
    const mvga = mjpeg.frames.find((f) => f.width === 640 && f.height === 480)!;
    // dwMaxBitRate 147456000 bps at 30 fps: at 15 fps half of it
    expect(estimatePayloadSize(mjpeg, mvga, 333333, 'high')).toBe(Math.ceil(147456000 / 8 / 8000) + 12);
    expect(estimatePayloadSize(mjpeg, mvga, 666666, 'high')).toBe(Math.ceil(((147456000 / 8) * (333333 / 666666)) / 8000) + 12);
  });

  it('suggests the nearest mode that fits: same size at a lower rate first, then smaller sizes, then other formats', () => {
    const yuyv = c270.formats[0]!;
    const hd = yuyv.frames.find((f) => f.width === 1280 && f.height === 720)!;
    const vga = yuyv.frames.find((f) => f.width === 640 && f.height === 480)!;
    const budget = largestBytesPerInterval(c270);
    // 1280x720 YUY2 asked at 30 fps: its 7.5 fps (1843200 × 7.500002 / 8000 + 12 = 1741 bytes per microframe) fits
    expect(suggestFittingMode(c270, { format: yuyv, frame: hd, interval: 333333 }, 0, budget, 'high')).toMatchObject({
      width: 1280,
      height: 720,
      interval: 1333333,
      payloadSize: 1741,
    });
    // at full speed nothing of that size fits 3060 bytes per 1 ms; a smaller size at the same rate does
    const full = suggestFittingMode(c270, { format: yuyv, frame: vga, interval: 333333 }, 0, 1023, 'full');
    expect(full?.fourcc).toBe('YUY2');
    expect((full!.width * full!.height * 2 * full!.fps) / 1000 + 12).toBeLessThanOrEqual(1023);
    // a camera whose only YUY2 mode is too big is pointed at its MJPEG
    const camera = parseUvcDescriptors(
      b.camera({
        numFormats: 2,
        streaming: [b.uncompressedFormat(1, 'YUY2', 16, 1), b.frame(0x05, 1, 1920, 1080, 4147200, [333333]), b.mjpegFormat(2, 1), b.frame(0x07, 1, 1920, 1080, 4147200, [333333])],
        altSettings: [0x1400],
      }),
    ).streamingInterfaces[0]!;
    const [big, jpeg] = camera.formats;
    // the builder's dwMaxBitRate for the MJPEG frame is 4147200 × 8 × 30 bits/s: too much as well
    expect(suggestFittingMode(camera, { format: big!, frame: big!.frames[0]!, interval: 333333 }, 0, 3072, 'high')).toBe(null);
    expect(jpeg!.kind).toBe('mjpeg');
  });
});
