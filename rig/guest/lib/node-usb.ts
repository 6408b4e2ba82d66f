/**
 * Promise wrappers over Node's `usb` package (its own libusb) for guest checks: enough to drive the pattern
 * device through usbfs. Errors keep libusb's transfer status in `errno` (usb.LIBUSB_TRANSFER_*).
 */
import { findByIds, usb, type Device, type InEndpoint, type Interface, type LibUSBException, type OutEndpoint } from 'usb';
import { waitFor } from './exec.js';

export { usb };

export async function openDevice(vid: number, pid: number, timeoutMs = 120_000): Promise<Device> {
  const device = await waitFor(`libusb to see ${vid.toString(16)}:${pid.toString(16)}`, () => findByIds(vid, pid), timeoutMs);
  device.open();
  return device;
}

export function controlIn(device: Device, bmRequestType: number, bRequest: number, wValue: number, wIndex: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    device.controlTransfer(bmRequestType, bRequest, wValue, wIndex, length, (err, data) => (err ? reject(err) : resolve(data as Buffer))),
  );
}

export function controlOut(device: Device, bmRequestType: number, bRequest: number, wValue: number, wIndex: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => device.controlTransfer(bmRequestType, bRequest, wValue, wIndex, data, (err) => (err ? reject(err) : resolve())));
}

export function stringDescriptor(device: Device, index: number): Promise<string> {
  return new Promise((resolve, reject) => device.getStringDescriptor(index, (err, s) => (err ? reject(err) : resolve(s ?? ''))));
}

export function claim(device: Device, interfaceNumber: number): Interface {
  const iface = device.interface(interfaceNumber);
  iface.claim();
  return iface;
}

export function setAltSetting(iface: Interface, alt: number): Promise<void> {
  return new Promise((resolve, reject) => iface.setAltSetting(alt, (err) => (err ? reject(err) : resolve())));
}

export function release(iface: Interface): Promise<void> {
  return new Promise((resolve) => iface.release(true, () => resolve()));
}

export function inEndpoint(iface: Interface, address: number): InEndpoint {
  const ep = iface.endpoint(address);
  if (ep === undefined || ep.direction !== 'in') throw new Error(`no IN endpoint 0x${address.toString(16)}`);
  return ep as InEndpoint;
}

export function outEndpoint(iface: Interface, address: number): OutEndpoint {
  const ep = iface.endpoint(address);
  if (ep === undefined || ep.direction !== 'out') throw new Error(`no OUT endpoint 0x${address.toString(16)}`);
  return ep as OutEndpoint;
}

export function readIn(ep: InEndpoint, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => ep.transfer(length, (err, data) => (err ? reject(err) : resolve(data ?? Buffer.alloc(0)))));
}

export function writeOut(ep: OutEndpoint, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => ep.transfer(data, (err) => (err ? reject(err) : resolve())));
}

export function clearHalt(ep: InEndpoint | OutEndpoint): Promise<void> {
  return new Promise((resolve, reject) => ep.clearHalt((err) => (err ? reject(err) : resolve())));
}

/** The libusb transfer status (or error code) of a failed call. */
export function errnoOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'errno' in err ? (err as LibUSBException).errno : undefined;
}

export function transferStatusName(status: number | undefined): string {
  const names: Record<number, string> = {
    [usb.LIBUSB_TRANSFER_COMPLETED]: 'COMPLETED',
    [usb.LIBUSB_TRANSFER_ERROR]: 'ERROR',
    [usb.LIBUSB_TRANSFER_TIMED_OUT]: 'TIMED_OUT',
    [usb.LIBUSB_TRANSFER_CANCELLED]: 'CANCELLED',
    [usb.LIBUSB_TRANSFER_STALL]: 'STALL',
    [usb.LIBUSB_TRANSFER_NO_DEVICE]: 'NO_DEVICE',
    [usb.LIBUSB_TRANSFER_OVERFLOW]: 'OVERFLOW',
  };
  return status === undefined ? 'none' : (names[status] ?? String(status));
}
