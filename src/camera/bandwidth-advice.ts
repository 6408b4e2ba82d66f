/**
 * When streamon finds the bus full (SET_INTERFACE fails ENOSPC because other streams hold the periodic
 * bandwidth), the error says who holds it and names a mode of this camera that would fit now. The mode is found
 * by asking the camera: the nearest modes are probed (nothing is committed) until one lands on an alt setting
 * the bus can still carry, so the advice is what streaming would then really select.
 *
 * The in-process host's VirtualBus says which alt settings of the interface would fit (details.fittingAltSettings)
 * and who holds the rest (details.holdings). A real host controller says neither: then only smaller alt settings
 * than the refused one are candidates, and the advice says the controller did not tell how much is free.
 */
import { isUvcError, UvcError } from '../errors.js';
import type { UsbTransport } from '../transport/usb-transport.js';
import { modeRefOf, modesNearest, type ModeRef } from '../uvc/bandwidth-plan.js';
import { probe, type StreamParameters, type UvcFunction, type VideoStreamingInterface } from '../uvc/index.js';

/** Probing stops after this many modes: advice must not keep a failing streamon waiting for long. */
const MAX_PROBES = 24;

export interface FittingMode extends ModeRef {
  altSetting: number;
  bytesPerInterval: number;
}

interface AdviceContext {
  transport: UsbTransport;
  fn: UvcFunction;
  vs: VideoStreamingInterface;
  /** The refused stream. */
  params: StreamParameters;
  timeoutMs: number;
}

function describe(mode: ModeRef): string {
  return `${mode.fourcc ?? `format ${mode.formatIndex}`} ${mode.width}x${mode.height} at ${Math.round(mode.fps * 100) / 100} fps`;
}

/** The nearest mode of the interface whose alt setting is one of `fitting`, by probing; null when none is. */
export async function findFittingMode(context: AdviceContext, wanted: ModeRef, fitting: ReadonlySet<number>): Promise<FittingMode | null> {
  const { transport, fn, vs, timeoutMs } = context;
  let probes = 0;
  for (const candidate of modesNearest(vs, wanted)) {
    if (probes++ >= MAX_PROBES) break;
    const format = vs.formats.find((f) => f.index === candidate.formatIndex)!;
    const frame = format.frames.find((f) => f.index === candidate.frameIndex)!;
    try {
      const params = await probe(transport, fn, { streaming: vs, format, frame, interval: candidate.interval, fps: candidate.fps, exact: true }, { timeoutMs });
      if (fitting.has(params.altSetting)) {
        return { ...modeRefOf(format, frame, params.interval), altSetting: params.altSetting, bytesPerInterval: params.bytesPerInterval };
      }
    } catch (error) {
      // A mode no alt setting carries is simply not a candidate; a camera that went away ends the search.
      if (isUvcError(error, 'ENOSPC')) continue;
      if (isUvcError(error, 'ENODEV') || isUvcError(error, 'EBADF')) return null;
    }
  }
  return null;
}

/** The ENOSPC of a SET_INTERFACE, explained: who holds the bandwidth and a mode that fits. Other errors pass. */
export async function adviseNoBandwidth(error: unknown, context: AdviceContext): Promise<unknown> {
  if (!isUvcError(error, 'ENOSPC') || context.transport.isDisconnected) return error;
  const { vs, params } = context;
  const format = vs.formats.find((f) => f.index === params.format.index);
  const frame = format?.frames.find((f) => f.index === params.frame.index);
  if (format === undefined || frame === undefined) return error;
  const wanted = modeRefOf(format, frame, params.interval);
  const reported = error.details.fittingAltSettings;
  const known = Array.isArray(reported);
  const fitting = new Set<number>(
    known
      ? (reported as number[]).filter((alt) => alt !== 0)
      : vs.altSettings.filter((a) => a.bytesPerInterval > 0 && a.bytesPerInterval < params.bytesPerInterval).map((a) => a.alternateSetting),
  );
  const suggestion = fitting.size > 0 ? await findFittingMode(context, wanted, fitting) : null;
  const reason = error.message;
  const advice =
    suggestion !== null
      ? `${describe(suggestion)} would fit${known ? '' : ' if the controller has room for a smaller alt setting (it does not say how much is free)'} (alt setting ${suggestion.altSetting})`
      : known
        ? 'no mode of this camera fits until another stream stops'
        : 'no smaller mode of this camera was found';
  return new UvcError('ENOSPC', `${describe(wanted)} cannot stream now: ${reason}; ${advice}`, {
    cause: error,
    details: { ...error.details, mode: wanted, suggestion },
  });
}
