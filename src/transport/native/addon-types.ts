/**
 * The raw surface of the native addon (native/addon.cc), typed. Only this folder talks to it; everything else
 * uses `UsbTransport`. Native errors are plain Errors with a POSIX `code` (and `libusbError` when libusb said
 * something); native-errors.ts turns them into UvcErrors.
 */
import type { UsbSpeed } from '../../spec/usb.js';

export interface AddonDeviceInfo {
  busNumber: number;
  deviceAddress: number;
  portPath: string;
  vendorId: number;
  productId: number;
  speed: UsbSpeed;
  /** The 18-byte device descriptor as libusb read it at enumeration. */
  deviceDescriptor: Uint8Array;
  /** bConfigurationValue of the active configuration; 0 when unconfigured. */
  activeConfigValue: number;
  /** Index of the active configuration for GET_DESCRIPTOR(CONFIGURATION); -1 when unconfigured. */
  activeConfigIndex: number;
}

/** One slot's views, made once per stream on the transfer's own memory. */
export interface AddonStreamSlot {
  buffer: Uint8Array;
  /** iso: one entry per packet; empty for bulk/interrupt. */
  packetStatus: Int32Array;
  packetLength: Int32Array;
}

export interface AddonStreamOptions {
  endpoint: number;
  type: 'iso' | 'bulk' | 'interrupt';
  transfers: number;
  packetsPerTransfer?: number;
  packetSize?: number;
  transferSize?: number;
  timeoutMs?: number;
}

/** Called on the JavaScript thread, once per completion. */
export type AddonDispatch = (
  slot: number,
  status: number,
  actualLength: number,
  packetCount: number,
  lostIntervals: number,
  completedAtNs: number,
  sequence: number,
) => void;

export interface AddonStreamStats {
  completed: number;
  inFlight: number;
  held: number;
  lostIntervals: number;
}

export interface AddonStream {
  readonly slots: readonly AddonStreamSlot[];
  /** The endpoint's service interval in ns (bus interval × its bInterval rule): the unit of lostIntervals. */
  readonly intervalNs: number;
  release(slot: number): void;
  /** Cancels what is in flight; resolves once every transfer came back (then no dispatch happens any more). */
  stop(): Promise<void>;
  stats(): AddonStreamStats;
}

export interface AddonDevice {
  readonly info: AddonDeviceInfo;
  readonly state: 'open' | 'closing' | 'closed';
  readonly gone: boolean;
  /** Called (once) when the device goes away: a NO_DEVICE result, a failed call, or a hotplug event. */
  ondisconnect?: () => void;
  controlTransfer(
    bmRequestType: number,
    bRequest: number,
    wValue: number,
    wIndex: number,
    dataOrLength: Uint8Array | number,
    timeoutMs: number,
  ): Promise<Uint8Array | number>;
  claimInterface(interfaceNumber: number): Promise<void>;
  releaseInterface(interfaceNumber: number): Promise<void>;
  setAltSetting(interfaceNumber: number, altSetting: number): Promise<void>;
  clearHalt(endpoint: number): Promise<void>;
  startStream(options: AddonStreamOptions, dispatch: AddonDispatch): AddonStream;
  close(): Promise<void>;
}

export interface NativeAddon {
  openDevice(busNumber: number, deviceAddress: number): Promise<AddonDevice>;
  openDeviceByPort(busNumber: number, ports: number[]): Promise<AddonDevice>;
  libusbVersion(): string;
  /** Native objects alive in the process (devices, streams, transfer memory blocks): for leak tests. */
  liveObjects(): { devices: number; streams: number; blocks: number };
  /** Exposed for instanceof checks only: constructing them from JavaScript throws EINVAL. */
  Device: new () => AddonDevice;
  Stream: new () => AddonStream;
}
