import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { decodeFrameStamp, VirtualCamera, type VirtualCameraOptions } from '../../src/virtual-camera/index.js';
import { AeMode, CtControl } from '../../src/spec/uvc.js';
import { PacketStatus } from '../../src/transport/device-model.js';
import { checkConfiguration } from './helpers/descriptor-check.js';
import { huffmanTables, ANNEX_K_TABLES, insertAnnexKTables, segmentsOf } from './helpers/jpeg-check.js';
import {
  classSet,
  enumerate,
  FrameCollector,
  isoSlots,
  negotiate,
  readIso,
  setInterface,
  VIDEO_EP,
  VC,
  VS,
  type Frame,
} from './helpers/raw-usb.js';

interface Packet {
  status: number;
  data: Uint8Array;
}

interface StreamResult {
  camera: VirtualCamera;
  frames: Frame[];
  packets: Packet[];
  capacity: number;
  invalid: number;
}

/** Enumerates, negotiates, selects the smallest fitting alt setting and reads `count` frames. */
async function isoStream(
  options: VirtualCameraOptions,
  mode: { bFormatIndex: number; bFrameIndex: number; dwFrameInterval: number; wCompQuality?: number },
  count: number,
  setup?: (camera: VirtualCamera) => Promise<void>,
): Promise<StreamResult> {
  const camera = new VirtualCamera(options);
  const { config } = await enumerate(camera);
  const summary = checkConfiguration(config, options.speed ?? 'high');
  if (setup) await setup(camera);
  const probe = await negotiate(camera, { '1.0': 26, '1.1': 34, '1.5': 48 }[options.uvcVersion ?? '1.1'], mode);
  const alt = summary.alts.find((a) => a.bytesPerInterval >= probe.dwMaxPayloadTransferSize)!;
  expect((await setInterface(camera, VS, alt.alt)).status).toBe('ok');
  const collector = new FrameCollector();
  const packets: Packet[] = [];
  // 16 requests of 32 packets: 64 ms of bus time queued, so a busy test machine rarely leaves the bus unheard.
  const status = await readIso(camera, alt.bytesPerInterval, 32, 16, (p) => {
    packets.push({ status: p.status, data: p.data.slice() });
    if (p.status === PacketStatus.OK) collector.payload(p.data);
    return collector.frames.length < count;
  });
  expect(status).toBe('ok');
  return { camera, frames: collector.frames, packets, capacity: alt.bytesPerInterval, invalid: collector.invalidHeaders };
}

const u32 = (d: Uint8Array, o: number) => new DataView(d.buffer, d.byteOffset + o, 4).getUint32(0, true);
const sofOf = (header: Uint8Array) => (header[10]! | (header[11]! << 8)) & 0x7ff;

/** The payload-header rules of uvc-facts.md, checked packet by packet; returns the broken ones (few expects: fast). */
function headerViolations(packets: Packet[], capacity: number): string[] {
  const bad: string[] = [];
  let fid: number | null = null;
  let afterEof = false;
  let pts: number | null = null;
  let last: { index: number; stc: number } | null = null;
  packets.forEach(({ data }, i) => {
    if (data.length === 0) return;
    const hlen = data[0]!;
    const flags = data[1]!;
    // A host that fell behind (no request queued) misses intervals: the SCR jumps. Start afresh after a gap.
    if (hlen === 12) {
      const stc = u32(data, 6);
      if (last !== null && ((stc - last.stc) >>> 0) !== (i - last.index) * 6000) fid = null;
      last = { index: i, stc };
    }
    const fail = (rule: string) => bad.push(`packet ${i}: ${rule} (flags 0x${flags.toString(16)}, ${data.length} bytes)`);
    if (data.length > capacity) fail('longer than the alt setting moves');
    if (hlen !== 12) fail('bHeaderLength is not 12');
    if ((flags & 0x80) === 0) fail('EOH missing');
    if ((flags & 0x0c) !== 0x0c) fail('PTS or SCR missing');
    if ((flags & 0x70) !== 0) fail('STI, RES or ERR set');
    if ((data[10]! | (data[11]! << 8)) >> 11 !== 0) fail('SOF wider than 11 bits');
    const f = flags & 1;
    if (data.length > hlen) {
      if (fid !== null && f === fid) {
        if (afterEof) fail('data after EOF without a FID toggle');
        if (u32(data, 2) !== pts) fail('PTS changed within a frame');
      }
      if (fid !== null && f !== fid && !afterEof) fail('FID toggled before EOF');
      if (fid === null || f !== fid) pts = u32(data, 2);
      fid = f;
      afterEof = (flags & 0x02) !== 0;
    } else {
      // Header-only (idle) packets keep the last frame's FID and never carry EOF.
      if (flags & 0x02) fail('EOF on a header-only packet');
      if (fid !== null && f !== fid) fail('idle packet with a new FID');
    }
  });
  return bad;
}

