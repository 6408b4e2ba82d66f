/**
 * USB 2.0 chapter 9 (and the USB 3 additions) on endpoint 0: what usbcore and libusb send while enumerating
 * and configuring a device. Requests the device does not support, or that are invalid in its current state,
 * answer STALL (a "Request Error" in the spec's words).
 */
import type { ControlReply, SetupPacket } from '../transport/device-model.js';
import { DescriptorType, FeatureSelector, RequestType, StandardRequest } from '../spec/usb.js';

/** SuperSpeed requests and feature selectors (USB 3.2 §9.4). */
const SET_SEL = 0x30;
const SET_ISOCH_DELAY = 0x31;
const FEATURE_FUNCTION_SUSPEND = 0x00;
const FEATURE_U1_ENABLE = 48;
const FEATURE_U2_ENABLE = 49;
const FEATURE_LTM_ENABLE = 50;

export interface DescriptorSet {
  device: Uint8Array;
  configuration: Uint8Array;
  /** High speed only: the configuration as it would be at full speed (type 7). */
  otherSpeedConfiguration: Uint8Array | null;
  /** High speed only. */
  qualifier: Uint8Array | null;
  /** SuperSpeed only. */
  bos: Uint8Array | null;
  string(index: number): Uint8Array | null;
}

export interface StandardRequestTarget {
  readonly superSpeed: boolean;
  readonly descriptors: DescriptorSet;
  address: number;
  readonly configuration: number;
  setConfiguration(value: number): boolean;
  /** Current alternate setting of an interface, undefined if no such interface (or unconfigured). */
  altSetting(interfaceNumber: number): number | undefined;
  setInterface(interfaceNumber: number, alt: number): boolean;
  /** Whether an endpoint address is valid now (EP0 always; others only in the current configuration/alt). */
  endpointActive(address: number): boolean;
  isHalted(address: number): boolean;
  setHalt(address: number, halted: boolean): void;
}

const STALL: ControlReply = { status: 'stall' };
const OK: ControlReply = { status: 'ok' };

function reply(data: Uint8Array, wLength: number): ControlReply {
  return { status: 'ok', data: data.length > wLength ? data.subarray(0, wLength) : data };
}

function getDescriptor(t: StandardRequestTarget, setup: SetupPacket): ControlReply {
  if ((setup.bmRequestType & 0x1f) !== RequestType.RECIPIENT_DEVICE) return STALL;
  const type = setup.wValue >> 8;
  const index = setup.wValue & 0xff;
  const d = t.descriptors;
  let data: Uint8Array | null = null;
  switch (type) {
    case DescriptorType.DEVICE:
      data = index === 0 ? d.device : null;
      break;
    case DescriptorType.CONFIGURATION:
      data = index === 0 ? d.configuration : null;
      break;
    case DescriptorType.STRING:
      // One language only: the language ID in wIndex is not checked, as most devices do.
      data = d.string(index);
      break;
    case DescriptorType.DEVICE_QUALIFIER:
      data = d.qualifier;
      break;
    case DescriptorType.OTHER_SPEED_CONFIGURATION:
      data = index === 0 ? d.otherSpeedConfiguration : null;
      break;
    case DescriptorType.BOS:
      data = d.bos;
      break;
  }
  return data === null ? STALL : reply(data, setup.wLength);
}

function getStatus(t: StandardRequestTarget, setup: SetupPacket): ControlReply {
  const recipient = setup.bmRequestType & 0x1f;
  if (recipient === RequestType.RECIPIENT_DEVICE) return reply(Uint8Array.of(0, 0), setup.wLength); // bus powered, no wakeup
  if (recipient === RequestType.RECIPIENT_INTERFACE) {
    return t.altSetting(setup.wIndex & 0xff) === undefined ? STALL : reply(Uint8Array.of(0, 0), setup.wLength);
  }
  if (recipient === RequestType.RECIPIENT_ENDPOINT) {
    const ep = setup.wIndex & 0xff;
    if (!t.endpointActive(ep)) return STALL;
    return reply(Uint8Array.of(t.isHalted(ep) ? 1 : 0, 0), setup.wLength);
  }
  return STALL;
}

