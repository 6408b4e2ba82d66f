/**
 * A UVC camera that exists in software: a USB device model (src/transport/device-model.ts) that answers
 * enumeration, speaks UVC on endpoint 0, streams video on an isochronous or bulk endpoint, reports events on
 * its status interrupt endpoint, and misbehaves on request. It knows nothing of any driver: it only sees USB
 * requests, so the in-process host, the USB/IP server (and through it Linux's uvcvideo) can all drive it.
 */
import { EventEmitter } from 'node:events';
import type {
  ControlReply,
  EndpointReply,
  EndpointRequest,
  SetupPacket,
  UsbDeviceModel,
} from '../transport/device-model.js';
import { DescriptorType, type UsbSpeed } from '../spec/usb.js';
import { uvcError } from '../errors.js';
import { BulkInEndpoint } from './bulk-endpoint.js';
import { DeviceClock, RealtimeBusClock, VirtualBusClock, sofFrameNumber, type BusClock } from './bus-clock.js';
import { ControlModel, encodeControlValue, type ControlChange } from './controls.js';
import {
  bosDescriptor,
  configurationDescriptor,
  deviceDescriptor,
  deviceQualifier,
  stringDescriptor,
} from './descriptors.js';
import { buildLayout } from './device-layout.js';
import { createRandom, resolveFaults, takeMatch, type FaultOptions, type ResolvedFaults } from './faults.js';
import { FrameSource } from './frame-source.js';
import { IsoInEndpoint } from './iso-endpoint.js';
import { resolveOptions, type ResolvedOptions, type VirtualCameraOptions } from './options.js';
import { jpegQualityOf, ProbeNegotiator, type StreamingParams } from './probe-commit.js';
import { handleStandardRequest, type DescriptorSet, type StandardRequestTarget } from './standard-requests.js';
import { buttonStatusPacket, controlStatusPacket, StatusEndpoint } from './status-endpoint.js';
import { CompletionDelay } from './completion-delay.js';
import { SentFrameLog, type SentFrame } from './sent-frames.js';
import { UvcRequestHandler, type ClassRequestTarget } from './uvc-requests.js';
import { VideoStream } from './video-stream.js';

export interface UnplugWhen {
  /** Leave the bus as the stream's frame with this sequence number is about to go out. */
  atFrame?: number;
  /** Leave the bus after this many milliseconds of real time. */
  afterMs?: number;
}

interface PendingControl {
  settle: (reply: ControlReply) => void;
}

const REQUEST_TYPE_MASK = 0x60;
const TYPE_STANDARD = 0x00;
const TYPE_CLASS = 0x20;

export class VirtualCamera extends EventEmitter implements UsbDeviceModel {
  readonly speed: UsbSpeed;
  /** The options after defaults and validation. */
  readonly config: ResolvedOptions;
  /** The control model (for inspection: values, definitions). */
  readonly controls: ControlModel;

  private readonly clock: BusClock;
  private readonly deviceClock: DeviceClock;
  private readonly negotiator: ProbeNegotiator;
  private readonly descriptors: DescriptorSet;
  private readonly classRequests: UvcRequestHandler;
  private readonly random: () => number;
  private faultState: ResolvedFaults;

  private isAttached = true;
  private address = 0;
  private configuration = 0;
  private vsAlt = 0;
  private readonly halted = new Set<number>();
  private probe: StreamingParams;
  private commit: StreamingParams;
  private requestErrorCode = 0;
  private streamErrorCode = 0;

  private stream: VideoStream | null = null;
  private iso: IsoInEndpoint | null = null;
  private bulk: BulkInEndpoint | null = null;
  /** bulk: a COMMIT arrived since the last stop, so the next read starts a stream. */
  private bulkArmed = false;
  private status: StatusEndpoint;
  private readonly pendingControls = new Set<PendingControl>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private unplugTimer: NodeJS.Timeout | null = null;
  private lastFramesSent = 0;
  private lastFramesDropped = 0;
  private readonly sentLog: SentFrameLog;
  /** The completionJitterMs fault, shared by the video endpoints. */
  private readonly completionDelay: CompletionDelay;

