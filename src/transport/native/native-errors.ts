/** Native errors (plain Errors with a POSIX `code`) become UvcErrors; anything else is a bug and stays EIO. */
import { UvcError, type UvcErrorCode } from '../../errors.js';

const KNOWN_CODES: ReadonlySet<string> = new Set<UvcErrorCode>([
  'EINVAL', 'EBUSY', 'ENXIO', 'ENODEV', 'EAGAIN', 'ERANGE', 'ENOSPC', 'EIO', 'ETIMEDOUT', 'EPIPE', 'EOVERFLOW',
  'ECANCELED', 'ENOENT', 'EACCES', 'EPERM', 'ENOTSUP', 'EPROTO', 'ENOMEM', 'EALREADY', 'EBADF',
]);

export function toUvcError(error: unknown): UvcError {
  if (error instanceof UvcError) return error;
  if (error instanceof Error) {
    const { code, libusbError } = error as Error & { code?: unknown; libusbError?: unknown };
    const details = typeof libusbError === 'string' ? { libusbError } : {};
    if (typeof code === 'string' && KNOWN_CODES.has(code)) {
      return new UvcError(code as UvcErrorCode, error.message, { details });
    }
    return new UvcError('EIO', error.message, { cause: error, details });
  }
  return new UvcError('EIO', String(error));
}

/** Runs a native call, turning what it throws (or rejects with) into a UvcError. */
export async function nativeCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toUvcError(error);
  }
}

export function nativeCallSync<T>(call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toUvcError(error);
  }
}
