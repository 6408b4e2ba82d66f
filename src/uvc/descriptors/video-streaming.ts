/**
 * A VideoStreaming interface: its header, formats with their frames, still image frames and color matching, and
 * its alt settings. Class-specific descriptors are taken from alt setting 0 wherever they sit (some cameras put
 * them after the endpoint descriptor).
 *
 * Tolerance follows uvcvideo: a broken format or frame is skipped with a warning, zero intervals become 1 (never
 * divide by zero downstream), a default interval outside the frame's range is clamped into it, counts that
 * disagree with what is there are reported and what is there is used.
 */
import { CS_INTERFACE, VsSubtype } from '../../spec/uvc.js';
import { describeAltSetting } from './alt-settings.js';
import { ByteReader, hex } from './byte-reader.js';
import type { AltSettingBlock, RawDescriptor } from './configuration-walker.js';
import { formatGuid, fourccFromGuid } from './guid.js';
import type {
  AltSetting,
  ColorMatching,
  FormatKind,
  FrameIntervals,
  StillImageFrame,
  TransferType,
  VideoFormat,
  VideoFrame,
  VideoStreamingInterface,
} from './model.js';
import type { ParseContext } from './parse-context.js';

/** What the specification prescribes when a format has no color matching descriptor. */
export const DEFAULT_COLOR_MATCHING: Readonly<ColorMatching> = Object.freeze({
  colorPrimaries: 1,
  transferCharacteristics: 1,
  matrixCoefficients: 4,
  source: 'default',
});

interface FormatLayout {
  kind: FormatKind;
  frameSubtype: number | null;
}

const FORMAT_LAYOUTS: ReadonlyMap<number, FormatLayout> = new Map([
  [VsSubtype.FORMAT_UNCOMPRESSED, { kind: 'uncompressed', frameSubtype: VsSubtype.FRAME_UNCOMPRESSED }],
  [VsSubtype.FORMAT_MJPEG, { kind: 'mjpeg', frameSubtype: VsSubtype.FRAME_MJPEG }],
  [VsSubtype.FORMAT_FRAME_BASED, { kind: 'frame-based', frameSubtype: VsSubtype.FRAME_FRAME_BASED }],
  [VsSubtype.FORMAT_H264, { kind: 'h264', frameSubtype: VsSubtype.FRAME_H264 }],
  [VsSubtype.FORMAT_H264_SIMULCAST, { kind: 'h264', frameSubtype: VsSubtype.FRAME_H264 }],
  [VsSubtype.FORMAT_VP8, { kind: 'vp8', frameSubtype: VsSubtype.FRAME_VP8 }],
  [VsSubtype.FORMAT_VP8_SIMULCAST, { kind: 'vp8', frameSubtype: VsSubtype.FRAME_VP8 }],
  [VsSubtype.FORMAT_DV, { kind: 'dv', frameSubtype: null }],
  [VsSubtype.FORMAT_MPEG2TS, { kind: 'mpeg2ts', frameSubtype: null }],
  [VsSubtype.FORMAT_STREAM_BASED, { kind: 'stream-based', frameSubtype: null }],
]);

const FRAME_SUBTYPES: ReadonlySet<number> = new Set([
  VsSubtype.FRAME_UNCOMPRESSED,
  VsSubtype.FRAME_MJPEG,
  VsSubtype.FRAME_FRAME_BASED,
  VsSubtype.FRAME_H264,
  VsSubtype.FRAME_VP8,
]);

interface Header {
  direction: 'in' | 'out';
  numFormats: number;
  endpointAddress: number;
  terminalLink: number;
  dynamicFormatChange: boolean;
  stillCaptureMethod: number;
  triggerSupport: number;
  triggerUsage: number;
  formatControls: number[];
}

