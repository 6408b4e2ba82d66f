#!/usr/bin/env node
// Adjusting controls: list them with their ranges, set a few (numbers, switches, menu labels), read them back,
// see what the camera refuses, and hear about changes the camera makes by itself (auto exposure, the privacy switch).
//
//   node examples/controls.mjs [--virtual]
import { isUvcError, listCameras, openCamera, VirtualCamera } from 'uvc-capture';

const useVirtual = process.argv.includes('--virtual') || (await listCameras()).length === 0;
const virtual = useVirtual ? new VirtualCamera() : null;
const camera = await openCamera(virtual ?? undefined);

try {
  // Values are numbers, booleans, { field: number } objects (pan_tilt_absolute) or bytes (extension units).
  const show = (v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : JSON.stringify(v));
  for (const c of camera.controls) {
    const range = c.type === 'menu' ? c.menu.map((m) => m.name).join('|') : `${show(c.min)}…${show(c.max)}`;
    console.log(`${c.name.padEnd(32)} ${c.type.padEnd(8)} ${range.padEnd(40)} now ${show(c.value)}`);
  }

  // Changes the camera makes itself arrive as 'control' events (from its status endpoint).
  camera.on('control', ({ name, control }) => console.log(`camera changed ${name} to ${JSON.stringify(control.value)}`));

  const brightness = camera.controls.find((c) => c.name === 'brightness');
  if (brightness) {
    const original = await camera.getControl('brightness');
    await camera.setControl('brightness', brightness.max);
    console.log(`brightness set to its maximum: reads ${await camera.getControl('brightness')}`);
    try {
      await camera.setControl('brightness', brightness.max + 1);
    } catch (error) {
      // Every error is a UvcError with a POSIX code: ERANGE here (out of range), EBUSY when an auto mode owns the
      // control, ENOENT for a control the camera does not have, ENODEV once it is unplugged.
      if (isUvcError(error, 'ERANGE')) console.log(`refused as expected: ${error.message}`);
      else throw error;
    }
    await camera.setControl('brightness', original);
  }
  // Menus take their labels (or numbers).
  if (camera.controls.some((c) => c.name === 'power_line_frequency')) {
    await camera.setControl('power_line_frequency', '60hz');
    console.log(`power_line_frequency: ${await camera.getControl('power_line_frequency')}`);
  }
  // The virtual camera has a privacy shutter to flip; a real one reports its own.
  if (virtual) {
    virtual.setPrivacyShutter(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
} finally {
  await camera.close();
}