  constructor(options: VirtualCameraOptions = {}) {
    super();
    const config = resolveOptions(options);
    this.config = config;
    this.speed = config.speed;
    this.controls = new ControlModel(config.uvcVersion);
    this.controls.provide('frame_counter', () => [this.framesSent >>> 0]);
    this.faultState = config.faults;
    this.random = createRandom(config.seed);
    this.sentLog = new SentFrameLog(config.sentFramesLimit);
    this.completionDelay = new CompletionDelay(config.seed, () => this.faultState.completionJitterMs);

    const layout = config.layout;
    const start = Math.floor(this.random() * 2048 * layout.intervalsPerFrame);
    this.clock = config.pace === 'fast' ? new VirtualBusClock(layout.busIntervalUs, start) : new RealtimeBusClock(layout.busIntervalUs, start);
    this.deviceClock = new DeviceClock(config.clockFrequency, layout.busIntervalUs, config.clockDriftPpm, Math.floor(this.random() * 0x100000000));
    this.status = new StatusEndpoint(this.clock);

    const headerLength = 2 + (config.headerPts ? 4 : 0) + (config.headerScr ? 6 : 0);
    this.negotiator = new ProbeNegotiator({
      formats: config.formats,
      layout,
      transfer: config.transfer,
      uvcVersion: config.uvcVersion,
      headerLength,
      clockFrequency: config.clockFrequency,
      bulkMaxPayloadTransferSize: config.bulkMaxPayloadTransferSize,
    });
    this.probe = this.negotiator.defaults();
    this.commit = this.negotiator.defaults();

    const definitions = this.controls.definitions;
    const configuration = configurationDescriptor(config, definitions);
    this.descriptors = {
      device: deviceDescriptor(config),
      configuration,
      otherSpeedConfiguration:
        config.speed === 'high'
          ? configurationDescriptor(config, definitions, buildLayout('full', config.transfer), DescriptorType.OTHER_SPEED_CONFIGURATION)
          : null,
      qualifier: config.speed === 'high' ? deviceQualifier() : null,
      bos: config.speed === 'super' ? bosDescriptor() : null,
      string: (index) => stringDescriptor(config, index),
    };
    this.classRequests = new UvcRequestHandler(this.classTarget());
    this.armUnplugTimer(this.faultState.unplugAfterMs);
  }

  // ---- UsbDeviceModel ------------------------------------------------------------------------------------

  get attached(): boolean {
    return this.isAttached;
  }

  control(setup: SetupPacket, data: Uint8Array | undefined, signal?: AbortSignal): Promise<ControlReply> {
    if (!this.isAttached) return Promise.resolve({ status: 'no_device' });
    if (signal?.aborted) return Promise.resolve({ status: 'cancelled' });
    const payload = data ?? new Uint8Array(0);
    const type = setup.bmRequestType & REQUEST_TYPE_MASK;
    if (type === TYPE_STANDARD) return Promise.resolve(handleStandardRequest(this.standardTarget(), setup, payload));
    if (type !== TYPE_CLASS || this.configuration === 0) return Promise.resolve({ status: 'stall' });

    const key = {
      request: setup.bRequest,
      interface: setup.wIndex & 0xff,
      entity: (setup.wIndex >> 8) & 0xff,
      selector: (setup.wValue >> 8) & 0xff,
    };
    const faults = this.faultState;
    if (takeMatch(faults.ignoreRequests, key) !== null) return this.deferControl(signal, null);
    const stall = takeMatch(faults.stallRequests, key);
    if (stall !== null) {
      this.requestErrorCode = stall.errorCode;
      return Promise.resolve({ status: 'stall' });
    }
    const slow = faults.slowRequests;
    if (slow !== null && takeMatch([slow.match], key) !== null) {
      return this.deferControl(signal, slow.delayMs, () => this.classRequests.handle(setup, payload));
    }
    return Promise.resolve(this.classRequests.handle(setup, payload));
  }

