/**
 * Renders the frames of one stream ahead of the bus, so real-time pacing never waits for a frame to be drawn
 * or encoded (sharp encodes asynchronously, in the libvips thread pool). Frames render with the controls as
 * they are when the render starts, like a sensor pipeline a few frames deep. With a frame cache of N, at most
 * N distinct frames exist and frame n shows the picture (and stamp) of frame n mod N.
 */
import type { ControlModel, PictureControls } from './controls.js';
import type { ResolvedFormat, ResolvedFrame } from './formats.js';
import { stampedAccessUnit } from './annex-b.js';
import { encodeJpeg } from './jpeg.js';
import { renderPicture } from './pattern.js';

export interface RenderedFrame {
  /** The number in the frame's stamp. */
  stamp: number;
  data: Uint8Array;
  /** Rendering failed: the frame is empty and goes out with the ERR bit. */
  failed: boolean;
  /** Bus interval at which the frame was ready (a frame cannot leave before it exists). */
  readyAt: number;
}

interface Entry {
  stamp: number;
  version: number;
  promise: Promise<RenderedFrame>;
  frame: RenderedFrame | null;
}

export interface FrameSourceConfig {
  format: ResolvedFormat;
  frame: ResolvedFrame;
  frameIntervalUs: number;
  /** force-y8: render 8-bit greyscale twice as wide as the YUYV frame (the same bytes). */
  greyAsYuyv: boolean;
  jpegQuality: number;
  omitHuffmanTables: boolean;
  frameCache: number | null;
  controls: ControlModel;
  /** The bus clock, to stamp when each frame became ready. */
  now: () => number;
}

/** An 8-bit greyscale picture: the luma plane of the NV12 rendering (its height rounded up to even, then cut). */
function greyPicture(width: number, height: number, stamp: number, picture: PictureControls, frameIntervalUs: number): Uint8Array {
  return renderPicture('nv12', width, height + (height % 2), stamp, picture, frameIntervalUs).slice(0, width * height);
}

export class FrameSource {
  private readonly entries = new Map<number, Entry>();
  private stopped = false;

  constructor(private readonly config: FrameSourceConfig) {}

  private keyOf(sequence: number): number {
    return this.config.frameCache === null ? sequence : sequence % this.config.frameCache;
  }

  /** Starts rendering frame `sequence` unless it is rendered or rendering with the current controls. */
  request(sequence: number): void {
    this.entry(sequence);
  }

  /** The frame if it is ready now. */
  ready(sequence: number): RenderedFrame | null {
    const e = this.entries.get(this.keyOf(sequence));
    return e !== undefined && e.frame !== null ? e.frame : null;
  }

  whenReady(sequence: number): Promise<RenderedFrame> {
    return this.entry(sequence).promise;
  }

  /** Forgets frames before `sequence` (without a cache, nothing goes back). */
  discardBefore(sequence: number): void {
    if (this.config.frameCache !== null) return;
    for (const key of this.entries.keys()) if (key < sequence) this.entries.delete(key);
  }

  stop(): void {
    this.stopped = true;
    this.entries.clear();
  }

  private entry(sequence: number): Entry {
    const key = this.keyOf(sequence);
    const version = this.config.controls.pictureVersion;
    const existing = this.entries.get(key);
    // A cached frame is kept until a picture control changes; frames in flight are never re-rendered.
    if (existing !== undefined && (this.config.frameCache === null || existing.version === version)) return existing;
    let settle!: (frame: RenderedFrame) => void;
    const entry: Entry = { stamp: key, version, frame: null, promise: new Promise((resolve) => (settle = resolve)) };
    // render() never rejects: a failure becomes an empty frame flagged `failed`.
    void this.render(key).then((rendered) => {
      const frame = { ...rendered, readyAt: this.config.now() };
      entry.frame = frame;
      settle(frame);
    });
    if (!this.stopped) this.entries.set(key, entry);
    return entry;
  }

  private async render(stamp: number): Promise<Omit<RenderedFrame, 'readyAt'>> {
    // Yield first: the request that asked for this frame finishes before the CPU goes to drawing.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const { format, frame, controls, frameIntervalUs } = this.config;
    const picture = controls.picture();
    try {
      if (format.kind === 'mjpeg') {
        const rgb = renderPicture('rgb', frame.width, frame.height, stamp, picture, frameIntervalUs);
        const data = await encodeJpeg(rgb, frame.width, frame.height, {
          quality: this.config.jpegQuality,
          omitHuffmanTables: this.config.omitHuffmanTables,
          maxSize: frame.maxFrameSize,
        });
        return { stamp, data, failed: false };
      }
      // Frame-based H.264/H.265: access units of a real clip, stamped in an SEI (annex-b.ts); no codec here.
      if (format.kind === 'h264' || format.kind === 'h265') return { stamp, data: stampedAccessUnit(format.kind, stamp), failed: false };
      const data = this.config.greyAsYuyv
        ? greyPicture(frame.width * 2, frame.height, stamp, picture, frameIntervalUs)
        : renderPicture(format.kind, frame.width, frame.height, stamp, picture, frameIntervalUs);
      return { stamp, data, failed: false };
    } catch {
      return { stamp, data: new Uint8Array(0), failed: true };
    }
  }
}