function feature(t: StandardRequestTarget, setup: SetupPacket, set: boolean): ControlReply {
  const recipient = setup.bmRequestType & 0x1f;
  const selector = setup.wValue;
  if (recipient === RequestType.RECIPIENT_ENDPOINT) {
    const ep = setup.wIndex & 0xff;
    if (selector !== FeatureSelector.ENDPOINT_HALT || !t.endpointActive(ep)) return STALL;
    if ((ep & 0x0f) !== 0) t.setHalt(ep, set);
    return OK;
  }
  if (recipient === RequestType.RECIPIENT_DEVICE) {
    // No remote wakeup (bmAttributes says so) and no test modes; SuperSpeed link power features are accepted.
    if (t.superSpeed && (selector === FEATURE_U1_ENABLE || selector === FEATURE_U2_ENABLE || selector === FEATURE_LTM_ENABLE)) {
      return t.configuration !== 0 ? OK : STALL;
    }
    return STALL;
  }
  if (recipient === RequestType.RECIPIENT_INTERFACE) {
    if (t.superSpeed && selector === FEATURE_FUNCTION_SUSPEND && t.altSetting(setup.wIndex & 0xff) !== undefined) return OK;
    return STALL;
  }
  return STALL;
}

export function handleStandardRequest(t: StandardRequestTarget, setup: SetupPacket, data: Uint8Array): ControlReply {
  const isIn = (setup.bmRequestType & RequestType.DIR_IN) !== 0;
  const recipient = setup.bmRequestType & 0x1f;
  switch (setup.bRequest) {
    case StandardRequest.GET_DESCRIPTOR:
      return isIn ? getDescriptor(t, setup) : STALL;
    case StandardRequest.GET_STATUS:
      return isIn ? getStatus(t, setup) : STALL;
    case StandardRequest.CLEAR_FEATURE:
      return isIn ? STALL : feature(t, setup, false);
    case StandardRequest.SET_FEATURE:
      return isIn ? STALL : feature(t, setup, true);
    case StandardRequest.SET_ADDRESS:
      if (isIn || recipient !== RequestType.RECIPIENT_DEVICE || setup.wValue > 127) return STALL;
      t.address = setup.wValue;
      return OK;
    case StandardRequest.GET_CONFIGURATION:
      return isIn && recipient === RequestType.RECIPIENT_DEVICE ? reply(Uint8Array.of(t.configuration), setup.wLength) : STALL;
    case StandardRequest.SET_CONFIGURATION:
      if (isIn || recipient !== RequestType.RECIPIENT_DEVICE) return STALL;
      return t.setConfiguration(setup.wValue) ? OK : STALL;
    case StandardRequest.GET_INTERFACE: {
      if (!isIn || recipient !== RequestType.RECIPIENT_INTERFACE) return STALL;
      const alt = t.altSetting(setup.wIndex & 0xff);
      return alt === undefined ? STALL : reply(Uint8Array.of(alt), setup.wLength);
    }
    case StandardRequest.SET_INTERFACE:
      if (isIn || recipient !== RequestType.RECIPIENT_INTERFACE) return STALL;
      return t.setInterface(setup.wIndex & 0xff, setup.wValue) ? OK : STALL;
    case SET_SEL:
      return !isIn && t.superSpeed && data.length === 6 ? OK : STALL;
    case SET_ISOCH_DELAY:
      return !isIn && t.superSpeed ? OK : STALL;
    default:
      // SET_DESCRIPTOR, SYNCH_FRAME (our iso endpoint is asynchronous, it has no pattern to synchronise to).
      return STALL;
  }
}
