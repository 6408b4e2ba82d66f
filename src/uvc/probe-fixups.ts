/**
 * uvcvideo's corrections of what devices answer in the probe block (uvc_fixup_video_ctrl), each one recorded:
 *
 * - dwMaxVideoFrameSize: for uncompressed formats the frame size is known exactly (width × height × bpp / 8), so a
 *   device answer that differs (0, or nonsense such as a hard-wired 16 low bits) is replaced by it. For compressed
 *   formats only 0 is replaced, by the frame descriptor's dwMaxVideoFrameBufferSize.
 * - dwMaxPayloadTransferSize: a 16-bit value sign-extended to 32 bits (0xffffxxxx, the Chicony "TOSHIBA Web Camera
 *   - 5M" bug) loses its upper half. On isochronous interfaces, 0 is replaced by the bandwidth estimate
 *   (bandwidth.ts), never below uvcvideo's 1024-byte floor unless the interface offers less. A value larger than any
 *   alt setting offers (oversized-payload-size) is a firmware bug when the mode cannot need it: uncompressed modes get
 *   the estimate when it fits (compressed ones are clamped by the caller once lowering the quality did not help,
 *   clampOversized()). A value an uncompressed mode really needs is left alone: then
 *   no alt setting fits and the caller gets ENOSPC. With fix-bandwidth (uvcvideo's FIX_BANDWIDTH: cameras that ask the
 *   whole bus whatever the mode) every uncompressed mode gets the estimate. On bulk interfaces 0 becomes one frame
 *   plus header.
 * `quirks` names the camera misbehaviour each correction is evidence of (the caller records them).
 */
import type { UsbSpeed } from '../spec/usb.js';
import { estimatePayloadSize, frameBytes, isCompressed, largestBytesPerInterval, PAYLOAD_HEADER_BYTES } from './bandwidth.js';
import type { VideoFormat, VideoFrame, VideoStreamingInterface } from './descriptors/model.js';
import type { ProbeControl } from './probe-block.js';
import type { QuirkName } from './quirks.js';

export interface FixupContext {
  streaming: VideoStreamingInterface;
  format: VideoFormat;
  frame: VideoFrame;
  speed: UsbSpeed;
  /** The camera has fix-bandwidth: estimate every uncompressed mode's payload size. */
  fixBandwidth?: boolean;
}

export interface FixupResult {
  control: ProbeControl;
  fixups: string[];
  /** Quirks the answer showed. */
  quirks: QuirkName[];
}

/** uvcvideo does not let an estimate go below this: measured cameras need more than the formula says. */
export const MIN_ESTIMATED_PAYLOAD = 1024;

export function fixupProbeControl(control: ProbeControl, ctx: FixupContext): FixupResult {
  const fixed: ProbeControl = { ...control };
  const fixups: string[] = [];
  const quirks: QuirkName[] = [];
  const { format, frame, streaming } = ctx;

  if (!isCompressed(format)) {
    const size = frameBytes(format, frame);
    if (fixed.dwMaxVideoFrameSize !== size) {
      fixups.push(`dwMaxVideoFrameSize ${fixed.dwMaxVideoFrameSize} replaced by ${size} (${frame.width}x${frame.height} at ${format.bitsPerPixel} bpp)`);
      fixed.dwMaxVideoFrameSize = size;
    }
  } else if (fixed.dwMaxVideoFrameSize === 0) {
    const size = frameBytes(format, frame);
    fixups.push(`dwMaxVideoFrameSize 0 replaced by ${size} from the frame descriptor`);
    fixed.dwMaxVideoFrameSize = size;
  }

  if (((fixed.dwMaxPayloadTransferSize & 0xffff0000) >>> 0) === 0xffff0000) {
    const low = fixed.dwMaxPayloadTransferSize & 0xffff;
    fixups.push(`dwMaxPayloadTransferSize 0x${fixed.dwMaxPayloadTransferSize.toString(16)} is a sign-extended 16-bit value; using ${low}`);
    fixed.dwMaxPayloadTransferSize = low;
    quirks.push('oversized-payload-size');
  }

  if (streaming.transferType === 'bulk') {
    if (fixed.dwMaxPayloadTransferSize === 0) {
      const size = fixed.dwMaxVideoFrameSize + PAYLOAD_HEADER_BYTES;
      fixups.push(`dwMaxPayloadTransferSize 0 replaced by one frame plus header (${size}) for the bulk endpoint`);
      fixed.dwMaxPayloadTransferSize = size;
    }
    return { control: fixed, fixups, quirks };
  }

  const largest = largestBytesPerInterval(streaming);
  const interval = fixed.dwFrameInterval > 0 ? fixed.dwFrameInterval : frame.defaultInterval;
  const needed = estimatePayloadSize(format, frame, interval, ctx.speed);
  const estimate = Math.max(needed, Math.min(MIN_ESTIMATED_PAYLOAD, largest));
  const reported = fixed.dwMaxPayloadTransferSize;
  const uncompressed = !isCompressed(format);
  if (reported === 0) {
    fixups.push(`dwMaxPayloadTransferSize 0 replaced by the estimate ${estimate}`);
    fixed.dwMaxPayloadTransferSize = estimate;
  } else if (ctx.fixBandwidth === true && uncompressed && streaming.altSettings.length > 1) {
    if (reported !== estimate) {
      fixups.push(`dwMaxPayloadTransferSize ${reported} replaced by the estimate ${estimate} (fix-bandwidth)`);
      fixed.dwMaxPayloadTransferSize = estimate;
    }
  } else if (reported > largest && needed <= largest && reported >= 2 * needed) {
    fixups.push(
      `dwMaxPayloadTransferSize ${reported} is more than any alt setting offers (${largest}) and at least twice what ` +
        `${frame.width}x${frame.height} at ${(1e7 / interval).toFixed(2)} fps needs (${needed}); using the estimate ${estimate}`,
    );
    fixed.dwMaxPayloadTransferSize = estimate;
    quirks.push('oversized-payload-size');
  }
  return { control: fixed, fixups, quirks };
}

/**
 * A compressed mode that still asks more than the largest alt setting after the quality was lowered: the camera
 * cannot send more than that per interval anyway, so the largest alt setting is used (uvcvideo: "UVC non compliance:
 * the max payload transmission size exceeds the size of the ep max packet ... Using the max size"). Uncompressed modes
 * are never clamped: a frame that needs more would arrive cut, so they get ENOSPC instead.
 */
export function clampOversized(control: ProbeControl, ctx: FixupContext): FixupResult {
  const largest = largestBytesPerInterval(ctx.streaming);
  if (ctx.streaming.transferType === 'bulk' || !isCompressed(ctx.format) || largest === 0 || control.dwMaxPayloadTransferSize <= largest) {
    return { control, fixups: [], quirks: [] };
  }
  return {
    control: { ...control, dwMaxPayloadTransferSize: largest },
    fixups: [`dwMaxPayloadTransferSize ${control.dwMaxPayloadTransferSize} is more than any alt setting offers; using the largest, ${largest}`],
    quirks: ['oversized-payload-size'],
  };
}
