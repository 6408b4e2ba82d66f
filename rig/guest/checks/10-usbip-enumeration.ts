/**
 * Debian's usbip tool finds our server (OP_REQ_DEVLIST), imports the device (OP_REQ_IMPORT) and the kernel
 * enumerates it through vhci_hcd as a high-speed device with the descriptors the model declares; detach
 * removes it and the server sees the host go.
 */
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { PATTERN_PID, PATTERN_PRODUCT, PATTERN_VID } from '../lib/pattern-device.js';
import { PATTERN_DEVICE_MODULE, ServedDevice } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, usbipList, waitForUsbDevice, waitForUsbDeviceGone } from '../lib/usb-host.js';
import { readFile } from 'node:fs/promises';

export const timeoutMs = 120_000;

export default async function check(ctx: CheckContext): Promise<void> {
  const served = await ServedDevice.start({ model: PATTERN_DEVICE_MODULE });
  try {
    const list = await usbipList();
    ctx.log(`usbip list -r 127.0.0.1:\n${list.trimEnd()}`);
    assert(/1-1: .*\(1209:0001\)/.test(list), 'usbip list does not show 1-1 (1209:0001)');
    assert(list.includes('(ff/01/00)'), 'usbip list does not show interface 1 (ff/01/00)');

    const mark = served.events.length;
    const port = await usbipAttach('1-1');
    ctx.log(`usbip attach took vhci port ${port}`);
    await served.waitEvent('attach', 120_000, mark);
    const dev = await waitForUsbDevice(PATTERN_VID, PATTERN_PID);
    ctx.log(`kernel enumerated ${dev.name}: bus ${dev.busnum} dev ${dev.devnum}, ${dev.speed} Mbps, '${dev.product}'`);
    assertEqual(dev.speed, 480, 'speed (Mbps)');
    assertEqual(dev.product, PATTERN_PRODUCT, 'product string');
    assertEqual((await readFile(`${dev.path}/bNumInterfaces`, 'utf8')).trim(), '2', 'bNumInterfaces');
    assertEqual((await readFile(`${dev.path}/bConfigurationValue`, 'utf8')).trim(), '1', 'bConfigurationValue (set by the kernel)');

    const lsusb = (await run('lsusb', ['-v', '-d', '1209:0001'], { allowFailure: true })).stdout;
    const isoLines = lsusb.split('\n').filter((l) => /wMaxPacketSize|Transfer Type|bAlternateSetting/.test(l));
    ctx.log(`lsusb -v (endpoints):\n${isoLines.map((l) => `  ${l.trim()}`).join('\n')}`);
    assert(/bcdUSB\s+2\.00/.test(lsusb), 'lsusb: bcdUSB 2.00 missing');
    assert(/0x1400\s+3x 1024 bytes/.test(lsusb), 'lsusb: the 3x1024 high-bandwidth iso endpoint is missing');
    assert(/Transfer Type\s+Interrupt/.test(lsusb), 'lsusb: interrupt endpoint missing');
    assert(/Device Qualifier/.test(lsusb), 'lsusb: device qualifier missing');

    const ports = (await run('usbip', ['port'])).stdout;
    ctx.log(`usbip port:\n${ports.trimEnd()}`);
    assert(/High Speed\(480Mbps\)/.test(ports), 'usbip port does not show a high-speed device');

    const beforeDetach = served.events.length;
    await usbipDetach(port);
    const detach = await served.waitEvent('detach', 120_000, beforeDetach);
    ctx.log(`server saw detach: ${String(detach.reason)}`);
    assertEqual(detach.reason, 'host-closed', 'detach reason');
    await waitForUsbDeviceGone(PATTERN_VID, PATTERN_PID);
  } finally {
    await served.stop();
  }
}
