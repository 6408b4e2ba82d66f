/**
 * Byte layouts checked by hand against the kernel's headers and documents:
 * - drivers/usb/usbip/usbip_common.h: struct usbip_header_basic (5 × u32), usbip_header_cmd_submit, _ret_submit,
 *   _cmd_unlink, _ret_unlink (union padded to 28 bytes: header = 48), usbip_iso_packet_descriptor (4 × u32);
 * - tools/usb/usbip/src/usbip_network.h + libsrc/usbip_common.h: op_common (u16 version, u16 code, u32 status),
 *   op_import_request (busid[32]), usbip_usb_device (path[256], busid[32], busnum, devnum, speed, idVendor, …,
 *   bNumInterfaces: 312 bytes), usbip_usb_interface (class, subclass, protocol, padding);
 * - Documentation/usb/usbip_protocol.rst: the offset tables and the wire capture of an HID device's interrupt
 *   URBs at its end (the hex strings below are copied from that capture).
 */
import { describe, expect, it } from 'vitest';
import {
  ISO_DESCRIPTOR_SIZE,
  OpCode,
  OpStatus,
  URB_HEADER_SIZE,
  USB_DEVICE_SIZE,
  UrbCommand,
  cmdSubmitBodyLength,
  decodeDevlistReply,
  decodeImportReply,
  decodeImportRequest,
  decodeIsoDescriptor,
  decodeOpCommon,
  decodeUrbHeader,
  encodeCmdSubmit,
  encodeCmdUnlink,
  encodeDevlistReply,
  encodeDevlistRequest,
  encodeImportReply,
  encodeImportRequest,
  encodeIsoDescriptor,
  encodeRetSubmit,
  encodeRetUnlink,
  retSubmitBodyLength,
  type UsbipDeviceInfo,
} from '../../src/usbip/protocol.js';
import { isUvcError } from '../../src/errors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const webcam: UsbipDeviceInfo = {
  path: '/sys/devices/pci0000:00/0000:00:1d.1/usb3/3-2',
  busid: '3-2',
  busnum: 3,
  devnum: 4,
  speed: 3,
  idVendor: 0x046d,
  idProduct: 0x0825,
  bcdDevice: 0x0012,
  bDeviceClass: 0xef,
  bDeviceSubClass: 0x02,
  bDeviceProtocol: 0x01,
  bConfigurationValue: 1,
  bNumConfigurations: 1,
  bNumInterfaces: 2,
  interfaces: [
    { bInterfaceClass: 0x0e, bInterfaceSubClass: 0x01, bInterfaceProtocol: 0x00 },
    { bInterfaceClass: 0x0e, bInterfaceSubClass: 0x02, bInterfaceProtocol: 0x00 },
  ],
};

