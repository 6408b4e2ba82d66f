/**
 * The parser against lies and shapes no real fixture has: fatal problems are EINVAL naming the offset, everything
 * else a warning with the rest of the configuration usable.
 */
import { describe, expect, it } from 'vitest';
import { isUvcError, UvcError } from '../../src/errors.js';
import { parseUvcDescriptors } from '../../src/uvc/descriptors/parse.js';
import * as b from './helpers/descriptor-builder.js';
import { readHex } from './helpers/fixtures.js';

function fatal(bytes: Uint8Array): UvcError {
  try {
    parseUvcDescriptors(bytes);
  } catch (error) {
    if (isUvcError(error)) return error;
    throw error;
  }
  throw new Error('parse did not fail');
}

const YUYV_640 = [b.uncompressedFormat(1, 'YUY2', 16, 1), b.frame(0x05, 1, 640, 480, 614400, [333333, 666666])];

describe('fatal problems', () => {
  it('rejects what is not a configuration descriptor, naming the offset', () => {
    expect(fatal(new Uint8Array(0))).toMatchObject({ code: 'EINVAL', details: { offset: 0 } });
    const device = readHex('esp_logitech_c270.dev_desc.hex');
    const error = fatal(device);
    expect(error.code).toBe('EINVAL');
    expect(error.message).toMatch(/offset 1 .*bDescriptorType 0x01 is not a configuration descriptor/);
    expect(() => parseUvcDescriptors([1, 2, 3] as unknown as Uint8Array)).toThrow(UvcError);
  });

  it('rejects a configuration without a VideoControl interface', () => {
    const audioOnly = b.configuration([b.interfaceDescriptor(0, 0, 0, 0x01, 0x01), b.csInterface(0x01, [0, 1, 9, 0, 0])], 1);
    const error = fatal(audioOnly);
    expect(error.code).toBe('EINVAL');
    expect(error.message).toMatch(/no VideoControl interface .*not a UVC configuration/);
  });

  it('rejects a VideoControl interface without a header, saying why', () => {
    const config = b.configuration([b.interfaceDescriptor(0, 0, 0, 0x0e, 0x01), b.outputTerminal(3, 2)], 1);
    const error = fatal(config);
    expect(error.message).toMatch(/no usable VideoControl interface .*has no class-specific header/);
  });
});

