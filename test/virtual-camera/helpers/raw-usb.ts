/**
 * A bare-hands USB host for the virtual camera's tests: SETUP packets and endpoint requests built by hand, no
 * driver code. Deliberately small and independent of src/uvc and src/stream, so the tests judge the camera
 * against the UVC rules, not against our own parser.
 */
import type { ControlReply, EndpointReply, IsoPacketSlots, UsbDeviceModel } from '../../../src/transport/device-model.js';
import { DescriptorType, StandardRequest } from '../../../src/spec/usb.js';
import { UvcRequest, VcControl, VsControl } from '../../../src/spec/uvc.js';

export const VC = 0;
export const VS = 1;
export const VIDEO_EP = 0x81;
export const STATUS_EP = 0x82;

export async function getDescriptor(dev: UsbDeviceModel, type: number, index: number, length: number, langId = 0): Promise<ControlReply> {
  return dev.control(
    { bmRequestType: 0x80, bRequest: StandardRequest.GET_DESCRIPTOR, wValue: (type << 8) | index, wIndex: langId, wLength: length },
    undefined,
  );
}

export async function mustGetDescriptor(dev: UsbDeviceModel, type: number, index: number, length: number): Promise<Uint8Array> {
  const r = await getDescriptor(dev, type, index, length);
  if (r.status !== 'ok' || !r.data) throw new Error(`GET_DESCRIPTOR(${type}, ${index}) → ${r.status}`);
  return r.data;
}

export async function standardOut(dev: UsbDeviceModel, bmRequestType: number, bRequest: number, wValue: number, wIndex: number): Promise<ControlReply> {
  return dev.control({ bmRequestType, bRequest, wValue, wIndex, wLength: 0 }, new Uint8Array(0));
}

/** What usbcore does: device descriptor (8, then 18), address, config (9, then all), strings, configure. */
export async function enumerate(dev: UsbDeviceModel): Promise<{ device: Uint8Array; config: Uint8Array }> {
  await mustGetDescriptor(dev, DescriptorType.DEVICE, 0, 64);
  const ok = await standardOut(dev, 0x00, StandardRequest.SET_ADDRESS, 7, 0);
  if (ok.status !== 'ok') throw new Error('SET_ADDRESS failed');
  const device = await mustGetDescriptor(dev, DescriptorType.DEVICE, 0, 18);
  const head = await mustGetDescriptor(dev, DescriptorType.CONFIGURATION, 0, 9);
  const total = head[2]! | (head[3]! << 8);
  const config = await mustGetDescriptor(dev, DescriptorType.CONFIGURATION, 0, total);
  const set = await standardOut(dev, 0x00, StandardRequest.SET_CONFIGURATION, 1, 0);
  if (set.status !== 'ok') throw new Error('SET_CONFIGURATION failed');
  return { device, config };
}

export async function setInterface(dev: UsbDeviceModel, intf: number, alt: number): Promise<ControlReply> {
  return standardOut(dev, 0x01, StandardRequest.SET_INTERFACE, alt, intf);
}

export async function clearHalt(dev: UsbDeviceModel, ep: number): Promise<ControlReply> {
  return standardOut(dev, 0x02, StandardRequest.CLEAR_FEATURE, 0, ep);
}

export async function classGet(dev: UsbDeviceModel, request: number, intf: number, entity: number, selector: number, length: number): Promise<ControlReply> {
  return dev.control(
    { bmRequestType: 0xa1, bRequest: request, wValue: selector << 8, wIndex: (entity << 8) | intf, wLength: length },
    undefined,
  );
}

export async function classSet(dev: UsbDeviceModel, intf: number, entity: number, selector: number, data: Uint8Array): Promise<ControlReply> {
  return dev.control(
    { bmRequestType: 0x21, bRequest: UvcRequest.SET_CUR, wValue: selector << 8, wIndex: (entity << 8) | intf, wLength: data.length },
    data,
  );
}

export async function requestErrorCode(dev: UsbDeviceModel): Promise<number> {
  const r = await classGet(dev, UvcRequest.GET_CUR, VC, 0, VcControl.REQUEST_ERROR_CODE, 1);
  if (r.status !== 'ok' || !r.data || r.data.length !== 1) throw new Error('REQUEST_ERROR_CODE unreadable');
  return r.data[0]!;
}

export interface Probe {
  bmHint: number;
  bFormatIndex: number;
  bFrameIndex: number;
  dwFrameInterval: number;
  wCompQuality: number;
  dwMaxVideoFrameSize: number;
  dwMaxPayloadTransferSize: number;
  dwClockFrequency: number;
  bmFramingInfo: number;
  length: number;
}

