// The native transport against a real device (the kernel rig's, or a webcam): UVC_TEST_DEVICE=<vid>:<pid>.
// One file so the parts run in this order; the unplug comes last because the device is gone afterwards.
// See device-under-test.ts for the knobs, and the report of issue 5 for how to run it in the rig.
import { basics } from './basics.js';
import { findTestDevice } from './device-under-test.js';
import { lifecycle } from './lifecycle.js';
import { streams } from './streams.js';
import { unplugged } from './unplug.js';

const device = findTestDevice();
basics(device);
streams(device);
lifecycle(device);
unplugged(device);
