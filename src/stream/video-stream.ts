/**
 * One running video stream: the transport's transfers in, the assembler in the middle, the buffer queue out
 * (uvc_video.c's URB handling). It sizes the transfers, starts the transport stream, feeds every completion
 * through the assembler and releases it right after its payloads were copied, stops cleanly, and turns the
 * device going away (a NO_DEVICE completion or the transport's 'disconnect') into exactly one queue disconnect.
 *
 * It also implements the queue's driver hooks (startStreaming/stopStreaming), so a queue can drive it directly;
 * the camera layer wraps it when it has more to do around them (alt setting, probe/commit).
 */
import type { UsbSpeed } from '../spec/usb.js';
import { UvcError, isUvcError, uvcError } from '../errors.js';
import {
  TransferStatus,
  type CompletedTransfer,
  type StreamStats,
  type UsbStream,
  type UsbTransport,
} from '../transport/usb-transport.js';
import type { QueueDriver } from '../queue/buffer-queue.js';
import { FrameAssembler, type AssemblerStats, type FrameSink, type VideoFormatKind } from './frame-assembler.js';
import { planTransfers, streamOptionsFor, type TransferPlan } from './transfer-sizing.js';

/** What the protocol layer negotiated, in the form the stream needs. */
export interface VideoStreamConfig {
  /** The VS interface's video IN endpoint address, e.g. 0x81. */
  endpoint: number;
  transferType: 'iso' | 'bulk';
  speed: UsbSpeed;
  /** iso: bytes per service interval of the selected alt setting (wMaxPacketSize × mult, or SS wBytesPerInterval). */
  bytesPerInterval?: number;
  /** iso: the endpoint's bInterval. Default 1. */
  bInterval?: number;
  /** bulk: the endpoint's wMaxPacketSize. Default by speed. */
  maxPacketSize?: number;
  /** Committed dwMaxPayloadTransferSize. */
  dwMaxPayloadTransferSize: number;
  /** Committed dwMaxVideoFrameSize (the queue's buffer size should be this). */
  dwMaxVideoFrameSize: number;
  /** Uncompressed formats: exact bytes per frame (width × height × bits per pixel / 8). */
  expectedFrameSize?: number;
  formatKind: VideoFormatKind;
  /** Committed (1.1+) or VC header dwClockFrequency; enables device timestamps. 0 or absent: host times only. */
  dwClockFrequency?: number;
  /** Nominal frame interval in ns (committed dwFrameInterval × 100): lets lost bus time count lost frames. */
  frameIntervalNs?: number;
  /**
   * Camera misbehaviour the stream must allow for, from the camera's quirks (src/uvc/quirks.ts: the quirk table, the
   * caller, or what the driver detected): 'stream-no-fid' (EOF alone ends frames), 'mjpeg-no-eof' (a payload that
   * starts with a JPEG SOI ends the pending frame), 'invalid-device-sof' (the SCR's SOF field is not the bus SOF).
   */
  quirks?: StreamQuirks;
  /** Sizing overrides (see TransferSizingInput). */
  transfers?: number;
  packetsPerTransfer?: number;
  transferSize?: number;
  targetInFlightMs?: number;
  maxInFlightBytes?: number;
}

export interface StreamQuirks {
  streamNoFid: boolean;
  mjpegNoEof: boolean;
  invalidDeviceSof: boolean;
}

export interface VideoStreamOptions {
  /** Drop frames that end in error instead of returning them flagged. Default false. */
  dropErroredFrames?: boolean;
  /** Refuse payload headers without EOH. Default false (real cameras omit it). */
  requireEoh?: boolean;
  /** Translate device PTS to host time when the camera sends PTS and SCR. Default true. */
  hardwareTimestamps?: boolean;
  /** Errors with no caller to go to (a bug in assembly, a failing stop). */
  onError?: (error: UvcError) => void;
}

/** The queue side the stream feeds: BufferQueue is one. */
export interface VideoStreamSink extends FrameSink {
  disconnect(): void;
}

export class VideoStream implements QueueDriver {
  readonly config: Readonly<VideoStreamConfig>;
  readonly plan: TransferPlan;

  private readonly transport: UsbTransport;
  private readonly sink: VideoStreamSink;
  private readonly assembler: FrameAssembler;
  private readonly onError: ((error: UvcError) => void) | undefined;
  private usbStream: UsbStream | null = null;
  private stopping: Promise<void> | null = null;
  private disconnectHandled = false;

