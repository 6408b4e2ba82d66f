/**
 * One running video stream: the transport's transfers in, the assembler in the middle, the buffer queue out
 * (uvc_video.c's URB handling). It sizes the transfers, starts the transport stream, feeds every completion
 * through the assembler and releases it right after its payloads were copied, stops cleanly, and turns the
 * device going away (a NO_DEVICE completion or the transport's 'disconnect') into exactly one queue disconnect.
 *
 * It also implements the queue's driver hooks (startStreaming/stopStreaming), so a queue can drive it directly;
 * the camera layer wraps it when it has more to do around them (alt setting, probe/commit).
 *
 * Two ends come from the transfers themselves, in order with the frames:
 * - The device leaves: the queue is disconnected from the stream's first NO_DEVICE completion, after the
 *   completions that came back before it, as uvcvideo cancels its queue from the ESHUTDOWN completion; so the
 *   last frames the camera sent before the unplug reach the user whole. The transport's 'disconnect' event only
 *   arms a fallback, for a transport that never reports NO_DEVICE: it fires once no completion at all has come
 *   back for DISCONNECT_FALLBACK_MS, so a loaded machine still handing over the completions from before the
 *   unplug is waited for, however long that takes.
 * - The endpoint keeps failing: after `maxConsecutiveFailures` transfers in a row come back failed (not a lost
 *   packet: the whole transfer), the stream stops and the queue fails with EIO (vb2_queue_error).
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
import type { TimestampStats } from './frame-timing.js';
import { trace, traceEnabled } from './assembly-trace.js';
import { FrameAssembler, type AssemblerStats, type BusKind, type FrameSink, type VideoFormatKind } from './frame-assembler.js';
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
  /** Where the camera is (stats and trace). */
  bus?: BusKind;
  /** Sizing overrides (see TransferSizingInput). */
  transfers?: number;
  packetsPerTransfer?: number;
  transferSize?: number;
  targetInFlightMs?: number;
  maxInFlightBytes?: number;
  /** How long the JavaScript thread may stall with no bus time lost (sizes the spare transfers). Default 0. */
  stallToleranceMs?: number;
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
  /** The stream failed and stopped (the endpoint keeps failing); the queue has been failed with the same error. */
  onStreamError?: (error: UvcError) => void;
}

/** The queue side the stream feeds: BufferQueue is one. */
export interface VideoStreamSink extends FrameSink {
  /** The device is gone (vb2: the queue is cancelled, then every call answers ENXIO). */
  disconnect(): void;
  /**
   * The stream broke (vb2_queue_error): waiters and later calls get this error until streaming is turned off.
   * A sink without it only stops receiving frames (the error still goes to onStreamError).
   */
  fail?(error: UvcError): void;
}

/** Transfers in a row that may fail before the stream is given up: at least this many, and two rounds of all. */
const MIN_CONSECUTIVE_FAILURES = 16;
/**
 * How long after a 'disconnect' event the stream waits with no completion coming back before it cancels the queue
 * itself (each completion starts the wait again: the NO_DEVICE one is behind them).
 */
const DISCONNECT_FALLBACK_MS = 500;

const STATUS_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(TransferStatus).map(([name, code]) => [code, name]));

export class VideoStream implements QueueDriver {
  readonly config: Readonly<VideoStreamConfig>;
  readonly plan: TransferPlan;