export function parseVideoStreaming(alts: AltSettingBlock[], ctx: ParseContext): VideoStreamingInterface {
  const ordered = [...alts].sort((a, b) => a.alternateSetting - b.alternateSetting);
  const alt0 = ordered[0]!;
  if (alt0.alternateSetting !== 0) ctx.warn(alt0.offset, `VideoStreaming interface ${alt0.interfaceNumber} has no alt setting 0`);
  for (const alt of ordered.slice(1)) {
    if (alt.extra.some((d) => d.type === CS_INTERFACE)) {
      ctx.warn(alt.offset, `class-specific descriptors in alt setting ${alt.alternateSetting} of interface ${alt.interfaceNumber} ignored`);
    }
  }

  const classSpecific = alt0.extra.filter((d) => d.type === CS_INTERFACE);
  let header: Header | null = null;
  const formats: VideoFormat[] = [];
  const formatIndexes = new Set<number>();
  let current: { format: VideoFormat; frameSubtype: number | null; frameIndexes: Set<number> } | null = null;

  for (const descriptor of classSpecific) {
    ctx.tick();
    if (descriptor.bytes.length < 3) {
      ctx.warn(descriptor.offset, `class-specific descriptor of ${descriptor.bytes.length} bytes ignored`);
      continue;
    }
    const subtype = descriptor.bytes[2]!;
    if (subtype === VsSubtype.INPUT_HEADER || subtype === VsSubtype.OUTPUT_HEADER) {
      if (header !== null) {
        ctx.warn(descriptor.offset, 'second VideoStreaming header ignored');
        continue;
      }
      header = ctx.attempt(descriptor.offset, 'VideoStreaming header', () => parseHeader(descriptor, subtype, ctx));
      continue;
    }
    const layout = FORMAT_LAYOUTS.get(subtype);
    if (layout !== undefined) {
      const format = ctx.attempt(descriptor.offset, `format descriptor (subtype ${hex(subtype)})`, () =>
        parseFormat(descriptor, subtype, layout.kind, ctx),
      );
      current = null;
      if (format === null) continue;
      if (formatIndexes.has(format.index)) {
        ctx.warn(descriptor.offset, `format index ${format.index} used twice; the second format and its frames are ignored`);
        continue;
      }
      formatIndexes.add(format.index);
      formats.push(format);
      current = { format, frameSubtype: layout.frameSubtype, frameIndexes: new Set(format.frames.map((f) => f.index)) };
      continue;
    }
    if (FRAME_SUBTYPES.has(subtype)) {
      if (current === null) {
        ctx.warn(descriptor.offset, `frame descriptor (subtype ${hex(subtype)}) without a format before it ignored`);
        continue;
      }
      if (current.frameSubtype !== subtype) {
        ctx.warn(descriptor.offset, `frame descriptor subtype ${hex(subtype)} does not belong to a ${current.format.kind} format; ignored`);
        continue;
      }
      const format = current.format;
      const frame = ctx.attempt(descriptor.offset, `frame descriptor (subtype ${hex(subtype)})`, () =>
        parseFrame(descriptor, subtype, ctx),
      );
      if (frame === null) continue;
      if (current.frameIndexes.has(frame.index)) {
        ctx.warn(descriptor.offset, `frame index ${frame.index} used twice in format ${format.index}; ignored`);
        continue;
      }
      current.frameIndexes.add(frame.index);
      format.frames.push(frame);
      continue;
    }
    if (subtype === VsSubtype.STILL_IMAGE_FRAME) {
      if (current === null) {
        ctx.warn(descriptor.offset, 'still image frame descriptor without a format before it ignored');
        continue;
      }
      const format = current.format;
      const still = ctx.attempt(descriptor.offset, 'still image frame descriptor', () => parseStillImage(descriptor, ctx));
      if (still !== null) format.stillImage = still;
      continue;
    }
    if (subtype === VsSubtype.COLORFORMAT) {
      if (current === null) {
        ctx.warn(descriptor.offset, 'color matching descriptor without a format before it ignored');
        continue;
      }
      if (descriptor.bytes.length < 6) {
        ctx.warn(descriptor.offset, `color matching descriptor of ${descriptor.bytes.length} bytes (needs 6) ignored`);
        continue;
      }
      const b = descriptor.bytes;
      current.format.colorMatching = { colorPrimaries: b[3]!, transferCharacteristics: b[4]!, matrixCoefficients: b[5]!, source: 'descriptor' };
      continue;
    }
    ctx.warn(descriptor.offset, `unknown VideoStreaming descriptor subtype ${hex(subtype)} ignored`);
  }

  if (header === null) {
    ctx.warn(alt0.offset, `VideoStreaming interface ${alt0.interfaceNumber} has no usable header; endpoint taken from the alt settings`);
  }

  const preferred = header?.endpointAddress ?? null;
  const altSettings: AltSetting[] = ordered.map((alt) => describeAltSetting(alt, preferred, ctx));
  const { endpointAddress, transferType } = streamingEndpoint(altSettings, preferred, alt0, ctx);

  if (header !== null && header.numFormats !== formats.length) {
    ctx.warn(alt0.offset, `interface ${alt0.interfaceNumber}: header announces ${header.numFormats} formats, ${formats.length} found`);
  }
  const stillCaptureMethod = header?.stillCaptureMethod ?? 0;
  for (const format of formats) {
    ctx.tick(format.frames.length);
    finishFormat(format, stillCaptureMethod, ctx);
  }

  return {
    interfaceNumber: alt0.interfaceNumber,
    offset: alt0.offset,
    direction: header?.direction ?? 'in',
    endpointAddress,
    transferType,
    terminalLink: header?.terminalLink ?? 0,
    dynamicFormatChange: header?.dynamicFormatChange ?? false,
    stillCaptureMethod,
    triggerSupport: header?.triggerSupport ?? 0,
    triggerUsage: header?.triggerUsage ?? 0,
    formatControls: header?.formatControls ?? [],
    altSettings,
    formats,
  };
}

