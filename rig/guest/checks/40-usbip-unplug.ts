/**
 * Unplug mid-stream, both ways. Host side: `usbip detach` while iso and bulk transfers are in flight; libusb
 * gets NO_DEVICE promptly, nothing hangs, the server sees the host go (aborting what was pending) and the device
 * can be attached again and streams. Device side: the model unplugs mid-stream; the server closes the
 * connection, the kernel drops the device, libusb sees NO_DEVICE; after replug it is imported again.
 *
 * What may happen to the iso transfers in flight is exact, not hoped for: each ends NO_DEVICE, except that one
 * may end LIBUSB_TRANSFER_ERROR: the transfer whose RET_SUBMIT vhci_hcd was in the middle of receiving when the
 * connection went down (vhci_rx.c gives it back -EPROTO after "recv xbuf" / "recv iso_frame_descriptor"). That
 * one is allowed only after the unplug began (iso-reader is told the moment), at most once, and only with the
 * kernel's own log line for it.
 */
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { startIsoReader, type IsoReaderRun } from '../lib/iso-reader.js';
import { claim, errnoOf, inEndpoint, openDevice, readIn, transferStatusName } from '../lib/node-usb.js';
import { PATTERN_PID, PATTERN_VID, PatternEndpoint } from '../lib/pattern-device.js';
import { PATTERN_DEVICE_MODULE, ServedDevice } from '../lib/served-device.js';
import { kernelLog, kernelLogSince, usbipAttach, usbipDetach, waitForUsbDevice, waitForUsbDeviceGone } from '../lib/usb-host.js';

export const timeoutMs = 180_000;

async function streamUntilGone(ctx: CheckContext, unplug: () => Promise<void>, what: string): Promise<void> {
  const device = await openDevice(PATTERN_VID, PATTERN_PID);
  const silent = inEndpoint(claim(device, 0), PatternEndpoint.SILENT_IN);
  const pendingBulk = readIn(silent, 512).then(() => undefined, errnoOf);
  const reader: IsoReaderRun = startIsoReader({ toolsDir: ctx.toolsDir, alt: 3, transfers: 4, packets: 32, untilGone: 120 });
  await Promise.race([reader.streaming, reader.done.then((r) => Promise.reject(new Error(`iso-reader ended before streaming: ${r.result}`)))]);
  const logBefore = await kernelLog();
  reader.markUnplug();
  const t0 = performance.now();
  await unplug();
  const iso = await reader.done;
  const isoMs = performance.now() - t0;
  const bulk = await pendingBulk;
  const bulkMs = performance.now() - t0;
  ctx.log(`${what}: iso-reader saw the device go after ${isoMs.toFixed(0)} ms (${iso.lines.filter((l) => l.startsWith('completed=')).join('')}); pending bulk IN ended ${transferStatusName(bulk)} after ${bulkMs.toFixed(0)} ms`);
  assert(iso.ok, `${what}: iso-reader: ${iso.result}\n${iso.lines.join('\n')}`);
  assertEqual(iso.values.gone, 1, `${what}: iso-reader gone flag`);
  if (iso.values.errors_after_unplug === 1) {
    const cut = (await kernelLogSince(logBefore)).filter(isReceiveCut);
    ctx.log(`${what}: one iso transfer ended LIBUSB_TRANSFER_ERROR after the unplug began; the kernel: ${cut.join(' | ') || '(nothing)'}`);
    assert(cut.length > 0, `${what}: an iso transfer ended in error after the unplug, but vhci_hcd logged no cut-off receive`);
  }
  assertEqual(transferStatusName(bulk), 'NO_DEVICE', `${what}: the pending bulk transfer`);
  device.close();
}

/** vhci_hcd's line for a RET_SUBMIT whose data or iso descriptors were cut off by the connection going down. */
function isReceiveCut(line: string): boolean {
  return /recv (xbuf|iso_frame_descriptor), -?\d+/.test(line);
}

export default async function check(ctx: CheckContext): Promise<void> {
  const served = await ServedDevice.start({ model: PATTERN_DEVICE_MODULE });
  let port: number | undefined;
  try {
    // 1. usbip detach while streaming.
    port = await usbipAttach('1-1');
    await waitForUsbDevice(PATTERN_VID, PATTERN_PID);
    ctx.log(`attached on port ${port}`);
    const mark = served.events.length;
    const detached = port;
    await streamUntilGone(ctx, () => usbipDetach(detached), 'usbip detach');
    port = undefined;
    const detach = await served.waitEvent('detach', 120_000, mark);
    ctx.log(`server: detach reason ${String(detach.reason)}, stats ${JSON.stringify(detach.stats)}`);
    assertEqual(detach.reason, 'host-closed', 'server detach reason');
    await waitForUsbDeviceGone(PATTERN_VID, PATTERN_PID);

    // 2. Attach again: it streams as before.
    port = await usbipAttach('1-1');
    await waitForUsbDevice(PATTERN_VID, PATTERN_PID);
    const again = await startIsoReader({ toolsDir: ctx.toolsDir, alt: 2, count: 40 }).done;
    assert(again.ok, `streaming after re-attach: ${again.result}`);
    ctx.log(`re-attached on port ${port}: iso ${again.result}`);

    // 3. The device unplugs itself mid-stream.
    const mark2 = served.events.length;
    await streamUntilGone(ctx, () => served.command('unplug'), 'device unplug');
    const gone = await served.waitEvent('detach', 120_000, mark2);
    assertEqual(gone.reason, 'device-unplugged', 'server detach reason after the model unplugged');
    await waitForUsbDeviceGone(PATTERN_VID, PATTERN_PID);
    port = undefined; // vhci freed the port when the connection dropped

    // 4. Replug: importable again.
    await served.command('replug');
    port = await usbipAttach('1-1');
    await waitForUsbDevice(PATTERN_VID, PATTERN_PID);
    const last = await startIsoReader({ toolsDir: ctx.toolsDir, alt: 1, count: 20 }).done;
    assert(last.ok, `streaming after replug: ${last.result}`);
    ctx.log(`replugged and re-attached on port ${port}: iso ${last.result}`);
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}
