/**
 * From --format/--size/--fps (and the output file's extension) to the FormatRequest setFormat() takes, and back:
 * how the negotiated mode is described, and what to say when the camera could not give exactly what was asked.
 */
import { isUvcError } from '../errors.js';
import type { Camera, NegotiatedFormat } from '../camera/index.js';
import type { FormatRequest } from '../uvc/index.js';
import type { FrameSizeArgument } from './arguments.js';
import { CliError, ExitCode } from './exit-codes.js';

export interface ModeFlags {
  format?: string;
  size?: FrameSizeArgument;
  fps?: number;
}

const ALIASES: Record<string, string> = { YUYV: 'YUY2', MJPEG: 'MJPG', HEVC: 'H265' };

export function canonicalFourcc(name: string): string {
  const upper = name.toUpperCase();
  return ALIASES[upper] ?? upper;
}

/** The request; `preferred` (from an output extension) picks the first of those FourCCs the camera offers. */
export function formatRequestOf(flags: ModeFlags, camera: Camera, preferred: readonly string[] = []): FormatRequest {
  const request: FormatRequest = {};
  const offered = new Set(camera.formats.map((f) => canonicalFourcc(f.fourcc)));
  if (flags.format !== undefined) request.fourcc = canonicalFourcc(flags.format);
  else {
    const fourcc = preferred.find((f) => offered.has(canonicalFourcc(f)));
    if (fourcc) request.fourcc = fourcc;
    else if (preferred.length > 0) {
      throw new CliError(
        `the output file needs ${preferred.join(' or ')} frames, and the camera offers ${[...offered].join(', ') || 'no format'}`,
        ExitCode.USAGE,
      );
    }
  }
  if (flags.size) {
    request.width = flags.size.width;
    request.height = flags.size.height;
  }
  if (flags.fps !== undefined) request.fps = flags.fps;
  return request;
}

export function describeMode(mode: NegotiatedFormat): string {
  return `${mode.fourcc || mode.kind} ${mode.width}×${mode.height} @ ${round(mode.fps)} fps`;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A note when the camera gave something other than what was asked (it picks the nearest mode). */
export function differenceNote(request: FormatRequest, mode: NegotiatedFormat): string | null {
  const asked: string[] = [];
  const got: string[] = [];
  if (request.width !== undefined && (request.width !== mode.width || request.height !== mode.height)) {
    asked.push(`${request.width}×${request.height}`);
    got.push(`${mode.width}×${mode.height}`);
  }
  if (request.fps !== undefined && Math.abs(request.fps - mode.fps) > request.fps * 0.001) {
    asked.push(`${request.fps} fps`);
    got.push(`${round(mode.fps)} fps`);
  }
  if (asked.length === 0) return null;
  return `the camera has no ${asked.join(' at ')} in ${mode.fourcc}; using the nearest it offers: ${got.join(' at ')}`;
}

/** Negotiates, turning the camera's refusals into messages that list what it offers. */
export async function negotiate(camera: Camera, request: FormatRequest): Promise<NegotiatedFormat> {
  try {
    return await camera.setFormat(request);
  } catch (error) {
    if (isUvcError(error, 'ENOENT') || isUvcError(error, 'EINVAL')) {
      throw new CliError(error.message.replace(/^[A-Z]+: /, ''), ExitCode.USAGE, `Its modes: ${listModes(camera)} (see \`uvc-capture info\`).`, { cause: error });
    }
    if (isUvcError(error, 'ENOSPC')) {
      throw new CliError(`not enough USB bandwidth: ${error.message}`, ExitCode.DEVICE, 'Try a smaller size, a lower --fps, or MJPEG; or move the camera to another USB controller.', { cause: error });
    }
    throw error;
  }
}

export function listModes(camera: Camera): string {
  return camera.formats
    .map((f) => `${f.fourcc || f.kind} ${f.frames.map((s) => `${s.width}x${s.height}`).join(' ')}`)
    .join('; ');
}
