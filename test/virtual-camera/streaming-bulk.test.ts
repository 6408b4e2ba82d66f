import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { decodeFrameStamp, VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { StandardRequest } from '../../src/spec/usb.js';
import {
  BulkPayloadSplitter,
  clearHalt,
  enumerate,
  FrameCollector,
  negotiate,
  readBulk,
  standardOut,
  VIDEO_EP,
  type BulkTransfer,
} from './helpers/raw-usb.js';

const u32 = (d: Uint8Array, o: number) => new DataView(d.buffer, d.byteOffset + o, 4).getUint32(0, true);

async function bulkCamera(options: VirtualCameraOptions = {}) {
  const camera = new VirtualCamera({ transfer: 'bulk', ...options });
  await enumerate(camera);
  return camera;
}

/** Reads bulk transfers, reassembles payloads uvcvideo's way, and collects frames. */
async function readFrames(camera: VirtualCamera, maxPayload: number, transferSize: number, count: number, inFlight = 4) {
  const collector = new FrameCollector();
  const payloads: Uint8Array[] = [];
  const transfers: BulkTransfer[] = [];
  const splitter = new BulkPayloadSplitter(maxPayload, (p) => {
    payloads.push(p);
    collector.payload(p);
  });
  const status = await readBulk(camera, transferSize, inFlight, (t) => {
    transfers.push({ ...t, data: t.data.slice() });
    splitter.transfer(t);
    return collector.frames.length < count;
  });
  expect(status).toBe('ok');
  return { frames: collector.frames, payloads, transfers, invalid: collector.invalidHeaders };
}

describe('bulk streaming', () => {
  it('sends 300 frames in payloads of dwMaxPayloadTransferSize spanning host transfers (fast pace)', async () => {
    const camera = await bulkCamera({ pace: 'fast' });
    const probe = await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    expect(probe.dwMaxPayloadTransferSize).toBe(32768);
    // uvcvideo's bulk URBs: 32 packets of 512 bytes, half a payload each.
    const { frames, payloads, transfers, invalid } = await readFrames(camera, 32768, 16384, 300);
    expect(invalid).toBe(0);
    expect(frames.map((f) => decodeFrameStamp({ data: f.data, width: 640, height: 480, format: 'yuyv' }))).toEqual(
      Array.from({ length: 300 }, (_, i) => i),
    );
    expect(frames.every((f) => f.eof && f.data.length === 614400)).toBe(true);
    expect(frames.every((f, i) => i === 0 || f.fid !== frames[i - 1]!.fid)).toBe(true);
    // Every payload carries a 12-byte header; full payloads are exactly dwMaxPayloadTransferSize.
    const bad = payloads.filter((p) => p[0] !== 12 || (p[1]! & 0x8c) !== 0x8c || p.length > 32768);
    expect(bad.length).toBe(0);
    const perFrame = Math.ceil(614400 / (32768 - 12));
    expect(payloads.length).toBe(300 * perFrame);
    // A payload is two transfers here: a transfer boundary is not a payload boundary.
    expect(transfers.filter((t) => t.data.length === 16384).length).toBeGreaterThan(transfers.length / 2);
    // PTS constant within a frame, EOF only on its last payload.
    for (let f = 0; f < 10; f++) {
      const own = payloads.slice(f * perFrame, (f + 1) * perFrame);
      expect(new Set(own.map((p) => u32(p, 2))).size).toBe(1);
      expect(own.map((p) => (p[1]! & 0x02) !== 0)).toEqual(own.map((_, i) => i === own.length - 1));
    }
    camera.unplug();
  });

  it('sends 300 MJPEG frames that decode to stamps 0…299, SCR advancing with the bus', async () => {
    const camera = await bulkCamera({ pace: 'fast' });
    await negotiate(camera, 34, { bFormatIndex: 2, bFrameIndex: 1, dwFrameInterval: 333333 });
    const { frames, payloads } = await readFrames(camera, 32768, 16384, 300);
    const stamps: (number | null)[] = [];
    for (const f of frames) {
      const { data, info } = await sharp(f.data).raw().toBuffer({ resolveWithObject: true });
      stamps.push(info.channels === 3 ? decodeFrameStamp({ data, width: info.width, height: info.height, format: 'rgb' }) : null);
    }
    expect(stamps).toEqual(Array.from({ length: 300 }, (_, i) => i));
    // SCR: the device clock at each payload's start, never going back; SOF in 11 bits.
    const stc = payloads.map((p) => u32(p, 6));
    expect(stc.every((v, i) => i === 0 || ((v - stc[i - 1]!) >>> 0) < 0x80000000)).toBe(true);
    expect(payloads.every((p) => (p[10]! | (p[11]! << 8)) < 2048)).toBe(true);
    // PTS grows frame to frame.
    expect(frames.every((f, i) => i === 0 || ((f.pts! - frames[i - 1]!.pts!) >>> 0) > 0)).toBe(true);
    camera.unplug();
  });

  it('packs the end of one full-size payload and the start of the next into one transfer', async () => {
    // Payloads of exactly 1024 bytes end on a packet boundary without a short packet.
    const camera = await bulkCamera({ pace: 'fast', bulkMaxPayloadTransferSize: 1024 });
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    const { frames, transfers } = await readFrames(camera, 1024, 4096, 2);
    const first = transfers[0]!.data;
    expect(first.length).toBe(4096);
    for (const offset of [0, 1024, 2048, 3072]) expect([first[offset], first[offset + 1]! & 0x80]).toEqual([12, 0x80]);
    frames.forEach((f, i) => expect(decodeFrameStamp({ data: f.data, width: 640, height: 480, format: 'yuyv' })).toBe(i));
    camera.unplug();
  });

  it('ends short payloads with a short packet or, on a packet boundary, a zero-length packet', async () => {
    // 64×48 YUYV is 6144 bytes: payloads of 2834 (2822 + header), 2834, and 512 (500 + header).
    const camera = await bulkCamera({
      pace: 'fast',
      bulkMaxPayloadTransferSize: 2834,
      formats: [{ format: 'yuyv', frames: [{ width: 64, height: 48, fps: [30] }] }],
    });
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    const lengths: number[] = [];
    await readBulk(camera, 512, 2, (t) => {
      lengths.push(t.data.length);
      return lengths.length < 14;
    });
    const payload = [512, 512, 512, 512, 512, 274];
    expect(lengths).toEqual([...payload, ...payload, 512, 0]);
    // With room for a whole payload, the zero-length packet ends the transfer after 512 bytes.
    const { frames, transfers } = await readFrames(camera, 2834, 3072, 3);
    expect(transfers.slice(0, 3).map((t) => t.data.length)).toEqual([2834, 2834, 512]);
    expect(frames.map((f) => decodeFrameStamp({ data: f.data, width: 64, height: 48, format: 'yuyv' }))).toEqual([1, 2, 3]);
    camera.unplug();
  });

  it('babbles into a transfer that is not a multiple of the packet size', async () => {
    const camera = await bulkCamera({ pace: 'fast' });
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    const reply = await camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(1000) });
    expect(reply.status).toBe('overflow');
    expect(reply.actualLength).toBe(1000);
    camera.unplug();
  });

  it('starts on the first read after COMMIT and stops on CLEAR_FEATURE(ENDPOINT_HALT)', async () => {
    const camera = await bulkCamera({ pace: 'fast' });
    // Nothing committed: the device has nothing to say and the read waits until the host gives up.
    const early = new AbortController();
    const waiting = camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(16384), signal: early.signal });
    await new Promise((r) => setTimeout(r, 30));
    expect(camera.streaming).toBe(false);
    early.abort();
    expect((await waiting).status).toBe('cancelled');

    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    expect(camera.streaming).toBe(false);
    let { frames } = await readFrames(camera, 32768, 16384, 2);
    expect(camera.streaming).toBe(true);
    expect(frames.map((f) => decodeFrameStamp({ data: f.data, width: 640, height: 480, format: 'yuyv' }))).toEqual([0, 1]);

    const pending = camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(16384), signal: new AbortController().signal });
    // Let the pending transfer be served: then stop, as uvcvideo does, with CLEAR_FEATURE(HALT).
    await pending;
    const inFlight = new AbortController();
    const stuck = camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(16384), signal: inFlight.signal });
    expect((await clearHalt(camera, VIDEO_EP)).status).toBe('ok');
    expect(camera.streaming).toBe(false);
    const stuckReply = await Promise.race([stuck, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
    // The transfer queued at the time was either completed just before the halt cleared or cancelled by it.
    expect(stuckReply === null ? 'pending' : stuckReply.status).toMatch(/ok|cancelled/);
    inFlight.abort();

    // A new stream needs a new COMMIT and starts again from frame 0.
    await negotiate(camera, 34, { bFormatIndex: 2, bFrameIndex: 1, dwFrameInterval: 333333 });
    ({ frames } = await readFrames(camera, 32768, 16384, 1));
    expect([frames[0]!.data[0], frames[0]!.data[1]]).toEqual([0xff, 0xd8]);
    camera.unplug();
  });

  it('restarts the stream with the new parameters on a COMMIT while streaming', async () => {
    const camera = await bulkCamera({ pace: 'fast' });
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await readFrames(camera, 32768, 16384, 3);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 2, dwFrameInterval: 1_000_000 });
    const { frames } = await readFrames(camera, 32768, 16384, 2);
    const last = frames[frames.length - 1]!;
    expect(last.data.length).toBe(1280 * 720 * 2);
    expect(decodeFrameStamp({ data: last.data, width: 1280, height: 720, format: 'yuyv' })).toBe(frames.length - 1);
    camera.unplug();
  });

  it('stalls while halted', async () => {
    const camera = await bulkCamera({ pace: 'fast' });
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    const queued = camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(16384) });
    await queued;
    const second = new AbortController();
    const pending = camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(1 << 20), signal: second.signal });
    expect((await standardOut(camera, 0x02, StandardRequest.SET_FEATURE, 0, VIDEO_EP)).status).toBe('ok');
    expect((await pending).status).toMatch(/ok|stall/);
    expect((await camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(512) })).status).toBe('stall');
    expect((await clearHalt(camera, VIDEO_EP)).status).toBe('ok');
    camera.unplug();
  });

  for (const [speed, width, height] of [
    ['full', 160, 120],
    ['super', 1920, 1080],
  ] as const) {
    it(`streams at ${speed} speed with its packet size`, async () => {
      const camera = await bulkCamera({ pace: 'fast', speed });
      const probe = await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: speed === 'full' ? 1 : 3, dwFrameInterval: 0 });
      const packet = speed === 'full' ? 64 : 1024;
      const { frames, transfers } = await readFrames(camera, probe.dwMaxPayloadTransferSize, packet * 16, 2);
      expect(transfers.every((t) => t.data.length % packet === 0 || t.data.length < packet * 16)).toBe(true);
      expect(frames.map((f) => decodeFrameStamp({ data: f.data, width, height, format: 'yuyv' }))).toEqual([0, 1]);
      camera.unplug();
    });
  }

  it('stops when the host selects alt setting 0 or reconfigures', async () => {
    const camera = await bulkCamera({ pace: 'fast' });
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await readFrames(camera, 32768, 16384, 1);
    expect(camera.streaming).toBe(true);
    expect((await standardOut(camera, 0x01, StandardRequest.SET_INTERFACE, 0, 1)).status).toBe('ok');
    expect(camera.streaming).toBe(false);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await readFrames(camera, 32768, 16384, 1);
    expect(camera.streaming).toBe(true);
    expect((await standardOut(camera, 0x00, StandardRequest.SET_CONFIGURATION, 1, 0)).status).toBe('ok');
    expect(camera.streaming).toBe(false);
    camera.unplug();
  });

  it('paces frames at the negotiated interval in real time', async () => {
    const camera = await bulkCamera();
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 666666 });
    const { frames } = await readFrames(camera, 32768, 16384, 8, 6);
    const stamps = frames.map((f) => decodeFrameStamp({ data: f.data, width: 640, height: 480, format: 'yuyv' }));
    const perFrame: number[] = [];
    for (let i = 1; i < frames.length; i++) {
      const a = stamps[i - 1];
      const b = stamps[i];
      if (a === null || b === null) continue;
      expect(b).toBeGreaterThan(a);
      perFrame.push(((frames[i]!.pts! - frames[i - 1]!.pts!) >>> 0) / 6000 / (b - a));
    }
    const median = [...perFrame].sort((x, y) => x - y)[Math.floor(perFrame.length / 2)]!;
    expect(median).toBeGreaterThan(533.33 * 0.98);
    expect(median).toBeLessThan(533.33 * 1.02);
    camera.unplug();
  });
});