  transfer(request: EndpointRequest): Promise<EndpointReply> {
    const fail = (status: EndpointReply['status']): Promise<EndpointReply> =>
      Promise.resolve({ status, actualLength: 0, startFrame: sofFrameNumber(this.clock, this.clock.now()) });
    if (!this.isAttached) return fail('no_device');
    if (!(request.buffer instanceof Uint8Array)) return Promise.reject(uvcError('EINVAL', 'transfer: buffer must be a Uint8Array'));
    if (request.signal?.aborted) return fail('cancelled');
    const layout = this.config.layout;
    // Endpoints other than 0 exist only in the configured state; a missing endpoint never answers a token.
    if (this.configuration === 0) return fail('error');
    if (request.endpoint === layout.statusEndpoint) {
      if (request.iso) return Promise.reject(uvcError('EINVAL', 'transfer: the status endpoint is an interrupt endpoint'));
      if (this.halted.has(request.endpoint)) return fail('stall');
      return this.status.submit(request);
    }
    if (request.endpoint !== layout.videoEndpoint) return fail('error');
    if (this.config.transfer === 'iso') {
      const iso = request.iso;
      if (!iso) return Promise.reject(uvcError('EINVAL', 'transfer: isochronous endpoint needs iso packet slots'));
      if (
        !Number.isInteger(iso.count) ||
        iso.count < 0 ||
        [iso.offsets, iso.lengths, iso.actual, iso.status].some((a) => a.length < iso.count)
      ) {
        return Promise.reject(uvcError('EINVAL', 'transfer: iso packet arrays are shorter than count'));
      }
      if (this.iso === null) return fail('error'); // alternate setting 0: no endpoint
      return this.iso.submit(request);
    }
    if (request.iso) return Promise.reject(uvcError('EINVAL', 'transfer: bulk endpoint takes no iso packet slots'));
    if (this.halted.has(request.endpoint)) return fail('stall');
    if (this.stream === null && this.bulkArmed) this.startStream();
    return this.bulkEndpoint().submit(request);
  }

  // ---- Faults, events and inspection -----------------------------------------------------------------------

  /** Replaces the injected faults (counters of `times` start afresh). Throws EINVAL for invalid faults. */
  setFaults(faults: FaultOptions): void {
    this.faultState = resolveFaults(faults, (message, details) => {
      throw uvcError('EINVAL', `virtual camera: ${message}`, details);
    });
    this.armUnplugTimer(this.faultState.unplugAfterMs);
  }

  get faults(): Readonly<ResolvedFaults> {
    return this.faultState;
  }

  /**
   * Leaves the bus: now, as frame `atFrame` of the running (or next) stream is about to go out, or after
   * `afterMs` of real time. Pending and later requests answer 'no_device'; 'unplug' is emitted once.
   */
  unplug(when: UnplugWhen = {}): void {
    const { atFrame, afterMs } = when;
    if (atFrame === undefined && afterMs === undefined) {
      this.unplugNow();
      return;
    }
    if (atFrame !== undefined) {
      if (!Number.isInteger(atFrame) || atFrame < 0) throw uvcError('EINVAL', 'unplug: atFrame must be a frame number ≥ 0');
      this.faultState = { ...this.faultState, unplugAtFrame: atFrame };
    }
    if (afterMs !== undefined) {
      if (typeof afterMs !== 'number' || !(afterMs >= 0) || afterMs > 2_147_483_647) {
        throw uvcError('EINVAL', 'unplug: afterMs must be a number of milliseconds ≥ 0');
      }
      this.armUnplugTimer(afterMs);
    }
  }

  /** Comes back as a new device in its power-on state (address 0, unconfigured, default controls); emits 'replug'. */
  replug(): void {
    if (this.isAttached) throw uvcError('EALREADY', 'virtual camera: already attached');
    this.address = 0;
    this.configuration = 0;
    this.vsAlt = 0;
    this.halted.clear();
    this.probe = this.negotiator.defaults();
    this.commit = this.negotiator.defaults();
    this.requestErrorCode = 0;
    this.streamErrorCode = 0;
    this.bulkArmed = false;
    this.controls.reset();
    this.status = new StatusEndpoint(this.clock);
    this.isAttached = true;
    this.emit('replug');
  }

