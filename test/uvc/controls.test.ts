import { beforeEach, describe, expect, it } from 'vitest';
import { isUvcError, type UvcError } from '../../src/errors.js';
import { UvcControls } from '../../src/uvc/controls.js';
import { parseUvcDescriptors } from '../../src/uvc/descriptors/parse.js';
import { decodeStatusPacket } from '../../src/uvc/status.js';
import * as b from './helpers/descriptor-builder.js';
import { concat, FakeUvcDevice, inRange, le } from './helpers/fake-uvc-device.js';
import { openScriptedTransport, type ScriptedTransport } from './helpers/scripted-transport.js';

const config = b.camera({
  numFormats: 1,
  // camera terminal: AE mode (1), exposure absolute (3), pan/tilt absolute (11), focus auto (17)
  cameraBits: [1, 3, 11, 17],
  // processing unit: brightness (0), contrast (1), WB temperature (6), power line (10), WB temperature auto (12)
  processingBits: [0, 1, 6, 10, 12],
  extensionBits: [0, 1],
  streaming: [b.uncompressedFormat(1, 'YUY2', 16, 1), b.frame(0x05, 1, 640, 480, 614400, [333333])],
  altSettings: [3072],
});
const descriptors = parseUvcDescriptors(config);

function camera(): FakeUvcDevice {
  const device = new FakeUvcDevice(0);
  device
    .control(1, 0x02, { size: 1, res: Uint8Array.of(0x09), def: Uint8Array.of(8), cur: Uint8Array.of(8), stall: ['GET_MIN', 'GET_MAX'] })
    .control(1, 0x04, { size: 4, info: 0x0f, min: le(3, 4), max: le(2047, 4), res: le(1, 4), def: le(250, 4), cur: le(250, 4), validate: inRange(3, 1000) })
    .control(1, 0x0d, {
      size: 8,
      min: concat(le(-36000, 4), le(-36000, 4)),
      max: concat(le(36000, 4), le(36000, 4)),
      res: concat(le(3600, 4), le(3600, 4)),
      def: new Uint8Array(8),
      cur: new Uint8Array(8),
    })
    .control(1, 0x08, { size: 1, def: Uint8Array.of(1), cur: Uint8Array.of(1), stall: ['GET_MIN', 'GET_MAX', 'GET_RES'] })
    .control(2, 0x02, { size: 2, min: le(-64, 2), max: le(64, 2), res: le(1, 2), def: le(0, 2), cur: le(-5, 2), validate: inRange(-64, 64, true) })
    .control(2, 0x03, { size: 2, min: le(0, 2), max: le(100, 2), res: le(5, 2), def: le(50, 2), cur: le(50, 2) })
    .control(2, 0x05, { size: 1, min: le(0, 1), max: le(2, 1), res: le(1, 1), def: le(2, 1), cur: le(2, 1) })
    .control(2, 0x0b, { size: 1, def: Uint8Array.of(1), cur: Uint8Array.of(1), stall: ['GET_MIN', 'GET_MAX', 'GET_RES'] })
    .control(4, 0x01, { size: 4, min: le(0, 4), max: le(0xffffffff, 4), def: le(0, 4), cur: Uint8Array.of(1, 2, 3, 4), stall: ['GET_RES'] })
    .control(4, 0x02, { size: 6, cur: Uint8Array.of(9, 8, 7, 6, 5, 4), stall: ['GET_LEN', 'GET_MIN', 'GET_MAX', 'GET_RES', 'GET_DEF'] });
  // white balance temperature is disabled while its auto control is on: the device says "wrong state"
  device.control(2, 0x0a, {
    size: 2,
    info: 0x0f,
    min: le(2800, 2),
    max: le(6500, 2),
    res: le(10, 2),
    def: le(4600, 2),
    cur: le(4600, 2),
    validate: () => (device.controls.get('2:11')!.cur![0] === 1 ? 0x02 : 0),
  });
  return device;
}

async function expectError(promise: Promise<unknown>, code: string): Promise<UvcError> {
  try {
    await promise;
  } catch (error) {
    expect(isUvcError(error)).toBe(true);
    expect((error as UvcError).code).toBe(code);
    return error as UvcError;
  }
  throw new Error(`expected ${code}`);
}

