import { describe, expect, it } from 'vitest';
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
});
