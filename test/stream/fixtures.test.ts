/**
 * The assembler against real cameras' traffic (test/fixtures/payloads, see PROVENANCE.md there): the byte
 * counts, EOF/FID timing and frame counts the fixtures' README states, exactly.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PayloadHeader } from '../../src/spec/uvc.js';
import { parsePayloadHeader } from '../../src/stream/payload-header.js';
import { assemblerRig } from './helpers/assembler-rig.js';
import { bulkTransfer, concat, header, isoTransfer } from './helpers/transfers.js';
import {
  bulkRecordToTransfer,
  isoRecordToTransfer,
  isoStride,
  parseHexBytes,
  parseTsharkPayloads,
  parseUsbmonRecord,
  parseWiresharkHexdump,
  type UsbmonRecord,
} from './helpers/usbmon.js';

const dir = new URL('../fixtures/payloads/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, dir), 'utf8');
const record = (name: string): UsbmonRecord => parseUsbmonRecord(parseHexBytes(read(name)));

const MICROFRAME = 125_000;
const YUYV_VGA = 640 * 480 * 2;

/** The record's completion time relative to a base second, in ns (usbmon seconds overflow doubles' ns precision). */
function completedAt(r: UsbmonRecord, baseSec: number): number {
  return (r.tsSec - baseSec) * 1e9 + r.tsUsec * 1000;
}

function packetBytes(r: UsbmonRecord, i: number): Uint8Array {
  const d = r.descriptors[i]!;
  return r.data.subarray(d.offset, d.offset + d.length);
}

describe('usbmon record parser', () => {
  it('reads the iso URB header and descriptors of tph_iso_0', () => {
    const r = record('vaultmicro_tph_iso_0.hex.txt');
    expect(r).toMatchObject({ type: 'C', xferType: 0, endpoint: 0x81, device: 3, bus: 1, status: 0, numDesc: 32, interval: 1 });
    expect(r.length).toBe(33_776); // bytes transferred: the sum of the packets' actual lengths
    expect(r.descriptors.reduce((sum, d) => sum + d.length, 0)).toBe(r.length);
    expect(isoStride(r)).toBe(1280);
    expect(r.descriptors.map((d) => d.length)).toEqual([...Array<number>(26).fill(1280), 436, 12, 12, 12, 12, 12]);
    expect(r.descriptors.every((d) => d.status === 0)).toBe(true);
  });

  it('refuses a record whose len_cap does not match its size', () => {
    const bytes = parseHexBytes(read('vaultmicro_tph_bulk_1.hex.txt'));
    expect(() => parseUsbmonRecord(bytes.subarray(0, bytes.length - 1))).toThrow(/len_cap/);
  });

  it('reads the Wireshark hex dump into the same record layout', () => {
    const r = parseUsbmonRecord(parseWiresharkHexdump(read('vaultmicro_wireshark_iso_urb_hexdump.txt')));
    expect(r).toMatchObject({ type: 'C', xferType: 0, endpoint: 0x81, numDesc: 32, length: 384 });
    expect(r.descriptors.map((d) => d.length)).toEqual(Array<number>(32).fill(12));
  });
});

