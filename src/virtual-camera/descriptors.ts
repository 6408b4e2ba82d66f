/**
 * The camera's standard and class-specific descriptors, generated from its resolved options: device, the one
 * configuration (IAD, VideoControl with its terminals and units and status endpoint, VideoStreaming with its
 * formats, frames and alternate settings), strings, and the speed-dependent extras (device qualifier and
 * other-speed configuration at high speed, BOS at SuperSpeed).
 */
import { DescriptorType, EndpointTransferType } from '../spec/usb.js';
import {
  CC_VIDEO,
  CS_ENDPOINT,
  CS_INTERFACE,
  EP_INTERRUPT,
  TerminalType,
  VcSubtype,
  VideoSubclass,
  VsSubtype,
} from '../spec/uvc.js';
import { uvcError } from '../errors.js';
import { ByteWriter } from './byte-writer.js';
import { bmControlsOf, type ControlDefinition } from './controls.js';
import type { DeviceLayout } from './device-layout.js';
import {
  CAMERA_TERMINAL_ID,
  EXTENSION_UNIT_GUID,
  EXTENSION_UNIT_ID,
  OUTPUT_TERMINAL_ID,
  PROCESSING_UNIT_ID,
} from './entities.js';
import type { ResolvedFormat, ResolvedFrame } from './formats.js';
import type { ResolvedOptions } from './options.js';

export const STRING_MANUFACTURER = 1;
export const STRING_PRODUCT = 2;
export const STRING_SERIAL = 3;

/** Interface association / VC / VS: bInterfaceProtocol is PC_PROTOCOL_15 (1) for UVC 1.5, else 0. */
function protocolOf(options: ResolvedOptions): number {
  return options.uvcVersion === '1.5' ? 0x01 : 0x00;
}

export function deviceDescriptor(options: ResolvedOptions): Uint8Array {
  return new ByteWriter()
    .u8(18)
    .u8(DescriptorType.DEVICE)
    .u16(options.speed === 'super' ? 0x0320 : 0x0200)
    // Miscellaneous device class, common class, interface association: a composite device with an IAD.
    .u8(0xef)
    .u8(0x02)
    .u8(0x01)
    .u8(options.layout.ep0MaxPacketField)
    .u16(options.vendorId)
    .u16(options.productId)
    .u16(options.deviceRelease)
    .u8(STRING_MANUFACTURER)
    .u8(STRING_PRODUCT)
    .u8(options.serial === null ? 0 : STRING_SERIAL)
    .u8(1)
    .toUint8Array();
}

/** High speed only: how the device would look at full speed. */
export function deviceQualifier(): Uint8Array {
  return new ByteWriter()
    .u8(10)
    .u8(DescriptorType.DEVICE_QUALIFIER)
    .u16(0x0200)
    .u8(0xef)
    .u8(0x02)
    .u8(0x01)
    .u8(64)
    .u8(1)
    .u8(0)
    .toUint8Array();
}

/** SuperSpeed only: USB 2.0 extension (LPM) and SuperSpeed device capability. */
export function bosDescriptor(): Uint8Array {
  const w = new ByteWriter();
  w.u8(5).u8(DescriptorType.BOS).u16(0).u8(2);
  w.u8(7).u8(DescriptorType.DEVICE_CAPABILITY).u8(0x02).u32(0x00000002);
  w.u8(10).u8(DescriptorType.DEVICE_CAPABILITY).u8(0x03).u8(0x00).u16(0x000e).u8(0x01).u8(0x0a).u16(0x01f4);
  w.patchU16(2, w.length);
  return w.toUint8Array();
}

function usbStringDescriptor(text: string): Uint8Array {
  const w = new ByteWriter().u8(2 + text.length * 2).u8(DescriptorType.STRING);
  for (let i = 0; i < text.length; i++) w.u16(text.charCodeAt(i));
  return w.toUint8Array();
}

export function stringDescriptor(options: ResolvedOptions, index: number): Uint8Array | null {
  if (index === 0) return Uint8Array.from([4, DescriptorType.STRING, 0x09, 0x04]); // English (United States)
  const text =
    index === STRING_MANUFACTURER
      ? options.manufacturer
      : index === STRING_PRODUCT
        ? options.product
        : index === STRING_SERIAL
          ? options.serial
          : null;
  return text === null ? null : usbStringDescriptor(text);
}

