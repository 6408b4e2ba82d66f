/**
 * The device side for the scripted transport: unit/terminal controls with their GET_* answers, a
 * REQUEST_ERROR_CODE that says why the last request stalled, and a pluggable VideoStreaming part (probe/commit).
 * Small on purpose: just enough of a camera to test the driver's requests, not a virtual camera.
 */
import type { ControlSetup } from '../../../src/transport/usb-transport.js';
import type { ControlHandler, ControlReply } from './scripted-transport.js';

export const REQ = { SET_CUR: 0x01, GET_CUR: 0x81, GET_MIN: 0x82, GET_MAX: 0x83, GET_RES: 0x84, GET_LEN: 0x85, GET_INFO: 0x86, GET_DEF: 0x87 } as const;
const NAMES: Record<number, string> = Object.fromEntries(Object.entries(REQ).map(([k, v]) => [v, k]));

/** Little-endian bytes of a value (two's complement for negatives). */
export function le(value: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = value < 0 ? 2 ** (8 * size) + value : value;
  for (let i = 0; i < size; i++) {
    out[i] = v % 256;
    v = Math.floor(v / 256);
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface FakeControl {
  size: number;
  /** GET_INFO; default 0x03 (get and set). */
  info?: number;
  /** GET_LEN's answer; default `size`. */
  len?: number;
  min?: Uint8Array;
  max?: Uint8Array;
  res?: Uint8Array;
  def?: Uint8Array;
  cur?: Uint8Array;
  /** Requests this control stalls (with "invalid request"), e.g. ['GET_RES']. */
  stall?: string[];
  /** Decides a SET_CUR: the request error code to stall with, or 0 to accept. Default: accept any `size` bytes. */
  validate?: (data: Uint8Array) => number;
}

export type StreamingHandler = (setup: ControlSetup, payload: { length: number } | { data: Uint8Array }, device: FakeUvcDevice) => ControlReply;

export class FakeUvcDevice {
  requestErrorCode = 0;
  readonly controls = new Map<string, FakeControl>();
  /** When set, REQUEST_ERROR_CODE itself stalls (a device that cannot say why). */
  errorCodeStalls = false;
  unplugged = false;

  constructor(
    readonly vcInterface = 0,
    private readonly streaming: StreamingHandler | null = null,
  ) {}

  control(entity: number, selector: number, spec: FakeControl): this {
    this.controls.set(`${entity}:${selector}`, spec);
    return this;
  }

  /** Stall with a reason the driver can read afterwards. */
  refuse(code: number): ControlReply {
    this.requestErrorCode = code;
    return 'stall';
  }

  readonly handle: ControlHandler = (setup, payload) => {
    const iface = setup.wIndex & 0xff;
    const entity = setup.wIndex >> 8;
    const selector = setup.wValue >> 8;
    if (iface === this.vcInterface && entity === 0) {
      if (selector === 0x02 && setup.bRequest === REQ.GET_CUR) {
        return this.errorCodeStalls ? 'stall' : Uint8Array.of(this.requestErrorCode);
      }
      return this.refuse(0x06);
    }
    if (iface !== this.vcInterface) {
      if (this.streaming === null) return this.refuse(0x07);
      return this.streaming(setup, payload, this);
    }
    const control = this.controls.get(`${entity}:${selector}`);
    if (control === undefined) return this.refuse(0x06);
    const name = NAMES[setup.bRequest] ?? '?';
    if (control.stall?.includes(name) === true) return this.refuse(0x07);
    if (setup.bRequest === REQ.SET_CUR) {
      const data = (payload as { data: Uint8Array }).data;
      const code = data.length !== control.size ? 0x07 : (control.validate?.(data) ?? 0);
      if (code !== 0) return this.refuse(code);
      control.cur = data.slice();
      this.requestErrorCode = 0;
      return 'ok';
    }
    const answer: Uint8Array | undefined = {
      [REQ.GET_INFO]: Uint8Array.of(control.info ?? 0x03),
      [REQ.GET_LEN]: le(control.len ?? control.size, 2),
      [REQ.GET_MIN]: control.min,
      [REQ.GET_MAX]: control.max,
      [REQ.GET_RES]: control.res,
      [REQ.GET_DEF]: control.def,
      [REQ.GET_CUR]: control.cur,
    }[setup.bRequest];
    if (answer === undefined) return this.refuse(0x07);
    this.requestErrorCode = 0;
    return answer;
  };
}

/** A range check on an unsigned/signed little-endian integer control: out of range → code 4. */
export function inRange(min: number, max: number, signed = false): (data: Uint8Array) => number {
  return (data) => {
    let v = 0;
    for (let i = data.length - 1; i >= 0; i--) v = v * 256 + data[i]!;
    if (signed && data[data.length - 1]! & 0x80) v -= 2 ** (8 * data.length);
    return v < min || v > max ? 0x04 : 0;
  };
}
