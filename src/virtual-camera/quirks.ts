/**
 * Real cameras' misbehaviour, on demand: `new VirtualCamera({ quirks: ['stream-no-fid', ...] })` by the kebab-case
 * names of shared/reference/uvc-quirks.md. Each quirk is a way real firmware answers (see uvcvideo.h's UVC_QUIRK_*
 * and uvc_driver.c's uvc_ids[] for the cameras that do it); the files that speak the protocol check the resolved set
 * where the camera would misbehave. Unlike `faults` (damage on purpose, per frame or per request), a quirk is how the
 * camera always is.
 */
import type { InvalidOption, UvcVersion, VirtualSpeed, VirtualTransfer } from './types.js';

export const VIRTUAL_QUIRKS = {
  /** FID stays 0 on every payload; only EOF marks where a frame ends. */
  'stream-no-fid': 'never toggles FID',
  /** GET_MIN/GET_MAX(PROBE) stall (REQUEST_ERROR_CODE: invalid request). */
  'probe-minmax': 'stalls GET_MIN/GET_MAX on the probe control',
  /** GET_DEF(PROBE) answers a block that names no mode; a SET_CUR that sends its nonsense back stalls. */
  'probe-def': 'answers GET_DEF(PROBE) wrongly',
  /** A UVC 1.0 camera that stalls a 26-byte probe/commit SET_CUR and speaks 34 bytes. */
  'probe-extrafields': 'wants the 34-byte probe block although it is UVC 1.0',
  /** GET_MIN/GET_MAX(PROBE) answer wCompQuality only (2 bytes), as Bison chipsets do. */
  'minmax-comp-quality-only': 'answers GET_MIN/GET_MAX(PROBE) with 2 bytes',
  /** Uncompressed modes ask the largest alternate setting's bandwidth, whatever they need. */
  'fix-bandwidth': 'asks the whole bus for uncompressed modes',
  /** dwMaxPayloadTransferSize beyond every alt setting (compressed modes), sign-extended (uncompressed ones). */
  'oversized-payload-size': 'asks a payload size no alternate setting has',
  /** Several intervals in the descriptors; frames are captured at the default one whatever was committed. */
  'restrict-frame-rate': 'streams at the default frame interval only',
  /** Every control goes back to its default when streaming starts, without a status event. */
  'restore-ctrls-on-init': 'forgets control values at stream start',
  /** YUYV formats carry 8-bit greyscale pictures twice as wide (same bytes per frame). */
  'force-y8': 'sends greyscale under a YUYV GUID',
  /** The SOF field of the SCR counts at a wrong rate (device clock / 65536), unrelated to the bus SOF. */
  'invalid-device-sof': 'puts its own counter in the SCR SOF field',
  /** Every third MJPEG frame ends without EOF and the next one keeps its FID (it starts with SOI). */
  'mjpeg-no-eof': 'ends some MJPEG frames without EOF or FID toggle',
  /** The high-speed status endpoint's bInterval is written in milliseconds (32) instead of as an exponent. */
  'status-interval': 'status endpoint bInterval in milliseconds',
  /** Header-only payloads between frames carry PTS and SCR of all zeros. */
  'zero-scr-idle': 'zero PTS/SCR in idle payloads',
  /** SET_CUR of a unit control takes one byte less than was sent, and still says OK. */
  'short-control-ack': 'acknowledges SET_CUR with fewer bytes than sent',
} as const;

export type VirtualQuirk = keyof typeof VIRTUAL_QUIRKS;
export const VIRTUAL_QUIRK_NAMES = Object.keys(VIRTUAL_QUIRKS) as VirtualQuirk[];

/** The quirk set, resolved: `has()` where the camera would misbehave. */
export type QuirkSet = ReadonlySet<VirtualQuirk>;

interface QuirkContext {
  uvcVersion: UvcVersion;
  speed: VirtualSpeed;
  transfer: VirtualTransfer;
  invalid: InvalidOption;
}

/** Validates the list; refuses combinations no camera could have (EINVAL naming the quirk). */
export function resolveQuirks(value: unknown, ctx: QuirkContext): QuirkSet {
  if (value === undefined) return new Set();
  if (!Array.isArray(value)) ctx.invalid('quirks must be an array of quirk names');
  const set = new Set<VirtualQuirk>();
  for (const name of value as unknown[]) {
    if (typeof name !== 'string' || !Object.hasOwn(VIRTUAL_QUIRKS, name)) {
      ctx.invalid(`unknown quirk ${JSON.stringify(name)}; known: ${VIRTUAL_QUIRK_NAMES.join(', ')}`);
    }
    set.add(name as VirtualQuirk);
  }
  if (set.has('probe-extrafields') && ctx.uvcVersion !== '1.0') {
    ctx.invalid(`quirk 'probe-extrafields' is a UVC 1.0 camera's (uvcVersion '1.0'), not ${ctx.uvcVersion}'s`);
  }
  if (set.has('status-interval') && ctx.speed === 'full') {
    ctx.invalid("quirk 'status-interval' needs a high-speed or SuperSpeed camera (at full speed bInterval is in frames anyway)");
  }
  for (const iso of ['fix-bandwidth', 'oversized-payload-size'] as const) {
    if (set.has(iso) && ctx.transfer !== 'iso') ctx.invalid(`quirk '${iso}' is about isochronous alternate settings; this camera is bulk`);
  }
  return set;
}