describe('tph_iso_0: EOF in packet 28, then FID 1', () => {
  const r = record('vaultmicro_tph_iso_0.hex.txt');
  const end = completedAt(r, r.tsSec);

  it('has the header flags the README states', () => {
    expect(packetBytes(r, 27)[1]).toBe(0x0c);
    expect(packetBytes(r, 28)[1]).toBe(0x1e); // EOF, PTS, SCR, RES; no EOH
    for (const i of [29, 30, 31]) expect(packetBytes(r, i)[1]).toBe(0x0d); // FID flipped to 1
    expect(parsePayloadHeader(packetBytes(r, 28))).toMatchObject({ headerLength: 12, fid: 0, eof: true, eoh: false });
  });

  it('fed packet by packet, the frame completes exactly at packet 28 with 33,392 bytes', async () => {
    const rig = await assemblerRig({ formatKind: 'uncompressed', transferType: 'iso', intervalNs: MICROFRAME }, { bufferSize: YUYV_VGA });
    const stride = isoStride(r);
    const expected = concat(...r.descriptors.slice(0, 28).map((_d, i) => packetBytes(r, i).subarray(12)));
    for (let i = 0; i < 32; i++) {
      const packet = isoTransfer([{ bytes: packetBytes(r, i) }], { stride, completedAtNs: end - (31 - i) * MICROFRAME });
      rig.feed(packet);
      expect(rig.queue.doneCount, `after packet ${i}`).toBe(i < 28 ? 0 : 1);
    }
    const frames = await rig.drain();
    expect(frames).toHaveLength(1);
    expect(frames[0]!.bytesused).toBe(33_392);
    expect(frames[0]!.data).toEqual(expected);
    expect(frames[0]!.sequence).toBe(0);
    expect(frames[0]!.error).toBe(false); // no expected size given: nothing says it is short
    expect(frames[0]!.timestamp).toBe(end - 31 * MICROFRAME); // the host time of packet 0
    // Packets 29-31 (FID 1) began the next frame: it holds a buffer, has no data yet.
    expect(rig.queue.activeCount).toBe(1);
    expect(rig.assembler.stats).toMatchObject({ payloads: 32, bytes: 33_392, invalidHeaders: 0, frames: 1 });
  });

  it('fed as the one URB it was, with the committed YUYV 640x480 size: same frame, flagged short (it began before the capture)', async () => {
    const rig = await assemblerRig(
      { formatKind: 'uncompressed', transferType: 'iso', intervalNs: MICROFRAME, expectedFrameSize: YUYV_VGA },
      { bufferSize: YUYV_VGA },
    );
    rig.feed(isoRecordToTransfer(r, end));
    const frames = await rig.drain();
    expect(frames.map((f) => [f.bytesused, f.error])).toEqual([[33_392, true]]);
    expect(rig.assembler.stats.sizeMismatches).toBe(1);
  });

  it('with EOH required, the camera gets nothing through (why EOH is not required by default)', async () => {
    const rig = await assemblerRig({ formatKind: 'uncompressed', transferType: 'iso', requireEoh: true }, { bufferSize: YUYV_VGA });
    rig.feed(isoRecordToTransfer(r, end));
    expect(rig.assembler.stats.invalidHeaders).toBe(32);
    expect(rig.assembler.stats.bytes).toBe(0);
  });
});

describe('tph_iso_1: 32 full packets, no EOF', () => {
  it('adds exactly 40,576 bytes to an open frame and completes nothing', async () => {
    const r = record('vaultmicro_tph_iso_1.hex.txt');
    expect(r.descriptors.every((d) => d.length === 1280)).toBe(true);
    const rig = await assemblerRig({ formatKind: 'uncompressed', transferType: 'iso', intervalNs: MICROFRAME }, { bufferSize: YUYV_VGA });
    rig.feed(isoRecordToTransfer(r, completedAt(r, r.tsSec)));
    expect(rig.queue.doneCount).toBe(0);
    expect(rig.assembler.stats.bytes).toBe(40_576);
    // The next FID ends it: everything is in the buffer, in order.
    rig.feed(isoTransfer([{ bytes: header({ fid: 1 }) }], { stride: 1280 }));
    const frames = await rig.drain();
    expect(frames.map((f) => f.bytesused)).toEqual([40_576]);
    expect(frames[0]!.data).toEqual(concat(...r.descriptors.map((_d, i) => packetBytes(r, i).subarray(12))));
  });
});