  /** The camera button: a press and a release on the status endpoint. */
  pressButton(): void {
    this.setButton(true);
    this.setButton(false);
  }

  setButton(pressed: boolean): void {
    if (!this.isAttached) return;
    this.status.post(buttonStatusPacket(this.config.layout.vsInterface, pressed));
  }

  /** A physical privacy shutter: the PRIVACY control changes by itself and the status endpoint says so. */
  setPrivacyShutter(closed: boolean): void {
    const change = this.controls.setByDevice('privacy', [closed ? 1 : 0]);
    if (change) this.postControlChanges([change]);
  }

  /** Whether video is flowing (an iso alternate setting is selected, or a bulk stream was started). */
  get streaming(): boolean {
    return this.stream !== null;
  }

  /** Frames whose last payload went out, in the current stream (or the last one). */
  get framesSent(): number {
    return this.stream?.framesSent ?? this.lastFramesSent;
  }

  /** Frames captured but never sent because the bus was not fast enough (real-time pace). */
  get framesDropped(): number {
    return this.stream?.framesDropped ?? this.lastFramesDropped;
  }

  /**
   * Ground truth, to score a driver (see scoreCapture): one record per frame captured, oldest first, the newest
   * `sentFramesLimit` (default 2048) over every stream since the camera was made. Records of frames still on
   * their way change as they go out.
   */
  get sentFrames(): readonly Readonly<SentFrame>[] {
    return this.sentLog.records();
  }

  /** The committed streaming parameters. */
  get committed(): Readonly<StreamingParams> {
    return this.commit;
  }

  /** The current bus interval (µframe or frame count; the SOF frame number is this / intervalsPerFrame mod 2048). */
  busInterval(): number {
    return this.clock.now();
  }

  deviceDescriptor(): Uint8Array {
    return this.descriptors.device.slice();
  }

  configurationDescriptor(): Uint8Array {
    return this.descriptors.configuration.slice();
  }

  // ---- Internals ---------------------------------------------------------------------------------------------

  private armUnplugTimer(ms: number | null): void {
    if (this.unplugTimer !== null) clearTimeout(this.unplugTimer);
    this.unplugTimer = null;
    if (ms === null || !this.isAttached) return;
    this.unplugTimer = setTimeout(() => {
      this.unplugTimer = null;
      this.unplugNow();
    }, ms);
    // A pending unplug alone does not keep the process alive.
    this.unplugTimer.unref();
  }

