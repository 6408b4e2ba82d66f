/**
 * Several cameras on one command line (`capture` and `plan`): `--camera ID[=MODE]`, repeated. ID is what
 * openCamera takes (a port path, vid:pid, bus/address); with `--virtual` it names a virtual camera, all of them
 * plugged into one VirtualBus (its speed from `--virtual-option speed=…`). MODE is `[FOURCC:]WxH[@FPS]` or `@FPS`
 * (`MJPEG:1280x720@30`, `640x480`, `@15`); without it the command's -f/-s/-r flags apply.
 */
import { openCamera, type Camera, type OpenCameraOptions } from '../camera/index.js';
import { VirtualBus } from '../transport/virtual/virtual-bus.js';
import type { FormatRequest } from '../uvc/index.js';
import type { VirtualCamera } from '../virtual-camera/index.js';
import { fourcc as parseFourcc, frameSize } from './arguments.js';
import { classifyOpenError, makeVirtualCamera, type CameraFlags } from './camera-selection.js';
import { CliError, ExitCode } from './exit-codes.js';
import { canonicalFourcc } from './format-choice.js';

export interface CameraSpec {
  /** The camera as given: openCamera's target, or a virtual camera's name. */
  id: string;
  /** What MODE asked for (empty when none was given). */
  mode: FormatRequest;
  text: string;
}

/** The --camera values as a list (none, one or several). */
export function cameraList(flags: Pick<CameraFlags, 'camera'>): string[] {
  const camera = flags.camera;
  return camera === undefined ? [] : Array.isArray(camera) ? camera : [camera];
}

/** Parses MODE: `[FOURCC:]WxH[@FPS]` or `@FPS`. */
export function parseMode(text: string): FormatRequest {
  const match = /^(?:([0-9A-Za-z]{2,5}):)?([^@]*)(?:@([0-9.]+))?$/.exec(text.trim());
  if (match === null || (match[2] === '' && match[3] === undefined && match[1] === undefined)) {
    throw new CliError(`cannot read the mode '${text}': give [FOURCC:]WIDTHxHEIGHT[@FPS] or @FPS, e.g. MJPEG:1280x720@30`, ExitCode.USAGE);
  }
  const mode: FormatRequest = {};
  try {
    if (match[1] !== undefined) mode.fourcc = canonicalFourcc(parseFourcc(match[1]));
    if (match[2] !== '') {
      const size = frameSize(match[2]!);
      mode.width = size.width;
      mode.height = size.height;
    }
  } catch (error) {
    throw new CliError(`cannot read the mode '${text}': ${(error as Error).message}`, ExitCode.USAGE);
  }
  if (match[3] !== undefined) {
    const fps = Number(match[3]);
    if (!(Number.isFinite(fps) && fps > 0)) throw new CliError(`cannot read the mode '${text}': the rate must be a number > 0`, ExitCode.USAGE);
    mode.fps = fps;
  }
  return mode;
}

/** `ID[=MODE]`. The ID is everything before the first '='. */
export function parseCameraSpec(text: string): CameraSpec {
  const at = text.indexOf('=');
  const id = (at < 0 ? text : text.slice(0, at)).trim();
  if (id === '') throw new CliError(`--camera '${text}' names no camera`, ExitCode.USAGE);
  return { id, mode: at < 0 ? {} : parseMode(text.slice(at + 1)), text };
}

export function parseCameraSpecs(flags: Pick<CameraFlags, 'camera'>): CameraSpec[] {
  const specs = cameraList(flags).map(parseCameraSpec);
  const ids = specs.map((s) => s.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined) throw new CliError(`camera '${twice}' is named twice`, ExitCode.USAGE);
  return specs;
}

export interface OpenedCamera {
  spec: CameraSpec;
  /** The spec's id: a folder name, a column of the pairs file. */
  name: string;
  camera: Camera;
  virtual: VirtualCamera | null;
}

export interface OpenedCameras {
  cameras: OpenedCamera[];
  /** The bus of the virtual cameras (null for real ones). */
  bus: VirtualBus | null;
  close(): Promise<void>;
}

/** Opens every camera the specs name: real ones, or (with --virtual) virtual ones on one VirtualBus. */
export async function openCameras(specs: readonly CameraSpec[], flags: CameraFlags, open: OpenCameraOptions = {}): Promise<OpenedCameras> {
  if (flags.fallbackVirtual) throw new CliError('--fallback-virtual takes one camera; use --virtual to name several virtual ones', ExitCode.USAGE);
  if (!flags.virtual && flags.virtualOption?.length) throw new CliError('--virtual-option needs --virtual', ExitCode.USAGE);
  const opened: OpenedCamera[] = [];
  const close = async (): Promise<void> => {
    for (const o of opened) await o.camera.close().catch(() => undefined);
  };
  let bus: VirtualBus | null = null;
  try {
    for (const spec of specs) {
      if (flags.virtual) {
        const virtual = makeVirtualCamera(flags, { serial: spec.id.slice(0, 126), product: `Virtual UVC Camera ${spec.id}`.slice(0, 126) });
        if (bus === null) {
          try {
            bus = new VirtualBus({ speed: virtual.speed as 'full' | 'high' | 'super' });
          } catch (error) {
            throw new CliError(`bad virtual camera options: ${(error as Error).message}`, ExitCode.USAGE, undefined, { cause: error });
          }
        }
        bus.plug(virtual, { name: spec.id });
        opened.push({ spec, name: spec.id, camera: await openCamera(virtual, open), virtual });
      } else {
        try {
          opened.push({ spec, name: spec.id, camera: await openCamera(spec.id, open), virtual: null });
        } catch (error) {
          throw classifyOpenError(error);
        }
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { cameras: opened, bus, close };
}

/** A name usable as a folder and a CSV column: letters, digits, '.', '_' and '-'; the rest becomes '_'. */
export function safeName(name: string): string {
  const safe = name.replace(/[^0-9A-Za-z._-]/g, '_');
  return safe === '' || safe === '.' || safe === '..' ? `camera_${safe.length}` : safe;
}
