/**
 * Only the requests the UVC specification defines, in both directions (issue 12.5): the driver asks each control
 * only what its type allows, and the virtual camera refuses the rest, so a camera that stalls undefined requests
 * sees none on open.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openCamera, type Camera } from '../../src/camera/index.js';
import { UvcRequest } from '../../src/spec/uvc.js';
import type { ControlReply, SetupPacket } from '../../src/transport/device-model.js';
import { VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';

const open: Camera[] = [];
afterEach(async () => {
  for (const camera of open.splice(0)) await camera.close();
});

const NAMES = new Map<number, string>(Object.entries(UvcRequest).map(([name, code]) => [code, name]));

interface Logged {
  request: string;
  entity: number;
  interface: number;
  selector: number;
  status: ControlReply['status'];
}

/** A virtual camera whose class requests are logged with the answer they got. */
function recorded(options: VirtualCameraOptions): { vcam: VirtualCamera; log: Logged[] } {
  const vcam = new VirtualCamera(options);
  const log: Logged[] = [];
  const control = vcam.control.bind(vcam);
  vcam.control = async (setup: SetupPacket, data?: Uint8Array, signal?: AbortSignal) => {
    const reply = await control(setup, data, signal);
    if ((setup.bmRequestType & 0x60) === 0x20) {
      log.push({
        request: NAMES.get(setup.bRequest) ?? String(setup.bRequest),
        entity: setup.wIndex >> 8,
        interface: setup.wIndex & 0xff,
        selector: setup.wValue >> 8,
        status: reply.status,
      });
    }
    return reply;
  };
  return { vcam, log };
}

describe('requests the specification defines', () => {
  for (const uvcVersion of ['1.0', '1.1', '1.5'] as const) {
    it(`opening a UVC ${uvcVersion} camera sends none that it stalls`, async () => {
      const { vcam, log } = recorded({ pace: 'fast', uvcVersion });
      const camera = await openCamera(vcam);
      open.push(camera);
      expect(log.length).toBeGreaterThan(40);
      expect(log.filter((r) => r.status !== 'ok')).toEqual([]);
      // Booleans and bitmaps are never asked a range; only extension units a length.
      const to = (entity: number, selector: number) => log.filter((r) => r.entity === entity && r.selector === selector).map((r) => r.request);
      expect(to(1, 0x02)).toEqual(['GET_INFO', 'GET_RES', 'GET_DEF', 'GET_CUR']); // AE mode
      expect(to(1, 0x03)).toEqual(['GET_INFO', 'GET_CUR']); // AE priority
      expect(to(1, 0x11)).toEqual(['GET_INFO', 'GET_CUR']); // privacy
      expect(to(2, 0x0b)).toEqual(['GET_INFO', 'GET_DEF', 'GET_CUR']); // white balance temperature, auto
      expect(to(2, 0x05)).toEqual(['GET_INFO', 'GET_DEF', 'GET_CUR']); // power line frequency
      expect(log.filter((r) => r.request === 'GET_LEN' && r.entity !== 0 && r.entity !== 3)).toEqual([]);
      expect(camera.controls.find((c) => c.name === 'power_line_frequency')!.menu!.map((m) => m.value)).toEqual(
        uvcVersion === '1.5' ? [0, 1, 2, 3] : [0, 1, 2],
      );
    });
  }
});
