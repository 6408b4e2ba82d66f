/**
 * Where captured frames go. A directory gets one file per frame (`frame-000001.jpg`, `.yuv`, `.nv12`, …, plus
 * `.png` with --png); a file gets the stream, frame after frame (`.mjpeg`, `.yuv`, `.h264`, …); `-` is stdout.
 *
 * A frame is written completely before the next is taken. Frame files are written under a temporary name and
 * renamed when complete, so a `frame-*` file is never half a frame, whatever stops the process.
 */
import { rmSync } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { frameExtensionOf, frameToPng, insertHuffmanTables, isConvertible, type FrameGeometry, type PixelLayout } from '../media/index.js';
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

/** MJPEG frames are stored as standalone JPEGs: put back the Huffman tables cameras may leave out. */
function storable(data: Uint8Array, layout: PixelLayout): Uint8Array {
  return layout === 'mjpeg' ? insertHuffmanTables(data) : data;
}

async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await handle.write(data, done, data.length - done);
    done += bytesWritten;
  }
}

class DirectoryWriter implements FrameWriter {
  filesWritten = 0;
  private readonly extension: string;
  /** The temporary file being written, from before it is created until it is renamed. */
  private pending: string | null = null;
  /** The file operation in flight (open, write, close, rename). */
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

  /** Runs one file operation, recorded so that abandon() can wait for it: an open() still in the thread pool would create the file after it was removed. */
  private async step<T>(operation: Promise<T>): Promise<T> {
    this.operation = operation;
    try {
      return await operation;
    } finally {
      this.operation = null;
      if (this.abandoned) throw new CliError('stopped', ExitCode.INTERRUPTED);
    }
  }

  private async writeFile(name: string, data: Uint8Array): Promise<string> {
    const final = path.join(this.target.path, name);
    const temporary = path.join(this.target.path, `.${name}.partial`);
    this.pending = temporary;
    const handle = await this.step(open(temporary, 'w'));
    try {
      await this.step(writeAll(handle, data));
    } finally {
      await handle.close();
    }
    await this.step(rename(temporary, final));
    this.pending = null;
    this.filesWritten++;
    return final;
  }

  async write(number: number, data: Uint8Array, errored: boolean): Promise<WrittenFrame> {
    const base = `frame-${String(number).padStart(6, '0')}${errored ? '-errored' : ''}`;
    const frame = storable(data, this.geometry.layout);
    const file = await this.writeFile(`${base}.${this.extension}`, frame);
    let pngBytes = 0;
    if (this.png) {
      let png: Uint8Array | null = null;
      try {
        png = await frameToPng(frame, this.geometry);
      } catch (error) {
        // A damaged frame may not decode; the frame file is there all the same.
        if (!this.pngProblem || !errored) this.warn(`no PNG for ${base}: ${(error as Error).message}`);
        this.pngProblem = true;
      }
      if (png !== null) {
        await this.writeFile(`${base}.png`, png);
        pngBytes = png.length;
      }
    }
    return { bytes: frame.length, pngBytes, file };
  }

  async close(): Promise<void> {
    if (this.pending) await rm(this.pending, { force: true });
  }

  async abandon(waitMs = 2000): Promise<void> {
    this.abandoned = true;
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

  constructor(
    readonly target: OutputTarget,
    private readonly handle: FileHandle,
    private readonly layout: PixelLayout,
  ) {}

  async write(_number: number, data: Uint8Array): Promise<WrittenFrame> {
    const frame = storable(data, this.layout);
    await writeAll(this.handle, frame);
    return { bytes: frame.length, pngBytes: 0, file: this.target.path };
  }

  async close(): Promise<void> {
    await this.handle.close();
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
    const frame = Buffer.from(storable(data, this.layout));
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
        return new StreamFileWriter(target, await open(target.path, 'w'), geometry.layout);
      case 'stdout':
        return new StdoutWriter(target, geometry.layout);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot write to ${target.path}: ${fsReason(error).text}`, ExitCode.FAILURE, undefined, { cause: error });
  }
}
