/**
 * The quirk framework: names on both sides, the vid:pid table, the caller's list, and where a user sees what was
 * applied and why (camera.info.quirks, camera.stats.quirks, NODE_DEBUG=uvc).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { isUvcError } from '../../src/errors.js';
import { QUIRK_NAMES, QUIRK_TABLE, quirkTableEntry } from '../../src/uvc/quirks.js';
import { VirtualCamera } from '../../src/virtual-camera/index.js';
import { VIRTUAL_QUIRK_NAMES } from '../../src/virtual-camera/quirks.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

function expectInvalid(action: () => unknown, pattern: RegExp): void {
  try {
    action();
  } catch (error) {
    expect(isUvcError(error, 'EINVAL')).toBe(true);
    expect((error as Error).message).toMatch(pattern);
    return;
  }
  throw new Error('accepted');
}

describe('quirk names', () => {
  it('are the same fifteen on the device side and the driver side', () => {
    expect(VIRTUAL_QUIRK_NAMES).toHaveLength(15);
    expect([...VIRTUAL_QUIRK_NAMES].sort()).toEqual([...QUIRK_NAMES].sort());
  });

  it('are checked by the virtual camera, which refuses cameras that cannot exist', () => {
    expectInvalid(() => new VirtualCamera({ quirks: ['no-such-quirk' as never] }), /unknown quirk "no-such-quirk"/);
    expectInvalid(() => new VirtualCamera({ quirks: ['probe-extrafields'], uvcVersion: '1.1' }), /UVC 1\.0/);
    expectInvalid(() => new VirtualCamera({ quirks: ['status-interval'], speed: 'full' }), /high-speed/);
    expectInvalid(() => new VirtualCamera({ quirks: ['fix-bandwidth'], transfer: 'bulk' }), /isochronous/);
    const camera = new VirtualCamera({ quirks: ['probe-extrafields'] });
    expect(camera.config.uvcVersion).toBe('1.0');
    expect([...camera.config.quirks]).toEqual(['probe-extrafields']);
    camera.unplug();
  });

  it('are checked by openCamera before it touches the device', async () => {
    const vcam = new VirtualCamera({ pace: 'fast' });
    await expect(openCamera(vcam, { quirks: ['nope' as never] })).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('the quirk table', () => {
  it('holds uvcvideo entries by vid:pid, with bcdDevice limits', () => {
    expect(quirkTableEntry({ vendorId: 0x046d, productId: 0x082d, deviceRelease: 0x0011 })?.quirks).toEqual(['restore-ctrls-on-init', 'invalid-device-sof']);
    expect(quirkTableEntry({ vendorId: 0x19ab, productId: 0x1000, deviceRelease: 0x0126 })?.quirks).toEqual(['status-interval']);
    expect(quirkTableEntry({ vendorId: 0x19ab, productId: 0x1000, deviceRelease: 0x0127 })).toBeNull();
    expect(quirkTableEntry({ vendorId: 0x1209, productId: 0x0001, deviceRelease: 0x0100 })).toBeNull();
    const keys = QUIRK_TABLE.map((e) => `${e.vendorId}:${e.productId}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const e of QUIRK_TABLE) for (const q of e.quirks) expect(QUIRK_NAMES).toContain(q);
  });

  it('applies to a camera with that vid:pid, and says so in camera.info and camera.stats', async () => {
    const vcam = new VirtualCamera({ pace: 'fast', vendorId: 0x046d, productId: 0x085c });
    const camera = await openCamera(vcam);
    open.push(camera);
    expect(camera.info.quirks).toEqual([{ name: 'invalid-device-sof', source: 'table', reason: 'Logitech HD Pro Webcam C922' }]);
    expect(camera.stats.quirks).toEqual(camera.info.quirks);
  });

  it('is extended by the caller, per camera', async () => {
    const camera = await openCamera(new VirtualCamera({ pace: 'fast' }), { quirks: ['probe-minmax', 'probe-minmax'] });
    open.push(camera);
    expect(camera.info.quirks).toEqual([{ name: 'probe-minmax', source: 'option', reason: 'openCamera option' }]);
  });

  it('leaves a well-behaved camera without quirks', async () => {
    const camera = await openCamera(new VirtualCamera({ pace: 'fast' }));
    open.push(camera);
    expect(camera.info.quirks).toEqual([]);
    expect(camera.stats.quirks).toEqual([]);
  });
});
