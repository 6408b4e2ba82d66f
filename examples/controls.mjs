#!/usr/bin/env node
// Adjusting controls: list them with their ranges, set a few (numbers, switches, menu labels), read them back,
// see what the camera refuses, hear about changes the camera makes by itself (auto exposure, the privacy switch),
// and put back everything touched.
//
//   node examples/controls.mjs [--virtual]
import { isUvcError, listCameras, openCamera, VirtualCamera } from 'uvc-capture';

const useVirtual = process.argv.includes('--virtual') || (await listCameras()).length === 0;
const virtual = useVirtual ? new VirtualCamera() : null;
const camera = await openCamera(virtual ?? undefined);

// Each control's range as its kind has it: numbers, a switch, a menu's labels, one range per field, a size in bytes.
function range(c) {
  switch (c.type) {
    case 'boolean':
      return 'on/off';
    case 'menu':
      return c.menu.map((m) => m.name).join('|');
    case 'compound':
      return Object.keys(c.max ?? {}).map((f) => `${f} ${c.min?.[f]}…${c.max?.[f]}`).join(', ');
    case 'raw':
      return `${c.size} bytes`;
    default:
      return c.min === null || c.max === null ? '?' : `${c.min}…${c.max}`;
  }
}
// Values are numbers, booleans, { field: number } objects (pan_tilt_absolute) or bytes (extension units).
const show = (v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : JSON.stringify(v));

// What this example changes, with the value it found, to put back at the end.
const touched = new Map();
async function change(name, value) {
  if (!touched.has(name)) touched.set(name, await camera.getControl(name));
  await camera.setControl(name, value);
}

try {
  for (const c of camera.controls) {
    console.log(`${c.name.padEnd(32)} ${c.type.padEnd(8)} ${range(c).padEnd(40)} now ${show(c.value)}`);
  }

  // Changes the camera makes itself arrive as 'control' events (from its status endpoint).
  camera.on('control', ({ name, control }) => console.log(`camera changed ${name} to ${JSON.stringify(control.value)}`));

  const brightness = camera.controls.find((c) => c.name === 'brightness');
  if (brightness?.type === 'integer' && brightness.max !== null) {
    await change('brightness', brightness.max);
    console.log(`brightness set to its maximum: reads ${await camera.getControl('brightness')}`);
    try {
      await camera.setControl('brightness', brightness.max + 1);
    } catch (error) {
      // Every error is a UvcError with a POSIX code: ERANGE here (out of range), EBUSY when an auto mode owns the
      // control, ENOENT for a control the camera does not have, ENODEV once it is unplugged.
      if (isUvcError(error, 'ERANGE')) console.log(`refused as expected (${error.code}): ${error.message}`);
      else throw error;
    }
  }
  // Menus take their labels (in any case) or numbers; getControlLabel reads one back as its label.
  if (camera.controls.some((c) => c.name === 'power_line_frequency')) {
    await change('power_line_frequency', '60Hz');
    console.log(`power_line_frequency: ${await camera.getControlLabel('power_line_frequency')} (${await camera.getControl('power_line_frequency')})`);
  }
  // The virtual camera has a privacy shutter to flip; a real one reports its own.
  if (virtual) {
    virtual.setPrivacyShutter(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    virtual.setPrivacyShutter(false);
  }
} finally {
  // Put back what was changed, and say what the camera reads now.
  for (const [name, value] of touched) {
    await camera.setControl(name, value).catch((error) => console.log(`could not restore ${name}: ${error.message}`));
  }
  const restored = [];
  for (const [name, value] of touched) restored.push(`${name} ${show(await camera.getControl(name))} (was ${show(value)})`);
  if (restored.length > 0) console.log(`restored: ${restored.join(', ')}`);
  await camera.close();
}