export function parseProbe(data: Uint8Array): Probe {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    bmHint: v.getUint16(0, true),
    bFormatIndex: data[2]!,
    bFrameIndex: data[3]!,
    dwFrameInterval: v.getUint32(4, true),
    wCompQuality: v.getUint16(12, true),
    dwMaxVideoFrameSize: v.getUint32(18, true),
    dwMaxPayloadTransferSize: v.getUint32(22, true),
    dwClockFrequency: data.length >= 30 ? v.getUint32(26, true) : 0,
    bmFramingInfo: data.length >= 31 ? data[30]! : 0,
    length: data.length,
  };
}

export function buildProbe(length: number, fields: { bFormatIndex: number; bFrameIndex: number; dwFrameInterval: number; wCompQuality?: number; bmHint?: number }): Uint8Array {
  const data = new Uint8Array(length);
  const v = new DataView(data.buffer);
  v.setUint16(0, fields.bmHint ?? 1, true);
  data[2] = fields.bFormatIndex;
  data[3] = fields.bFrameIndex;
  v.setUint32(4, fields.dwFrameInterval, true);
  v.setUint16(12, fields.wCompQuality ?? 0, true);
  return data;
}

export async function probeGet(dev: UsbDeviceModel, request: number, length: number, selector: number = VsControl.PROBE): Promise<Probe> {
  const r = await classGet(dev, request, VS, 0, selector, length);
  if (r.status !== 'ok' || !r.data) throw new Error(`probe GET 0x${request.toString(16)} → ${r.status}`);
  return parseProbe(r.data);
}

/** SET_CUR(PROBE) → GET_CUR(PROBE) → SET_CUR(COMMIT) with the counter-offer, as a host does. */
export async function negotiate(
  dev: UsbDeviceModel,
  length: number,
  wanted: { bFormatIndex: number; bFrameIndex: number; dwFrameInterval: number; wCompQuality?: number },
): Promise<Probe> {
  const set = await classSet(dev, VS, 0, VsControl.PROBE, buildProbe(length, wanted));
  if (set.status !== 'ok') throw new Error('SET_CUR(PROBE) stalled');
  const cur = await classGet(dev, UvcRequest.GET_CUR, VS, 0, VsControl.PROBE, length);
  if (cur.status !== 'ok' || !cur.data) throw new Error('GET_CUR(PROBE) failed');
  const commit = await classSet(dev, VS, 0, VsControl.COMMIT, cur.data);
  if (commit.status !== 'ok') throw new Error('SET_CUR(COMMIT) stalled');
  return parseProbe(cur.data);
}

export function isoSlots(count: number, packetSize: number): { buffer: Uint8Array; iso: IsoPacketSlots } {
  const offsets = new Int32Array(count);
  const lengths = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    offsets[i] = i * packetSize;
    lengths[i] = packetSize;
  }
  return {
    buffer: new Uint8Array(count * packetSize),
    iso: { count, offsets, lengths, actual: new Int32Array(count), status: new Int32Array(count) },
  };
}

export interface IsoPacket {
  status: number;
  data: Uint8Array;
  /** Bus frame number of the request this packet belongs to, and its index in it. */
  startFrame: number;
  index: number;
}

/**
 * Keeps `inFlight` iso requests queued on the video endpoint, as a host does, and hands every packet to
 * `onPacket` in order until it returns false (or a request fails).
 */
export async function readIso(
  dev: UsbDeviceModel,
  packetSize: number,
  packetsPerRequest: number,
  inFlight: number,
  onPacket: (p: IsoPacket) => boolean,
): Promise<EndpointReply['status']> {
  let stop = false;
  let status: EndpointReply['status'] = 'ok';
  const submit = () => {
    const { buffer, iso } = isoSlots(packetsPerRequest, packetSize);
    return dev.transfer({ endpoint: VIDEO_EP, buffer, iso }).then((reply) => ({ reply, buffer, iso }));
  };
  const queue = Array.from({ length: inFlight }, submit);
  while (!stop) {
    const { reply, buffer, iso } = await queue.shift()!;
    if (reply.status !== 'ok') {
      status = reply.status;
      break;
    }
    for (let i = 0; i < iso.count && !stop; i++) {
      const data = buffer.subarray(iso.offsets[i]!, iso.offsets[i]! + iso.actual[i]!);
      if (!onPacket({ status: iso.status[i]!, data, startFrame: reply.startFrame, index: i })) stop = true;
    }
    if (!stop) queue.push(submit());
  }
  // Let the requests still queued finish (they are few); a host would cancel them.
  await Promise.allSettled(queue);
  return status;
}

