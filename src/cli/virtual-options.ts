/**
 * `--virtual-option key=value`: the built-in virtual camera's options from the command line. Keys are those of
 * VirtualCameraOptions (`speed=super`, `pace=fast`, `omitHuffmanTables=true`, `formats=[…JSON…]`) and of its
 * faults as `faults.<name>` (`faults.unplugAtFrame=40`, `faults.errorFrames=[3,7]`). Values are JSON when they
 * parse as JSON, else strings. The camera itself validates them (EINVAL says what is wrong).
 */
import { InvalidArgumentError } from 'commander';
import type { FaultOptions, VirtualCameraOptions } from '../virtual-camera/index.js';
import { VIRTUAL_QUIRKS } from '../virtual-camera/quirks.js';
import { looseValue, splitAssignment } from './arguments.js';

/** Every option of the virtual camera, with what it does: the help is complete by construction (a new option does not compile without a line here). */
const OPTION_HELP = {
  speed: 'full | high | super: the USB speed it enumerates at (default high)',
  transfer: 'iso | bulk: the video endpoint type (default iso)',
  uvcVersion: '1.0 | 1.1 | 1.5: the UVC version it declares (default 1.1)',
  pace: 'realtime | fast: frames at the negotiated rate on the wall clock, or back to back as fast as the host reads (default realtime)',
  formats: 'JSON array of { "format": "yuyv"|"nv12"|"mjpeg", "frames": [{ "width", "height", "fps": [30, 15] }], "defaultFrame" }',
  vendorId: 'idVendor, a number (default 0x1209 = 4617)',
  productId: 'idProduct, a number (default 1)',
  deviceRelease: 'bcdDevice, a number (default 0x0100 = 256)',
  manufacturer: 'the manufacturer string (default "uvc-capture")',
  product: 'the product string (default "Virtual UVC Camera")',
  serial: 'the serial number string (default 0001; null for none)',
  clockFrequency: 'dwClockFrequency of the clock behind PTS/SCR, in Hz (default 48000000)',
  clockDriftPpm: 'how far that clock runs off nominal against the bus clock, in ppm (default 0)',
  headerPts: 'true | false: PTS in payload headers (default true)',
  headerScr: 'true | false: SCR in payload headers (default true)',
  idlePackets: 'header | empty: what iso intervals without video carry (default header)',
  preciseCompletions: 'true: real-time iso completions timed to the event loop, not to millisecond ticks (costs CPU)',
  bulkMaxPayloadTransferSize: 'bulk: dwMaxPayloadTransferSize, bytes (default 32768; 4096 at full speed)',
  omitHuffmanTables: 'true: MJPEG frames without DHT segments, as many real cameras send them',
  frameCache: 'render at most N distinct frames and cycle them (benchmarks in fast pace)',
  renderAhead: 'frames rendered ahead of the one sent (default 3)',
  seed: 'seeds every random choice: packet loss, clock start (default 1)',
  faults: 'JSON object of faults (below), or set them one by one with faults.<name>=value',
  quirks: 'JSON array of real cameras\' misbehaviours, always on (below), e.g. \'["stream-no-fid"]\'',
  sentFramesLimit: 'how many records of sent frames (the ground truth tests read) are kept (default 2048)',
  profile: "a real camera's face: logitech-c270, logitech-c310, logitech-streamcam, anker-powerconf-c200, canyon-cne-cwc2, trust-webcam, elp-h264, elp-h265, customer-dual, dual-tusb",
  descriptors: 'library only (VirtualCamera.fromDescriptors): { configuration, device } descriptor bytes',
} satisfies Record<keyof VirtualCameraOptions, string>;

const STRING_KEYS = new Set(['uvcVersion', 'speed', 'transfer', 'manufacturer', 'product', 'serial', 'pace', 'idlePackets', 'profile']);

