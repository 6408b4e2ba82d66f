/**
 * Which of the USB devices are UVC cameras, and what a user needs to know to open one: ids, names, speed,
 * UVC version, and why it cannot be opened when it cannot (permissions, a kernel driver bound to it).
 */
import { CC_VIDEO, CS_INTERFACE, VcSubtype, VideoSubclass, bcdToVersion } from '../spec/uvc.js';
import type { UsbSpeed } from '../spec/usb.js';
import { enumerateUsbDevices, type UsbDeviceFacts } from './usb-enumeration.js';

export interface CameraInfo {
  /** Stable while the camera stays on its port: the port path, e.g. '1-2.3'. */
  id: string;
  busNumber: number;
  deviceAddress: number;
  portPath: string;
  vendorId: number;
  productId: number;
  manufacturer?: string;
  product?: string;
  serial?: string;
  speed: UsbSpeed;
  /** From the VideoControl header, e.g. '1.10'; undefined when it could not be read. */
  uvcVersion?: string;
  /** The VideoControl interface and the VideoStreaming interfaces. */
  controlInterface: number;
  streamingInterfaces: number[];
  /** Kernel drivers bound to the camera's video interfaces (Linux); opening detaches them and re-attaches on close. */
  kernelDrivers: string[];
  /** Whether this process may open it: 'ok', 'denied' (permissions), 'busy' (another program), 'unknown'. */
  access: 'ok' | 'denied' | 'busy' | 'unknown';
  /** What stands in the way, and how to fix it, when something does. */
  problem?: string;
}

export function isUvcDevice(facts: UsbDeviceFacts): boolean {
  return facts.interfaces.some((i) => i.interfaceClass === CC_VIDEO && i.interfaceSubClass === VideoSubclass.VIDEOCONTROL);
}

/** bcdUVC from the class-specific VC header that follows the VideoControl interface descriptor. */
function uvcVersionOf(extra: Uint8Array): string | undefined {
  for (let offset = 0; offset + 5 <= extra.length; ) {
    const length = extra[offset]!;
    if (length < 2) return undefined;
    if (extra[offset + 1] === CS_INTERFACE && extra[offset + 2] === VcSubtype.HEADER && length >= 5) {
      return bcdToVersion(extra[offset + 3]! | (extra[offset + 4]! << 8));
    }
    offset += length;
  }
  return undefined;
}

const hex4 = (value: number): string => value.toString(16).padStart(4, '0');

export function udevRuleFor(vendorId: number, productId: number): string {
  return `SUBSYSTEM=="usb", ATTR{idVendor}=="${hex4(vendorId)}", ATTR{idProduct}=="${hex4(productId)}", MODE="0660", TAG+="uaccess"`;
}

/** Turns raw USB facts into camera entries (exported for tests; listCameras() is the public way in). */
export function describeCameras(devices: UsbDeviceFacts[]): CameraInfo[] {
  const cameras: CameraInfo[] = [];
  for (const facts of devices) {
    if (!isUvcDevice(facts)) continue;
    const control = facts.interfaces.find((i) => i.interfaceClass === CC_VIDEO && i.interfaceSubClass === VideoSubclass.VIDEOCONTROL)!;
    const streaming = [
      ...new Set(
        facts.interfaces
          .filter((i) => i.interfaceClass === CC_VIDEO && i.interfaceSubClass === VideoSubclass.VIDEOSTREAMING)
          .map((i) => i.interfaceNumber),
      ),
    ];
    const kernelDrivers = [
      ...new Set(
        facts.interfaces
          .filter((i) => i.interfaceClass === CC_VIDEO && i.kernelDriver !== undefined)
          .map((i) => i.kernelDriver!),
      ),
    ];
    const camera: CameraInfo = {
      id: facts.portPath,
      busNumber: facts.busNumber,
      deviceAddress: facts.deviceAddress,
      portPath: facts.portPath,
      vendorId: facts.vendorId,
      productId: facts.productId,
      speed: facts.speed,
      controlInterface: control.interfaceNumber,
      streamingInterfaces: streaming,
      kernelDrivers,
      access: facts.access,
    };
    const version = uvcVersionOf(control.extra);
    if (version) camera.uvcVersion = version;
    if (facts.manufacturer) camera.manufacturer = facts.manufacturer;
    if (facts.product) camera.product = facts.product;
    if (facts.serial) camera.serial = facts.serial;
    if (facts.access === 'denied') {
      camera.problem =
        `permission denied opening /dev/bus/usb/${String(facts.busNumber).padStart(3, '0')}/${String(facts.deviceAddress).padStart(3, '0')}. ` +
        `Add a udev rule, e.g. in /etc/udev/rules.d/70-uvc-capture.rules:\n  ${udevRuleFor(facts.vendorId, facts.productId)}\n` +
        'then run: sudo udevadm control --reload && sudo udevadm trigger (or replug the camera)';
    } else if (facts.access === 'busy') {
      camera.problem = `the camera is in use by another program${facts.accessError ? ` (${facts.accessError})` : ''}`;
    } else if (facts.access === 'unknown' && facts.accessError) {
      camera.problem = `cannot be opened: ${facts.accessError}`;
    } else if (kernelDrivers.length > 0) {
      camera.problem =
        `kernel driver ${kernelDrivers.join(', ')} is bound to it: opening the camera detaches it for as long as ` +
        'uvc-capture uses the camera and re-attaches it on close (programs using /dev/video* lose the camera meanwhile)';
    }
    cameras.push(camera);
  }
  return cameras.sort((a, b) => a.busNumber - b.busNumber || a.portPath.localeCompare(b.portPath));
}

/** UVC cameras attached to this machine (real ones; a VirtualCamera is opened directly). */
export async function listCameras(): Promise<CameraInfo[]> {
  return describeCameras(enumerateUsbDevices(isUvcDevice));
}
