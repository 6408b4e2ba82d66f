import { describe, expect, it } from 'vitest';
import { VirtualCamera } from '../../src/virtual-camera/index.js';
import { DescriptorType, StandardRequest } from '../../src/spec/usb.js';
import { isUvcError } from '../../src/errors.js';
import { UvcRequest, VsControl } from '../../src/spec/uvc.js';
import {
  classGet,
  clearHalt,
  enumerate,
  getDescriptor,
  isoSlots,
  mustGetDescriptor,
  setInterface,
  standardOut,
  STATUS_EP,
  VC,
  VIDEO_EP,
  VS,
} from './helpers/raw-usb.js';

const u16 = (d: Uint8Array, o: number) => d[o]! | (d[o + 1]! << 8);

async function standardIn(camera: VirtualCamera, bmRequestType: number, bRequest: number, wValue: number, wIndex: number, wLength: number) {
  return camera.control({ bmRequestType, bRequest, wValue, wIndex, wLength }, undefined);
}

describe('enumeration (chapter 9)', () => {
  it('answers the usbcore sequence: 8-byte device read, address, 18 bytes, 9-byte then full config, strings', async () => {
    const camera = new VirtualCamera();
    expect(camera.speed).toBe('high');
    expect(camera.attached).toBe(true);
    const first8 = await mustGetDescriptor(camera, DescriptorType.DEVICE, 0, 8);
    expect(first8.length).toBe(8);
    expect(first8[7]).toBe(64); // bMaxPacketSize0, what the host needs from the first read
    expect((await standardOut(camera, 0x00, StandardRequest.SET_ADDRESS, 12, 0)).status).toBe('ok');
    const device = await mustGetDescriptor(camera, DescriptorType.DEVICE, 0, 18);
    expect(Array.from(device.subarray(0, 8))).toEqual(Array.from(first8));
    expect(u16(device, 8)).toBe(0x1209);
    expect(u16(device, 10)).toBe(0x0001);
    const head = await mustGetDescriptor(camera, DescriptorType.CONFIGURATION, 0, 9);
    expect(head.length).toBe(9);
    const total = u16(head, 2);
    const full = await mustGetDescriptor(camera, DescriptorType.CONFIGURATION, 0, total);
    expect(full.length).toBe(total);
    // A read longer than the descriptor returns the descriptor (a short IN data stage).
    expect((await mustGetDescriptor(camera, DescriptorType.CONFIGURATION, 0, 0xffff)).length).toBe(total);
    // libusb reads strings with a language ID; any index past the table stalls.
    expect((await getDescriptor(camera, DescriptorType.STRING, 2, 255, 0x0409)).status).toBe('ok');
    expect((await getDescriptor(camera, DescriptorType.CONFIGURATION, 1, 9)).status).toBe('stall');
    expect((await getDescriptor(camera, 0x22 /* HID report */, 0, 9)).status).toBe('stall');
    camera.unplug();
  });

  it('configures: GET/SET_CONFIGURATION, GET/SET_INTERFACE, GET_STATUS', async () => {
    const camera = new VirtualCamera();
    expect((await standardIn(camera, 0x80, StandardRequest.GET_CONFIGURATION, 0, 0, 1)).data).toEqual(Uint8Array.of(0));
    // Interfaces and endpoints do not exist before SET_CONFIGURATION.
    expect((await standardIn(camera, 0x81, StandardRequest.GET_INTERFACE, 0, VS, 1)).status).toBe('stall');
    expect((await setInterface(camera, VS, 1)).status).toBe('stall');
    expect((await classGet(camera, UvcRequest.GET_CUR, VS, 0, VsControl.PROBE, 34)).status).toBe('stall');
    const { buffer, iso } = isoSlots(8, 3072);
    expect((await camera.transfer({ endpoint: VIDEO_EP, buffer, iso })).status).toBe('error');

    expect((await standardOut(camera, 0x00, StandardRequest.SET_CONFIGURATION, 2, 0)).status).toBe('stall');
    expect((await standardOut(camera, 0x00, StandardRequest.SET_CONFIGURATION, 1, 0)).status).toBe('ok');
    expect((await standardIn(camera, 0x80, StandardRequest.GET_CONFIGURATION, 0, 0, 1)).data).toEqual(Uint8Array.of(1));
    expect((await standardIn(camera, 0x81, StandardRequest.GET_INTERFACE, 0, VS, 1)).data).toEqual(Uint8Array.of(0));
    expect((await setInterface(camera, VS, 6)).status).toBe('ok');
    expect((await standardIn(camera, 0x81, StandardRequest.GET_INTERFACE, 0, VS, 1)).data).toEqual(Uint8Array.of(6));
    expect((await setInterface(camera, VS, 7)).status).toBe('stall'); // six alt settings beyond 0
    expect((await setInterface(camera, VC, 1)).status).toBe('stall');
    expect((await setInterface(camera, 5, 0)).status).toBe('stall');
    expect((await setInterface(camera, VS, 0)).status).toBe('ok');

    expect((await standardIn(camera, 0x80, StandardRequest.GET_STATUS, 0, 0, 2)).data).toEqual(Uint8Array.of(0, 0));
    expect((await standardIn(camera, 0x81, StandardRequest.GET_STATUS, 0, VC, 2)).data).toEqual(Uint8Array.of(0, 0));
    expect((await standardIn(camera, 0x82, StandardRequest.GET_STATUS, 0, STATUS_EP, 2)).data).toEqual(Uint8Array.of(0, 0));
    expect((await standardIn(camera, 0x82, StandardRequest.GET_STATUS, 0, 0x00, 2)).data).toEqual(Uint8Array.of(0, 0));
    // The iso endpoint exists only in alt settings 1…n.
    expect((await standardIn(camera, 0x82, StandardRequest.GET_STATUS, 0, VIDEO_EP, 2)).status).toBe('stall');
    expect((await standardIn(camera, 0x82, StandardRequest.GET_STATUS, 0, 0x83, 2)).status).toBe('stall');

    // SET_CONFIGURATION(0) returns the device to the address state.
    expect((await standardOut(camera, 0x00, StandardRequest.SET_CONFIGURATION, 0, 0)).status).toBe('ok');
    expect((await standardIn(camera, 0x81, StandardRequest.GET_INTERFACE, 0, VS, 1)).status).toBe('stall');
    camera.unplug();
  });

  it('halts and clears the status endpoint; SET/CLEAR_FEATURE(ENDPOINT_HALT) as libusb sends them', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    const pending = camera.transfer({ endpoint: STATUS_EP, buffer: new Uint8Array(16) });
    expect((await standardOut(camera, 0x02, StandardRequest.SET_FEATURE, 0, STATUS_EP)).status).toBe('ok');
    expect((await pending).status).toBe('stall');
    expect((await standardIn(camera, 0x82, StandardRequest.GET_STATUS, 0, STATUS_EP, 2)).data).toEqual(Uint8Array.of(1, 0));
    expect((await camera.transfer({ endpoint: STATUS_EP, buffer: new Uint8Array(16) })).status).toBe('stall');
    expect((await clearHalt(camera, STATUS_EP)).status).toBe('ok');
    expect((await standardIn(camera, 0x82, StandardRequest.GET_STATUS, 0, STATUS_EP, 2)).data).toEqual(Uint8Array.of(0, 0));
    camera.pressButton();
    const event = await camera.transfer({ endpoint: STATUS_EP, buffer: new Uint8Array(16) });
    expect(event.status).toBe('ok');
    // Endpoint features with the wrong selector, and device test mode / remote wakeup, are refused.
    expect((await standardOut(camera, 0x02, StandardRequest.SET_FEATURE, 1, STATUS_EP)).status).toBe('stall');
    expect((await standardOut(camera, 0x00, StandardRequest.SET_FEATURE, 1, 0)).status).toBe('stall');
    expect((await standardOut(camera, 0x00, StandardRequest.SET_FEATURE, 2, 0)).status).toBe('stall');
    camera.unplug();
  });

  it('stalls what it does not support', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    expect((await standardIn(camera, 0x82, StandardRequest.SYNCH_FRAME, 0, VIDEO_EP, 2)).status).toBe('stall');
    expect((await standardOut(camera, 0x00, StandardRequest.SET_DESCRIPTOR, 0x0100, 0)).status).toBe('stall');
    expect((await standardOut(camera, 0x00, StandardRequest.SET_ADDRESS, 200, 0)).status).toBe('stall');
    expect((await standardIn(camera, 0xc0, 0x01, 0, 0, 4)).status).toBe('stall'); // vendor request
    expect((await standardOut(camera, 0x00, 0x30 /* SET_SEL */, 0, 0)).status).toBe('stall'); // SuperSpeed only
    camera.unplug();
  });

  it('accepts the SuperSpeed requests usbcore sends: SET_ISOCH_DELAY, SET_SEL, U1/U2 enable', async () => {
    const camera = new VirtualCamera({ speed: 'super' });
    expect((await mustGetDescriptor(camera, DescriptorType.DEVICE, 0, 8))[7]).toBe(9); // 2^9 = 512
    expect((await standardOut(camera, 0x00, 0x31, 40, 0)).status).toBe('ok');
    await enumerate(camera);
    const sel = await camera.control({ bmRequestType: 0x00, bRequest: 0x30, wValue: 0, wIndex: 0, wLength: 6 }, new Uint8Array(6));
    expect(sel.status).toBe('ok');
    expect((await standardOut(camera, 0x00, StandardRequest.SET_FEATURE, 48, 0)).status).toBe('ok');
    expect((await standardOut(camera, 0x00, StandardRequest.SET_FEATURE, 49, 0)).status).toBe('ok');
    camera.unplug();
  });

  it('rejects malformed endpoint requests with EINVAL and unknown endpoints with a bus error', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    await setInterface(camera, VS, 1);
    await expect(camera.transfer({ endpoint: VIDEO_EP, buffer: new Uint8Array(100) })).rejects.toSatisfy((e: unknown) => isUvcError(e, 'EINVAL'));
    const { buffer, iso } = isoSlots(4, 128);
    await expect(camera.transfer({ endpoint: VIDEO_EP, buffer, iso: { ...iso, count: 8 } })).rejects.toSatisfy((e: unknown) => isUvcError(e, 'EINVAL'));
    expect((await camera.transfer({ endpoint: 0x83, buffer: new Uint8Array(16) })).status).toBe('error');
    expect((await camera.transfer({ endpoint: 0x01, buffer: new Uint8Array(16) })).status).toBe('error');
    camera.unplug();
  });

  it('honours an aborted signal on control and endpoint requests', async () => {
    const camera = new VirtualCamera();
    await enumerate(camera);
    const aborted = AbortSignal.abort();
    expect((await camera.control({ bmRequestType: 0x80, bRequest: 6, wValue: 0x0100, wIndex: 0, wLength: 18 }, undefined, aborted)).status).toBe('cancelled');
    const controller = new AbortController();
    const pending = camera.transfer({ endpoint: STATUS_EP, buffer: new Uint8Array(16), signal: controller.signal });
    controller.abort();
    expect((await pending).status).toBe('cancelled');
    camera.unplug();
  });
});
