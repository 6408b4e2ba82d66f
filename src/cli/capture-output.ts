/**
 * Where captured frames go. A directory gets one file per frame (`frame-000001.jpg`, `.yuv`, `.nv12`, …, plus
 * `.png` with --png); a file gets the stream, frame after frame (`.mjpeg`, `.yuv`, `.h264`, …); `-` is stdout.
 *
 * A frame is written completely before the next is taken. Frame files are written under a temporary name and
 * renamed when complete, so a `frame-*` file is never half a frame, whatever stops the process.
 */
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { frameExtensionOf, frameToPng, insertHuffmanTables, isConvertible, type FrameGeometry, type PixelLayout } from '../media/index.js';
import { CliError, ExitCode } from './exit-codes.js';

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

export interface FrameWriter {
  readonly target: OutputTarget;
  /** Files written (directory output): frames and PNGs. */
  readonly filesWritten: number;
  write(number: number, data: Uint8Array, errored: boolean): Promise<WrittenFrame>;
  close(): Promise<void>;
  /** Synchronous last-resort cleanup (a second Ctrl-C): removes a temporary file in progress. */
  abandon(): void;
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
  private pending: string | null = null;
  private pngProblem = false;

  constructor(
    readonly target: OutputTarget,
    private readonly geometry: FrameGeometry,
    private readonly png: boolean,
    private readonly warn: (message: string) => void,
  ) {
    this.extension = frameExtensionOf(geometry.layout);
  }

  private async writeFile(name: string, data: Uint8Array): Promise<string> {
    const final = path.join(this.target.path, name);
    const temporary = path.join(this.target.path, `.${name}.partial`);
    this.pending = temporary;
    const handle = await open(temporary, 'w');
    try {
      await writeAll(handle, data);
    } finally {
      await handle.close();
    }
    await rename(temporary, final);
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
      try {
        const png = await frameToPng(frame, this.geometry);
        await this.writeFile(`${base}.png`, png);
        pngBytes = png.length;
      } catch (error) {
        // A damaged frame may not decode; the frame file is there all the same.
        if (!this.pngProblem || !errored) this.warn(`no PNG for ${base}: ${(error as Error).message}`);
        this.pngProblem = true;
      }
    }
    return { bytes: frame.length, pngBytes, file };
  }

  async close(): Promise<void> {
    if (this.pending) await rm(this.pending, { force: true });
  }

  abandon(): void {
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

  abandon(): void {}
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
  }

  async write(_number: number, data: Uint8Array): Promise<WrittenFrame> {
    if (this.closed) throw new CliError('the program reading stdout went away', ExitCode.FAILURE);
    // Copy: the camera's buffer is queued again as soon as this returns, while stdout may still hold the bytes.
    const frame = Buffer.from(storable(data, this.layout));
    if (!process.stdout.write(frame)) {
      await Promise.race([once(process.stdout, 'drain'), once(process.stdout, 'close')]);
    }
    return { bytes: frame.length, pngBytes: 0, file: '-' };
  }

  async close(): Promise<void> {}

  abandon(): void {}
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
        await mkdir(target.path, { recursive: true });
        return new DirectoryWriter(target, geometry, options.png, options.warn);
      case 'file':
        await mkdir(path.dirname(target.path), { recursive: true });
        return new StreamFileWriter(target, await open(target.path, 'w'), geometry.layout);
      case 'stdout':
        return new StdoutWriter(target, geometry.layout);
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot write to ${target.path}: ${(error as Error).message}`, ExitCode.FAILURE, undefined, { cause: error });
  }
}
