import { describe, expect, it } from 'vitest';
import { VirtualCamera, EXTENSION_UNIT_GUID, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { DescriptorType } from '../../src/spec/usb.js';
import { CT_CONTROL_BIT, PU_CONTROL_BIT, UvcRequest } from '../../src/spec/uvc.js';
import { checkConfiguration, splitDescriptors } from './helpers/descriptor-check.js';
import { classGet, enumerate, getDescriptor, mustGetDescriptor, VC } from './helpers/raw-usb.js';

const u16 = (d: Uint8Array, o: number) => d[o]! | (d[o + 1]! << 8);

async function configOf(options: VirtualCameraOptions) {
  const camera = new VirtualCamera(options);
  const { device, config } = await enumerate(camera);
  return { camera, device, config, summary: checkConfiguration(config, options.speed ?? 'high') };
}

const fpsOf = (intervals: unknown) => (intervals as number[]).map((iv) => Math.round(10_000_000 / iv));

describe('descriptors', () => {
  for (const uvcVersion of ['1.0', '1.1', '1.5'] as const) {
    for (const speed of ['full', 'high', 'super'] as const) {
      for (const transfer of ['iso', 'bulk'] as const) {
        it(`are well formed: UVC ${uvcVersion}, ${speed} speed, ${transfer}`, async () => {
          const { camera, device, summary } = await configOf({ uvcVersion, speed, transfer });
          expect(device.length).toBe(18);
          expect(u16(device, 2)).toBe(speed === 'super' ? 0x0320 : 0x0200);
          expect([device[4], device[5], device[6]]).toEqual([0xef, 0x02, 0x01]);
          expect(device[7]).toBe(speed === 'super' ? 9 : 64);
          expect(summary.bcdUVC).toBe({ '1.0': 0x0100, '1.1': 0x0110, '1.5': 0x0150 }[uvcVersion]);
          expect(summary.vcProtocol).toBe(uvcVersion === '1.5' ? 1 : 0);
          expect(summary.clockFrequency).toBe(48_000_000);
          expect(summary.statusEndpoint).toEqual({ address: 0x82, maxPacket: 16, interval: speed === 'full' ? 16 : 8 });
          // Camera terminal → processing unit → extension unit → output terminal.
          expect([...summary.entities.entries()].map(([id, e]) => [id, e.subtype, e.source])).toEqual([
            [1, 0x02, []],
            [2, 0x05, [1]],
            [3, 0x06, [2]],
            [4, 0x03, [3]],
          ]);
          const pu = summary.entities.get(2)!.bytes;
          expect(pu.length).toBe(uvcVersion === '1.0' ? 11 : uvcVersion === '1.1' ? 12 : 13);
          expect(Array.from(summary.entities.get(3)!.bytes.subarray(4, 20))).toEqual(Array.from(EXTENSION_UNIT_GUID));
          if (transfer === 'iso') {
            expect(summary.bulkEndpoint).toBeNull();
            expect(summary.alts.length).toBeGreaterThanOrEqual(5);
            const sizes = summary.alts.map((a) => a.bytesPerInterval);
            expect([...sizes].sort((a, b) => a - b)).toEqual(sizes);
            if (speed === 'high') expect(sizes).toEqual(expect.arrayContaining([2048, 3072]));
            for (const a of summary.alts) expect(a.attributes).toBe(0x05); // isochronous, asynchronous
          } else {
            expect(summary.alts).toEqual([]);
            expect(summary.bulkEndpoint?.address).toBe(0x81);
          }
          camera.unplug();
        });
      }
    }
  }

  it('offer the formats of issue 8 by default at high speed', async () => {
    const { summary } = await configOf({});
    expect(summary.formats.map((f) => f.fourcc ?? 'MJPG')).toEqual(['YUY2', 'MJPG']);
    const [yuyv, mjpeg] = summary.formats;
    expect(yuyv!.frames.map((f) => [f.width, f.height, fpsOf(f.intervals)])).toEqual([
      [640, 480, [30, 15, 5]],
      [1280, 720, [10, 5]],
    ]);
    expect(mjpeg!.frames.map((f) => [f.width, f.height, fpsOf(f.intervals)])).toEqual([
      [640, 480, [30, 15, 5]],
      [1280, 720, [30, 15, 5]],
      [1920, 1080, [30, 15, 5]],
    ]);
    // MJPEG honours wCompQuality in probe/commit; YUYV has no compression parameters.
    expect(summary.inputHeader.bmaControls).toEqual([0x00, 0x04]);
  });

  it('offer 1080p YUYV at SuperSpeed only', async () => {
    const { summary } = await configOf({ speed: 'super' });
    expect(summary.formats[0]!.frames.map((f) => [f.width, f.height])).toContainEqual([1920, 1080]);
    expect(Math.max(...summary.alts.map((a) => a.bytesPerInterval))).toBe(49152);
  });

  it('are generated from custom formats: NV12, continuous intervals, a default frame', async () => {
    const { summary } = await configOf({
      formats: [
        { format: 'nv12', frames: [{ width: 320, height: 240, intervalRange: { min: 400000, max: 2000000, step: 400000 } }] },
        {
          format: 'mjpeg',
          defaultFrame: 1,
          frames: [
            { width: 800, height: 600, intervals: [666666, 333333] },
            { width: 1024, height: 768, fps: [20], defaultInterval: 500000 },
          ],
        },
      ],
    });
    const [nv12, mjpeg] = summary.formats;
    expect(nv12!.fourcc).toBe('NV12');
    expect(nv12!.bitsPerPixel).toBe(12);
    expect(nv12!.frames[0]!.intervals).toEqual({ min: 400000, max: 2000000, step: 400000 });
    expect(nv12!.frames[0]!.maxFrameSize).toBe(320 * 240 * 1.5);
    expect(mjpeg!.defaultFrameIndex).toBe(2);
    expect(mjpeg!.frames[0]!.intervals).toEqual([333333, 666666]);
  });

  it('advertise in bmControls exactly the controls that answer GET_INFO', async () => {
    const camera = new VirtualCamera();
    const { config } = await enumerate(camera);
    const summary = checkConfiguration(config, 'high');
    const ct = summary.entities.get(1)!.bytes;
    const pu = summary.entities.get(2)!.bytes;
    const xu = summary.entities.get(3)!.bytes;
    const bitsOf = (bytes: Uint8Array) => {
      const bits: number[] = [];
      bytes.forEach((b, i) => {
        for (let k = 0; k < 8; k++) if (b & (1 << k)) bits.push(i * 8 + k);
      });
      return bits;
    };
    const ctBits = bitsOf(ct.subarray(15, 15 + ct[14]!));
    const puBits = bitsOf(pu.subarray(8, 8 + pu[7]!));
    const xuBits = bitsOf(xu.subarray(24, 24 + xu[23]!));
    const check = async (entity: number, table: Readonly<Record<number, number>> | null, bits: number[]) => {
      for (let selector = 1; selector < 32; selector++) {
        const bit = table ? table[selector] : selector - 1;
        if (bit === undefined) continue;
        const r = await classGet(camera, UvcRequest.GET_INFO, VC, entity, selector, 1);
        expect({ entity, selector, answered: r.status === 'ok' }).toEqual({ entity, selector, answered: bits.includes(bit) });
      }
    };
    await check(1, CT_CONTROL_BIT, ctBits);
    await check(2, PU_CONTROL_BIT, puBits);
    await check(3, null, xuBits);
    expect(xu[20]).toBe(xuBits.length); // bNumControls
    camera.unplug();
  });

  it('come as strings, device qualifier and other-speed configuration at high speed', async () => {
    const camera = new VirtualCamera({ serial: 'SN-42', product: 'Tester', manufacturer: 'Acme' });
    const { device } = await enumerate(camera);
    const lang = await mustGetDescriptor(camera, DescriptorType.STRING, 0, 255);
    expect(Array.from(lang)).toEqual([4, 3, 0x09, 0x04]);
    const text = async (index: number) => {
      const d = await mustGetDescriptor(camera, DescriptorType.STRING, index, 255);
      expect(d[0]).toBe(d.length);
      expect(d[1]).toBe(3);
      return String.fromCharCode(...Array.from({ length: (d.length - 2) / 2 }, (_, i) => u16(d, 2 + 2 * i)));
    };
    expect(await text(device[14]!)).toBe('Acme');
    expect(await text(device[15]!)).toBe('Tester');
    expect(await text(device[16]!)).toBe('SN-42');
    expect((await getDescriptor(camera, DescriptorType.STRING, 9, 255)).status).toBe('stall');

    const qualifier = await mustGetDescriptor(camera, DescriptorType.DEVICE_QUALIFIER, 0, 10);
    expect(Array.from(qualifier)).toEqual([10, 6, 0x00, 0x02, 0xef, 0x02, 0x01, 64, 1, 0]);
    const head = await mustGetDescriptor(camera, DescriptorType.OTHER_SPEED_CONFIGURATION, 0, 9);
    const other = await mustGetDescriptor(camera, DescriptorType.OTHER_SPEED_CONFIGURATION, 0, u16(head, 2));
    const summary = checkConfiguration(other, 'full', DescriptorType.OTHER_SPEED_CONFIGURATION);
    expect(Math.max(...summary.alts.map((a) => a.bytesPerInterval))).toBe(1023);
    expect((await getDescriptor(camera, DescriptorType.BOS, 0, 5)).status).toBe('stall');
    camera.unplug();
  });

  it('has no serial string when told so', async () => {
    const camera = new VirtualCamera({ serial: null });
    const { device } = await enumerate(camera);
    expect(device[16]).toBe(0);
    camera.unplug();
  });

  it('come with a BOS and without a qualifier at SuperSpeed', async () => {
    const camera = new VirtualCamera({ speed: 'super' });
    await enumerate(camera);
    const head = await mustGetDescriptor(camera, DescriptorType.BOS, 0, 5);
    const bos = await mustGetDescriptor(camera, DescriptorType.BOS, 0, u16(head, 2));
    const parts = splitDescriptors(bos);
    expect(parts[0]![4]).toBe(parts.length - 1);
    expect(parts.slice(1).map((p) => [p[1], p[2]])).toEqual([
      [0x10, 0x02],
      [0x10, 0x03],
    ]);
    expect((await getDescriptor(camera, DescriptorType.DEVICE_QUALIFIER, 0, 10)).status).toBe('stall');
    camera.unplug();
  });

  it('have no qualifier at full speed', async () => {
    const camera = new VirtualCamera({ speed: 'full' });
    await enumerate(camera);
    expect((await getDescriptor(camera, DescriptorType.DEVICE_QUALIFIER, 0, 10)).status).toBe('stall');
    expect((await getDescriptor(camera, DescriptorType.OTHER_SPEED_CONFIGURATION, 0, 9)).status).toBe('stall');
    camera.unplug();
  });
});
