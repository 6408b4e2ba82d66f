/**
 * `uvc-capture [capture]`: open a camera, negotiate a mode, stream, write frames, and say what happened.
 *
 * Errored frames (the driver's error flag: lost packets, the ERR bit, a short or overflowing frame; or a frame that
 * fails the size/marker checks) are dropped by default and counted: a capture directory should hold pictures, not
 * damage that looks like them (the C peer's worst habit is passing broken frames off as good). --keep-errored writes
 * them too, named `frame-NNNNNN-errored.*`, for whoever studies the damage.
 */
import { Command, Option } from 'commander';
import { isUvcError } from '../../errors.js';
import { frameProblem, pixelLayoutOf, type FrameGeometry } from '../../media/index.js';
import type { NegotiatedFormat } from '../../index.js';
import { collect, fourcc, frameSize, positiveInteger, positiveNumber } from '../arguments.js';
import { addCameraFlags, openSelectedCamera, type SelectedCamera } from '../camera-selection.js';
import { checkOutput, defaultOutputDirectory, openFrameWriter, OutputClosed, resolveOutput, STREAM_EXTENSION_LIST, type FrameWriter, type OutputTarget } from '../capture-output.js';
import { CaptureStats } from '../capture-stats.js';
import { applyControlSettings } from '../control-values.js';
import { CliError, errorCodeOf, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { checkSizeOffered, describeMode, differenceNote, formatRequestOf, negotiate, round } from '../format-choice.js';
import { onInterrupt } from '../interrupts.js';
import { startProgress } from '../progress.js';
import { fsReason } from '../output-location.js';
import { Ui } from '../ui.js';
import { runMultiCapture } from '../multi-capture.js';
import type { CaptureFlags, StopReason } from '../capture-flags.js';

export interface CaptureSummary {
  frames: number;
  fps: number;
  errors: number;
  lost: number;
  bytes: number;
  mode: (NegotiatedFormat & { layout: string }) | null;
  output: { kind: OutputTarget['kind']; path: string; files: number };
  negotiatedFps: number | null;
  received: number;
  dropped: number;
  invalid: number;
  bytesWritten: number;
  seconds: number;
  stopped: StopReason;
  camera: { label: string; transport: 'native' | 'virtual'; vendorId: number; productId: number; serial?: string } | null;
  error?: { code: string; message: string };
  exitCode: number;
}

export function captureCommand(): Command {
  const command = new Command('capture')
    .description('capture frames from a camera to files (the default command)')
    .summary('capture frames to files (the default command)');
  addCameraFlags(command);
  command
    .option('-n, --frames <n>', 'stop after writing N frames', positiveInteger)
    .option('-t, --seconds <s>', 'stop after S seconds of streaming', positiveNumber)
    .option('-f, --format <fourcc>', 'pixel format: YUYV (YUY2), MJPEG (MJPG), NV12, H264, … (default: the camera\'s default, or what -o FILE implies)', fourcc)
    .option('-s, --size <WxH>', 'frame size, e.g. 1280x720 (the nearest the camera has)', frameSize)
    .option('-r, --fps <fps>', 'frame rate (the nearest the camera has)', positiveNumber)
    .option('--set <name=value>', 'set a control before streaming, repeatable: numbers, on/off, menu labels (see `uvc-capture info`)', collect)
    .option('-o, --output <path>', `DIR/ for one file per frame (frame-000001.jpg, .yuv, .nv12, .raw), a stream file (${STREAM_EXTENSION_LIST}), or - for stdout (default: captures/<date_time>/)`)
    .option('--png', 'also write each frame as PNG (directory output; YUYV, NV12, GREY, MJPEG)')
    .addOption(new Option('--keep-errored', 'also write frames the driver flagged as damaged (as frame-NNNNNN-errored.*)').conflicts('dropErrored'))
    .addOption(new Option('--drop-errored', 'do not write damaged frames; they are counted (the default)').conflicts('keepErrored'))
    .option('--buffers <n>', 'buffers in the queue (2–32)', positiveInteger, 8)
    .option('--json', 'print one JSON summary object on stdout (stderr when -o -)')
    .option('-q, --quiet', 'no notes or progress on stderr (errors still)')
    .option('--no-progress', 'no progress bar (it is shown only when stderr is a terminal anyway)')
    .action(async (flags: CaptureFlags) => {
      process.exitCode = await runCapture(flags);
    });
  return command;
}

function interruptedBeforeStreaming(): CliError {
  return new CliError('interrupted before streaming started; nothing was captured', ExitCode.INTERRUPTED);
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export async function runCapture(flags: CaptureFlags): Promise<ExitCodeValue> {
  // --camera given more than once: several cameras, a folder each and their frames paired (multi-capture.ts).
  if (Array.isArray(flags.camera)) return runMultiCapture(flags);
  if (flags.buffers < 2 || flags.buffers > 32) throw new CliError('--buffers takes 2 to 32', ExitCode.USAGE);
  const target = await resolveOutput(flags.output ?? defaultOutputDirectory());
  // Before the camera is opened: a path that cannot be written is said at once, with the reason (EROFS, EACCES, …).
  await checkOutput(target);
  const ui = new Ui({ quiet: flags.quiet === true, stdoutTaken: target.kind === 'stdout' });
  const keepErrored = flags.keepErrored === true;

  let stopReason = null as StopReason | null;
  let failure: unknown = null;
  const abort = new AbortController();
  const stop = (reason: StopReason): void => {
    if (stopReason !== null) return;
    stopReason = reason;
    abort.abort();
  };
  let writer: FrameWriter | null = null;
  const interrupts = onInterrupt(
    () => {
      ui.note('\nStopping after the frame in hand (Ctrl-C again quits at once)…');
      stop('interrupted');
    },
    async () => {
      // Quit now, but never leave a `.partial` file: let a file operation in flight settle, then remove it.
      await writer?.abandon();
      process.exit(ExitCode.INTERRUPTED);
    },
  );

  const stats = new CaptureStats();
  let selected: SelectedCamera | null = null;
  let mode: NegotiatedFormat | null = null;
  let invalid = 0;
  let streamingSince = 0n;
  let timer: NodeJS.Timeout | undefined;
  let progress = startProgress({}, false);

  try {
    selected = await openSelectedCamera(flags, ui, { open: { dropErroredFrames: false } });
    if (stopReason !== null) throw interruptedBeforeStreaming();
    const camera = selected.camera;

    const request = formatRequestOf(flags, camera, target.preferredFourcc);
    checkSizeOffered(camera, request);
    mode = await negotiate(camera, request);
    // The size is exact (checked above); a rate the camera lacks is replaced by its nearest one, said even with -q.
    const difference = differenceNote(request, mode);
    if (difference) ui.warn(`${difference}.`);
    const geometry: FrameGeometry = { layout: pixelLayoutOf(mode.fourcc, mode.kind), width: mode.width, height: mode.height };
    if (target.accepts && !target.accepts.includes(geometry.layout)) {
      throw new CliError(`${target.path} holds ${target.accepts.join('/')} frames, but the camera streams ${mode.fourcc}`, ExitCode.USAGE, 'Choose the format with --format, or another file extension.');
    }
    await applyControlSettings(camera, flags.set ?? [], (m) => ui.note(m));
    ui.note(`Mode: ${describeMode(mode)} (${mode.transfer}${mode.transfer === 'iso' ? `, alt setting ${mode.altSetting}` : ''})`);

    writer = await openFrameWriter(target, geometry, { png: flags.png === true, warn: (m) => ui.warn(m) });
    ui.note(`Writing to ${target.kind === 'stdout' ? 'stdout' : target.path}${flags.frames ? `: ${flags.frames} frames` : ''}${flags.seconds ? ` for ${flags.seconds} s` : ''}${!flags.frames && !flags.seconds ? ' until Ctrl-C' : ''}`);

    const queue = camera.queue;
    const count = queue.reqbufs(flags.buffers);
    for (let i = 0; i < count; i++) queue.qbuf(i);
    if (stopReason !== null) throw interruptedBeforeStreaming();
    await queue.streamon();
    streamingSince = process.hrtime.bigint();
    if (flags.seconds !== undefined) timer = setTimeout(() => stop('seconds'), flags.seconds * 1000);
    progress = startProgress({ ...(flags.frames ? { frames: flags.frames } : {}), ...(flags.seconds ? { seconds: flags.seconds } : {}) }, flags.progress && !flags.quiet);

    // The one consumer loop (QueueHandle.frames): it ends on stop() (the abort), queues each buffer again after
    // this step is done with it, hands back the frames completed before an unplug and then throws ENXIO.
    try {
      for await (const buffer of queue.frames({ signal: abort.signal })) {
        if (camera.disconnected && buffer.flags.error && buffer.bytesused === 0) {
          // A buffer the unplug handed back unfilled: no frame at all, so nothing to count.
          continue;
        }
        stats.frame(buffer.sequence, buffer.timestamp, buffer.bytesused);
        const problem = buffer.flags.error ? null : frameProblem(buffer.data, geometry);
        if (problem !== null) invalid++;
        const errored = buffer.flags.error || problem !== null;
        if (errored) stats.errors++;
        if (errored && !keepErrored) {
          stats.dropped++;
        } else {
          // The whole frame is written before the next is taken: a stop lands between frames, never inside one.
          let written;
          try {
            written = await writer.write(stats.written + 1, buffer.data, errored);
          } catch (error) {
            if (error instanceof OutputClosed) {
              stop('closed');
              break;
            }
            if (error instanceof CliError) throw error;
            throw new CliError(`cannot write frame ${stats.written + 1} to ${target.path}: ${fsReason(error).text}`, ExitCode.FAILURE, undefined, { cause: error });
          }
          stats.written++;
          stats.bytesWritten += written.bytes + written.pngBytes;
        }
        progress.update({ frames: stats.written, fps: stats.recentFps, lost: stats.lost, errors: stats.errors }, Number(process.hrtime.bigint() - streamingSince) / 1e9);
        if (flags.frames !== undefined && stats.written >= flags.frames) {
          stop('frames');
          break;
        }
      }
    } catch (error) {
      if (stopReason === null && (isUvcError(error, 'ENXIO') || camera.disconnected)) stop('unplugged');
      else throw error;
    }
  } catch (error) {
    failure = error;
    if (stopReason === null) stopReason = selected?.camera.disconnected ? 'unplugged' : 'error';
  } finally {
    clearTimeout(timer);
    progress.stop();
    if (selected) {
      await selected.camera.queue.streamoff().catch(() => undefined);
      await selected.camera.close().catch((error: unknown) => ui.warn(`closing the camera: ${(error as Error).message}`));
    }
    await writer?.close().catch(() => undefined);
    interrupts.dispose();
  }

  if (selected === null || mode === null || streamingSince === 0n) {
    // Nothing streamed: no summary to give, only the reason (main() prints it, as JSON too with --json).
    if (failure !== null) throw failure;
    if (stopReason === 'interrupted') throw interruptedBeforeStreaming();
    return ExitCode.OK;
  }

  const reason: StopReason = stopReason ?? 'error';
  let exitCode: ExitCodeValue;
  if (reason === 'unplugged') exitCode = ExitCode.DEVICE;
  else if (failure !== null) exitCode = failure instanceof CliError ? failure.exitCode : ExitCode.DEVICE;
  else if (reason === 'interrupted' && (flags.frames !== undefined || flags.seconds !== undefined)) exitCode = ExitCode.INTERRUPTED;
  else exitCode = ExitCode.OK;

  const info = selected.camera.info;
  const summary: CaptureSummary = {
    frames: stats.written,
    fps: round(stats.fps),
    errors: stats.errors,
    lost: stats.lost,
    bytes: stats.bytesReceived,
    mode: { ...mode, layout: pixelLayoutOf(mode.fourcc, mode.kind) },
    output: { kind: target.kind, path: target.path, files: writer?.filesWritten ?? 0 },
    negotiatedFps: round(mode.fps),
    received: stats.received,
    dropped: stats.dropped,
    invalid,
    bytesWritten: stats.bytesWritten,
    seconds: round(Number(process.hrtime.bigint() - streamingSince) / 1e9),
    stopped: reason,
    camera: {
      label: selected.label,
      transport: info.transport,
      vendorId: info.vendorId,
      productId: info.productId,
      ...(info.serial ? { serial: info.serial } : {}),
    },
    exitCode,
  };
  const failureMessage = failure === null ? null : failure instanceof Error ? failure.message : String(failure);
  if (failureMessage !== null) summary.error = { code: errorCodeOf(failure), message: failureMessage };

  if (flags.json) ui.json(summary);
  else ui.result(humanSummary(summary));

  if (reason === 'unplugged') {
    process.stderr.write(
      `uvc-capture: the camera went away (unplugged?) after ${stats.received} frames; stopped. ` +
        `The ${stats.written} complete frames written are kept${target.kind === 'stdout' ? '' : ` in ${target.path}`}.\n`,
    );
  } else if (failure !== null) {
    process.stderr.write(`uvc-capture: capture stopped: ${failureMessage}\n`);
    if (failure instanceof CliError && failure.hint) process.stderr.write(`${failure.hint}\n`);
  }
  return exitCode;
}

function humanSummary(s: CaptureSummary): string {
  const mode = s.mode!;
  const how = { frames: '', seconds: '', interrupted: ' (interrupted)', unplugged: ' (camera unplugged)', closed: ' (the reader of stdout went away)', error: ' (stopped by an error)' }[s.stopped];
  const lines = [
    `Captured ${s.frames} frame${s.frames === 1 ? '' : 's'} in ${s.seconds.toFixed(2)} s${how}: ${describeMode(mode)}, ${mode.transfer}`,
    `  rate:   ${s.fps > 0 ? `${s.fps.toFixed(2)} fps measured` : 'not measured (fewer than 2 frames)'}, ${s.negotiatedFps} fps negotiated`,
    `  frames: ${s.received} received, ${s.frames} written, ${s.errors} errored${s.invalid ? ` (${s.invalid} failed the frame checks)` : ''}${s.dropped ? `, ${s.dropped} errored not written (--keep-errored writes them)` : ''}, ${s.lost} lost (sequence gaps)`,
    `  bytes:  ${formatBytes(s.bytes)} received, ${formatBytes(s.bytesWritten)} written`,
    `  output: ${s.output.kind === 'stdout' ? 'stdout' : s.output.path}${s.output.kind === 'directory' ? ` (${s.output.files} files)` : ''}`,
  ];
  return lines.join('\n');
}
