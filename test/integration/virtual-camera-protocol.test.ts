/**
 * The protocol layer against the virtual camera, through the in-process host: the parser reads what the
 * camera generates for every option combination, probe/commit negotiates with it (including its lies), and
 * controls round-trip. Neither side knows the other; they only share the wire.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isUvcError } from '../../src/errors.js';
import { openVirtualDevice } from '../../src/transport/virtual/virtual-transport.js';
import type { UsbTransport } from '../../src/transport/usb-transport.js';
import { negotiateStream, parseUvcDescriptors, UvcControls } from '../../src/uvc/index.js';
import { VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';

const opened: UsbTransport[] = [];
afterEach(async () => {
  for (const transport of opened.splice(0)) await transport.close();
});

async function connect(options: VirtualCameraOptions = {}): Promise<{ camera: VirtualCamera; transport: UsbTransport }> {
  const camera = new VirtualCamera(options);
  const transport = await openVirtualDevice(camera);
  opened.push(transport);
  return { camera, transport };
}

const FPS_TO_INTERVAL = (fps: number): number => Math.floor(10_000_000 / fps);

describe('our parser reads every virtual camera configuration', () => {
  const versions = ['1.0', '1.1', '1.5'] as const;
  const speeds = ['full', 'high', 'super'] as const;
  const transfers = ['iso', 'bulk'] as const;
  for (const uvcVersion of versions) {
    for (const speed of speeds) {
      for (const transfer of transfers) {
        it(`UVC ${uvcVersion}, ${speed} speed, ${transfer}`, async () => {
          const { camera, transport } = await connect({ uvcVersion, speed, transfer });
          const parsed = parseUvcDescriptors(transport.configDescriptor());
          expect(parsed.warnings).toEqual([]);
          expect(parsed.uvcVersion).toBe({ '1.0': '1.00', '1.1': '1.10', '1.5': '1.50' }[uvcVersion]);
          expect(parsed.videoControl.interruptEndpoint).not.toBeNull();
          const [vs, ...others] = parsed.streamingInterfaces;
          expect(others).toEqual([]);
          expect(vs!.transferType).toBe(transfer === 'iso' ? 'isochronous' : 'bulk');
          // Formats, frames and intervals are exactly those the camera was built with.
          const built = camera.config.formats;
          expect(vs!.formats.map((f) => f.kind)).toEqual(built.map((f) => (f.kind === 'mjpeg' ? 'mjpeg' : 'uncompressed')));
          for (const [i, format] of vs!.formats.entries()) {
            const source = built[i]!;
            expect(format.fourcc).toBe(({ yuyv: 'YUY2', nv12: 'NV12', mjpeg: 'MJPG' } as Record<string, string>)[source.kind]);
            expect(format.frames.map((f) => [f.width, f.height])).toEqual(source.frames.map((f) => [f.width, f.height]));
            for (const [k, frame] of format.frames.entries()) {
              const want = source.frames[k]!;
              expect(frame.intervals).toEqual(want.intervals);
              expect(frame.defaultInterval).toBe(want.defaultInterval);
            }
          }
          // iso: alt 0 carries nothing, the others strictly grow; bulk: one alt setting with the endpoint.
          if (transfer === 'iso') {
            const bandwidth = vs!.altSettings.map((a) => a.bytesPerInterval);
            expect(bandwidth[0]).toBe(0);
            for (let k = 2; k < bandwidth.length; k++) expect(bandwidth[k]!).toBeGreaterThan(bandwidth[k - 1]!);
            if (speed === 'high') expect(bandwidth).toContain(3 * 1024);
            if (speed === 'super') expect(Math.max(...bandwidth)).toBeGreaterThan(3 * 1024);
          } else {
            expect(vs!.altSettings.map((a) => a.transferType)).toContain('bulk');
          }
          const names = parsed.controls.map((c) => c.name);
          for (const name of ['brightness', 'contrast', 'hue', 'saturation', 'gain', 'exposure_time_absolute', 'pan_tilt_absolute']) {
            expect(names).toContain(name);
          }
          expect(parsed.videoControl.entities.some((e) => e.type === 'extension-unit')).toBe(true);
        });
      }
    }
  }
});

describe('probe/commit with the virtual camera', () => {
  it('negotiates every mode it offers and picks an alt setting that carries it', async () => {
    const { transport } = await connect();
    const fn = parseUvcDescriptors(transport.configDescriptor());
    for (const format of fn.streamingInterfaces[0]!.formats) {
      for (const frame of format.frames) {
        const intervals = Array.isArray(frame.intervals) ? frame.intervals : [frame.intervals.min];
        for (const interval of intervals) {
          const fps = 10_000_000 / interval;
          const params = await negotiateStream(transport, fn, { fourcc: format.fourcc!, width: frame.width, height: frame.height, fps });
          expect(params.committed).toBe(true);
          expect(params.frame).toMatchObject({ width: frame.width, height: frame.height });
          expect(params.interval).toBe(interval);
          expect(params.bytesPerInterval).toBeGreaterThanOrEqual(params.dwMaxPayloadTransferSize);
          const alts = fn.streamingInterfaces[0]!.altSettings.filter((a) => a.bytesPerInterval >= params.dwMaxPayloadTransferSize);
          expect(params.altSetting).toBe(alts[0]!.alternateSetting); // the smallest that fits
          if (format.kind === 'uncompressed') expect(params.dwMaxVideoFrameSize).toBe(frame.width * frame.height * 2);
          expect(params.fixups).toEqual([]);
        }
      }
    }
  });

  it('accepts YUYV for the YUY2 GUID and takes the nearest mode the camera has', async () => {
    const { transport } = await connect();
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const params = await negotiateStream(transport, fn, { fourcc: 'YUYV', width: 1280, height: 720, fps: 30 });
    expect(params.format.fourcc).toBe('YUY2');
    expect(params.frame).toMatchObject({ width: 1280, height: 720 });
    expect(params.fps).toBeLessThanOrEqual(10); // a high-speed bus carries no more 720p YUYV than that
  });

  for (const uvcVersion of ['1.0', '1.1', '1.5'] as const) {
    it(`speaks the ${uvcVersion} block length`, async () => {
      const { transport } = await connect({ uvcVersion });
      const fn = parseUvcDescriptors(transport.configDescriptor());
      const params = await negotiateStream(transport, fn, { fourcc: 'MJPG', width: 640, height: 480, fps: 30 });
      expect(params.block.length).toBe({ '1.0': 26, '1.1': 34, '1.5': 48 }[uvcVersion]);
      expect(params.dwClockFrequency).toBe(48_000_000);
    });
  }

  it('works with a device whose probe replies are shorter than its bcdUVC implies', async () => {
    const { transport } = await connect({ uvcVersion: '1.5', faults: { probeReplyLength: 26 } });
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const params = await negotiateStream(transport, fn, { fourcc: 'YUYV', width: 640, height: 480, fps: 15 });
    expect(params.block.length).toBe(26);
    expect(params.frame).toMatchObject({ width: 640, height: 480 });
    expect(params.interval).toBe(FPS_TO_INTERVAL(15));
  });

  it('repairs a bogus bandwidth claim instead of asking for an alt setting it cannot have', async () => {
    const { transport } = await connect({ faults: { reportedMaxPayloadTransferSize: 0x7fff_0000 } });
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const params = await negotiateStream(transport, fn, { fourcc: 'YUYV', width: 640, height: 480, fps: 5 });
    expect(params.fixups.join(' ')).toMatch(/payload/i);
    expect(params.dwMaxPayloadTransferSize).toBeLessThanOrEqual(3 * 1024);
    expect(params.bytesPerInterval).toBeGreaterThanOrEqual(params.dwMaxPayloadTransferSize);
  });

  it('fails with ENOSPC naming a mode that fits when the camera wants more than any alt setting', async () => {
    // A lie just above the largest alt setting, not absurd enough for the bandwidth estimate to override.
    const { transport } = await connect({ faults: { reportedMaxPayloadTransferSize: 3 * 1024 + 512 } });
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const error = await negotiateStream(transport, fn, { fourcc: 'YUYV', width: 640, height: 480, fps: 30 }).catch((e: unknown) => e);
    expect(isUvcError(error, 'ENOSPC')).toBe(true);
    expect((error as Error).message).toMatch(/\d+x\d+/);
    expect((error as { details: Record<string, unknown> }).details.suggestion).toBeDefined();
  });
});

describe('controls with the virtual camera', () => {
  it('lists the declared controls with the ranges the camera reports and round-trips values', async () => {
    const { transport } = await connect();
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const controls = await UvcControls.create(transport, fn);
    const brightness = controls.info('brightness');
    expect(brightness.flags.get && brightness.flags.set).toBe(true);
    expect(brightness.min).toBeLessThan(brightness.max as number);
    expect(brightness.value).toBe(brightness.default);
    const target = (brightness.min as number) + (brightness.step as number) * 3;
    await controls.set('brightness', target);
    expect(await controls.get('brightness')).toBe(target);
    const panTilt = controls.info('pan_tilt_absolute');
    expect(panTilt.type).toBe('compound');
    await expect(controls.set('brightness', (brightness.max as number) + 1)).rejects.toMatchObject({ code: 'ERANGE' });
    expect(await controls.get('brightness')).toBe(target); // nothing reached the device
  });

  it('reports why the device refused, read from its request error code', async () => {
    const { transport } = await connect({ faults: { stallRequests: [{ request: 0x01, selector: 0x02, errorCode: 2 }] } });
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const controls = await UvcControls.create(transport, fn);
    const error = await controls.set('brightness', controls.info('brightness').default as number).catch((e: unknown) => e);
    expect(isUvcError(error, 'EBUSY')).toBe(true);
    expect((error as { details: { requestError: { code: number } } }).details.requestError.code).toBe(2);
  });

  it('times out a request the camera never answers, and carries on', async () => {
    const { transport } = await connect({ faults: { ignoreRequests: [{ request: 0x81, entity: 2, selector: 0x03, times: 1 }] } });
    const fn = parseUvcDescriptors(transport.configDescriptor());
    const controls = await UvcControls.create(transport, fn, { timeoutMs: 300 });
    // Contrast's GET_CUR timed out during discovery; it is recorded, not fatal.
    expect(controls.info('contrast').unsupported).toContain('GET_CUR');
    expect(typeof (await controls.get('contrast'))).toBe('number');
  });
});
