import { describe, expect, it } from 'vitest';
import { isUvcError, type UvcError } from '../../src/errors.js';
import type { UsbSpeed } from '../../src/spec/usb.js';
import { estimatePayloadSize } from '../../src/uvc/bandwidth.js';
import { parseUvcDescriptors } from '../../src/uvc/descriptors/parse.js';
import { selectFormat } from '../../src/uvc/format-selection.js';
import { decodeProbeControl, emptyProbeControl, encodeProbeControl, type ProbeControl } from '../../src/uvc/probe-block.js';
import { commit, negotiateStream, probe } from '../../src/uvc/probe-commit.js';
import * as b from './helpers/descriptor-builder.js';
import { FakeStreaming, type StreamingModel } from './helpers/fake-streaming.js';
import { openScriptedTransport } from './helpers/scripted-transport.js';
import { FakeUvcDevice } from './helpers/fake-uvc-device.js';

const YUYV_INTERVALS = [333333, 666666, 1000000, 2000000];

/**
 * A high-speed camera: YUY2 640x480 and 1280x720, MJPEG 1280x720; alt settings 1–5 of 128, 512, 1024, 2 × 1024 and
 * 3 × 1024 bytes per microframe.
 */
function descriptorsFor(bcdUVC: number, altSettings: number[] | 'bulk' = [0x0080, 0x0200, 0x0400, 0x0c00, 0x1400]): Uint8Array {
  return b.camera({
    bcdUVC,
    clock: 30_000_000,
    numFormats: 2,
    streaming: [
      b.uncompressedFormat(1, 'YUY2', 16, 2),
      b.frame(0x05, 1, 640, 480, 614400, YUYV_INTERVALS),
      b.frame(0x05, 2, 1280, 720, 1843200, YUYV_INTERVALS),
      b.mjpegFormat(2, 1),
      b.frame(0x07, 1, 1280, 720, 1843200, [333333, 666666]),
    ],
    altSettings,
  });
}

/** An honest device: it takes the proposal and states the frame size and a payload size by the uvcvideo formula. */
function honest(speed: UsbSpeed, payload?: (p: ProbeControl) => number): (p: ProbeControl) => ProbeControl {
  return (p) => {
    const width = p.bFormatIndex === 1 && p.bFrameIndex === 1 ? 640 : 1280;
    const height = width === 640 ? 480 : 720;
    const bytes = width * height * 2;
    const estimated = Math.ceil((bytes * (1e7 / p.dwFrameInterval)) / (speed === 'full' ? 1000 : 8000)) + 12;
    return { ...p, dwMaxVideoFrameSize: bytes, dwMaxPayloadTransferSize: payload?.(p) ?? estimated, dwClockFrequency: p.dwClockFrequency === null ? null : 12_000_000, bmFramingInfo: p.bmFramingInfo === null ? null : 0x03 };
  };
}

async function setup(bcdUVC: number, model: Partial<StreamingModel>, options: { altSettings?: number[] | 'bulk'; speed?: UsbSpeed } = {}) {
  const speed = options.speed ?? 'high';
  const config = descriptorsFor(bcdUVC, options.altSettings);
  const descriptors = parseUvcDescriptors(config);
  const length = bcdUVC < 0x0110 ? 26 : bcdUVC < 0x0150 ? 34 : 48;
  const initial = decodeProbeControl(encodeProbeControl({ ...emptyProbeControl(), bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333 }, length));
  const streaming = new FakeStreaming(1, {
    acceptedLengths: [length],
    answerLength: length,
    getLen: length,
    def: initial,
    minMax: { min: { ...initial, wCompQuality: 0 }, max: { ...initial, wCompQuality: 10000 } },
    negotiate: honest(speed),
    ...model,
  }, initial);
  const device = new FakeUvcDevice(0, streaming.handle);
  const transport = await openScriptedTransport(config, device.handle, speed);
  return { descriptors, streaming, device, transport };
}

