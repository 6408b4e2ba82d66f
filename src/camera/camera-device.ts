/**
 * The state of one physical camera, shared by every Camera handle opened on it and reference-counted (the Linux
 * media device allocator's idea): the transport, the parsed descriptors, one StreamingInterface per VideoStreaming
 * interface, and per video function its controls and its status endpoint. It is freed when the last handle closes.
 *
 * A device may hold several video functions (an IAD each, its own VideoControl interface, units and status
 * endpoint; uvcvideo binds each as a device of its own). Unit IDs are the function's: brightness on unit 2 of the
 * first function is another control than brightness on unit 2 of the second. So every function gets its own
 * UvcControls (addressed to its VideoControl interface) and StatusMonitor, and a stream's function is the one
 * whose controls a handle streaming it sees.
 *
 * On disconnect, every handle is told and every queue is cancelled in one synchronous step (BufferQueue.disconnect):
 * at once, or for a running stream from its NO_DEVICE completion, so frames completed before the unplug are kept.
 * Handles stay usable far enough to return errors and be closed.
 */
import { EventEmitter } from 'node:events';
import { UvcError, isUvcError } from '../errors.js';
import type { UsbTransport } from '../transport/usb-transport.js';
import {
  applyDescriptorQuirks,
  DeviceQuirks,
  parseUvcDescriptors,
  statusIntervalUs,
  UvcControls,
  type ControlEntry,
  type QuirkName,
  type StatusEvent,
  type UvcDescriptors,
} from '../uvc/index.js';
import { describeFormats, type CameraFormat } from './camera-formats.js';
import { StatusMonitor } from './status-monitor.js';
import { StreamingInterface, type StreamingOptions } from './streaming-interface.js';

export interface CameraDeviceOptions extends Omit<StreamingOptions, 'onWarning' | 'onStreamError' | 'quirks'> {
  /** Quirks the caller forces on (validated names). */
  quirks: readonly QuirkName[];
}

export interface CameraDeviceEvents {
  disconnect: [];
  /** A running stream failed and stopped (not 'error': nobody may be listening on the shared device). */
  streamError: [UvcError];
  /** The last handle let go: the device is being freed and must not be handed out again. */
  released: [];
  /**
   * A status packet, the VideoControl interface of the function whose status endpoint sent it, and for a control
   * change the control as it is now (null: an event about nothing known, or not a control's).
   */
  status: [StatusEvent, number, ControlEntry | null];
  warning: [UvcError];
}

export class CameraDevice extends EventEmitter<CameraDeviceEvents> {
  readonly descriptors: UvcDescriptors;
  readonly formats: CameraFormat[];
  readonly streams: StreamingInterface[];
  /** The quirks in force: table, caller, and what the camera showed (see src/uvc/quirks.ts). */
  readonly quirks: DeviceQuirks;
  /** Each video function's controls, by its VideoControl interface number (filled at open). */
  private readonly controlSets = new Map<number, UvcControls>();
  private readonly statusMonitors: StatusMonitor[] = [];
  private references = 0;
  private gone = false;
  private closing: Promise<void> | null = null;

  private constructor(
    readonly transport: UsbTransport,
    options: CameraDeviceOptions,
  ) {
    super();
    const descriptor = transport.deviceDescriptor();
    this.quirks = DeviceQuirks.forDevice(
      { vendorId: transport.info.vendorId, productId: transport.info.productId, deviceRelease: (descriptor[12] ?? 0) | ((descriptor[13] ?? 0) << 8) },
      options.quirks,
    );
    // force-y8, restrict-frame-rate: what the descriptors mean for this camera (src/uvc/descriptor-quirks.ts).
    this.descriptors = applyDescriptorQuirks(parseUvcDescriptors(transport.configDescriptor()), this.quirks);
    // Every video function of the device (a few cameras have two, each with its own VideoControl interface).
    this.formats = this.descriptors.functions.flatMap((fn) => describeFormats(fn));
    const warn = (error: UvcError): void => {
      this.emit('warning', error);
    };
    this.streams = this.descriptors.functions.flatMap((fn) =>
      fn.streamingInterfaces
        .filter((vs) => vs.direction === 'in')
        .map(
          (vs) =>
            new StreamingInterface(transport, fn, vs, {
            ...options,
            quirks: this.quirks,
            onWarning: warn,
            onStreamError: (error) => this.emit('streamError', error),
            onStreamStarted: () => this.afterStreamStart(fn.videoControl.interfaceNumber),
          }),
        ),
    );
    transport.once('disconnect', this.onDisconnect);
  }

