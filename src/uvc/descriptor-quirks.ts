/**
 * Quirks that change what the descriptors mean, applied to the parsed model as uvc_parse_format() applies them:
 *
 * - force-y8 (FORCE_Y8): the camera declares YUYV but sends 8-bit greyscale; the same bytes hold a picture twice as
 *   wide. Its YUYV formats become GREY, 8 bits per pixel, frames twice as wide.
 * - restrict-frame-rate (RESTRICT_FRAME_RATE): the camera lists several intervals but streams at the default one;
 *   each frame keeps its default interval only, so nobody is offered a rate the camera will not deliver.
 *
 * And one that changes what the status endpoint's bInterval means:
 * - status-interval (STATUS_INTERVAL): at high speed and above bInterval is an exponent (1–16); a camera that wrote
 *   a larger number meant milliseconds. Seen in the descriptor itself, so it is detected, never needed from the table.
 *
 * The parsed model is not changed: a corrected copy is returned.
 */
import type { UsbSpeed } from '../spec/usb.js';
import type { UvcDescriptors, UvcFunction, VideoFormat, VideoStreamingInterface } from './descriptors/model.js';
import type { DeviceQuirks } from './quirks.js';

/** guidFormat of 8-bit greyscale ('Y800'). */
const Y800_GUID = '30303859-0000-0010-8000-00aa00389b71';

function isYuyv(format: VideoFormat): boolean {
  return format.kind === 'uncompressed' && (format.fourcc === 'YUY2' || format.fourcc === 'YUYV');
}

function correctFormat(format: VideoFormat, quirks: DeviceQuirks): VideoFormat {
  let corrected = format;
  if (quirks.has('force-y8') && isYuyv(format)) {
    corrected = {
      ...corrected,
      fourcc: 'GREY',
      guid: Y800_GUID,
      bitsPerPixel: 8,
      frames: corrected.frames.map((frame) => ({ ...frame, width: frame.width * 2 })),
    };
  }
  if (quirks.has('restrict-frame-rate')) {
    corrected = { ...corrected, frames: corrected.frames.map((frame) => ({ ...frame, intervals: [frame.defaultInterval] })) };
  }
  return corrected;
}

function correctStreaming(vs: VideoStreamingInterface, quirks: DeviceQuirks): VideoStreamingInterface {
  return { ...vs, formats: vs.formats.map((f) => correctFormat(f, quirks)) };
}

function correctFunction<T extends UvcFunction>(fn: T, quirks: DeviceQuirks): T {
  return { ...fn, streamingInterfaces: fn.streamingInterfaces.map((vs) => correctStreaming(vs, quirks)) };
}

/** The descriptors as the camera means them, given its quirks. */
export function applyDescriptorQuirks(descriptors: UvcDescriptors, quirks: DeviceQuirks): UvcDescriptors {
  if (!quirks.has('force-y8') && !quirks.has('restrict-frame-rate')) return descriptors;
  const corrected = correctFunction(descriptors, quirks);
  // `functions[0]` is the top-level function itself: keep them one object, as the parser does.
  const functions = descriptors.functions.map((fn, i) => (i === 0 ? corrected : correctFunction(fn, quirks)));
  return { ...corrected, functions };
}

/**
 * The status endpoint's polling interval in microseconds, as the camera means it. A high-speed (or faster) bInterval
 * above 16 is the status-interval quirk (detected here): the number is milliseconds.
 */
export function statusIntervalUs(bInterval: number, speed: UsbSpeed, quirks: DeviceQuirks): number {
  if (speed === 'low' || speed === 'full') return Math.max(1, bInterval) * 1000;
  if (bInterval > 16) {
    quirks.detect('status-interval', `the ${speed}-speed status endpoint has bInterval ${bInterval} (an exponent may be 1-16): read as ms`);
  }
  if (quirks.has('status-interval') && bInterval > 16) return bInterval * 1000;
  return 125 * 2 ** (Math.min(16, Math.max(1, bInterval)) - 1);
}
