/**
 * The USB/IP wire format: numbers, sizes and the encoders/decoders of every message, both directions (the server
 * uses half of them, tests and clients the other half). All fields are big-endian; the SETUP packet inside
 * CMD_SUBMIT keeps USB's own little-endian byte order. Layouts follow the kernel's drivers/usb/usbip/usbip_common.h
 * (URB traffic) and tools/usb/usbip/src/usbip_network.h + libsrc/usbip_common.h (the usbipd handshake).
 */
import { UvcError } from '../errors.js';

/** usbip 1.1.1, what Debian's usbip tools send and expect. */
export const USBIP_VERSION = 0x0111;
export const USBIP_DEFAULT_PORT = 3240;

/** op_common.code of the handshake. Requests have bit 15 set. */
export const OpCode = {
  REQ_DEVLIST: 0x8005,
  REP_DEVLIST: 0x0005,
  REQ_IMPORT: 0x8003,
  REP_IMPORT: 0x0003,
} as const;

/** op_common.status (ST_* in the tools). */
export const OpStatus = {
  OK: 0,
  NA: 1,
  DEV_BUSY: 2,
  DEV_ERR: 3,
  NODEV: 4,
  ERROR: 5,
} as const;

/** usbip_header_basic.command */
export const UrbCommand = {
  CMD_SUBMIT: 1,
  CMD_UNLINK: 2,
  RET_SUBMIT: 3,
  RET_UNLINK: 4,
} as const;

export const UsbipDirection = { OUT: 0, IN: 1 } as const;

/** URB transfer_flags as they travel (the kernel's URB_* values, USBIP_URB_* in newer headers). */
export const UrbTransferFlag = {
  SHORT_NOT_OK: 0x0001,
  ISO_ASAP: 0x0002,
  NO_TRANSFER_DMA_MAP: 0x0004,
  ZERO_PACKET: 0x0040,
  NO_INTERRUPT: 0x0080,
  FREE_BUFFER: 0x0100,
  DIR_IN: 0x0200,
} as const;

/** Linux errno values the kernel expects in RET_SUBMIT / RET_UNLINK status and iso packet status (negated). */
export const Errno = {
  ENOENT: 2,
  EXDEV: 18,
  ENODEV: 19,
  EINVAL: 22,
  EPIPE: 32,
  ETIME: 62,
  EPROTO: 71,
  EOVERFLOW: 75,
  EILSEQ: 84,
  ECONNRESET: 104,
  ESHUTDOWN: 108,
  EREMOTEIO: 121,
} as const;

export const OP_COMMON_SIZE = 8;
export const BUSID_SIZE = 32;
export const PATH_SIZE = 256;
/** struct usbip_usb_device */
export const USB_DEVICE_SIZE = 312;
/** struct usbip_usb_interface */
export const USB_INTERFACE_SIZE = 4;
export const OP_IMPORT_REQUEST_SIZE = OP_COMMON_SIZE + BUSID_SIZE;
/** struct usbip_header: every URB message starts with exactly this many bytes. */
export const URB_HEADER_SIZE = 48;
/** struct usbip_iso_packet_descriptor */
export const ISO_DESCRIPTOR_SIZE = 16;
/** number_of_packets of a non-iso URB per the protocol document (Linux's vhci actually sends 0). */
export const NOT_ISO_PACKETS = -1;

// ---------------------------------------------------------------------------------------------------------------
// Handshake

export interface OpCommon {
  version: number;
  code: number;
  status: number;
}

export function encodeOpCommon(code: number, status: number, version = USBIP_VERSION): Buffer {
  const b = Buffer.alloc(OP_COMMON_SIZE);
  writeOpCommon(b, 0, code, status, version);
  return b;
}

function writeOpCommon(b: Buffer, at: number, code: number, status: number, version = USBIP_VERSION): void {
  b.writeUInt16BE(version, at);
  b.writeUInt16BE(code, at + 2);
  b.writeUInt32BE(status >>> 0, at + 4);
}

export function decodeOpCommon(b: Uint8Array, at = 0): OpCommon {
  const v = view(b);
  need(b, at, OP_COMMON_SIZE, 'op_common');
  return { version: v.getUint16(at), code: v.getUint16(at + 2), status: v.getUint32(at + 4) };
}

