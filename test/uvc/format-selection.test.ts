import { describe, expect, it } from 'vitest';
import { isUvcError } from '../../src/errors.js';
import { parseUvcDescriptors } from '../../src/uvc/descriptors/parse.js';
import { NEAREST_MATCH_RULE, nearestInterval, selectFormat } from '../../src/uvc/format-selection.js';
import * as b from './helpers/descriptor-builder.js';
import { readHex } from './helpers/fixtures.js';

const c270 = parseUvcDescriptors(readHex('esp_logitech_c270.cfg_desc.hex'));

function summary(request: Parameters<typeof selectFormat>[1]): string {
  const s = selectFormat(c270, request);
  return `${s.format.fourcc} ${s.frame.width}x${s.frame.height} @${s.interval}${s.exact ? ' exact' : ''}`;
}

describe('selectFormat (C270: YUY2 and MJPEG, 19 sizes each, 5–30 fps)', () => {
  it('exact requests', () => {
    expect(summary({ fourcc: 'YUY2', width: 640, height: 480, fps: 30 })).toBe('YUY2 640x480 @333333 exact');
    expect(summary({ fourcc: 'mjpg', width: 1280, height: 720, fps: 15 })).toBe('MJPG 1280x720 @666666 exact');
    expect(summary({ fourcc: 'YUYV', width: 160, height: 120, fps: 5 })).toBe('YUY2 160x120 @2000000 exact');
  });

  it('nearest size by the area the rectangles do not share', () => {
    // 700x500 is nearer 640x480 (42 800 px apart) than 800x600 (130 000)
    expect(summary({ fourcc: 'YUY2', width: 700, height: 500, fps: 30 })).toBe('YUY2 640x480 @333333');
  });

  it('nearest rate within the frame, ties to the higher rate', () => {
    expect(summary({ fourcc: 'YUY2', width: 640, height: 480, fps: 24 })).toBe('YUY2 640x480 @400000');
    // 22.5 fps: 20 and 25 are both 2.5 away; the higher wins
    expect(summary({ fourcc: 'YUY2', width: 640, height: 480, fps: 22.5 })).toBe('YUY2 640x480 @400000');
    expect(summary({ fourcc: 'YUY2', width: 640, height: 480, interval: 1_000_000 })).toBe('YUY2 640x480 @1000000 exact');
  });

  it('without a fourcc, the size then the rate decide across formats', () => {
    // 1280x720 YUY2 reaches only 7.5 fps on this camera; MJPEG has 30
    expect(summary({ width: 1280, height: 720, fps: 30 })).toBe('MJPG 1280x720 @333333 exact');
    // at 5 fps both can; the device's first format wins
    expect(summary({ width: 1280, height: 720, fps: 5 })).toBe('YUY2 1280x720 @2000000 exact');
  });

  it('nothing asked: the first format\'s default frame and interval', () => {
    expect(summary({})).toBe('YUY2 640x480 @333333 exact');
  });

  it('only one dimension', () => {
    expect(summary({ fourcc: 'MJPG', width: 1000 })).toMatch(/^MJPG 1024x/);
  });

  it('errors: unknown fourcc lists what there is; bad numbers are EINVAL', () => {
    try {
      selectFormat(c270, { fourcc: 'H264' });
      expect.unreachable();
    } catch (error) {
      expect(isUvcError(error, 'ENOENT')).toBe(true);
      expect((error as Error).message).toBe('the device has no H264 format (it has: YUY2, MJPG)');
    }
    expect(() => selectFormat(c270, { width: -1 })).toThrow(expect.objectContaining({ code: 'EINVAL', message: 'width must be a positive number, got -1' }));
    expect(() => selectFormat(c270, { fps: Number.NaN })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => selectFormat(c270, { interfaceNumber: 7 })).toThrow(expect.objectContaining({ code: 'ENOENT', message: 'no VideoStreaming interface 7' }));
  });

  it('documents its rule', () => {
    expect(NEAREST_MATCH_RULE).toMatch(/nearest frame size/);
  });
});

describe('continuous intervals', () => {
  const parsed = parseUvcDescriptors(
    b.camera({
      numFormats: 1,
      streaming: [b.uncompressedFormat(1, 'NV12', 12, 1), b.frame(0x05, 1, 640, 480, 460800, { min: 166666, max: 2000000, step: 166666 })],
      altSettings: [3072],
    }),
  );
  const frame = parsed.streamingInterfaces[0]!.formats[0]!.frames[0]!;

  it('are clamped into the range and snapped to the step grid', () => {
    expect(nearestInterval(frame, 333333)).toBe(333332);
    expect(nearestInterval(frame, 10)).toBe(166666);
    expect(nearestInterval(frame, 9_000_000)).toBe(1999992);
    expect(selectFormat(parsed, { fps: 60 })).toMatchObject({ interval: 166666, exact: true });
  });

  it('a zero step means any value in the range', () => {
    const any = { ...frame, intervals: { min: 100000, max: 1000000, step: 0 } };
    expect(nearestInterval(any, 400000)).toBe(400000);
  });
});
