/**
 * A handle on a camera: what openCamera() returns. Several handles may share one camera (one streams while
 * another adjusts controls); the format and the controls are the camera's, shared by all, and the buffer queue
 * of a stream belongs to whichever handle allocates buffers first (the others get EBUSY).
 */
import { EventEmitter } from 'node:events';
import { UvcError } from '../errors.js';
import { QueueHandle } from '../queue/index.js';
import type { AssemblerStats, BusKind, TimestampStats } from '../stream/index.js';
import type { StreamStats, UsbDeviceInfo } from '../transport/usb-transport.js';
import type { AppliedQuirk, ControlEntry, ControlValue, FormatRequest, GetRequestName, StatusEvent, UvcControls, UvcDescriptors } from '../uvc/index.js';
import type { CameraFormat, NegotiatedFormat } from './camera-formats.js';
import type { CameraDevice } from './camera-device.js';
import type { StreamingInterface } from './streaming-interface.js';

export interface CameraDescription extends UsbDeviceInfo {
  /** 'virtual' for a VirtualCamera, 'native' for a real device through libusb. */
  transport: 'native' | 'virtual';
  uvcVersion: string;
  /** The quirks applied when the camera was opened, each with its source and reason (stats.quirks has later ones). */
  quirks: AppliedQuirk[];
  /**
   * Where the camera is: 'local' (a USB bus of this machine), 'usbip' (behind USB/IP's vhci_hcd: completions reach
   * this host out of step with its clock), 'virtual' (the in-process host, or a software host controller) or
   * 'unknown'. Also in stats.assembly.bus and the NODE_DEBUG=uvc trace.
   */
  bus: BusKind;
  /** The host controller's driver (Linux sysfs), e.g. 'xhci_hcd' or 'vhci_hcd', when known. */
  hostController?: string;
  manufacturer?: string;
  product?: string;
  serial?: string;
}

export interface ControlEvent {
  name: string;
  /** What changed: the value, the capability flags, a failure, or the range. */
  attribute: 'value' | 'info' | 'failure' | 'min' | 'max';
  /** The control after the change (its `value` is the new value for 'value'). */
  control: ControlEntry;
}

export interface ButtonEvent {
  pressed: boolean;
  interfaceNumber: number;
}

export interface CameraEvents {
  /** The camera went away. Queues have been cancelled; close the handle when done. */
  disconnect: [];
  /** A control changed by itself (auto modes, asynchronous controls), as the status endpoint reported it. */
  control: [ControlEvent];
  /** The camera's still-image button. */
  button: [ButtonEvent];
  /** Trouble nobody asked about: a failing status endpoint, an error while stopping a stream. */
  warning: [UvcError];
  /**
   * The stream failed and stopped (EIO: the video endpoint keeps failing); dqbuf and qbuf answer the same error
   * until streamoff(). Emitted only while someone listens for 'error' (else it comes as 'warning'): an unheard
   * 'error' would end the process, and the queue reports it anyway.
   */
  error: [UvcError];
}

export interface CameraStats {
  format: NegotiatedFormat | null;
  /** Frame assembly of the current (or last) stream. */
  assembly: Readonly<AssemblerStats> | null;
  /** Transfers of the current stream. */
  transfers: Readonly<StreamStats> | null;
  /**
   * Timestamps of the current (or last) stream: whether the device clock is locked (`device.locked`), samples
   * taken and rejected, the SOF judgement, frames clamped or held to keep time monotonic.
   */
  clock: Readonly<TimestampStats> | null;
  /** Every quirk applied to the camera so far: from the quirk table, the caller, or detected from its behaviour. */
  quirks: AppliedQuirk[];
}

export class Camera extends EventEmitter<CameraEvents> {
  readonly info: Readonly<CameraDescription>;
  private readonly queues = new Map<number, QueueHandle>();
  private current: StreamingInterface | undefined;
  private isClosed = false;
  private closing: Promise<void> | null = null;

  /** @internal openCamera() makes handles, each holding one reference on the device it took for it. */
  constructor(
    private readonly device: CameraDevice,
    info: CameraDescription,
  ) {
    super();
    this.info = Object.freeze({ ...info });
    this.current = device.streams[0];
    device.on('disconnect', this.onDisconnect);
    device.on('status', this.onStatus);
    device.on('warning', this.onWarning);
    device.on('streamError', this.onStreamError);
  }

  /** Every format the camera offers, with its frame sizes and rates. */
  get formats(): CameraFormat[] {
    return this.device.formats;
  }

  /** The format the current stream negotiated (null until one did). */
  get format(): NegotiatedFormat | null {
    return this.current?.format ?? null;
  }

  /**
   * Every control the camera declares, with ranges, defaults, last known values and capability flags. On a device
   * with several video functions, those of the current stream's function (setFormat({ interfaceNumber }) picks it).
   */
  get controls(): ControlEntry[] {
    return this.device.disconnected ? [] : this.device.controlsOf(this.current).list();
  }

  /** The parsed descriptors, for tools that want everything. */
  get descriptors(): UvcDescriptors {
    return this.device.descriptors;
  }