/** What usbip_usb_interface says of one interface (its alternate setting 0). */
export interface UsbipInterfaceInfo {
  bInterfaceClass: number;
  bInterfaceSubClass: number;
  bInterfaceProtocol: number;
}

/** struct usbip_usb_device, plus the interfaces a devlist reply carries after it. */
export interface UsbipDeviceInfo {
  /** The exporting host's sysfs path of the device (informational). */
  path: string;
  busid: string;
  busnum: number;
  devnum: number;
  /** KernelUsbSpeed */
  speed: number;
  idVendor: number;
  idProduct: number;
  bcdDevice: number;
  bDeviceClass: number;
  bDeviceSubClass: number;
  bDeviceProtocol: number;
  bConfigurationValue: number;
  bNumConfigurations: number;
  bNumInterfaces: number;
  interfaces: UsbipInterfaceInfo[];
}

export function encodeImportRequest(busid: string): Buffer {
  const b = Buffer.alloc(OP_IMPORT_REQUEST_SIZE);
  writeOpCommon(b, 0, OpCode.REQ_IMPORT, 0);
  writeFixedString(b, OP_COMMON_SIZE, BUSID_SIZE, busid, 'busid');
  return b;
}

export function decodeImportRequest(b: Uint8Array, at = 0): { header: OpCommon; busid: string } {
  need(b, at, OP_IMPORT_REQUEST_SIZE, 'OP_REQ_IMPORT');
  return { header: decodeOpCommon(b, at), busid: readFixedString(b, at + OP_COMMON_SIZE, BUSID_SIZE) };
}

/** OP_REP_IMPORT: op_common, then (status OK only) the device without its interfaces. */
export function encodeImportReply(status: number, device?: UsbipDeviceInfo): Buffer {
  const ok = status === OpStatus.OK;
  if (ok && device === undefined) throw new UvcError('EINVAL', 'a successful OP_REP_IMPORT needs the device');
  const b = Buffer.alloc(OP_COMMON_SIZE + (ok ? USB_DEVICE_SIZE : 0));
  writeOpCommon(b, 0, OpCode.REP_IMPORT, status);
  if (ok && device !== undefined) writeUsbDevice(b, OP_COMMON_SIZE, device);
  return b;
}

export function decodeImportReply(b: Uint8Array): { header: OpCommon; device?: UsbipDeviceInfo } {
  const header = decodeOpCommon(b, 0);
  if (header.status !== OpStatus.OK) return { header };
  need(b, OP_COMMON_SIZE, USB_DEVICE_SIZE, 'OP_REP_IMPORT device');
  return { header, device: readUsbDevice(b, OP_COMMON_SIZE) };
}

export function encodeDevlistRequest(): Buffer {
  return encodeOpCommon(OpCode.REQ_DEVLIST, 0);
}

/** OP_REP_DEVLIST: op_common, ndev, then each device followed by its bNumInterfaces interface records. */
export function encodeDevlistReply(devices: readonly UsbipDeviceInfo[]): Buffer {
  let size = OP_COMMON_SIZE + 4;
  for (const d of devices) size += USB_DEVICE_SIZE + USB_INTERFACE_SIZE * d.interfaces.length;
  const b = Buffer.alloc(size);
  writeOpCommon(b, 0, OpCode.REP_DEVLIST, OpStatus.OK);
  b.writeUInt32BE(devices.length, OP_COMMON_SIZE);
  let at = OP_COMMON_SIZE + 4;
  for (const d of devices) {
    if (d.interfaces.length !== d.bNumInterfaces) {
      throw new UvcError('EINVAL', `device ${d.busid}: bNumInterfaces ${d.bNumInterfaces} but ${d.interfaces.length} interfaces`);
    }
    writeUsbDevice(b, at, d);
    at += USB_DEVICE_SIZE;
    for (const i of d.interfaces) {
      b[at] = i.bInterfaceClass;
      b[at + 1] = i.bInterfaceSubClass;
      b[at + 2] = i.bInterfaceProtocol;
      b[at + 3] = 0;
      at += USB_INTERFACE_SIZE;
    }
  }
  return b;
}

/**
 * Decodes a whole OP_REP_DEVLIST. Returns undefined while `b` is still too short to hold it (a stream reader
 * calls again with more bytes), with the number of bytes used once complete.
 */
