import { describe, expect, it } from 'vitest';
import { VirtualCamera, XuControl } from '../../src/virtual-camera/index.js';
import { AeMode, ControlInfo, CtControl, PuControl, RequestErrorCode, UvcRequest, VcControl, VsControl } from '../../src/spec/uvc.js';
import {
  classGet,
  classSet,
  enumerate,
  negotiate,
  readIso,
  requestErrorCode,
  setInterface,
  STATUS_EP,
  VC,
  VS,
} from './helpers/raw-usb.js';

const CT = 1;
const PU = 2;
const XU = 3;
const OT = 4;

async function configured(options: ConstructorParameters<typeof VirtualCamera>[0] = {}) {
  const camera = new VirtualCamera(options);
  await enumerate(camera);
  return camera;
}

function le(value: number, size: number, signed = false): Uint8Array {
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  if (size === 1) v.setUint8(0, value & 0xff);
  else if (size === 2) (signed ? v.setInt16(0, value, true) : v.setUint16(0, value, true));
  else (signed ? v.setInt32(0, value, true) : v.setUint32(0, value, true));
  return out;
}

function read(data: Uint8Array, signed = false): number {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length === 1) return v.getUint8(0);
  if (data.length === 2) return signed ? v.getInt16(0, true) : v.getUint16(0, true);
  return signed ? v.getInt32(0, true) : v.getUint32(0, true);
}

interface Expected {
  name: string;
  entity: number;
  selector: number;
  size: number;
  signed?: boolean;
  /** min, max, res, def; null where GET_MIN/MAX/RES stall (no range: booleans, bitmaps, menus). */
  range: [number, number, number, number] | null;
  /** GET_DEF when there is no range. */
  def?: number;
  info: number;
}

const G = ControlInfo.SUPPORTS_GET;
const S = ControlInfo.SUPPORTS_SET;
const A = ControlInfo.AUTOUPDATE;
const D = ControlInfo.DISABLED_BY_AUTO;

const CONTROLS: Expected[] = [
  { name: 'brightness', entity: PU, selector: PuControl.BRIGHTNESS, size: 2, signed: true, range: [-64, 64, 1, 0], info: G | S },
  { name: 'contrast', entity: PU, selector: PuControl.CONTRAST, size: 2, range: [0, 200, 1, 100], info: G | S },
  { name: 'hue', entity: PU, selector: PuControl.HUE, size: 2, signed: true, range: [-18000, 18000, 100, 0], info: G | S },
  { name: 'saturation', entity: PU, selector: PuControl.SATURATION, size: 2, range: [0, 200, 1, 100], info: G | S },
  { name: 'gamma', entity: PU, selector: PuControl.GAMMA, size: 2, range: [50, 300, 1, 100], info: G | S },
  { name: 'gain', entity: PU, selector: PuControl.GAIN, size: 2, range: [0, 100, 1, 0], info: G | S },
  { name: 'power line frequency', entity: PU, selector: PuControl.POWER_LINE_FREQUENCY, size: 1, range: null, def: 1, info: G | S },
  { name: 'white balance temperature', entity: PU, selector: PuControl.WHITE_BALANCE_TEMPERATURE, size: 2, range: [2800, 6500, 10, 5000], info: G | S | A | D },
  { name: 'exposure time absolute', entity: CT, selector: CtControl.EXPOSURE_TIME_ABSOLUTE, size: 4, range: [1, 5000, 1, 156], info: G | S | A | D },
  { name: 'test pattern (XU)', entity: XU, selector: XuControl.TEST_PATTERN, size: 1, range: [0, 3, 1, 0], info: G | S },
  { name: 'motion speed (XU)', entity: XU, selector: XuControl.MOTION_SPEED, size: 1, range: [0, 32, 1, 4], info: G | S },
  { name: 'frame counter (XU)', entity: XU, selector: XuControl.FRAME_COUNTER, size: 4, range: [0, 0xffffffff, 1, 0], info: G | A },
];

