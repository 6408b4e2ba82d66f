/**
 * The state of one physical camera, shared by every Camera handle opened on it and reference-counted (the Linux
 * media device allocator's idea): the transport, the parsed descriptors, the controls, the status endpoint and
 * one StreamingInterface per VideoStreaming interface. It is freed when the last handle closes.
 *
 * On disconnect, every queue is cancelled in one synchronous step (BufferQueue.disconnect) and every handle is
 * told; handles stay usable far enough to return errors and be closed.
 */
import { EventEmitter } from 'node:events';
import { UvcError, isUvcError } from '../errors.js';
import type { UsbTransport } from '../transport/usb-transport.js';
import { DeviceQuirks, parseUvcDescriptors, UvcControls, type QuirkName, type StatusEvent, type UvcDescriptors } from '../uvc/index.js';
import { describeFormats, type CameraFormat } from './camera-formats.js';
import { StatusMonitor } from './status-monitor.js';
import { StreamingInterface, type StreamingOptions } from './streaming-interface.js';

export interface CameraDeviceOptions extends Omit<StreamingOptions, 'onWarning' | 'quirks'> {
  /** Quirks the caller forces on (validated names). */
  quirks: readonly QuirkName[];
}

export interface CameraDeviceEvents {
  disconnect: [];
  /** The last handle let go: the device is being freed and must not be handed out again. */
  released: [];
  status: [StatusEvent];
  warning: [UvcError];
}

export class CameraDevice extends EventEmitter<CameraDeviceEvents> {
  readonly descriptors: UvcDescriptors;
  readonly formats: CameraFormat[];
  readonly streams: StreamingInterface[];
  /** The quirks in force: table, caller, and what the camera showed (see src/uvc/quirks.ts). */
  readonly quirks: DeviceQuirks;
  private controlSet: UvcControls | null = null;
  private statusMonitor: StatusMonitor | null = null;
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
    this.descriptors = parseUvcDescriptors(transport.configDescriptor());
    this.formats = describeFormats(this.descriptors);
    const warn = (error: UvcError): void => {
      this.emit('warning', error);
    };
    this.streams = this.descriptors.streamingInterfaces
      .filter((vs) => vs.direction === 'in')
      .map((vs) => new StreamingInterface(transport, this.descriptors, vs, { ...options, quirks: this.quirks, onWarning: warn }));
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
      return device;
    } catch (error) {
      device?.transport.off('disconnect', device.onDisconnect);
      await transport.close().catch(() => undefined);
      throw error;
    }
  }

  get controls(): UvcControls {
    if (!this.controlSet) throw new UvcError('ENODEV', 'the camera is gone');
    return this.controlSet;
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
    this.emit('released');
    this.closing ??= this.shutdown();
    await this.closing;
  }

  private async initialise(options: CameraDeviceOptions): Promise<void> {
    const fn = this.descriptors;
    await this.transport.claimInterface(fn.videoControl.interfaceNumber);
    for (const stream of this.streams) {
      await this.transport.claimInterface(stream.interfaceNumber);
      // uvcvideo selects alt 0 before it probes: some cameras refuse to negotiate otherwise.
      if (stream.descriptor.transferType === 'isochronous') await this.transport.setAltSetting(stream.interfaceNumber, 0);
    }
    this.controlSet = await UvcControls.create(this.transport, fn, { timeoutMs: options.controlTimeoutMs });
    for (const stream of this.streams) {
      try {
        await stream.setFormat({});
      } catch (error) {
        if (isUvcError(error, 'ENODEV')) throw error;
        this.emit('warning', new UvcError(isUvcError(error) ? error.code : 'EIO', `interface ${stream.interfaceNumber}: the default format did not negotiate (${String(error)}); call setFormat()`, { cause: error }));
      }
    }
    const interrupt = fn.videoControl.interruptEndpoint;
    if (interrupt) {
      this.statusMonitor = new StatusMonitor(
        this.transport,
        interrupt,
        (event) => this.onStatus(event),
        (error) => this.emit('warning', error),
      );
      this.statusMonitor.start();
    }
  }

  private onStatus(event: StatusEvent): void {
    this.controlSet?.applyStatusEvent(event);
    this.emit('status', event);
  }

  private readonly onDisconnect = (): void => {
    if (this.gone) return;
    this.gone = true;
    // One synchronous step per queue: buffers complete in error, waiters wake, QBUF fails from now on.
    for (const stream of this.streams) stream.queue.disconnect();
    this.emit('disconnect');
  };

  private async shutdown(): Promise<void> {
    this.transport.off('disconnect', this.onDisconnect);
    await this.statusMonitor?.stop().catch(() => undefined);
    for (const stream of this.streams) {
      // Every handle has closed (and so released its queue); a stream still running is stopped before the close.
      if (stream.queue.streaming) await stream.queue.streamoff().catch(() => undefined);
    }
    await this.transport.close();
  }
}