function checkHeaderRules(packets: Packet[], capacity: number): void {
  expect(headerViolations(packets, capacity).slice(0, 5)).toEqual([]);
}

describe('isochronous streaming', () => {
  it('sends 300 YUYV frames whose headers follow the rules and whose stamps run 0…299 (fast pace)', async () => {
    const { camera, frames, packets, capacity, invalid } = await isoStream({ pace: 'fast' }, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 }, 300);
    expect(invalid).toBe(0);
    expect(frames.length).toBe(300);
    expect(frames.map((f) => decodeFrameStamp({ data: f.data, width: 640, height: 480, format: 'yuyv' }))).toEqual(
      Array.from({ length: 300 }, (_, i) => i),
    );
    expect(frames.every((f) => f.eof && !f.err && f.data.length === 640 * 480 * 2)).toBe(true);
    expect(frames.every((f, i) => i === 0 || f.fid === (frames[i - 1]!.fid ^ 1))).toBe(true);
    checkHeaderRules(packets, capacity);
    // Fast pace: every packet carries data (no idle time) and is full but for each frame's last.
    const data = packets.filter((p) => p.data.length > 12);
    expect(data.length).toBe(packets.length);
    // The SCR advances 6000 ticks of 48 MHz per 125 µs packet; SOF counts every 8 packets.
    const stcSteps = new Set(packets.slice(1, 2000).map((p, i) => (u32(p.data, 6) - u32(packets[i]!.data, 6)) >>> 0));
    expect([...stcSteps]).toEqual([6000]);
    const sofSteps = new Set(packets.slice(8, 2000).map((p, i) => (sofOf(p.data) - sofOf(packets[i]!.data) + 2048) % 2048));
    expect([...sofSteps]).toEqual([1]);
    // PTS is the device clock when the frame's first data went out (fast pace: captured then).
    for (const f of frames.slice(0, 20)) expect(f.pts).toBe(u32(f.headers[0]!, 6));
    camera.unplug();
  });

  it('sends 300 MJPEG frames that decode to stamps 0…299, baseline with the Annex K Huffman tables', async () => {
    const { camera, frames, packets, capacity } = await isoStream(
      { pace: 'fast', frameCache: undefined },
      { bFormatIndex: 2, bFrameIndex: 1, dwFrameInterval: 333333 },
      300,
    );
    checkHeaderRules(packets, capacity);
    expect(frames.length).toBe(300);
    const stamps: (number | null)[] = [];
    for (const { data: jpeg } of frames) {
      const framed = jpeg[0] === 0xff && jpeg[1] === 0xd8 && jpeg[jpeg.length - 2] === 0xff && jpeg[jpeg.length - 1] === 0xd9;
      if (!framed || jpeg.length > camera.committed.dwMaxVideoFrameSize) {
        stamps.push(null);
        continue;
      }
      const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
      stamps.push(info.width === 640 && info.height === 480 && info.channels === 3 ? decodeFrameStamp({ data, width: 640, height: 480, format: 'rgb' }) : null);
    }
    expect(stamps).toEqual(Array.from({ length: 300 }, (_, i) => i));
    const markers = segmentsOf(frames[0]!.data).map((s) => s.marker);
    expect(markers).toContain(0xc0); // SOF0: baseline
    expect(markers).not.toContain(0xc2);
    const tables = huffmanTables(frames[0]!.data);
    expect([...tables.keys()].sort()).toEqual([0x00, 0x01, 0x10, 0x11]);
    for (const [id, table] of ANNEX_K_TABLES) expect(tables.get(id)).toEqual(table);
    camera.unplug();
  });

  it('sends MJPEG without DHT segments when told to, repairable with the Annex K tables', async () => {
    const { camera, frames } = await isoStream({ pace: 'fast', omitHuffmanTables: true }, { bFormatIndex: 2, bFrameIndex: 2, dwFrameInterval: 333333 }, 3);
    for (const [i, f] of frames.entries()) {
      expect(segmentsOf(f.data).some((s) => s.marker === 0xc4)).toBe(false);
      const repaired = insertAnnexKTables(f.data);
      const { data, info } = await sharp(repaired).raw().toBuffer({ resolveWithObject: true });
      expect(decodeFrameStamp({ data, width: info.width, height: info.height, format: 'rgb' })).toBe(i);
    }
    camera.unplug();
  });

  it('maps wCompQuality to the JPEG quality', async () => {
    const low = await isoStream({ pace: 'fast' }, { bFormatIndex: 2, bFrameIndex: 1, dwFrameInterval: 333333, wCompQuality: 1 }, 2);
    const high = await isoStream({ pace: 'fast' }, { bFormatIndex: 2, bFrameIndex: 1, dwFrameInterval: 333333, wCompQuality: 10000 }, 2);
    const dqt = (jpeg: Uint8Array) => segmentsOf(jpeg).find((s) => s.marker === 0xdb)!.data;
    // Larger quantisers mean lower quality: compare the first luma quantiser.
    expect(dqt(low.frames[1]!.data)[1]!).toBeGreaterThan(dqt(high.frames[1]!.data)[1]!);
    expect(high.frames[1]!.data.length).toBeGreaterThan(low.frames[1]!.data.length);
    low.camera.unplug();
    high.camera.unplug();
  });

  it('samples the SCR once per frame under UVC 1.5', async () => {
    const { camera, frames } = await isoStream({ pace: 'fast', uvcVersion: '1.5' }, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 }, 4);
    for (const f of frames) {
      const scrs = new Set(f.headers.map((h) => `${u32(h, 6)}/${sofOf(h)}`));
      expect(scrs.size).toBe(1);
    }
    expect(new Set(frames.map((f) => u32(f.headers[0]!, 6))).size).toBe(frames.length);
    camera.unplug();
  });

  it('runs its clock at dwClockFrequency against the bus, with the drift it is given', async () => {
    const { camera, packets } = await isoStream(
      { pace: 'fast', clockFrequency: 30_000_000, clockDriftPpm: 1000 },
      { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 },
      6,
    );
    expect(camera.committed.dwClockFrequency).toBe(30_000_000);
    // 125 µs of a 30 MHz clock running 1000 ppm fast: 3753.75 ticks per microframe.
    const span = (u32(packets[1000]!.data, 6) - u32(packets[0]!.data, 6)) >>> 0;
    expect(span / 1000).toBeCloseTo(3753.75, 1);
    camera.unplug();
  });

  it('streams NV12, and 2-byte headers when PTS and SCR are off', async () => {
    const { camera, frames, packets } = await isoStream(
      { pace: 'fast', headerPts: false, headerScr: false, formats: [{ format: 'nv12', frames: [{ width: 320, height: 240, fps: [30] }] }] },
      { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 },
      3,
    );
    for (const p of packets) if (p.data.length > 0) expect([p.data[0], p.data[1]! & 0x0c]).toEqual([2, 0]);
    frames.forEach((f, i) => {
      expect(f.data.length).toBe(320 * 240 * 1.5);
      expect(decodeFrameStamp({ data: f.data, width: 320, height: 240, format: 'grey' })).toBe(i);
    });
    camera.unplug();
  });

  it('streams at full speed and at SuperSpeed (1080p YUYV)', async () => {
    const full = await isoStream({ pace: 'fast', speed: 'full' }, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 666666 }, 3);
    expect(full.capacity).toBeLessThanOrEqual(1023);
    full.frames.forEach((f, i) => expect(decodeFrameStamp({ data: f.data, width: 160, height: 120, format: 'yuyv' })).toBe(i));
    full.camera.unplug();
    const ss = await isoStream({ pace: 'fast', speed: 'super' }, { bFormatIndex: 1, bFrameIndex: 3, dwFrameInterval: 333333 }, 3);
    expect(ss.capacity).toBeGreaterThan(3072);
    ss.frames.forEach((f, i) => expect(decodeFrameStamp({ data: f.data, width: 1920, height: 1080, format: 'yuyv' })).toBe(i));
    ss.camera.unplug();
  });

  it('cycles a frame cache of N frames: stamps run modulo N', async () => {
    const { camera, frames } = await isoStream({ pace: 'fast', frameCache: 4 }, { bFormatIndex: 2, bFrameIndex: 1, dwFrameInterval: 333333 }, 10);
    const stamps = [];
    for (const f of frames) {
      const { data } = await sharp(f.data).raw().toBuffer({ resolveWithObject: true });
      stamps.push(decodeFrameStamp({ data, width: 640, height: 480, format: 'rgb' }));
    }
    expect(stamps).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
    camera.unplug();
  });

  it('babbles when the host makes less room per packet than the alt setting moves', async () => {
    const camera = new VirtualCamera({ pace: 'fast' });
    await enumerate(camera);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    const { buffer, iso } = isoSlots(8, 1024);
    const reply = await camera.transfer({ endpoint: VIDEO_EP, buffer, iso });
    expect(reply.status).toBe('ok');
    expect(Array.from(iso.status)).toEqual(new Array(8).fill(PacketStatus.OVERFLOW));
    expect(reply.actualLength).toBe(0);
    camera.unplug();
  });

  it('cancels a queued request when its signal aborts; the next one goes on', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    const controller = new AbortController();
    const a = isoSlots(800, 3072);
    const b = isoSlots(16, 3072);
    const first = camera.transfer({ endpoint: VIDEO_EP, buffer: a.buffer, iso: a.iso, signal: controller.signal });
    const second = camera.transfer({ endpoint: VIDEO_EP, buffer: b.buffer, iso: b.iso });
    controller.abort();
    const reply = await first;
    expect(reply.status).toBe('cancelled');
    expect(reply.actualLength).toBe(0);
    expect((await second).status).toBe('ok');
    camera.unplug();
  });

  it('ends with the alt setting: queued requests are cancelled, new ones find no endpoint', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    expect(camera.streaming).toBe(true);
    const { buffer, iso } = isoSlots(64, 3072);
    const pending = camera.transfer({ endpoint: VIDEO_EP, buffer, iso });
    await setInterface(camera, VS, 0);
    expect(camera.streaming).toBe(false);
    expect((await pending).status).toBe('cancelled');
    const again = isoSlots(8, 3072);
    expect((await camera.transfer({ endpoint: VIDEO_EP, buffer: again.buffer, iso: again.iso })).status).toBe('error');
    // SET_CONFIGURATION resets every interface to alt 0: streaming stops too.
    await setInterface(camera, VS, 6);
    const queued = isoSlots(64, 3072);
    const before = camera.transfer({ endpoint: VIDEO_EP, buffer: queued.buffer, iso: queued.iso });
    expect((await camera.control({ bmRequestType: 0, bRequest: 9, wValue: 1, wIndex: 0, wLength: 0 }, new Uint8Array(0))).status).toBe('ok');
    expect((await before).status).toBe('cancelled');
    expect(camera.streaming).toBe(false);
    camera.unplug();
  });
});