describe('usbipd handshake messages', () => {
  it('OP_REQ_DEVLIST is version 0x0111, code 0x8005, status 0', () => {
    expect(encodeDevlistRequest().toString('hex')).toBe('0111800500000000');
    expect(decodeOpCommon(hex('0111000500000000'))).toEqual({ version: 0x0111, code: OpCode.REP_DEVLIST, status: 0 });
  });

  it('OP_REQ_IMPORT carries the busid NUL-padded to 32 bytes at offset 8', () => {
    const b = encodeImportRequest('1-1');
    expect(b.length).toBe(40);
    expect(b.subarray(0, 8).toString('hex')).toBe('0111800300000000');
    expect(b.subarray(8, 11).toString('latin1')).toBe('1-1');
    expect(b.subarray(11).every((x) => x === 0)).toBe(true);
    expect(decodeImportRequest(b).busid).toBe('1-1');
  });

  it('a busid of 32 bytes does not fit (the C side needs its NUL)', () => {
    expect(() => encodeImportRequest('x'.repeat(32))).toThrow(/longer than 31/);
  });

  it('OP_REP_IMPORT lays out usbip_usb_device at the offsets of usbip_protocol.rst', () => {
    const b = encodeImportReply(OpStatus.OK, webcam);
    expect(b.length).toBe(8 + USB_DEVICE_SIZE);
    expect(USB_DEVICE_SIZE).toBe(0x138);
    expect(b.subarray(0, 8).toString('hex')).toBe('0111000300000000');
    expect(b.subarray(8, 8 + webcam.path.length).toString('latin1')).toBe(webcam.path);
    expect(b[8 + webcam.path.length]).toBe(0);
    expect(b.subarray(0x108, 0x10b).toString('latin1')).toBe('3-2');
    expect(b.readUInt32BE(0x128)).toBe(3); // busnum
    expect(b.readUInt32BE(0x12c)).toBe(4); // devnum
    expect(b.readUInt32BE(0x130)).toBe(3); // speed: USB_SPEED_HIGH
    expect(b.readUInt16BE(0x134)).toBe(0x046d);
    expect(b.readUInt16BE(0x136)).toBe(0x0825);
    expect(b.readUInt16BE(0x138)).toBe(0x0012);
    expect([...b.subarray(0x13a, 0x140)]).toEqual([0xef, 0x02, 0x01, 1, 1, 2]);
    const back = decodeImportReply(b);
    expect(back.device).toEqual({ ...webcam, interfaces: [] });
  });

  it('a failed OP_REP_IMPORT is the 8-byte op_common alone', () => {
    const b = encodeImportReply(OpStatus.NODEV);
    expect(b.toString('hex')).toBe('0111000300000004');
    expect(decodeImportReply(b)).toEqual({ header: { version: 0x0111, code: 3, status: 4 } });
  });

  it('OP_REP_DEVLIST: ndev, then each device and its interface records (0x0C + i·0x138 + m·4)', () => {
    const second: UsbipDeviceInfo = { ...webcam, busid: '1-1', busnum: 1, devnum: 2, bNumInterfaces: 1, interfaces: [webcam.interfaces[0]!] };
    const b = encodeDevlistReply([webcam, second]);
    expect(b.subarray(0, 8).toString('hex')).toBe('0111000500000000');
    expect(b.readUInt32BE(8)).toBe(2);
    expect(b.subarray(0x10c, 0x10f).toString('latin1')).toBe('3-2');
    expect(b.readUInt32BE(0x12c)).toBe(3);
    expect(b[0x143]).toBe(2); // bNumInterfaces
    expect([...b.subarray(0x144, 0x14c)]).toEqual([0x0e, 0x01, 0x00, 0, 0x0e, 0x02, 0x00, 0]);
    const secondAt = 0x0c + 0x138 + 2 * 4;
    expect(b.subarray(secondAt + 0x100, secondAt + 0x103).toString('latin1')).toBe('1-1');
    expect(b.length).toBe(secondAt + 0x138 + 4);
    const back = decodeDevlistReply(b);
    expect(back?.devices).toEqual([webcam, second]);
    expect(back?.size).toBe(b.length);
    expect(decodeDevlistReply(b.subarray(0, b.length - 1))).toBeUndefined();
  });

  it('refuses a device whose interface list disagrees with bNumInterfaces', () => {
    expect(() => encodeDevlistReply([{ ...webcam, bNumInterfaces: 3 }])).toThrow(/bNumInterfaces/);
  });
});

