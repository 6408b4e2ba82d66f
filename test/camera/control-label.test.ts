/**
 * Controls as the public API types and names them: a menu's current value as its label (getControlLabel), labels
 * matched in any case, ranges typed by the control's kind (so `max + 1` type-checks once narrowed).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { VirtualCamera } from '../../src/virtual-camera/index.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

async function start(): Promise<Camera> {
  const camera = await openCamera(new VirtualCamera());
  open.push(camera);
  return camera;
}

describe('control values and labels', () => {
  it('getControlLabel reads a menu control and names its value; other kinds are EINVAL', async () => {
    const camera = await start();
    expect(await camera.getControl('power_line_frequency')).toBe(1);
    expect(await camera.getControlLabel('power_line_frequency')).toBe('50hz');
    await camera.setControl('power_line_frequency', '60HZ');
    expect(await camera.getControl('power_line_frequency')).toBe(2);
    expect(await camera.getControlLabel('power_line_frequency')).toBe('60hz');
    await expect(camera.getControlLabel('brightness')).rejects.toMatchObject({ code: 'EINVAL', message: 'brightness is not a menu control (it is an integer)' });
    await expect(camera.getControlLabel('nonexistent')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('ranges are typed by kind: an integer control narrows to numbers', async () => {
    const camera = await start();
    const brightness = camera.controls.find((c) => c.name === 'brightness');
    if (brightness?.type !== 'integer' || brightness.max === null) throw new Error('brightness is an integer control with a maximum');
    // This line is the README's: it must type-check (npm run typecheck) and be refused by the driver.
    await expect(camera.setControl('brightness', brightness.max + 1)).rejects.toMatchObject({ code: 'ERANGE', message: "brightness: 65 is outside the device's range -64…64" });
    const menu = camera.controls.find((c) => c.type === 'menu');
    expect(menu?.type === 'menu' && menu.menu.length > 0).toBe(true);
  });
});
