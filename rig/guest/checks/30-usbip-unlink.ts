/**
 * URB unlinks through the real stack: libusb cancels (a timeout, explicit cancels of many pending transfers, and
 * cancels in the middle of an iso stream) become usbfs discards, vhci_hcd CMD_UNLINKs, our RET_UNLINKs, and
 * come back to libusb as CANCELLED/TIMED_OUT; the kernel never sees a RET_SUBMIT for a URB it gave back (it
 * would drop the connection) and the device keeps working.
 */
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { startIsoReader } from '../lib/iso-reader.js';
import { claim, controlIn, errnoOf, inEndpoint, openDevice, readIn, release, transferStatusName } from '../lib/node-usb.js';
import { PATTERN_PID, PATTERN_VID, PatternEndpoint, PatternRequest, echoByte } from '../lib/pattern-device.js';
import { PATTERN_DEVICE_MODULE, ServedDevice } from '../lib/served-device.js';
import { kernelLog, kernelLogSince, usbipAttach, usbipDetach, waitForUsbDevice } from '../lib/usb-host.js';

export const timeoutMs = 150_000;

export default async function check(ctx: CheckContext): Promise<void> {
  const logBefore = await kernelLog();
  const served = await ServedDevice.start({ model: PATTERN_DEVICE_MODULE });
  let port: number | undefined;
  try {
    port = await usbipAttach('1-1');
    await waitForUsbDevice(PATTERN_VID, PATTERN_PID);
    const device = await openDevice(PATTERN_VID, PATTERN_PID);
    const iface0 = claim(device, 0);
    const silent = inEndpoint(iface0, PatternEndpoint.SILENT_IN);

    // A transfer the device never answers, ended by libusb's timeout. The `usb` package's bundled libusb is
    // built without timerfd, so a timeout only fires when its event thread wakes up (after up to 60 s); other
    // traffic wakes it, as it would in any real program.
    silent.timeout = 300;
    const t0 = performance.now();
    const timing = readIn(silent, 512).then(() => undefined, errnoOf);
    await new Promise((r) => setTimeout(r, 600));
    await controlIn(device, 0xc0, PatternRequest.ECHO, 1, 0, 4);
    const timedOut = await timing;
    assertEqual(transferStatusName(timedOut), 'TIMED_OUT', 'pending transfer after its timeout');
    ctx.log(`timeout: the pending URB was unlinked and returned TIMED_OUT after ${(performance.now() - t0).toFixed(0)} ms`);
    silent.timeout = 0;

    // Eight pending transfers cancelled at once.
    const outcomes = await new Promise<(number | undefined)[]>((resolve) => {
      const results: (number | undefined)[] = [];
      const transfers = Array.from({ length: 8 }, () =>
        silent.makeTransfer(0, (err) => {
          results.push(err === undefined ? usbCompleted : errnoOf(err));
          if (results.length === 8) resolve(results);
        }),
      );
      for (const t of transfers) t.submit(Buffer.alloc(512));
      setTimeout(() => {
        for (const t of transfers) t.cancel();
      }, 200);
    });
    assert(
      outcomes.every((s) => transferStatusName(s) === 'CANCELLED'),
      `cancelled transfers came back as ${outcomes.map(transferStatusName).join(', ')}`,
    );
    ctx.log('cancel: 8 pending transfers came back CANCELLED');

    // The device still answers.
    const echo = await controlIn(device, 0xc0, PatternRequest.ECHO, 7, 0, 16);
    assertEqual(echo[15], echoByte(7, 15), 'ECHO after the unlinks');
    await readIn(inEndpoint(iface0, PatternEndpoint.BULK_IN), 4096);
    await release(iface0);
    device.close();

    // Cancels in the middle of an iso stream: some URBs are pending (unlinked), some already answered. Eight
    // URBs of 128 packets keep 128 ms of bus time queued, so the cancels reach the device while most are pending
    // even when the emulated guest is slow.
    const iso = await startIsoReader({ toolsDir: ctx.toolsDir, alt: 3, transfers: 8, packets: 128, count: 40, cancelAfter: 16 }).done;
    ctx.log(`iso: ${iso.lines.filter((l) => l.startsWith('cancel_') || l.startsWith('completed=')).join(' | ')} → ${iso.result}`);
    assert(iso.ok, `iso stream with cancels: ${iso.result}\n${iso.lines.join('\n')}`);

    const stats = await served.stats();
    const session = stats.session as { unlinkedPending: number; unlinkedCompleted: number } | null;
    ctx.log(`server: ${session?.unlinkedPending} unlinks of pending URBs, ${session?.unlinkedCompleted} of answered ones`);
    assert((session?.unlinkedPending ?? 0) >= 9, 'the server saw fewer unlinks of pending URBs than libusb cancelled');

    // Only this check's lines: an earlier check's deliberate unplug (native-device-tests, in the round before this
    // one with UVC_RIG_REPEAT) leaves a `recv xbuf, 0` of its own in the log.
    const complaints = (await kernelLogSince(logBefore)).filter((l) => /cannot find a urb|total length of iso packets|recv xbuf|vhci_hcd.*error|unknown pdu/i.test(l));
    assert(complaints.length === 0, `vhci_hcd complained:\n${complaints.join('\n')}`);
    assertEqual(served.events.filter((e) => e.event === 'detach').length, 0, 'detaches during the check');
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}

const usbCompleted = 0;
