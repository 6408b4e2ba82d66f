/**
 * Every mode the camera offers: each format × frame size × frame rate must negotiate to what was asked; each
 * format × frame size then streams a few frames at its highest rate, which must have the right size, decode
 * (MJPEG, through sharp), carry increasing stamps (virtual camera), and come at the nominal rate.
 */
import type { Camera, CameraFormat, CameraFrameSize } from '../../camera/index.js';
import { decodeJpeg, frameProblem, pixelLayoutOf, type FrameGeometry } from '../../media/index.js';
import { decodeFrameStamp, type VirtualCamera } from '../../virtual-camera/index.js';
import { canonicalFourcc } from '../format-choice.js';
import { errorText, within, type CheckReport } from './check-results.js';

export interface ModeCheckOptions {
  framesPerMode: number;
  secondsPerMode: number;
  fpsTolerance: number;
  /** Errored frames above this share of a mode's frames fail it (fewer only warn). */
  maxErroredShare: number;
}

function ratesOf(size: CameraFrameSize): number[] {
  return Array.isArray(size.fps) ? size.fps : [size.fps.max, size.fps.min];
}

const label = (format: CameraFormat, size: CameraFrameSize): string => `${format.fourcc || format.kind} ${size.width}x${size.height}`;

export async function checkNegotiation(camera: Camera, report: CheckReport): Promise<void> {
  for (const format of camera.formats) {
    for (const size of format.frames) {
      const wrong: string[] = [];
      const agreed: number[] = [];
      for (const fps of ratesOf(size)) {
        try {
          const mode = await camera.setFormat({ interfaceNumber: format.interfaceNumber, fourcc: format.fourcc || undefined, width: size.width, height: size.height, fps });
          agreed.push(mode.fps);
          if (canonicalFourcc(mode.fourcc) !== canonicalFourcc(format.fourcc) || mode.width !== size.width || mode.height !== size.height) {
            wrong.push(`asked ${size.width}x${size.height}@${fps}, got ${mode.fourcc} ${mode.width}x${mode.height}`);
          } else if (Math.abs(mode.fps - fps) > fps * 0.01) {
            wrong.push(`asked ${fps} fps, got ${mode.fps}`);
          }
        } catch (error) {
          wrong.push(`${fps} fps: ${errorText(error)}`);
        }
      }
      report.add(
        'negotiation',
        `negotiate ${label(format, size)}`,
        wrong.length === 0 ? 'pass' : 'fail',
        wrong.length === 0 ? `${agreed.join(', ')} fps` : wrong.join('; '),
      );
    }
  }
}

interface CapturedFrame {
  data: Uint8Array;
  sequence: number;
  timestamp: number;
  error: boolean;
}

interface Capture {
  frames: CapturedFrame[];
  /** Every good frame's sequence and time over the measuring window (frames beyond those copied too). */
  timing: Array<{ sequence: number; timestamp: number }>;
  /** Errored frames before the first good one: a stream starting mid-frame (not counted against the camera). */
  startup: number;
  /** Bus intervals that passed with no transfer in flight, from the first good frame on (the host's losses). */
  hostLostIntervals: number;
}

/**
 * Frames per second from (sequence, timestamp) pairs: the Theil–Sen estimate (the median of the slopes between every
 * two frames), which a few frames delivered late by a busy host or a start-up burst do not move.
 */
export function fittedFps(frames: readonly { sequence: number; timestamp: number }[]): number | null {
  if (frames.length < 3) return null;
  const slopes: number[] = [];
  for (let i = 0; i < frames.length; i++) {
    for (let j = i + 1; j < frames.length; j++) {
      const ds = frames[j]!.sequence - frames[i]!.sequence;
      if (ds > 0) slopes.push((frames[j]!.timestamp - frames[i]!.timestamp) / ds);
    }
  }
  if (slopes.length === 0) return null;
  slopes.sort((a, b) => a - b);
  const mid = slopes.length >> 1;
  const median = slopes.length % 2 === 1 ? slopes[mid]! : (slopes[mid - 1]! + slopes[mid]!) / 2;
  return median > 0 ? 1e9 / median : null;
}

/**
 * Streams until `wanted` frames are copied and the frame rate has been watched for `measureSeconds` (a host busy
 * elsewhere delays single frames by tens of milliseconds: a rate needs a second or so to be worth reading).
 */
