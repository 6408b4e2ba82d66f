/**
 * The exit codes of `uvc-capture`, one meaning each, so scripts and CI rigs can branch on them. Documented in the
 * README and in `uvc-capture --help`.
 */
import { isUvcError } from '../errors.js';

export const ExitCode = {
  /** Everything asked for was done (and, for `check`, every check passed). */
  OK: 0,
  /** An unexpected failure: a bug, or a file that could not be written. */
  FAILURE: 1,
  /** Bad command line: unknown flag, bad value, a mode or control the camera does not have. */
  USAGE: 2,
  /** No camera: none attached, or none matching the one named. */
  NO_CAMERA: 3,
  /** A camera is there but cannot be opened: permissions (udev rule), another program has it. */
  NO_ACCESS: 4,
  /** The camera failed or went away (unplugged) while in use. Complete frames written before are kept. */
  DEVICE: 5,
  /** `check` ran and at least one check failed. */
  CHECK_FAILED: 6,
  /** Stopped by Ctrl-C (SIGINT) before the frames or seconds asked for; what was captured is kept. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODE_HELP = `Exit codes:
  0    success (check: every check passed)
  1    unexpected failure (a bug, or an output that could not be written)
  2    usage error: bad flag or value, or a format, size or control the camera does not have
  3    no camera attached, or none matching the one named
  4    the camera cannot be opened (permissions: see \`uvc-capture list\` for the udev rule; busy)
  5    device error: the camera failed or was unplugged (complete frames are kept)
  6    check: at least one check failed
  130  interrupted by Ctrl-C before the requested frames/seconds (what was captured is kept)`;

/** The POSIX code a failure is reported with when nothing more precise is known, by exit code. */
const CODE_OF_EXIT: Record<ExitCodeValue, string> = {
  [ExitCode.OK]: 'EINVAL',
  [ExitCode.FAILURE]: 'EIO',
  [ExitCode.USAGE]: 'EINVAL',
  [ExitCode.NO_CAMERA]: 'ENOENT',
  [ExitCode.NO_ACCESS]: 'EACCES',
  [ExitCode.DEVICE]: 'EIO',
  [ExitCode.CHECK_FAILED]: 'EIO',
  [ExitCode.INTERRUPTED]: 'EINTR',
};

/**
 * An error the CLI reports as one message (plus an optional hint) and an exit code, without a stack trace. `code`
 * is the POSIX code `--json` reports: given, else the cause's (a UvcError's or a system error's), else by exit code.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: string;
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    readonly hint?: string,
    options?: { cause?: unknown; code?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    const causeCode = (options?.cause as { code?: unknown } | undefined)?.code;
    this.code = options?.code ?? (typeof causeCode === 'string' && /^E[A-Z]+$/.test(causeCode) ? causeCode : CODE_OF_EXIT[exitCode]);
  }
}

/** The POSIX code of any error, for `--json`: a CliError's, a UvcError's, a system error's; EIO otherwise. */
export function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof CliError) return error.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  if (typeof code === 'string' && code.startsWith('commander.')) return 'EINVAL';
  return 'EIO';
}

/** The exit code for an error that no command stage classified: by its POSIX code where it has one. */
export function exitCodeFor(error: unknown): ExitCodeValue {
  if (error instanceof CliError) return error.exitCode;
  if (!isUvcError(error)) return ExitCode.FAILURE;
  switch (error.code) {
    case 'EINVAL':
    case 'ERANGE':
      return ExitCode.USAGE;
    case 'ENOENT':
      return ExitCode.NO_CAMERA;
    case 'EACCES':
    case 'EPERM':
    case 'EBUSY':
      return ExitCode.NO_ACCESS;
    case 'ENODEV':
    case 'ENXIO':
    case 'EIO':
    case 'EPIPE':
    case 'ETIMEDOUT':
    case 'EPROTO':
    case 'EOVERFLOW':
    case 'ENOSPC':
    case 'ECANCELED':
      return ExitCode.DEVICE;
    default:
      return ExitCode.FAILURE;
  }
}