function parseHeader(descriptor: RawDescriptor, subtype: number, ctx: ParseContext): Header {
  const input = subtype === VsSubtype.INPUT_HEADER;
  const r = new ByteReader(descriptor.bytes, descriptor.offset, input ? 'VS input header' : 'VS output header');
  const numFormats = r.u8(3, 'bNumFormats');
  const endpointAddress = r.u8(6, 'bEndpointAddress');
  const controlSizeAt = input ? 12 : 8;
  const controlSize = r.u8(controlSizeAt, 'bControlSize');
  const controlsAt = controlSizeAt + 1;
  const room = controlSize === 0 ? numFormats : Math.floor((r.length - controlsAt) / controlSize);
  const fitting = Math.max(0, Math.min(numFormats, room));
  if (controlSize > 0 && fitting < numFormats) {
    ctx.warn(r.offset, `${r.what} has room for ${fitting} of ${numFormats} bmaControls entries`);
  }
  const formatControls: number[] = [];
  for (let i = 0; i < fitting; i++) {
    ctx.tick();
    let value = 0;
    for (let j = 0; j < Math.min(controlSize, 4); j++) value |= r.u8(controlsAt + i * controlSize + j, 'bmaControls') << (8 * j);
    formatControls.push(value >>> 0);
  }
  return {
    direction: input ? 'in' : 'out',
    numFormats,
    endpointAddress,
    terminalLink: r.u8(input ? 8 : 7, 'bTerminalLink'),
    dynamicFormatChange: input ? (r.u8(7, 'bmInfo') & 0x01) !== 0 : false,
    stillCaptureMethod: input ? r.u8(9, 'bStillCaptureMethod') : 0,
    triggerSupport: input ? r.u8(10, 'bTriggerSupport') : 0,
    triggerUsage: input ? r.u8(11, 'bTriggerUsage') : 0,
    formatControls,
  };
}

function streamingEndpoint(
  altSettings: AltSetting[],
  preferred: number | null,
  alt0: AltSettingBlock,
  ctx: ParseContext,
): { endpointAddress: number; transferType: TransferType } {
  const withEndpoint = altSettings.filter((a) => a.endpointAddress !== null);
  const first = altSettings[0]!;
  let transferType: TransferType;
  if (first.transferType === 'bulk') transferType = 'bulk';
  else if (withEndpoint.some((a) => a.transferType === 'isochronous')) transferType = 'isochronous';
  else if (withEndpoint.some((a) => a.transferType === 'bulk')) transferType = 'bulk';
  else {
    // uvcvideo's rule when the endpoints tell nothing: several alt settings mean isochronous.
    transferType = altSettings.length > 1 ? 'isochronous' : 'bulk';
    ctx.warn(alt0.offset, `VideoStreaming interface ${alt0.interfaceNumber} has no video data endpoint`);
  }
  const endpointAddress = preferred ?? withEndpoint[0]?.endpointAddress ?? 0;
  return { endpointAddress, transferType };
}

