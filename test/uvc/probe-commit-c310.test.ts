/**
 * Probe/commit against the real Logitech C310 exchange captured by usbmon while uvcvideo initialised the camera:
 * GET_DEF(PROBE), SET_CUR(PROBE), GET_CUR(PROBE), 26 bytes each (UVC 1.0). A scripted device answers exactly
 * what the camera answered.
 */
import { describe, expect, it } from 'vitest';
import { parseUvcDescriptors } from '../../src/uvc/descriptors/parse.js';
import { decodeProbeControl } from '../../src/uvc/probe-block.js';
import { negotiateStream } from '../../src/uvc/probe-commit.js';
import { readBinary, readHex } from './helpers/fixtures.js';
import { openScriptedTransport, type ScriptedTransport } from './helpers/scripted-transport.js';
import { FakeUvcDevice, REQ } from './helpers/fake-uvc-device.js';
import { usbmonControlExchanges } from './helpers/usbmon-pcapng.js';

const exchanges = usbmonControlExchanges(readBinary('gallimaufry_logitech_C310_enum.pcapng'));
const probeExchanges = exchanges.filter((e) => (e.bmRequestType & 0x7f) === 0x21 && e.wValue === 0x0100 && e.wIndex === 0x0001);
const [getDef, setCur, getCur] = probeExchanges;

describe('the C310 capture', () => {
  it('holds the configuration of the fixture and a 26-byte PROBE exchange: GET_DEF, SET_CUR, GET_CUR', () => {
    const configuration = exchanges.find((e) => e.bRequest === 0x06 && e.wValue === 0x0200 && e.data.length > 9);
    expect(configuration?.data).toEqual(readHex('gallimaufry_logitech_C310.cfg_desc.hex'));
    expect(probeExchanges.map((e) => [e.bmRequestType, e.bRequest, e.wLength, e.data.length, e.status])).toEqual([
      [0xa1, REQ.GET_DEF, 26, 26, 0],
      [0x21, REQ.SET_CUR, 26, 26, 0],
      [0xa1, REQ.GET_CUR, 26, 26, 0],
    ]);
    expect(decodeProbeControl(getCur!.data)).toMatchObject({
      bFormatIndex: 1,
      bFrameIndex: 1,
      dwFrameInterval: 333333,
      dwMaxVideoFrameSize: 614400,
      dwMaxPayloadTransferSize: 3060,
    });
  });
});

describe('negotiating with the C310 as captured', () => {
  const descriptors = parseUvcDescriptors(readHex('gallimaufry_logitech_C310.cfg_desc.hex'));

  async function c310(): Promise<{ transport: ScriptedTransport; commits: Uint8Array[]; proposals: Uint8Array[] }> {
    const commits: Uint8Array[] = [];
    const proposals: Uint8Array[] = [];
    const device = new FakeUvcDevice(0, (setup, payload, dev) => {
      const selector = setup.wValue >> 8;
      if ((setup.wIndex & 0xff) !== 1) return dev.refuse(0x05);
      if (selector === 0x01 && setup.bRequest === REQ.GET_DEF) return getDef!.data;
      if (selector === 0x01 && setup.bRequest === REQ.GET_CUR) return getCur!.data;
      if (selector === 0x01 && setup.bRequest === REQ.SET_CUR) {
        proposals.push((payload as { data: Uint8Array }).data);
        return 'ok';
      }
      if (selector === 0x02 && setup.bRequest === REQ.SET_CUR) {
        commits.push((payload as { data: Uint8Array }).data);
        return 'ok';
      }
      return dev.refuse(0x07); // GET_MIN/GET_MAX were not captured: this script stalls them
    });
    return { transport: await openScriptedTransport(readHex('gallimaufry_logitech_C310.cfg_desc.hex'), device.handle, 'high'), commits, proposals };
  }

  it('commits what the camera offered and picks the 3×1020-byte alt setting', async () => {
    const { transport, commits, proposals } = await c310();
    const stream = await negotiateStream(transport, descriptors, { fourcc: 'YUY2', width: 640, height: 480, fps: 30 });
    expect(stream).toMatchObject({
      interfaceNumber: 1,
      endpointAddress: 0x81,
      transferType: 'isochronous',
      altSetting: 11,
      bytesPerInterval: 3060,
      format: { index: 1, kind: 'uncompressed', fourcc: 'YUY2', bitsPerPixel: 16 },
      frame: { index: 1, width: 640, height: 480 },
      interval: 333333,
      dwMaxVideoFrameSize: 614400,
      dwMaxPayloadTransferSize: 3060,
      dwClockFrequency: 48_000_000, // UVC 1.0: the VideoControl header's dwClockFrequency
      bmFramingInfo: null,
      bcdUVC: 0x0100,
      committed: true,
    });
    expect(stream.fps).toBeCloseTo(30, 3);
    expect(stream.fixups).toEqual([]);
    expect(stream.block).toEqual(getCur!.data);
    expect(commits).toEqual([getCur!.data]);

    // the first request is the captured GET_DEF exactly (26 bytes: no GET_LEN for a UVC 1.0 device)
    expect(transport.log[0]!.setup).toEqual({ bmRequestType: 0xa1, bRequest: 0x87, wValue: 0x0100, wIndex: 0x0001 });
    expect(transport.log[0]!.length).toBe(26);
    // the proposal is the camera's default with bmHint = dwFrameInterval, as uvcvideo's SET_CUR was (but its hint)
    expect(proposals[0]!.length).toBe(26);
    expect(Array.from(proposals[0]!.subarray(2))).toEqual(Array.from(setCur!.data.subarray(2)));
    expect(Array.from(proposals[0]!.subarray(0, 2))).toEqual([1, 0]);
    // a stalled GET_MIN is the probe-minmax quirk: GET_MAX is not asked after it
    expect(transport.requests()).toEqual([
      'GET_DEF if1:0x01',
      'SET_CUR if1:0x01',
      'GET_MIN if1:0x01',
      'SET_CUR if1:0x01',
      'GET_CUR if1:0x01',
      'SET_CUR if1:0x02',
    ]);
  });
});
