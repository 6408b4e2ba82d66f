/**
 * One VideoStreaming interface of a camera: its current format, its buffer queue, and the driver hooks the queue
 * calls on streamon/streamoff (vb2's start_streaming/stop_streaming). Start commits the probed format, selects
 * the alt setting that carries it and starts the video stream; stop undoes that in reverse.
 */
import { UvcError, isUvcError } from '../errors.js';
import { BufferQueue, type QueueDriver } from '../queue/index.js';
import { VideoStream, type VideoStreamConfig, type VideoStreamOptions } from '../stream/index.js';
import type { UsbTransport } from '../transport/usb-transport.js';
import { commit, probe, selectFormat, type DeviceQuirks, type FormatRequest, type StreamParameters, type UvcFunction, type VideoStreamingInterface } from '../uvc/index.js';
import { adviseNoBandwidth } from './bandwidth-advice.js';
import { describeBus } from './bus-kind.js';
import { assemblyKindOf, describeNegotiated, expectedFrameBytes, type NegotiatedFormat } from './camera-formats.js';

export interface StreamingOptions extends Pick<VideoStreamOptions, 'dropErroredFrames' | 'hardwareTimestamps'> {
  /** Per class request. */
  controlTimeoutMs: number;
  /** Bus time kept in flight, ms (see OpenCameraOptions.inFlightMs). */
  inFlightMs: number;
  /** See OpenCameraOptions.stallToleranceMs. */
  stallToleranceMs?: number;
  /** Overrides of the transfer sizing (see TransferSizingInput). */
  transfers?: number;
  packetsPerTransfer?: number;
  /** Where errors go that have no caller (a failing stop, a bug in assembly). */
  onWarning: (error: UvcError) => void;
  /** The camera's quirks: negotiation applies and learns them. */
  quirks: DeviceQuirks;
  /** The running stream failed and stopped (the queue answers the same error until streamoff). */
  onStreamError: (error: UvcError) => void;
  /** Runs once the stream is running (the camera writes back controls a forgetful camera lost). */
  onStreamStarted?: () => Promise<void>;
}

export class StreamingInterface implements QueueDriver {
  readonly queue: BufferQueue;
  private params: StreamParameters | null = null;
  private video: VideoStream | null = null;

  constructor(
    private readonly transport: UsbTransport,
    private readonly fn: UvcFunction,
    readonly descriptor: VideoStreamingInterface,
    private readonly options: StreamingOptions,
  ) {
    this.queue = new BufferQueue({ driver: this, onDriverError: options.onWarning });
  }

  get interfaceNumber(): number {
    return this.descriptor.interfaceNumber;
  }

  /** The VideoControl interface of the video function this stream belongs to (its controls, its status). */
  get videoControlInterface(): number {
    return this.fn.videoControl.interfaceNumber;
  }

  get parameters(): StreamParameters | null {
    return this.params;
  }

  get format(): NegotiatedFormat | null {
    return this.params ? describeNegotiated(this.params) : null;
  }

  /** The running video stream, for statistics. */
  get stream(): VideoStream | null {
    return this.video;
  }

  /**
   * The device left. A running video stream disconnects the queue itself, from its NO_DEVICE completion, after
   * the frames completed before the unplug; otherwise the queue is disconnected now.
   */
  deviceGone(): void {
    if (this.video?.running === true) return;
    this.queue.disconnect();
  }

