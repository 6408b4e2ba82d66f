/**
 * UVC class-specific requests on endpoint 0: the controls of the camera terminal, processing unit and
 * extension unit, the VideoControl interface controls (REQUEST_ERROR_CODE), and the VideoStreaming interface
 * controls (PROBE, COMMIT, STREAM_ERROR_CODE). What the device cannot do it refuses with a STALL and says why
 * in REQUEST_ERROR_CODE, which every class request but the read of that control itself updates.
 */
import type { ControlReply, SetupPacket } from '../transport/device-model.js';
import { ControlInfo, RequestErrorCode, UvcRequest, VcControl, VsControl } from '../spec/uvc.js';
import { RequestType as UsbRequestType } from '../spec/usb.js';
import {
  decodeControlValue,
  encodeControlValue,
  type ControlDefinition,
  type ControlModel,
} from './controls.js';
import { OUTPUT_TERMINAL_ID } from './entities.js';
import type { ResolvedFaults } from './faults.js';
import type { ResolvedOptions } from './options.js';
import {
  decodeStreamingParams,
  encodeStreamingParams,
  type ProbeNegotiator,
  type StreamingParams,
} from './probe-commit.js';

/** What the request handler needs from the camera. */
export interface ClassRequestTarget {
  readonly options: ResolvedOptions;
  readonly controls: ControlModel;
  readonly negotiator: ProbeNegotiator;
  probe: StreamingParams;
  commit: StreamingParams;
  requestErrorCode: number;
  streamErrorCode: number;
  /** An iso alternate setting other than 0 is selected: the commit state is locked. */
  readonly isoStreaming: boolean;
  faults(): ResolvedFaults;
  /** SET_CUR(COMMIT) was accepted. */
  committed(params: StreamingParams): void;
}

type Outcome = { ok: true; data?: Uint8Array } | { ok: false; code: number };

const ok = (data?: Uint8Array): Outcome => (data === undefined ? { ok: true } : { ok: true, data });
const refuse = (code: number): Outcome => ({ ok: false, code });

const u16le = (v: number) => Uint8Array.from([v & 0xff, (v >> 8) & 0xff]);

export class UvcRequestHandler {
  constructor(private readonly target: ClassRequestTarget) {}

  handle(setup: SetupPacket, data: Uint8Array): ControlReply {
    const interfaceNumber = setup.wIndex & 0xff;
    const entity = (setup.wIndex >> 8) & 0xff;
    const selector = (setup.wValue >> 8) & 0xff;
    const isErrorCodeRead =
      setup.bRequest === UvcRequest.GET_CUR &&
      interfaceNumber === this.target.options.layout.vcInterface &&
      entity === 0 &&
      selector === VcControl.REQUEST_ERROR_CODE;

    const outcome = this.dispatch(setup, data, interfaceNumber, entity, selector);
    if (!isErrorCodeRead) this.target.requestErrorCode = outcome.ok ? RequestErrorCode.NO_ERROR : outcome.code;
    if (!outcome.ok) return { status: 'stall' };
    const isIn = (setup.bmRequestType & UsbRequestType.DIR_IN) !== 0;
    if (!isIn) return { status: 'ok' };
    const reply = outcome.data ?? new Uint8Array(0);
    return { status: 'ok', data: reply.length > setup.wLength ? reply.subarray(0, setup.wLength) : reply };
  }

  private dispatch(setup: SetupPacket, data: Uint8Array, interfaceNumber: number, entity: number, selector: number): Outcome {
    const { layout } = this.target.options;
    if ((setup.bmRequestType & 0x1f) !== UsbRequestType.RECIPIENT_INTERFACE) return refuse(RequestErrorCode.INVALID_REQUEST);
    const isIn = (setup.bmRequestType & UsbRequestType.DIR_IN) !== 0;
    // SET_CUR goes host-to-device, every GET device-to-host; anything else is not a UVC request.
    const isSet = setup.bRequest === UvcRequest.SET_CUR;
    const isGet = (setup.bRequest & 0x80) !== 0;
    if ((isSet && isIn) || (isGet && !isIn) || (!isSet && !isGet)) return refuse(RequestErrorCode.INVALID_REQUEST);

    if (interfaceNumber === layout.vcInterface) {
      if (entity === 0) return this.vcInterfaceControl(setup.bRequest, selector);
      if (entity === OUTPUT_TERMINAL_ID) return refuse(RequestErrorCode.INVALID_CONTROL);
      if (!this.target.controls.hasEntity(entity)) return refuse(RequestErrorCode.INVALID_UNIT);
      const def = this.target.controls.lookup(entity, selector);
      if (def === undefined) return refuse(RequestErrorCode.INVALID_CONTROL);
      return this.control(def, setup.bRequest, data);
    }
    if (interfaceNumber === layout.vsInterface) {
      if (entity !== 0) return refuse(RequestErrorCode.INVALID_UNIT);
      return this.vsInterfaceControl(setup.bRequest, selector, data);
    }
    return refuse(RequestErrorCode.INVALID_UNIT);
  }

