/**
 * What the usbipd handshake says about a device (struct usbip_usb_device and its interfaces), read from the
 * model the way a host would: GET_DESCRIPTOR requests on endpoint 0. A real usbipd reads the same facts from
 * sysfs of a device its kernel already enumerated.
 */
import { UvcError } from '../errors.js';
import { DescriptorType, KernelUsbSpeed, RequestType, StandardRequest, type UsbSpeed } from '../spec/usb.js';
import type { UsbDeviceModel } from '../transport/device-model.js';
import type { UsbipDeviceInfo, UsbipInterfaceInfo } from './protocol.js';

export function kernelSpeedOf(speed: UsbSpeed): number {
  switch (speed) {
    case 'low':
      return KernelUsbSpeed.LOW;
    case 'full':
      return KernelUsbSpeed.FULL;
    case 'high':
      return KernelUsbSpeed.HIGH;
    case 'super':
      return KernelUsbSpeed.SUPER;
    case 'super-plus':
      return KernelUsbSpeed.SUPER_PLUS;
    default:
      return KernelUsbSpeed.UNKNOWN;
  }
}

export interface DeviceAddress {
  busid: string;
  busnum: number;
  devnum: number;
  path: string;
}

/** Reads the device and first configuration descriptors. Throws EIO/EPROTO/ETIMEDOUT when the model can't say. */
export async function readUsbipDeviceInfo(model: UsbDeviceModel, address: DeviceAddress, timeoutMs = 5000): Promise<UsbipDeviceInfo> {
  const device = await getDescriptor(model, DescriptorType.DEVICE, 0, 18, timeoutMs);
  if (device.length < 18 || device[1] !== DescriptorType.DEVICE) {
    throw new UvcError('EPROTO', `device descriptor is malformed (${device.length} bytes)`);
  }
  const configHead = await getDescriptor(model, DescriptorType.CONFIGURATION, 0, 9, timeoutMs);
  if (configHead.length < 9 || configHead[1] !== DescriptorType.CONFIGURATION) {
    throw new UvcError('EPROTO', `configuration descriptor is malformed (${configHead.length} bytes)`);
  }
  const totalLength = configHead[2]! | (configHead[3]! << 8);
  const config = await getDescriptor(model, DescriptorType.CONFIGURATION, 0, totalLength, timeoutMs);
  const interfaces = interfacesOf(config);
  return {
    path: address.path,
    busid: address.busid,
    busnum: address.busnum,
    devnum: address.devnum,
    speed: kernelSpeedOf(model.speed),
    idVendor: device[8]! | (device[9]! << 8),
    idProduct: device[10]! | (device[11]! << 8),
    bcdDevice: device[12]! | (device[13]! << 8),
    bDeviceClass: device[4]!,
    bDeviceSubClass: device[5]!,
    bDeviceProtocol: device[6]!,
    bConfigurationValue: configHead[5]!,
    bNumConfigurations: device[17]!,
    bNumInterfaces: interfaces.length,
    interfaces,
  };
}

/** The alternate-setting-0 interface descriptors of a configuration, in interface-number order. */
function interfacesOf(config: Uint8Array): UsbipInterfaceInfo[] {
  const found = new Map<number, UsbipInterfaceInfo>();
  let at = 0;
  while (at + 2 <= config.length) {
    const len = config[at]!;
    if (len < 2) break; // a zero length would loop forever; the rest is unreadable
    if (config[at + 1] === DescriptorType.INTERFACE && len >= 9 && at + 9 <= config.length && config[at + 3] === 0) {
      const number = config[at + 2]!;
      if (!found.has(number)) {
        found.set(number, { bInterfaceClass: config[at + 5]!, bInterfaceSubClass: config[at + 6]!, bInterfaceProtocol: config[at + 7]! });
      }
    }
    at += len;
  }
  return [...found.entries()].sort((a, b) => a[0] - b[0]).map(([, info]) => info);
}

async function getDescriptor(model: UsbDeviceModel, type: number, index: number, length: number, timeoutMs: number): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(timeoutMs);
  const reply = await model.control(
    {
      bmRequestType: RequestType.DIR_IN | RequestType.TYPE_STANDARD | RequestType.RECIPIENT_DEVICE,
      bRequest: StandardRequest.GET_DESCRIPTOR,
      wValue: (type << 8) | index,
      wIndex: 0,
      wLength: length,
    },
    undefined,
    signal,
  );
  if (reply.status === 'cancelled' && signal.aborted) {
    throw new UvcError('ETIMEDOUT', `GET_DESCRIPTOR(0x${type.toString(16)}) got no answer in ${timeoutMs} ms`);
  }
  if (reply.status !== 'ok' || reply.data === undefined) {
    throw new UvcError(reply.status === 'no_device' ? 'ENODEV' : 'EIO', `GET_DESCRIPTOR(0x${type.toString(16)}) answered ${reply.status}`);
  }
  return reply.data.length > length ? reply.data.subarray(0, length) : reply.data;
}
