/**
 * UVC class-specific requests to units, terminals and interfaces, and why they failed.
 *
 * A device refuses a request by stalling the control pipe (the transport's EPIPE). The reason is then in the
 * VideoControl interface's REQUEST_ERROR_CODE control, which the specification makes report on every request to
 * the function (units, terminals and the streaming interfaces alike). We read it and turn it into a POSIX code:
 * out of range → ERANGE, not ready → EAGAIN, wrong state → EBUSY, invalid unit/control/request/value → EINVAL.
 *
 * The error code describes the device's last request, so a request and the reading of its error code must not be
 * interleaved with another request: all class requests to one transport run one after the other (the control
 * pipe is serial anyway; uvcvideo holds a mutex for the same reason).
 */
import { isUvcError, UvcError, type UvcErrorCode } from '../errors.js';
import {
  REQUEST_ERROR_TEXT,
  RequestErrorCode,
  UVC_GET_REQUEST_TYPE,
  UVC_SET_REQUEST_TYPE,
  UvcRequest,
  VcControl,
} from '../spec/uvc.js';
import type { UsbTransport } from '../transport/usb-transport.js';

export type GetRequestName = 'GET_CUR' | 'GET_MIN' | 'GET_MAX' | 'GET_RES' | 'GET_LEN' | 'GET_INFO' | 'GET_DEF';

export const GET_REQUEST: Readonly<Record<GetRequestName, number>> = {
  GET_CUR: UvcRequest.GET_CUR,
  GET_MIN: UvcRequest.GET_MIN,
  GET_MAX: UvcRequest.GET_MAX,
  GET_RES: UvcRequest.GET_RES,
  GET_LEN: UvcRequest.GET_LEN,
  GET_INFO: UvcRequest.GET_INFO,
  GET_DEF: UvcRequest.GET_DEF,
};

const REQUEST_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(UvcRequest).map(([name, code]) => [code, name]));

export function requestName(code: number): string {
  return REQUEST_NAMES.get(code) ?? `request 0x${code.toString(16).padStart(2, '0')}`;
}

/** Where a request goes. */
export interface ControlAddress {
  /** The interface that receives it: the VideoControl interface for units and terminals, a VS interface for its controls. */
  interfaceNumber: number;
  /** Unit or terminal ID; 0 for controls of the interface itself (probe/commit, request error code). */
  entityId: number;
  selector: number;
}

export interface RequestOptions {
  timeoutMs?: number;
  /** The VideoControl interface whose REQUEST_ERROR_CODE explains a stall; null or absent: do not ask. */
  errorCodeInterface?: number | null;
  /** What the request is about, for messages ('brightness', 'VS probe'). */
  label?: string;
}

export interface RequestErrorInfo {
  code: number;
  text: string;
}

/** The POSIX code a REQUEST_ERROR_CODE value stands for; null (could not be read) stays EPIPE. */
export function errorCodeForRequestError(code: number | null): UvcErrorCode {
  switch (code) {
    case RequestErrorCode.NOT_READY:
      return 'EAGAIN';
    case RequestErrorCode.WRONG_STATE:
      return 'EBUSY';
    case RequestErrorCode.POWER:
      return 'EIO';
    case RequestErrorCode.OUT_OF_RANGE:
      return 'ERANGE';
    case RequestErrorCode.INVALID_UNIT:
    case RequestErrorCode.INVALID_CONTROL:
    case RequestErrorCode.INVALID_REQUEST:
    case RequestErrorCode.INVALID_VALUE_WITHIN_RANGE:
      return 'EINVAL';
    case null:
    case RequestErrorCode.NO_ERROR:
      return 'EPIPE';
    default:
      return 'EIO';
  }
}

export function requestErrorText(code: number): string {
  return REQUEST_ERROR_TEXT[code] ?? `reserved code 0x${code.toString(16).padStart(2, '0')}`;
}

const queues = new WeakMap<UsbTransport, Promise<unknown>>();

/** Runs `work` after every earlier class request on the same transport has settled. */
function serialized<T>(transport: UsbTransport, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(transport) ?? Promise.resolve();
  const run = previous.then(work, work);
  queues.set(
    transport,
    run.catch(() => undefined),
  );
  return run;
}

function wIndex(address: ControlAddress): number {
  return ((address.entityId & 0xff) << 8) | (address.interfaceNumber & 0xff);
}