describe('URB messages', () => {
  // Documentation/usb/usbip_protocol.rst, "EXAMPLE": an HID device's interrupt IN and OUT URBs.
  const cmdIntrIn = hex('00000001 00000d05 0001000f 00000001 00000001 00000200 00000040 ffffffff 00000000 00000004 00000000 00000000');
  const cmdIntrOut = hex('00000001 00000d06 0001000f 00000000 00000001 00000000 00000040 ffffffff 00000000 00000004 00000000 00000000');
  const retIntrOut = hex('00000003 00000d06 00000000 00000000 00000000 00000000 00000040 ffffffff 00000000 00000000 00000000 00000000');
  const retIntrIn = hex('00000003 00000d05 00000000 00000000 00000000 00000000 00000040 ffffffff 00000000 00000000 00000000 00000000');

  it('decodes the documented interrupt IN CMD_SUBMIT', () => {
    expect(URB_HEADER_SIZE).toBe(48);
    expect(cmdIntrIn.length).toBe(48);
    const h = decodeUrbHeader(cmdIntrIn);
    expect(h).toEqual({
      command: UrbCommand.CMD_SUBMIT,
      seqnum: 0xd05,
      devid: 0x1000f,
      direction: 1,
      ep: 1,
      transferFlags: 0x200, // URB_DIR_IN
      transferBufferLength: 64,
      startFrame: -1,
      numberOfPackets: 0,
      interval: 4,
      setup: new Uint8Array(8),
    });
    if (h.command !== UrbCommand.CMD_SUBMIT) throw new Error('unreachable');
    expect(cmdSubmitBodyLength(h.direction, h.transferBufferLength, h.numberOfPackets)).toBe(0);
  });

  it('an OUT CMD_SUBMIT is followed by transfer_buffer_length data bytes', () => {
    const h = decodeUrbHeader(cmdIntrOut);
    if (h.command !== UrbCommand.CMD_SUBMIT) throw new Error('not CMD_SUBMIT');
    expect(h.direction).toBe(0);
    expect(cmdSubmitBodyLength(h.direction, h.transferBufferLength, h.numberOfPackets)).toBe(64);
  });

  it('encodes CMD_SUBMIT byte for byte like the capture', () => {
    const b = Buffer.alloc(48);
    encodeCmdSubmit(b, 0, {
      seqnum: 0xd06,
      devid: 0x1000f,
      direction: 0,
      ep: 1,
      transferFlags: 0,
      transferBufferLength: 64,
      startFrame: -1,
      numberOfPackets: 0,
      interval: 4,
      setup: new Uint8Array(8),
    });
    expect(b.equals(cmdIntrOut)).toBe(true);
  });

  it('encodes RET_SUBMIT byte for byte like the capture', () => {
    const b = Buffer.alloc(48, 0xee);
    encodeRetSubmit(b, 0, 0xd05, 0, 64, -1, 0, 0);
    expect(b.equals(retIntrIn)).toBe(true);
    encodeRetSubmit(b, 0, 0xd06, 0, 64, -1, 0, 0);
    expect(b.equals(retIntrOut)).toBe(true);
    const back = decodeUrbHeader(retIntrIn);
    expect(back).toMatchObject({ command: UrbCommand.RET_SUBMIT, seqnum: 0xd05, status: 0, actualLength: 64, startFrame: -1 });
  });

  it('negative statuses travel as two’s complement (-EPIPE = 0xffffffe0)', () => {
    const b = Buffer.alloc(48);
    encodeRetSubmit(b, 0, 7, -32, 0, 0, 0, 0);
    expect(b.subarray(20, 24).toString('hex')).toBe('ffffffe0');
    expect(decodeUrbHeader(b)).toMatchObject({ status: -32 });
  });

  it('CMD_UNLINK names its victim at offset 0x14; RET_UNLINK its status there', () => {
    const b = Buffer.alloc(48, 0xff);
    encodeCmdUnlink(b, 0, 0x10, 0x10002, 0x0f);
    expect(b.toString('hex')).toBe(`00000002 00000010 00010002 00000000 00000000 0000000f ${'00'.repeat(24)}`.replace(/\s/g, ''));
    expect(decodeUrbHeader(b)).toEqual({ command: 2, seqnum: 0x10, devid: 0x10002, direction: 0, ep: 0, unlinkSeqnum: 0x0f });
    encodeRetUnlink(b, 0, 0x10, -104);
    expect(b.toString('hex')).toBe(`00000004 00000010 00000000 00000000 00000000 ffffff98 ${'00'.repeat(24)}`.replace(/\s/g, ''));
    expect(decodeUrbHeader(b)).toMatchObject({ command: 4, seqnum: 0x10, status: -104 });
  });

  it('keeps the SETUP packet in USB (little-endian) order', () => {
    const b = Buffer.alloc(48);
    const setup = Uint8Array.of(0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00); // GET_DESCRIPTOR(device, 18)
    encodeCmdSubmit(b, 0, { seqnum: 1, devid: 0x10002, direction: 1, ep: 0, transferFlags: 0x200, transferBufferLength: 18, startFrame: 0, numberOfPackets: 0, interval: 0, setup });
    expect(b.subarray(40, 48).toString('hex')).toBe('8006000100001200');
  });

  it('iso packet descriptors are offset, length, actual_length, status (16 bytes)', () => {
    expect(ISO_DESCRIPTOR_SIZE).toBe(16);
    const b = Buffer.alloc(16);
    encodeIsoDescriptor(b, 0, 3072, 3072, 1000, -71);
    expect(b.toString('hex')).toBe('00000c00' + '00000c00' + '000003e8' + 'ffffffb9');
    expect(decodeIsoDescriptor(b, 0)).toEqual({ offset: 3072, length: 3072, actualLength: 1000, status: -71 });
  });

  it('body lengths: OUT data and iso descriptors after CMD_SUBMIT, IN data and descriptors after RET_SUBMIT', () => {
    expect(cmdSubmitBodyLength(1, 98304, 32)).toBe(32 * 16); // iso IN: descriptors only
    expect(cmdSubmitBodyLength(0, 3000, 3)).toBe(3000 + 48); // iso OUT: padded data + descriptors
    expect(cmdSubmitBodyLength(0, 64, -1)).toBe(64); // not iso per the document
    expect(retSubmitBodyLength(1, 5000, 32)).toBe(5000 + 512);
    expect(retSubmitBodyLength(0, 3000, 3)).toBe(48);
  });

  it('rejects an unknown command with EPROTO', () => {
    const b = Buffer.alloc(48);
    b.writeUInt32BE(9, 0);
    let err: unknown;
    try {
      decodeUrbHeader(b);
    } catch (e) {
      err = e;
    }
    expect(isUvcError(err, 'EPROTO')).toBe(true);
  });

  it('rejects truncated input with EPROTO instead of reading past the end', () => {
    expect(() => decodeUrbHeader(Buffer.alloc(47))).toThrow(/need 48 bytes/);
    expect(() => decodeIsoDescriptor(Buffer.alloc(20), 8)).toThrow(/need 16 bytes/);
  });
});