function parseFormat(descriptor: RawDescriptor, subtype: number, kind: FormatKind, ctx: ParseContext): VideoFormat {
  const r = new ByteReader(descriptor.bytes, descriptor.offset, `${kind} format descriptor`);
  const base: VideoFormat = {
    index: r.u8(3, 'bFormatIndex'),
    offset: r.offset,
    kind,
    subtype,
    fourcc: null,
    guid: null,
    bitsPerPixel: 0,
    defaultFrameIndex: 0,
    aspectRatioX: 0,
    aspectRatioY: 0,
    interlaceFlags: 0,
    copyProtect: 0,
    fixedSizeSamples: false,
    declaredFrameCount: 0,
    frames: [],
    stillImage: null,
    colorMatching: { ...DEFAULT_COLOR_MATCHING },
  };
  switch (kind) {
    case 'uncompressed':
    case 'frame-based': {
      const guidBytes = r.slice(5, 16, 'guidFormat');
      base.declaredFrameCount = r.u8(4, 'bNumFrameDescriptors');
      base.guid = formatGuid(guidBytes);
      base.fourcc = fourccFromGuid(guidBytes);
      base.bitsPerPixel = r.u8(21, 'bBitsPerPixel');
      base.defaultFrameIndex = r.u8(22, 'bDefaultFrameIndex');
      base.aspectRatioX = r.u8(23, 'bAspectRatioX');
      base.aspectRatioY = r.u8(24, 'bAspectRatioY');
      base.interlaceFlags = r.u8(25, 'bmInterlaceFlags');
      base.copyProtect = r.u8(26, 'bCopyProtect');
      if (kind === 'uncompressed') base.fixedSizeSamples = true;
      else if (r.has(27, 1)) base.fixedSizeSamples = r.u8(27, 'bVariableSize') === 0;
      else ctx.warn(r.offset, 'frame-based format without bVariableSize; variable size assumed');
      return base;
    }
    case 'mjpeg':
      base.fourcc = 'MJPG';
      base.declaredFrameCount = r.u8(4, 'bNumFrameDescriptors');
      base.fixedSizeSamples = (r.u8(5, 'bmFlags') & 0x01) !== 0;
      base.defaultFrameIndex = r.u8(6, 'bDefaultFrameIndex');
      base.aspectRatioX = r.u8(7, 'bAspectRatioX');
      base.aspectRatioY = r.u8(8, 'bAspectRatioY');
      base.interlaceFlags = r.u8(9, 'bmInterlaceFlags');
      base.copyProtect = r.u8(10, 'bCopyProtect');
      return base;
    case 'h264':
    case 'vp8':
      base.fourcc = kind === 'h264' ? 'H264' : 'VP80';
      base.declaredFrameCount = r.u8(4, 'bNumFrameDescriptors');
      base.defaultFrameIndex = r.u8(5, 'bDefaultFrameIndex');
      return base;
    case 'dv': {
      base.fourcc = 'dvsd';
      const maxFrameSize = r.u32(4, 'dwMaxVideoFrameBufferSize');
      const formatType = r.u8(8, 'bFormatType');
      // No frame descriptors: one frame stands for the format (bit 7 set: 60 Hz). SD-DV and SDL-DV are 720 wide.
      const sixty = (formatType & 0x80) !== 0;
      const standardDefinition = (formatType & 0x7f) <= 1;
      const interval = sixty ? 333667 : 400000;
      base.defaultFrameIndex = 1;
      base.declaredFrameCount = 1;
      base.frames.push({
        index: 1,
        offset: r.offset,
        width: standardDefinition ? 720 : 0,
        height: standardDefinition ? (sixty ? 480 : 576) : 0,
        capabilities: 0,
        minBitRate: 0,
        maxBitRate: 0,
        maxFrameSize,
        bytesPerLine: null,
        defaultInterval: interval,
        intervals: [interval],
        stillImageSizes: [],
      });
      return base;
    }
    case 'mpeg2ts':
      base.fourcc = 'MPEG';
      r.u8(6, 'bStrideLength');
      return base;
    case 'stream-based': {
      const guidBytes = r.slice(4, 16, 'guidFormat');
      base.guid = formatGuid(guidBytes);
      base.fourcc = fourccFromGuid(guidBytes);
      return base;
    }
  }
}

interface FrameLayout {
  capabilities: number | null;
  width: number;
  height: number;
  minBitRate: number;
  maxBitRate: number;
  maxFrameSize: number | null;
  bytesPerLine: number | null;
  defaultInterval: number;
  intervalType: number;
  intervalsAt: number;
  continuousAllowed: boolean;
}

