/**
 * Real cameras' faces (issue 12.4): the virtual camera wears the recorded descriptors of real cameras and streams
 * what they declare; the driver streams every format and frame size of every profile (two verified frames each:
 * stamp read back, size right, nothing flagged). H.264/H.265 frames are a real clip's access units stamped in an
 * SEI NAL (src/virtual-camera/annex-b.ts).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Camera } from '../../src/camera/index.js';
import { parseUvcDescriptors } from '../../src/uvc/index.js';
import { PROFILE_NAMES, VirtualCamera } from '../../src/virtual-camera/index.js';
import { openVirtual, streamVerified } from './helpers.js';

const opened: Camera[] = [];
afterEach(async () => {
  for (const camera of opened.splice(0)) await camera.close();
});

const FIXTURES = new URL('../fixtures/descriptors/', import.meta.url);
const hex = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

describe('real cameras\' faces', () => {
  it('fromDescriptors serves the recorded bytes verbatim and takes ids, speed and formats from them', async () => {
    const vcam = VirtualCamera.fromDescriptors(hex('esp_logitech_c270.cfg_desc.hex'), hex('esp_logitech_c270.dev_desc.hex'), { pace: 'fast' });
    expect(Buffer.from(vcam.configurationDescriptor()).toString('hex')).toBe(hex('esp_logitech_c270.cfg_desc.hex').replace(/\s/g, '').toLowerCase());
    expect(vcam.config).toMatchObject({ vendorId: 0x046d, productId: 0x0825, speed: 'high', transfer: 'iso', uvcVersion: '1.0' });
    const { camera } = await openVirtual({ profile: 'logitech-c270', pace: 'fast' }, {}, opened);
    expect(camera.info).toMatchObject({ vendorId: 0x046d, productId: 0x0825, uvcVersion: '1.00' });
    expect(camera.formats.map((f) => `${f.fourcc}:${f.frames.length}`)).toEqual(['YUY2:19', 'MJPG:19']);
    vcam.unplug();
  });

  it('refuses what it cannot play, saying why', () => {
    expect(() => new VirtualCamera({ profile: 'nope' as never })).toThrow(/unknown profile "nope"/);
    expect(() => new VirtualCamera({ profile: 'logitech-c270', speed: 'full' })).toThrow(/speed comes from the descriptors/);
    expect(() => VirtualCamera.fromDescriptors('09 02 09 00 00 01 00 80 fa', hex('esp_logitech_c270.dev_desc.hex'))).toThrow(/no video function/);
    expect(() => VirtualCamera.fromDescriptors('zz', '12')).toThrow(/hex/);
  });

  for (const profile of PROFILE_NAMES) {
    it(`${profile}: the driver streams every format and frame size it declares`, async () => {
      const { vcam, camera } = await openVirtual({ profile, pace: 'fast' }, {}, opened);
      const parsed = parseUvcDescriptors(vcam.configurationDescriptor());
      const declared = parsed.functions.flatMap((fn) => fn.streamingInterfaces.flatMap((vs) => vs.formats.map((f) => `${vs.interfaceNumber}:${f.fourcc}:${f.frames.length}`)));
      expect(camera.formats.map((f) => `${f.interfaceNumber}:${f.fourcc}:${f.frames.length}`)).toEqual(declared);
      let modes = 0;
      for (const format of camera.formats) {
        const sizes = new Set<string>();
        for (const frame of format.frames) {
          const size = `${frame.width}x${frame.height}`;
          if (sizes.has(size)) continue;
          sizes.add(size);
          const negotiated = await camera.setFormat({ interfaceNumber: format.interfaceNumber, fourcc: format.fourcc, width: frame.width, height: frame.height });
          expect(negotiated).toMatchObject({ interfaceNumber: format.interfaceNumber, fourcc: format.fourcc, width: frame.width, height: frame.height, transfer: format.transfer });
          await streamVerified(camera, 2, 2);
          modes++;
        }
      }
      expect(modes).toBeGreaterThan(0);
    }, 120_000);
  }
});
