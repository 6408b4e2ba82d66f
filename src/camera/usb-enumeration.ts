/**
 * Raw facts about the USB devices on this machine, gathered without claiming anything: the `usb` package
 * (libusb) for the device list and descriptors, Linux's sysfs for what it knows without opening a device
 * (names, speed, bound kernel drivers). Interpreting them is list-cameras.ts's job.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { createRequire } from 'node:module';
import type { UsbSpeed } from '../spec/usb.js';

export interface UsbInterfaceFacts {
  interfaceNumber: number;
  altSetting: number;
  interfaceClass: number;
  interfaceSubClass: number;
  /** Class-specific descriptors following the interface descriptor. */
  extra: Uint8Array;
  /** Kernel driver bound to this interface (Linux), if any. */
  kernelDriver?: string;
}

export interface UsbDeviceFacts {
  busNumber: number;
  deviceAddress: number;
  portPath: string;
  vendorId: number;
  productId: number;
  deviceClass: number;
  speed: UsbSpeed;
  manufacturer?: string;
  product?: string;
  serial?: string;
  interfaces: UsbInterfaceFacts[];
  /** What opening the device says: 'ok', or the reason it cannot be opened by this process. */
  access: 'ok' | 'denied' | 'busy' | 'unknown';
  accessError?: string;
}

type UsbModule = typeof import('usb');

let usbModule: UsbModule | null | undefined;
/** The `usb` package, loaded on first use; null where its binding cannot load (then no real devices are listed). */
export function loadUsbPackage(): UsbModule | null {
  if (usbModule === undefined) {
    try {
      usbModule = createRequire(import.meta.url)('usb') as UsbModule;
    } catch {
      usbModule = null;
    }
  }
  return usbModule;
}

const SYSFS_DEVICES = '/sys/bus/usb/devices';

function sysfsRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const SPEED_OF_MBPS: Record<string, UsbSpeed> = {
  '1.5': 'low',
  '12': 'full',
  '480': 'high',
  '5000': 'super',
  '10000': 'super-plus',
  '20000': 'super-plus',
};

export function portPathOf(busNumber: number, portNumbers: readonly number[] | undefined): string {
  return portNumbers && portNumbers.length > 0 ? `${busNumber}-${portNumbers.join('.')}` : `${busNumber}`;
}

/**
 * Every USB device with the facts a camera list needs. Devices for which `checkAccess` says so are opened
 * briefly to learn whether this process may use them. Never throws: a device that can't be read is skipped.
 */
export function enumerateUsbDevices(checkAccess: (facts: UsbDeviceFacts) => boolean = () => false): UsbDeviceFacts[] {
  const usb = loadUsbPackage();
  if (!usb) return [];
  let devices: ReturnType<UsbModule['getDeviceList']>;
  try {
    devices = usb.getDeviceList();
  } catch {
    return [];
  }
  const facts: UsbDeviceFacts[] = [];
  for (const device of devices) {
    try {
      const portPath = portPathOf(device.busNumber, device.portNumbers);
      const sysfs = `${SYSFS_DEVICES}/${portPath}`;
      const config = device.configDescriptor;
      const interfaces: UsbInterfaceFacts[] = [];
      for (const alternates of config?.interfaces ?? []) {
        for (const alt of alternates) {
          const driverLink = `${sysfs}:${config!.bConfigurationValue}.${alt.bInterfaceNumber}/driver`;
          let kernelDriver: string | undefined;
          try {
            kernelDriver = basename(readlinkSync(driverLink));
          } catch {
            kernelDriver = undefined;
          }
          interfaces.push({
            interfaceNumber: alt.bInterfaceNumber,
            altSetting: alt.bAlternateSetting,
            interfaceClass: alt.bInterfaceClass,
            interfaceSubClass: alt.bInterfaceSubClass,
            extra: new Uint8Array(alt.extra),
            ...(kernelDriver ? { kernelDriver } : {}),
          });
        }
      }
      const record: UsbDeviceFacts = {
        busNumber: device.busNumber,
        deviceAddress: device.deviceAddress,
        portPath,
        vendorId: device.deviceDescriptor.idVendor,
        productId: device.deviceDescriptor.idProduct,
        deviceClass: device.deviceDescriptor.bDeviceClass,
        speed: SPEED_OF_MBPS[sysfsRead(`${sysfs}/speed`) ?? ''] ?? 'unknown',
        interfaces,
        access: 'unknown',
      };
      const manufacturer = sysfsRead(`${sysfs}/manufacturer`);
      const product = sysfsRead(`${sysfs}/product`);
      const serial = sysfsRead(`${sysfs}/serial`);
      if (manufacturer) record.manufacturer = manufacturer;
      if (product) record.product = product;
      if (serial) record.serial = serial;
      if (checkAccess(record)) probeAccess(record, device);
      facts.push(record);
    } catch {
      // A device that vanished or cannot be described is simply not listed.
    }
  }
  return facts;
}

/** Opens and closes the device to learn whether this process may use it. */
function probeAccess(record: UsbDeviceFacts, device: { open(): void; close(): void }): void {
  try {
    device.open();
    device.close();
    record.access = 'ok';
  } catch (error) {
    const errno = (error as { errno?: number }).errno;
    // libusb: LIBUSB_ERROR_ACCESS = -3, LIBUSB_ERROR_BUSY = -6
    record.access = errno === -3 ? 'denied' : errno === -6 ? 'busy' : 'unknown';
    record.accessError = error instanceof Error ? error.message : String(error);
  }
}