async function capture(camera: Camera, wanted: number, seconds: number, measureSeconds: number): Promise<Capture> {
  const queue = camera.queue;
  const count = queue.reqbufs(6);
  for (let i = 0; i < count; i++) queue.qbuf(i);
  const frames: CapturedFrame[] = [];
  const timing: Capture['timing'] = [];
  let startup = 0;
  let firstAt = 0;
  let lostBefore = 0;
  let lostAfter = 0;
  const lostIntervals = (): number => camera.stats.assembly?.lostIntervals ?? 0;
  try {
    await within(5000, 'streamon', queue.streamon());
    // The one consumer loop (QueueHandle.frames), bounded by a deadline (2 s more for a camera's start-up).
    const deadline = AbortSignal.timeout(seconds * 1000 + 2000);
    for await (const buffer of queue.frames({ signal: deadline })) {
      if (frames.length === 0 && buffer.flags.error) {
        // The stream started while the camera was mid-frame (or the host was slow to queue its first transfers).
        startup++;
      } else {
        if (firstAt === 0) {
          firstAt = Date.now();
          lostBefore = lostIntervals();
        }
        // Copy (the buffer is queued again on the next step): checks run after streaming, so they cannot slow it.
        if (frames.length < wanted) frames.push({ data: buffer.data.slice(), sequence: buffer.sequence, timestamp: buffer.timestamp, error: buffer.flags.error });
        // Errored frames may carry the time of a cut, not of a capture: the rate comes from good frames.
        if (!buffer.flags.error) timing.push({ sequence: buffer.sequence, timestamp: buffer.timestamp });
      }
      if (frames.length >= wanted && firstAt > 0 && Date.now() - firstAt >= measureSeconds * 1000) break;
    }
    lostAfter = lostIntervals();
  } finally {
    await queue.streamoff().catch(() => undefined);
    queue.reqbufs(0);
  }
  return { frames, timing, startup, hostLostIntervals: firstAt === 0 ? 0 : lostAfter - lostBefore };
}

/** What is wrong with one good frame beyond its size and markers: does it decode, to the right size, with a stamp? */
async function deepProblem(frame: CapturedFrame, geometry: FrameGeometry, virtual: boolean): Promise<{ problem: string | null; stamp: number | null }> {
  const cheap = frameProblem(frame.data, geometry);
  if (cheap) return { problem: cheap, stamp: null };
  const { width, height } = geometry;
  if (geometry.layout === 'mjpeg') {
    try {
      const image = await decodeJpeg(frame.data);
      if (image.width !== width || image.height !== height) return { problem: `decodes to ${image.width}x${image.height}`, stamp: null };
      return { problem: null, stamp: virtual ? decodeFrameStamp({ data: image.data, width, height, format: 'rgb' }) : null };
    } catch (error) {
      return { problem: errorText(error), stamp: null };
    }
  }
  if (!virtual) return { problem: null, stamp: null };
  if (geometry.layout === 'yuyv') return { problem: null, stamp: decodeFrameStamp({ data: frame.data, width, height, format: 'yuyv' }) };
  if (geometry.layout === 'nv12' || geometry.layout === 'grey') {
    return { problem: null, stamp: decodeFrameStamp({ data: frame.data.subarray(0, width * height), width, height, format: 'grey' }) };
  }
  return { problem: null, stamp: null };
}

