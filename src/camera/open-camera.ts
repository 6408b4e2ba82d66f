/**
 * openCamera(): find the camera the caller means, open it (or join the instance already open on it), and hand
 * out a Camera handle. One CameraDevice exists per physical camera, shared and reference-counted.
 */
import { UvcError } from '../errors.js';
import { isUsbDeviceModel, type UsbDeviceModel } from '../transport/device-model.js';
import type { UsbTransport } from '../transport/usb-transport.js';
import { openVirtualDevice } from '../transport/virtual/virtual-transport.js';
import { validateQuirkNames, type QuirkName } from '../uvc/quirks.js';
import { describeBus } from './bus-kind.js';
import { Camera, type CameraDescription } from './camera.js';
import { CameraDevice } from './camera-device.js';
import { listCameras, type CameraInfo } from './list-cameras.js';

/** Which camera: a VirtualCamera (any device model), one from listCameras(), ids to match, or a string. */
export type CameraTarget =
  | UsbDeviceModel
  | CameraInfo
  | { vendorId?: number; productId?: number; serial?: string; portPath?: string }
  /** A port path ('1-2.3'), 'vid:pid' in hex ('046d:0825'), or 'bus:address' with a slash ('001/004'). */
  | string;

export interface OpenCameraOptions {
  /** Drop frames that complete in error instead of returning them flagged. Default false. */
  dropErroredFrames?: boolean;
  /** Translate the camera's PTS/SCR to host time when it sends them. Default true. */
  hardwareTimestamps?: boolean;
  /** Per control request, ms. Default 5000 (uvcvideo's). */
  controlTimeoutMs?: number;
  /**
   * Bus time kept in flight, ms. Default 100: uvcvideo keeps 20 ms, but its completions run in interrupt context;
   * ours wait for the JavaScript event loop, whose pauses (GC, other work) must not starve the device. More
   * time in flight costs memory (2.4 MB at high speed), not latency: it is kept with more transfers (up to 32),
   * each covering about 4 ms of bus time, and a frame is delivered when the transfer holding its last packet
   * completes, however many are queued behind it.
   */
  inFlightMs?: number;
  /**
   * How long the JavaScript thread may stall (GC, a file write, a busy handler) with no bus time lost, ms.
   * Default 250. The driver keeps spare transfer buffers for that much bus time beyond those in flight: the
   * addon submits one the moment a transfer completes, whatever JavaScript holds (6 MB at high speed, at most
   * 64 MiB). When JavaScript falls further behind, the camera emits a 'warning' (ENOBUFS) with the bus time
   * lost, and the frames it cut are flagged.
   */
  stallToleranceMs?: number;
  /** Overrides of the sizing: transfers kept in flight, iso packets per transfer. */
  transfers?: number;
  packetsPerTransfer?: number;
  /**
   * Quirks to apply to this camera on top of those its vid:pid has in the quirk table (QUIRK_TABLE, uvcvideo's
   * uvc_ids[]) and those the driver detects, by name: e.g. ['probe-minmax']. What is applied, and why, is in
   * camera.info.quirks and camera.stats.quirks. Unknown names are EINVAL.
   */
  quirks?: readonly QuirkName[];
}

/**
 * Open devices, by physical identity; the promise lets concurrent opens of one camera share the work. A device
 * stays here until it is gone or has let go of everything after its last handle closed: an open meanwhile waits
 * for that and then opens afresh, so it never meets the old handle's claims on the interfaces.
 */
const devices = new Map<unknown, Promise<CameraDevice>>();

export async function openCamera(target?: CameraTarget, options: OpenCameraOptions = {}): Promise<Camera> {
  validateQuirkNames(options.quirks, 'openCamera: quirks');
  if (isUsbDeviceModel(target)) return openShared(target, () => openVirtualDevice(target), options);
  const info = await findCamera(target);
  const key = `${info.busNumber}/${info.deviceAddress}`;
  return openShared(key, () => openNative(info), options);
}

async function openShared(key: unknown, openTransport: () => Promise<UsbTransport>, options: OpenCameraOptions): Promise<Camera> {
  for (;;) {
    const pending = devices.get(key) ?? openDevice(key, openTransport, options);
    const device = await pending;
    if (device.disconnected) throw unpluggedWhileOpening();
    if (device.released) {
      // Its last handle is closing it: once it has let go of the camera, open it afresh.
      await device.freed().catch(() => undefined);
      if (devices.get(key) === pending) devices.delete(key);
      continue;
    }
    // Take the reference in the same turn as the checks, so a closing handle cannot free it under us.
    device.retain();
    let info: CameraDescription;
    try {
      info = await describe(device);
    } catch (error) {
      await device.release();
      throw error;
    }
    // Like v4l2_open, check again once the reference is held: a camera that left while we read its names (the
    // 'disconnect' event went by before this handle existed) is not handed out.
    if (device.disconnected) {
      await device.release();
      throw unpluggedWhileOpening();
    }
    return new Camera(device, info);
  }
}