  /** True when this interface offers what the request names (its FourCC, if any). */
  offers(request: FormatRequest): boolean {
    try {
      selectFormat(this.fn, { ...request, interfaceNumber: this.interfaceNumber });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Probes the format nearest to the request (the camera's default with an empty request). Like V4L2's S_FMT
   * it refuses while buffers are allocated (EBUSY). Nothing is committed until streamon.
   */
  async setFormat(request: FormatRequest): Promise<NegotiatedFormat> {
    if (this.queue.count > 0 || this.queue.streaming) {
      throw new UvcError('EBUSY', 'buffers are allocated: free them with queue.reqbufs(0) before changing the format');
    }
    const selection = selectFormat(this.fn, { ...request, interfaceNumber: this.interfaceNumber });
    const params = await probe(this.transport, this.fn, selection, { timeoutMs: this.options.controlTimeoutMs, quirks: this.options.quirks });
    // The queue might have been given buffers while the probe ran.
    this.queue.setBufferSize(params.dwMaxVideoFrameSize);
    this.params = params;
    return describeNegotiated(params);
  }

  async startStreaming(queue: BufferQueue): Promise<void> {
    const probed = this.params;
    if (probed === null) throw new UvcError('EINVAL', 'no format: call setFormat() first');
    const params = await commit(this.transport, this.fn, probed, { timeoutMs: this.options.controlTimeoutMs });
    if (params.dwMaxVideoFrameSize > queue.bufferSize) {
      throw new UvcError('EIO', `the camera committed ${params.dwMaxVideoFrameSize}-byte frames, larger than the ${queue.bufferSize}-byte buffers`);
    }
    this.params = params;
    const iso = params.transferType === 'isochronous';
    if (iso) {
      try {
        await this.transport.setAltSetting(this.interfaceNumber, params.altSetting);
      } catch (error) {
        // A full bus: say who holds the bandwidth and which mode would fit (bandwidth-advice.ts).
        throw await adviseNoBandwidth(error, { transport: this.transport, fn: this.fn, vs: this.descriptor, params, timeoutMs: this.options.controlTimeoutMs });
      }
    }
    try {
      const video = new VideoStream(this.transport, queue, this.streamConfig(params), {
        dropErroredFrames: this.options.dropErroredFrames,
        hardwareTimestamps: this.options.hardwareTimestamps,
        onError: this.options.onWarning,
        onStreamError: this.options.onStreamError,
      });
      video.start();
      this.video = video;
    } catch (error) {
      if (iso && !this.transport.isDisconnected) await this.transport.setAltSetting(this.interfaceNumber, 0).catch(() => undefined);
      throw error;
    }
    await this.options.onStreamStarted?.();
  }

  async stopStreaming(): Promise<void> {
    const video = this.video;
    this.video = null;
    if (video) await video.stop();
    if (this.transport.isDisconnected || !this.transport.isOpen || !this.params) return;
    try {
      // Alt setting 0 stops an iso stream; a bulk stream's endpoint is reset with CLEAR_FEATURE(HALT).
      if (this.params.transferType === 'isochronous') await this.transport.setAltSetting(this.interfaceNumber, 0);
      else await this.transport.clearHalt(this.params.endpointAddress);
    } catch (error) {
      if (!isUvcError(error, 'ENODEV')) throw error;
    }
  }

  private streamConfig(params: StreamParameters): VideoStreamConfig {
    const alt = this.descriptor.altSettings.find((a) => a.alternateSetting === params.altSetting);
    const iso = params.transferType === 'isochronous';
    const config: VideoStreamConfig = {
      endpoint: params.endpointAddress,
      transferType: iso ? 'iso' : 'bulk',
      speed: this.transport.info.speed,
      dwMaxPayloadTransferSize: params.dwMaxPayloadTransferSize,
      dwMaxVideoFrameSize: params.dwMaxVideoFrameSize,
      formatKind: assemblyKindOf(params),
      dwClockFrequency: params.dwClockFrequency,
      frameIntervalNs: params.interval * 100,
      targetInFlightMs: this.options.inFlightMs,
      stallToleranceMs: this.options.stallToleranceMs,
      bus: describeBus(this.transport.kind, this.transport.info.busNumber).bus,
      quirks: {
        streamNoFid: this.options.quirks.has('stream-no-fid'),
        mjpegNoEof: this.options.quirks.has('mjpeg-no-eof'),
        invalidDeviceSof: this.options.quirks.has('invalid-device-sof'),
      },
    };
    if (iso) {
      config.bytesPerInterval = params.bytesPerInterval;
      if (alt) config.bInterval = alt.interval;
    } else {
      const bulk = this.descriptor.altSettings.find((a) => a.transferType === 'bulk');
      if (bulk) config.maxPacketSize = bulk.maxPacketSize;
    }
    const expected = expectedFrameBytes(params);
    if (expected !== undefined) config.expectedFrameSize = expected;
    if (this.options.transfers !== undefined) config.transfers = this.options.transfers;
    if (this.options.packetsPerTransfer !== undefined) config.packetsPerTransfer = this.options.packetsPerTransfer;
    return config;
  }
}
