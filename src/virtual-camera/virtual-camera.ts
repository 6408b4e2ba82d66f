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
import { DeviceClock, RealtimeBusClock, VirtualBusClock, sofFrameNumber, type BusClock } from './bus-clock.js';
import { ControlModel, encodeControlValue, faceControlDefinitions, type ControlChange } from './controls.js';
import {
  bosDescriptor,
  configurationDescriptor,
  deviceDescriptor,
  deviceQualifier,
  faceStringDescriptor,
  stringDescriptor,
} from './descriptors.js';
import { CAMERA_TERMINAL_ID, EXTENSION_UNIT_ID, OUTPUT_TERMINAL_ID, PROCESSING_UNIT_ID } from './entities.js';
import type { PortLayout } from './face.js';
import { buildLayout } from './device-layout.js';
import { createRandom, resolveFaults, takeMatch, type FaultOptions, type ResolvedFaults } from './faults.js';
import { resolveOptions, uvcVersionOf, type ResolvedOptions, type VirtualCameraOptions } from './options.js';
import type { StreamingParams } from './probe-commit.js';
import { handleStandardRequest, type DescriptorSet, type StandardRequestTarget } from './standard-requests.js';
import { buttonStatusPacket, controlStatusPacket, StatusEndpoint } from './status-endpoint.js';
import { CompletionDelay } from './completion-delay.js';
import { SentFrameLog, type SentFrame } from './sent-frames.js';
import { UvcRequestHandler, type ClassRequestTarget, type FunctionTarget } from './uvc-requests.js';
import { VsPort, type PortHost } from './vs-port.js';

export interface UnplugWhen {
  /** Leave the bus as the stream's frame with this sequence number is about to go out. */
  atFrame?: number;
  /** Leave the bus after this many milliseconds of real time. */
  afterMs?: number;
}

interface PendingControl {
  settle: (reply: ControlReply) => void;
}

/** One video function: its VideoControl interface, controls, status endpoint, and streaming interfaces. */
interface VideoFunction extends FunctionTarget {
  readonly statusEndpoint: number | null;
  status: StatusEndpoint;
  readonly ports: VsPort[];
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
  private readonly descriptors: DescriptorSet;
  /** Every video function (one, unless a real camera's face has several), and their streaming interfaces. */
  private readonly functions: VideoFunction[];
  private readonly ports: VsPort[];
  /** Alternate settings of the interfaces that are not video (a face's audio, HID...). */
  private readonly otherAlts = new Map<number, number>();
  private readonly classRequests: UvcRequestHandler;
  private readonly random: () => number;
  private faultState: ResolvedFaults;

  private isAttached = true;
  private address = 0;
  private configuration = 0;
  private readonly halted = new Set<number>();
  private readonly pendingControls = new Set<PendingControl>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private unplugTimer: NodeJS.Timeout | null = null;
  private readonly sentLog: SentFrameLog;
  /** The completionJitterMs fault, shared by the video endpoints. */
  private readonly completionDelay: CompletionDelay;

  /**
   * A virtual camera wearing a real camera's face: its configuration and device descriptors (bytes, or hex text as
   * lsusb/usbmon tools print it, whitespace ignored), served verbatim, with the formats, units and interfaces they
   * declare. The other options (pace, faults, quirks...) apply as usual; speed, formats, ids come from the bytes.
   */
  static fromDescriptors(configuration: Uint8Array | string, device: Uint8Array | string, options: Omit<VirtualCameraOptions, 'descriptors' | 'profile'> = {}): VirtualCamera {
    const bytes = (value: Uint8Array | string, name: string): Uint8Array => {
      if (value instanceof Uint8Array) return value;
      const text = typeof value === 'string' ? value.replace(/0x|[\s,]/gi, '') : '';
      if (text.length === 0 || text.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(text)) {
        throw uvcError('EINVAL', `virtual camera: ${name} must be bytes or hex text`);
      }
      return Uint8Array.from(Buffer.from(text, 'hex'));
    };
    return new VirtualCamera({ ...options, descriptors: { configuration: bytes(configuration, 'the configuration descriptor'), device: bytes(device, 'the device descriptor') } });
  }