async function failure(promise: Promise<unknown>): Promise<UvcError> {
  try {
    await promise;
  } catch (error) {
    if (isUvcError(error)) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe('probe and commit', () => {
  it('UVC 1.1: GET_LEN, GET_DEF, SET_CUR, GET_MIN, GET_MAX, SET_CUR, GET_CUR, then COMMIT; 34-byte blocks', async () => {
    const { descriptors, streaming, transport } = await setup(0x0110, {});
    const stream = await negotiateStream(transport, descriptors, { fourcc: 'YUY2', width: 640, height: 480, fps: 30 });
    expect(transport.requests()).toEqual([
      'GET_LEN if1:0x01',
      'GET_DEF if1:0x01',
      'SET_CUR if1:0x01',
      'GET_MIN if1:0x01',
      'GET_MAX if1:0x01',
      'SET_CUR if1:0x01',
      'GET_CUR if1:0x01',
      'SET_CUR if1:0x02',
    ]);
    expect(streaming.proposalLengths).toEqual([34, 34]);
    // bmHint keeps the interval; the quality is GET_MAX's, as uvcvideo asks
    expect(streaming.proposals[1]).toMatchObject({ bmHint: 1, bFormatIndex: 1, bFrameIndex: 1, dwFrameInterval: 333333, wCompQuality: 10000 });
    // 614400 B × 30.00003 fps / 8000 + 12 = 2317 bytes per microframe: more than alt 4 (2048), so alt 5 (3072)
    expect(stream).toMatchObject({ altSetting: 5, bytesPerInterval: 3072, dwMaxPayloadTransferSize: 2317, dwClockFrequency: 12_000_000, bmFramingInfo: 3, committed: true });
    expect(stream.block.length).toBe(34);
    expect(streaming.committed).toEqual(stream.block);
    expect(stream.fixups).toEqual([]);
  });

  it('a UVC 1.1 device that answers 26-byte blocks is spoken to in 26 bytes', async () => {
    const { descriptors, streaming, transport } = await setup(0x0110, { getLen: null, answerLength: 26, acceptedLengths: [26, 34] });
    const stream = await negotiateStream(transport, descriptors, { width: 640, height: 480 });
    expect(stream.block.length).toBe(26);
    expect(streaming.proposalLengths).toEqual([26, 26]);
    expect(streaming.committed?.length).toBe(26);
    expect(stream.bmFramingInfo).toBe(null);
    expect(stream.dwClockFrequency).toBe(30_000_000); // no dwClockFrequency in the block: the header's
    expect(stream.fixups).toContain('the device answers GET_DEF(PROBE) with 26 bytes where bcdUVC 1.10 implies 34; using 26');
  });

  it('a UVC 1.5 device that refuses 48-byte SET_CURs (no reason given) and has no GET_DEF gets 34, then 26', async () => {
    const { descriptors, streaming, transport } = await setup(0x0150, {
      getLen: null,
      def: null,
      curStallsUntilSet: true,
      answerLength: 26,
      acceptedLengths: [26],
      wrongLengthCode: 0,
    });
    const stream = await negotiateStream(transport, descriptors, { fourcc: 'YUY2', width: 640, height: 480, fps: 15 });
    expect(stream.block.length).toBe(26);
    expect(streaming.proposalLengths).toEqual([26, 26]);
    expect(stream.fixups).toEqual(
      expect.arrayContaining([
        'GET_DEF(PROBE) not supported; starting from GET_CUR',
        'the device refuses a 48-byte probe block; using 34 bytes',
        'the device refuses a 34-byte probe block; using 26 bytes',
      ]),
    );
    // 614400 × 15.000015 / 8000 + 12 = 1165 bytes: alt 4 (2048)
    expect(stream).toMatchObject({ interval: 666666, dwMaxPayloadTransferSize: 1165, altSetting: 4 });
  });

  it('GET_LEN is believed: a 1.5 device with 34-byte blocks', async () => {
    const { descriptors, streaming, transport } = await setup(0x0150, { getLen: 34, answerLength: 34, acceptedLengths: [34] });
    const stream = await negotiateStream(transport, descriptors, {});
    expect(streaming.proposalLengths).toEqual([34, 34]);
    expect(stream.fixups).toEqual(['probe block is 34 bytes by GET_LEN (bcdUVC 1.50 implies 48)']);
  });

  it('a bogus dwMaxPayloadTransferSize (more than any alt setting, far more than the mode needs) is replaced by the estimate', async () => {
    const { descriptors, transport } = await setup(0x0100, { negotiate: honest('high', () => 0x000c0000) });
    const stream = await negotiateStream(transport, descriptors, { fourcc: 'YUY2', width: 640, height: 480, fps: 5 });
    // 614400 × 5 / 8000 + 12 = 396, raised to uvcvideo's 1024 floor → alt 3 (1024)
    expect(stream).toMatchObject({ dwMaxPayloadTransferSize: 1024, altSetting: 3, bytesPerInterval: 1024 });
    expect(stream.fixups).toEqual([
      'dwMaxPayloadTransferSize 786432 is more than any alt setting offers (3072) and at least twice what 640x480 at 5.00 fps needs (396); using the estimate 1024',
    ]);
  });

  it('a sign-extended 16-bit payload size (Chicony) loses its upper half; 0 becomes the estimate', async () => {
    const signExtended = await setup(0x0100, { negotiate: honest('high', () => 0xffff0800) });
    const a = await negotiateStream(signExtended.transport, signExtended.descriptors, { width: 640, height: 480, fps: 30 });
    expect(a).toMatchObject({ dwMaxPayloadTransferSize: 0x800, altSetting: 4 });
    expect(a.fixups).toEqual(['dwMaxPayloadTransferSize 0xffff0800 is a sign-extended 16-bit value; using 2048']);
    const zero = await setup(0x0100, { negotiate: honest('high', () => 0) });
    const c = await negotiateStream(zero.transport, zero.descriptors, { width: 640, height: 480, fps: 30 });
    expect(c).toMatchObject({ dwMaxPayloadTransferSize: 2317, altSetting: 5 });
    expect(c.fixups).toEqual(['dwMaxPayloadTransferSize 0 replaced by the estimate 2317']);
  });

  it('uncompressed frame size from the descriptor when the device says 0 or nonsense', async () => {
    const { descriptors, transport } = await setup(0x0100, { negotiate: (p) => ({ ...honest('high')(p), dwMaxVideoFrameSize: 0x00090000 }) });
    const stream = await negotiateStream(transport, descriptors, { width: 640, height: 480, fps: 30 });
    expect(stream.dwMaxVideoFrameSize).toBe(614400);
    expect(stream.fixups).toEqual(['dwMaxVideoFrameSize 589824 replaced by 614400 (640x480 at 16 bpp)']);
  });

  it('ENOSPC before any commit, naming a mode that would fit', async () => {
    const { descriptors, streaming, transport } = await setup(0x0100, {});
    const error = await failure(negotiateStream(transport, descriptors, { fourcc: 'YUY2', width: 1280, height: 720, fps: 30 }));
    expect(error.code).toBe('ENOSPC');
    expect(error.message).toBe(
      'YUY2 1280x720 at 30 fps needs 6925 bytes per interval, but the largest alt setting of interface 1 offers 3072; YUY2 1280x720 at 10 fps would fit',
    );
    // 15 fps would need 3469 bytes; 10 fps needs 2316
    expect(error.details).toMatchObject({ required: 6925, available: 3072, suggestion: { fourcc: 'YUY2', width: 1280, height: 720, interval: 1000000, payloadSize: 2316 } });
    expect(streaming.committed).toBe(null);
    // the suggestion really fits
    const fitting = await negotiateStream(transport, descriptors, { fourcc: 'YUY2', width: 1280, height: 720, fps: 10 });
    expect(fitting.altSetting).toBe(5);
  });

  it('too much bandwidth: a second round with the minimum compression parameters (uvcvideo)', async () => {
    const { descriptors, streaming, transport } = await setup(0x0100, {
      negotiate: honest('high', (p) => (p.wCompQuality > 5000 ? 4000 : 3000)),
    });
    const stream = await negotiateStream(transport, descriptors, { fourcc: 'MJPG', width: 1280, height: 720, fps: 30 });
    // the first proposal carries GET_DEF's quality; then GET_MAX's (uvcvideo); then, too big, GET_MIN's
    expect(streaming.proposals.map((p) => p.wCompQuality)).toEqual([0, 10000, 0]);
    expect(stream).toMatchObject({ dwMaxPayloadTransferSize: 3000, altSetting: 5 });
  });

  it('tolerates GET_MIN/GET_MAX answering only wCompQuality (Bison) or stalling', async () => {
    const bison = await setup(0x0100, { minMax: { minQuality: 100, maxQuality: 9000 } });
    const stream = await negotiateStream(bison.transport, bison.descriptors, {});
    expect(bison.streaming.proposals[1]!.wCompQuality).toBe(9000);
    expect(stream.fixups).toContain('GET_MIN/GET_MAX(PROBE) answer only wCompQuality (Bison workaround)');
    const stalls = await setup(0x0100, { minMax: null });
    await expect(negotiateStream(stalls.transport, stalls.descriptors, {})).resolves.toMatchObject({ committed: true });
  });

  it('the device\'s counter-offer wins: another interval, another frame', async () => {
    const { descriptors, transport } = await setup(0x0100, { negotiate: (p) => honest('high')({ ...p, bFrameIndex: 1, dwFrameInterval: 666666 }) });
    const stream = await negotiateStream(transport, descriptors, { fourcc: 'YUY2', width: 1280, height: 720, fps: 30 });
    expect(stream).toMatchObject({ frame: { index: 1, width: 640, height: 480 }, interval: 666666, dwMaxVideoFrameSize: 614400 });
  });

  it('a counter-offer naming a format the descriptors lack is EPROTO', async () => {
    const { descriptors, transport } = await setup(0x0100, { negotiate: (p) => ({ ...p, bFormatIndex: 9 }) });
    expect((await failure(negotiateStream(transport, descriptors, {}))).code).toBe('EPROTO');
  });

  it('a refused proposal comes back with the device\'s reason', async () => {
    const { descriptors, transport } = await setup(0x0100, { negotiate: () => 0x04 });
    const error = await failure(negotiateStream(transport, descriptors, {}));
    expect(error.code).toBe('ERANGE');
    expect(error.details.requestError).toEqual({ code: 4, text: 'out of range' });
    expect(transport.requests().slice(-2)).toEqual(['SET_CUR if1:0x01', 'GET_CUR if0:0x02']);
  });

  it('bulk: alt setting 0, the endpoint\'s packet size, and 0 payload becomes a frame plus header', async () => {
    const { descriptors, transport } = await setup(0x0110, { negotiate: honest('high', () => 0) }, { altSettings: 'bulk' });
    const stream = await negotiateStream(transport, descriptors, { width: 640, height: 480 });
    expect(stream).toMatchObject({ transferType: 'bulk', altSetting: 0, bytesPerInterval: 512, endpointAddress: 0x81, dwMaxPayloadTransferSize: 614412 });
  });

  it('full speed: the estimate counts 1 ms frames, and nothing of this camera fits 1023 bytes', async () => {
    const { descriptors, transport } = await setup(0x0100, { negotiate: honest('full', () => 0) }, { altSettings: [128, 256, 512, 1023], speed: 'full' });
    const error = await failure(negotiateStream(transport, descriptors, { width: 640, height: 480, fps: 5 }));
    // 614400 × 5 / 1000 + 12 = 3084 bytes per 1 ms frame
    expect(error.message).toBe(
      'YUY2 640x480 at 5 fps needs 3084 bytes per interval, but the largest alt setting of interface 1 offers 1023; no mode of this interface fits',
    );
    expect(error.details).toMatchObject({
      suggestion: null,
      fixups: [
        'the device needs 3084 bytes per interval (at most 1023); probing again with minimum compression parameters',
        'dwMaxPayloadTransferSize 0 replaced by the estimate 3084',
      ],
    });
  });

  it('ENODEV from the transport passes through as ENODEV', async () => {
    const { descriptors, transport } = await setup(0x0110, {});
    transport.unplug();
    expect((await failure(negotiateStream(transport, descriptors, {}))).code).toBe('ENODEV');
  });

  it('probe and commit can run separately; commit sends the probed block', async () => {
    const { descriptors, streaming, transport } = await setup(0x0110, {});
    const selection = selectFormat(descriptors, { fourcc: 'YUY2', fps: 15 });
    const probed = await probe(transport, descriptors, selection);
    expect(probed.committed).toBe(false);
    expect(streaming.committed).toBe(null);
    const committed = await commit(transport, descriptors, probed);
    expect(committed.committed).toBe(true);
    expect(streaming.committed).toEqual(probed.block);
    expect(estimatePayloadSize(selection.format, selection.frame, 333333, 'high')).toBeGreaterThan(0);
  });
});
