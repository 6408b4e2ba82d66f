import { describe, expect, it } from 'vitest';
import { VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { isUvcError } from '../../src/errors.js';

function rejects(options: unknown): string {
  try {
    new VirtualCamera(options as VirtualCameraOptions);
  } catch (e) {
    expect(isUvcError(e, 'EINVAL')).toBe(true);
    return (e as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(options)}`);
}

describe('options', () => {
  it('default to a UVC 1.1 high-speed iso camera in real time', () => {
    const camera = new VirtualCamera();
    expect(camera.config.uvcVersion).toBe('1.1');
    expect(camera.config.speed).toBe('high');
    expect(camera.config.transfer).toBe('iso');
    expect(camera.config.pace).toBe('realtime');
    expect(camera.config.probeLength).toBe(34);
    expect(camera.config.bulkMaxPayloadTransferSize).toBe(32768);
    expect(camera.config.formats.map((f) => f.kind)).toEqual(['yuyv', 'mjpeg']);
    camera.unplug();
  });

  it('pick formats each speed can carry', () => {
    for (const speed of ['full', 'high', 'super'] as const) {
      const camera = new VirtualCamera({ speed });
      const sizes = camera.config.formats.flatMap((f) => f.frames.map((fr) => `${f.kind} ${fr.width}x${fr.height}`));
      if (speed === 'full') expect(sizes).toEqual(['yuyv 160x120', 'yuyv 320x240', 'mjpeg 320x240', 'mjpeg 640x480']);
      if (speed === 'super') expect(sizes).toContain('yuyv 1920x1080');
      camera.unplug();
    }
  });

  it('refuse what cannot exist, with EINVAL and a reason', () => {
    expect(rejects({ uvcVersion: '2.0' })).toMatch(/uvcVersion/);
    expect(rejects({ speed: 'low' })).toMatch(/speed/);
    expect(rejects({ transfer: 'interrupt' })).toMatch(/transfer/);
    expect(rejects({ pace: 'slow' })).toMatch(/pace/);
    expect(rejects({ vendorId: 0x10000 })).toMatch(/vendorId/);
    expect(rejects({ product: '' })).toMatch(/product/);
    expect(rejects({ serial: 'x'.repeat(127) })).toMatch(/serial/);
    expect(rejects({ frameCache: 0 })).toMatch(/frameCache/);
    expect(rejects({ clockFrequency: 10 })).toMatch(/clockFrequency/);
    expect(rejects({ formats: [] })).toMatch(/formats/);
    expect(rejects({ formats: [{ format: 'h264', frames: [{ width: 640, height: 480, fps: [30] }] }] })).toMatch(/format/);
    expect(rejects({ formats: [{ format: 'yuyv', frames: [] }] })).toMatch(/frames/);
    expect(rejects({ formats: [{ format: 'yuyv', frames: [{ width: 641, height: 480, fps: [30] }] }] })).toMatch(/even/);
    expect(rejects({ formats: [{ format: 'yuyv', frames: [{ width: 32, height: 32, fps: [30] }] }] })).toMatch(/stamp/);
    expect(rejects({ formats: [{ format: 'yuyv', frames: [{ width: 640, height: 480 }] }] })).toMatch(/exactly one/);
    expect(rejects({ formats: [{ format: 'yuyv', frames: [{ width: 640, height: 480, fps: [30], intervals: [333333] }] }] })).toMatch(/exactly one/);
    expect(rejects({ formats: [{ format: 'yuyv', frames: [{ width: 640, height: 480, fps: [0] }] }] })).toMatch(/frame rate/);
    expect(rejects({ formats: [{ format: 'yuyv', frames: [{ width: 640, height: 480, intervalRange: { min: 5, max: 3, step: 1 } }] }] })).toMatch(/intervalRange/);
    expect(rejects({ formats: [{ format: 'yuyv', frames: [{ width: 640, height: 480, fps: [30], defaultInterval: 5 }] }] })).toMatch(/defaultInterval/);
    expect(rejects({ formats: [{ format: 'yuyv', defaultFrame: 3, frames: [{ width: 640, height: 480, fps: [30] }] }] })).toMatch(/defaultFrame/);
    // 720p30 YUYV needs 55 MB/s; a high-speed iso endpoint moves 24.6 MB/s.
    const tooFast = rejects({ formats: [{ format: 'yuyv', frames: [{ width: 1280, height: 720, fps: [30] }] }] });
    expect(tooFast).toMatch(/needs \d+ bytes per bus interval/);
    expect(rejects({ speed: 'full', formats: [{ format: 'yuyv', frames: [{ width: 640, height: 480, fps: [5] }] }] })).toMatch(/full-speed/);
  });

  it('let bulk cameras offer modes beyond any iso alt setting (bulk bandwidth is not reserved)', () => {
    const camera = new VirtualCamera({ transfer: 'bulk', formats: [{ format: 'yuyv', frames: [{ width: 1280, height: 720, fps: [30] }] }] });
    expect(camera.config.formats[0]!.frames[0]!.maxFrameSize).toBe(1280 * 720 * 2);
    camera.unplug();
  });
});
