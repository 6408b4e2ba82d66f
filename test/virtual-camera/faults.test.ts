import { describe, expect, it } from 'vitest';
import { decodeFrameStamp, VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { isUvcError } from '../../src/errors.js';
import { PuControl, RequestErrorCode, UvcRequest, VsControl } from '../../src/spec/uvc.js';
import { StandardRequest } from '../../src/spec/usb.js';
import { PacketStatus } from '../../src/transport/device-model.js';
import {
  buildProbe,
  classGet,
  classSet,
  enumerate,
  FrameCollector,
  isoSlots,
  negotiate,
  readIso,
  requestErrorCode,
  setInterface,
  STATUS_EP,
  VC,
  VIDEO_EP,
  VS,
} from './helpers/raw-usb.js';

const stampOf = (data: Uint8Array) => decodeFrameStamp({ data, width: 640, height: 480, format: 'yuyv' });

async function streaming(options: VirtualCameraOptions, alt = 6) {
  const camera = new VirtualCamera({ pace: 'fast', ...options });
  await enumerate(camera);
  await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
  await setInterface(camera, VS, alt);
  return camera;
}

async function collect(camera: VirtualCamera, frames: number, packetSize = 3072, inFlight = 3) {
  const collector = new FrameCollector();
  const statuses: number[] = [];
  const lengths: number[] = [];
  const status = await readIso(camera, packetSize, 32, inFlight, (p) => {
    statuses.push(p.status);
    lengths.push(p.data.length);
    if (p.status === PacketStatus.OK) collector.payload(p.data);
    return collector.frames.length < frames;
  });
  return { status, frames: collector.frames, statuses, lengths };
}

function once(camera: VirtualCamera, event: 'unplug' | 'replug'): Promise<void> {
  return new Promise((resolve) => camera.once(event, () => resolve()));
}

describe('fault injection', () => {
  it('unplug() now: pending and later requests answer no_device, the event fires once', async () => {
    const camera = await streaming({ faults: { ignoreRequests: [{ request: UvcRequest.GET_CUR, selector: PuControl.BRIGHTNESS }] } });
    let events = 0;
    camera.on('unplug', () => events++);
    const control = classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.BRIGHTNESS, 2);
    const { buffer, iso } = isoSlots(4096, 3072); // long enough to still be queued
    const video = camera.transfer({ endpoint: VIDEO_EP, buffer, iso });
    const statusRead = camera.transfer({ endpoint: STATUS_EP, buffer: new Uint8Array(16) });
    camera.unplug();
    camera.unplug();
    expect(camera.attached).toBe(false);
    expect(events).toBe(1);
    expect((await control).status).toBe('no_device');
    expect((await video).status).toBe('no_device');
    expect((await statusRead).status).toBe('no_device');
    expect((await classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.BRIGHTNESS, 2)).status).toBe('no_device');
    expect((await camera.transfer({ endpoint: STATUS_EP, buffer: new Uint8Array(16) })).status).toBe('no_device');
  });

  it('unplug({ atFrame }) lets the frames before it through whole', async () => {
    const camera = await streaming({});
    camera.unplug({ atFrame: 5 });
    const gone = once(camera, 'unplug');
    const { status, frames } = await collect(camera, 100);
    await gone;
    expect(status).toBe('no_device');
    expect(frames.map((f) => stampOf(f.data))).toEqual([0, 1, 2, 3, 4]);
    expect(frames.every((f) => f.data.length === 614400)).toBe(true);
  });

  it('unplug({ afterMs }) leaves the bus later, by the clock', async () => {
    const camera = await streaming({});
    const start = performance.now();
    camera.unplug({ afterMs: 40 });
    expect(camera.attached).toBe(true);
    await once(camera, 'unplug');
    expect(performance.now() - start).toBeGreaterThanOrEqual(35);
    expect(camera.attached).toBe(false);
  });

  it('the unplugAtFrame option fires in the first stream', async () => {
    const camera = await streaming({ faults: { unplugAtFrame: 2 } });
    const { status, frames } = await collect(camera, 100);
    expect(status).toBe('no_device');
    expect(frames.length).toBe(2);
  });

  it('replug() brings back a new device in its power-on state', async () => {
    const camera = await streaming({});
    await classSet(camera, VC, 2, PuControl.BRIGHTNESS, Uint8Array.of(20, 0));
    await collect(camera, 1);
    camera.unplug();
    expect(() => camera.unplug()).not.toThrow();
    const back = once(camera, 'replug');
    camera.replug();
    await back;
    expect(camera.attached).toBe(true);
    expect(() => camera.replug()).toThrowError(expect.objectContaining({ code: 'EALREADY' }));
    const config = await camera.control({ bmRequestType: 0x80, bRequest: StandardRequest.GET_CONFIGURATION, wValue: 0, wIndex: 0, wLength: 1 }, undefined);
    expect(Array.from(config.data!)).toEqual([0]);
    expect(camera.streaming).toBe(false);
    await enumerate(camera);
    expect(Array.from((await classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.BRIGHTNESS, 2)).data!)).toEqual([0, 0]);
    // It streams again, from frame 0.
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    const { frames } = await collect(camera, 2);
    expect(frames.map((f) => stampOf(f.data))).toEqual([0, 1]);
    camera.unplug();
  });

  it('loses iso packets at the given rate, reproducibly from the seed', async () => {
    const run = async (seed: number, packetLoss: 'error' | 'missing') => {
      const camera = await streaming({ seed, faults: { packetLossRate: 0.1, packetLoss } });
      const result = await collect(camera, 20);
      camera.unplug();
      return result;
    };
    const a = await run(7, 'error');
    const b = await run(7, 'error');
    expect(a.statuses).toEqual(b.statuses);
    const errors = a.statuses.filter((s) => s === PacketStatus.ERROR).length;
    expect(errors / a.statuses.length).toBeGreaterThan(0.07);
    expect(errors / a.statuses.length).toBeLessThan(0.13);
    // Frames that lost packets are short; the others whole.
    expect(a.frames.some((f) => f.data.length < 614400)).toBe(true);
    const c = await run(8, 'error');
    expect(c.statuses).not.toEqual(a.statuses);
    // 'missing': the packet arrives empty with status OK (fast pace never sends empty packets otherwise).
    const m = await run(7, 'missing');
    expect(m.statuses.every((s) => s === PacketStatus.OK)).toBe(true);
    const empty = m.lengths.filter((l) => l === 0).length;
    expect(empty / m.lengths.length).toBeGreaterThan(0.07);
  });

  it('sets ERR on the payloads of chosen frames and says why in STREAM_ERROR_CODE', async () => {
    const camera = await streaming({ faults: { errorFrames: [3], streamErrorCode: 5 } });
    const { frames } = await collect(camera, 6);
    expect(frames.map((f) => f.err)).toEqual([false, false, false, true, false, false]);
    expect(frames[3]!.headers.every((h) => (h[1]! & 0x40) !== 0)).toBe(true);
    expect(stampOf(frames[3]!.data)).toBe(3);
    const code = await classGet(camera, UvcRequest.GET_CUR, VS, 0, VsControl.STREAM_ERROR_CODE, 1);
    expect(Array.from(code.data!)).toEqual([5]);
    // Read once, the code clears.
    expect(Array.from((await classGet(camera, UvcRequest.GET_CUR, VS, 0, VsControl.STREAM_ERROR_CODE, 1)).data!)).toEqual([0]);
    camera.unplug();
  });

  it('leaves EOF off chosen frames: only the FID toggle ends them', async () => {
    const camera = await streaming({ faults: { missingEof: [1, 2] } });
    const { frames } = await collect(camera, 4);
    expect(frames.map((f) => f.eof)).toEqual([true, false, false, true]);
    expect(frames.map((f) => [stampOf(f.data), f.data.length])).toEqual([
      [0, 614400],
      [1, 614400],
      [2, 614400],
      [3, 614400],
    ]);
    camera.unplug();
  });

  it('never toggles FID when told so: only EOF ends frames', async () => {
    const camera = await streaming({ faults: { fidNeverToggles: true } });
    const { frames } = await collect(camera, 4);
    expect(frames.map((f) => f.fid)).toEqual([0, 0, 0, 0]);
    expect(frames.map((f) => stampOf(f.data))).toEqual([0, 1, 2, 3]);
    camera.unplug();
  });

  it('cuts chosen frames short, with EOF', async () => {
    const camera = await streaming({ faults: { shortFrames: { every: 2, offset: 1 }, shortFrameRatio: 0.25 } });
    const { frames } = await collect(camera, 4);
    expect(frames.map((f) => f.data.length)).toEqual([614400, 153600, 614400, 153600]);
    expect(frames.every((f) => f.eof)).toBe(true);
    camera.unplug();
  });

  it('stalls chosen control requests, a given number of times, with the given error code', async () => {
    const camera = new VirtualCamera({
      faults: { stallRequests: [{ request: UvcRequest.GET_CUR, entity: 2, selector: PuControl.BRIGHTNESS, times: 2, errorCode: RequestErrorCode.NOT_READY }] },
    });
    await enumerate(camera);
    for (let i = 0; i < 2; i++) {
      expect((await classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.BRIGHTNESS, 2)).status).toBe('stall');
      expect(await requestErrorCode(camera)).toBe(RequestErrorCode.NOT_READY);
    }
    expect((await classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.BRIGHTNESS, 2)).status).toBe('ok');
    expect((await classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.CONTRAST, 2)).status).toBe('ok');
    camera.unplug();
  });

  it('never answers chosen control requests: they wait for the host to abort', async () => {
    const camera = new VirtualCamera({ faults: { ignoreRequests: [{ interface: VS, selector: VsControl.PROBE, request: UvcRequest.GET_CUR }] } });
    await enumerate(camera);
    const controller = new AbortController();
    const reply = camera.control(
      { bmRequestType: 0xa1, bRequest: UvcRequest.GET_CUR, wValue: VsControl.PROBE << 8, wIndex: VS, wLength: 34 },
      undefined,
      controller.signal,
    );
    const raced = await Promise.race([reply, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 50))]);
    expect(raced).toBe('pending');
    controller.abort();
    expect((await reply).status).toBe('cancelled');
    expect((await classSet(camera, VS, 0, VsControl.PROBE, buildProbe(34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 }))).status).toBe('ok');
    camera.unplug();
  });

  it('answers chosen control requests slowly', async () => {
    const camera = new VirtualCamera({ faults: { slowRequests: { delayMs: 80, match: { request: UvcRequest.SET_CUR } } } });
    await enumerate(camera);
    const start = performance.now();
    expect((await classSet(camera, VC, 2, PuControl.BRIGHTNESS, Uint8Array.of(5, 0))).status).toBe('ok');
    expect(performance.now() - start).toBeGreaterThanOrEqual(70);
    // The value is applied when the answer comes.
    expect(Array.from((await classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.BRIGHTNESS, 2)).data!)).toEqual([5, 0]);
    camera.unplug();
  });

  it('can lie about dwMaxPayloadTransferSize: a host that believes it picks a too small alt setting and frames drop', async () => {
    const camera = new VirtualCamera({ faults: { reportedMaxPayloadTransferSize: 1024 } });
    await enumerate(camera);
    const probe = await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    expect(probe.dwMaxPayloadTransferSize).toBe(1024);
    await setInterface(camera, VS, 4); // the 1024-byte setting
    const { frames } = await collect(camera, 6, 1024, 16);
    const stamps = frames.map((f) => stampOf(f.data)).filter((s): s is number => s !== null);
    // A 614400-byte frame needs ~610 intervals at 1024 bytes each: the camera cannot keep 30 fps.
    expect(camera.framesDropped).toBeGreaterThan(0);
    expect(stamps.length).toBeGreaterThan(1);
    expect(stamps.every((s, i) => i === 0 || s > stamps[i - 1]!)).toBe(true);
    expect(stamps[stamps.length - 1]! - stamps[0]!).toBeGreaterThan(stamps.length - 1);
    camera.unplug();
  });

  it('can answer probe GETs shorter than bcdUVC implies', async () => {
    const camera = new VirtualCamera({ faults: { probeReplyLength: 26 } });
    await enumerate(camera);
    expect((await classGet(camera, UvcRequest.GET_CUR, VS, 0, VsControl.PROBE, 34)).data!.length).toBe(26);
    expect((await classGet(camera, UvcRequest.GET_DEF, VS, 0, VsControl.PROBE, 34)).data!.length).toBe(26);
    expect(Array.from((await classGet(camera, UvcRequest.GET_LEN, VS, 0, VsControl.PROBE, 2)).data!)).toEqual([34, 0]);
    camera.unplug();
  });

  it('can change faults at run time and refuses invalid ones with EINVAL', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    camera.setFaults({ stallRequests: [{ selector: PuControl.GAIN }] });
    expect((await classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.GAIN, 2)).status).toBe('stall');
    camera.setFaults({});
    expect((await classGet(camera, UvcRequest.GET_CUR, VC, 2, PuControl.GAIN, 2)).status).toBe('ok');
    for (const bad of [{ packetLossRate: 2 }, { errorFrames: [-1] }, { streamErrorCode: 9 }, { stallRequests: [{ selector: 300 }] }, { shortFrameRatio: 1 }]) {
      let error: unknown;
      try {
        camera.setFaults(bad);
      } catch (e) {
        error = e;
      }
      expect(isUvcError(error, 'EINVAL')).toBe(true);
    }
    expect(() => new VirtualCamera({ faults: { unplugAtFrame: -3 } })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => camera.unplug({ atFrame: 1.5 })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => camera.unplug({ afterMs: -1 })).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(camera.attached).toBe(true);
    camera.unplug();
  });
});