function frameLayout(r: ByteReader, subtype: number): FrameLayout {
  switch (subtype) {
    case VsSubtype.FRAME_FRAME_BASED:
      return {
        capabilities: r.u8(4, 'bmCapabilities'),
        width: r.u16(5, 'wWidth'),
        height: r.u16(7, 'wHeight'),
        minBitRate: r.u32(9, 'dwMinBitRate'),
        maxBitRate: r.u32(13, 'dwMaxBitRate'),
        maxFrameSize: null,
        defaultInterval: r.u32(17, 'dwDefaultFrameInterval'),
        intervalType: r.u8(21, 'bFrameIntervalType'),
        bytesPerLine: r.u32(22, 'dwBytesPerLine'),
        intervalsAt: 26,
        continuousAllowed: true,
      };
    case VsSubtype.FRAME_H264:
      return {
        capabilities: null,
        width: r.u16(4, 'wWidth'),
        height: r.u16(6, 'wHeight'),
        minBitRate: r.u32(31, 'dwMinBitRate'),
        maxBitRate: r.u32(35, 'dwMaxBitRate'),
        maxFrameSize: null,
        bytesPerLine: null,
        defaultInterval: r.u32(39, 'dwDefaultFrameInterval'),
        intervalType: r.u8(43, 'bNumFrameIntervals'),
        intervalsAt: 44,
        continuousAllowed: false,
      };
    case VsSubtype.FRAME_VP8:
      return {
        capabilities: null,
        width: r.u16(4, 'wWidth'),
        height: r.u16(6, 'wHeight'),
        minBitRate: r.u32(18, 'dwMinBitRate'),
        maxBitRate: r.u32(22, 'dwMaxBitRate'),
        maxFrameSize: null,
        bytesPerLine: null,
        defaultInterval: r.u32(26, 'dwDefaultFrameInterval'),
        intervalType: r.u8(30, 'bNumFrameIntervals'),
        intervalsAt: 31,
        continuousAllowed: false,
      };
    default: // uncompressed and MJPEG
      return {
        capabilities: r.u8(4, 'bmCapabilities'),
        width: r.u16(5, 'wWidth'),
        height: r.u16(7, 'wHeight'),
        minBitRate: r.u32(9, 'dwMinBitRate'),
        maxBitRate: r.u32(13, 'dwMaxBitRate'),
        maxFrameSize: r.u32(17, 'dwMaxVideoFrameBufferSize'),
        bytesPerLine: null,
        defaultInterval: r.u32(21, 'dwDefaultFrameInterval'),
        intervalType: r.u8(25, 'bFrameIntervalType'),
        intervalsAt: 26,
        continuousAllowed: true,
      };
  }
}

function parseFrame(descriptor: RawDescriptor, subtype: number, ctx: ParseContext): VideoFrame | null {
  const r = new ByteReader(descriptor.bytes, descriptor.offset, 'frame descriptor');
  const index = r.u8(3, 'bFrameIndex');
  const layout = frameLayout(r, subtype);
  const intervals = readIntervals(r, layout, index, ctx);
  if (intervals === null) return null;
  return {
    index,
    offset: r.offset,
    width: layout.width,
    height: layout.height,
    capabilities: layout.capabilities ?? 0,
    minBitRate: layout.minBitRate,
    maxBitRate: layout.maxBitRate,
    maxFrameSize: layout.maxFrameSize,
    bytesPerLine: layout.bytesPerLine,
    defaultInterval: clampDefaultInterval(layout.defaultInterval, intervals, r.offset, index, ctx),
    intervals,
    stillImageSizes: [],
  };
}

