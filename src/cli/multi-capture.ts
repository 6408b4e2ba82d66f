/**
 * `uvc-capture capture --camera A --camera B -o dir/`: several cameras at once. Each camera's frames go to their
 * own folder (dir/A/frame-000001.yuv, …, named as a single capture names them), and dir/pairs.csv lists the
 * frames paired by time (pairFrames: timestamps within half the shortest frame interval): one row per set with
 * each camera's frame sequence number and file, and each camera's timestamp minus the first camera's, in ms.
 *
 * --frames N stops after N pairs; --seconds after S seconds. A camera unplugged mid-capture stops only itself:
 * the others go on (paired, while two or more are left). Errored frames are dropped and counted unless
 * --keep-errored, as for one camera.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { isUvcError } from '../errors.js';
import { pairFrames, type FramePairing } from '../camera/frame-pairing.js';
import { frameProblem, pixelLayoutOf, type FrameGeometry } from '../media/index.js';
import type { NegotiatedFormat, VideoBuffer } from '../index.js';
import { openCameras, parseCameraSpecs, safeName, type OpenedCamera } from './camera-specs.js';
import { defaultOutputDirectory, openFrameWriter, resolveOutput, type FrameWriter } from './capture-output.js';
import { CaptureStats } from './capture-stats.js';
import type { CaptureFlags, StopReason } from './capture-flags.js';
import { applyControlSettings } from './control-values.js';
import { CliError, ExitCode, type ExitCodeValue } from './exit-codes.js';
import { describeMode, differenceNote, formatRequestOf, negotiate, round } from './format-choice.js';
import { onInterrupt } from './interrupts.js';
import { Ui } from './ui.js';

interface Stream {
  opened: OpenedCamera;
  folder: string;
  mode: NegotiatedFormat;
  geometry: FrameGeometry;
  writer: FrameWriter;
  stats: CaptureStats;
  invalid: number;
  /** The file each sequence was written to, relative to the output folder (pairs.csv names the files). */
  fileOf: Map<number, string>;
  gone: boolean;
}

export interface MultiCaptureSummary {
  pairs: number;
  seconds: number;
  stopped: StopReason;
  output: { path: string; pairsFile: string };
  cameras: Array<{
    name: string;
    folder: string;
    mode: NegotiatedFormat & { layout: string };
    frames: number;
    received: number;
    errors: number;
    dropped: number;
    lost: number;
    unpaired: number;
    unplugged: boolean;
  }>;
  error?: string;
  exitCode: number;
}