describe('UVC controls', () => {
  for (const c of CONTROLS) {
    it(`${c.name}: GET_INFO, GET_DEF, GET_CUR, and GET_LEN, GET_MIN/MAX/RES only where the spec defines them`, async () => {
      const camera = await configured();
      const get = async (request: number, length = c.size) => {
        const r = await classGet(camera, request, VC, c.entity, c.selector, length);
        expect(r.status).toBe('ok');
        expect(await requestErrorCode(camera)).toBe(RequestErrorCode.NO_ERROR);
        return r.data!;
      };
      const undefinedRequest = async (request: number, length = c.size) => {
        expect((await classGet(camera, request, VC, c.entity, c.selector, length)).status).toBe('stall');
        expect(await requestErrorCode(camera)).toBe(RequestErrorCode.INVALID_REQUEST);
      };
      expect(Array.from(await get(UvcRequest.GET_INFO, 1))).toEqual([c.info]);
      // GET_LEN is defined for extension unit controls only.
      if (c.entity === XU) expect(read(await get(UvcRequest.GET_LEN, 2))).toBe(c.size);
      else await undefinedRequest(UvcRequest.GET_LEN, 2);
      if (c.range === null) {
        for (const request of [UvcRequest.GET_MIN, UvcRequest.GET_MAX, UvcRequest.GET_RES]) await undefinedRequest(request);
        expect(read(await get(UvcRequest.GET_DEF))).toBe(c.def);
      } else {
        const [min, max, res, def] = c.range;
        for (const [request, value] of [
          [UvcRequest.GET_MIN, min],
          [UvcRequest.GET_MAX, max],
          [UvcRequest.GET_RES, res],
          [UvcRequest.GET_DEF, def],
        ] as const) {
          const data = await get(request);
          expect(data.length).toBe(c.size);
          expect(read(data, c.signed)).toBe(value);
        }
      }
      expect((await get(UvcRequest.GET_CUR)).length).toBe(c.size);
      camera.unplug();
    });
  }

  it('take values in range on the step, and refuse the rest with the right error code', async () => {
    const camera = await configured();
    const set = (entity: number, selector: number, data: Uint8Array) => classSet(camera, VC, entity, selector, data);
    expect((await set(PU, PuControl.BRIGHTNESS, le(-30, 2, true))).status).toBe('ok');
    expect(read((await classGet(camera, UvcRequest.GET_CUR, VC, PU, PuControl.BRIGHTNESS, 2)).data!, true)).toBe(-30);
    expect(await requestErrorCode(camera)).toBe(RequestErrorCode.NO_ERROR);

    const refused = async (entity: number, selector: number, data: Uint8Array, code: number) => {
      expect((await set(entity, selector, data)).status).toBe('stall');
      expect(await requestErrorCode(camera)).toBe(code);
      // Reading the error code does not change it.
      expect(await requestErrorCode(camera)).toBe(code);
    };
    await refused(PU, PuControl.BRIGHTNESS, le(65, 2, true), RequestErrorCode.OUT_OF_RANGE);
    await refused(PU, PuControl.HUE, le(150, 2, true), RequestErrorCode.INVALID_VALUE_WITHIN_RANGE); // step is 100
    await refused(PU, PuControl.BRIGHTNESS, le(1, 1), RequestErrorCode.INVALID_REQUEST); // wrong wLength
    await refused(PU, PuControl.POWER_LINE_FREQUENCY, le(3, 1), RequestErrorCode.OUT_OF_RANGE); // auto is UVC 1.5 only
    await refused(XU, XuControl.FRAME_COUNTER, le(5, 4), RequestErrorCode.INVALID_REQUEST); // read-only
    // Auto exposure (aperture priority, the default) owns the exposure time.
    await refused(CT, CtControl.EXPOSURE_TIME_ABSOLUTE, le(100, 4), RequestErrorCode.WRONG_STATE);
    await refused(PU, PuControl.WHITE_BALANCE_TEMPERATURE, le(4000, 2), RequestErrorCode.WRONG_STATE);
    // AE mode: exactly one supported mode bit (GET_RES says which).
    await refused(CT, CtControl.AE_MODE, le(AeMode.AUTO, 1), RequestErrorCode.INVALID_VALUE_WITHIN_RANGE);
    await refused(CT, CtControl.AE_MODE, le(AeMode.MANUAL | AeMode.APERTURE_PRIORITY, 1), RequestErrorCode.INVALID_VALUE_WITHIN_RANGE);
    await refused(CT, CtControl.AE_PRIORITY, le(2, 1), RequestErrorCode.OUT_OF_RANGE);

    expect((await set(CT, CtControl.AE_MODE, le(AeMode.MANUAL, 1))).status).toBe('ok');
    expect(Array.from((await classGet(camera, UvcRequest.GET_INFO, VC, CT, CtControl.EXPOSURE_TIME_ABSOLUTE, 1)).data!)).toEqual([G | S | A]);
    expect((await set(CT, CtControl.EXPOSURE_TIME_ABSOLUTE, le(300, 4))).status).toBe('ok');
    expect(read((await classGet(camera, UvcRequest.GET_CUR, VC, CT, CtControl.EXPOSURE_TIME_ABSOLUTE, 4)).data!)).toBe(300);
    expect((await set(PU, PuControl.WHITE_BALANCE_TEMPERATURE_AUTO, le(0, 1))).status).toBe('ok');
    expect((await set(PU, PuControl.WHITE_BALANCE_TEMPERATURE, le(4000, 2))).status).toBe('ok');

    // Pan/tilt: two signed 32-bit fields.
    const pt = new Uint8Array(8);
    new DataView(pt.buffer).setInt32(0, -7200, true);
    new DataView(pt.buffer).setInt32(4, 3600, true);
    expect((await set(CT, CtControl.PANTILT_ABSOLUTE, pt)).status).toBe('ok');
    const back = (await classGet(camera, UvcRequest.GET_CUR, VC, CT, CtControl.PANTILT_ABSOLUTE, 8)).data!;
    expect([new DataView(back.buffer, back.byteOffset).getInt32(0, true), new DataView(back.buffer, back.byteOffset).getInt32(4, true)]).toEqual([-7200, 3600]);
    const min = (await classGet(camera, UvcRequest.GET_MIN, VC, CT, CtControl.PANTILT_ABSOLUTE, 8)).data!;
    expect(new DataView(min.buffer, min.byteOffset).getInt32(4, true)).toBe(-36000);
    camera.unplug();
  });

  it('answer GET_RES but not GET_MIN/MAX for bitmaps, neither for booleans, and no GET_DEF for status switches', async () => {
    const camera = await configured();
    expect(Array.from((await classGet(camera, UvcRequest.GET_RES, VC, CT, CtControl.AE_MODE, 1)).data!)).toEqual([0x09]);
    expect(Array.from((await classGet(camera, UvcRequest.GET_DEF, VC, CT, CtControl.AE_MODE, 1)).data!)).toEqual([AeMode.APERTURE_PRIORITY]);
    for (const [selector, request] of [
      [CtControl.AE_MODE, UvcRequest.GET_MIN],
      [CtControl.AE_MODE, UvcRequest.GET_MAX],
      [CtControl.AE_PRIORITY, UvcRequest.GET_MIN],
      [CtControl.AE_PRIORITY, UvcRequest.GET_RES],
      [CtControl.PRIVACY, UvcRequest.GET_MAX],
      // AE priority and privacy have no default in the spec (uvc_ctrls[]: no GET_DEF flag).
      [CtControl.AE_PRIORITY, UvcRequest.GET_DEF],
      [CtControl.PRIVACY, UvcRequest.GET_DEF],
      [CtControl.PRIVACY, UvcRequest.GET_LEN],
    ] as const) {
      expect((await classGet(camera, request, VC, CT, selector, 1)).status).toBe('stall');
      expect(await requestErrorCode(camera)).toBe(RequestErrorCode.INVALID_REQUEST);
    }
    camera.unplug();
  });

  it('say which unit or control is wrong', async () => {
    const camera = await configured();
    const code = async (intf: number, entity: number, selector: number, request: number = UvcRequest.GET_CUR) => {
      expect((await classGet(camera, request, intf, entity, selector, 2)).status).toBe('stall');
      return requestErrorCode(camera);
    };
    expect(await code(VC, 9, PuControl.BRIGHTNESS)).toBe(RequestErrorCode.INVALID_UNIT);
    expect(await code(VC, PU, PuControl.SHARPNESS)).toBe(RequestErrorCode.INVALID_CONTROL);
    expect(await code(VC, CT, CtControl.ZOOM_ABSOLUTE)).toBe(RequestErrorCode.INVALID_CONTROL);
    expect(await code(VC, XU, 9)).toBe(RequestErrorCode.INVALID_CONTROL);
    expect(await code(VC, OT, 1)).toBe(RequestErrorCode.INVALID_CONTROL);
    expect(await code(VC, 0, VcControl.VIDEO_POWER_MODE)).toBe(RequestErrorCode.INVALID_CONTROL);
    expect(await code(VC, PU, PuControl.BRIGHTNESS, UvcRequest.GET_CUR_ALL)).toBe(RequestErrorCode.INVALID_REQUEST);
    expect(await code(7, 0, 1)).toBe(RequestErrorCode.INVALID_UNIT);
    // A SET_CUR sent device-to-host is not a UVC request.
    const wrongDirection = await camera.control(
      { bmRequestType: 0xa1, bRequest: UvcRequest.SET_CUR, wValue: PuControl.BRIGHTNESS << 8, wIndex: (PU << 8) | VC, wLength: 2 },
      undefined,
    );
    expect(wrongDirection.status).toBe('stall');
    expect(await requestErrorCode(camera)).toBe(RequestErrorCode.INVALID_REQUEST);
    // REQUEST_ERROR_CODE itself: GET_CUR and GET_INFO only.
    expect(Array.from((await classGet(camera, UvcRequest.GET_INFO, VC, 0, VcControl.REQUEST_ERROR_CODE, 1)).data!)).toEqual([G]);
    expect((await classGet(camera, UvcRequest.GET_MIN, VC, 0, VcControl.REQUEST_ERROR_CODE, 1)).status).toBe('stall');
    camera.unplug();
  });

  it('offer the UVC 1.5 power-line "auto" value only under UVC 1.5', async () => {
    const camera = await configured({ uvcVersion: '1.5' });
    expect((await classSet(camera, VC, PU, PuControl.POWER_LINE_FREQUENCY, le(3, 1))).status).toBe('ok');
    camera.unplug();
    const older = await configured({ uvcVersion: '1.1' });
    expect((await classSet(older, VC, PU, PuControl.POWER_LINE_FREQUENCY, le(3, 1))).status).toBe('stall');
    expect(await requestErrorCode(older)).toBe(RequestErrorCode.OUT_OF_RANGE);
    older.unplug();
  });

  it('report automatic changes, the privacy switch and the button on the status endpoint', async () => {
    const camera = await configured({ pace: 'fast' });
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    let frames = 0;
    // Stream a while: auto exposure and auto white balance follow the scene's light.
    await readIso(camera, 3072, 32, 2, (p) => {
      if (p.data.length > 2 && p.data[1]! & 0x02) frames++;
      return frames < 40;
    });
    const events: Uint8Array[] = [];
    for (;;) {
      const buffer = new Uint8Array(16);
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 50);
      const r = await camera.transfer({ endpoint: STATUS_EP, buffer, signal: controller.signal });
      clearTimeout(timer);
      if (r.status !== 'ok') break;
      events.push(buffer.slice(0, r.actualLength));
    }
    const exposure = events.filter((e) => e[0] === 1 && e[1] === CT && e[3] === CtControl.EXPOSURE_TIME_ABSOLUTE);
    const whiteBalance = events.filter((e) => e[0] === 1 && e[1] === PU && e[3] === PuControl.WHITE_BALANCE_TEMPERATURE);
    expect(exposure.length).toBeGreaterThan(0);
    expect(whiteBalance.length).toBeGreaterThan(0);
    for (const e of [...exposure, ...whiteBalance]) {
      expect(e[2]).toBe(0); // bEvent: control change
      expect(e[4]).toBe(0); // bAttribute: value change
    }
    // The last reported value is the current one.
    const lastExposure = exposure[exposure.length - 1]!;
    expect(lastExposure.length).toBe(5 + 4);
    const cur = (await classGet(camera, UvcRequest.GET_CUR, VC, CT, CtControl.EXPOSURE_TIME_ABSOLUTE, 4)).data!;
    expect(Array.from(lastExposure.subarray(5))).toEqual(Array.from(cur));

    camera.setPrivacyShutter(true);
    camera.pressButton();
    const next = async () => {
      const buffer = new Uint8Array(16);
      const r = await camera.transfer({ endpoint: STATUS_EP, buffer });
      return Array.from(buffer.subarray(0, r.actualLength));
    };
    expect(await next()).toEqual([1, CT, 0, CtControl.PRIVACY, 0, 1]);
    expect(await next()).toEqual([2, VS, 0, 1]);
    expect(await next()).toEqual([2, VS, 0, 0]);
    expect(read((await classGet(camera, UvcRequest.GET_CUR, VC, CT, CtControl.PRIVACY, 1)).data!)).toBe(1);
    // A status transfer shorter than the packet overflows.
    camera.setPrivacyShutter(false);
    const small = await camera.transfer({ endpoint: STATUS_EP, buffer: new Uint8Array(4) });
    expect(small.status).toBe('overflow');
    camera.unplug();
  });

  it('count frames in the extension unit', async () => {
    const camera = await configured({ pace: 'fast' });
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    let eofs = 0;
    await readIso(camera, 3072, 32, 1, (p) => {
      if (p.data.length > 2 && p.data[1]! & 0x02) eofs++;
      return eofs < 5;
    });
    const counter = read((await classGet(camera, UvcRequest.GET_CUR, VC, XU, XuControl.FRAME_COUNTER, 4)).data!);
    expect(counter).toBeGreaterThanOrEqual(5);
    expect(counter).toBe(camera.framesSent);
    expect((await classGet(camera, UvcRequest.GET_CUR, VS, 0, VsControl.STREAM_ERROR_CODE, 1)).data).toEqual(Uint8Array.of(0));
    camera.unplug();
  });
});
