/**
 * Our driver over the real stack: the VirtualCamera served over USB/IP, bound by uvcvideo as any webcam would be,
 * found by listCameras() (the `usb` package's enumeration) and opened with openCamera() through the native addon
 * (libusb → usbfs → usbcore → vhci_hcd). Opening detaches uvcvideo; closing gives the camera back to it.
 *
 * - iso (default camera) and bulk (`transfer: 'bulk'`): 100 YUYV 640×480 frames each, every frame judged by its
 *   content: bytesused = 614400 and the stamp in its pixels agreeing with its sequence number (see streamYuyv);
 *   none may be good-but-wrong.
 *   The cameras run in 'fast' pace (their bus clock advances with the host's requests), because under TCG the
 *   guest cannot keep real time. The device then loses nothing, but when the slow guest holds every transfer the
 *   driver (rightly, for a real camera) counts the bus intervals that passed as lost and flags the frame they
 *   cut: flagged frames are allowed only when the driver reports lost bus time, and at least 2/3 must be good.
 * - controls round-trip through the device: brightness, contrast, a menu (power_line_frequency), the compound
 *   pan_tilt_absolute, an extension-unit control by raw bytes; each value read back from the camera AND from the
 *   device model itself (so a cached value cannot pass); an out-of-range value is refused before the wire.
 * - status interrupt endpoint: the privacy shutter and the still-image button arrive as Camera events.
 */
import type { Camera } from '../../../src/camera/index.js';
import { openCamera } from '../../../src/camera/index.js';
import { isUvcError } from '../../../src/errors.js';
import { CAMERA_PID, CAMERA_VID, describeVerdict, findServedCamera, streamYuyv } from '../lib/camera-helpers.js';
import { assert, assertEqual, type CheckContext } from '../lib/check.js';
import { waitFor } from '../lib/exec.js';
import { ServedDevice, VIRTUAL_CAMERA_MODULE } from '../lib/served-device.js';
import { usbipAttach, usbipDetach, waitForUsbDevice, type EnumeratedDevice } from '../lib/usb-host.js';
import { interfaceDriver, videoNodesOf, waitForCaptureNode, waitForDriver } from '../lib/video-device.js';

export const timeoutMs = 420_000;

const FRAMES = 100;

async function drivers(usb: EnumeratedDevice): Promise<string> {
  return `if0 ${(await interfaceDriver(usb.path, 0)) ?? 'none'}, if1 ${(await interfaceDriver(usb.path, 1)) ?? 'none'}`;
}

/** Serves a camera, waits for uvcvideo to own it, runs `body` with our driver, and checks uvcvideo gets it back. */
async function withServedCamera(ctx: CheckContext, label: string, options: Record<string, unknown>, body: (camera: Camera, served: ServedDevice) => Promise<void>): Promise<void> {
  const served = await ServedDevice.start({ model: VIRTUAL_CAMERA_MODULE, options, label });
  let port: number | undefined;
  try {
    port = await usbipAttach('1-1');
    const usb = await waitForUsbDevice(CAMERA_VID, CAMERA_PID);
    await waitForDriver(usb.path, 0, 'uvcvideo');
    await waitForDriver(usb.path, 1, 'uvcvideo');
    const before = await waitForCaptureNode(usb.path);
    const info = await findServedCamera();
    ctx.log(`${label}: listCameras() sees ${info.portPath} ${info.product ?? ''} (UVC ${info.uvcVersion}, ${info.speed}), kernel drivers [${info.kernelDrivers.join(', ')}], access ${info.access}; ${before.path} exists`);
    assert(info.kernelDrivers.includes('uvcvideo'), `${label}: listCameras() does not report uvcvideo bound: ${JSON.stringify(info)}`);
    assertEqual(info.access, 'ok', `${label}: listCameras() access`);

    const camera = await openCamera(info);
    let closed = false;
    try {
      assertEqual(camera.info.transport, 'native', `${label}: camera.info.transport`);
      const held = await drivers(usb);
      ctx.log(`${label}: opened through the native addon (bus ${camera.info.busNumber} address ${camera.info.deviceAddress}); interface drivers now: ${held}`);
      assertEqual(await interfaceDriver(usb.path, 0), 'usbfs', `${label}: driver of interface 0 while open (uvcvideo must be detached)`);
      assertEqual(await interfaceDriver(usb.path, 1), 'usbfs', `${label}: driver of interface 1 while open`);
      assertEqual((await videoNodesOf(usb.path)).length, 0, `${label}: /dev/video nodes while uvcvideo is detached`);
      await body(camera, served);
      await camera.close();
      closed = true;
    } finally {
      if (!closed) await camera.close().catch(() => undefined);
    }
    await waitForDriver(usb.path, 0, 'uvcvideo', 120_000);
    await waitForDriver(usb.path, 1, 'uvcvideo', 120_000);
    const after = await waitForCaptureNode(usb.path);
    ctx.log(`${label}: closed; uvcvideo re-bound (${await drivers(usb)}), ${after.path} is back`);
  } finally {
    if (port !== undefined) await usbipDetach(port).catch(() => undefined);
    await served.stop();
  }
}