  /**
   * Takes over an opened transport: claims the video interfaces (detaching a kernel driver), reads the controls,
   * probes each stream's default format, and listens on the status endpoint. Closes the transport on failure.
   */
  static async open(transport: UsbTransport, options: CameraDeviceOptions): Promise<CameraDevice> {
    let device: CameraDevice | undefined;
    try {
      device = new CameraDevice(transport, options);
      await device.initialise(options);
      // Unplugged while it was being set up, with no step failing loudly (a warning, a courtesy read): not a camera.
      if (device.gone) throw new UvcError('ENODEV', 'the camera was unplugged while it was being opened');
      return device;
    } catch (error) {
      if (device) {
        device.transport.off('disconnect', device.onDisconnect);
        await device.stopStatusMonitors();
      }
      await transport.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The controls of the video function `stream` belongs to (the first function's when there is no stream): what a
   * handle streaming it sees, as a V4L2 video node shows its own function's controls.
   */
  controlsOf(stream: StreamingInterface | undefined): UvcControls {
    const vcInterface = stream?.videoControlInterface ?? this.descriptors.videoControl.interfaceNumber;
    const controls = this.controlSets.get(vcInterface);
    if (!controls) throw new UvcError('ENODEV', 'the camera is gone');
    return controls;
  }

  get disconnected(): boolean {
    return this.gone;
  }

  get referenceCount(): number {
    return this.references;
  }

  /** Resolves once a released device has let go of everything (its interfaces, its handle). */
  async freed(): Promise<void> {
    await this.closing;
  }

  /** True once the last handle let go: the device is being freed. */
  get released(): boolean {
    return this.closing !== null;
  }

  retain(): void {
    if (this.closing) throw new UvcError('EBADF', 'the camera device was freed');
    this.references++;
  }

  /** Drops a reference; the last one frees the camera (status endpoint, interfaces, the handle itself). */
  async release(): Promise<void> {
    if (this.references === 0) return;
    if (--this.references > 0) return;
    // Marked freed before anyone hears of it: a listener (or an open) must see released and freed() that waits.
    this.closing ??= this.shutdown();
    this.emit('released');
    await this.closing;
  }

  private async initialise(options: CameraDeviceOptions): Promise<void> {
    const functions = this.descriptors.functions;
    for (const fn of functions) await this.transport.claimInterface(fn.videoControl.interfaceNumber);
    for (const stream of this.streams) {
      await this.transport.claimInterface(stream.interfaceNumber);
      // uvcvideo selects alt 0 before it probes: some cameras refuse to negotiate otherwise.
      if (stream.descriptor.transferType === 'isochronous') await this.transport.setAltSetting(stream.interfaceNumber, 0);
    }
    for (const fn of functions) {
      const controls = await UvcControls.create(this.transport, fn, { timeoutMs: options.controlTimeoutMs, quirks: this.quirks });
      this.controlSets.set(fn.videoControl.interfaceNumber, controls);
    }
    for (const stream of this.streams) {
      try {
        await stream.setFormat({});
      } catch (error) {
        if (isUvcError(error, 'ENODEV')) throw error;
        this.emit('warning', new UvcError(isUvcError(error) ? error.code : 'EIO', `interface ${stream.interfaceNumber}: the default format did not negotiate (${String(error)}); call setFormat()`, { cause: error }));
      }
    }
    for (const fn of functions) {
      const interrupt = fn.videoControl.interruptEndpoint;
      if (!interrupt) continue;
      const vcInterface = fn.videoControl.interfaceNumber;
      // The host controller polls the endpoint; a bInterval no high-speed endpoint may have is a quirk worth saying.
      statusIntervalUs(interrupt.interval, this.transport.info.speed, this.quirks);
      const monitor = new StatusMonitor(
        this.transport,
        interrupt,
        (event) => this.onStatus(event, vcInterface),
        (error) => this.emit('warning', error),
      );
      this.statusMonitors.push(monitor);
      monitor.start();
    }
  }

  private async stopStatusMonitors(): Promise<void> {
    await Promise.all(this.statusMonitors.map((monitor) => monitor.stop().catch(() => undefined)));
  }

  /**
   * Some cameras forget control values when they start streaming (uvcvideo's RESTORE_CTRLS_ON_INIT, the C920's
   * exposure). With the quirk the values the caller set are written back, as uvc_video_start_transfer does; without
   * it they are read back, and a camera that lost them earns the quirk (and gets them back). Never fatal to the
   * stream: a failure is a warning.
   */
  private async afterStreamStart(vcInterface: number): Promise<void> {
    const controls = this.controlSets.get(vcInterface);
    if (controls === undefined || controls.modified.length === 0) return;
    try {
      if (!this.quirks.has('restore-ctrls-on-init')) {
        const lost = await controls.forgotten();
        if (lost.length === 0) return;
        this.quirks.detect('restore-ctrls-on-init', `after streaming started the camera no longer held ${lost.join(', ')}`);
      }
      await controls.restore();
    } catch (error) {
      if (isUvcError(error, 'ENODEV')) return;
      this.emit('warning', new UvcError(isUvcError(error) ? error.code : 'EIO', `restoring control values after stream start failed: ${String(error)}`, { cause: error }));
    }
  }

  private onStatus(event: StatusEvent, vcInterface: number): void {
    const control = this.controlSets.get(vcInterface)?.applyStatusEvent(event) ?? null;
    this.emit('status', event, vcInterface, control);
  }

  private readonly onDisconnect = (): void => {
    if (this.gone) return;
    this.gone = true;
    // Each queue is cancelled in one synchronous step (buffers complete in error, waiters wake, QBUF fails from
    // then on): now, or, for a stream that is running, once the frames completed before the unplug are in.
    for (const stream of this.streams) stream.deviceGone();
    this.emit('disconnect');
  };

  private async shutdown(): Promise<void> {
    this.transport.off('disconnect', this.onDisconnect);
    await this.stopStatusMonitors();
    for (const stream of this.streams) {
      // Every handle has closed (and so released its queue); a stream still running is stopped before the close.
      if (stream.queue.streaming) await stream.queue.streamoff().catch(() => undefined);
    }
    await this.transport.close();
  }
}