  private readonly transport: UsbTransport;
  private readonly sink: VideoStreamSink;
  private readonly assembler: FrameAssembler;
  private readonly onError: ((error: UvcError) => void) | undefined;
  private readonly onStreamError: ((error: UvcError) => void) | undefined;
  private readonly maxConsecutiveFailures: number;
  private usbStream: UsbStream | null = null;
  private stopping: Promise<void> | null = null;
  private disconnectHandled = false;
  /** The transport said the device left; the stream's NO_DEVICE completion is awaited (see the header). */
  private disconnectFallback: NodeJS.Timeout | null = null;
  private consecutiveFailures = 0;
  private failed = false;

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
    this.onStreamError = options.onStreamError;
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
      stallToleranceMs: config.stallToleranceMs,
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
      bus: config.bus,
      deviceSofInvalid: config.quirks?.invalidDeviceSof,
      mjpegNoEof: config.quirks?.mjpegNoEof,
      streamNoFid: config.quirks?.streamNoFid,
      copyRuns: transport.copyRuns,
      isoScan: transport.isoScan,
    });
    this.maxConsecutiveFailures = Math.max(MIN_CONSECUTIVE_FAILURES, 2 * this.plan.transfers);
  }

  /** Assembly counters since the last start(). */
  get stats(): Readonly<AssemblerStats> {
    return this.assembler.stats;
  }
  /** How frames are timestamped since the last start(): the device clock's recovery, clamped and held frames. */
  get timestampStats(): Readonly<TimestampStats> {
    return this.assembler.timestampStats;
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
      this.handleDisconnect('the transport was already disconnected at start');
      throw uvcError('ENODEV', 'the device is gone');
    }
    this.assembler.reset();
    this.consecutiveFailures = 0;
    this.failed = false;
    this.transport.on('disconnect', this.onDisconnect);
    try {
      this.usbStream = this.transport.startStream(streamOptionsFor(this.config.endpoint, this.plan, this.config.frameIntervalNs), this.onTransfer, this.onTransfers);
      this.assembler.useSlotScan(this.usbStream.scanSlots ?? null);
    } catch (error) {
      this.transport.off('disconnect', this.onDisconnect);
      if (isUvcError(error, 'ENODEV')) this.handleDisconnect('the transport stream could not start: ENODEV');
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
        this.assembler.useSlotScan(null);
        this.usbStream = null;
        this.stopping = null;
        // Stopped while the NO_DEVICE completion was still awaited: the queue must learn the device is gone.
        if (this.disconnectFallback !== null) this.handleDisconnect('stopped while waiting for the NO_DEVICE completion');
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
    // Completions still coming back after a 'disconnect': the NO_DEVICE one is behind them, keep waiting for it.
    this.disconnectFallback?.refresh();
    const status = transfer.status;
    if (status === TransferStatus.NO_DEVICE) {
      transfer.release();
      this.handleDisconnect('a transfer came back NO_DEVICE');
      return;
    }
    // A failed stream keeps what comes back: released, it would only be resubmitted to the broken endpoint.
    // stop() (already under way) takes the transfers back.
    if (this.failed) return;
    if (status === TransferStatus.COMPLETED || status === TransferStatus.TIMED_OUT || status === TransferStatus.CANCELLED) {
      this.consecutiveFailures = 0;
    } else if (++this.consecutiveFailures >= this.maxConsecutiveFailures || this.usbStream?.failure !== undefined) {
      // (The addon gives up by the same rule and says so on the last failure it hands over.)
      this.failStream(status);
      return;
    }
    if (transfer.lostIntervals > 0) this.reportStarved(transfer.lostIntervals);
    try {
      this.assembler.processTransfer(transfer);
    } catch (error) {
      this.report(error);
    } finally {
      transfer.release();
    }
  };

  /**
   * Completions handed over together (the native engine: about a frame's worth per wake). Runs of plain ones
   * (completed, nothing lost before them) go to the assembler in one call, so that its native scan takes a run in
   * one go; any other completion goes through onTransfer alone, in order.
   */
  private readonly onTransfers = (transfers: readonly CompletedTransfer[], count: number): void => {
    let first = 0;
    for (let i = 0; i < count; i++) {
      const transfer = transfers[i]!;
      if (transfer.status === TransferStatus.COMPLETED && transfer.lostIntervals === 0) continue;
      this.processRun(transfers, first, i);
      this.onTransfer(transfer);
      first = i + 1;
    }
    this.processRun(transfers, first, count);
  };

  /** onTransfer for transfers[start, end), all completed with nothing lost before them: one assembler call. */
  private processRun(transfers: readonly CompletedTransfer[], start: number, end: number): void {
    if (start >= end) return;
    this.disconnectFallback?.refresh();
    // A failed stream keeps what comes back (see onTransfer).
    if (this.failed) return;
    this.consecutiveFailures = 0;
    try {
      this.assembler.processTransfers(transfers, start, end);
    } catch (error) {
      this.report(error);
    } finally {
      for (let i = start; i < end; i++) transfers[i]!.release();
    }
  }

  private readonly onDisconnect = (): void => {
    if (this.usbStream === null || this.stopping !== null) {
      this.handleDisconnect('the transport said the device left, with no stream running');
      return;
    }
    // The transfers that completed before the device left are still on their way: wait for NO_DEVICE.
    this.disconnectFallback ??= setTimeout(
      () => this.handleDisconnect(`the transport said the device left and no completion came back for ${DISCONNECT_FALLBACK_MS} ms`),
      DISCONNECT_FALLBACK_MS,
    );
  };

  /** The endpoint keeps failing: stop asking it, and tell the queue (and the camera) why frames stopped. */
  private failStream(status: number): void {
    this.failed = true;
    const error = new UvcError(
      'EIO',
      `video endpoint 0x${this.config.endpoint.toString(16)}: ${this.consecutiveFailures} transfers in a row failed (${STATUS_NAMES[status] ?? status}); streaming stopped`,
      { details: { status, consecutiveFailures: this.consecutiveFailures } },
    );
    this.sink.fail?.(error);
    queueMicrotask(() => {
      this.stop().catch((stopError: unknown) => this.report(stopError));
    });
    this.onStreamError?.(error);
  }

  private handleDisconnect(why: string): void {
    if (this.disconnectFallback !== null) {
      clearTimeout(this.disconnectFallback);
      this.disconnectFallback = null;
    }
    if (this.disconnectHandled) return;
    this.disconnectHandled = true;
    if (traceEnabled()) trace(`device gone (${why}): the queue is cancelled`);
    this.sink.disconnect();
    // Let the transport unwind the callback we may be inside before stopping it.
    queueMicrotask(() => {
      this.stop().catch((error: unknown) => this.report(error));
    });
  }

  /** JavaScript held every transfer buffer, spares included, until the bus went idle: say what it cost. */
  private reportStarved(lostIntervals: number): void {
    const plan = this.plan;
    const lostMs = (lostIntervals * (this.usbStreamIntervalNs() / 1e6)).toFixed(1);
    this.report(
      new UvcError(
        'ENOBUFS',
        `the JavaScript thread fell behind by every transfer buffer (${plan.transfers} in flight + ${plan.spareTransfers} spare, ` +
          `${((plan.inFlightNs + plan.spareNs) / 1e6).toFixed(0)} ms of bus time): ${lostIntervals} bus intervals (${lostMs} ms) lost; ` +
          'keep the event loop free or raise stallToleranceMs',
        { details: { lostIntervals } },
      ),
    );
  }

  private usbStreamIntervalNs(): number {
    return this.plan.intervalNs > 0 ? this.plan.intervalNs : this.config.speed === 'full' || this.config.speed === 'low' ? 1_000_000 : 125_000;
  }

  private report(error: unknown): void {
    const reason =
      error instanceof UvcError
        ? error
        : new UvcError('EIO', `video stream: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    if (this.onError !== undefined) this.onError(reason);
  }
}