  private unplugNow(): void {
    if (!this.isAttached) return;
    this.isAttached = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.unplugTimer !== null) clearTimeout(this.unplugTimer);
    this.unplugTimer = null;
    this.stopStream('no_device');
    this.closeBulk('no_device');
    this.status.fail('no_device', true);
    for (const p of this.pendingControls) p.settle({ status: 'no_device' });
    this.pendingControls.clear();
    // The fault has fired; a replugged camera does not vanish again at the same frame.
    if (this.faultState.unplugAtFrame !== null) this.faultState = { ...this.faultState, unplugAtFrame: null };
    this.emit('unplug');
  }

  /** A control request answered late (`delayMs`) or never (null): pending until then, an abort, or unplug. */
  private deferControl(signal: AbortSignal | undefined, delayMs: number | null, answer?: () => ControlReply): Promise<ControlReply> {
    return new Promise<ControlReply>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const pending: PendingControl = {
        settle: (reply) => {
          if (!this.pendingControls.delete(pending)) return;
          if (timer) {
            clearTimeout(timer);
            this.timers.delete(timer);
          }
          signal?.removeEventListener('abort', onAbort);
          resolve(reply);
        },
      };
      const onAbort = () => pending.settle({ status: 'cancelled' });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pendingControls.add(pending);
      if (delayMs !== null) {
        timer = setTimeout(() => {
          if (this.timers.has(timer!)) this.timers.delete(timer!);
          pending.settle(this.isAttached && answer ? answer() : { status: 'no_device' });
        }, delayMs);
        this.timers.add(timer);
      }
    });
  }

  private postControlChanges(changes: ControlChange[]): void {
    for (const { def, values } of changes) {
      this.status.post(controlStatusPacket(def.entityId, def.selector, encodeControlValue(def, values)));
    }
  }

  private startStream(): void {
    this.stopStream('cancelled');
    const format = this.negotiator.format(this.commit.bFormatIndex);
    const frame = this.negotiator.frame(format, this.commit.bFrameIndex);
    const quirks = this.config.quirks;
    // restrict-frame-rate: whatever interval was committed, the sensor runs at the frame's default one.
    const interval = quirks.has('restrict-frame-rate') ? frame.defaultInterval : this.commit.dwFrameInterval;
    const frameIntervalUs = interval / 10;
    // restore-ctrls-on-init: starting the stream resets the controls to their defaults, and nobody is told.
    if (quirks.has('restore-ctrls-on-init')) this.controls.reset();
    this.sentLog.beginStream();
    const source = new FrameSource({
      format,
      frame,
      // force-y8: a YUYV format's bytes are an 8-bit greyscale picture twice as wide.
      greyAsYuyv: quirks.has('force-y8') && format.kind === 'yuyv',
      frameIntervalUs,
      jpegQuality: jpegQualityOf(this.commit.wCompQuality),
      omitHuffmanTables: this.config.omitHuffmanTables,
      frameCache: this.config.frameCache,
      controls: this.controls,
      now: () => this.clock.now(),
    });
    this.stream = new VideoStream({
      clock: this.clock,
      deviceClock: this.deviceClock,
      controls: this.controls,
      source,
      uvcVersion: this.config.uvcVersion,
      frameIntervalUs,
      headerPts: this.config.headerPts,
      headerScr: this.config.headerScr,
      renderAhead: this.config.renderAhead,
      faults: () => this.faultState,
      startInterval: this.clock.now(),
      onStreamError: (code) => {
        this.streamErrorCode = code;
      },
      onControlChanges: (changes) => this.postControlChanges(changes),
      beforeFrame: (sequence) => this.faultState.unplugAtFrame === null || sequence < this.faultState.unplugAtFrame,
      maxVideoFrameSize: this.commit.dwMaxVideoFrameSize,
      log: this.sentLog,
      quirks: this.config.quirks,
      mjpeg: format.kind === 'mjpeg',
    });
  }

  /** Ends the stream; requests queued on the video endpoint answer `status`. */
  private stopStream(status: 'cancelled' | 'no_device' | 'stall'): void {
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
  private closeBulk(status: 'cancelled' | 'no_device' | 'stall'): void {
    this.bulk?.close(status);
    this.bulk = null;
  }

  private bulkEndpoint(): BulkInEndpoint {
    if (this.bulk === null) {
      const layout = this.config.layout;
      this.bulk = new BulkInEndpoint(this.clock, {
        stream: () => {
          if (this.stream === null && this.bulkArmed) this.startStream();
          return this.stream;
        },
        maxPayload: this.config.bulkMaxPayloadTransferSize,
        maxPacket: layout.bulkMaxPacket,
        bytesPerInterval: layout.bulkBytesPerInterval,
        gone: () => this.unplugNow(),
        lose: (packets) => {
          const rate = this.faultState.packetLossRate;
          return rate > 0 && this.random() < 1 - (1 - rate) ** packets;
        },
        delay: this.completionDelay,
      });
    }
    return this.bulk;
  }

  private startIso(alt: number): void {
    const setting = this.config.layout.isoAlts[alt - 1]!;
    this.startStream();
    const stream = this.stream!;
    const truthful = this.commit.dwMaxPayloadTransferSize;
    this.iso = new IsoInEndpoint(
      this.clock,
      {
        stream,
        capacity: () => Math.min(setting.bytesPerInterval, truthful),
        idlePackets: this.config.idlePackets,
        step: 1,
        lose: () => {
          const f = this.faultState;
          return f.packetLossRate > 0 && this.random() < f.packetLossRate ? f.packetLoss : null;
        },
        gone: () => this.unplugNow(),
        delay: this.completionDelay,
      },
      this.clock.now(),
    );
  }

  private resetInterfaces(): void {
    this.stopStream('cancelled');
    this.closeBulk('cancelled');
    this.bulkArmed = false;
    this.vsAlt = 0;
    this.halted.clear();
    this.status.fail('cancelled', true);
  }

  private standardTarget(): StandardRequestTarget {
    const camera = this;
    const layout = this.config.layout;
    return {
      superSpeed: this.config.speed === 'super',
      descriptors: this.descriptors,
      get address() {
        return camera.address;
      },
      set address(value: number) {
        camera.address = value;
      },
      configuration: this.configuration,
      setConfiguration: (value) => {
        if (value !== 0 && value !== 1) return false;
        this.resetInterfaces();
        this.configuration = value;
        return true;
      },
      altSetting: (intf) => {
        if (this.configuration === 0) return undefined;
        if (intf === layout.vcInterface) return 0;
        if (intf === layout.vsInterface) return this.vsAlt;
        return undefined;
      },
      setInterface: (intf, alt) => {
        if (this.configuration === 0) return false;
        if (intf === layout.vcInterface) return alt === 0;
        if (intf !== layout.vsInterface) return false;
        if (this.config.transfer === 'bulk') {
          if (alt !== 0) return false;
          // Selecting an interface setting resets its endpoints: the bulk stream ends.
          this.stopStream('cancelled');
          this.closeBulk('cancelled');
          this.bulkArmed = false;
          this.halted.delete(layout.videoEndpoint);
          return true;
        }
        if (alt > layout.isoAlts.length) return false;
        this.stopStream('cancelled');
        this.vsAlt = alt;
        if (alt > 0) this.startIso(alt);
        return true;
      },
      endpointActive: (ep) => {
        if ((ep & 0x0f) === 0) return true;
        if (this.configuration === 0) return false;
        if (ep === layout.statusEndpoint) return true;
        if (ep === layout.videoEndpoint) return this.config.transfer === 'bulk' || this.vsAlt > 0;
        return false;
      },
      isHalted: (ep) => this.halted.has(ep),
      setHalt: (ep, halt) => this.setHalt(ep, halt),
    };
  }

  private setHalt(ep: number, halt: boolean): void {
    const layout = this.config.layout;
    if (ep === layout.videoEndpoint && this.config.transfer === 'iso') return; // isochronous endpoints do not halt
    if (halt) {
      this.halted.add(ep);
      if (ep === layout.statusEndpoint) this.status.fail('stall', false);
      if (ep === layout.videoEndpoint) {
        this.stopStream('stall');
        this.closeBulk('stall');
      }
      return;
    }
    this.halted.delete(ep);
    if (ep === layout.videoEndpoint) {
      // What Windows and uvcvideo send to stop a bulk camera: the stream ends, the next one needs a COMMIT.
      this.stopStream('cancelled');
      this.closeBulk('cancelled');
      this.bulkArmed = false;
    }
  }

  private classTarget(): ClassRequestTarget {
    const camera = this;
    return {
      options: this.config,
      controls: this.controls,
      negotiator: this.negotiator,
      get probe() {
        return camera.probe;
      },
      set probe(value: StreamingParams) {
        camera.probe = value;
      },
      get commit() {
        return camera.commit;
      },
      set commit(value: StreamingParams) {
        camera.commit = value;
      },
      get requestErrorCode() {
        return camera.requestErrorCode;
      },
      set requestErrorCode(value: number) {
        camera.requestErrorCode = value;
      },
      get streamErrorCode() {
        return camera.streamErrorCode;
      },
      set streamErrorCode(value: number) {
        camera.streamErrorCode = value;
      },
      get isoStreaming() {
        return camera.config.transfer === 'iso' && camera.vsAlt > 0;
      },
      faults: () => this.faultState,
      committed: () => {
        if (this.config.transfer !== 'bulk') return;
        this.bulkArmed = true;
        // A new COMMIT while a bulk stream runs restarts it with the new parameters; the host's transfers
        // stay queued and the next payload they see belongs to the new stream.
        if (this.stream !== null) {
          this.stopStream('cancelled');
          this.bulk?.restart();
        }
      },
    };
  }
}
