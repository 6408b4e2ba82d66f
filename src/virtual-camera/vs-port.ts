/**
 * One VideoStreaming interface of the camera: its probe/commit state, its alternate setting, and the stream and
 * endpoint server that run while it streams. A camera has one per VS interface (a real camera's face may have
 * several, in one video function or in several), and they stream independently.
 */
import type { EndpointReply, EndpointRequest } from '../transport/device-model.js';
import { BulkInEndpoint } from './bulk-endpoint.js';
import type { CompletionDelay } from './completion-delay.js';
import type { BusClock, DeviceClock } from './bus-clock.js';
import type { ControlChange, ControlModel } from './controls.js';
import type { PortLayout } from './face.js';
import type { ResolvedFaults } from './faults.js';
import { FrameSource } from './frame-source.js';
import { IsoInEndpoint } from './iso-endpoint.js';
import type { ResolvedOptions } from './options.js';
import { jpegQualityOf, ProbeNegotiator, type StreamingParams } from './probe-commit.js';
import type { SentFrameLog } from './sent-frames.js';
import type { UvcVersion } from './types.js';
import { VideoStream } from './video-stream.js';

/** What a port needs of the camera around it. */
export interface PortHost {
  readonly config: ResolvedOptions;
  readonly clock: BusClock;
  readonly deviceClock: DeviceClock;
  readonly sentLog: SentFrameLog;
  random(): number;
  faults(): ResolvedFaults;
  postControlChanges(controls: ControlModel, changes: ControlChange[]): void;
  /** The unplug-at-frame fault fired. */
  gone(): void;
  /** The completionJitterMs fault, shared by the video endpoints. */
  readonly completionDelay: CompletionDelay;
}

export type CloseStatus = 'cancelled' | 'no_device' | 'stall';

export class VsPort {
  readonly negotiator: ProbeNegotiator;
  probe: StreamingParams;
  commit: StreamingParams;
  alt = 0;
  streamErrorCode = 0;
  /** bulk: a COMMIT arrived since the last stop, so the next read starts a stream. */
  bulkArmed = false;
  stream: VideoStream | null = null;
  private iso: IsoInEndpoint | null = null;
  private bulk: BulkInEndpoint | null = null;
  lastFramesSent = 0;
  lastFramesDropped = 0;

  constructor(
    private readonly host: PortHost,
    readonly layout: PortLayout,
    readonly controls: ControlModel,
    readonly uvcVersion: UvcVersion,
    readonly probeLength: number,
    clockFrequency: number,
  ) {
    const config = host.config;
    this.negotiator = new ProbeNegotiator({
      formats: layout.formats,
      layout: { busIntervalUs: host.clock.intervalUs, isoAlts: layout.isoAlts },
      transfer: layout.transfer,
      uvcVersion,
      headerLength: 2 + (config.headerPts ? 4 : 0) + (config.headerScr ? 6 : 0),
      clockFrequency,
      bulkMaxPayloadTransferSize: config.bulkMaxPayloadTransferSize,
    });
    this.probe = this.negotiator.defaults();
    this.commit = this.negotiator.defaults();
  }

  get isoStreaming(): boolean {
    return this.layout.transfer === 'iso' && this.alt > 0;
  }

  get framesSent(): number {
    return this.stream?.framesSent ?? this.lastFramesSent;
  }

  get framesDropped(): number {
    return this.stream?.framesDropped ?? this.lastFramesDropped;
  }

  /** Power-on state (replug). */
  reset(): void {
    this.probe = this.negotiator.defaults();
    this.commit = this.negotiator.defaults();
    this.streamErrorCode = 0;
    this.bulkArmed = false;
    this.alt = 0;
  }

  /** SET_INTERFACE on this interface; false when the alternate setting does not exist. */
  setAlt(alt: number): boolean {
    if (this.layout.transfer === 'bulk') {
      if (alt !== 0) return false;
      // Selecting an interface setting resets its endpoints: the bulk stream ends.
      this.stopStream('cancelled');
      this.closeBulk('cancelled');
      this.bulkArmed = false;
      return true;
    }
    if (alt !== 0 && !this.layout.isoAlts.some((a) => a.alt === alt)) return false;
    this.stopStream('cancelled');
    this.alt = alt;
    if (alt > 0) this.startIso(alt);
    return true;
  }

  /** SET_CUR(COMMIT) was accepted. */
  committed(): void {
    if (this.layout.transfer !== 'bulk') return;
    this.bulkArmed = true;
    // A new COMMIT while a bulk stream runs restarts it with the new parameters; the host's transfers stay queued
    // and the next payload they see belongs to the new stream.
    if (this.stream !== null) {
      this.stopStream('cancelled');
      this.bulk?.restart();
    }
  }

