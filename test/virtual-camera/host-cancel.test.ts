/**
 * Ground truth when the host cancels a video request (an unlink: libusb's transfer timeout, a stop): the frames
 * whose data the request already carried are lost with it, and their records say so ('host-cancelled', damaged);
 * a request cancelled before it carried anything marks nothing. Iso and bulk, fast and real-time pace.
 */
import { describe, expect, it } from 'vitest';
import { VirtualCamera, type SentFrame, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { checkConfiguration } from './helpers/descriptor-check.js';
import { enumerate, isoSlots, negotiate, readBulk, readIso, setInterface, VIDEO_EP, VS } from './helpers/raw-usb.js';

const MODE = { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 };
const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const faultsBySequence = (camera: VirtualCamera) => new Map(camera.sentFrames.map((f) => [f.sequence, [...f.faults]]));
/** Lets the microtask queue run (no timers, no setImmediate: no render finishes) until `done` holds. */
async function microtasksUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await Promise.resolve();
  expect(done()).toBe(true);
}
const cancelled = (camera: VirtualCamera): readonly Readonly<SentFrame>[] => camera.sentFrames.filter((f) => f.faults.includes('host-cancelled'));

/**
 * A camera streaming `width`x`height` YUYV on the smallest iso alt setting that fits; returns the bytes it puts in
 * a packet (dwMaxPayloadTransferSize, header included) and the packets a frame takes.
 */
async function isoCamera(options: VirtualCameraOptions, width: number, height: number): Promise<{ camera: VirtualCamera; packet: number; perFrame: number }> {
  const camera = new VirtualCamera({ formats: [{ format: 'yuyv', frames: [{ width, height, fps: [30] }] }], ...options });
  const { config } = await enumerate(camera);
  const alts = checkConfiguration(config, options.speed ?? 'high').alts;
  const probe = await negotiate(camera, 34, MODE);
  const alt = alts.find((a) => a.bytesPerInterval >= probe.dwMaxPayloadTransferSize)!;
  expect((await setInterface(camera, VS, alt.alt)).status).toBe('ok');
  const packet = probe.dwMaxPayloadTransferSize;
  return { camera, packet, perFrame: Math.ceil((width * height * 2) / (packet - 12)) };
}

function isoRequest(camera: VirtualCamera, count: number, packet: number, signal?: AbortSignal) {
  const slots = isoSlots(count, packet);
  return { ...slots, reply: camera.transfer({ endpoint: VIDEO_EP, buffer: slots.buffer, iso: slots.iso, signal }) };
}

/** Reads iso requests until `frames` more frames have been sent whole. */
async function readIsoFrames(camera: VirtualCamera, packet: number, frames: number): Promise<void> {
  const target = camera.sentFrames.filter((f) => f.status === 'sent').length + frames;
  expect(await readIso(camera, packet, 32, 8, () => camera.sentFrames.filter((f) => f.status === 'sent').length < target)).toBe('ok');
}