describe('recoverable problems', () => {
  it('esp_customer: the configuration lost a byte; the video function is whole, two warnings say what happened', () => {
    const parsed = parseUvcDescriptors(readHex('esp_customer.cfg_desc.hex'));
    expect(parsed.warnings).toEqual([
      'offset 2 (0x002): configuration truncated: wTotalLength is 484 but only 483 bytes are present; parsing what is there',
      'offset 477 (0x1dd): descriptor type 0x25 with bLength 7 runs 1 byte(s) past the end of the configuration; ignored',
    ]);
    const vs = parsed.streamingInterfaces[0]!;
    expect(vs.transferType).toBe('bulk');
    expect(vs.formats.map((f) => [f.fourcc, f.frames.length])).toEqual([['MJPG', 4]]);
    expect(parsed.otherInterfaces.map((o) => o.interfaceClass)).toEqual([1, 1, 1]);
  });

  it('a bLength of 0 stops the walk with a warning; what came before stays', () => {
    const bytes = readHex('esp_logitech_c270.cfg_desc.hex');
    // the audio function's IAD follows the video function: zero its length
    const iadOffset = findDescriptor(bytes, (d) => d[1] === 0x0b && d[4] === 0x01);
    bytes[iadOffset] = 0;
    const parsed = parseUvcDescriptors(bytes);
    expect(parsed.warnings).toContain(
      `offset ${iadOffset} (0x${iadOffset.toString(16).padStart(3, '0')}): descriptor bLength 0 is invalid; the remaining ${bytes.length - iadOffset} bytes are ignored`,
    );
    expect(parsed.streamingInterfaces[0]!.formats.map((f) => f.frames.length)).toEqual([19, 19]);
    expect(parsed.streamingInterfaces[0]!.altSettings).toHaveLength(12);
    expect(parsed.otherInterfaces).toEqual([]);
  });

  it('a frame announcing more intervals than it holds keeps those it holds', () => {
    const lying = b.frame(0x05, 1, 640, 480, 614400, [333333, 666666]);
    lying[25] = 5; // bFrameIntervalType: 5 discrete intervals, room for 2
    const parsed = parseUvcDescriptors(b.camera({ numFormats: 1, streaming: [b.uncompressedFormat(1, 'YUY2', 16, 1), lying], altSettings: [3072] }));
    expect(parsed.streamingInterfaces[0]!.formats[0]!.frames[0]!.intervals).toEqual([333333, 666666]);
    expect(parsed.warnings.some((w) => /frame 1: 5 intervals declared, room for 2/.test(w))).toBe(true);
  });

  it('zero intervals become 1 and a default outside the range is clamped into it (uvcvideo)', () => {
    const parsed = parseUvcDescriptors(
      b.camera({
        numFormats: 2,
        streaming: [
          b.uncompressedFormat(1, 'YUY2', 16, 1),
          b.frame(0x05, 1, 640, 480, 614400, [333333, 0], 9_999_999),
          b.mjpegFormat(2, 1),
          b.frame(0x07, 1, 1280, 720, 1843200, { min: 0, max: 666666, step: 333333 }, 10),
        ],
        altSettings: [3072],
      }),
    );
    const [yuyv, mjpg] = parsed.streamingInterfaces[0]!.formats;
    expect(yuyv!.frames[0]).toMatchObject({ intervals: [333333, 1], defaultInterval: 333333 });
    expect(mjpg!.frames[0]).toMatchObject({ intervals: { min: 1, max: 666666, step: 333333 }, defaultInterval: 10 });
    expect(parsed.warnings.filter((w) => /is 0; read as 1/.test(w))).toHaveLength(2);
    expect(parsed.warnings.some((w) => /dwDefaultFrameInterval 9999999 outside 1…333333; using 333333/.test(w))).toBe(true);
  });

  it('a frame before any format, a frame of the wrong kind and a repeated index are skipped with warnings', () => {
    const parsed = parseUvcDescriptors(
      b.camera({
        numFormats: 1,
        streaming: [
          b.frame(0x05, 9, 320, 240, 153600, [333333]),
          ...YUYV_640,
          b.frame(0x07, 2, 320, 240, 153600, [333333]),
          b.frame(0x05, 1, 320, 240, 153600, [333333]),
        ],
        altSettings: [3072],
      }),
    );
    expect(parsed.streamingInterfaces[0]!.formats[0]!.frames.map((f) => f.width)).toEqual([640]);
    expect(parsed.warnings.join('\n')).toMatch(/without a format before it[\s\S]*does not belong to a uncompressed format[\s\S]*frame index 1 used twice/);
  });

  it('a streaming interface no VideoControl header names is attached to its function with a warning', () => {
    const config = b.camera({ numFormats: 1, streaming: YUYV_640, altSettings: [1024] });
    const header = findDescriptor(config, (d) => d[1] === 0x24 && d[2] === 0x01 && d[0] === 13);
    config[header + 11] = 0; // bInCollection
    const parsed = parseUvcDescriptors(config);
    expect(parsed.streamingInterfaces.map((s) => s.interfaceNumber)).toEqual([1]);
    expect(parsed.warnings.some((w) => /streaming interface 1 is not named by any VideoControl header/.test(w))).toBe(true);
  });

  it('keeps at most 200 warnings, counting the rest', () => {
    const frames = Array.from({ length: 300 }, (_, i) => b.frame(0x07, 1, 16 + i, 16, 512, [333333]));
    const parsed = parseUvcDescriptors(b.camera({ numFormats: 1, streaming: [b.mjpegFormat(1, 1), ...frames.slice(0, 1), ...frames], altSettings: [1024] }));
    expect(parsed.warnings).toHaveLength(201);
    expect(parsed.warnings[200]).toMatch(/more warnings not shown/);
  });
});