export function decodeDevlistReply(b: Uint8Array): { header: OpCommon; devices: UsbipDeviceInfo[]; size: number } | undefined {
  if (b.length < OP_COMMON_SIZE + 4) return undefined;
  const header = decodeOpCommon(b, 0);
  const n = view(b).getUint32(OP_COMMON_SIZE);
  const devices: UsbipDeviceInfo[] = [];
  let at = OP_COMMON_SIZE + 4;
  for (let k = 0; k < n; k++) {
    if (b.length < at + USB_DEVICE_SIZE) return undefined;
    const d = readUsbDevice(b, at);
    at += USB_DEVICE_SIZE;
    if (b.length < at + USB_INTERFACE_SIZE * d.bNumInterfaces) return undefined;
    for (let i = 0; i < d.bNumInterfaces; i++) {
      d.interfaces.push({ bInterfaceClass: b[at]!, bInterfaceSubClass: b[at + 1]!, bInterfaceProtocol: b[at + 2]! });
      at += USB_INTERFACE_SIZE;
    }
    devices.push(d);
  }
  return { header, devices, size: at };
}

function writeUsbDevice(b: Buffer, at: number, d: UsbipDeviceInfo): void {
  writeFixedString(b, at, PATH_SIZE, d.path, 'path');
  writeFixedString(b, at + 0x100, BUSID_SIZE, d.busid, 'busid');
  b.writeUInt32BE(d.busnum >>> 0, at + 0x120);
  b.writeUInt32BE(d.devnum >>> 0, at + 0x124);
  b.writeUInt32BE(d.speed >>> 0, at + 0x128);
  b.writeUInt16BE(d.idVendor, at + 0x12c);
  b.writeUInt16BE(d.idProduct, at + 0x12e);
  b.writeUInt16BE(d.bcdDevice, at + 0x130);
  b[at + 0x132] = d.bDeviceClass;
  b[at + 0x133] = d.bDeviceSubClass;
  b[at + 0x134] = d.bDeviceProtocol;
  b[at + 0x135] = d.bConfigurationValue;
  b[at + 0x136] = d.bNumConfigurations;
  b[at + 0x137] = d.bNumInterfaces;
}

function readUsbDevice(b: Uint8Array, at: number): UsbipDeviceInfo {
  const v = view(b);
  return {
    path: readFixedString(b, at, PATH_SIZE),
    busid: readFixedString(b, at + 0x100, BUSID_SIZE),
    busnum: v.getUint32(at + 0x120),
    devnum: v.getUint32(at + 0x124),
    speed: v.getUint32(at + 0x128),
    idVendor: v.getUint16(at + 0x12c),
    idProduct: v.getUint16(at + 0x12e),
    bcdDevice: v.getUint16(at + 0x130),
    bDeviceClass: b[at + 0x132]!,
    bDeviceSubClass: b[at + 0x133]!,
    bDeviceProtocol: b[at + 0x134]!,
    bConfigurationValue: b[at + 0x135]!,
    bNumConfigurations: b[at + 0x136]!,
    bNumInterfaces: b[at + 0x137]!,
    interfaces: [],
  };
}

// ---------------------------------------------------------------------------------------------------------------
// URB traffic

export interface UrbHeaderBasic {
  command: number;
  seqnum: number;
  devid: number;
  direction: number;
  /** Endpoint number 0–15, without the direction bit. */
  ep: number;
}

export interface CmdSubmit extends UrbHeaderBasic {
  command: typeof UrbCommand.CMD_SUBMIT;
  transferFlags: number;
  transferBufferLength: number;
  startFrame: number;
  /** > 0 for an isochronous URB; 0 (Linux) or -1 (the protocol document) otherwise. */
  numberOfPackets: number;
  interval: number;
  /** The 8 SETUP bytes as sent (USB byte order); zero for non-control URBs. */
  setup: Uint8Array;
}

export interface RetSubmit extends UrbHeaderBasic {
  command: typeof UrbCommand.RET_SUBMIT;
  /** 0 or a negative errno. */
  status: number;
  actualLength: number;
  startFrame: number;
  numberOfPackets: number;
  errorCount: number;
}