  private vcInterfaceControl(request: number, selector: number): Outcome {
    if (selector !== VcControl.REQUEST_ERROR_CODE) return refuse(RequestErrorCode.INVALID_CONTROL);
    if (request === UvcRequest.GET_CUR) return ok(Uint8Array.of(this.target.requestErrorCode));
    if (request === UvcRequest.GET_INFO) return ok(Uint8Array.of(ControlInfo.SUPPORTS_GET));
    return refuse(RequestErrorCode.INVALID_REQUEST);
  }

  private control(def: ControlDefinition, request: number, data: Uint8Array): Outcome {
    const { controls } = this.target;
    switch (request) {
      case UvcRequest.SET_CUR: {
        if (!def.writable) return refuse(RequestErrorCode.INVALID_REQUEST);
        if (data.length !== def.size) return refuse(RequestErrorCode.INVALID_REQUEST);
        const result = controls.set(def, decodeControlValue(def, data));
        return result.ok ? ok() : refuse(result.code);
      }
      case UvcRequest.GET_CUR:
        return ok(encodeControlValue(def, controls.current(def)));
      case UvcRequest.GET_DEF:
        return ok(encodeControlValue(def, def.def));
      case UvcRequest.GET_INFO:
        return ok(Uint8Array.of(controls.info(def)));
      case UvcRequest.GET_LEN:
        return ok(u16le(def.size));
      case UvcRequest.GET_RES:
        if (def.kind === 'boolean') return refuse(RequestErrorCode.INVALID_REQUEST);
        return ok(encodeControlValue(def, def.res));
      case UvcRequest.GET_MIN:
      case UvcRequest.GET_MAX:
        if (!def.ranged) return refuse(RequestErrorCode.INVALID_REQUEST);
        return ok(encodeControlValue(def, request === UvcRequest.GET_MIN ? def.min : def.max));
      default:
        return refuse(RequestErrorCode.INVALID_REQUEST);
    }
  }

  private probeReply(params: StreamingParams, honest = false): Uint8Array {
    const faults = this.target.faults();
    const claimed =
      !honest && faults.reportedMaxPayloadTransferSize !== null
        ? { ...params, dwMaxPayloadTransferSize: faults.reportedMaxPayloadTransferSize }
        : params;
    const length = faults.probeReplyLength ?? this.target.options.probeLength;
    return encodeStreamingParams(claimed, Math.min(length, 48));
  }

  private vsInterfaceControl(request: number, selector: number, data: Uint8Array): Outcome {
    const t = this.target;
    const probeLength = t.options.probeLength;
    switch (selector) {
      case VsControl.PROBE:
        switch (request) {
          case UvcRequest.SET_CUR:
            if (data.length < 26 || data.length > 48) return refuse(RequestErrorCode.INVALID_REQUEST);
            t.probe = t.negotiator.negotiate(decodeStreamingParams(data, t.probe));
            return ok();
          case UvcRequest.GET_CUR:
            return ok(this.probeReply(t.probe));
          case UvcRequest.GET_MIN:
            return ok(this.probeReply(t.negotiator.bound(t.probe, 'min')));
          case UvcRequest.GET_MAX:
            return ok(this.probeReply(t.negotiator.bound(t.probe, 'max')));
          case UvcRequest.GET_RES:
            return ok(this.probeReply(t.negotiator.bound(t.probe, 'res'), true));
          case UvcRequest.GET_DEF:
            return ok(this.probeReply(t.negotiator.defaults()));
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
            // The committed format cannot change under a running isochronous stream.
            if (t.isoStreaming) return refuse(RequestErrorCode.WRONG_STATE);
            const params = t.negotiator.negotiate(decodeStreamingParams(data, t.commit));
            t.commit = params;
            t.committed(params);
            return ok();
          }
          case UvcRequest.GET_CUR:
            return ok(this.probeReply(t.commit));
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
