/**
 * `--virtual-option key=value`: the built-in virtual camera's options from the command line. Keys are those of
 * VirtualCameraOptions (`speed=super`, `pace=fast`, `omitHuffmanTables=true`, `formats=[…JSON…]`) and of its
 * faults as `faults.<name>` (`faults.unplugAtFrame=40`, `faults.errorFrames=[3,7]`). Values are JSON when they
 * parse as JSON, else strings. The camera itself validates them (EINVAL says what is wrong).
 */
import { InvalidArgumentError } from 'commander';
import type { FaultOptions, VirtualCameraOptions } from '../virtual-camera/index.js';
import { looseValue, splitAssignment } from './arguments.js';

const OPTION_KEYS = {
  uvcVersion: true,
  speed: true,
  transfer: true,
  formats: true,
  vendorId: true,
  productId: true,
  deviceRelease: true,
  manufacturer: true,
  product: true,
  serial: true,
  pace: true,
  clockFrequency: true,
  clockDriftPpm: true,
  headerPts: true,
  headerScr: true,
  idlePackets: true,
  bulkMaxPayloadTransferSize: true,
  omitHuffmanTables: true,
  frameCache: true,
  renderAhead: true,
  seed: true,
  faults: true,
  sentFramesLimit: true,
  quirks: true,
} satisfies Record<keyof VirtualCameraOptions, true>;

const STRING_KEYS = new Set(['uvcVersion', 'speed', 'transfer', 'manufacturer', 'product', 'serial', 'pace', 'idlePackets']);

const FAULT_KEYS = {
  packetLossRate: true,
  packetLoss: true,
  errorFrames: true,
  streamErrorCode: true,
  missingEof: true,
  fidNeverToggles: true,
  shortFrames: true,
  shortFrameRatio: true,
  overflowFrames: true,
  stallRequests: true,
  ignoreRequests: true,
  slowRequests: true,
  reportedMaxPayloadTransferSize: true,
  probeReplyLength: true,
  unplugAtFrame: true,
  unplugAfterMs: true,
} satisfies Record<keyof FaultOptions, true>;

export const VIRTUAL_OPTION_HELP = `Virtual camera options (--virtual-option key=value, repeatable; values are JSON or strings):
  speed=full|high|super  transfer=iso|bulk  uvcVersion=1.0|1.1|1.5  pace=realtime|fast
  omitHuffmanTables=true  serial=ABC  frameCache=N  seed=N  clockDriftPpm=N  quirks='["stream-no-fid"]'
  formats='[{"format":"mjpeg","frames":[{"width":640,"height":480,"fps":[30,15]}]}]'
  faults.<name>=value: ${Object.keys(FAULT_KEYS).join(', ')}
  e.g. --virtual-option pace=fast --virtual-option faults.unplugAtFrame=40
  (see src/virtual-camera/README.md for what each does)`;

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
