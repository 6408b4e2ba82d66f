import { describe, expect, it } from 'vitest';
import { TransferStatus, type CompletedTransfer } from '../../src/transport/usb-transport.js';
import { openVirtualDevice } from '../../src/transport/virtual/virtual-transport.js';
import { describeTransportConformance } from './conformance.js';
import { TestDevice } from './helpers/test-device.js';

describeTransportConformance('in-process host', {
  async open() {
    const device = new TestDevice();
    const transport = await openVirtualDevice(device);
    return { transport, device, openAgain: () => openVirtualDevice(device) };
  },
});

describe('in-process host specifics', () => {
  it('enumerates like usbcore: address, device descriptor, configuration header then whole, configuration', async () => {
    const device = new TestDevice();
    const transport = await openVirtualDevice(device, { busNumber: 3, deviceAddress: 7 });
    expect(device.requests.map((r) => [r.bmRequestType, r.bRequest, r.wValue, r.wLength])).toEqual([
      [0x00, 0x05, 7, 0],
      [0x80, 0x06, 0x0100, 18],
      [0x80, 0x06, 0x0200, 9],
      [0x80, 0x06, 0x0200, 57],
      [0x00, 0x09, 1, 0],
    ]);
    expect(transport.info).toMatchObject({ busNumber: 3, deviceAddress: 7, portPath: '3-7', vendorId: 0x1209, productId: 0x0002 });
    expect(transport.kind).toBe('virtual');
    await transport.close();
  });

  it('refuses to open an unplugged device', async () => {
    const device = new TestDevice();
    device.unplug();
    await expect(openVirtualDevice(device)).rejects.toMatchObject({ code: 'ENODEV' });
  });

  it('lets a new handle claim again once the device was unplugged', async () => {
    const device = new TestDevice();
    const first = await openVirtualDevice(device);
    await first.claimInterface(1);
    device.unplug();
    device.attached = true; // replugged
    const second = await openVirtualDevice(device);
    await second.claimInterface(1);
    await first.close();
    await second.close();
  });

  it('gives every transfer its own abort signal: 24 in flight raise no MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const device = new TestDevice();
      const transport = await openVirtualDevice(device);
      await transport.claimInterface(0);
      await transport.setAltSetting(0, 1);
      let completions = 0;
      const stream = transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 24, packetsPerTransfer: 2, packetSize: 1024 }, (t) => {
        completions++;
        t.release();
      });
      while (completions < 100) await new Promise((resolve) => setTimeout(resolve, 2));
      await stream.stop();
      await transport.close();
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  });

  it('hands completions over from the event loop: a device that answers every transfer at once starves no timer', async () => {
    // A device whose iso requests complete the moment they are submitted (a 'fast' virtual camera with its frames
    // cached does this). Were completions promise continuations, complete → release → resubmit would never yield.
    const device = new TestDevice();
    device.transfer = async (request) => {
      device.transfersSeen++;
      if (!device.attached) return { status: 'no_device', actualLength: 0, startFrame: 0 };
      if (request.signal?.aborted) return { status: 'cancelled', actualLength: 0, startFrame: 0 };
      request.iso!.actual.fill(0);
      request.iso!.status.fill(0);
      return { status: 'ok', actualLength: 0, startFrame: 0 };
    };
    const transport = await openVirtualDevice(device);
    await transport.claimInterface(0);
    await transport.setAltSetting(0, 1);
    let completions = 0;
    let completionsWhenTimerFired = -1;
    const stream = transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 4, packetsPerTransfer: 2, packetSize: 1024 }, (t) => {
      completions++;
      if (completions === 1) setTimeout(() => (completionsWhenTimerFired = completions), 0);
      // Bounded, so that a starving host fails this test instead of hanging it.
      if (completions < 20_000) t.release();
    });
    while (completions < 20_000 && completionsWhenTimerFired < 0) await new Promise((resolve) => setImmediate(resolve));
    await stream.stop();
    await transport.close();
    expect(completionsWhenTimerFired, 'a 0 ms timer set at the first completion never fired while the stream ran').toBeGreaterThan(0);
    expect(completionsWhenTimerFired).toBeLessThan(20_000);
  });

  it('never sends a transfer to a device replugged after the one it was started on', async () => {
    const device = new TestDevice();
    const transport = await openVirtualDevice(device);
    await transport.claimInterface(0);
    await transport.setAltSetting(0, 1);
    let held: CompletedTransfer | undefined;
    const statuses: number[] = [];
    const stream = transport.startStream({ endpoint: 0x81, type: 'iso', transfers: 2, packetsPerTransfer: 2, packetSize: 1024 }, (t) => {
      statuses.push(t.status);
      if (held === undefined && t.status === TransferStatus.COMPLETED) held = t; // keep one in JavaScript
      else t.release();
    });
    while (held === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
    // Unplug and replug in the same tick, then give the held transfer back.
    device.unplug();
    device.replug();
    const seenAtReplug = device.transfersSeen;
    held.release();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(device.transfersSeen).toBe(seenAtReplug);
    expect(statuses).toContain(TransferStatus.NO_DEVICE);
    expect(transport.isDisconnected).toBe(true);
    await stream.stop();
    await transport.close();
  });
});