function openDevice(key: unknown, openTransport: () => Promise<UsbTransport>, options: OpenCameraOptions): Promise<CameraDevice> {
  const pending = openTransport().then((transport) =>
    CameraDevice.open(transport, {
      controlTimeoutMs: options.controlTimeoutMs ?? 5000,
      dropErroredFrames: options.dropErroredFrames ?? false,
      hardwareTimestamps: options.hardwareTimestamps ?? true,
      inFlightMs: options.inFlightMs ?? 100,
      stallToleranceMs: options.stallToleranceMs ?? 250,
      quirks: validateQuirkNames(options.quirks, 'openCamera: quirks'),
      ...(options.transfers !== undefined ? { transfers: options.transfers } : {}),
      ...(options.packetsPerTransfer !== undefined ? { packetsPerTransfer: options.packetsPerTransfer } : {}),
    }),
  );
  const forget = (): void => {
    if (devices.get(key) === pending) devices.delete(key);
  };
  devices.set(key, pending);
  pending.then(
    (device) => {
      if (device.disconnected) forget();
      device.once('disconnect', forget);
      device.once('released', () => {
        device.freed().then(forget, forget);
      });
    },
    forget,
  );
  return pending;
}

function unpluggedWhileOpening(): UvcError {
  return new UvcError('ENODEV', 'the camera was unplugged while it was being opened');
}

async function describe(device: CameraDevice): Promise<CameraDescription> {
  const transport = device.transport;
  const descriptor = transport.deviceDescriptor();
  const description: CameraDescription = {
    ...transport.info,
    transport: transport.kind,
    ...describeBus(transport.kind, transport.info.busNumber),
    uvcVersion: device.descriptors.uvcVersion,
    quirks: device.quirks.list(),
  };
  const strings: Array<[keyof CameraDescription, number]> = [
    ['manufacturer', descriptor[14] ?? 0],
    ['product', descriptor[15] ?? 0],
    ['serial', descriptor[16] ?? 0],
  ];
  for (const [field, index] of strings) {
    if (index === 0) continue;
    try {
      (description as unknown as Record<string, string>)[field] = await transport.getStringDescriptor(index);
    } catch {
      // Names are a courtesy; a camera that cannot say its name is still a camera.
    }
  }
  return description;
}

function matches(info: CameraInfo, target: Exclude<CameraTarget, UsbDeviceModel | string>): boolean {
  if ('busNumber' in target && 'deviceAddress' in target) {
    return info.busNumber === target.busNumber && info.deviceAddress === target.deviceAddress;
  }
  const wanted = target as { vendorId?: number; productId?: number; serial?: string; portPath?: string };
  return (
    (wanted.vendorId === undefined || info.vendorId === wanted.vendorId) &&
    (wanted.productId === undefined || info.productId === wanted.productId) &&
    (wanted.serial === undefined || info.serial === wanted.serial) &&
    (wanted.portPath === undefined || info.portPath === wanted.portPath)
  );
}

function parseTarget(text: string): { vendorId?: number; productId?: number; portPath?: string; busNumber?: number; deviceAddress?: number } {
  const ids = /^([0-9a-f]{4}):([0-9a-f]{4})$/i.exec(text);
  if (ids) return { vendorId: parseInt(ids[1]!, 16), productId: parseInt(ids[2]!, 16) };
  const busAddress = /^(\d{1,3})\/(\d{1,3})$/.exec(text);
  if (busAddress) return { busNumber: Number(busAddress[1]), deviceAddress: Number(busAddress[2]) };
  if (/^\d+(-\d+(\.\d+)*)?$/.test(text)) return { portPath: text };
  throw new UvcError('EINVAL', `cannot read camera '${text}': give a port path (1-2.3), vid:pid (046d:0825) or bus/address (001/004)`);
}

/** The camera the target names, among those attached. ENOENT, saying what there is, when none matches. */
export async function findCamera(target?: Exclude<CameraTarget, UsbDeviceModel>): Promise<CameraInfo> {
  const cameras = await listCameras();
  const wanted = typeof target === 'string' ? parseTarget(target) : target;
  const candidates = wanted === undefined ? cameras : cameras.filter((camera) => matches(camera, wanted as Exclude<CameraTarget, UsbDeviceModel | string>));
  if (candidates.length === 0) {
    const seen = cameras.length === 0 ? 'no UVC camera is attached' : `attached: ${cameras.map((c) => `${c.portPath} (${hex(c.vendorId)}:${hex(c.productId)})`).join(', ')}`;
    throw new UvcError('ENOENT', `${wanted === undefined ? 'no camera found' : `no camera matches ${JSON.stringify(target)}`}: ${seen}`, {
      details: { cameras },
    });
  }
  // Prefer a camera this process may open.
  return candidates.find((c) => c.access === 'ok') ?? candidates[0]!;
}

async function openNative(info: CameraInfo): Promise<UsbTransport> {
  if (info.access === 'denied') throw new UvcError('EACCES', info.problem ?? 'permission denied', { details: { camera: info } });
  const native = await import('../transport/native/index.js');
  return native.openNativeDevice({ busNumber: info.busNumber, deviceAddress: info.deviceAddress });
}

function hex(value: number): string {
  return value.toString(16).padStart(4, '0');
}
