/**
 * A device with two video functions (two IADs, each its own VideoControl interface, units and status endpoint):
 * the 'customer-dual' profile, a real camera's descriptors (MJPEG on VC 0 / VS 1, H.265 on VC 2 / VS 3, both with
 * brightness on processing unit 2). Unit IDs are the function's own, so the second function's controls and status
 * must be reachable as its own, not confused with the first's (uvcvideo binds each function as a device of its own).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { VirtualCamera } from '../../src/virtual-camera/index.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

async function start(): Promise<{ vcam: VirtualCamera; camera: Camera }> {
  const vcam = new VirtualCamera({ profile: 'customer-dual' });
  const camera = await openCamera(vcam);
  open.push(camera);
  return { vcam, camera };
}

/** The next `event` of the camera; fails (instead of hanging) if it does not come. */
function next<T>(camera: Camera, event: 'control' | 'button'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' event`)), 10_000);
    camera.once(event, (payload: unknown) => {
      clearTimeout(timer);
      resolve(payload as T);
    });
  });
}

const brightnessOf = (camera: Camera): unknown => camera.controls.find((c) => c.name === 'brightness')?.value;

describe('two video functions in one device', () => {
  it('the profile has them: VC 0 with VS 1, VC 2 with VS 3, each with a status endpoint', async () => {
    const { camera } = await start();
    expect(camera.descriptors.functions.map((f) => [f.videoControl.interfaceNumber, f.videoControl.interruptEndpoint?.address, f.streamingInterfaces.map((s) => s.interfaceNumber)])).toEqual([
      [0, 0x81, [1]],
      [2, 0x83, [3]],
    ]);
  });

  it("a stream's controls are its own function's: the same name on the other function is another control", async () => {
    const { vcam, camera } = await start();
    expect(camera.format?.interfaceNumber).toBe(1);
    await camera.setControl('brightness', 10);
    expect(vcam.controlsOf(0).value('brightness')).toBe(10);

    await camera.setFormat({ interfaceNumber: 3 });
    expect(camera.controls.map((c) => c.name)).toContain('brightness');
    expect(await camera.getControl('brightness')).toBe(0); // the second function's, untouched
    await camera.setControl('brightness', -20);
    expect(await camera.getControl('brightness')).toBe(-20);
    // Addressed to VideoControl interface 2, not 0: each device-side function holds its own value.
    expect(vcam.controlsOf(2).value('brightness')).toBe(-20);
    expect(vcam.controlsOf(0).value('brightness')).toBe(10);
    // Raw access to unit 2 reaches the second function's unit 2 too (GET_CUR, 2 bytes little-endian).
    expect(Array.from(await camera.getControlRaw(2, 0x02))).toEqual([0xec, 0xff]);

    await camera.setFormat({ interfaceNumber: 1 });
    expect(await camera.getControl('brightness')).toBe(10);
  });

  it("the second function's status endpoint is heard: its control changes and its button", async () => {
    const { vcam, camera } = await start();
    await camera.setFormat({ interfaceNumber: 3 });
    const change = next<{ name: string; attribute: string }>(camera, 'control');
    expect(vcam.changeControl('brightness', [33], 2)).toBe(true);
    expect(await change).toMatchObject({ name: 'brightness', attribute: 'value' });
    expect(brightnessOf(camera)).toBe(33);

    const button = next<{ pressed: boolean; interfaceNumber: number }>(camera, 'button');
    vcam.pressButton(3);
    expect(await button).toEqual({ pressed: true, interfaceNumber: 3 });

    // Back on the first function: its brightness was not the one that changed.
    await camera.setFormat({ interfaceNumber: 1 });
    expect(brightnessOf(camera)).toBe(0);
  });

  it("two handles, one per function (two video nodes): each hears its own function's control changes only", async () => {
    const { vcam, camera: first } = await start();
    const second = await openCamera(vcam);
    open.push(second);
    await second.setFormat({ interfaceNumber: 3 });
    const heard = { first: [] as number[], second: [] as number[] };
    first.on('control', (event) => heard.first.push(event.control.value as number));
    second.on('control', (event) => heard.second.push(event.control.value as number));
    // Both handles hear the device's status in the same dispatch: once the second has its event, the first has
    // had (and ignored) it.
    const onSecond = next(second, 'control');
    vcam.changeControl('brightness', [44], 2);
    await onSecond;
    const onFirst = next(first, 'control');
    vcam.changeControl('brightness', [5], 0);
    await onFirst;
    expect(heard).toEqual({ first: [5], second: [44] });
    expect(brightnessOf(first)).toBe(5);
    expect(brightnessOf(second)).toBe(44);
  });
});
