/**
 * UVC class-specific requests on endpoint 0: the controls of the camera terminal, processing unit and
 * extension unit, the VideoControl interface controls (REQUEST_ERROR_CODE), and the VideoStreaming interface
 * controls (PROBE, COMMIT, STREAM_ERROR_CODE). What the device cannot do it refuses with a STALL and says why
 * in REQUEST_ERROR_CODE, which every class request but the read of that control itself updates.
 */
import type { ControlReply, SetupPacket } from '../transport/device-model.js';
import { ControlInfo, ProbeField, RequestErrorCode, UvcRequest, VcControl, VsControl } from '../spec/uvc.js';
import { RequestType as UsbRequestType } from '../spec/usb.js';
import {
  decodeControlValue,
  encodeControlValue,
  type ControlDefinition,
  type ControlModel,
} from './controls.js';
import { readU16 } from './byte-writer.js';
import type { ResolvedFaults } from './faults.js';
import type { ResolvedOptions } from './options.js';
import { decodeStreamingParams, encodeStreamingParams, type StreamingParams } from './probe-commit.js';
import type { VsPort } from './vs-port.js';

/** One video function's VideoControl side: its units, controls and REQUEST_ERROR_CODE. */
export interface FunctionTarget {
  readonly vcInterface: number;
  readonly controls: ControlModel;
  /** Every unit and terminal ID of the function. */
  readonly entityIds: ReadonlySet<number>;
  readonly outputTerminals: ReadonlySet<number>;
  readonly extensionUnits: ReadonlySet<number>;
  requestErrorCode: number;
}

/** What the request handler needs from the camera. */
export interface ClassRequestTarget {
  readonly options: ResolvedOptions;
  /** The function whose VideoControl interface this is. */
  functionAt(interfaceNumber: number): FunctionTarget | undefined;
  /** The VideoStreaming interface with this number, and the function it belongs to. */
  portAt(interfaceNumber: number): { port: VsPort; fn: FunctionTarget } | undefined;
  faults(): ResolvedFaults;
}

type Outcome = { ok: true; data?: Uint8Array; accepted?: number } | { ok: false; code: number };

const ok = (data?: Uint8Array): Outcome => (data === undefined ? { ok: true } : { ok: true, data });
const refuse = (code: number): Outcome => ({ ok: false, code });

const u16le = (v: number) => Uint8Array.from([v & 0xff, (v >> 8) & 0xff]);

export class UvcRequestHandler {
  constructor(private readonly target: ClassRequestTarget) {}

  handle(setup: SetupPacket, data: Uint8Array): ControlReply {
    const interfaceNumber = setup.wIndex & 0xff;
    const entity = (setup.wIndex >> 8) & 0xff;
    const selector = (setup.wValue >> 8) & 0xff;
    const vc = this.target.functionAt(interfaceNumber);
    // Every request to the function (its units and its streaming interfaces) sets its REQUEST_ERROR_CODE.
    // A request to no interface of ours still sets the (first) function's code: the device says why it stalled.
    const owner = vc ?? this.target.portAt(interfaceNumber)?.fn ?? this.target.functionAt(this.target.options.layout.vcInterface);
    const isErrorCodeRead = vc !== undefined && setup.bRequest === UvcRequest.GET_CUR && entity === 0 && selector === VcControl.REQUEST_ERROR_CODE;

    const outcome = this.dispatch(setup, data, interfaceNumber, entity, selector);
    if (owner !== undefined && !isErrorCodeRead) owner.requestErrorCode = outcome.ok ? RequestErrorCode.NO_ERROR : outcome.code;
    if (!outcome.ok) return { status: 'stall' };
    const isIn = (setup.bmRequestType & UsbRequestType.DIR_IN) !== 0;
    if (!isIn) return outcome.accepted === undefined ? { status: 'ok' } : { status: 'ok', accepted: outcome.accepted };
    const reply = outcome.data ?? new Uint8Array(0);
    return { status: 'ok', data: reply.length > setup.wLength ? reply.subarray(0, setup.wLength) : reply };
  }

  private dispatch(setup: SetupPacket, data: Uint8Array, interfaceNumber: number, entity: number, selector: number): Outcome {
    if ((setup.bmRequestType & 0x1f) !== UsbRequestType.RECIPIENT_INTERFACE) return refuse(RequestErrorCode.INVALID_REQUEST);
    const isIn = (setup.bmRequestType & UsbRequestType.DIR_IN) !== 0;
    // SET_CUR goes host-to-device, every GET device-to-host; anything else is not a UVC request.
    const isSet = setup.bRequest === UvcRequest.SET_CUR;
    const isGet = (setup.bRequest & 0x80) !== 0;
    if ((isSet && isIn) || (isGet && !isIn) || (!isSet && !isGet)) return refuse(RequestErrorCode.INVALID_REQUEST);

    const fn = this.target.functionAt(interfaceNumber);
    if (fn !== undefined) {
      if (entity === 0) return this.vcInterfaceControl(fn, setup.bRequest, selector);
      if (fn.outputTerminals.has(entity)) return refuse(RequestErrorCode.INVALID_CONTROL);
      if (!fn.entityIds.has(entity) && !fn.controls.hasEntity(entity)) return refuse(RequestErrorCode.INVALID_UNIT);
      const def = fn.controls.lookup(entity, selector);
      if (def === undefined) return refuse(RequestErrorCode.INVALID_CONTROL);
      return this.control(fn, def, setup.bRequest, data);
    }
    const vs = this.target.portAt(interfaceNumber);
    if (vs !== undefined) {
      if (entity !== 0) return refuse(RequestErrorCode.INVALID_UNIT);
      return this.vsInterfaceControl(vs.port, setup.bRequest, selector, data);
    }
    return refuse(RequestErrorCode.INVALID_UNIT);
  }