export interface CmdUnlink extends UrbHeaderBasic {
  command: typeof UrbCommand.CMD_UNLINK;
  /** The seqnum of the CMD_SUBMIT to unlink. */
  unlinkSeqnum: number;
}

export interface RetUnlink extends UrbHeaderBasic {
  command: typeof UrbCommand.RET_UNLINK;
  /** -ECONNRESET when the URB was unlinked, 0 when it had already completed. */
  status: number;
}

export type UrbHeader = CmdSubmit | RetSubmit | CmdUnlink | RetUnlink;

/** Decodes one 48-byte URB header. Throws EPROTO on an unknown command. */
export function decodeUrbHeader(b: Uint8Array, at = 0): UrbHeader {
  need(b, at, URB_HEADER_SIZE, 'usbip_header');
  const v = view(b);
  const command = v.getUint32(at);
  const seqnum = v.getUint32(at + 4);
  const devid = v.getUint32(at + 8);
  const direction = v.getUint32(at + 12);
  const ep = v.getUint32(at + 16);
  switch (command) {
    case UrbCommand.CMD_SUBMIT:
      return {
        command,
        seqnum,
        devid,
        direction,
        ep,
        transferFlags: v.getUint32(at + 20),
        transferBufferLength: v.getInt32(at + 24),
        startFrame: v.getInt32(at + 28),
        numberOfPackets: v.getInt32(at + 32),
        interval: v.getInt32(at + 36),
        setup: new Uint8Array(b.subarray(at + 40, at + 48)),
      };
    case UrbCommand.RET_SUBMIT:
      return {
        command,
        seqnum,
        devid,
        direction,
        ep,
        status: v.getInt32(at + 20),
        actualLength: v.getInt32(at + 24),
        startFrame: v.getInt32(at + 28),
        numberOfPackets: v.getInt32(at + 32),
        errorCount: v.getInt32(at + 36),
      };
    case UrbCommand.CMD_UNLINK:
      return { command, seqnum, devid, direction, ep, unlinkSeqnum: v.getUint32(at + 20) };
    case UrbCommand.RET_UNLINK:
      return { command, seqnum, devid, direction, ep, status: v.getInt32(at + 20) };
    default:
      throw new UvcError('EPROTO', `unknown USB/IP command 0x${command.toString(16)}`, { details: { command, seqnum } });
  }
}

function writeBasic(b: Uint8Array, at: number, command: number, seqnum: number, devid: number, direction: number, ep: number): void {
  const v = view(b);
  v.setUint32(at, command);
  v.setUint32(at + 4, seqnum >>> 0);
  v.setUint32(at + 8, devid >>> 0);
  v.setUint32(at + 12, direction >>> 0);
  v.setUint32(at + 16, ep >>> 0);
}

/** Writes a CMD_SUBMIT header (a client's message; the server only decodes it). */
export function encodeCmdSubmit(b: Uint8Array, at: number, h: Omit<CmdSubmit, 'command'>): void {
  need(b, at, URB_HEADER_SIZE, 'CMD_SUBMIT');
  writeBasic(b, at, UrbCommand.CMD_SUBMIT, h.seqnum, h.devid, h.direction, h.ep);
  const v = view(b);
  v.setUint32(at + 20, h.transferFlags >>> 0);
  v.setInt32(at + 24, h.transferBufferLength);
  v.setInt32(at + 28, h.startFrame);
  v.setInt32(at + 32, h.numberOfPackets);
  v.setInt32(at + 36, h.interval);
  if (h.setup.length !== 8) throw new UvcError('EINVAL', 'a SETUP packet is 8 bytes');
  b.set(h.setup, at + 40);
}

/**
 * Writes a RET_SUBMIT header. The server sends devid, direction and ep as 0 (the kernel ignores them, the
 * protocol says so), hence no parameters for them. Hot path: no allocation.
 */
