/**
 * The last frames before an unplug are kept (issue 13), through the native addon and the real kernel: the
 * VirtualCamera leaves the bus as frame N is about to go out (its `unplug({ atFrame: N })`: the USB/IP server
 * drops the connection, vhci_hcd disconnects the device, usbfs kills every URB). The user must get frames
 * 0 … N−1 whole (right size, the stamp in the pixels equal to the sequence number), then only buffers flagged
 * error, then ENXIO from DQBUF.
 *
 * The addon's part: libusb runs the hotplug "left" callback before it reaps the transfers that finished in the
 * same pass, so the addon tells JavaScript of the disconnect only after every transfer of the device came back
 * and its completion was queued. Iso and bulk, N = 1, 7 and 30.
 */
import { openCamera } from '../../../src/camera/index.js';
import { isUvcError } from '../../../src/errors.js';
import { decodeFrameStamp } from '../../../src/virtual-camera/index.js';
import { CAMERA_PID, CAMERA_VID, findServedCamera } from '../lib/camera-helpers.js';
import { assert, type CheckContext } from '../lib/check.js';
import { run } from '../lib/exec.js';
import { ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, waitForUsbDevice, waitForUsbDeviceGone } from '../lib/usb-host.js';
import { waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 600_000;

const WIDTH = 640;
const HEIGHT = 480;

interface Returned {
  sequence: number;
  error: boolean;
  bytes: number;
  stamp: number | null;
}

function describeReturned(r: Returned): string {
  return `${r.sequence}${r.error ? ' error' : ''} ${r.bytes} B stamp ${String(r.stamp)}`;
}

async function unplugAt(ctx: CheckContext, transfer: 'iso' | 'bulk', atFrame: number): Promise<void> {
  const label = `${transfer}, unplug at frame ${atFrame}`;
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options: { pace: 'fast', transfer }, label });
  let port: number | undefined;
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(CAMERA_VID, CAMERA_PID);
    await waitForDriver(usb.path, 1, 'uvcvideo');
    const info = await findServedCamera();
    const camera = await openCamera(info);
    const returned: Returned[] = [];
    let ending = '';
    try {
      await camera.setFormat({ fourcc: 'YUYV', width: WIDTH, height: HEIGHT });
      await served.call('unplug', [{ atFrame }]);
      const queue = camera.queue;
      // Enough buffers that no frame is ever dropped for want of one.
      const n = queue.reqbufs(Math.min(32, atFrame + 4));
      for (let i = 0; i < n; i++) queue.qbuf(i);
      await queue.streamon();
      for (;;) {
        let buffer;
        try {
          buffer = await queue.dqbuf({ timeoutMs: 60_000 });
        } catch (error) {
          ending = isUvcError(error) ? error.code : String(error);
          break;
        }
        const bytes = buffer.bytesused;
        const stamp = bytes === WIDTH * HEIGHT * 2 ? decodeFrameStamp({ data: buffer.data, width: WIDTH, height: HEIGHT, format: 'yuyv' }) : null;
        returned.push({ sequence: buffer.sequence, error: buffer.flags.error, bytes, stamp });
        try {
          queue.qbuf(buffer.index);
        } catch (error) {
          if (!isUvcError(error, 'ENXIO')) throw error;
        }
      }
      await queue.streamoff().catch(() => undefined);
    } finally {
      await camera.close();
    }
    ctx.log(`${label}: ${returned.length} buffers, then ${ending}: ${returned.map(describeReturned).join(', ')}`);
    const whole = returned.slice(0, atFrame);
    const rest = returned.slice(atFrame);
    assert(ending === 'ENXIO', `${label}: DQBUF ended with ${ending}, expected ENXIO`);
    assert(whole.length === atFrame, `${label}: ${whole.length} buffers before the end, expected frames 0…${atFrame - 1}`);
    whole.forEach((r, i) => {
      assert(!r.error && r.bytes === WIDTH * HEIGHT * 2 && r.sequence === i && r.stamp === i, `${label}: buffer ${i} is not frame ${i} whole: ${describeReturned(r)}`);
    });
    for (const r of rest) assert(r.error, `${label}: a buffer after frame ${atFrame - 1} is not flagged error: ${describeReturned(r)}`);
    await waitForUsbDeviceGone(CAMERA_VID, CAMERA_PID).catch(() => undefined);
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}

export default async function check(ctx: CheckContext): Promise<void> {
  const failures: string[] = [];
  for (const transfer of ['iso', 'bulk'] as const) {
    for (const atFrame of [1, 7, 30]) {
      try {
        await unplugAt(ctx, transfer, atFrame);
        ctx.log(`${transfer}, unplug at frame ${atFrame}: ok`);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        ctx.log(`FAILED: ${message}`);
        failures.push(message);
        // The kernel's side of that unplug (vhci_hcd's connection teardown, a cut reply), for the log.
        const dmesg = (await run('dmesg', [], { timeoutMs: 10_000, allowFailure: true })).stdout.trim().split('\n');
        ctx.log(`dmesg after the failure (last 30 lines):\n    ${dmesg.slice(-30).join('\n    ')}`);
      }
    }
  }
  assert(failures.length === 0, `${failures.length} of 6 cases failed: ${failures.join(' / ')}`);
}