async function stream(ctx: CheckContext, label: string, camera: Camera, served: ServedDevice): Promise<void> {
  const format = await camera.setFormat({ fourcc: 'YUYV', width: 640, height: 480 });
  ctx.log(`${label}: negotiated ${format.fourcc} ${format.width}x${format.height} @ ${format.fps} fps over ${format.transfer} (alt ${format.altSetting}, ${format.bytesPerInterval} B/interval, payload ${format.payloadSize} B)`);
  assertEqual(format.transfer, label, `${label}: transfer type of the negotiated format`);
  const verdict = await streamYuyv(camera, { width: 640, height: 480, count: FRAMES });
  const device = (await served.call('videoStats')) as { framesSent: number; framesDropped: number };
  ctx.log(`${label}: ${describeVerdict(verdict)}; device sent ${device.framesSent} frames, dropped ${device.framesDropped}`);
  ctx.log(`${label}: assembler ${JSON.stringify(verdict.stats?.assembly)}; transfers ${JSON.stringify(verdict.stats?.transfers)}`);
  assertEqual(verdict.wrong.length, 0, `${label}: frames not flagged but wrong (${verdict.wrong.slice(0, 5).join('; ')})`);
  // The device (fast pace) loses nothing, but the driver reasons as for a real camera: bus intervals that passed
  // while JavaScript held every transfer are data lost, and the frame they cut is flagged. So a flagged frame is
  // allowed only when the driver says it lost bus time or packets.
  const assembly = verdict.stats?.assembly;
  const lost = (assembly?.lostIntervals ?? 0) + (assembly?.lostPackets ?? 0);
  if (verdict.flagged > 0) assert(lost > 0, `${label}: ${verdict.flagged} frames flagged although the driver lost no bus time`);
  assert(verdict.flagged <= (assembly?.erroredFrames ?? 0), `${label}: more frames flagged than the assembler counted in error`);
  assert(verdict.good >= Math.ceil((FRAMES * 2) / 3), `${label}: only ${verdict.good} of ${FRAMES} frames good`);
  assertEqual(verdict.good + verdict.flagged, FRAMES, `${label}: good + flagged frames`);
  assert(verdict.sequenceAhead <= (assembly?.droppedFrames ?? 0), `${label}: the sequence ran ${verdict.sequenceAhead} ahead of the stamps, beyond the ${assembly?.droppedFrames} frames the driver counted as dropped`);
  // The guest is x86: the transfer buffers are usbfs memory. A stream that stopped gives it back at once, so the
  // next one (here: the same camera streaming again) finds the usbfs budget free (two of these streams' buffers
  // together exceed usbfs_memory_mb's 16 MiB).
  assertEqual(verdict.stats?.transfers?.zeroCopy, true, `${label}: stats.transfers.zeroCopy`);
}

