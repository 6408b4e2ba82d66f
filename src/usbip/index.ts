/** USB/IP: export device models to a kernel (or any USB/IP host) over TCP. */
export {
  startUsbipServer,
  UsbipServer,
  type UsbipExport,
  type UsbipServerOptions,
  type UsbipAttachEvent,
  type UsbipDetachEvent,
  type UsbipRejectEvent,
  type UsbipDropEvent,
  type UsbipDropReason,
} from './server.js';
export {
  serveUsbipDevice,
  UsbipDeviceSession,
  type UsbipCloseReason,
  type UsbipSessionEnd,
  type UsbipSessionOptions,
  type UsbipSessionStats,
} from './device-session.js';
export { attachToVhci, parseVhciStatus, DEFAULT_VHCI_SYSFS, type VhciAttachOptions, type VhciAttachment, type VhciPort } from './vhci-attach.js';
export { readUsbipDeviceInfo, kernelSpeedOf } from './device-info.js';
export { readEndpointLimits, endpointLimitsOf, type EndpointLimit, type EndpointLimits } from './endpoint-limits.js';
export * as usbipProtocol from './protocol.js';
