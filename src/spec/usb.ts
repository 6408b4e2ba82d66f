/**
 * Numbers from the USB 2.0 and 3.x specifications, shared by both sides of the wire: the host-side driver and
 * the device models (virtual camera, USB/IP). Facts only, no behaviour.
 */

export type UsbSpeed = 'low' | 'full' | 'high' | 'super' | 'super-plus' | 'unknown';

/** Standard descriptor types (bDescriptorType). */
export const DescriptorType = {
  DEVICE: 0x01,
  CONFIGURATION: 0x02,
  STRING: 0x03,
  INTERFACE: 0x04,
  ENDPOINT: 0x05,
  DEVICE_QUALIFIER: 0x06,
  OTHER_SPEED_CONFIGURATION: 0x07,
  INTERFACE_POWER: 0x08,
  OTG: 0x09,
  DEBUG: 0x0a,
  INTERFACE_ASSOCIATION: 0x0b,
  BOS: 0x0f,
  DEVICE_CAPABILITY: 0x10,
  SS_ENDPOINT_COMPANION: 0x30,
  SSP_ISOC_ENDPOINT_COMPANION: 0x31,
} as const;

/** bmRequestType bits. */
export const RequestType = {
  DIR_OUT: 0x00,
  DIR_IN: 0x80,
  TYPE_STANDARD: 0x00,
  TYPE_CLASS: 0x20,
  TYPE_VENDOR: 0x40,
  RECIPIENT_DEVICE: 0x00,
  RECIPIENT_INTERFACE: 0x01,
  RECIPIENT_ENDPOINT: 0x02,
  RECIPIENT_OTHER: 0x03,
} as const;

/** Standard requests (bRequest). */
export const StandardRequest = {
  GET_STATUS: 0x00,
  CLEAR_FEATURE: 0x01,
  SET_FEATURE: 0x03,
  SET_ADDRESS: 0x05,
  GET_DESCRIPTOR: 0x06,
  SET_DESCRIPTOR: 0x07,
  GET_CONFIGURATION: 0x08,
  SET_CONFIGURATION: 0x09,
  GET_INTERFACE: 0x0a,
  SET_INTERFACE: 0x0b,
  SYNCH_FRAME: 0x0c,
} as const;

/** Feature selectors for SET/CLEAR_FEATURE. */
export const FeatureSelector = {
  ENDPOINT_HALT: 0x00,
  DEVICE_REMOTE_WAKEUP: 0x01,
  TEST_MODE: 0x02,
} as const;

/** bmAttributes bits 0–1 of an endpoint descriptor. */
export const EndpointTransferType = {
  CONTROL: 0,
  ISOCHRONOUS: 1,
  BULK: 2,
  INTERRUPT: 3,
} as const;

export const ENDPOINT_DIR_IN = 0x80;
export const ENDPOINT_NUMBER_MASK = 0x0f;

/** wMaxPacketSize: bits 0–10 the size, bits 11–12 extra transactions per microframe (high-speed high-bandwidth). */
export function packetSizeOf(wMaxPacketSize: number): number {
  return wMaxPacketSize & 0x7ff;
}
export function transactionsPerMicroframe(wMaxPacketSize: number): number {
  return 1 + ((wMaxPacketSize >> 11) & 0x3);
}

/** Duration of one bus interval unit: a 1 ms frame at full/low speed, a 125 µs microframe at high speed and above. */
export function busIntervalMicroseconds(speed: UsbSpeed): number {
  return speed === 'low' || speed === 'full' ? 1000 : 125;
}

/** Values of the `speed` field of USB/IP and of the kernel's `enum usb_device_speed`. */
export const KernelUsbSpeed = {
  UNKNOWN: 0,
  LOW: 1,
  FULL: 2,
  HIGH: 3,
  WIRELESS: 4,
  SUPER: 5,
  SUPER_PLUS: 6,
} as const;
