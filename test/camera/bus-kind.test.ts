/**
 * camera.info.bus: where the camera is, from the host controller's driver in sysfs (a fake sysfs tree here:
 * the machines that run the tests may have no USB at all).
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCamera } from '../../src/camera/index.js';
import { describeBus } from '../../src/camera/bus-kind.js';
import { VirtualCamera } from '../../src/virtual-camera/index.js';
import { small } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'uvc-sysfs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** /sys/bus/usb/devices/usbN → the root hub under its controller, whose driver link names the driver. */
function controller(bus: number, devicePath: string, driver: string): void {
  const device = join(root, 'devices', devicePath);
  mkdirSync(join(device, `usb${bus}`), { recursive: true });
  mkdirSync(join(root, 'bus', 'platform', 'drivers', driver), { recursive: true });
  symlinkSync(join(root, 'bus', 'platform', 'drivers', driver), join(device, 'driver'));
  mkdirSync(join(root, 'bus', 'usb', 'devices'), { recursive: true });
  symlinkSync(join(device, `usb${bus}`), join(root, 'bus', 'usb', 'devices', `usb${bus}`));
}

describe('where the camera is', () => {
  controller(1, 'pci0000:00/0000:00:14.0', 'xhci_hcd');
  controller(3, 'platform/vhci_hcd.0', 'vhci_hcd');
  controller(5, 'platform/dummy_hcd.0', 'dummy_hcd');

  it('reads the host controller driver: a local bus, USB/IP, a software controller; unknown without sysfs', () => {
    expect(describeBus('native', 1, root)).toEqual({ bus: 'local', hostController: 'xhci_hcd' });
    expect(describeBus('native', 3, root)).toEqual({ bus: 'usbip', hostController: 'vhci_hcd' });
    expect(describeBus('native', 5, root)).toEqual({ bus: 'virtual', hostController: 'dummy_hcd' });
    expect(describeBus('native', 9, root)).toEqual({ bus: 'unknown' });
    expect(describeBus('virtual', 1, root)).toEqual({ bus: 'virtual' });
  });

  it('says so in camera.info and in the assembly stats of the in-process host', async () => {
    const camera = await openCamera(new VirtualCamera({ pace: 'fast', formats: [small()] }));
    try {
      expect(camera.info.bus).toBe('virtual');
      const queue = camera.queue;
      queue.reqbufs(2);
      queue.qbuf(0);
      queue.qbuf(1);
      await queue.streamon();
      const first = await queue.dqbuf();
      queue.qbuf(first.index);
      await queue.dqbuf();
      expect(camera.stats.assembly).toMatchObject({ bus: 'virtual', fidMode: 'toggles' });
      await queue.streamoff();
    } finally {
      await camera.close();
    }
  });
});