describe('UvcControls', () => {
  let device: FakeUvcDevice;
  let transport: ScriptedTransport;
  let controls: UvcControls;

  beforeEach(async () => {
    device = camera();
    transport = await openScriptedTransport(config, device.handle);
    controls = await UvcControls.create(transport, descriptors);
  });

  it('discovers every declared control with only the requests the specification defines for its type', () => {
    expect(controls.list().map((c) => c.name)).toEqual([
      'ae_mode',
      'exposure_time_absolute',
      'pan_tilt_absolute',
      'focus_auto',
      'brightness',
      'contrast',
      'white_balance_temperature',
      'power_line_frequency',
      'white_balance_temperature_auto',
      'xu4_1',
      'xu4_2',
    ]);
    const requests = transport.requests();
    const to = (address: string) => requests.filter((r) => r.endsWith(` ${address}`)).map((r) => r.split(' ')[0]);
    // AE mode is a bitmap: GET_RES (the supported modes) and GET_DEF, never GET_MIN/GET_MAX.
    expect(to('1:0x02')).toEqual(['GET_INFO', 'GET_RES', 'GET_DEF', 'GET_CUR']);
    // numbers: their range
    expect(to('1:0x04')).toEqual(['GET_INFO', 'GET_MIN', 'GET_MAX', 'GET_RES', 'GET_DEF', 'GET_CUR']);
    expect(to('2:0x02')).toEqual(['GET_INFO', 'GET_MIN', 'GET_MAX', 'GET_RES', 'GET_DEF', 'GET_CUR']);
    // booleans and power line frequency: a default, no range
    for (const address of ['1:0x08', '2:0x0b', '2:0x05']) expect(to(address)).toEqual(['GET_INFO', 'GET_DEF', 'GET_CUR']);
    // GET_LEN only for extension units
    expect(requests.filter((r) => r.startsWith('GET_LEN')).map((r) => r.split(' ')[1])).toEqual(['4:0x01', '4:0x02']);
    expect(to('4:0x01')).toEqual(['GET_INFO', 'GET_LEN', 'GET_MIN', 'GET_MAX', 'GET_RES', 'GET_DEF', 'GET_CUR']);
    expect(transport.log).toHaveLength(57);
    expect(transport.log.every((t) => t.setup.bmRequestType === 0xa1 && (t.setup.wIndex & 0xff) === 0)).toBe(true);
  });

  it('lists entries with type, range, default, value, menu and capability flags', () => {
    expect(controls.info('brightness')).toEqual({
      name: 'brightness',
      unit: 2,
      unitType: 'processing-unit',
      selector: 2,
      type: 'integer',
      size: 2,
      min: -64,
      max: 64,
      step: 1,
      default: 0,
      value: -5, // signed 16-bit
      flags: { get: true, set: true, autoUpdate: false, asynchronous: false, disabledByAuto: false, disabledByCommitState: false },
      unsupported: [],
    });
    expect(controls.info('exposure_time_absolute').flags).toEqual({
      get: true,
      set: true,
      disabledByAuto: true,
      autoUpdate: true,
      asynchronous: false,
      disabledByCommitState: false,
    });
    expect(controls.info('pan_tilt_absolute')).toMatchObject({
      type: 'compound',
      size: 8,
      min: { pan: -36000, tilt: -36000 },
      max: { pan: 36000, tilt: 36000 },
      step: { pan: 3600, tilt: 3600 },
      value: { pan: 0, tilt: 0 },
    });
    expect(controls.info('power_line_frequency')).toMatchObject({
      type: 'menu',
      value: 2,
      menu: [
        { value: 0, name: 'disabled' },
        { value: 1, name: '50hz' },
        { value: 2, name: '60hz' },
      ],
    });
    // AE mode: GET_RES is the bitmap of supported modes (manual | aperture priority)
    expect(controls.info('ae_mode')).toMatchObject({ type: 'menu', value: 8, menu: [{ value: 1, name: 'manual' }, { value: 8, name: 'aperture_priority' }] });
    expect(controls.info('focus_auto')).toMatchObject({ type: 'boolean', value: true, default: true, min: null, step: null, unsupported: [] });
    expect(controls.info('xu4_1')).toMatchObject({ type: 'raw', size: 4, value: Uint8Array.of(1, 2, 3, 4), unsupported: ['GET_RES'] });
    // GET_LEN refused: the size is learnt from GET_CUR's answer
    expect(controls.info('xu4_2')).toMatchObject({ size: 6, value: Uint8Array.of(9, 8, 7, 6, 5, 4) });
  });

  it('list() hands out copies', () => {
    const [first] = controls.list();
    first!.flags.set = false;
    expect(controls.info(first!.name).flags.set).toBe(true);
  });

  it('get reads GET_CUR and decodes signed fields', async () => {
    device.controls.get('2:2')!.cur = le(-40, 2);
    await expect(controls.get('brightness')).resolves.toBe(-40);
    expect(transport.requests().at(-1)).toBe('GET_CUR 2:0x02');
    expect(controls.info('brightness').value).toBe(-40);
  });

  it('set writes SET_CUR with the encoded value', async () => {
    await controls.set('brightness', -64);
    const last = transport.log.at(-1)!;
    expect(last).toMatchObject({ direction: 'out', setup: { bmRequestType: 0x21, bRequest: 0x01, wValue: 0x0200, wIndex: 0x0200 } });
    expect(Array.from(last.data!)).toEqual([0xc0, 0xff]);
    await controls.set('pan_tilt_absolute', { pan: 3600, tilt: -7200 });
    expect(Array.from(device.controls.get('1:13')!.cur!)).toEqual([...le(3600, 4), ...le(-7200, 4)]);
    await expect(controls.get('pan_tilt_absolute')).resolves.toEqual({ pan: 3600, tilt: -7200 });
    await controls.set('focus_auto', false);
    expect(Array.from(device.controls.get('1:8')!.cur!)).toEqual([0]);
  });

  it('checks values before any transfer: range, step, shape, menu (ERANGE / EINVAL)', async () => {
    const before = transport.log.length;
    const tooBright = await expectError(controls.set('brightness', 65), 'ERANGE');
    expect(tooBright.message).toBe("brightness: 65 is outside the device's range -64…64");
    expect(tooBright.details).toMatchObject({ control: 'brightness', value: 65, min: -64, max: 64 });
    // Far out: still the device's range, not the wire type's (what the user can act on).
    expect((await expectError(controls.set('brightness', 999999), 'ERANGE')).message).toBe("brightness: 999999 is outside the device's range -64…64");
    await expectError(controls.set('contrast', 52), 'ERANGE'); // step 5 from 0
    await expectError(controls.set('contrast', 1.5), 'EINVAL');
    await expectError(controls.set('contrast', -1), 'ERANGE'); // below u16
    await expectError(controls.set('pan_tilt_absolute', { pan: 1000, tilt: 0 }), 'ERANGE'); // step 3600
    await expectError(controls.set('pan_tilt_absolute', { pan: 0 } as unknown as Record<string, number>), 'EINVAL');
    await expectError(controls.set('power_line_frequency', 3), 'ERANGE'); // beyond GET_MAX
    await expectError(controls.set('power_line_frequency', 'auto'), 'ERANGE');
    await expectError(controls.set('ae_mode', 'auto'), 'ERANGE'); // not in the GET_RES bitmap
    await expectError(controls.set('ae_mode', 2), 'ERANGE');
    await expectError(controls.set('focus_auto', 2), 'ERANGE');
    await expectError(controls.set('xu4_1', Uint8Array.of(1, 2, 3)), 'EINVAL');
    await expectError(controls.set('nonexistent', 1), 'ENOENT');
    expect(transport.log.length).toBe(before);
    await controls.set('power_line_frequency', '60Hz'); // menu labels: any case
    expect(Array.from(device.controls.get('2:5')!.cur!)).toEqual([2]);
    await controls.set('power_line_frequency', '50hz');
    await controls.set('ae_mode', 'manual');
    expect(Array.from(device.controls.get('2:5')!.cur!)).toEqual([1]);
    expect(Array.from(device.controls.get('1:2')!.cur!)).toEqual([1]);
  });

  it('a refused request is reported with the device\'s reason, read from REQUEST_ERROR_CODE', async () => {
    // WB temperature while auto WB is on: "wrong state" → EBUSY
    const busy = await expectError(controls.set('white_balance_temperature', 4000), 'EBUSY');
    expect(busy.details).toMatchObject({ requestError: { code: 2, text: 'wrong state' }, request: 'SET_CUR', entityId: 2, selector: 0x0a });
    expect(busy.message).toMatch(/SET_CUR white_balance_temperature \(unit 2, selector 0x0a\) failed: the device stalled: wrong state \(2\)/);
    expect(transport.requests().slice(-2)).toEqual(['SET_CUR 2:0x0a', 'GET_CUR if0:0x02']);
    await controls.set('white_balance_temperature_auto', false);
    await controls.set('white_balance_temperature', 4000);

    // the device's real range is narrower than its GET_MAX: "out of range" → ERANGE
    const range = await expectError(controls.set('exposure_time_absolute', 1500), 'ERANGE');
    expect(range.details.requestError).toEqual({ code: 4, text: 'out of range' });

    device.control(2, 0x02, { ...device.controls.get('2:2')!, validate: () => 0x01 });
    expect((await expectError(controls.set('brightness', 1), 'EAGAIN')).details.requestError).toEqual({ code: 1, text: 'not ready' });

    // a device that cannot say why: EPIPE, requestError null
    device.errorCodeStalls = true;
    expect((await expectError(controls.set('brightness', 1), 'EPIPE')).details.requestError).toBe(null);
  });

  it('concurrent requests do not mix up error codes: a stall and its reason stay together', async () => {
    // A stalls with "wrong state"; B, sent at the same moment, succeeds (and would reset the code to 0 if it ran
    // between A and the reading of A's reason)
    const [a, b] = await Promise.allSettled([controls.set('white_balance_temperature', 4000), controls.set('brightness', 3)]);
    expect(a.status).toBe('rejected');
    expect((a as PromiseRejectedResult).reason).toMatchObject({ code: 'EBUSY', details: { requestError: { code: 2, text: 'wrong state' } } });
    expect(b.status).toBe('fulfilled');
    expect(transport.requests().slice(-3)).toEqual(['SET_CUR 2:0x0a', 'GET_CUR if0:0x02', 'SET_CUR 2:0x02']);
  });

  it('raw access to extension units', async () => {
    await expect(controls.getRaw(4, 1)).resolves.toEqual(Uint8Array.of(1, 2, 3, 4));
    await expect(controls.getRaw(4, 1, 'GET_MAX')).resolves.toEqual(le(0xffffffff, 4));
    await expect(controls.getRaw(4, 1, 'GET_INFO')).resolves.toEqual(Uint8Array.of(3));
    await controls.setRaw(4, 1, Uint8Array.of(5, 6, 7, 8));
    expect(device.controls.get('4:1')!.cur).toEqual(Uint8Array.of(5, 6, 7, 8));
    expect(controls.info('xu4_1').value).toEqual(Uint8Array.of(5, 6, 7, 8));
    const before = transport.log.length;
    await expectError(controls.setRaw(4, 1, Uint8Array.of(1)), 'EINVAL');
    await expectError(controls.getRaw(99, 1), 'ENOENT');
    expect(transport.log.length).toBe(before);
    // an undeclared selector: GET_LEN first, which the device refuses as an invalid control → EINVAL
    const invalid = await expectError(controls.getRaw(4, 9), 'EINVAL');
    expect(invalid.details.requestError).toEqual({ code: 6, text: 'invalid control' });
    expect(transport.requests().slice(-2)).toEqual(['GET_LEN 4:0x09', 'GET_CUR if0:0x02']);
    // with an explicit length no GET_LEN is needed
    device.control(4, 9, { size: 3, cur: Uint8Array.of(7, 7, 7) });
    await expect(controls.getRaw(4, 9, 'GET_CUR', 3)).resolves.toEqual(Uint8Array.of(7, 7, 7));
  });

  it('read-only and write-only controls are refused before any transfer (EACCES)', async () => {
    device.controls.get('2:3')!.info = 0x01;
    device.controls.get('2:2')!.info = 0x02;
    const fresh = await UvcControls.create(transport, descriptors);
    const before = transport.log.length;
    await expectError(fresh.set('contrast', 50), 'EACCES');
    await expectError(fresh.get('brightness'), 'EACCES');
    expect(fresh.info('brightness').value).toBe(null);
    expect(transport.log.length).toBe(before);
  });

  it('status events update the cached entry', () => {
    const updated = controls.applyStatusEvent(decodeStatusPacket(Uint8Array.of(0x01, 2, 0x00, 0x02, 0x00, 0x10, 0x00)));
    expect(updated).toMatchObject({ name: 'brightness', value: 16 });
    expect(controls.info('brightness').value).toBe(16);
    const info = controls.applyStatusEvent(decodeStatusPacket(Uint8Array.of(0x01, 2, 0x00, 0x02, 0x01, 0x01)));
    expect(info?.flags).toMatchObject({ get: true, set: false });
    expect(controls.applyStatusEvent(decodeStatusPacket(Uint8Array.of(0x01, 77, 0x00, 0x02, 0x00, 1)))).toBe(null);
  });

  it('an unplugged device fails with ENODEV, in discovery and after', async () => {
    transport.unplug();
    await expectError(controls.get('brightness'), 'ENODEV');
    await expectError(controls.set('brightness', 1), 'ENODEV');
    await expectError(UvcControls.create(transport, descriptors), 'ENODEV');
  });

  it('a control that times out some queries does not stop discovery', async () => {
    let calls = 0;
    const slow = await openScriptedTransport(config, (setup, payload) => {
      calls++;
      return setup.bRequest === 0x87 ? 'timeout' : device.handle(setup, payload);
    });
    // The device never answers GET_DEF: each waits out its timeout (kept short here).
    const discovered = await UvcControls.create(slow, descriptors, { timeoutMs: 20 });
    expect(calls).toBe(57);
    expect(discovered.list().every((c) => c.unsupported.includes('GET_DEF'))).toBe(true);
    expect(discovered.info('contrast').value).toBe(50);
  });
});