export async function checkStreaming(camera: Camera, virtual: VirtualCamera | null, options: ModeCheckOptions, report: CheckReport): Promise<void> {
  for (const format of camera.formats) {
    for (const size of format.frames) {
      const name = label(format, size);
      const fps = Math.max(...ratesOf(size));
      let mode;
      try {
        mode = await camera.setFormat({ interfaceNumber: format.interfaceNumber, fourcc: format.fourcc || undefined, width: size.width, height: size.height, fps });
      } catch (error) {
        report.add('streaming', `stream ${name}`, 'fail', `cannot negotiate: ${errorText(error)}`);
        continue;
      }
      const nominal = mode.fps;
      // As many frames as fit in the time given (at least 2: one could be a start-up frame).
      const wanted = Math.max(2, Math.min(options.framesPerMode, Math.floor(options.secondsPerMode * nominal)));
      const modeName = `${name}@${nominal}`;
      let frames: CapturedFrame[];
      let timing: Capture['timing'];
      let startup: number;
      let hostLost: number;
      try {
        ({ frames, timing, startup, hostLostIntervals: hostLost } = await capture(camera, wanted, Math.max(options.secondsPerMode, wanted / nominal), Math.min(1.5, options.secondsPerMode)));
      } catch (error) {
        report.add('streaming', `stream ${modeName}`, 'fail', errorText(error));
        continue;
      }
      const geometry: FrameGeometry = { layout: pixelLayoutOf(mode.fourcc, mode.kind), width: mode.width, height: mode.height };
      const errored = frames.filter((f) => f.error).length;
      const good = frames.filter((f) => !f.error);
      const problems: string[] = [];
      const stamps: Array<{ sequence: number; stamp: number | null }> = [];
      for (const frame of good) {
        const { problem, stamp } = await deepProblem(frame, geometry, virtual !== null);
        if (problem) problems.push(`frame ${frame.sequence}: ${problem}`);
        else stamps.push({ sequence: frame.sequence, stamp });
      }
      const lost = frames.length === 0 ? 0 : frames.at(-1)!.sequence - frames[0]!.sequence + 1 - frames.length;
      const counts = `${frames.length}/${wanted} frames, ${errored} errored, ${lost} lost${startup ? ` (${startup} errored at start-up not counted)` : ''}`;
      const data = { frames: frames.length, wanted, errored, lost, startup, bytes: good.map((f) => f.data.length) };
      if (frames.length === 0) {
        // Frames that arrived but were all damaged are not "no frame": say what came.
        const detail =
          startup > 0
            ? `${startup} frame${startup === 1 ? '' : 's'} arrived in ${options.secondsPerMode + 2} s, every one damaged (flagged errored: lost packets, the ERR bit, a short frame); none good`
            : `no frame within ${options.secondsPerMode + 2} s`;
        report.add('streaming', `stream ${modeName}`, 'fail', detail, data);
      } else if (problems.length > 0) {
        report.add('streaming', `stream ${modeName}`, 'fail', `${counts}; ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; … ${problems.length - 3} more` : ''}`, data);
      } else if (good.length === 0 || errored / frames.length > options.maxErroredShare) {
        // Bus intervals that passed with no transfer in flight are the host's loss: its event loop was held up
        // (a busy machine; with the virtual camera, its own rendering on the same thread). Worth a warning, and
        // not the camera's failure.
        if (good.length > 0 && hostLost > 0) {
          report.add('streaming', `stream ${modeName}`, 'warn', `${counts}: the host let ${hostLost} bus intervals pass with no transfer in flight (this machine is busy), which damaged frames`, { ...data, hostLostIntervals: hostLost });
        } else {
          report.add('streaming', `stream ${modeName}`, 'fail', `${counts}: too many errored frames`, data);
        }
      } else {
        const checks = geometry.layout === 'mjpeg' ? 'SOI/EOI, decode, size' : geometry.layout === 'h264' ? 'start code' : `${mode.width}x${mode.height} size`;
        report.add('streaming', `stream ${modeName}`, errored > 0 || frames.length < wanted ? 'warn' : 'pass', `${counts}; good frames pass ${checks}`, data);
      }

      if (virtual !== null && stamps.length > 0) {
        const unreadable = stamps.filter((s) => s.stamp === null).length;
        const order = stamps.every((s, i) => i === 0 || (s.stamp ?? -1) > (stamps[i - 1]!.stamp ?? -1));
        const first = stamps[0]!;
        report.add(
          'streaming',
          `stamps ${modeName}`,
          unreadable === 0 && order ? 'pass' : 'fail',
          unreadable > 0 ? `${unreadable} of ${stamps.length} stamps unreadable` : order ? `${stamps.length} stamps read, increasing (first ${first.stamp} at sequence ${first.sequence})` : `stamps out of order: ${stamps.map((s) => s.stamp).join(', ')}`,
          { stamps },
        );
      }

      const measured = fittedFps(timing);
      if (measured === null) {
        report.add('frame-rate', `fps ${modeName}`, 'skip', `too slow to measure in ${options.secondsPerMode} s (${timing.length} good frames; 3 needed): raise --seconds-per-mode`);
      } else {
        const off = Math.abs(measured - nominal) / nominal;
        const detail = `${measured.toFixed(2)} measured over ${timing.length} frames, ${nominal} nominal (${(off * 100).toFixed(1)}% off, ±${(options.fpsTolerance * 100).toFixed(0)}% allowed)`;
        // The virtual camera renders its frames on this machine's CPU: when the machine is too busy, it skips frames
        // it could not render in time (counted as framesDropped). That is the simulation's limit, not the driver's.
        const skipped = virtual?.framesDropped ?? 0;
        const status = off <= options.fpsTolerance ? 'pass' : virtual !== null && skipped > 0 && measured < nominal ? 'warn' : 'fail';
        report.add(
          'frame-rate',
          `fps ${modeName}`,
          status,
          status === 'warn' ? `${detail}; the virtual camera skipped ${skipped} frames it could not render or send in time (this machine is busy)` : detail,
          { measured, nominal, frames: timing.length, ...(virtual ? { virtualFramesDropped: skipped } : {}) },
        );
      }
    }
  }
  // Leave the camera in its default mode.
  await camera.setFormat({}).catch(() => undefined);
}