  private vcInterfaceControl(fn: FunctionTarget, request: number, selector: number): Outcome {
    if (selector !== VcControl.REQUEST_ERROR_CODE) return refuse(RequestErrorCode.INVALID_CONTROL);
    if (request === UvcRequest.GET_CUR) return ok(Uint8Array.of(fn.requestErrorCode));
    if (request === UvcRequest.GET_INFO) return ok(Uint8Array.of(ControlInfo.SUPPORTS_GET));
    return refuse(RequestErrorCode.INVALID_REQUEST);
  }

  private control(fn: FunctionTarget, def: ControlDefinition, request: number, data: Uint8Array): Outcome {
    const { controls } = fn;
    switch (request) {
      case UvcRequest.SET_CUR: {
        if (!def.writable) return refuse(RequestErrorCode.INVALID_REQUEST);
        if (data.length !== def.size) return refuse(RequestErrorCode.INVALID_REQUEST);
        // short-control-ack: the firmware takes one byte less than was sent, says OK, and sets nothing.
        if (this.target.options.quirks.has('short-control-ack')) return { ok: true, accepted: data.length - 1 };
        const result = controls.set(def, decodeControlValue(def, data));
        return result.ok ? ok() : refuse(result.code);
      }
      case UvcRequest.GET_CUR:
        return ok(encodeControlValue(def, controls.current(def)));
      case UvcRequest.GET_DEF:
        if (!def.requests.def) return refuse(RequestErrorCode.INVALID_REQUEST);
        return ok(encodeControlValue(def, def.def));
      case UvcRequest.GET_INFO:
        return ok(Uint8Array.of(controls.info(def)));
      case UvcRequest.GET_LEN:
        // Defined for extension unit controls only.
        if (!fn.extensionUnits.has(def.entityId)) return refuse(RequestErrorCode.INVALID_REQUEST);
        return ok(u16le(def.size));
      case UvcRequest.GET_RES:
        if (!def.requests.range && !def.requests.res) return refuse(RequestErrorCode.INVALID_REQUEST);
        return ok(encodeControlValue(def, def.res));
      case UvcRequest.GET_MIN:
      case UvcRequest.GET_MAX:
        if (!def.requests.range) return refuse(RequestErrorCode.INVALID_REQUEST);
        return ok(encodeControlValue(def, request === UvcRequest.GET_MIN ? def.min : def.max));
      default:
        return refuse(RequestErrorCode.INVALID_REQUEST);
    }
  }

  private probeReply(port: VsPort, params: StreamingParams, honest = false): Uint8Array {
    const faults = this.target.faults();
    let claimed = honest ? params : { ...params, dwMaxPayloadTransferSize: this.claimedPayloadSize(port, params) };
    if (!honest && faults.reportedMaxPayloadTransferSize !== null) claimed = { ...claimed, dwMaxPayloadTransferSize: faults.reportedMaxPayloadTransferSize };
    const length = faults.probeReplyLength ?? port.probeLength;
    return encodeStreamingParams(claimed, Math.min(length, 48));
  }

  /**
   * dwMaxPayloadTransferSize as the firmware states it (iso only; the camera still sends only what its mode needs):
   * fix-bandwidth asks the largest alt setting for uncompressed modes; oversized-payload-size asks more than any alt
   * setting has for compressed modes and sign-extends the 16-bit value for uncompressed ones.
   */
  private claimedPayloadSize(port: VsPort, params: StreamingParams): number {
    const { quirks } = this.target.options;
    const real = params.dwMaxPayloadTransferSize;
    if (port.layout.transfer !== 'iso' || real === 0) return real;
    const compressed = port.negotiator.format(params.bFormatIndex).compressed;
    const largest = port.layout.isoAlts.reduce((max, a) => Math.max(max, a.bytesPerInterval), 0);
    if (quirks.has('oversized-payload-size')) return compressed ? largest + 1024 : (0xffff0000 | real) >>> 0;
    if (quirks.has('fix-bandwidth') && !compressed) return largest;
    return real;
  }