  constructor(options: VirtualCameraOptions = {}) {
    super();
    const config = resolveOptions(options);
    this.config = config;
    this.speed = config.speed;
    this.faultState = config.faults;
    this.random = createRandom(config.seed);
    this.sentLog = new SentFrameLog(config.sentFramesLimit);
    this.completionDelay = new CompletionDelay(config.seed, () => this.faultState.completionJitterMs, config.preciseCompletions);

    const layout = config.layout;
    const start = Math.floor(this.random() * 2048 * layout.intervalsPerFrame);
    this.clock = config.pace === 'fast' ? new VirtualBusClock(layout.busIntervalUs, start) : new RealtimeBusClock(layout.busIntervalUs, start);
    this.deviceClock = new DeviceClock(config.clockFrequency, layout.busIntervalUs, config.clockDriftPpm, Math.floor(this.random() * 0x100000000));

    this.functions = config.face === null ? [this.builtFunction()] : this.faceFunctions();
    this.ports = this.functions.flatMap((f) => f.ports);
    this.controls = this.functions[0]!.controls;
    this.controls.provide('frame_counter', () => [this.framesSent >>> 0]);

    const face = config.face;
    if (face !== null) {
      for (const [number, alts] of face.altSettings) {
        if (this.functions.some((f) => f.vcInterface === number) || this.portAt(number) !== undefined) continue;
        this.otherAlts.set(number, Math.min(...alts));
      }
      this.descriptors = {
        device: face.device,
        configuration: face.configuration,
        otherSpeedConfiguration: null,
        qualifier: config.speed === 'high' ? deviceQualifier() : null,
        bos: config.speed === 'super' ? bosDescriptor() : null,
        string: (index) => faceStringDescriptor(config, face.device, index),
      };
    } else {
      const definitions = this.controls.definitions;
      this.descriptors = {
        device: deviceDescriptor(config),
        configuration: configurationDescriptor(config, definitions),
        otherSpeedConfiguration:
          config.speed === 'high'
            ? configurationDescriptor(config, definitions, buildLayout('full', config.transfer), DescriptorType.OTHER_SPEED_CONFIGURATION)
            : null,
        qualifier: config.speed === 'high' ? deviceQualifier() : null,
        bos: config.speed === 'super' ? bosDescriptor() : null,
        string: (index) => stringDescriptor(config, index),
      };
    }
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
      const owner = this.functions.find((f) => f.vcInterface === key.interface) ?? this.portAt(key.interface)?.fn ?? this.functions[0]!;
      owner.requestErrorCode = stall.errorCode;
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
    // Endpoints other than 0 exist only in the configured state; a missing endpoint never answers a token.
    if (this.configuration === 0) return fail('error');
    const statusOwner = this.functions.find((f) => f.statusEndpoint === request.endpoint);
    if (statusOwner !== undefined) {
      if (request.iso) return Promise.reject(uvcError('EINVAL', 'transfer: the status endpoint is an interrupt endpoint'));
      if (this.halted.has(request.endpoint)) return fail('stall');
      return statusOwner.status.submit(request);
    }
    const port = this.ports.find((p) => p.layout.videoEndpoint === request.endpoint);
    if (port === undefined) return fail('error');
    if (port.layout.transfer === 'iso') {
      const iso = request.iso;
      if (!iso) return Promise.reject(uvcError('EINVAL', 'transfer: isochronous endpoint needs iso packet slots'));
      if (
        !Number.isInteger(iso.count) ||
        iso.count < 0 ||
        [iso.offsets, iso.lengths, iso.actual, iso.status].some((a) => a.length < iso.count)
      ) {
        return Promise.reject(uvcError('EINVAL', 'transfer: iso packet arrays are shorter than count'));
      }
      return port.transfer(request, fail);
    }
    if (request.iso) return Promise.reject(uvcError('EINVAL', 'transfer: bulk endpoint takes no iso packet slots'));
    if (this.halted.has(request.endpoint)) return fail('stall');
    return port.transfer(request, fail);
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
    this.halted.clear();
    for (const port of this.ports) port.reset();
    for (const fn of this.functions) {
      fn.requestErrorCode = 0;
      fn.controls.reset();
      fn.status = new StatusEndpoint(this.clock);
    }
    this.isAttached = true;
    this.emit('replug');
  }

  /**
   * The camera button: a press and a release on the status endpoint. `vsInterface` names the streaming interface
   * whose button it is (default: the first function's first), and so the function whose status endpoint reports it.
   */
  pressButton(vsInterface?: number): void {
    this.setButton(true, vsInterface);
    this.setButton(false, vsInterface);
  }

  setButton(pressed: boolean, vsInterface?: number): void {
    if (!this.isAttached) return;
    const at = vsInterface === undefined ? undefined : this.portAt(vsInterface);
    if (vsInterface !== undefined && at === undefined) throw uvcError('EINVAL', `virtual camera: no streaming interface ${vsInterface}`);
    const fn = at?.fn ?? this.functions[0]!;
    fn.status.post(buttonStatusPacket(at?.port.layout.vsInterface ?? fn.ports[0]!.layout.vsInterface, pressed));
  }