/** A frame set: "all", [3,7] (frame numbers from 0), or {"every":10,"offset":2}. A request match: {"request":1,"interface":0,"entity":2,"selector":2}. */
const FAULT_HELP = {
  packetLossRate: 'iso: probability 0–1 that a packet is spoiled on the bus',
  packetLoss: 'error | missing: a spoiled packet completes with an error status, or arrives empty (default error)',
  errorFrames: 'frame set: frames whose payload headers carry the ERR bit',
  streamErrorCode: 'STREAM_ERROR_CODE for those frames, 1–7 (default 3, data discontinuity)',
  missingEof: 'frame set: frames whose last payload lacks the EOF bit',
  fidNeverToggles: 'true: FID stays 0, only EOF marks frame ends',
  shortFrames: 'frame set: frames cut short before EOF',
  shortFrameRatio: 'the share of a short frame that is sent, 0–1',
  overflowFrames: 'frame set: frames sent longer than the committed dwMaxVideoFrameSize',
  completionJitterMs: 'replies to video transfers reach the host 0–N ms late, in order (as through USB/IP)',
  stallRequests: 'JSON array of request matches answered with STALL (+ "errorCode" for REQUEST_ERROR_CODE)',
  ignoreRequests: 'JSON array of request matches never answered',
  slowRequests: 'JSON { "delayMs": 500, "match": {…} }: requests answered late',
  reportedMaxPayloadTransferSize: 'dwMaxPayloadTransferSize that probe/commit claim, whatever is sent',
  probeReplyLength: 'bytes of every PROBE/COMMIT GET reply (e.g. 26 on a UVC 1.1 camera)',
  unplugAtFrame: 'leave the bus as frame N (from 0) is about to be sent',
  unplugAfterMs: 'leave the bus N ms after the faults are set',
} satisfies Record<keyof FaultOptions, string>;

const OPTION_KEYS: Record<string, string> = OPTION_HELP;
const FAULT_KEYS: Record<string, string> = FAULT_HELP;

function table(entries: Readonly<Record<string, string>>, prefix = ''): string {
  const width = Math.max(...Object.keys(entries).map((k) => prefix.length + k.length));
  return Object.entries(entries)
    .map(([key, text]) => `  ${(prefix + key).padEnd(width)}  ${text}`)
    .join('\n');
}

export const VIRTUAL_OPTION_HELP = `The built-in virtual camera (--virtual, --fallback-virtual) is a USB device model that speaks UVC: formats YUYV,
NV12 and MJPEG in any sizes and rates, a moving test picture whose frames carry their number, working controls, and
faults on demand. Shape it with --virtual-option key=value (repeatable; values are JSON when they parse as JSON,
else strings).

Options:
${table(OPTION_HELP)}

Quirks (--virtual-option 'quirks=["name", …]'):
${table(VIRTUAL_QUIRKS)}

Faults (--virtual-option faults.<name>=value; serve-usbip: --fault <name>=value):
${table(FAULT_HELP, 'faults.')}
  A frame set is "all", a list of frame numbers from 0 ([3,7]) or {"every":10,"offset":2}; a request match is
  {"request":1,"interface":0,"entity":2,"selector":2} (any field may be left out).

Examples:
  uvc-capture --virtual --virtual-option speed=super --virtual-option transfer=bulk --frames 100
  uvc-capture --virtual --virtual-option pace=fast --virtual-option faults.unplugAtFrame=40 -o frames/
  uvc-capture check --virtual --virtual-option faults.packetLossRate=0.01
  uvc-capture --virtual --virtual-option 'formats=[{"format":"mjpeg","frames":[{"width":800,"height":600,"fps":[20]}]}]'`;

/** Merges `key=value` assignments into virtual camera options (later ones win). */
export function virtualOptionsFrom(assignments: readonly string[], base: VirtualCameraOptions = {}): VirtualCameraOptions {
  const options: Record<string, unknown> = { ...base };
  const faults: Record<string, unknown> = { ...(base.faults ?? {}) };
  let hasFaults = base.faults !== undefined;
  for (const text of assignments) {
    const [key, raw] = splitAssignment(text, '--virtual-option');
    const value = looseValue(raw);
    if (key.startsWith('faults.')) {
      const name = key.slice('faults.'.length);
      if (!(name in FAULT_KEYS)) throw new InvalidArgumentError(`unknown fault '${name}'; faults are: ${Object.keys(FAULT_KEYS).join(', ')}.`);
      faults[name] = value;
      hasFaults = true;
    } else if (key === 'faults') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError('faults takes a JSON object.');
      Object.assign(faults, value);
      hasFaults = true;
    } else if (key in OPTION_KEYS) {
      // String options stay the string that was typed (serial=0001, uvcVersion=1.0), never a JSON number.
      options[key] = STRING_KEYS.has(key) ? raw : value;
    } else {
      throw new InvalidArgumentError(`unknown virtual camera option '${key}'; options are: ${Object.keys(OPTION_KEYS).join(', ')}, faults.<name>.`);
    }
  }
  if (hasFaults) options.faults = faults;
  return options as VirtualCameraOptions;
}
