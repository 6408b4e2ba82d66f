/**
 * attachToVhci: the model plugged straight into vhci_hcd through its sysfs `attach` file with one end of a
 * loopback TCP connection (no usbipd, no usbip tool). The kernel enumerates it, data flows, and vhci's
 * `detach` ends the session.
 */
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { startIsoReader } from '../lib/iso-reader.js';
import { controlIn, openDevice } from '../lib/node-usb.js';
import { PATTERN_PID, PATTERN_VID, PatternRequest, echoByte } from '../lib/pattern-device.js';
import { PATTERN_DEVICE_MODULE, ServedDevice } from '../lib/served-device.js';
import { waitForUsbDevice, waitForUsbDeviceGone } from '../lib/usb-host.js';

export const timeoutMs = 120_000;

export default async function check(ctx: CheckContext): Promise<void> {
  const served = await ServedDevice.start({ model: PATTERN_DEVICE_MODULE, vhci: true });
  try {
    const attached = served.events.find((e) => e.event === 'attach');
    ctx.log(`attached through sysfs on vhci port ${String(attached?.port)}`);
    const dev = await waitForUsbDevice(PATTERN_VID, PATTERN_PID);
    assertEqual(dev.speed, 480, 'speed');
    ctx.log(`enumerated as ${dev.name}`);
    const device = await openDevice(PATTERN_VID, PATTERN_PID);
    const echo = await controlIn(device, 0xc0, PatternRequest.ECHO, 3, 0, 64);
    assertEqual(echo[63], echoByte(3, 63), 'ECHO byte 63');
    device.close();
    const iso = await startIsoReader({ toolsDir: ctx.toolsDir, alt: 3, count: 40 }).done;
    assert(iso.ok, `iso over the direct attach: ${iso.result}`);
    ctx.log(`control and iso (${iso.result}) over the direct attach`);

    const mark = served.events.length;
    await served.command('detach');
    const detach = await served.waitEvent('detach', 120_000, mark);
    assertEqual(detach.reason, 'host-closed', 'session end after vhci detach');
    await waitForUsbDeviceGone(PATTERN_VID, PATTERN_PID);
    ctx.log('vhci detach: session ended, device gone');

    // Plug in again through the same path.
    await served.command('attach');
    await waitForUsbDevice(PATTERN_VID, PATTERN_PID);
    await served.command('detach');
    await waitForUsbDeviceGone(PATTERN_VID, PATTERN_PID);
    ctx.log('detached, attached again, detached');
  } finally {
    await served.stop();
  }
}
