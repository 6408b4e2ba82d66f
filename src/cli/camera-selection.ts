/**
 * Which camera a command works on: the one named (`[camera]` or `--camera`: a port path, vid:pid or bus/address,
 * as openCamera takes them), the first one attached, or the built-in virtual camera (`--virtual`, or
 * `--fallback-virtual` when none is attached). A missing camera is reported, never silently replaced.
 */
import type { Command } from 'commander';
import { isUvcError } from '../errors.js';
import { listCameras, openCamera, type Camera, type CameraInfo, type OpenCameraOptions } from '../camera/index.js';
import { usbVisibilityProblem } from '../camera/usb-enumeration.js';
import { VirtualCamera, type VirtualCameraOptions } from '../virtual-camera/index.js';
import { collect } from './arguments.js';
import { CliError, ExitCode } from './exit-codes.js';
import { hex4 } from './table.js';
import type { Ui } from './ui.js';
import { virtualOptionsFrom } from './virtual-options.js';

export interface CameraFlags {
  /** Several when --camera is repeated (capture and plan take several: camera-specs.ts). */
  camera?: string | string[];
  virtual?: boolean;
  fallbackVirtual?: boolean;
  virtualOption?: string[];
}

/** commander's parser for `--camera`: one gives a string, several (capture, plan) an array. */
export function collectCameras(value: string, previous: string | string[] | undefined): string | string[] {
  return previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
}

/** Adds the camera selection flags every command shares. */
export function addCameraFlags(command: Command): Command {
  return command
    .option('-c, --camera <id>', 'the camera: port path (1-2.3), vid:pid (046d:0825) or bus/address (001/004); default: the first one attached', collectCameras)
    .option('--virtual', 'use the built-in virtual camera instead of a real one')
    .option('--fallback-virtual', 'use a real camera when one is attached, else the virtual camera (says which)')
    .option('--virtual-option <key=value>', 'virtual camera option, repeatable (see --help-virtual)', collect);
}

export interface SelectedCamera {
  camera: Camera;
  /** The virtual camera behind `camera`, when it is one (tests and faults reach it here). */
  virtual: VirtualCamera | null;
  /** How the camera is named in messages: 'Virtual UVC Camera (1209:0001, virtual)'. */
  label: string;
}

/** The flags' target: the positional `[camera]` wins over `--camera` only when the latter is absent. */
export function targetOf(flags: CameraFlags, positional?: string): string | undefined {
  if (Array.isArray(flags.camera)) {
    throw new CliError(`--camera is given ${flags.camera.length} times; only capture and plan take several cameras`, ExitCode.USAGE);
  }
  if (positional !== undefined && flags.camera !== undefined && positional !== flags.camera) {
    throw new CliError(`two cameras named: '${positional}' and --camera '${flags.camera}'`, ExitCode.USAGE);
  }
  return positional ?? flags.camera;
}

export function makeVirtualCamera(flags: CameraFlags, base: VirtualCameraOptions = {}): VirtualCamera {
  const options = virtualOptionsFrom(flags.virtualOption ?? [], base);
  try {
    return new VirtualCamera(options);
  } catch (error) {
    throw new CliError(`bad virtual camera options: ${(error as Error).message}`, ExitCode.USAGE, undefined, { cause: error });
  }
}

export function describeCameraInfo(info: CameraInfo): string {
  const name = info.product ?? 'UVC camera';
  return `${name} (${hex4(info.vendorId)}:${hex4(info.productId)} at ${info.portPath})`;
}

function labelOf(camera: Camera): string {
  const info = camera.info;
  const name = info.product ?? 'UVC camera';
  const where = info.transport === 'virtual' ? 'virtual' : `bus ${String(info.busNumber).padStart(3, '0')} device ${String(info.deviceAddress).padStart(3, '0')}`;
  return `${name} (${hex4(info.vendorId)}:${hex4(info.productId)}, ${where})`;
}

/** Opens the camera the flags name, saying which one it is on stderr. */
export async function openSelectedCamera(
  flags: CameraFlags,
  ui: Ui,
  options: { positional?: string; open?: OpenCameraOptions; virtualBase?: VirtualCameraOptions } = {},
): Promise<SelectedCamera> {
  const target = targetOf(flags, options.positional);
  if (flags.virtual && target !== undefined) throw new CliError('--virtual and a camera name exclude each other', ExitCode.USAGE);
  if (flags.virtual && flags.fallbackVirtual) throw new CliError('--virtual and --fallback-virtual exclude each other', ExitCode.USAGE);
  if (!flags.virtual && flags.virtualOption?.length && !flags.fallbackVirtual) {
    throw new CliError('--virtual-option needs --virtual or --fallback-virtual', ExitCode.USAGE);
  }

  let useVirtual = flags.virtual === true;
  if (!useVirtual) {
    const cameras = await listCameras();
    if (cameras.length === 0 && target === undefined) {
      if (!flags.fallbackVirtual) {
        const blind = usbVisibilityProblem();
        throw new CliError(
          `no UVC camera is attached${blind ? ` (${blind})` : ''}.`,
          ExitCode.NO_CAMERA,
          'Plug one in (see `uvc-capture list`), or try uvc-capture without one: add --virtual to use the built-in virtual camera, ' +
            'or --fallback-virtual to use it only when no camera is attached.',
        );
      }
      ui.note('No camera attached: using the built-in virtual camera (--fallback-virtual).');
      useVirtual = true;
    } else if (target === undefined) {
      const usable = cameras.find((c) => c.access === 'ok') ?? cameras[0]!;
      if (cameras.length > 1) ui.note(`${cameras.length} cameras attached; using ${describeCameraInfo(usable)} (choose with --camera).`);
    }
  }

  if (useVirtual) {
    const virtual = makeVirtualCamera(flags, options.virtualBase);
    const camera = await openCamera(virtual, options.open);
    const label = labelOf(camera);
    ui.note(`Camera: ${label}`);
    return { camera, virtual, label };
  }

  try {
    const camera = await openCamera(target, options.open);
    const label = labelOf(camera);
    ui.note(`Camera: ${label}${flags.fallbackVirtual ? ' (a real camera: --fallback-virtual did not need the virtual one)' : ''}`);
    return { camera, virtual: null, label };
  } catch (error) {
    throw classifyOpenError(error);
  }
}

/** Errors of finding and opening a camera, as the CLI reports them. */
export function classifyOpenError(error: unknown): unknown {
  if (!isUvcError(error)) return error;
  const message = error.message;
  switch (error.code) {
    case 'ENOENT':
      return new CliError(message, ExitCode.NO_CAMERA, 'See `uvc-capture list` for the cameras attached, or use --virtual.', { cause: error });
    case 'EINVAL':
      return new CliError(message, ExitCode.USAGE, undefined, { cause: error });
    case 'EACCES':
    case 'EPERM':
      return new CliError(`cannot open the camera: ${message}`, ExitCode.NO_ACCESS, undefined, { cause: error });
    case 'EBUSY':
      return new CliError(`cannot open the camera: ${message}`, ExitCode.NO_ACCESS, 'Close the other program using it (a browser, a video call, uvcvideo with /dev/video* open).', { cause: error });
    case 'ENOTSUP':
      return new CliError(`cannot open the camera: ${message}`, ExitCode.FAILURE, undefined, { cause: error });
    default:
      return new CliError(`cannot open the camera: ${message}`, ExitCode.DEVICE, undefined, { cause: error });
  }
}