describe('tph_bulk: a bulk transfer boundary is not a payload boundary', () => {
  it('the second transfer is the headerless continuation of the first one\'s payload', async () => {
    const b0 = record('vaultmicro_tph_bulk_0.hex.txt');
    const b1 = record('vaultmicro_tph_bulk_1.hex.txt');
    expect([b0.xferType, b0.endpoint, b0.length, b1.length]).toEqual([3, 0x81, 16_384, 8_192]);
    expect(Array.from(b0.data.subarray(0, 2))).toEqual([0x0c, 0x8d]);
    expect(Array.from(b0.data.subarray(12, 14))).toEqual([0xff, 0xd8]);
    expect(Array.from(b1.data.subarray(0, 4))).toEqual([0x6b, 0x06, 0x02, 0x59]);

    const transferSize = 16_384;
    const rig = await assemblerRig(
      { formatKind: 'mjpeg', transferType: 'bulk', transferSize, maxPayloadSize: 512 * 1024 },
      { bufferSize: 256 * 1024 },
    );
    rig.feed(bulkRecordToTransfer(b0, transferSize, 1), bulkRecordToTransfer(b1, transferSize, 2));
    // One payload (the short second transfer ended it), no EOF: the frame is still open.
    expect(rig.assembler.stats.payloads).toBe(1);
    expect(rig.assembler.stats.invalidHeaders).toBe(0);
    expect(rig.assembler.stats.bytes).toBe(16_372 + 8_192);
    expect(rig.queue.doneCount).toBe(0);
    // The next frame's payload ends it.
    rig.feed(bulkTransfer(header({ fid: 0 }), { transferSize, completedAtNs: 3 }));
    const frames = await rig.drain();
    expect(frames).toHaveLength(1);
    expect(frames[0]!.bytesused).toBe(24_564);
    // The capture holds only the JPEG's first two transfers: it has no EOI, so the frame is flagged as cut.
    expect(frames[0]!.error).toBe(true);
    expect(Array.from(frames[0]!.data.subarray(0, 2))).toEqual([0xff, 0xd8]);
    expect(frames[0]!.data.subarray(16_372)).toEqual(b1.data);
  });
});

describe('wireshark URB: idle packets', () => {
  it('32 header-only packets carry no data and complete no frame', async () => {
    const r = parseUsbmonRecord(parseWiresharkHexdump(read('vaultmicro_wireshark_iso_urb_hexdump.txt')));
    for (let i = 0; i < 32; i++) expect(Array.from(packetBytes(r, i).subarray(0, 2))).toEqual([0x0c, 0x0d]);
    const rig = await assemblerRig({ formatKind: 'uncompressed', transferType: 'iso', intervalNs: MICROFRAME }, { bufferSize: YUYV_VGA });
    rig.feed(isoRecordToTransfer(r, 0));
    expect(rig.assembler.stats).toMatchObject({ payloads: 32, bytes: 0, invalidHeaders: 0, frames: 0 });
    expect(rig.queue.doneCount).toBe(0);
  });
});

