import { describe, expect, it } from 'vitest';
import { VirtualCamera } from '../../src/virtual-camera/index.js';
import { RequestErrorCode, UvcRequest, VsControl } from '../../src/spec/uvc.js';
import { checkConfiguration } from './helpers/descriptor-check.js';
import {
  buildProbe,
  classGet,
  classSet,
  enumerate,
  negotiate,
  parseProbe,
  probeGet,
  requestErrorCode,
  setInterface,
  VS,
} from './helpers/raw-usb.js';

const LENGTH = { '1.0': 26, '1.1': 34, '1.5': 48 } as const;

async function camera(options: ConstructorParameters<typeof VirtualCamera>[0] = {}) {
  const cam = new VirtualCamera(options);
  const { config } = await enumerate(cam);
  return { cam, summary: checkConfiguration(config, options.speed ?? 'high') };
}

describe('probe and commit', () => {
  for (const version of ['1.0', '1.1', '1.5'] as const) {
    it(`answer every GET with the ${LENGTH[version]} bytes UVC ${version} implies (the uvcvideo sequence)`, async () => {
      const { cam } = await camera({ uvcVersion: version });
      const len = LENGTH[version];
      const info = await classGet(cam, UvcRequest.GET_INFO, VS, 0, VsControl.PROBE, 1);
      expect(Array.from(info.data!)).toEqual([0x03]);
      const getLen = await classGet(cam, UvcRequest.GET_LEN, VS, 0, VsControl.PROBE, 2);
      expect(Array.from(getLen.data!)).toEqual([len, 0]);
      // uvc_video_init: GET_DEF, SET_CUR of it, GET_CUR; uvc_probe_video: SET_CUR, GET_MIN, GET_MAX, SET_CUR, GET_CUR.
      const def = await classGet(cam, UvcRequest.GET_DEF, VS, 0, VsControl.PROBE, len);
      expect(def.data!.length).toBe(len);
      expect((await classSet(cam, VS, 0, VsControl.PROBE, def.data!)).status).toBe('ok');
      for (const request of [UvcRequest.GET_CUR, UvcRequest.GET_MIN, UvcRequest.GET_MAX, UvcRequest.GET_RES]) {
        const r = await classGet(cam, request, VS, 0, VsControl.PROBE, len);
        expect(r.status).toBe('ok');
        expect(r.data!.length).toBe(len);
      }
      const commitLen = await classGet(cam, UvcRequest.GET_LEN, VS, 0, VsControl.COMMIT, 2);
      expect(Array.from(commitLen.data!)).toEqual([len, 0]);
      const p = parseProbe(def.data!);
      expect(p.bFormatIndex).toBe(1);
      expect(p.bFrameIndex).toBe(1);
      expect(p.dwFrameInterval).toBe(333333);
      expect(p.dwMaxVideoFrameSize).toBe(640 * 480 * 2);
      if (version !== '1.0') {
        expect(p.dwClockFrequency).toBe(48_000_000);
        expect(p.bmFramingInfo).toBe(0x03); // FID required, EOF present
      }
      cam.unplug();
    });
  }

  for (const options of [{ speed: 'high' }, { speed: 'full' }, { speed: 'super' }, { transfer: 'bulk' }, { uvcVersion: '1.5' }] as const) {
    it(`answers GET_MIN/GET_MAX field by field so every mode's GET_CUR lies within them (${JSON.stringify(options)})`, async () => {
      const { cam } = await camera(options);
      const len = cam.config.probeLength;
      let checked = 0;
      for (const format of cam.config.formats) {
        for (const frame of format.frames) {
          for (const interval of frame.intervals!) {
            // libuvc's uvc_get_stream_ctrl_format_size: GET_MAX first, then SET_CUR/GET_CUR; it refuses the mode
            // unless GET_MAX's dwMaxPayloadTransferSize covers what GET_CUR answers.
            const max = await probeGet(cam, UvcRequest.GET_MAX, len);
            const cur = await negotiate(cam, len, { bFormatIndex: format.index, bFrameIndex: frame.index, dwFrameInterval: interval });
            const min = await probeGet(cam, UvcRequest.GET_MIN, len);
            const maxAfter = await probeGet(cam, UvcRequest.GET_MAX, len);
            expect(cur).toMatchObject({ bFormatIndex: format.index, bFrameIndex: frame.index, dwFrameInterval: interval });
            for (const bound of [max, maxAfter]) {
              expect(bound.dwMaxPayloadTransferSize).toBeGreaterThanOrEqual(cur.dwMaxPayloadTransferSize);
              expect(bound.dwMaxVideoFrameSize).toBeGreaterThanOrEqual(cur.dwMaxVideoFrameSize);
              expect(bound.bFormatIndex).toBe(cam.config.formats.length);
            }
            expect(min.dwMaxPayloadTransferSize).toBeLessThanOrEqual(cur.dwMaxPayloadTransferSize);
            expect(min.dwMaxVideoFrameSize).toBeLessThanOrEqual(cur.dwMaxVideoFrameSize);
            expect(min).toMatchObject({ bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: frame.minInterval });
            expect(maxAfter).toMatchObject({ bFrameIndex: format.frames.length, dwFrameInterval: frame.maxInterval });
            expect(min.wCompQuality).toBe(format.compressed ? 1 : 0);
            expect(maxAfter.wCompQuality).toBe(format.compressed ? 10000 : 0);
            checked++;
          }
        }
      }
      expect(checked).toBeGreaterThan(5);
      cam.unplug();
    });
  }

  it('answers GET_RES with the resolution of each field, not a mode', async () => {
    const { cam } = await camera({
      formats: [{ format: 'mjpeg', frames: [{ width: 640, height: 480, intervalRange: { min: 333333, max: 1333332, step: 333333 } }] }],
    });
    await negotiate(cam, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 666666 });
    const res = await probeGet(cam, UvcRequest.GET_RES, 34);
    expect(res).toMatchObject({ dwFrameInterval: 333333, wCompQuality: 1, dwMaxVideoFrameSize: 0, dwMaxPayloadTransferSize: 0 });
    cam.unplug();
  });

  it('counter-offers the nearest mode it supports', async () => {
    const { cam } = await camera();
    const ask = async (fields: Parameters<typeof buildProbe>[1]) => {
      expect((await classSet(cam, VS, 0, VsControl.PROBE, buildProbe(34, fields))).status).toBe('ok');
      return probeGet(cam, UvcRequest.GET_CUR, 34);
    };
    // 720p YUYV at 30 fps does not exist at high speed: the nearest is 10 fps.
    let p = await ask({ bFormatIndex: 1, bFrameIndex: 2, dwFrameInterval: 333333 });
    expect([p.bFormatIndex, p.bFrameIndex, p.dwFrameInterval]).toEqual([1, 2, 1_000_000]);
    // 20 fps is nearer 15 than 30 in interval terms (500000 vs 666666 / 333333).
    p = await ask({ bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 500000 });
    expect(p.dwFrameInterval).toBe(666666);
    // Interval 0: the frame's default.
    p = await ask({ bFormatIndex: 2, bFrameIndex: 3, dwFrameInterval: 0 });
    expect([p.bFormatIndex, p.bFrameIndex, p.dwFrameInterval]).toEqual([2, 3, 333333]);
    // Indexes out of range are clamped.
    p = await ask({ bFormatIndex: 9, bFrameIndex: 9, dwFrameInterval: 10_000_000 });
    expect([p.bFormatIndex, p.bFrameIndex, p.dwFrameInterval]).toEqual([2, 3, 2_000_000]);
    p = await ask({ bFormatIndex: 0, bFrameIndex: 0, dwFrameInterval: 1 });
    expect([p.bFormatIndex, p.bFrameIndex, p.dwFrameInterval]).toEqual([1, 1, 333333]);
    // wCompQuality: honoured and clamped for MJPEG, 0 for YUYV.
    p = await ask({ bFormatIndex: 2, bFrameIndex: 1, dwFrameInterval: 333333, wCompQuality: 12000 });
    expect(p.wCompQuality).toBe(10000);
    p = await ask({ bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333, wCompQuality: 5000 });
    expect(p.wCompQuality).toBe(0);
    cam.unplug();
  });

  it('snaps continuous intervals to the step', async () => {
    const { cam } = await camera({
      formats: [{ format: 'yuyv', frames: [{ width: 320, height: 240, intervalRange: { min: 400000, max: 2000000, step: 400000 } }] }],
    });
    expect((await classSet(cam, VS, 0, VsControl.PROBE, buildProbe(34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 900000 }))).status).toBe('ok');
    expect((await probeGet(cam, UvcRequest.GET_CUR, 34)).dwFrameInterval).toBe(800000);
    expect((await probeGet(cam, UvcRequest.GET_MIN, 34)).dwFrameInterval).toBe(400000);
    expect((await probeGet(cam, UvcRequest.GET_MAX, 34)).dwFrameInterval).toBe(2000000);
    expect((await probeGet(cam, UvcRequest.GET_RES, 34)).dwFrameInterval).toBe(400000);
    cam.unplug();
  });

  for (const speed of ['full', 'high', 'super'] as const) {
    it(`asks for a payload size one of its ${speed}-speed alt settings carries, growing with the frame rate`, async () => {
      const { cam, summary } = await camera({ speed });
      const alts = summary.alts.map((a) => a.bytesPerInterval);
      const intervalUs = speed === 'full' ? 1000 : 125;
      for (const format of summary.formats) {
        for (const frame of format.frames) {
          let previous = Number.POSITIVE_INFINITY;
          for (const interval of frame.intervals as number[]) {
            const p = await negotiate(cam, 34, { bFormatIndex: format.index, bFrameIndex: frame.index, dwFrameInterval: interval });
            expect(alts).toContain(p.dwMaxPayloadTransferSize);
            // The smallest setting that carries a frame within its period (headers included).
            const perFrame = ((interval / 10) / intervalUs) * (p.dwMaxPayloadTransferSize - 12);
            expect(perFrame).toBeGreaterThanOrEqual(p.dwMaxVideoFrameSize);
            const smaller = alts.filter((a) => a < p.dwMaxPayloadTransferSize);
            if (smaller.length > 0) {
              expect(((interval / 10) / intervalUs) * 0.9 * (Math.max(...smaller) - 12)).toBeLessThan(p.dwMaxVideoFrameSize);
            }
            expect(p.dwMaxPayloadTransferSize).toBeLessThanOrEqual(previous);
            previous = p.dwMaxPayloadTransferSize;
          }
        }
      }
      cam.unplug();
    });
  }

  it('reports its bulk payload size for bulk streaming', async () => {
    const { cam } = await camera({ transfer: 'bulk', bulkMaxPayloadTransferSize: 20000 });
    const p = await negotiate(cam, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    expect(p.dwMaxPayloadTransferSize).toBe(20000);
    cam.unplug();
  });

  it('commits the negotiated values and locks them while an iso alt setting is selected', async () => {
    const { cam } = await camera();
    const p = await negotiate(cam, 34, { bFormatIndex: 2, bFrameIndex: 2, dwFrameInterval: 666666, wCompQuality: 9000 });
    const committed = await probeGet(cam, UvcRequest.GET_CUR, 34, VsControl.COMMIT);
    expect(committed).toEqual(p);
    expect(cam.committed.bFormatIndex).toBe(2);
    // COMMIT supports only SET_CUR, GET_CUR, GET_LEN, GET_INFO.
    for (const request of [UvcRequest.GET_MIN, UvcRequest.GET_MAX, UvcRequest.GET_DEF, UvcRequest.GET_RES]) {
      expect((await classGet(cam, request, VS, 0, VsControl.COMMIT, 34)).status).toBe('stall');
      expect(await requestErrorCode(cam)).toBe(RequestErrorCode.INVALID_REQUEST);
    }
    await setInterface(cam, VS, 4);
    const again = buildProbe(34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    expect((await classSet(cam, VS, 0, VsControl.COMMIT, again)).status).toBe('stall');
    expect(await requestErrorCode(cam)).toBe(RequestErrorCode.WRONG_STATE);
    // PROBE stays usable while streaming.
    expect((await classSet(cam, VS, 0, VsControl.PROBE, again)).status).toBe('ok');
    expect(await requestErrorCode(cam)).toBe(RequestErrorCode.NO_ERROR);
    await setInterface(cam, VS, 0);
    expect((await classSet(cam, VS, 0, VsControl.COMMIT, again)).status).toBe('ok');
    cam.unplug();
  });

  it('refuses probe data shorter than 26 bytes and unknown VS controls', async () => {
    const { cam } = await camera();
    expect((await classSet(cam, VS, 0, VsControl.PROBE, new Uint8Array(20))).status).toBe('stall');
    expect(await requestErrorCode(cam)).toBe(RequestErrorCode.INVALID_REQUEST);
    // A UVC 1.0 host talking to a 1.1 device: 26 bytes are enough, the rest keeps its value.
    expect((await classSet(cam, VS, 0, VsControl.PROBE, buildProbe(26, { bFormatIndex: 2, bFrameIndex: 1, dwFrameInterval: 333333 }))).status).toBe('ok');
    expect((await probeGet(cam, UvcRequest.GET_CUR, 34)).dwClockFrequency).toBe(48_000_000);
    expect((await classGet(cam, UvcRequest.GET_CUR, VS, 0, VsControl.STILL_PROBE, 11)).status).toBe('stall');
    expect(await requestErrorCode(cam)).toBe(RequestErrorCode.INVALID_CONTROL);
    expect((await classGet(cam, UvcRequest.GET_CUR, VS, 3, VsControl.PROBE, 34)).status).toBe('stall');
    expect(await requestErrorCode(cam)).toBe(RequestErrorCode.INVALID_UNIT);
    // The data stage never exceeds wLength.
    expect((await classGet(cam, UvcRequest.GET_CUR, VS, 0, VsControl.PROBE, 10)).data!.length).toBe(10);
    cam.unplug();
  });
});
