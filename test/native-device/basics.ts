// Opening, identity, descriptors and control transfers on a real device.
import { describe, expect, it } from 'vitest';

import { UvcError } from '../../src/errors.js';
import { openNativeDevice } from '../../src/transport/native/index.js';
import { spawnSync } from 'node:child_process';

import { resolveNativeAddon } from '../../src/transport/native/load-addon.js';
import { interfaceDriver, interfaceNumbers, isoPlan, parseConfig, until, uvcProbeLength, type TestDevice } from './device-under-test.js';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UvcError);
    return (error as UvcError).code;
  }
  return 'resolved';
}

export function basics(device: TestDevice): void {
  describe('opening and control transfers', () => {
    it('opens by bus and address, with the identity and descriptors the kernel has', async () => {
      const t = await openNativeDevice({ busNumber: device.busNumber, deviceAddress: device.deviceAddress });
      try {
        expect(t.info).toMatchObject({
          busNumber: device.busNumber,
          deviceAddress: device.deviceAddress,
          portPath: device.portPath,
          vendorId: device.vendorId,
          productId: device.productId,
        });
        expect(['low', 'full', 'high', 'super', 'super-plus']).toContain(t.info.speed);
        expect(t.deviceDescriptor()).toEqual(device.sysfsDescriptors.subarray(0, 18));
        // The kernel keeps every configuration descriptor raw after the device descriptor; ours is read from the
        // device at open, and must be the same bytes (for the first configuration, the usual active one).
        const config = t.configDescriptor();
        const total = config[2]! | (config[3]! << 8);
        expect(config).toHaveLength(total);
        expect(config).toEqual(device.sysfsDescriptors.subarray(18, 18 + total));
        expect(t.isOpen).toBe(true);
        expect(t.isDisconnected).toBe(false);
      } finally {
        await t.close();
      }
    });

    it('opens by port path', async () => {
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        expect(t.info.deviceAddress).toBe(device.deviceAddress);
      } finally {
        await t.close();
      }
    });

    it('reads string descriptors', async () => {
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        const iProduct = t.deviceDescriptor()[15]!;
        expect(iProduct).toBeGreaterThan(0);
        expect(await t.getStringDescriptor(iProduct)).toBe(device.product);
      } finally {
        await t.close();
      }
    });

    it('does IN and OUT control transfers, and reports a stall as EPIPE', async () => {
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        const status = await t.controlTransferIn({ bmRequestType: 0x80, bRequest: 0x00, wValue: 0, wIndex: 0 }, 2);
        expect(status).toHaveLength(2);
        // Asking for more than there is returns what the device has.
        const descriptor = await t.controlTransferIn({ bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0 }, 255);
        expect(descriptor).toEqual(device.sysfsDescriptors.subarray(0, 18));
        // OUT without a data stage: SET_INTERFACE to the alt setting interface 0 is in (0 after claim).
        await t.claimInterface(0);
        expect(await t.controlTransferOut({ bmRequestType: 0x01, bRequest: 0x0b, wValue: 0, wIndex: 0 }, new Uint8Array(0))).toBe(0);
        // OUT with a data stage, on UVC cameras: write the streaming interface's probe control back as it is.
        const plan = isoPlan(t.configDescriptor());
        if (plan.uvc) {
          await t.claimInterface(plan.interfaceNumber);
          const probe = await t.controlTransferIn({ bmRequestType: 0xa1, bRequest: 0x81, wValue: 0x0100, wIndex: plan.interfaceNumber }, uvcProbeLength(t.configDescriptor()));
          expect(await t.controlTransferOut({ bmRequestType: 0x21, bRequest: 0x01, wValue: 0x0100, wIndex: plan.interfaceNumber }, probe)).toBe(probe.length);
        }
        // A descriptor type no device has: USB 2.0 §9.4 says Request Error, a STALL.
        expect(await codeOf(t.controlTransferIn({ bmRequestType: 0x80, bRequest: 0x06, wValue: 0x7700, wIndex: 0 }, 8))).toBe('EPIPE');
        // The endpoint recovers from a control stall by itself: the next request works.
        expect(await t.controlTransferIn({ bmRequestType: 0x80, bRequest: 0x00, wValue: 0, wIndex: 0 }, 2)).toHaveLength(2);
      } finally {
        await t.close();
      }
    });

    it('runs many control transfers concurrently, each settling once', async () => {
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        const results = await Promise.all(
          Array.from({ length: 40 }, () => t.controlTransferIn({ bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0100, wIndex: 0 }, 18)),
        );
        for (const r of results) expect(r).toEqual(device.sysfsDescriptors.subarray(0, 18));
      } finally {
        await t.close();
      }
    });

    it('fails every call after close with EBADF, and closes again harmlessly', async () => {
      const t = await openNativeDevice({ portPath: device.portPath });
      // Close cancels what is still in flight; a fast device may have answered first.
      const pending = t
        .controlTransferIn({ bmRequestType: 0x80, bRequest: 0x06, wValue: 0x0200, wIndex: 0 }, 255)
        .then((d) => d.length > 0, (e: UvcError) => e.code);
      await t.close();
      expect(await pending).toSatisfy((r: unknown) => r === true || r === 'ECANCELED');
      expect(t.isOpen).toBe(false);
      expect(await codeOf(t.controlTransferIn({ bmRequestType: 0x80, bRequest: 0, wValue: 0, wIndex: 0 }, 2))).toBe('EBADF');
      expect(await codeOf(t.claimInterface(0))).toBe('EBADF');
      expect(await codeOf(t.setAltSetting(0, 0))).toBe('EBADF');
      expect(await codeOf(t.clearHalt(0x81))).toBe('EBADF');
      expect(() => t.startStream({ endpoint: 0x81, type: 'iso', transfers: 1, packetsPerTransfer: 1, packetSize: 8 }, () => {})).toThrow(
        expect.objectContaining({ code: 'EBADF' }),
      );
      await t.close();
    });

    it('claims an interface twice (idempotent), releases it, and refuses to release it again', async () => {
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        await t.claimInterface(0);
        await t.claimInterface(0);
        await t.releaseInterface(0);
        expect(await codeOf(t.releaseInterface(0))).toBe('EINVAL');
        expect(await codeOf(t.setAltSetting(0, 0))).toBe('EINVAL');
        expect(await codeOf(t.claimInterface(32))).toBe('EINVAL');
      } finally {
        await t.close();
      }
    });

    // libusb reports both as NOT_FOUND; the UsbTransport contract (and the in-process host) says EINVAL.
    it('refuses an interface or an alt setting the configuration does not have with EINVAL', async () => {
      const numbers = interfaceNumbers(device);
      const alts = parseConfig(device.sysfsDescriptors.subarray(18)).filter((a) => a.interfaceNumber === numbers[0]!);
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        expect(await codeOf(t.claimInterface(Math.max(...numbers) + 1))).toBe('EINVAL');
        await t.claimInterface(numbers[0]!);
        expect(await codeOf(t.setAltSetting(numbers[0]!, Math.max(...alts.map((a) => a.altSetting)) + 1))).toBe('EINVAL');
        await t.setAltSetting(numbers[0]!, 0); // and the interface still works
      } finally {
        await t.close();
      }
    });

    it('detaches a bound kernel driver on claim, and re-attaches it on release, on close and at process.exit()', { timeout: 300_000 }, async (context) => {
      const drivers = interfaceNumbers(device).map((n) => ({ n, driver: interfaceDriver(device, n) }));
      const bound = drivers.find((d) => d.driver !== undefined && d.driver !== 'usbfs');
      if (bound === undefined) context.skip('no kernel driver is bound to an interface of the test device');
      const { n, driver } = bound!;
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        await t.claimInterface(n);
        expect(interfaceDriver(device, n)).toBe('usbfs');
        await t.releaseInterface(n);
        expect(interfaceDriver(device, n)).toBe(driver);
        await t.claimInterface(n);
      } finally {
        await t.close();
      }
      expect(interfaceDriver(device, n)).toBe(driver);
      // process.exit() runs no cleanup hooks; the addon's exit handler re-attaches.
      const child = spawnSync(
        process.execPath,
        ['-e', `const a = require(process.env.ADDON); a.openDevice(${device.busNumber}, ${device.deviceAddress}).then((d) => d.claimInterface(${n})).then(() => process.exit(0));`],
        { encoding: 'utf8', timeout: 240_000, env: { ...process.env, ADDON: resolveNativeAddon().path } },
      );
      expect(child).toMatchObject({ status: 0, signal: null });
      expect(interfaceDriver(device, n)).toBe(driver);
    });

    // A driver that spans interfaces (uvcvideo: bound to video control, claiming the streaming interfaces from its
    // probe) must find them all free when it is given back, on close and at process.exit() alike.
    it('gives every interface back to its kernel driver when several were claimed, on close and at process.exit()', { timeout: 300_000 }, async (context) => {
      const before = interfaceNumbers(device).map((n) => ({ n, driver: interfaceDriver(device, n) }));
      const bound = before.filter((d) => d.driver !== undefined && d.driver !== 'usbfs');
      if (bound.length < 2) context.skip('fewer than two interfaces of the test device have a kernel driver');
      const driversNow = (): string => JSON.stringify(before.map(({ n }) => ({ n, driver: interfaceDriver(device, n) })));
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        for (const { n } of bound) await t.claimInterface(n);
        for (const { n } of bound) expect(interfaceDriver(device, n)).toBe('usbfs');
      } finally {
        await t.close();
      }
      // A driver re-binding from its own probe may take a moment after close() (uvcvideo's is slow under emulation).
      await until(() => driversNow() === JSON.stringify(before), 'the kernel drivers to be back after close()').catch(() => undefined);
      expect(driversNow()).toBe(JSON.stringify(before));
      const claims = bound.map(({ n }) => `.then(() => d.claimInterface(${n}))`).join('');
      const child = spawnSync(
        process.execPath,
        ['-e', `const a = require(process.env.ADDON); let d; a.openDevice(${device.busNumber}, ${device.deviceAddress}).then((x) => (d = x))${claims}.then(() => process.exit(0));`],
        { encoding: 'utf8', timeout: 240_000, env: { ...process.env, ADDON: resolveNativeAddon().path } },
      );
      expect(child).toMatchObject({ status: 0, signal: null });
      await until(() => driversNow() === JSON.stringify(before), 'the kernel drivers to be back after process.exit()').catch(() => undefined);
      expect(driversNow()).toBe(JSON.stringify(before));
    });

    it('re-attaches nothing to an interface that had no kernel driver', async (context) => {
      const free = interfaceNumbers(device).find((n) => interfaceDriver(device, n) === undefined);
      if (free === undefined) context.skip('every interface of the test device has a kernel driver');
      const t = await openNativeDevice({ portPath: device.portPath });
      try {
        await t.claimInterface(free!);
        await t.releaseInterface(free!);
        expect(interfaceDriver(device, free!)).toBeUndefined();
      } finally {
        await t.close();
      }
    });
  });
}