function describe(request: number, address: ControlAddress, label: string | undefined): string {
  const where = address.entityId === 0 ? `interface ${address.interfaceNumber}` : `unit ${address.entityId}`;
  const selector = `selector 0x${address.selector.toString(16).padStart(2, '0')}`;
  return `${requestName(request)} ${label === undefined ? '' : `${label} `}(${where}, ${selector})`;
}

/**
 * Reads REQUEST_ERROR_CODE of the VideoControl interface. Null when the device cannot say (it stalls this too, or
 * times out); ENODEV propagates.
 */
export async function readRequestErrorCode(transport: UsbTransport, vcInterface: number, timeoutMs?: number): Promise<number | null> {
  try {
    const data = await transport.controlTransferIn(
      { bmRequestType: UVC_GET_REQUEST_TYPE, bRequest: UvcRequest.GET_CUR, wValue: VcControl.REQUEST_ERROR_CODE << 8, wIndex: vcInterface & 0xff },
      1,
      timeoutMs,
    );
    return data.length >= 1 ? data[0]! : null;
  } catch (error) {
    if (isUvcError(error, 'ENODEV')) throw error;
    return null;
  }
}

async function explain(
  transport: UsbTransport,
  error: unknown,
  request: number,
  address: ControlAddress,
  options: RequestOptions,
): Promise<UvcError> {
  const what = describe(request, address, options.label);
  const details: Record<string, unknown> = {
    request: requestName(request),
    interfaceNumber: address.interfaceNumber,
    entityId: address.entityId,
    selector: address.selector,
  };
  if (!(error instanceof UvcError)) {
    return new UvcError('EIO', `${what} failed: ${String(error)}`, { cause: error, details });
  }
  if (error.code !== 'EPIPE' || options.errorCodeInterface === undefined || options.errorCodeInterface === null) {
    return new UvcError(error.code, `${what} failed: ${error.message}`, { cause: error, details });
  }
  const code = await readRequestErrorCode(transport, options.errorCodeInterface, options.timeoutMs);
  const requestError: RequestErrorInfo | null = code === null ? null : { code, text: requestErrorText(code) };
  details.requestError = requestError;
  const reason = requestError === null ? 'the device stalled and gives no reason' : `the device stalled: ${requestError.text} (${code})`;
  return new UvcError(errorCodeForRequestError(code), `${what} failed: ${reason}`, { cause: error, details });
}

/** A GET_* request; resolves with what the device sent (possibly fewer than `length` bytes). */
export async function getControl(
  transport: UsbTransport,
  address: ControlAddress,
  request: number,
  length: number,
  options: RequestOptions = {},
): Promise<Uint8Array> {
  return serialized(transport, async () => {
    try {
      return await transport.controlTransferIn(
        { bmRequestType: UVC_GET_REQUEST_TYPE, bRequest: request, wValue: (address.selector & 0xff) << 8, wIndex: wIndex(address) },
        length,
        options.timeoutMs,
      );
    } catch (error) {
      throw await explain(transport, error, request, address, options);
    }
  });
}

/**
 * SET_CUR. The device must take every byte: a write it acknowledges short did not set the control (uvcvideo:
 * "Failed to query (SET_CUR) UVC control ...: n (exp. m)"), so it fails with EPROTO, details.shortWrite.
 */
export async function setControl(transport: UsbTransport, address: ControlAddress, data: Uint8Array, options: RequestOptions = {}): Promise<void> {
  return serialized(transport, async () => {
    let accepted: number;
    try {
      accepted = await transport.controlTransferOut(
        { bmRequestType: UVC_SET_REQUEST_TYPE, bRequest: UvcRequest.SET_CUR, wValue: (address.selector & 0xff) << 8, wIndex: wIndex(address) },
        data,
        options.timeoutMs,
      );
    } catch (error) {
      throw await explain(transport, error, UvcRequest.SET_CUR, address, options);
    }
    if (accepted !== data.length) {
      const what = describe(UvcRequest.SET_CUR, address, options.label);
      throw new UvcError('EPROTO', `${what} failed: the device acknowledged ${accepted} of ${data.length} bytes (a short control write; the value was not set)`, {
        details: { request: 'SET_CUR', interfaceNumber: address.interfaceNumber, entityId: address.entityId, selector: address.selector, shortWrite: true, accepted, length: data.length },
      });
    }
  });
}