describe('isochronous streaming at the real-time pace', () => {
  /** Bus intervals between frames, from their PTS (device clock at capture) and stamps. */
  function periods(frames: Frame[], width: number, height: number): { perFrame: number[]; stamps: number[] } {
    const stamps = frames.map((f) => decodeFrameStamp({ data: f.data, width, height, format: 'yuyv' }));
    const perFrame: number[] = [];
    for (let i = 1; i < frames.length; i++) {
      const a = stamps[i - 1];
      const b = stamps[i];
      if (a === null || b === null) continue;
      perFrame.push(((frames[i]!.pts! - frames[i - 1]!.pts!) >>> 0) / 6000 / (b - a));
    }
    return { perFrame, stamps: stamps.filter((s): s is number => s !== null) };
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

  it('captures frames at the negotiated interval and idles between them', async () => {
    for (const [interval, expected] of [
      [333333, 266.67],
      [666666, 533.33],
    ] as const) {
      const { camera, frames, packets, capacity } = await isoStream({}, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: interval }, 16);
      checkHeaderRules(packets, capacity);
      const { perFrame, stamps } = periods(frames, 640, 480);
      expect(perFrame.length).toBeGreaterThan(5);
      expect(median(perFrame)).toBeGreaterThan(expected * 0.98);
      expect(median(perFrame)).toBeLessThan(expected * 1.02);
      for (let i = 1; i < stamps.length; i++) expect(stamps[i]!).toBeGreaterThan(stamps[i - 1]!);
      // Between frames the device sends header-only packets: a frame needs ~201 of the 267 or 533 intervals
      // (loosely counted: a loaded machine may leave the host without a request queued for a while).
      const idle = packets.filter((p) => p.data.length === 12).length;
      expect(idle).toBeGreaterThan(frames.length * 10);
      camera.unplug();
    }
  });

  it('stretches the frame period with a long exposure when AE priority allows it', async () => {
    const setup = async (camera: VirtualCamera) => {
      const one = (v: number) => Uint8Array.of(v);
      expect((await classSet(camera, VC, 1, CtControl.AE_MODE, one(AeMode.MANUAL))).status).toBe('ok');
      expect((await classSet(camera, VC, 1, CtControl.AE_PRIORITY, one(1))).status).toBe('ok');
      const exposure = new Uint8Array(4);
      new DataView(exposure.buffer).setUint32(0, 666, true); // 66.6 ms
      expect((await classSet(camera, VC, 1, CtControl.EXPOSURE_TIME_ABSOLUTE, exposure)).status).toBe('ok');
    };
    const { camera, frames } = await isoStream({}, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 }, 8, setup);
    const { perFrame } = periods(frames, 640, 480);
    expect(median(perFrame)).toBeGreaterThan(532 * 0.98);
    expect(median(perFrame)).toBeLessThan(533 * 1.02);
    camera.unplug();
  });

  it('loses what it sends while no request is queued', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    const collector = new FrameCollector();
    const read = async (n: number) => {
      const { buffer, iso } = isoSlots(n, 3072);
      const reply = await camera.transfer({ endpoint: VIDEO_EP, buffer, iso });
      for (let i = 0; i < n; i++) collector.payload(buffer.subarray(iso.offsets[i]!, iso.offsets[i]! + iso.actual[i]!));
      return reply;
    };
    // One request at a time with a pause between: the intervals in the pause pass with nobody listening.
    const first = await read(400);
    await new Promise((r) => setTimeout(r, 60));
    const second = await read(1200);
    const gapFrames = ((second.startFrame - first.startFrame + 2048) % 2048) - 400 / 8;
    expect(gapFrames).toBeGreaterThanOrEqual(50); // ≥ 50 ms of bus frames went by unheard
    // The device tells the host how many microframes it sent to nobody; SOF numbers count 1 ms frames, so they
    // agree with it to within one frame (8 microframes).
    const fromSof = ((second.startFrame - first.startFrame + 2048) % 2048) * 8 - 400;
    expect(second.missedIntervals).toBeGreaterThanOrEqual(fromSof - 8);
    expect(second.missedIntervals).toBeLessThanOrEqual(fromSof + 8);
    expect(first.missedIntervals).toBeGreaterThanOrEqual(0);
    const stamps = collector.frames.map((f) => decodeFrameStamp({ data: f.data, width: 640, height: 480, format: 'yuyv' }));
    const whole = collector.frames.filter((f) => f.data.length === 614400);
    // Something was lost: a frame cut short, or a frame number skipped, or (a loaded machine stretching the pause
    // to hundreds of ms) fewer whole frames than the 200 ms of bus time the two requests covered could carry.
    const sequential = stamps.every((s, i) => i === 0 || (s !== null && stamps[i - 1] !== null && s === stamps[i - 1]! + 1));
    const seen = collector.frames.map((f, i) => `${stamps[i]}:${f.data.length}`).join(' ');
    // (At most 4 whole frames: 200 ms of listening hold 6 frame periods; a device that replayed what it sent
    // unheard would deliver them all, whole and in sequence.)
    expect(whole.length <= 4 || whole.length < collector.frames.length || !sequential, `frames (stamp:bytes) ${seen}; gap ${gapFrames} ms`).toBe(true);
    camera.unplug();
  });

  it('carries on after a long silence: frames sent unheard are skipped, not replayed', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    await negotiate(camera, 34, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 });
    await setInterface(camera, VS, 6);
    const collector = new FrameCollector();
    const read = async (n: number) => {
      const { buffer, iso } = isoSlots(n, 3072);
      await camera.transfer({ endpoint: VIDEO_EP, buffer, iso });
      for (let i = 0; i < n; i++) collector.payload(buffer.subarray(iso.offsets[i]!, iso.offsets[i]! + iso.actual[i]!));
    };
    await read(1600); // 200 ms: a few frames
    const before = collector.frames.length;
    await new Promise((r) => setTimeout(r, 700)); // 21 frame periods with nobody listening
    await Promise.all([read(1600), read(1600)]);
    const stamps = collector.frames.map((f) => decodeFrameStamp({ data: f.data, width: 640, height: 480, format: 'yuyv' }));
    const after = stamps.slice(before).filter((s): s is number => s !== null);
    const last = stamps.slice(0, before).filter((s): s is number => s !== null).pop()!;
    // It carries on (400 ms of listening hold about 12 frames; a loaded machine gets fewer whole, 3 seen), in order,
    // from where the device's clock is: not from where it stopped.
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after.every((s, i) => i === 0 || s > after[i - 1]!)).toBe(true);
    expect(after[0]! - last).toBeGreaterThanOrEqual(15);
    camera.unplug();
  });

  it('sends empty packets between frames when told to', async () => {
    const { camera, packets } = await isoStream({ idlePackets: 'empty' }, { bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 666666 }, 3);
    expect(packets.filter((p) => p.data.length === 0 && p.status === PacketStatus.OK).length).toBeGreaterThan(100);
    expect(packets.filter((p) => p.data.length === 12).length).toBe(0);
    camera.unplug();
  });
});
