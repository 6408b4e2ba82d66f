/**
 * Where captured frames go. A directory gets one file per frame (`frame-000001.jpg`, `.yuv`, `.nv12`, …, plus
 * `.png` with --png); a file gets the stream, frame after frame (`.mjpeg`, `.yuv`, `.h264`, …); `-` is stdout.
 *
 * A frame is written completely before the next is taken. Frame files are written under a temporary name and
 * renamed when complete, so a `frame-*` file is never half a frame, whatever stops the process.
 *
 * Files are written with blocking calls, as v4l2-ctl and ffmpeg write theirs: one system call per frame, no trip
 * through the thread pool and back, and the frame is on its way before the driver completes the next one. The
 * driver does not wait meanwhile: the transport keeps its transfers in flight and holds what completes in its
 * spare transfers (stallToleranceMs), and the frames they carry are assembled as soon as the write returns. With
 * a write that runs in the background instead, a camera that sends faster than the disk takes (a 'fast' virtual
 * camera, a loaded machine) has the driver fill every queue buffer meanwhile and drop whole frames for want of
 * one. stdout stays asynchronous: a pipe may block for as long as its reader pleases.
 */
import { closeSync, openSync, renameSync, rmSync, writevSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { frameExtensionOf, frameToPng, huffmanTablePieces, isConvertible, type FrameGeometry, type PixelLayout } from '../media/index.js';
import { CliError, ExitCode } from './exit-codes.js';
import { checkWritableDirectory, checkWritableFile, fsReason, makeDirectory } from './output-location.js';

export type OutputKind = 'directory' | 'file' | 'stdout';

export interface OutputTarget {
  kind: OutputKind;
  /** Absolute path ('-' for stdout). */
  path: string;
  /** For a file: the layouts its extension can hold (null: any). */
  accepts: PixelLayout[] | null;
  /** For a file: the FourCC its extension asks for when --format is not given. */
  preferredFourcc: string[];
}

/** Stream file extensions: what they hold, and which format to ask the camera for when --format is absent. */
const STREAM_EXTENSIONS: Record<string, { accepts: PixelLayout[] | null; prefer: string[] }> = {
  '.mjpeg': { accepts: ['mjpeg'], prefer: ['MJPG'] },
  '.mjpg': { accepts: ['mjpeg'], prefer: ['MJPG'] },
  '.yuv': { accepts: ['yuyv', 'nv12', 'grey', 'other'], prefer: ['YUY2', 'NV12'] },
  '.yuyv': { accepts: ['yuyv'], prefer: ['YUY2'] },
  '.yuy2': { accepts: ['yuyv'], prefer: ['YUY2'] },
  '.nv12': { accepts: ['nv12'], prefer: ['NV12'] },
  '.h264': { accepts: ['h264'], prefer: ['H264'] },
  '.264': { accepts: ['h264'], prefer: ['H264'] },
  '.raw': { accepts: null, prefer: [] },
  '.bin': { accepts: null, prefer: [] },
};

export const STREAM_EXTENSION_LIST = Object.keys(STREAM_EXTENSIONS).join(', ');

/**
 * Reads `-o PATH`: '-' is stdout; an existing directory, a path ending in '/', or one without an extension is a
 * directory; a known stream extension is a file. Anything else is a usage error saying what is understood.
 */
export async function resolveOutput(text: string): Promise<OutputTarget> {
  if (text === '-') return { kind: 'stdout', path: '-', accepts: null, preferredFourcc: [] };
  const absolute = path.resolve(text);
  const existing = await stat(absolute).catch(() => null);
  if (existing?.isDirectory() || /[/\\]$/.test(text) || path.extname(absolute) === '') {
    if (existing && !existing.isDirectory()) throw new CliError(`${text} exists and is not a directory`, ExitCode.USAGE);
    return { kind: 'directory', path: absolute, accepts: null, preferredFourcc: [] };
  }
  const extension = path.extname(absolute).toLowerCase();
  const known = STREAM_EXTENSIONS[extension];
  if (!known) {
    throw new CliError(
      `cannot tell what to write to '${text}': give a directory (one file per frame) or a stream file ending in ${STREAM_EXTENSION_LIST}`,
      ExitCode.USAGE,
    );
  }
  return { kind: 'file', path: absolute, accepts: known.accepts, preferredFourcc: known.prefer };
}

/**
 * Checks, before the camera is opened, that the target can be written: a directory that exists or can be made on a
 * writable filesystem (not procfs or sysfs), a file that can be created; stdout that is not a terminal (binary frames
 * would garble it: refused, as curl does). Throws a CliError with the real reason (EROFS, EACCES, …).
 */
export async function checkOutput(target: OutputTarget): Promise<void> {
  switch (target.kind) {
    case 'directory':
      return checkWritableDirectory(target.path);
    case 'file':
      return checkWritableFile(target.path);
    case 'stdout':
      if (process.stdout.isTTY) {
        throw new CliError(
          'refusing to write binary frames to a terminal',
          ExitCode.USAGE,
          'Pipe them to a program (-o - | ffplay -f mjpeg -) or redirect them to a file (-o - > clip.mjpeg); -o DIR/ writes one file per frame.',
        );
      }
  }
}

/** The default output: ./captures/<local date and time>/ */
export function defaultOutputDirectory(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}_${p(now.getHours())}-${p(now.getMinutes())}-${p(now.getSeconds())}`;
  return path.join('captures', stamp) + path.sep;
}

export interface WrittenFrame {
  /** Bytes written for the frame itself (PNG excluded). */
  bytes: number;
  /** Bytes of the PNG written beside it (0 without --png). */
  pngBytes: number;
  /** Where it went: the frame file, or the stream file. */
  file: string;
}

/** The reader of stdout went away (`-o - | head -c 1000`): a normal end of the capture, like any Unix tool's. */
export class OutputClosed extends Error {
  override readonly name = 'OutputClosed';
}

export interface FrameWriter {
  readonly target: OutputTarget;
  /** Files written (directory output): frames and PNGs. */
  readonly filesWritten: number;
  write(number: number, data: Uint8Array, errored: boolean): Promise<WrittenFrame>;
  close(): Promise<void>;
  /**
   * Last-resort cleanup (a second Ctrl-C): lets a file operation in flight settle (at most `waitMs`), then removes
   * the temporary file in progress. Resolves when the process may exit without leaving a `.partial` file behind.
   */
  abandon(waitMs?: number): Promise<void>;
}

/** MJPEG frames are stored as standalone JPEGs: the Huffman tables cameras may leave out go back in (as pieces: no copy). */
function storable(data: Uint8Array, layout: PixelLayout): Uint8Array[] {
  return layout === 'mjpeg' ? huffmanTablePieces(data) : [data];
}

function byteLength(pieces: readonly Uint8Array[]): number {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  return total;
}

/** Writes every byte of the pieces at the file's position (writev; a short write goes on where it stopped). */
function writeAllSync(fd: number, pieces: readonly Uint8Array[]): void {
  let rest: readonly Uint8Array[] = pieces;
  for (;;) {
    let written = writevSync(fd, rest as Uint8Array[]);
    let i = 0;
    while (i < rest.length && written >= rest[i]!.length) written -= rest[i++]!.length;
    if (i === rest.length) return;
    rest = [rest[i]!.subarray(written), ...rest.slice(i + 1)];
  }
}

class DirectoryWriter implements FrameWriter {
  filesWritten = 0;
  private readonly extension: string;
  /** The temporary file being written, from before it is created until it is renamed. */
  private pending: string | null = null;
  /** The PNG conversion in flight (the one asynchronous step). */
  private operation: Promise<unknown> | null = null;
  private abandoned = false;
  private pngProblem = false;

  constructor(
    readonly target: OutputTarget,
    private readonly geometry: FrameGeometry,
    private readonly png: boolean,
    private readonly warn: (message: string) => void,
  ) {
    this.extension = frameExtensionOf(geometry.layout);
  }

  private writeFile(name: string, pieces: readonly Uint8Array[]): string {
    if (this.abandoned) throw new CliError('stopped', ExitCode.INTERRUPTED);
    const final = path.join(this.target.path, name);
    const temporary = path.join(this.target.path, `.${name}.partial`);
    this.pending = temporary;
    try {
      const fd = openSync(temporary, 'w');
      try {
        writeAllSync(fd, pieces);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, final);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    } finally {
      this.pending = null;
    }
    this.filesWritten++;
    return final;
  }

  async write(number: number, data: Uint8Array, errored: boolean): Promise<WrittenFrame> {
    const base = `frame-${String(number).padStart(6, '0')}${errored ? '-errored' : ''}`;
    const pieces = storable(data, this.geometry.layout);
    const file = this.writeFile(`${base}.${this.extension}`, pieces);
    let pngBytes = 0;
    if (this.png) {
      let png: Uint8Array | null = null;
      try {
        const converting = frameToPng(pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces), this.geometry);
        this.operation = converting;
        png = await converting;
      } catch (error) {
        // A damaged frame may not decode; the frame file is there all the same.
        if (!this.pngProblem || !errored) this.warn(`no PNG for ${base}: ${(error as Error).message}`);
        this.pngProblem = true;
      } finally {
        this.operation = null;
      }
      if (png !== null) {
        this.writeFile(`${base}.png`, [png]);
        pngBytes = png.length;
      }
    }
    return { bytes: byteLength(pieces), pngBytes, file };
  }

  async close(): Promise<void> {
    if (this.pending) await rm(this.pending, { force: true });
  }

  async abandon(waitMs = 2000): Promise<void> {
    this.abandoned = true;
    // Files are written in one synchronous step (none is half written when this runs); a PNG conversion in flight
    // is let finish, so that nothing is written after the process means to exit.
    if (this.operation !== null) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.operation.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
    }
    if (!this.pending) return;
    try {
      rmSync(this.pending, { force: true });
    } catch {
      // The process is going away; a `.partial` file is at worst left behind, never a `frame-*` one.
    }
  }
}

class StreamFileWriter implements FrameWriter {
  readonly filesWritten = 1;
  private fd: number | null;

  constructor(
    readonly target: OutputTarget,
    fd: number,
    private readonly layout: PixelLayout,
  ) {
    this.fd = fd;
  }

  async write(_number: number, data: Uint8Array): Promise<WrittenFrame> {
    if (this.fd === null) throw new CliError('stopped', ExitCode.INTERRUPTED);
    const pieces = storable(data, this.layout);
    writeAllSync(this.fd, pieces);
    return { bytes: byteLength(pieces), pngBytes: 0, file: this.target.path };
  }

  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) closeSync(fd);
  }

  async abandon(): Promise<void> {}
}

class StdoutWriter implements FrameWriter {
  readonly filesWritten = 0;
  private closed = false;

  constructor(
    readonly target: OutputTarget,
    private readonly layout: PixelLayout,
  ) {
    process.stdout.on('error', () => {
      this.closed = true;
    });
    process.stdout.on('close', () => {
      this.closed = true;
    });
  }

  async write(_number: number, data: Uint8Array): Promise<WrittenFrame> {
    if (this.closed) throw new OutputClosed('the program reading stdout went away');
    // Copy: the camera's buffer is queued again as soon as this returns, while stdout may still hold the bytes.
    const pieces = storable(data, this.layout);
    const frame = pieces.length === 1 ? Buffer.from(pieces[0]!) : Buffer.concat(pieces);
    if (!process.stdout.write(frame)) {
      // Until the pipe takes more, or closes (EPIPE: the reader went away; events.once would reject on 'error').
      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.stdout.off('drain', done).off('close', done).off('error', done);
          resolve();
        };
        process.stdout.on('drain', done).on('close', done).on('error', done);
      });
    }
    if (this.closed) throw new OutputClosed('the program reading stdout went away');
    return { bytes: frame.length, pngBytes: 0, file: '-' };
  }

  async close(): Promise<void> {}

  async abandon(): Promise<void> {}
}

export async function openFrameWriter(
  target: OutputTarget,
  geometry: FrameGeometry,
  options: { png: boolean; warn: (message: string) => void },
): Promise<FrameWriter> {
  if (options.png && target.kind !== 'directory') throw new CliError('--png needs a directory output (-o DIR/)', ExitCode.USAGE);
  if (options.png && !isConvertible(geometry.layout)) {
    throw new CliError(`--png: ${geometry.layout === 'h264' ? 'H.264' : 'this format'} cannot be converted to pictures`, ExitCode.USAGE);
  }
  try {
    switch (target.kind) {
      case 'directory':
        await makeDirectory(target.path);
        return new DirectoryWriter(target, geometry, options.png, options.warn);
      case 'file':
        await makeDirectory(path.dirname(target.path));
        return new StreamFileWriter(target, openSync(target.path, 'w'), geometry.layout);
      case 'stdout':
        return new StdoutWriter(target, geometry.layout);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot write to ${target.path}: ${fsReason(error).text}`, ExitCode.FAILURE, undefined, { cause: error });
  }
}