  /** probe-def: what such firmware answers to GET_DEF(PROBE): a block naming no mode, with fields it cannot take back. */
  private bogusDefault(port: VsPort): Uint8Array {
    const p = port.negotiator.defaults();
    return encodeStreamingParams(
      {
        ...p,
        bFormatIndex: port.layout.formats.length + 1,
        bFrameIndex: 0,
        dwFrameInterval: 0,
        wKeyFrameRate: 0xffff,
        wCompWindowSize: 0xffff,
        dwMaxVideoFrameSize: 0,
        dwMaxPayloadTransferSize: 0xffffffff,
      },
      port.probeLength,
    );
  }

  /** The quirks that make a probe/commit SET_CUR fail before it is read; null when none does. */
  private refusesBlock(data: Uint8Array): number | null {
    const { quirks } = this.target.options;
    // probe-extrafields: the firmware wants the 34-byte block even though it says UVC 1.0.
    if (quirks.has('probe-extrafields') && data.length < 34) return RequestErrorCode.INVALID_REQUEST;
    // probe-def: its own GET_DEF nonsense, sent back, confuses it.
    if (quirks.has('probe-def') && data.length >= 16 && readU16(data, ProbeField.wKeyFrameRate) === 0xffff && readU16(data, ProbeField.wCompWindowSize) === 0xffff) {
      return RequestErrorCode.INVALID_VALUE_WITHIN_RANGE;
    }
    return null;
  }

  /** GET_MIN/GET_MAX(PROBE) as the firmware answers them. */
  private probeBound(port: VsPort, which: 'min' | 'max'): Outcome {
    const { quirks } = this.target.options;
    if (quirks.has('probe-minmax')) return refuse(RequestErrorCode.INVALID_REQUEST);
    const bound = port.negotiator.bound(port.probe, which);
    // minmax-comp-quality-only (Bison chipsets): wCompQuality alone.
    if (quirks.has('minmax-comp-quality-only')) return ok(u16le(bound.wCompQuality));
    return ok(this.probeReply(port, bound));
  }

  private vsInterfaceControl(t: VsPort, request: number, selector: number, data: Uint8Array): Outcome {
    const probeLength = t.probeLength;
    switch (selector) {
      case VsControl.PROBE:
        switch (request) {
          case UvcRequest.SET_CUR: {
            if (data.length < 26 || data.length > 48) return refuse(RequestErrorCode.INVALID_REQUEST);
            const refused = this.refusesBlock(data);
            if (refused !== null) return refuse(refused);
            t.probe = t.negotiator.negotiate(decodeStreamingParams(data, t.probe));
            return ok();
          }
          case UvcRequest.GET_CUR:
            return ok(this.probeReply(t, t.probe));
          case UvcRequest.GET_MIN:
            return this.probeBound(t, 'min');
          case UvcRequest.GET_MAX:
            return this.probeBound(t, 'max');
          case UvcRequest.GET_RES:
            return ok(this.probeReply(t, t.negotiator.bound(t.probe, 'res'), true));
          case UvcRequest.GET_DEF:
            return ok(this.target.options.quirks.has('probe-def') ? this.bogusDefault(t) : this.probeReply(t, t.negotiator.defaults()));
          case UvcRequest.GET_LEN:
            return ok(u16le(probeLength));
          case UvcRequest.GET_INFO:
            return ok(Uint8Array.of(ControlInfo.SUPPORTS_GET | ControlInfo.SUPPORTS_SET));
          default:
            return refuse(RequestErrorCode.INVALID_REQUEST);
        }
      case VsControl.COMMIT:
        switch (request) {
          case UvcRequest.SET_CUR: {
            if (data.length < 26 || data.length > 48) return refuse(RequestErrorCode.INVALID_REQUEST);
            const refused = this.refusesBlock(data);
            if (refused !== null) return refuse(refused);
            // The committed format cannot change under a running isochronous stream.
            if (t.isoStreaming) return refuse(RequestErrorCode.WRONG_STATE);
            const params = t.negotiator.negotiate(decodeStreamingParams(data, t.commit));
            t.commit = params;
            t.committed();
            return ok();
          }
          case UvcRequest.GET_CUR:
            return ok(this.probeReply(t, t.commit));
          case UvcRequest.GET_LEN:
            return ok(u16le(probeLength));
          case UvcRequest.GET_INFO:
            return ok(Uint8Array.of(ControlInfo.SUPPORTS_GET | ControlInfo.SUPPORTS_SET));
          default:
            return refuse(RequestErrorCode.INVALID_REQUEST);
        }
      case VsControl.STREAM_ERROR_CODE:
        if (request === UvcRequest.GET_CUR) {
          // Like a status register, the code is cleared once read.
          const code = t.streamErrorCode;
          t.streamErrorCode = 0;
          return ok(Uint8Array.of(code));
        }
        if (request === UvcRequest.GET_INFO) return ok(Uint8Array.of(ControlInfo.SUPPORTS_GET));
        return refuse(RequestErrorCode.INVALID_REQUEST);
      default:
        return refuse(RequestErrorCode.INVALID_CONTROL);
    }
  }
}