describe('a request the host cancels (iso)', () => {
  it('fast pace: the frames whose data it holds are host-cancelled, and the next frame goes to the next request', async () => {
    const { camera, packet, perFrame } = await isoCamera({ pace: 'fast', renderAhead: 1 }, 160, 120);
    // Frame 0 and the head of frame 1 (the fill waits for frame 1's render in between).
    const warm = isoRequest(camera, perFrame + 3, packet);
    expect((await warm.reply).status).toBe('ok');
    await tick(5); // frame 2 renders meanwhile (requested when frame 1 started)
    // B takes more of frame 1; A the rest of it, all of frame 2, and then waits for frame 3's render: it is cancelled.
    const b = isoRequest(camera, 3, packet);
    const controller = new AbortController();
    const a = isoRequest(camera, 4 * perFrame, packet, controller.signal);
    // The fast pump fills one request per turn of the microtask queue: let it reach A's wait for frame 3.
    await microtasksUntil(() => camera.sentFrames.find((f) => f.sequence === 2)?.status === 'sent');
    controller.abort();
    const c = isoRequest(camera, perFrame, packet);
    expect((await b.reply).status).toBe('ok');
    const aReply = await a.reply;
    expect(aReply.status).toBe('cancelled');
    expect(aReply.actualLength).toBe(0);
    expect((await c.reply).status).toBe('ok');
    const faults = faultsBySequence(camera);
    expect(faults.get(0)).toEqual([]);
    expect(faults.get(1)).toEqual(['host-cancelled']);
    expect(faults.get(2)).toEqual(['host-cancelled']);
    expect(cancelled(camera).every((f) => f.damaged)).toBe(true);
    // Frame 3 went out in C from its first byte, not into the cancelled A.
    expect(faults.get(3)).toEqual([]);
    expect(c.iso.actual[0]).toBe(packet);
    camera.unplug();
  });

  it('fast pace: a request cancelled before it carried anything marks nothing', async () => {
    const { camera, packet } = await isoCamera({ pace: 'fast', renderAhead: 1 }, 160, 120);
    // A waits for frame 0's render when it is cancelled; B, queued behind it, is cancelled before its turn.
    const first = new AbortController();
    const a = isoRequest(camera, 64, packet, first.signal);
    const second = new AbortController();
    const b = isoRequest(camera, 64, packet, second.signal);
    second.abort();
    first.abort();
    expect((await a.reply).status).toBe('cancelled');
    expect((await b.reply).status).toBe('cancelled');
    await readIsoFrames(camera, packet, 3);
    expect(camera.sentFrames[0]!.sequence).toBe(0);
    expect(camera.sentFrames.filter((f) => f.faults.length > 0)).toEqual([]);
    camera.unplug();
  });

  it('real time: the frame on the wire while its intervals passed is host-cancelled', async () => {
    // Full speed: 1 ms intervals, a frame takes several of them.
    const { camera, packet } = await isoCamera({ speed: 'full' }, 64, 48);
    while (camera.sentFrames.length === 0) await tick(2); // the sensor has captured a frame
    const controller = new AbortController();
    // 4 s of intervals; cancelled after more than a frame period (33 ms) of them passed: a capture fell in them.
    const a = isoRequest(camera, 4000, packet, controller.signal);
    await tick(80);
    controller.abort();
    expect((await a.reply).status).toBe('cancelled');
    const hit = cancelled(camera);
    expect(hit.length).toBeGreaterThan(0);
    expect(hit.every((f) => f.damaged)).toBe(true);
    await readIsoFrames(camera, packet, 2);
    // Frames sent wholly to a listening request afterwards carry no fault.
    const later = camera.sentFrames.filter((f) => f.sequence > hit[hit.length - 1]!.sequence && f.status === 'sent' && !f.unheard);
    expect(later.some((f) => f.faults.length === 0)).toBe(true);
    camera.unplug();
  });

  it('real time: a request cancelled before its first interval marks nothing', async () => {
    const { camera, packet } = await isoCamera({ speed: 'full' }, 64, 48);
    while (camera.sentFrames.length === 0) await tick(2);
    // Queued behind a 1 s request, its first interval is 1 s away when the abort comes. (Alone on an idle endpoint
    // it would start at the next 1 ms interval, and a loaded machine can let that pass before the abort is
    // handled: the intervals are then the request's, and the frame sent into them is rightly host-cancelled.)
    const ahead = isoRequest(camera, 1000, packet);
    const controller = new AbortController();
    const a = isoRequest(camera, 2000, packet, controller.signal);
    controller.abort();
    expect((await a.reply).status).toBe('cancelled');
    expect((await ahead.reply).status).toBe('ok');
    await readIsoFrames(camera, packet, 2);
    expect(cancelled(camera)).toEqual([]);
    camera.unplug();
  });
});