export function encodeRetSubmit(
  b: Buffer,
  at: number,
  seqnum: number,
  status: number,
  actualLength: number,
  startFrame: number,
  numberOfPackets: number,
  errorCount: number,
): void {
  b.writeUInt32BE(UrbCommand.RET_SUBMIT, at);
  b.writeUInt32BE(seqnum >>> 0, at + 4);
  b.writeUInt32BE(0, at + 8);
  b.writeUInt32BE(0, at + 12);
  b.writeUInt32BE(0, at + 16);
  b.writeInt32BE(status, at + 20);
  b.writeInt32BE(actualLength, at + 24);
  b.writeInt32BE(startFrame | 0, at + 28);
  b.writeInt32BE(numberOfPackets, at + 32);
  b.writeInt32BE(errorCount, at + 36);
  b.writeUInt32BE(0, at + 40);
  b.writeUInt32BE(0, at + 44);
}

export function encodeCmdUnlink(b: Uint8Array, at: number, seqnum: number, devid: number, unlinkSeqnum: number): void {
  need(b, at, URB_HEADER_SIZE, 'CMD_UNLINK');
  b.fill(0, at, at + URB_HEADER_SIZE);
  writeBasic(b, at, UrbCommand.CMD_UNLINK, seqnum, devid, 0, 0);
  view(b).setUint32(at + 20, unlinkSeqnum >>> 0);
}

export function encodeRetUnlink(b: Uint8Array, at: number, seqnum: number, status: number): void {
  need(b, at, URB_HEADER_SIZE, 'RET_UNLINK');
  b.fill(0, at, at + URB_HEADER_SIZE);
  writeBasic(b, at, UrbCommand.RET_UNLINK, seqnum, 0, 0, 0);
  view(b).setInt32(at + 20, status);
}

/**
 * Bytes that follow a URB header of a client's message: the OUT data (full transfer_buffer_length, iso padding
 * included: that is what vhci_tx sends) and the iso packet descriptors (sent for IN and OUT).
 */
export function cmdSubmitBodyLength(direction: number, transferBufferLength: number, numberOfPackets: number): number {
  return (direction === UsbipDirection.OUT ? transferBufferLength : 0) + (numberOfPackets > 0 ? numberOfPackets * ISO_DESCRIPTOR_SIZE : 0);
}

/**
 * Bytes that follow a RET_SUBMIT header: the IN data (actual_length, iso packets compacted) and the iso
 * descriptors.
 */
export function retSubmitBodyLength(direction: number, actualLength: number, numberOfPackets: number): number {
  return (direction === UsbipDirection.IN ? actualLength : 0) + (numberOfPackets > 0 ? numberOfPackets * ISO_DESCRIPTOR_SIZE : 0);
}

export interface IsoPacketDescriptor {
  offset: number;
  length: number;
  actualLength: number;
  /** 0 or a negative errno. */
  status: number;
}

/** Hot path (once per iso packet): Buffer methods, no allocation. */
export function encodeIsoDescriptor(b: Buffer, at: number, offset: number, length: number, actualLength: number, status: number): void {
  b.writeUInt32BE(offset >>> 0, at);
  b.writeUInt32BE(length >>> 0, at + 4);
  b.writeUInt32BE(actualLength >>> 0, at + 8);
  b.writeInt32BE(status, at + 12);
}

export function decodeIsoDescriptor(b: Uint8Array, at: number): IsoPacketDescriptor {
  need(b, at, ISO_DESCRIPTOR_SIZE, 'iso_packet_descriptor');
  const v = view(b);
  return { offset: v.getUint32(at), length: v.getUint32(at + 4), actualLength: v.getUint32(at + 8), status: v.getInt32(at + 12) };
}

// ---------------------------------------------------------------------------------------------------------------

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function need(b: Uint8Array, at: number, size: number, what: string): void {
  if (at < 0 || b.length < at + size) {
    throw new UvcError('EPROTO', `${what}: need ${size} bytes at offset ${at}, have ${Math.max(0, b.length - at)}`);
  }
}

function writeFixedString(b: Buffer, at: number, size: number, s: string, what: string): void {
  const bytes = Buffer.from(s, 'utf8');
  // The C side reads these as NUL-terminated strings: keep room for the terminator.
  if (bytes.length >= size) throw new UvcError('EINVAL', `${what} '${s}' is longer than ${size - 1} bytes`);
  b.fill(0, at, at + size);
  bytes.copy(b, at);
}

function readFixedString(b: Uint8Array, at: number, size: number): string {
  let end = at;
  while (end < at + size && b[end] !== 0) end++;
  return Buffer.from(b.buffer, b.byteOffset + at, end - at).toString('utf8');
}
