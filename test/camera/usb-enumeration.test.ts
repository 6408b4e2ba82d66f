/**
 * Listing cameras from sysfs (what libusb's Linux backend and udev read), on a tree built from a real camera's
 * descriptors (the Logitech C270 fixture): ids, names, speed, the active configuration's interfaces with their
 * class-specific descriptors, the bound kernel driver, and whether this process may open the usbfs node. The
 * kernel rig checks the same against a real kernel (rig/guest/checks/70-driver-over-kernel.ts).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeCameras, isUvcDevice } from '../../src/camera/list-cameras.js';
import { activeConfiguration, enumerateUsbDevices, interfacesOf, usbVisibilityProblem } from '../../src/camera/usb-enumeration.js';
import { readHex } from '../uvc/helpers/fixtures.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'uvc-sysfs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const C270_DEVICE = readHex('esp_logitech_c270.dev_desc.hex');
const C270_CONFIG = readHex('esp_logitech_c270.cfg_desc.hex');
// A root hub: device class 9, one configuration with one hub interface.
const HUB = Uint8Array.from([
  18, 1, 0x00, 0x02, 9, 0, 1, 64, 0x6b, 0x1d, 0x02, 0x00, 0x00, 0x06, 3, 2, 1, 1,
  9, 2, 25, 0, 1, 1, 0, 0xe0, 0,
  9, 4, 0, 0, 1, 9, 0, 0, 0,
  7, 5, 0x81, 3, 4, 0, 12,
]);

function device(sysfs: string, name: string, files: Record<string, string | Uint8Array>): string {
  const dir = path.join(sysfs, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) writeFileSync(path.join(dir, file), content);
  return dir;
}

function tree(withNode: boolean): { sysfs: string; devfs: string } {
  const root = mkdtempSync(path.join(work, 'tree-'));
  const sysfs = path.join(root, 'sys', 'bus', 'usb', 'devices');
  const devfs = path.join(root, 'dev', 'bus', 'usb');
  mkdirSync(path.join(devfs, '001'), { recursive: true });
  device(sysfs, 'usb1', { busnum: '1\n', devnum: '1\n', descriptors: HUB, bConfigurationValue: '1\n', speed: '480\n', product: 'EHCI Host Controller\n' });
  const camera = device(sysfs, '1-2.3', {
    busnum: '1\n',
    devnum: '4\n',
    descriptors: Uint8Array.from([...C270_DEVICE, ...C270_CONFIG]),
    bConfigurationValue: '1\n',
    speed: '480\n',
    product: 'C270 HD WEBCAM\n',
    serial: '200901010001\n',
  });
  // Interfaces have directories of their own beside the devices ('1-2.3:1.0'); the driver link is in them.
  const drivers = path.join(root, 'sys', 'bus', 'usb', 'drivers', 'uvcvideo');
  mkdirSync(drivers, { recursive: true });
  for (const number of [0, 1]) {
    mkdirSync(path.join(camera, `1-2.3:1.${number}`));
    symlinkSync(drivers, path.join(camera, `1-2.3:1.${number}`, 'driver'));
    symlinkSync(path.join(camera, `1-2.3:1.${number}`), path.join(sysfs, `1-2.3:1.${number}`));
  }
  if (withNode) writeFileSync(path.join(devfs, '001', '004'), '');
  return { sysfs, devfs };
}

describe('USB enumeration from sysfs', () => {
  it('finds the camera among the devices: ids, names, speed, interfaces, UVC version, kernel driver, access', () => {
    const roots = tree(true);
    const devices = enumerateUsbDevices(isUvcDevice, roots);
    // Devices only ('1-2.3', the root hub 'usb1'), not the interfaces' entries ('1-2.3:1.0').
    expect(devices.map((d) => [d.portPath, d.busNumber, d.deviceAddress, d.deviceClass]).sort()).toEqual([
      ['1', 1, 1, 9],
      ['1-2.3', 1, 4, 0xef],
    ]);
    const [camera] = describeCameras(devices);
    expect(camera).toMatchObject({
      id: '1-2.3',
      busNumber: 1,
      deviceAddress: 4,
      vendorId: 0x046d,
      productId: 0x0825,
      product: 'C270 HD WEBCAM',
      serial: '200901010001',
      speed: 'high',
      uvcVersion: '1.00',
      controlInterface: 0,
      streamingInterfaces: [1],
      kernelDrivers: ['uvcvideo'],
      access: 'ok',
    });
    expect(camera!.problem).toMatch(/^kernel driver uvcvideo is bound to it/);
  });

  it('a missing device node is said plainly (a container without /dev/bus/usb)', () => {
    const roots = tree(false);
    const [camera] = describeCameras(enumerateUsbDevices(isUvcDevice, roots));
    expect(camera!.access).toBe('unknown');
    expect(camera!.problem).toBe(`cannot be opened: ${path.join(roots.devfs, '001', '004')} does not exist: the device node is missing`);
    rmSync(roots.devfs, { recursive: true });
    const [again] = describeCameras(enumerateUsbDevices(isUvcDevice, roots));
    expect(again!.problem).toMatch(/there is no .*dev\/bus\/usb here \(a container without the USB devices passed in\?\)$/);
    expect(usbVisibilityProblem(roots)).toMatch(/^there is no .*dev\/bus\/usb here: a container without the USB devices passed in\?/);
    expect(usbVisibilityProblem({ sysfs: path.join(work, 'none'), devfs: roots.devfs })).toMatch(/shows no USB bus$/);
  });

  it.skipIf(process.getuid?.() === 0)('a node this user may not open is access denied (needs a non-root user)', () => {
    const roots = tree(true);
    chmodSync(path.join(roots.devfs, '001', '004'), 0o600);
    chmodSync(path.join(roots.devfs, '001', '004'), 0o000);
    const [camera] = describeCameras(enumerateUsbDevices(isUvcDevice, roots));
    expect(camera!.access).toBe('denied');
    expect(camera!.problem).toContain('permission denied opening /dev/bus/usb/001/004');
  });

  it('reads the active configuration of several, and survives truncated descriptors', () => {
    const second = Uint8Array.from([9, 2, 18, 0, 1, 2, 0, 0x80, 50, 9, 4, 0, 0, 0, 0xff, 0, 0, 0]);
    const all = Uint8Array.from([...C270_DEVICE, ...C270_CONFIG, ...second]);
    expect(activeConfiguration(all, 1)).toEqual(C270_CONFIG);
    expect(activeConfiguration(all, 2)).toEqual(second);
    expect(activeConfiguration(all, 3)).toBeNull();
    expect(interfacesOf(second)).toEqual([{ interfaceNumber: 0, altSetting: 0, interfaceClass: 0xff, interfaceSubClass: 0, extra: new Uint8Array(0) }]);
    // Cut anywhere, the walk stops at the cut and keeps what it read.
    for (let cut = 0; cut < C270_CONFIG.length; cut += 37) expect(() => interfacesOf(C270_CONFIG.subarray(0, cut))).not.toThrow();
    const vc = interfacesOf(C270_CONFIG)[0]!;
    expect([vc.interfaceClass, vc.interfaceSubClass, vc.extra[1], vc.extra[2]]).toEqual([0x0e, 1, 0x24, 1]);
  });
});