  /**
   * The control model of the video function whose VideoControl interface is `vcInterface` (`controls` is the first
   * function's). A camera wearing a face with two video functions has two, with unit IDs of their own.
   */
  controlsOf(vcInterface: number): ControlModel {
    const fn = this.functions.find((f) => f.vcInterface === vcInterface);
    if (fn === undefined) throw uvcError('EINVAL', `virtual camera: no VideoControl interface ${vcInterface}`);
    return fn.controls;
  }

  /**
   * The camera changes a control by itself (a dial, its firmware) and reports it on that function's status
   * endpoint (VALUE_CHANGE). Returns false when the function lacks the control or already had the value.
   */
  changeControl(name: string, values: number[], vcInterface = this.functions[0]!.vcInterface): boolean {
    const controls = this.controlsOf(vcInterface);
    const change = controls.setByDevice(name, values);
    if (change) this.postControlChanges(controls, [change]);
    return change !== null;
  }

  /** A physical privacy shutter: the PRIVACY control changes by itself and the status endpoint says so. */
  setPrivacyShutter(closed: boolean): void {
    const change = this.controls.setByDevice('privacy', [closed ? 1 : 0]);
    if (change) this.postControlChanges(this.controls, [change]);
  }

  /** Whether video is flowing (an iso alternate setting is selected, or a bulk stream was started). */
  get streaming(): boolean {
    return this.ports.some((p) => p.stream !== null);
  }

  /** Frames whose last payload went out, in the current stream (or the last one) of the first streaming interface. */
  get framesSent(): number {
    return this.ports[0]!.framesSent;
  }

  /** Frames captured but never sent because the bus was not fast enough (real-time pace). */
  get framesDropped(): number {
    return this.ports[0]!.framesDropped;
  }

  /**
   * Ground truth, to score a driver (see scoreCapture): one record per frame captured, oldest first, the newest
   * `sentFramesLimit` (default 2048) over every stream since the camera was made. Records of frames still on
   * their way change as they go out.
   */
  get sentFrames(): readonly Readonly<SentFrame>[] {
    return this.sentLog.records();
  }

  /** The committed streaming parameters (of the first streaming interface; committedOn() for another). */
  get committed(): Readonly<StreamingParams> {
    return this.ports[0]!.commit;
  }

