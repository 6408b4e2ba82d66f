/**
 * The preview's camera side: streams from the camera, keeps the newest frame as a JPEG (MJPEG as sent, with
 * Huffman tables put back; YUYV/NV12 converted by sharp), and measures the camera's frame rate. Conversion never
 * holds a camera buffer: the frame is copied and the buffer queued again at once; while one conversion runs, newer
 * frames replace the waiting one (the picture stays live, never queued up behind).
 */
import { EventEmitter } from 'node:events';
import type { Camera, NegotiatedFormat } from '../../camera/index.js';
import { frameProblem, isConvertible, pixelLayoutOf, type FrameGeometry } from '../../media/index.js';
import type { FormatRequest } from '../../uvc/index.js';
import { CaptureStats } from '../capture-stats.js';
import { JpegConverter } from './jpeg-converter.js';

export interface JpegFrame {
  jpeg: Uint8Array;
  sequence: number;
  /** CLOCK_MONOTONIC ns of the frame. */
  timestamp: number;
}

export interface FrameFeedEvents {
  frame: [JpegFrame];
  /** The stream ended: the camera went away or failed. */
  ended: [Error];
}

export class FrameFeed extends EventEmitter<FrameFeedEvents> {
  latest: JpegFrame | null = null;
  stats = new CaptureStats();
  /** Frames converted and sent to viewers. */
  shown = 0;
  lastError: string | null = null;
  private geometry: FrameGeometry | null = null;
  private running: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private converting = false;
  private pending: { data: Uint8Array; sequence: number; timestamp: number } | null = null;
  private readonly shownTimes: number[] = [];
  private readonly converter = new JpegConverter();

  constructor(private readonly camera: Camera) {
    super();
  }

  get mode(): NegotiatedFormat | null {
    return this.camera.format;
  }

  /** Frames per second shown to viewers over the last second or so. */
  get shownFps(): number {
    const t = this.shownTimes;
    if (t.length < 2) return 0;
    return ((t.length - 1) * 1000) / (t.at(-1)! - t[0]!);
  }

  async start(): Promise<void> {
    const mode = this.camera.format;
    if (!mode) throw new Error('no format negotiated');
    const geometry: FrameGeometry = { layout: pixelLayoutOf(mode.fourcc, mode.kind), width: mode.width, height: mode.height };
    if (!isConvertible(geometry.layout)) throw new Error(`${mode.fourcc} cannot be shown in a browser without a video decoder; choose MJPEG or YUYV with --format`);
    this.geometry = geometry;
    this.stats = new CaptureStats();
    const queue = this.camera.queue;
    const count = queue.reqbufs(4);
    for (let i = 0; i < count; i++) queue.qbuf(i);
    await queue.streamon();
    this.abort = new AbortController();
    this.running = this.loop(this.abort.signal);
  }

  /** Stops streaming; `final` also ends the conversion worker. */
  async stop(final = false): Promise<void> {
    this.abort?.abort();
    await this.running;
    this.running = null;
    if (final) await this.converter.close();
    if (!this.camera.closed) {
      await this.camera.queue.streamoff().catch(() => undefined);
      try {
        this.camera.queue.reqbufs(0);
      } catch {
        // Gone or closed: nothing to free.
      }
    }
  }

  /** Stops, negotiates another mode, starts again. */
  async changeMode(request: FormatRequest): Promise<NegotiatedFormat> {
    await this.stop();
    try {
      return await this.camera.setFormat(request);
    } finally {
      await this.start();
    }
  }

  /** The one consumer loop (QueueHandle.frames): ends on stop(), requeues each buffer, throws ENXIO after an unplug. */
  private async loop(signal: AbortSignal): Promise<void> {
    try {
      for await (const buffer of this.camera.queue.frames({ signal })) {
        if (this.camera.disconnected && buffer.flags.error && buffer.bytesused === 0) continue; // handed back unfilled
        this.stats.frame(buffer.sequence, buffer.timestamp, buffer.bytesused);
        const bad = buffer.flags.error || frameProblem(buffer.data, this.geometry!) !== null;
        if (bad) this.stats.errors++;
        // A copy: conversion must never hold a camera buffer (it is queued again on the next step).
        else this.offer({ data: buffer.data.slice(), sequence: buffer.sequence, timestamp: buffer.timestamp });
      }
    } catch (error) {
      if (signal.aborted) return;
      this.emit('ended', error as Error);
    }
  }

  private offer(frame: { data: Uint8Array; sequence: number; timestamp: number }): void {
    this.pending = frame;
    if (!this.converting) void this.convert();
  }

  private async convert(): Promise<void> {
    this.converting = true;
    while (this.pending) {
      const frame = this.pending;
      this.pending = null;
      try {
        const jpeg = await this.converter.convert(frame.data, this.geometry!, 85);
        this.latest = { jpeg, sequence: frame.sequence, timestamp: frame.timestamp };
        this.shown++;
        this.shownTimes.push(Date.now());
        if (this.shownTimes.length > 31) this.shownTimes.shift();
        this.emit('frame', this.latest);
      } catch (error) {
        this.lastError = (error as Error).message;
      }
    }
    this.converting = false;
  }
}
