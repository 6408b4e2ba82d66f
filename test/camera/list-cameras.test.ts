import { describe, expect, it } from 'vitest';
import { describeCameras, udevRuleFor } from '../../src/camera/list-cameras.js';
import type { UsbDeviceFacts } from '../../src/camera/usb-enumeration.js';

// VC header: bLength 13, CS_INTERFACE, HEADER, bcdUVC 0x0150, …
const VC_HEADER_15 = Uint8Array.from([13, 0x24, 0x01, 0x50, 0x01, 0x40, 0x00, 0x00, 0x6c, 0xdc, 0x02, 0x01, 0x01]);

function facts(overrides: Partial<UsbDeviceFacts> = {}): UsbDeviceFacts {
  return {
    busNumber: 1,
    deviceAddress: 4,
    portPath: '1-2.3',
    vendorId: 0x046d,
    productId: 0x0825,
    deviceClass: 0xef,
    speed: 'high',
    manufacturer: 'Acme',
    product: 'Webcam',
    serial: 'ABC',
    interfaces: [
      { interfaceNumber: 0, altSetting: 0, interfaceClass: 0x0e, interfaceSubClass: 1, extra: VC_HEADER_15 },
      { interfaceNumber: 1, altSetting: 0, interfaceClass: 0x0e, interfaceSubClass: 2, extra: new Uint8Array(0) },
      { interfaceNumber: 1, altSetting: 1, interfaceClass: 0x0e, interfaceSubClass: 2, extra: new Uint8Array(0) },
      { interfaceNumber: 2, altSetting: 0, interfaceClass: 0x01, interfaceSubClass: 1, extra: new Uint8Array(0) },
    ],
    access: 'ok',
    ...overrides,
  };
}

describe('describeCameras', () => {
  it('keeps only UVC devices and reads ids, names, version and interfaces', () => {
    const keyboard = facts({ portPath: '1-1', interfaces: [{ interfaceNumber: 0, altSetting: 0, interfaceClass: 3, interfaceSubClass: 1, extra: new Uint8Array(0) }] });
    const [camera, ...rest] = describeCameras([keyboard, facts()]);
    expect(rest).toEqual([]);
    expect(camera).toMatchObject({
      id: '1-2.3',
      vendorId: 0x046d,
      productId: 0x0825,
      manufacturer: 'Acme',
      product: 'Webcam',
      serial: 'ABC',
      speed: 'high',
      uvcVersion: '1.50',
      controlInterface: 0,
      streamingInterfaces: [1],
      kernelDrivers: [],
      access: 'ok',
    });
    expect(camera!.problem).toBeUndefined();
  });

  it('explains a permission problem with the udev rule to add', () => {
    const [camera] = describeCameras([facts({ access: 'denied' })]);
    expect(camera!.problem).toContain('/dev/bus/usb/001/004');
    expect(camera!.problem).toContain(udevRuleFor(0x046d, 0x0825));
    expect(udevRuleFor(0x046d, 0x0825)).toBe('SUBSYSTEM=="usb", ATTR{idVendor}=="046d", ATTR{idProduct}=="0825", MODE="0660", TAG+="uaccess"');
  });

  it('says a bound kernel driver will be detached', () => {
    const base = facts();
    base.interfaces[0]!.kernelDriver = 'uvcvideo';
    base.interfaces[1]!.kernelDriver = 'uvcvideo';
    const [camera] = describeCameras([base]);
    expect(camera!.kernelDrivers).toEqual(['uvcvideo']);
    expect(camera!.problem).toMatch(/uvcvideo is bound.*detaches it.*re-attaches it on close/);
  });

  it('survives a VC header it cannot read', () => {
    const broken = facts();
    broken.interfaces[0]!.extra = Uint8Array.from([0, 0x24, 1, 0, 1]);
    const [camera] = describeCameras([broken]);
    expect(camera!.uvcVersion).toBeUndefined();
  });
});
