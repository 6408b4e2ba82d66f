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

/**
 * The size rule: `--size` is exact. A size the camera does not offer (in the format asked for, or in any format when
 * none was) is a usage error listing the sizes it has, never silently replaced by another; the frame rate is the
 * nearest the camera has for that size (see differenceNote).
 */
export function checkSizeOffered(camera: Camera, request: FormatRequest): void {
  if (request.width === undefined || request.height === undefined) return;
  const formats = camera.formats.filter((f) => request.fourcc === undefined || canonicalFourcc(f.fourcc) === canonicalFourcc(request.fourcc));
  if (formats.length === 0) return; // no such format: negotiate() says so, with the formats there are
  if (formats.some((f) => f.frames.some((s) => s.width === request.width && s.height === request.height))) return;
  const sizes = [...new Set(formats.flatMap((f) => f.frames.map((s) => `${s.width}x${s.height}`)))];
  throw new CliError(
    `the camera has no ${request.width}x${request.height} frame size${request.fourcc !== undefined ? ` in ${canonicalFourcc(request.fourcc)}` : ''}`,
    ExitCode.USAGE,
    `Its sizes${request.fourcc !== undefined ? ` in ${canonicalFourcc(request.fourcc)}` : ''}: ${sizes.join(', ')} (see \`uvc-capture info\`).`,
    { code: 'ENOENT' },
  );
}

/** What to say when the camera's frame rate is not the one asked for (it picks the nearest it has for the size). */
export function differenceNote(request: FormatRequest, mode: NegotiatedFormat): string | null {
  if (request.fps === undefined || Math.abs(request.fps - mode.fps) <= request.fps * 0.001) return null;
  return `the camera has no ${request.fps} fps at ${mode.width}x${mode.height} in ${mode.fourcc}; using the nearest rate it offers: ${round(mode.fps)} fps`;
}

/** Negotiates, turning the camera's refusals into messages that list what it offers. */
export async function negotiate(camera: Camera, request: FormatRequest): Promise<NegotiatedFormat> {
  try {
    return await camera.setFormat(request);
  } catch (error) {
    if (isUvcError(error, 'ENOENT') || isUvcError(error, 'EINVAL')) {
      throw new CliError(error.message, ExitCode.USAGE, `Its modes: ${listModes(camera)} (see \`uvc-capture info\`).`, { cause: error });
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