async function controls(ctx: CheckContext, camera: Camera, served: ServedDevice): Promise<void> {
  const device = async (name: string): Promise<number[]> => (await served.call('controlValue', [name])) as number[];
  // `model`: the device model's own name for the control.
  const cases: { name: string; model: string; value: number | { pan: number; tilt: number }; fields: number[] }[] = [
    { name: 'brightness', model: 'brightness', value: -17, fields: [-17] },
    { name: 'contrast', model: 'contrast', value: 150, fields: [150] },
    { name: 'power_line_frequency', model: 'power_line_frequency', value: 2, fields: [2] },
    { name: 'pan_tilt_absolute', model: 'pantilt_absolute', value: { pan: 7200, tilt: -3600 }, fields: [7200, -3600] },
  ];
  for (const c of cases) {
    const before = await camera.getControl(c.name);
    await camera.setControl(c.name, c.value);
    const after = await camera.getControl(c.name);
    const held = await device(c.model);
    ctx.log(`control ${c.name}: ${JSON.stringify(before)} → set ${JSON.stringify(c.value)} → read ${JSON.stringify(after)}; the device holds ${JSON.stringify(held)}`);
    assertEqual(JSON.stringify(after), JSON.stringify(c.value), `${c.name} read back`);
    assertEqual(JSON.stringify(held), JSON.stringify(c.fields), `${c.name} as the device holds it`);
  }
  const menu = camera.controls.find((c) => c.name === 'power_line_frequency');
  assert(menu?.type === 'menu', `power_line_frequency is not a menu control: ${JSON.stringify(menu)}`);

  // The extension unit (ID 3), selector 1 (test pattern), by raw bytes.
  const xuBefore = await camera.getControlRaw(3, 1);
  await camera.setControlRaw(3, 1, Uint8Array.of(2));
  const xuAfter = await camera.getControlRaw(3, 1);
  const xuLength = await camera.getControlRaw(3, 1, 'GET_LEN');
  const xuHeld = await device('test_pattern');
  ctx.log(`extension unit 3 selector 1: [${Array.from(xuBefore)}] → set [2] → read [${Array.from(xuAfter)}], GET_LEN [${Array.from(xuLength)}]; the device holds ${JSON.stringify(xuHeld)}`);
  assertEqual(Array.from(xuAfter).join(','), '2', 'XU test pattern read back');
  assertEqual(xuHeld.join(','), '2', 'XU test pattern as the device holds it');
  assertEqual(Array.from(xuLength).join(','), '1,0', 'XU GET_LEN');

  let refused = '';
  try {
    await camera.setControl('brightness', 1000);
  } catch (error) {
    refused = isUvcError(error) ? error.code : String(error);
  }
  assertEqual(refused, 'ERANGE', 'brightness 1000 (max 64)');
  assertEqual((await device('brightness')).join(','), '-17', 'brightness after the refused set');
  ctx.log('control brightness 1000: refused with ERANGE before the wire; the device still holds -17');
}

async function statusEvents(ctx: CheckContext, camera: Camera, served: ServedDevice): Promise<void> {
  const events: string[] = [];
  camera.on('control', (e) => events.push(`control ${e.name} ${e.attribute} ${JSON.stringify(e.control.value)}`));
  camera.on('button', (e) => events.push(`button ${e.pressed ? 'pressed' : 'released'} (interface ${e.interfaceNumber})`));
  const t0 = performance.now();
  await served.call('setPrivacyShutter', [true]);
  await waitFor('the privacy control event', () => (events.some((e) => e.startsWith('control privacy value true')) ? true : undefined), 120_000, 20);
  const privacyMs = performance.now() - t0;
  const t1 = performance.now();
  await served.call('pressButton');
  await waitFor('the button press and release', () => (events.some((e) => e.startsWith('button released')) ? true : undefined), 120_000, 20);
  ctx.log(`status events: ${events.join('; ')} (privacy after ${privacyMs.toFixed(0)} ms, button after ${(performance.now() - t1).toFixed(0)} ms)`);
  const buttons = events.filter((e) => e.startsWith('button'));
  assertEqual(buttons.join('; '), 'button pressed (interface 1); button released (interface 1)', 'button events');
  assertEqual(await camera.getControl('privacy'), true, 'privacy read after the shutter closed');
}

export default async function check(ctx: CheckContext): Promise<void> {
  await withServedCamera(ctx, 'iso', { pace: 'fast' }, async (camera, served) => {
    ctx.log(`iso: camera.info ${JSON.stringify(camera.info)}`);
    await stream(ctx, 'iso', camera, served);
    await stream(ctx, 'iso', camera, served); // again: the first stream's usbfs memory must be back
    await controls(ctx, camera, served);
    await statusEvents(ctx, camera, served);
  });
  await withServedCamera(ctx, 'bulk', { pace: 'fast', transfer: 'bulk' }, async (camera, served) => {
    await stream(ctx, 'bulk', camera, served);
  });
}