  /** The committed streaming parameters of VideoStreaming interface `interfaceNumber`. */
  committedOn(interfaceNumber: number): Readonly<StreamingParams> {
    const port = this.portAt(interfaceNumber)?.port;
    if (port === undefined) throw uvcError('EINVAL', `virtual camera: no VideoStreaming interface ${interfaceNumber}`);
    return port.commit;
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
    for (const port of this.ports) {
      port.stopStream('no_device');
      port.closeBulk('no_device');
    }
    for (const fn of this.functions) fn.status.fail('no_device', true);
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

  private postControlChanges(controls: ControlModel, changes: ControlChange[]): void {
    const fn = this.functions.find((f) => f.controls === controls) ?? this.functions[0]!;
    for (const { def, values } of changes) {
      fn.status.post(controlStatusPacket(def.entityId, def.selector, encodeControlValue(def, values)));
    }
  }

  private portHost(): PortHost {
    const camera = this;
    return {
      config: this.config,
      clock: this.clock,
      deviceClock: this.deviceClock,
      sentLog: this.sentLog,
      random: () => this.random(),
      faults: () => camera.faultState,
      postControlChanges: (controls, changes) => this.postControlChanges(controls, changes),
      gone: () => this.unplugNow(),
      completionDelay: this.completionDelay,
    };
  }

  /** The one video function of a camera built from options (descriptors.ts lays it out). */
  private builtFunction(): VideoFunction {
    const { config } = this;
    const { layout } = config;
    const controls = new ControlModel(config.uvcVersion);
    const port: PortLayout = {
      vcInterface: layout.vcInterface,
      vsInterface: layout.vsInterface,
      videoEndpoint: layout.videoEndpoint,
      transfer: layout.transfer,
      isoAlts: layout.isoAlts,
      bulkMaxPacket: layout.bulkMaxPacket,
      formats: config.formats,
    };
    return {
      vcInterface: layout.vcInterface,
      controls,
      entityIds: new Set([CAMERA_TERMINAL_ID, PROCESSING_UNIT_ID, EXTENSION_UNIT_ID, OUTPUT_TERMINAL_ID]),
      outputTerminals: new Set([OUTPUT_TERMINAL_ID]),
      extensionUnits: new Set([EXTENSION_UNIT_ID]),
      requestErrorCode: 0,
      statusEndpoint: layout.statusEndpoint,
      status: new StatusEndpoint(this.clock),
      ports: [new VsPort(this.portHost(), port, controls, config.uvcVersion, config.probeLength, config.clockFrequency)],
    };
  }

  /** The video functions of a real camera's face, each with the controls its units declare. */
  private faceFunctions(): VideoFunction[] {
    const face = this.config.face!;
    return face.functions.map((f) => {
      const version = uvcVersionOf(f.bcdUVC);
      const controls = new ControlModel(version, faceControlDefinitions(f.entities, version));
      // probe-extrafields makes a UVC 1.0 camera speak 34 bytes; otherwise the block its version defines.
      const probeLength = version === '1.0' ? (this.config.quirks.has('probe-extrafields') ? 34 : 26) : version === '1.1' ? 34 : 48;
      return {
        vcInterface: f.vcInterface,
        controls,
        entityIds: new Set(f.entities.map((e) => e.id)),
        outputTerminals: new Set(f.entities.filter((e) => e.kind === 'output-terminal').map((e) => e.id)),
        extensionUnits: new Set(f.entities.filter((e) => e.kind === 'extension-unit').map((e) => e.id)),
        requestErrorCode: 0,
        statusEndpoint: f.status?.endpoint ?? null,
        status: new StatusEndpoint(this.clock),
        ports: f.ports.map((layout) => new VsPort(this.portHost(), layout, controls, version, probeLength, f.clockFrequency)),
      };
    });
  }

  private portAt(interfaceNumber: number): { port: VsPort; fn: VideoFunction } | undefined {
    for (const fn of this.functions ?? []) {
      const port = fn.ports.find((p) => p.layout.vsInterface === interfaceNumber);
      if (port !== undefined) return { port, fn };
    }
    return undefined;
  }

  private resetInterfaces(): void {
    for (const port of this.ports) {
      port.stopStream('cancelled');
      port.closeBulk('cancelled');
      port.bulkArmed = false;
      port.alt = 0;
    }
    this.halted.clear();
    for (const fn of this.functions) fn.status.fail('cancelled', true);
    for (const number of this.otherAlts.keys()) this.otherAlts.set(number, 0);
  }

  private standardTarget(): StandardRequestTarget {
    const camera = this;
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
        if (this.functions.some((f) => f.vcInterface === intf)) return 0;
        const port = this.portAt(intf)?.port;
        if (port !== undefined) return port.alt;
        return this.otherAlts.get(intf);
      },
      setInterface: (intf, alt) => {
        if (this.configuration === 0) return false;
        if (this.functions.some((f) => f.vcInterface === intf)) return alt === 0;
        const port = this.portAt(intf)?.port;
        if (port !== undefined) {
          if (!port.setAlt(alt)) return false;
          if (port.layout.transfer === 'bulk') this.halted.delete(port.layout.videoEndpoint);
          return true;
        }
        // A face's other interfaces (audio, HID): the setting is kept, nothing streams.
        if (!this.config.face?.altSettings.get(intf)?.includes(alt)) return false;
        this.otherAlts.set(intf, alt);
        return true;
      },
      endpointActive: (ep) => {
        if ((ep & 0x0f) === 0) return true;
        if (this.configuration === 0) return false;
        if (this.functions.some((f) => f.statusEndpoint === ep)) return true;
        const port = this.ports.find((p) => p.layout.videoEndpoint === ep);
        if (port !== undefined) return port.layout.transfer === 'bulk' || port.alt > 0;
        return false;
      },
      isHalted: (ep) => this.halted.has(ep),
      setHalt: (ep, halt) => this.setHalt(ep, halt),
    };
  }

  private setHalt(ep: number, halt: boolean): void {
    const port = this.ports.find((p) => p.layout.videoEndpoint === ep);
    if (port !== undefined && port.layout.transfer === 'iso') return; // isochronous endpoints do not halt
    const statusOwner = this.functions.find((f) => f.statusEndpoint === ep);
    if (halt) {
      this.halted.add(ep);
      statusOwner?.status.fail('stall', false);
      if (port !== undefined) {
        port.stopStream('stall');
        port.closeBulk('stall');
      }
      return;
    }
    this.halted.delete(ep);
    if (port !== undefined) {
      // What Windows and uvcvideo send to stop a bulk camera: the stream ends, the next one needs a COMMIT.
      port.stopStream('cancelled');
      port.closeBulk('cancelled');
      port.bulkArmed = false;
    }
  }

  private classTarget(): ClassRequestTarget {
    return {
      options: this.config,
      functionAt: (interfaceNumber) => this.functions.find((f) => f.vcInterface === interfaceNumber),
      portAt: (interfaceNumber) => this.portAt(interfaceNumber),
      faults: () => this.faultState,
    };
  }
}