function frameDescriptor(w: ByteWriter, format: ResolvedFormat, frame: ResolvedFrame): void {
  const subtype = format.compressed ? VsSubtype.FRAME_MJPEG : VsSubtype.FRAME_UNCOMPRESSED;
  const count = frame.intervals ? frame.intervals.length : 0;
  const length = 26 + (frame.intervals ? 4 * count : 12);
  const bitsPerFrame = frame.maxFrameSize * 8;
  const bitRate = (interval: number) => Math.min(0xffffffff, Math.round((bitsPerFrame * 10_000_000) / interval));
  w.u8(length)
    .u8(CS_INTERFACE)
    .u8(subtype)
    .u8(frame.index)
    .u8(0x00) // bmCapabilities: no still image, frame rate not fixed
    .u16(frame.width)
    .u16(frame.height)
    .u32(bitRate(frame.maxInterval))
    .u32(bitRate(frame.minInterval))
    .u32(frame.maxFrameSize)
    .u32(frame.defaultInterval)
    .u8(count);
  if (frame.intervals) for (const iv of frame.intervals) w.u32(iv);
  else w.u32(frame.range!.min).u32(frame.range!.max).u32(frame.range!.step);
}

function formatDescriptors(w: ByteWriter, format: ResolvedFormat): void {
  if (format.compressed) {
    w.u8(11)
      .u8(CS_INTERFACE)
      .u8(VsSubtype.FORMAT_MJPEG)
      .u8(format.index)
      .u8(format.frames.length)
      .u8(0x01) // bmFlags: fixed-size samples
      .u8(format.defaultFrameIndex)
      .u8(0)
      .u8(0)
      .u8(0)
      .u8(0);
  } else {
    w.u8(27)
      .u8(CS_INTERFACE)
      .u8(VsSubtype.FORMAT_UNCOMPRESSED)
      .u8(format.index)
      .u8(format.frames.length)
      .raw(format.guid!)
      .u8(format.bitsPerPixel)
      .u8(format.defaultFrameIndex)
      .u8(0)
      .u8(0)
      .u8(0)
      .u8(0);
  }
  for (const frame of format.frames) frameDescriptor(w, format, frame);
  // Colour matching: BT.709 primaries and transfer, BT.601 (SMPTE 170M) matrix: what the picture is encoded with.
  w.u8(6).u8(CS_INTERFACE).u8(VsSubtype.COLORFORMAT).u8(1).u8(1).u8(4);
}

function endpointDescriptor(w: ByteWriter, address: number, attributes: number, maxPacket: number, interval: number): void {
  w.u8(7).u8(DescriptorType.ENDPOINT).u8(address).u8(attributes).u16(maxPacket).u8(interval);
}

function companionDescriptor(w: ByteWriter, maxBurst: number, attributes: number, bytesPerInterval: number): void {
  w.u8(6).u8(DescriptorType.SS_ENDPOINT_COMPANION).u8(maxBurst).u8(attributes).u16(bytesPerInterval);
}

function interfaceDescriptor(w: ByteWriter, number: number, alt: number, endpoints: number, subclass: number, protocol: number): void {
  w.u8(9).u8(DescriptorType.INTERFACE).u8(number).u8(alt).u8(endpoints).u8(CC_VIDEO).u8(subclass).u8(protocol).u8(0);
}

/**
 * The configuration descriptor with everything under it. `layout` decides the speed-dependent parts, so the
 * same function builds the other-speed configuration (type 7) from the full-speed layout.
 */