  transfer(request: EndpointRequest, fail: (status: EndpointReply['status']) => Promise<EndpointReply>): Promise<EndpointReply> {
    if (this.layout.transfer === 'iso') {
      if (this.iso === null) return fail('error'); // alternate setting 0: no endpoint
      return this.iso.submit(request);
    }
    if (this.stream === null && this.bulkArmed) this.startStream();
    return this.bulkEndpoint().submit(request);
  }

  /** Ends the stream; requests queued on the iso endpoint answer `status`. */
  stopStream(status: CloseStatus): void {
    if (this.stream !== null) {
      this.lastFramesSent = this.stream.framesSent;
      this.lastFramesDropped = this.stream.framesDropped;
      this.stream.stop();
      this.stream = null;
    }
    if (this.iso !== null) {
      this.iso.close(status);
      this.iso = null;
    }
  }

  /** Resets the bulk endpoint (halt, clear-halt, interface reset, unplug): its queued requests answer `status`. */
  closeBulk(status: CloseStatus): void {
    this.bulk?.close(status);
    this.bulk = null;
  }

  private startStream(): void {
    this.stopStream('cancelled');
    const { config, clock, deviceClock, sentLog } = this.host;
    const format = this.negotiator.format(this.commit.bFormatIndex);
    const frame = this.negotiator.frame(format, this.commit.bFrameIndex);
    const quirks = config.quirks;
    // restrict-frame-rate: whatever interval was committed, the sensor runs at the frame's default one.
    const interval = quirks.has('restrict-frame-rate') ? frame.defaultInterval : this.commit.dwFrameInterval;
    const frameIntervalUs = interval / 10;
    // restore-ctrls-on-init: starting the stream resets the controls to their defaults, and nobody is told.
    if (quirks.has('restore-ctrls-on-init')) this.controls.reset();
    sentLog.beginStream();
    const source = new FrameSource({
      format,
      frame,
      // force-y8: a YUYV format's bytes are an 8-bit greyscale picture twice as wide.
      greyAsYuyv: quirks.has('force-y8') && format.kind === 'yuyv',
      frameIntervalUs,
      jpegQuality: jpegQualityOf(this.commit.wCompQuality),
      omitHuffmanTables: config.omitHuffmanTables,
      frameCache: config.frameCache,
      controls: this.controls,
      now: () => clock.now(),
    });
    this.stream = new VideoStream({
      clock,
      deviceClock,
      controls: this.controls,
      source,
      uvcVersion: this.uvcVersion,
      frameIntervalUs,
      headerPts: config.headerPts,
      headerScr: config.headerScr,
      renderAhead: config.renderAhead,
      faults: () => this.host.faults(),
      startInterval: clock.now(),
      onStreamError: (code) => {
        this.streamErrorCode = code;
      },
      onControlChanges: (changes) => this.host.postControlChanges(this.controls, changes),
      beforeFrame: (sequence) => {
        const at = this.host.faults().unplugAtFrame;
        return at === null || sequence < at;
      },
      maxVideoFrameSize: this.commit.dwMaxVideoFrameSize,
      log: sentLog,
      quirks,
      mjpeg: format.kind === 'mjpeg',
    });
  }

  private bulkEndpoint(): BulkInEndpoint {
    if (this.bulk === null) {
      const { config, clock } = this.host;
      this.bulk = new BulkInEndpoint(clock, {
        stream: () => {
          if (this.stream === null && this.bulkArmed) this.startStream();
          return this.stream;
        },
        maxPayload: config.bulkMaxPayloadTransferSize,
        maxPacket: this.layout.bulkMaxPacket,
        bytesPerInterval: config.layout.bulkBytesPerInterval,
        gone: () => this.host.gone(),
        lose: (packets) => {
          const rate = this.host.faults().packetLossRate;
          return rate > 0 && this.host.random() < 1 - (1 - rate) ** packets;
        },
        delay: this.host.completionDelay,
      });
    }
    return this.bulk;
  }

  private startIso(alt: number): void {
    const setting = this.layout.isoAlts.find((a) => a.alt === alt)!;
    this.startStream();
    const stream = this.stream!;
    const truthful = this.commit.dwMaxPayloadTransferSize;
    const { config, clock } = this.host;
    this.iso = new IsoInEndpoint(
      clock,
      {
        stream,
        capacity: () => Math.min(setting.bytesPerInterval, truthful),
        idlePackets: config.idlePackets,
        step: 1,
        lose: () => {
          const f = this.host.faults();
          return f.packetLossRate > 0 && this.host.random() < f.packetLossRate ? f.packetLoss : null;
        },
        gone: () => this.host.gone(),
        delay: this.host.completionDelay,
        preciseCompletions: config.preciseCompletions,
      },
      clock.now(),
    );
  }
}
