/**
 * The UsbTransport conformance suite (test/transport/conformance.ts, the same tests the in-process host passes)
 * through the native addon and the real kernel: rig/guest/vitest/usbip-native-conformance.test.ts plugs a fresh
 * TestDevice into vhci_hcd for each test and opens it with openNativeDevice (libusb → usbfs → usbcore → vhci_hcd
 * → USB/IP → the model). Control both ways, STALL and timeouts, iso with packet descriptors and lost intervals,
 * bulk with short completions and timeouts, interface ownership across handles, unplug, close while streaming.
 */
import type { CheckContext } from '../lib/check.js';
import { judgeVitest, runVitest } from '../lib/vitest.js';

export const timeoutMs = 420_000;

export default async function check(ctx: CheckContext): Promise<void> {
  const run = await runVitest(ctx, 'conformance', ['rig/guest/vitest/usbip-native-conformance.test.ts'], {}, 400_000);
  ctx.log(judgeVitest('transport conformance over the kernel', run));
}