  get disconnected(): boolean {
    return this.device.disconnected;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * The buffer queue of the current stream (videobuf2's contract: reqbufs, querybuf, qbuf, dqbuf, streamon,
   * streamoff, and `for await`). Its buffers are sized for the current format.
   */
  get queue(): QueueHandle {
    this.checkOpen();
    const stream = this.stream();
    let handle = this.queues.get(stream.interfaceNumber);
    if (!handle) {
      handle = new QueueHandle(stream.queue);
      this.queues.set(stream.interfaceNumber, handle);
    }
    return handle;
  }

  get stats(): CameraStats {
    const video = this.current?.stream ?? null;
    return {
      format: this.format,
      assembly: video?.stats ?? null,
      transfers: video?.transferStats ?? null,
      clock: video?.timestampStats ?? null,
      quirks: this.device.quirks.list(),
    };
  }

  /**
   * Negotiates the format nearest to the request with the camera (probe; the commit happens at streamon) and
   * returns what was agreed. A FourCC may name either form (YUYV or YUY2, MJPEG or MJPG). EBUSY while buffers are
   * allocated; ENOENT when the camera has no such format; ENOSPC when the bus cannot carry it.
   */
  async setFormat(request: FormatRequest = {}): Promise<NegotiatedFormat> {
    this.checkUsable();
    const streams = this.device.streams;
    if (streams.length === 0) throw new UvcError('ENOENT', 'the camera has no video capture interface');
    const target =
      request.interfaceNumber !== undefined
        ? streams.find((s) => s.interfaceNumber === request.interfaceNumber)
        : (streams.find((s) => s === this.current && s.offers(request)) ?? streams.find((s) => s.offers(request)) ?? this.current);
    if (!target) throw new UvcError('ENOENT', `the camera has no video interface ${request.interfaceNumber}`);
    const owner = target.queue.owner;
    if (owner && !this.ownsQueueOf(target)) throw new UvcError('EBUSY', 'another handle owns the stream');
    const negotiated = await target.setFormat(request);
    this.current = target;
    return negotiated;
  }

  async getControl(name: string): Promise<ControlValue> {
    this.checkUsable();
    return this.controlSet().get(name);
  }

  /**
   * A menu control's current value as its label ('50hz', 'aperture_priority'), read from the camera like
   * getControl(); null when the camera reports a value its menu does not list. EINVAL for a control that is not a
   * menu.
   */
  async getControlLabel(name: string): Promise<string | null> {
    this.checkUsable();
    const control = this.controlSet().info(name);
    if (control.type !== 'menu') throw new UvcError('EINVAL', `${name} is not a menu control (it is ${control.type === 'integer' ? 'an' : 'a'} ${control.type})`, { details: { control: name } });
    const value = await this.controlSet().get(name);
    return control.menu.find((m) => m.value === value)?.name ?? null;
  }

  /** Sets a control; menus take their labels too, matched case-insensitively ('50Hz' = '50hz'). */
  async setControl(name: string, value: ControlValue | string): Promise<void> {
    this.checkUsable();
    await this.controlSet().set(name, value);
  }

  /** Raw access to a control by unit ID and selector (extension units): GET_CUR unless told otherwise. */
  async getControlRaw(unitId: number, selector: number, request: GetRequestName | number = 'GET_CUR', length?: number): Promise<Uint8Array> {
    this.checkUsable();
    return this.controlSet().getRaw(unitId, selector, request, length);
  }

  async setControlRaw(unitId: number, selector: number, data: Uint8Array): Promise<void> {
    this.checkUsable();
    await this.controlSet().setRaw(unitId, selector, data);
  }

  /**
   * Streams off and frees this handle's buffers, and lets go of the camera; the last handle closes the device.
   * Works after a disconnect. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.isClosed = true;
    for (const handle of this.queues.values()) await handle.close().catch(() => undefined);
    this.queues.clear();
    this.device.off('disconnect', this.onDisconnect);
    this.device.off('status', this.onStatus);
    this.device.off('warning', this.onWarning);
    this.device.off('streamError', this.onStreamError);
    await this.device.release();
  }

  /** The controls of the current stream's video function. */
  private controlSet(): UvcControls {
    return this.device.controlsOf(this.current);
  }

  private stream(): StreamingInterface {
    if (!this.current) throw new UvcError('ENOENT', 'the camera has no video capture interface');
    return this.current;
  }

  private ownsQueueOf(stream: StreamingInterface): boolean {
    const handle = this.queues.get(stream.interfaceNumber);
    return handle !== undefined && stream.queue.owner === handle;
  }

  private checkOpen(): void {
    if (this.isClosed) throw new UvcError('EBADF', 'the camera handle is closed');
  }

  private checkUsable(): void {
    this.checkOpen();
    if (this.device.disconnected) throw new UvcError('ENODEV', 'the camera is gone');
  }

  private readonly onDisconnect = (): void => {
    this.emit('disconnect');
  };

  private readonly onStatus = (event: StatusEvent, vcInterface: number, control: ControlEntry | null): void => {
    if (event.type === 'button') {
      this.emit('button', { pressed: event.pressed, interfaceNumber: event.interfaceNumber });
    } else if (event.type === 'control') {
      // Unit IDs are the function's own: a change in another function's unit is not one of this handle's controls.
      if (vcInterface !== (this.current?.videoControlInterface ?? this.device.descriptors.videoControl.interfaceNumber)) return;
      // The entry the device applied the event to; list() copies every control (cameras with auto controls send
      // such events every few frames), so it is searched only for an event whose value could not be applied.
      const entry = control ?? this.controlSet().list().find((c) => c.unit === event.originator && c.selector === event.selector);
      if (entry) this.emit('control', { name: entry.name, attribute: event.attribute, control: entry });
    }
  };

  private readonly onWarning = (error: UvcError): void => {
    this.emit('warning', error);
  };

  private readonly onStreamError = (error: UvcError): void => {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.emit('warning', error);
  };
}