describe('bravia: 1326 MJPEG payloads', () => {
  const { payloads, timeLines } = parseTsharkPayloads(read('vaultmicro_bravia_iso_usbmon_urbs.hex.txt'));
  const BASE = 6_480_300; // seconds: makes the (negative) converted times positive
  const ns = (seconds: number): number => Math.round((seconds + BASE) * 1e9);

  it('holds what the README says: 221 EOFs, 221 SOIs at payload start, 220 FID toggles', () => {
    expect(payloads).toHaveLength(1326);
    expect(timeLines).toBe(4890);
    expect(payloads.filter((p) => p.truncatedNibble).map((p) => p.line)).toEqual([6003]);
    expect(payloads.filter((p) => (p.bytes[1]! & PayloadHeader.EOF) !== 0)).toHaveLength(221);
    expect(payloads.filter((p) => p.bytes[p.bytes[0]!] === 0xff && p.bytes[p.bytes[0]! + 1] === 0xd8)).toHaveLength(221);
    let toggles = 0;
    for (let i = 1; i < payloads.length; i++) if (((payloads[i]!.bytes[1]! ^ payloads[i - 1]!.bytes[1]!) & 1) !== 0) toggles++;
    expect(toggles).toBe(220);
  });

  it('assembles 221 frames: each begins at its SOI payload and ends at its EOF, none flagged, sequence without gaps', async () => {
    // The export keeps only the payloads (each cut to 102 bytes), not the bus slots between them: the SCR's SOF
    // counter runs ahead of the packets fed here, which would read as lost bus time, so it is not taken as
    // evidence (deviceSofInvalid); and each EOF payload gets back the EOI its JPEG ended with.
    const rig = await assemblerRig(
      { formatKind: 'mjpeg', transferType: 'iso', intervalNs: MICROFRAME, clockFrequency: 1_000_000, deviceSofInvalid: true },
      { bufferSize: 1024 * 1024, buffers: 8 },
    );
    // The oracle from the headers: frame k starts at the k-th SOI payload and ends at the k-th EOF.
    const starts: number[] = [];
    const ends: number[] = [];
    payloads.forEach((p, i) => {
      if (p.bytes[p.bytes[0]!] === 0xff && p.bytes[p.bytes[0]! + 1] === 0xd8) starts.push(i);
      if ((p.bytes[1]! & PayloadHeader.EOF) !== 0) ends.push(i);
    });
    const frames = [];
    const closed = (p: { bytes: Uint8Array }): Uint8Array => ((p.bytes[1]! & PayloadHeader.EOF) !== 0 ? concat(p.bytes, Uint8Array.of(0xff, 0xd9)) : p.bytes);
    for (const [i, p] of payloads.entries()) {
      rig.feed(isoTransfer([{ bytes: closed(p) }], { stride: 1024, completedAtNs: ns(p.timeSeconds), slot: i % 5 }));
      // A frame completes exactly at each EOF payload, never elsewhere.
      const done = await rig.drain();
      expect(done.length, `payload ${i}`).toBe(ends.includes(i) ? 1 : 0);
      frames.push(...done);
    }
    expect(frames).toHaveLength(221);
    expect(frames.map((f) => f.sequence)).toEqual(Array.from({ length: 221 }, (_, k) => k));
    expect(frames.filter((f) => f.error)).toEqual([]);
    frames.forEach((frame, k) => {
      const own = payloads.slice(starts[k], ends[k]! + 1);
      expect(frame.bytesused).toBe(own.reduce((sum, p) => sum + closed(p).length - p.bytes[0]!, 0));
      expect(Array.from(frame.data.subarray(0, 2))).toEqual([0xff, 0xd8]);
      // This camera's PTS counts ms while its STC counts µs, so PTS cannot be translated: frames carry the
      // arrival time of their first payload.
      expect(frame.timestamp).toBe(ns(payloads[starts[k]!]!.timeSeconds));
    });
    expect(rig.assembler.stats).toMatchObject({ frames: 221, erroredFrames: 0, invalidHeaders: 0, deviceTimestamps: 0 });
  });

  it('its SCRs lock the clock recovery: a packet\'s STC maps to just before its arrival, never after', async () => {
    const rig = await assemblerRig(
      { formatKind: 'mjpeg', transferType: 'iso', intervalNs: MICROFRAME, clockFrequency: 1_000_000 },
      { bufferSize: 1024 * 1024, buffers: 8 },
    );
    const clock = rig.assembler.clock!;
    const errors: number[] = [];
    for (const [i, p] of payloads.entries()) {
      const isSample = (p.bytes[1]! & PayloadHeader.SCR) !== 0 && p.bytes[0] === 12;
      if (isSample && clock.locked && i > 100) {
        const stc = new DataView(p.bytes.buffer, p.bytes.byteOffset).getUint32(6, true);
        errors.push(clock.toHostNs(stc) - ns(p.timeSeconds));
      }
      rig.feed(isoTransfer([{ bytes: p.bytes }], { stride: 1024, completedAtNs: ns(p.timeSeconds) }));
      await rig.drain();
    }
    expect(errors.length).toBeGreaterThan(1000);
    errors.sort((a, b) => a - b);
    // Arrival is late by the host's latency, never early: the translation lands at or just before arrival
    // (the lower envelope), typically a couple of ms before it in this capture.
    expect(errors[errors.length - 1]!).toBeLessThan(500_000);
    const median = errors[Math.floor(errors.length / 2)]!;
    expect(median).toBeLessThan(0);
    expect(median).toBeGreaterThan(-4_000_000);
  });
});