export interface Frame {
  fid: number;
  data: Uint8Array;
  eof: boolean;
  err: boolean;
  pts: number | null;
  headers: Uint8Array[];
}

/** A minimal payload-to-frame assembler following uvc-facts.md: FID change starts a frame, EOF ends one. */
export class FrameCollector {
  frames: Frame[] = [];
  invalidHeaders = 0;
  private parts: Uint8Array[] = [];
  private headers: Uint8Array[] = [];
  private fid: number | null = null;
  private err = false;
  private pts: number | null = null;

  payload(p: Uint8Array): void {
    if (p.length === 0) return; // an empty iso packet: nothing was sent
    const hlen = p[0]!;
    const flags = p[1] ?? 0;
    if (p.length < 2 || hlen < 2 || hlen > p.length || (flags & 0x80) === 0) {
      this.invalidHeaders++;
      return;
    }
    const fid = flags & 1;
    const body = p.subarray(hlen);
    if (this.parts.length > 0 && fid !== this.fid) this.close(false);
    this.fid = fid;
    if (body.length > 0) {
      this.parts.push(body.slice());
      this.headers.push(p.slice(0, hlen));
      if (flags & 0x40) this.err = true;
      if (flags & 0x04) this.pts = new DataView(p.buffer, p.byteOffset + 2, 4).getUint32(0, true);
    }
    if (flags & 0x02 && this.parts.length > 0) this.close(true);
  }

  private close(eof: boolean): void {
    const size = this.parts.reduce((n, part) => n + part.length, 0);
    const data = new Uint8Array(size);
    let o = 0;
    for (const part of this.parts) {
      data.set(part, o);
      o += part.length;
    }
    this.frames.push({ fid: this.fid ?? 0, data, eof, err: this.err, pts: this.pts, headers: this.headers });
    this.parts = [];
    this.headers = [];
    this.err = false;
    this.pts = null;
  }
}

export interface BulkTransfer {
  status: EndpointReply['status'];
  data: Uint8Array;
  /** The length the host asked for. */
  requested: number;
}

/** Keeps `inFlight` bulk IN transfers queued on `endpoint` and hands each completion to `onTransfer` in order. */
export async function readBulk(
  dev: UsbDeviceModel,
  transferSize: number,
  inFlight: number,
  onTransfer: (t: BulkTransfer) => boolean,
  endpoint = VIDEO_EP,
): Promise<EndpointReply['status']> {
  const controller = new AbortController();
  const submit = () => {
    const buffer = new Uint8Array(transferSize);
    return dev.transfer({ endpoint, buffer, signal: controller.signal }).then((reply) => ({ reply, buffer }));
  };
  const queue = Array.from({ length: inFlight }, submit);
  let status: EndpointReply['status'] = 'ok';
  for (;;) {
    const { reply, buffer } = await queue.shift()!;
    if (reply.status !== 'ok') {
      status = reply.status;
      break;
    }
    if (!onTransfer({ status: reply.status, data: buffer.subarray(0, reply.actualLength), requested: transferSize })) break;
    queue.push(submit());
  }
  controller.abort();
  await Promise.allSettled(queue);
  return status;
}

/**
 * Reassembles bulk payloads the way uvcvideo does: a payload ends with a short transfer (a short packet or a
 * zero-length packet) or when it reaches dwMaxPayloadTransferSize.
 */
export class BulkPayloadSplitter {
  private parts: Uint8Array[] = [];
  private size = 0;
  payloads = 0;

  constructor(
    private readonly maxPayload: number,
    private readonly onPayload: (payload: Uint8Array) => void,
  ) {}

  transfer(t: BulkTransfer): void {
    let data = t.data;
    // A transfer may carry the end of one payload and the start of the next (full-size payloads end on
    // a packet boundary without a short packet): cut at dwMaxPayloadTransferSize.
    while (this.size + data.length >= this.maxPayload) {
      const take = this.maxPayload - this.size;
      this.parts.push(data.slice(0, take));
      this.size += take;
      this.flush();
      data = data.subarray(take);
    }
    if (data.length > 0) {
      this.parts.push(data.slice());
      this.size += data.length;
    }
    // A short transfer ends the payload (a lone zero-length packet after a full-size payload ends nothing).
    if (t.data.length < t.requested && this.size > 0) this.flush();
  }

  private flush(): void {
    const payload = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      payload.set(p, o);
      o += p.length;
    }
    this.parts = [];
    this.size = 0;
    this.payloads++;
    this.onPayload(payload);
  }
}