  constructor(transport: UsbTransport, sink: VideoStreamSink, config: VideoStreamConfig, options: VideoStreamOptions = {}) {
    if (!Number.isInteger(config.endpoint) || (config.endpoint & 0x80) === 0) {
      throw uvcError('EINVAL', `the video endpoint must be an IN endpoint address, got ${config.endpoint}`);
    }
    if (config.formatKind === 'uncompressed' && config.expectedFrameSize !== undefined) {
      if (!Number.isInteger(config.expectedFrameSize) || config.expectedFrameSize <= 0) {
        throw uvcError('EINVAL', `expectedFrameSize must be a positive integer, got ${config.expectedFrameSize}`);
      }
    }
    this.transport = transport;
    this.sink = sink;
    this.config = Object.freeze({ ...config });
    this.onError = options.onError;
    this.plan = planTransfers({
      transferType: config.transferType,
      speed: config.speed,
      bytesPerInterval: config.bytesPerInterval,
      bInterval: config.bInterval,
      maxPacketSize: config.maxPacketSize,
      dwMaxPayloadTransferSize: config.dwMaxPayloadTransferSize,
      dwMaxVideoFrameSize: config.dwMaxVideoFrameSize,
      transfers: config.transfers,
      packetsPerTransfer: config.packetsPerTransfer,
      transferSize: config.transferSize,
      targetInFlightMs: config.targetInFlightMs,
      maxInFlightBytes: config.maxInFlightBytes,
    });
    this.assembler = new FrameAssembler(sink, {
      formatKind: config.formatKind,
      transferType: config.transferType,
      expectedFrameSize: config.expectedFrameSize,
      maxPayloadSize: config.dwMaxPayloadTransferSize,
      transferSize: this.plan.transferSize,
      intervalNs: this.plan.intervalNs,
      clockFrequency: config.dwClockFrequency,
      frameIntervalNs: config.frameIntervalNs,
      dropErroredFrames: options.dropErroredFrames,
      requireEoh: options.requireEoh,
      hardwareTimestamps: options.hardwareTimestamps,
    });
  }

  /** Assembly counters since the last start(). */
  get stats(): Readonly<AssemblerStats> {
    return this.assembler.stats;
  }
  /** The transport stream's counters, while running. */
  get transferStats(): Readonly<StreamStats> | null {
    return this.usbStream?.stats ?? null;
  }
  get running(): boolean {
    return this.usbStream !== null;
  }
  /** True once the device clock is locked and frames get device timestamps. */
  get clockLocked(): boolean {
    return this.assembler.clock?.locked ?? false;
  }

  /**
   * Starts the transport stream. EBUSY while running or still stopping; ENODEV (and a queue disconnect) when
   * the device is already gone; the transport's error otherwise.
   */
  start(): void {
    if (this.usbStream !== null || this.stopping !== null) throw uvcError('EBUSY', 'the video stream is running');
    if (this.transport.isDisconnected) {
      this.handleDisconnect();
      throw uvcError('ENODEV', 'the device is gone');
    }
    this.assembler.reset();
    this.transport.on('disconnect', this.onDisconnect);
    try {
      this.usbStream = this.transport.startStream(streamOptionsFor(this.config.endpoint, this.plan), this.onTransfer);
    } catch (error) {
      this.transport.off('disconnect', this.onDisconnect);
      if (isUvcError(error, 'ENODEV')) this.handleDisconnect();
      throw error;
    }
  }

  /** Stops the transport stream; resolves when no completion can arrive any more. Idempotent. */
  stop(): Promise<void> {
    if (this.stopping !== null) return this.stopping;
    const usbStream = this.usbStream;
    if (usbStream === null) return Promise.resolve();
    const stopping = (async () => {
      try {
        await usbStream.stop();
      } finally {
        this.transport.off('disconnect', this.onDisconnect);
        this.assembler.abandon();
        this.usbStream = null;
        this.stopping = null;
      }
    })();
    this.stopping = stopping;
    return stopping;
  }

  /** QueueDriver: the queue's streamon starts the transport stream. */
  async startStreaming(): Promise<void> {
    this.start();
  }

  /** QueueDriver: the queue's streamoff (or a disconnect) stops it. */
  stopStreaming(): Promise<void> {
    return this.stop();
  }

  private readonly onTransfer = (transfer: CompletedTransfer): void => {
    if (transfer.status === TransferStatus.NO_DEVICE) {
      transfer.release();
      this.handleDisconnect();
      return;
    }
    try {
      this.assembler.processTransfer(transfer);
    } catch (error) {
      this.report(error);
    } finally {
      transfer.release();
    }
  };

  private readonly onDisconnect = (): void => {
    this.handleDisconnect();
  };

  private handleDisconnect(): void {
    if (this.disconnectHandled) return;
    this.disconnectHandled = true;
    this.sink.disconnect();
    // Let the transport unwind the callback we may be inside before stopping it.
    queueMicrotask(() => {
      this.stop().catch((error: unknown) => this.report(error));
    });
  }

  private report(error: unknown): void {
    const reason =
      error instanceof UvcError
        ? error
        : new UvcError('EIO', `video stream: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    if (this.onError !== undefined) this.onError(reason);
  }
}
