/**
 * The one error type of the driver. Like Node's system errors it carries a POSIX `code` string, so callers
 * branch on `err.code` ('ENXIO', 'EAGAIN', …) and never on message text. The message says what happened, without
 * the code (it is in `code`; programs that print both would say it twice).
 */

export type UvcErrorCode =
  | 'EINVAL' // bad argument, wrong call order, malformed data
  | 'EBUSY' // resource owned by someone else, or busy streaming
  | 'ENXIO' // the device went away under a queue (vb2's answer after disconnect)
  | 'ENODEV' // the device is gone: control and transport calls
  | 'EAGAIN' // non-blocking call with nothing ready
  | 'ERANGE' // value outside the control's range
  | 'ENOSPC' // not enough USB bandwidth for the mode
  | 'EIO' // transfer or device error
  | 'ETIMEDOUT'
  | 'EPIPE' // endpoint STALL
  | 'EOVERFLOW' // device sent more than asked for
  | 'ECANCELED'
  | 'ENOENT' // no such device, control, format
  | 'EACCES' // permission denied opening the device
  | 'EPERM'
  | 'ENOTSUP' // the device or platform does not do this
  | 'EPROTO' // the device broke the protocol
  | 'ENOMEM'
  | 'ENOBUFS' // the host fell behind: no transfer buffer was left to receive into (bus time lost)
  | 'EALREADY'
  | 'EBADF'; // use of a closed handle

export class UvcError extends Error {
  override readonly name = 'UvcError';
  readonly code: UvcErrorCode;
  /** Extra facts for programs: offsets, the device's request error code, the buffer of a failed fence, … */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: UvcErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

export function uvcError(code: UvcErrorCode, message: string, details?: Record<string, unknown>): UvcError {
  return new UvcError(code, message, details === undefined ? {} : { details });
}

export function isUvcError(value: unknown, code?: UvcErrorCode): value is UvcError {
  return value instanceof UvcError && (code === undefined || value.code === code);
}