function readIntervals(r: ByteReader, layout: FrameLayout, frameIndex: number, ctx: ParseContext): FrameIntervals | null {
  const at = layout.intervalsAt;
  const nonZero = (value: number, what: string): number => {
    if (value !== 0) return value;
    ctx.warn(r.offset, `frame ${frameIndex}: ${what} is 0; read as 1`);
    return 1;
  };
  if (layout.intervalType === 0 && layout.continuousAllowed) {
    if (!r.has(at, 12)) {
      ctx.warn(r.offset, `frame ${frameIndex}: continuous intervals need ${at + 12} bytes, descriptor has ${r.length}; frame ignored`);
      return null;
    }
    let min = nonZero(r.u32(at, 'dwMinFrameInterval'), 'dwMinFrameInterval');
    let max = nonZero(r.u32(at + 4, 'dwMaxFrameInterval'), 'dwMaxFrameInterval');
    if (min > max) {
      ctx.warn(r.offset, `frame ${frameIndex}: dwMinFrameInterval ${min} above dwMaxFrameInterval ${max}; swapped`);
      [min, max] = [max, min];
    }
    return { min, max, step: r.u32(at + 8, 'dwFrameIntervalStep') };
  }
  const declared = layout.intervalType;
  const fitting = Math.max(0, Math.min(declared, Math.floor((r.length - at) / 4)));
  if (fitting < declared) {
    ctx.warn(r.offset, `frame ${frameIndex}: ${declared} intervals declared, room for ${fitting}`);
  }
  if (fitting === 0) {
    ctx.warn(r.offset, `frame ${frameIndex} has no frame interval; frame ignored`);
    return null;
  }
  const list: number[] = [];
  for (let i = 0; i < fitting; i++) {
    ctx.tick();
    list.push(nonZero(r.u32(at + 4 * i, 'dwFrameInterval'), `dwFrameInterval[${i}]`));
  }
  return list;
}

function clampDefaultInterval(value: number, intervals: FrameIntervals, offset: number, frameIndex: number, ctx: ParseContext): number {
  let lo: number;
  let hi: number;
  if (Array.isArray(intervals)) {
    lo = Math.min(...intervals);
    hi = Math.max(...intervals);
  } else {
    lo = intervals.min;
    hi = intervals.max;
  }
  if (value >= lo && value <= hi) return value;
  const clamped = value < lo ? lo : hi;
  ctx.warn(offset, `frame ${frameIndex}: dwDefaultFrameInterval ${value} outside ${lo}…${hi}; using ${clamped}`);
  return clamped;
}

function parseStillImage(descriptor: RawDescriptor, ctx: ParseContext): StillImageFrame {
  const r = new ByteReader(descriptor.bytes, descriptor.offset, 'still image frame descriptor');
  const endpointAddress = r.u8(3, 'bEndpointAddress');
  const declaredSizes = r.u8(4, 'bNumImageSizePatterns');
  const fittingSizes = Math.max(0, Math.min(declaredSizes, Math.floor((r.length - 5) / 4)));
  if (fittingSizes < declaredSizes) ctx.warn(r.offset, `still image frame: ${declaredSizes} sizes declared, room for ${fittingSizes}`);
  const sizes: { width: number; height: number }[] = [];
  for (let i = 0; i < fittingSizes; i++) {
    ctx.tick();
    sizes.push({ width: r.u16(5 + 4 * i, 'wWidth'), height: r.u16(7 + 4 * i, 'wHeight') });
  }
  const compression: number[] = [];
  const countAt = 5 + 4 * fittingSizes;
  if (fittingSizes === declaredSizes && r.has(countAt, 1)) {
    const declared = r.u8(countAt, 'bNumCompressionPattern');
    const fitting = Math.max(0, Math.min(declared, r.length - countAt - 1));
    if (fitting < declared) ctx.warn(r.offset, `still image frame: ${declared} compression patterns declared, room for ${fitting}`);
    for (let i = 0; i < fitting; i++) {
      ctx.tick();
      compression.push(r.u8(countAt + 1 + i, 'bCompression'));
    }
  }
  return { endpointAddress, sizes, compression };
}

function finishFormat(format: VideoFormat, stillCaptureMethod: number, ctx: ParseContext): void {
  const hasFrameDescriptors = FORMAT_LAYOUTS.get(format.subtype)?.frameSubtype !== null;
  if (hasFrameDescriptors && format.declaredFrameCount !== format.frames.length) {
    ctx.warn(format.offset, `format ${format.index} declares ${format.declaredFrameCount} frames, ${format.frames.length} found`);
  }
  if (format.frames.length > 0 && !format.frames.some((f) => f.index === format.defaultFrameIndex)) {
    ctx.warn(format.offset, `format ${format.index}: default frame index ${format.defaultFrameIndex} names no frame`);
  }
  for (const frame of format.frames) {
    if (stillCaptureMethod === 1) {
      frame.stillImageSizes = (frame.capabilities & 0x01) !== 0 ? [{ width: frame.width, height: frame.height }] : [];
    } else if (stillCaptureMethod === 2 || stillCaptureMethod === 3) {
      frame.stillImageSizes = format.stillImage?.sizes.map((s) => ({ ...s })) ?? [];
    }
  }
}
