/**
 * The native addon's device tests (test/native-device: open, descriptors, controls, kernel driver detach and
 * re-attach, iso/bulk/interrupt streams, lost intervals, misuse, GC, process.exit, worker teardown, unplug) run
 * against real devices in the guest kernel, twice:
 * - the VirtualCamera (UVC, iso; uvcvideo bound to both interfaces, so the kernel-driver tests run on it). It
 *   has no bulk IN endpoint: the bulk stream tests (streaming, giving up on a halted endpoint) are skipped there.
 * - the pattern device (vendor-specific, iso, bulk and interrupt IN; no kernel driver binds it, so the tests of
 *   driver re-attach are skipped there and the "no driver" one runs; its packets carry no UVC payload headers, so
 *   the per-frame wake-up test is skipped there too).
 * Each test runs on at least one device; any other skip is a failure. The unplug test comes last on each (it
 * detaches the vhci_hcd port).
 */
import { CAMERA_PID, CAMERA_VID } from '../lib/camera-helpers.js';
import type { CheckContext } from '../lib/check.js';
import { PATTERN_PID, PATTERN_VID } from '../lib/pattern-device.js';
import { PATTERN_DEVICE_MODULE, ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { hex4, usbipAttach, usbipDetach, vhciPorts, waitForUsbDevice } from '../lib/usb-host.js';
import { waitForDriver } from '../lib/video-device.js';
import { judgeVitest, runVitest } from '../lib/vitest.js';

export const timeoutMs = 900_000;

const FILE = 'test/native-device/native-device.test.ts';

async function against(ctx: CheckContext, label: string, model: string, options: Record<string, unknown>, id: { vid: number; pid: number }, env: Record<string, string>, expectedSkips: RegExp[], uvc: boolean): Promise<void> {
  const served = await ServedDevice.start({ model, options, label });
  let port: number | undefined;
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(id.vid, id.pid);
    if (uvc) {
      await waitForDriver(usb.path, 0, 'uvcvideo');
      await waitForDriver(usb.path, 1, 'uvcvideo');
    }
    const run = await runVitest(ctx, label, [FILE], { UVC_TEST_DEVICE: `${hex4(id.vid)}:${hex4(id.pid)}`, ...env }, 420_000);
    ctx.log(judgeVitest(`test/native-device on ${label}`, run, expectedSkips));
  } finally {
    // The unplug test detached the port already; detach only if something is still there.
    if (port !== undefined && (await vhciPorts()).some((p) => p.port === port && p.state !== 4)) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}

export default async function check(ctx: CheckContext): Promise<void> {
  await against(ctx, 'virtual-camera', VIRTUAL_CAMERA_MODULE, { pace: 'fast' }, { vid: CAMERA_VID, pid: CAMERA_PID }, { UVC_TEST_NO_BULK: '1' }, [/streams bulk/, /gives up on a stream whose transfers fail at once/, /re-attaches nothing to an interface that had no kernel driver/], true);
  await against(ctx, 'pattern-device', PATTERN_DEVICE_MODULE, {}, { vid: PATTERN_VID, pid: PATTERN_PID }, {}, [/detaches a bound kernel driver on claim/, /gives every interface back to its kernel driver/, /wakes JavaScript per frame/], false);
}