export async function runMultiCapture(flags: CaptureFlags): Promise<ExitCodeValue> {
  const specs = parseCameraSpecs(flags);
  if (flags.buffers < 2 || flags.buffers > 32) throw new CliError('--buffers takes 2 to 32', ExitCode.USAGE);
  const target = await resolveOutput(flags.output ?? defaultOutputDirectory());
  if (target.kind !== 'directory') {
    throw new CliError('several cameras are captured into a folder each: give -o DIR/', ExitCode.USAGE, 'e.g. uvc-capture capture --camera A --camera B -o rig/');
  }
  const folders = specs.map((s) => safeName(s.id));
  if (new Set(folders).size !== folders.length) throw new CliError(`the camera names ${specs.map((s) => s.id).join(', ')} make the same folder names`, ExitCode.USAGE);
  const ui = new Ui({ quiet: flags.quiet === true });

  let stopReason = null as StopReason | null;
  const abort = new AbortController();
  const stop = (reason: StopReason): void => {
    if (stopReason !== null) return;
    stopReason = reason;
    abort.abort();
  };
  const interrupts = onInterrupt(
    () => {
      ui.note('\nStopping after the frames in hand (Ctrl-C again quits at once)…');
      stop('interrupted');
    },
    () => process.exit(ExitCode.INTERRUPTED),
  );

  const streams: Stream[] = [];
  let pairsFile: WriteStream | null = null;
  let pairs = 0;
  const unpaired: number[] = specs.map(() => 0);
  let failure: unknown = null;
  let startedAt = 0n;
  let timer: NodeJS.Timeout | undefined;
  const opened = await openCameras(specs, flags, { dropErroredFrames: false });
  try {
    for (const [i, o] of opened.cameras.entries()) {
      ui.note(`Camera ${o.name}: ${o.camera.info.product ?? 'UVC camera'} (${o.camera.info.transport === 'virtual' ? `virtual, bus ${o.camera.info.busNumber}` : `port ${o.camera.info.portPath}`})`);
      const request = { ...formatRequestOf(flags, o.camera), ...o.spec.mode };
      const mode = await negotiate(o.camera, request);
      const difference = differenceNote(request, mode);
      if (difference) ui.note(`Note (${o.name}): ${difference}.`);
      await applyControlSettings(o.camera, flags.set ?? [], (m) => ui.note(`${o.name}: ${m}`));
      const geometry: FrameGeometry = { layout: pixelLayoutOf(mode.fourcc, mode.kind), width: mode.width, height: mode.height };
      const folder = folders[i]!;
      const writer = await openFrameWriter({ kind: 'directory', path: path.join(target.path, folder), accepts: null, preferredFourcc: [] }, geometry, { png: flags.png === true, warn: (m) => ui.warn(`${o.name}: ${m}`) });
      streams.push({ opened: o, folder, mode, geometry, writer, stats: new CaptureStats(), invalid: 0, fileOf: new Map(), gone: false });
      ui.note(`Mode (${o.name}): ${describeMode(mode)} (${mode.transfer}${mode.transfer === 'iso' ? `, alt setting ${mode.altSetting}` : ''})`);
    }
    for (const s of streams) {
      const queue = s.opened.camera.queue;
      const count = queue.reqbufs(flags.buffers);
      for (let i = 0; i < count; i++) queue.qbuf(i);
    }
    for (const s of streams) {
      try {
        await s.opened.camera.queue.streamon();
      } catch (error) {
        if (isUvcError(error, 'ENOSPC')) {
          throw new CliError(`camera ${s.opened.name}: ${error.message}`, ExitCode.DEVICE, 'See what fits with `uvc-capture plan` and the same --camera flags.', { cause: error });
        }
        throw error;
      }
    }
    startedAt = process.hrtime.bigint();
    if (flags.seconds !== undefined) timer = setTimeout(() => stop('seconds'), flags.seconds * 1000);
    ui.note(`Writing to ${target.path}: a folder per camera and pairs.csv${flags.frames ? `; ${flags.frames} pairs` : ''}${flags.seconds ? ` for ${flags.seconds} s` : ''}${!flags.frames && !flags.seconds ? ' until Ctrl-C' : ''}`);

    pairsFile = createWriteStream(path.join(target.path, 'pairs.csv'));
    const names = streams.map((s) => s.opened.name);
    const first = names[0]!;
    pairsFile.write(`${[...names.map((n) => `${n}_sequence`), ...names.map((n) => `${n}_file`), ...names.slice(1).map((n) => `${n}_minus_${first}_ms`)].join(',')}\n`);

    const write = async (s: Stream, buffer: VideoBuffer): Promise<void> => {
      if (buffer.bytesused === 0 && buffer.sequence < 0) return;
      s.stats.frame(buffer.sequence, buffer.timestamp, buffer.bytesused);
      const problem = buffer.flags.error ? null : frameProblem(buffer.data, s.geometry);
      if (problem !== null) s.invalid++;
      const errored = buffer.flags.error || problem !== null;
      if (errored) s.stats.errors++;
      if (errored && flags.keepErrored !== true) {
        s.stats.dropped++;
        return;
      }
      const number = s.stats.written + 1;
      const written = await s.writer.write(number, buffer.data, errored);
      s.stats.written++;
      s.stats.bytesWritten += written.bytes + written.pngBytes;
      s.fileOf.set(buffer.sequence, path.relative(target.path, written.file));
      // Only recent frames can still be paired: keep the map small on long captures.
      if (s.fileOf.size > 4 * flags.buffers) s.fileOf.delete(s.fileOf.keys().next().value!);
    };

    // Pair the cameras still here; one that goes away leaves the pairing to the others.
    while (stopReason === null) {
      const live = streams.filter((s) => !s.gone);
      if (live.length < 2) {
        stop('unplugged');
        break;
      }
      const pairing: FramePairing = pairFrames(
        live.map((s) => s.opened.camera),
        { signal: abort.signal, onFrame: (source, buffer) => write(live[source]!, buffer) },
      );
      try {
        for await (const set of pairing) {
          const row = streams.map((s) => {
            const at = live.indexOf(s);
            return at < 0 ? '' : String(set.frames[at]!.sequence);
          });
          // A frame not written (errored, without --keep-errored) has no file.
          const fileCells = streams.map((s) => {
            const at = live.indexOf(s);
            return at < 0 ? '' : (s.fileOf.get(set.frames[at]!.sequence) ?? '');
          });
          const deltas = streams.slice(1).map((s) => {
            const at = live.indexOf(s);
            return at < 0 || live.indexOf(streams[0]!) < 0 ? '' : ((set.frames[at]!.timestamp - set.frames[live.indexOf(streams[0]!)]!.timestamp) / 1e6).toFixed(3);
          });
          pairsFile.write(`${[...row, ...fileCells, ...deltas].join(',')}\n`);
          pairs++;
          if (flags.frames !== undefined && pairs >= flags.frames) {
            stop('frames');
            break;
          }
        }
        if (stopReason === null) stop('error');
      } catch (error) {
        if (isUvcError(error, 'ENXIO') && typeof error.details.source === 'number') {
          const gone = live[error.details.source]!;
          gone.gone = true;
          ui.warn(`camera ${gone.opened.name} went away (unplugged?); the others go on`);
        } else {
          throw error;
        }
      } finally {
        for (const [i, s] of live.entries()) unpaired[streams.indexOf(s)]! += pairing.stats.unpaired[i]!;
      }
    }
  } catch (error) {
    failure = error;
    if (stopReason === null) stopReason = 'error';
  } finally {
    clearTimeout(timer);
    for (const s of streams) if (s.opened.camera.disconnected) s.gone = true;
    for (const s of streams) await s.opened.camera.queue.streamoff().catch(() => undefined);
    await opened.close();
    for (const s of streams) await s.writer.close().catch(() => undefined);
    if (pairsFile !== null) await new Promise<void>((resolve) => pairsFile!.end(resolve));
    interrupts.dispose();
  }

  if (startedAt === 0n) {
    if (failure !== null) throw failure;
    return stopReason === 'interrupted' ? ExitCode.INTERRUPTED : ExitCode.OK;
  }
  const reason: StopReason = stopReason ?? 'error';
  const anyGone = streams.some((s) => s.gone);
  let exitCode: ExitCodeValue;
  if (failure !== null) exitCode = failure instanceof CliError ? failure.exitCode : ExitCode.DEVICE;
  else if (anyGone) exitCode = ExitCode.DEVICE;
  else if (reason === 'interrupted' && (flags.frames !== undefined || flags.seconds !== undefined)) exitCode = ExitCode.INTERRUPTED;
  else exitCode = ExitCode.OK;

  const summary: MultiCaptureSummary = {
    pairs,
    seconds: round(Number(process.hrtime.bigint() - startedAt) / 1e9),
    stopped: reason,
    output: { path: target.path, pairsFile: path.join(target.path, 'pairs.csv') },
    cameras: streams.map((s, i) => ({
      name: s.opened.name,
      folder: path.join(target.path, s.folder),
      mode: { ...s.mode, layout: pixelLayoutOf(s.mode.fourcc, s.mode.kind) },
      frames: s.stats.written,
      received: s.stats.received,
      errors: s.stats.errors,
      dropped: s.stats.dropped,
      lost: s.stats.lost,
      unpaired: unpaired[i]!,
      unplugged: s.gone,
    })),
    exitCode,
  };
  if (failure !== null) summary.error = failure instanceof Error ? failure.message : String(failure);
  if (flags.json) ui.json(summary);
  else {
    const lines = [
      `Captured ${pairs} pair${pairs === 1 ? '' : 's'} from ${streams.length} cameras in ${summary.seconds.toFixed(2)} s${reason === 'interrupted' ? ' (interrupted)' : anyGone ? ' (a camera went away)' : ''}: ${summary.output.pairsFile}`,
      ...summary.cameras.map(
        (c) => `  ${c.name}: ${describeMode(c.mode)}, ${c.frames} frames written to ${c.folder}, ${c.received} received, ${c.errors} errored, ${c.lost} lost, ${c.unpaired} unpaired${c.unplugged ? ', unplugged' : ''}`,
      ),
    ];
    ui.result(lines.join('\n'));
  }
  if (failure !== null) {
    process.stderr.write(`uvc-capture: capture stopped: ${summary.error}\n`);
    if (failure instanceof CliError && failure.hint) process.stderr.write(`${failure.hint}\n`);
  }
  return exitCode;
}