describe('a request the host cancels (bulk)', () => {
  // 90x68 YUYV is 12240 bytes: four full 3072-byte payloads (12-byte headers), so a frame ends on a payload
  // boundary with no short packet and a larger transfer goes on into the next frame (and waits for it to render).
  const PAYLOAD = 3072;
  const SMALL: VirtualCameraOptions = {
    transfer: 'bulk',
    pace: 'fast',
    renderAhead: 1,
    bulkMaxPayloadTransferSize: PAYLOAD,
    formats: [{ format: 'yuyv', frames: [{ width: 90, height: 68, fps: [30] }] }],
  };

  async function bulkCamera(options: VirtualCameraOptions): Promise<VirtualCamera> {
    const camera = new VirtualCamera(options);
    await enumerate(camera);
    await negotiate(camera, 34, MODE);
    return camera;
  }

  const bulkRequest = (camera: VirtualCamera, size: number, signal?: AbortSignal) => camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(size), signal });

  it('fast pace: the frame whose last payload it holds, waiting for the next render, is host-cancelled', async () => {
    const camera = await bulkCamera(SMALL);
    expect((await bulkRequest(camera, 4 * PAYLOAD)).actualLength).toBe(4 * PAYLOAD); // frame 0
    await tick(5); // frame 1 renders meanwhile (requested when frame 0 started)
    // B takes frame 1's first three payloads; A its last (full size: the transfer goes on) and then waits for frame 2.
    const b = bulkRequest(camera, 3 * PAYLOAD);
    const controller = new AbortController();
    const a = bulkRequest(camera, 4 * PAYLOAD, controller.signal);
    await microtasksUntil(() => camera.sentFrames.find((f) => f.sequence === 1)?.status === 'sent');
    controller.abort();
    expect((await b).actualLength).toBe(3 * PAYLOAD);
    expect((await a).status).toBe('cancelled');
    let n = 0;
    expect(await readBulk(camera, PAYLOAD, 2, () => ++n < 8)).toBe('ok');
    const faults = faultsBySequence(camera);
    expect(faults.get(0)).toEqual([]);
    expect(faults.get(1)).toEqual(['host-cancelled']);
    expect(camera.sentFrames.find((f) => f.sequence === 1)?.damaged).toBe(true);
    // Frame 2 went to the transfers after it, whole.
    expect(faults.get(2)).toEqual([]);
    camera.unplug();
  });

  it('fast pace: a transfer cancelled while it waits, empty, for the first frame marks nothing', async () => {
    const camera = await bulkCamera(SMALL);
    const controller = new AbortController();
    const a = bulkRequest(camera, 4 * PAYLOAD, controller.signal);
    controller.abort();
    expect((await a).status).toBe('cancelled');
    let n = 0;
    // 12 payloads: frames 0-2 (readBulk's own cancellation at the end may cut the frame after them).
    expect(await readBulk(camera, PAYLOAD, 2, () => ++n < 12)).toBe('ok');
    expect(camera.sentFrames.filter((f) => f.sequence <= 2 && f.faults.length > 0)).toEqual([]);
    camera.unplug();
  });

  it('real time: a transfer filled but not yet across the bus is lost with its frame', async () => {
    const camera = await bulkCamera({ transfer: 'bulk' });
    expect((await bulkRequest(camera, 32768)).actualLength).toBe(32768); // frame 0's first payload
    // A's content is decided at once (frame 0's second payload); its bytes take bus time to cross: cancelled first.
    const controller = new AbortController();
    const a = bulkRequest(camera, 32768, controller.signal);
    controller.abort();
    expect((await a).status).toBe('cancelled');
    expect(faultsBySequence(camera).get(0)).toEqual(['host-cancelled']);
    camera.unplug();
  });

  it('real time: a transfer cancelled while it waits for the first capture marks nothing', async () => {
    const camera = await bulkCamera({ transfer: 'bulk' });
    const controller = new AbortController();
    const a = bulkRequest(camera, 32768, controller.signal);
    controller.abort();
    expect((await a).status).toBe('cancelled');
    let n = 0;
    // 40 payloads: two 640x480 frames (19 payloads each); readBulk's own cancellation at the end may cut the third.
    expect(await readBulk(camera, 32768, 4, () => ++n < 40)).toBe('ok');
    expect(cancelled(camera).filter((f) => f.sequence <= 1)).toEqual([]);
    camera.unplug();
  });
});
