/**
 * The README's TypeScript examples, verbatim (test/examples/readme.test.ts checks they are the same), so that
 * `npm run typecheck` proves they type-check against the published types (the import is the package's own name,
 * resolved to dist/index.d.ts). Not run here: control-label.test.ts checks the same behaviour.
 */
import { isUvcError, openCamera, VirtualCamera } from 'uvc-capture';

const camera = await openCamera(new VirtualCamera());
const brightness = camera.controls.find((c) => c.name === 'brightness');
if (brightness?.type === 'integer' && brightness.max !== null) {
  await camera.setControl('brightness', brightness.max);
  await camera.setControl('brightness', brightness.max + 1).catch((error: unknown) => {
    if (isUvcError(error, 'ERANGE')) console.log(error.message); // brightness: 65 is outside the device's range -64…64
  });
}
await camera.setControl('power_line_frequency', '60Hz');
console.log(await camera.getControl('power_line_frequency'), await camera.getControlLabel('power_line_frequency')); // 2 '60hz'
await camera.close();