describe('shapes the real fixtures lack', () => {
  it('SuperSpeed: the companion wBytesPerInterval is the bandwidth of an isochronous alt setting', () => {
    const config = b.configuration([
      b.interfaceDescriptor(0, 0, 0, 0x0e, 0x01),
      b.vcHeader(0x0150, 48_000_000, [1]),
      b.cameraTerminal(1, []),
      b.outputTerminal(2, 1),
      b.interfaceDescriptor(1, 0, 0, 0x0e, 0x02),
      b.vsInputHeader(1, 0x81, 2),
      ...YUYV_640,
      b.interfaceDescriptor(1, 1, 1, 0x0e, 0x02),
      b.endpoint(0x81, 0x05, 1024, 1),
      b.ssCompanion(15, 0x02, 49152),
      b.interfaceDescriptor(1, 2, 1, 0x0e, 0x02),
      b.endpoint(0x81, 0x05, 1024, 1),
      b.ssCompanion(15, 0x80, 49152),
      b.sspIsoCompanion(98304),
    ]);
    const alts = parseUvcDescriptors(config).streamingInterfaces[0]!.altSettings;
    expect(alts.map((a) => a.bytesPerInterval)).toEqual([0, 49152, 98304]);
    expect(alts[1]!.superSpeed).toEqual({ maxBurst: 15, attributes: 0x02, bytesPerInterval: 49152 });
  });

  it('high-bandwidth high-speed endpoints: size × (1 + mult)', () => {
    const parsed = parseUvcDescriptors(b.camera({ numFormats: 1, streaming: YUYV_640, altSettings: [0x0080, 0x0b20, 0x1400] }));
    expect(parsed.streamingInterfaces[0]!.altSettings.map((a) => [a.maxPacketSize, a.transactionsPerInterval, a.bytesPerInterval])).toEqual([
      [0, 0, 0],
      [128, 1, 128],
      [800, 2, 1600],
      [1024, 3, 3072],
    ]);
  });

  it('UVC 1.5 codecs and the frameless formats', () => {
    const parsed = parseUvcDescriptors(
      b.camera({
        bcdUVC: 0x0150,
        numFormats: 6,
        streaming: [
          b.h264Format(1, 2),
          b.h264Frame(1, 1920, 1080, [333333, 666666]),
          b.h264Frame(2, 1280, 720, [166666]),
          b.vp8Format(2, 1),
          b.vp8Frame(1, 640, 480, [333333]),
          b.frameBasedFormat(3, 'HEVC', 1),
          b.frameBasedFrame(1, 3840, 2160, { min: 333333, max: 1000000, step: 333333 }),
          b.dvFormat(4, 144000, 0x80),
          b.mpeg2tsFormat(5),
          b.streamBasedFormat(6, 'MP2T'),
        ],
        altSettings: [3072],
      }),
    );
    expect(parsed.uvcVersion).toBe('1.50');
    const formats = parsed.streamingInterfaces[0]!.formats;
    expect(formats.map((f) => [f.index, f.kind, f.fourcc, f.frames.length])).toEqual([
      [1, 'h264', 'H264', 2],
      [2, 'vp8', 'VP80', 1],
      [3, 'frame-based', 'HEVC', 1],
      [4, 'dv', 'dvsd', 1],
      [5, 'mpeg2ts', 'MPEG', 0],
      [6, 'stream-based', 'MP2T', 0],
    ]);
    expect(formats[0]!.frames[0]).toMatchObject({ width: 1920, height: 1080, intervals: [333333, 666666], defaultInterval: 333333, maxBitRate: 8_000_000 });
    expect(formats[1]!.frames[0]).toMatchObject({ width: 640, height: 480, intervals: [333333], minBitRate: 1_000_000 });
    expect(formats[2]!.frames[0]).toMatchObject({ width: 3840, intervals: { min: 333333, max: 1000000, step: 333333 }, maxFrameSize: null, bytesPerLine: 0 });
    expect(formats[3]!.frames[0]).toMatchObject({ width: 720, height: 480, maxFrameSize: 144000, intervals: [333667] });
    expect(formats[5]!.guid).toBe('5432504d-0000-0010-8000-00aa00389b71');
    expect(parsed.warnings).toEqual([]);
  });

  it('units: selector, encoding and extension units with their controls; reserved bits are reported', () => {
    const config = b.configuration([
      b.interfaceDescriptor(0, 0, 0, 0x0e, 0x01),
      b.vcHeader(0x0150, 30_000_000, []),
      b.cameraTerminal(1, [1, 3, 11, 15, 17, 18]),
      b.selectorUnit(5, [1, 6]),
      b.processingUnit(2, 5, [0, 2, 10, 18], 3),
      b.encodingUnit(7, 2, [0, 5, 19], [5]),
      b.extensionUnit(8, b.fourccGuidBytes('ABCD'), 7, [0, 9]),
      b.processingUnit(9, 1, [0], 2),
      b.outputTerminal(3, 8),
    ], 1);
    const parsed = parseUvcDescriptors(config);
    const byId = new Map(parsed.videoControl.entities.map((e) => [e.id, e]));
    expect(byId.get(1)).toMatchObject({ type: 'camera-terminal', unknownControlBits: [15] });
    expect(byId.get(1)!.controls.map((c) => [c.name, c.selector, c.bit])).toEqual([
      ['ae_mode', 2, 1],
      ['exposure_time_absolute', 4, 3],
      ['pan_tilt_absolute', 13, 11],
      ['focus_auto', 8, 17],
      ['privacy', 17, 18],
    ]);
    expect(byId.get(5)).toMatchObject({ type: 'selector-unit', sourceIds: [1, 6] });
    expect(byId.get(5)!.controls.map((c) => c.name)).toEqual(['input_select']);
    expect(byId.get(2)!.controls.map((c) => c.name)).toEqual(['brightness', 'hue', 'power_line_frequency', 'contrast_auto']);
    expect(byId.get(7)).toMatchObject({ type: 'encoding-unit', runtimeControlBits: [5] });
    expect(byId.get(7)!.controls.map((c) => [c.name, c.selector])).toEqual([
      ['select_layer', 1],
      ['rate_control_mode', 6],
      ['error_resiliency', 20],
    ]);
    expect(byId.get(8)).toMatchObject({ type: 'extension-unit', guid: '44434241-0000-0010-8000-00aa00389b71' });
    expect(byId.get(8)!.controls.map((c) => c.name)).toEqual(['xu8_1', 'xu8_10']);
    // a second processing unit's brightness must stay addressable by a name of its own
    expect(byId.get(9)!.controls.map((c) => c.name)).toEqual(['brightness_unit9']);
    expect(parsed.controls.map((c) => c.name)).toContain('brightness_unit9');
  });

  it('two video functions in one configuration', () => {
    const parsed = parseUvcDescriptors(readHex('esp_customer_dual.cfg_desc.hex'));
    expect(parsed.functions.map((f) => [f.videoControl.interfaceNumber, f.streamingInterfaces.map((s) => s.formats.map((x) => x.fourcc))])).toEqual([
      [0, [['MJPG']]],
      [2, [['H265']]],
    ]);
    expect(parsed.videoControl).toBe(parsed.functions[0]!.videoControl);
  });
});

/** Offset of the first descriptor (after the configuration header) for which `match` holds. */
function findDescriptor(bytes: Uint8Array, match: (d: Uint8Array) => boolean): number {
  for (let offset = bytes[0]!; offset < bytes.length && bytes[offset]! >= 2; offset += bytes[offset]!) {
    if (match(bytes.subarray(offset, offset + bytes[offset]!))) return offset;
  }
  throw new Error('descriptor not found');
}