export function configurationDescriptor(
  options: ResolvedOptions,
  controls: readonly ControlDefinition[],
  layout: DeviceLayout = options.layout,
  type: number = DescriptorType.CONFIGURATION,
): Uint8Array {
  const protocol = protocolOf(options);
  const superSpeed = layout.speed === 'super';
  const w = new ByteWriter();
  w.u8(9).u8(type).u16(0).u8(2).u8(1).u8(0).u8(0x80).u8(superSpeed ? 63 : 250);

  // Interface association: VC + VS form one video function.
  w.u8(8).u8(DescriptorType.INTERFACE_ASSOCIATION).u8(layout.vcInterface).u8(2).u8(CC_VIDEO).u8(VideoSubclass.INTERFACE_COLLECTION).u8(protocol).u8(STRING_PRODUCT);

  // VideoControl interface.
  interfaceDescriptor(w, layout.vcInterface, 0, 1, VideoSubclass.VIDEOCONTROL, protocol);
  const vcStart = w.length;
  w.u8(13).u8(CS_INTERFACE).u8(VcSubtype.HEADER).u16(options.bcdUVC).u16(0).u32(options.clockFrequency).u8(1).u8(layout.vsInterface);

  const ctControls = bmControlsOf(controls, CAMERA_TERMINAL_ID, 3);
  w.u8(15 + ctControls.length)
    .u8(CS_INTERFACE)
    .u8(VcSubtype.INPUT_TERMINAL)
    .u8(CAMERA_TERMINAL_ID)
    .u16(TerminalType.ITT_CAMERA)
    .u8(0)
    .u8(0)
    .u16(0)
    .u16(0)
    .u16(0)
    .u8(ctControls.length)
    .raw(ctControls);

  const puControlSize = options.uvcVersion === '1.5' ? 3 : 2;
  const puControls = bmControlsOf(controls, PROCESSING_UNIT_ID, puControlSize);
  const puHasVideoStandards = options.uvcVersion !== '1.0';
  w.u8(9 + puControls.length + (puHasVideoStandards ? 1 : 0))
    .u8(CS_INTERFACE)
    .u8(VcSubtype.PROCESSING_UNIT)
    .u8(PROCESSING_UNIT_ID)
    .u8(CAMERA_TERMINAL_ID)
    .u16(0) // wMaxMultiplier: no digital multiplier
    .u8(puControls.length)
    .raw(puControls)
    .u8(0);
  if (puHasVideoStandards) w.u8(0x00);

  const xuControls = bmControlsOf(controls, EXTENSION_UNIT_ID, 1);
  const xuCount = controls.filter((c) => c.entityId === EXTENSION_UNIT_ID).length;
  w.u8(24 + 1 + xuControls.length)
    .u8(CS_INTERFACE)
    .u8(VcSubtype.EXTENSION_UNIT)
    .u8(EXTENSION_UNIT_ID)
    .raw(EXTENSION_UNIT_GUID)
    .u8(xuCount)
    .u8(1)
    .u8(PROCESSING_UNIT_ID)
    .u8(xuControls.length)
    .raw(xuControls)
    .u8(0);

  w.u8(9).u8(CS_INTERFACE).u8(VcSubtype.OUTPUT_TERMINAL).u8(OUTPUT_TERMINAL_ID).u16(TerminalType.TT_STREAMING).u8(0).u8(EXTENSION_UNIT_ID).u8(0);
  w.patchU16(vcStart + 5, w.length - vcStart);

  endpointDescriptor(w, layout.statusEndpoint, EndpointTransferType.INTERRUPT, layout.statusMaxPacket, layout.statusBInterval);
  if (superSpeed) companionDescriptor(w, 0, 0, layout.statusMaxPacket);
  w.u8(5).u8(CS_ENDPOINT).u8(EP_INTERRUPT).u16(layout.statusMaxPacket);

  // VideoStreaming interface, alternate setting 0 with the class-specific descriptors.
  const bulk = layout.transfer === 'bulk';
  interfaceDescriptor(w, layout.vsInterface, 0, bulk ? 1 : 0, VideoSubclass.VIDEOSTREAMING, protocol);
  const vsStart = w.length;
  const formats = options.formats;
  w.u8(13 + formats.length)
    .u8(CS_INTERFACE)
    .u8(VsSubtype.INPUT_HEADER)
    .u8(formats.length)
    .u16(0)
    .u8(layout.videoEndpoint)
    .u8(0x00) // bmInfo: no dynamic format change
    .u8(OUTPUT_TERMINAL_ID)
    .u8(0) // bStillCaptureMethod: none
    .u8(1) // bTriggerSupport: a hardware trigger (the button)
    .u8(1) // bTriggerUsage: general purpose button event
    .u8(1);
  // bmaControls: MJPEG honours wCompQuality (D2); uncompressed formats have no compression parameters.
  for (const f of formats) w.u8(f.compressed ? 0x04 : 0x00);
  for (const f of formats) formatDescriptors(w, f);
  w.patchU16(vsStart + 4, w.length - vsStart);

  if (bulk) {
    endpointDescriptor(w, layout.videoEndpoint, EndpointTransferType.BULK, layout.bulkMaxPacket, 0);
    if (superSpeed) companionDescriptor(w, 15, 0, 0);
  } else {
    for (const alt of layout.isoAlts) {
      interfaceDescriptor(w, layout.vsInterface, alt.alt, 1, VideoSubclass.VIDEOSTREAMING, protocol);
      // Isochronous, asynchronous synchronisation: the camera's clock is its own.
      endpointDescriptor(w, layout.videoEndpoint, EndpointTransferType.ISOCHRONOUS | (1 << 2), alt.wMaxPacketSize, 1);
      if (superSpeed) companionDescriptor(w, alt.ssMaxBurst, alt.ssMult, alt.bytesPerInterval);
    }
  }

  if (w.length > 0xffff) {
    throw uvcError('EINVAL', `virtual camera: the configuration descriptor would be ${w.length} bytes (at most 65535)`);
  }
  w.patchU16(2, w.length);
  return w.toUint8Array();
}

/**
 * A face's strings: the device descriptor's manufacturer, product and serial indexes answer those texts; any other
 * index the descriptors name (interfaces, functions) answers the product name.
 */
export function faceStringDescriptor(options: ResolvedOptions, device: Uint8Array, index: number): Uint8Array | null {
  if (index === 0) return Uint8Array.from([4, DescriptorType.STRING, 0x09, 0x04]);
  const text =
    index === device[14] ? options.manufacturer : index === device[15] ? options.product : index === device[16] ? options.serial : options.product;
  return text === null ? null : usbStringDescriptor(text);
}
