/**
 * Raw facts about the USB devices on this machine, gathered without claiming anything, from what Linux publishes
 * in sysfs (/sys/bus/usb/devices: the same files libusb's Linux backend and udev read): bus number and address,
 * port path, the device descriptor and the raw configuration descriptors, speed, names, the kernel driver bound to
 * each interface. Whether this process may open a device is learned by opening its usbfs node
 * (/dev/bus/usb/BBB/DDD) and closing it again, as libusb_open does. No addon and no libusb are needed to list
 * cameras; the native addon opens them. Interpreting the facts is list-cameras.ts's job.
 */
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { UsbSpeed } from '../spec/usb.js';

export interface UsbInterfaceFacts {
  interfaceNumber: number;
  altSetting: number;
  interfaceClass: number;
  interfaceSubClass: number;
  /** Class-specific descriptors following the interface descriptor (up to its first endpoint descriptor). */
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

/** Where the facts are read; tests point these at a tree of their own. */
export interface UsbRoots {
  /** Default /sys/bus/usb/devices. */
  sysfs: string;
  /** Default /dev/bus/usb. */
  devfs: string;
}

export const USB_ROOTS: UsbRoots = { sysfs: '/sys/bus/usb/devices', devfs: '/dev/bus/usb' };

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

const DESCRIPTOR_DEVICE = 1;
const DESCRIPTOR_CONFIGURATION = 2;
const DESCRIPTOR_INTERFACE = 4;
const DESCRIPTOR_ENDPOINT = 5;

/**
 * The interfaces of one configuration descriptor set (wTotalLength bytes from the configuration descriptor on),
 * each with the class-specific descriptors that follow it: what libusb calls an interface's `extra`. A truncated
 * or malformed descriptor ends the walk: what came before is kept.
 */
export function interfacesOf(config: Uint8Array): Omit<UsbInterfaceFacts, 'kernelDriver'>[] {
  const interfaces: Omit<UsbInterfaceFacts, 'kernelDriver'>[] = [];
  let current: { facts: Omit<UsbInterfaceFacts, 'kernelDriver'>; extra: Uint8Array[]; open: boolean } | null = null;
  const close = (): void => {
    if (current === null) return;
    current.facts.extra = Uint8Array.from(current.extra.flatMap((d) => Array.from(d)));
    interfaces.push(current.facts);
    current = null;
  };
  for (let offset = config[0] ?? 0; offset + 2 <= config.length; ) {
    const length = config[offset]!;
    const type = config[offset + 1]!;
    if (length < 2 || offset + length > config.length) break;
    const descriptor = config.subarray(offset, offset + length);
    if (type === DESCRIPTOR_INTERFACE && length >= 9) {
      close();
      current = {
        facts: { interfaceNumber: descriptor[2]!, altSetting: descriptor[3]!, interfaceClass: descriptor[5]!, interfaceSubClass: descriptor[6]!, extra: new Uint8Array(0) },
        extra: [],
        open: true,
      };
    } else if (type === DESCRIPTOR_ENDPOINT) {
      if (current !== null) current.open = false;
    } else if (current !== null && current.open) {
      current.extra.push(descriptor);
    }
    offset += length;
  }
  close();
  return interfaces;
}

/**
 * sysfs `descriptors`: the 18-byte device descriptor, then every configuration's descriptors as the device sent
 * them. Returns the one whose bConfigurationValue is `active` (or the first when the device is unconfigured).
 */
export function activeConfiguration(descriptors: Uint8Array, active: number | undefined): Uint8Array | null {
  let first: Uint8Array | null = null;
  for (let offset = 18; offset + 9 <= descriptors.length; ) {
    if (descriptors[offset + 1] !== DESCRIPTOR_CONFIGURATION) break;
    const total = descriptors[offset + 2]! | (descriptors[offset + 3]! << 8);
    if (total < 9) break;
    const config = descriptors.subarray(offset, Math.min(descriptors.length, offset + total));
    first ??= config;
    if (active !== undefined && config[5] === active) return config;
    offset += total;
  }
  return active === undefined ? first : null;
}

/** Opens and closes /dev/bus/usb/BBB/DDD to learn whether this process may use the device. */
function probeAccess(record: UsbDeviceFacts, devfs: string): void {
  const node = join(devfs, String(record.busNumber).padStart(3, '0'), String(record.deviceAddress).padStart(3, '0'));
  try {
    closeSync(openSync(node, constants.O_RDWR));
    record.access = 'ok';
  } catch (error) {
    const code = (error as { code?: string }).code;
    record.access = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'denied' : code === 'EBUSY' ? 'busy' : 'unknown';
    record.accessError =
      code === 'ENOENT'
        ? `${node} does not exist: ${existsSync(devfs) ? 'the device node is missing' : `there is no ${devfs} here (a container without the USB devices passed in?)`}`
        : `${node}: ${(error as Error).message}`;
  }
}

/** Directory names of USB devices in sysfs: '1-2.3' (on a port) or 'usb1' (a root hub); not interfaces ('1-2:1.0'). */
const DEVICE_NAME = /^(\d+-\d+(\.\d+)*|usb\d+)$/;

/**
 * Every USB device with the facts a camera list needs. Devices for which `checkAccess` says so are opened briefly
 * to learn whether this process may use them. Never throws: a device that can't be read is skipped, and a machine
 * without sysfs's USB tree lists nothing.
 */
export function enumerateUsbDevices(checkAccess: (facts: UsbDeviceFacts) => boolean = () => false, roots: UsbRoots = USB_ROOTS): UsbDeviceFacts[] {
  let names: string[];
  try {
    names = readdirSync(roots.sysfs).filter((n) => DEVICE_NAME.test(n));
  } catch {
    return [];
  }
  const facts: UsbDeviceFacts[] = [];
  for (const name of names) {
    try {
      const dir = join(roots.sysfs, name);
      const busNumber = Number(sysfsRead(join(dir, 'busnum')));
      const deviceAddress = Number(sysfsRead(join(dir, 'devnum')));
      const descriptors = new Uint8Array(readFileSync(join(dir, 'descriptors')));
      if (!Number.isInteger(busNumber) || !Number.isInteger(deviceAddress) || descriptors.length < 18 || descriptors[1] !== DESCRIPTOR_DEVICE) continue;
      const configValue = sysfsRead(join(dir, 'bConfigurationValue'));
      const active = configValue ? Number(configValue) : undefined;
      const config = activeConfiguration(descriptors, active);
      const interfaces: UsbInterfaceFacts[] = (config === null ? [] : interfacesOf(config)).map((i) => {
        let kernelDriver: string | undefined;
        try {
          kernelDriver = basename(readlinkSync(join(dir, `${name}:${active ?? config![5]}.${i.interfaceNumber}`, 'driver')));
        } catch {
          kernelDriver = undefined;
        }
        return kernelDriver ? { ...i, kernelDriver } : i;
      });
      const record: UsbDeviceFacts = {
        busNumber,
        deviceAddress,
        portPath: name.startsWith('usb') ? String(busNumber) : name,
        vendorId: descriptors[8]! | (descriptors[9]! << 8),
        productId: descriptors[10]! | (descriptors[11]! << 8),
        deviceClass: descriptors[4]!,
        speed: SPEED_OF_MBPS[sysfsRead(join(dir, 'speed')) ?? ''] ?? 'unknown',
        interfaces,
        access: 'unknown',
      };
      const manufacturer = sysfsRead(join(dir, 'manufacturer'));
      const product = sysfsRead(join(dir, 'product'));
      const serial = sysfsRead(join(dir, 'serial'));
      if (manufacturer) record.manufacturer = manufacturer;
      if (product) record.product = product;
      if (serial) record.serial = serial;
      if (checkAccess(record)) probeAccess(record, roots.devfs);
      facts.push(record);
    } catch {
      // A device that vanished or cannot be described is simply not listed.
    }
  }
  return facts;
}

/** Why this machine may see no USB device at all, when that is so (a container, a machine without USB). */
export function usbVisibilityProblem(roots: UsbRoots = USB_ROOTS): string | null {
  if (!existsSync(roots.sysfs)) return `there is no ${roots.sysfs} here: this machine (or container) shows no USB bus`;
  if (!existsSync(roots.devfs)) return `there is no ${roots.devfs} here: a container without the USB devices passed in? (docker: --device /dev/bus/usb, or -v /dev/bus/usb:/dev/bus/usb with a cgroup rule)`;
  return null;
}
