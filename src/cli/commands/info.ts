/** `uvc-capture info [camera]`: formats, frame sizes and rates, controls with ranges, defaults, current values, menus. */
import { Command } from 'commander';
import type { Camera, CameraFormat, CameraFrameSize } from '../../camera/index.js';
import type { ControlEntry } from '../../uvc/index.js';
import { addCameraFlags, openSelectedCamera, type CameraFlags } from '../camera-selection.js';
import { formatControlValue } from '../control-values.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { describeMode } from '../format-choice.js';
import { describeControl, extensionGuidOf } from '../control-descriptions.js';
import { hex4, outputWidth, renderTable, wrap } from '../table.js';
import { Ui } from '../ui.js';

interface InfoFlags extends CameraFlags {
  json?: boolean;
}

export function infoCommand(): Command {
  const command = new Command('info')
    .description('show a camera: formats, frame sizes, frame rates, and controls with ranges, defaults, current values and menus')
    .argument('[camera]', 'port path, vid:pid or bus/address (default: the first camera attached)');
  addCameraFlags(command);
  return command.option('--json', 'print one JSON object').action(async (camera: string | undefined, flags: InfoFlags) => {
    process.exitCode = await runInfo(camera, flags);
  });
}

function fpsText(size: CameraFrameSize): string {
  return Array.isArray(size.fps) ? size.fps.join(', ') : `${size.fps.min}–${size.fps.max} (continuous)`;
}

function formatRows(formats: CameraFormat[]): string[][] {
  const rows: string[][] = [];
  for (const f of formats) {
    for (const size of f.frames) {
      rows.push([
        String(f.interfaceNumber),
        `${f.fourcc || '?'} (${f.kind}${f.bitsPerPixel ? `, ${f.bitsPerPixel} bpp` : ''})`,
        `${size.width}x${size.height}`,
        fpsText(size),
        String(size.defaultFps),
        f.transfer,
        size.maxFrameSize === null ? '-' : String(size.maxFrameSize),
      ]);
    }
  }
  return rows;
}

function flagsText(c: ControlEntry): string {
  const f = c.flags;
  const access = f.get && f.set ? 'rw' : f.get ? 'r' : f.set ? 'w' : '-';
  const words = [access, f.autoUpdate && 'auto-update', f.asynchronous && 'async', f.disabledByAuto && 'auto-owned'].filter(Boolean);
  return words.join(' ');
}

/** "−64…64 step 1", "on/off", "pan −36000…36000 step 3600, tilt …", a menu's entries, a raw control's size. */
function rangeText(c: ControlEntry): string {
  switch (c.type) {
    case 'boolean':
      return 'on/off';
    case 'menu':
      return c.menu.map((m) => `${m.name}=${m.value}`).join(' ') || '-';
    case 'compound': {
      const names = Object.keys(c.max ?? c.value ?? {});
      return names.map((n) => `${n} ${c.min?.[n] ?? '?'}…${c.max?.[n] ?? '?'}${c.step?.[n] ? ` step ${c.step[n]}` : ''}`).join(', ') || '-';
    }
    case 'raw':
      return `${c.size} byte${c.size === 1 ? '' : 's'}${c.min !== null && c.max !== null ? ` ${formatControlValue(c.min)}…${formatControlValue(c.max)}` : ''}`;
    default:
      return c.min === null || c.max === null ? '-' : `${c.min}…${c.max}${c.step !== null && c.step !== 1 ? ` step ${c.step}` : ''}`;
  }
}

function controlRows(controls: ControlEntry[]): string[][] {
  return controls.map((c) => [c.name, c.type, rangeText(c), formatControlValue(c.default, c), formatControlValue(c.value, c), flagsText(c)]);
}

/** Extension unit controls: what their unit is (by its GUID, when a known one) and each one's name and size. */
function extensionLines(camera: Camera, controls: ControlEntry[], width: number | undefined): string[] {
  return controls
    .filter((c) => c.unitType === 'extension-unit')
    .flatMap((c) => {
      const { label } = describeControl(c, camera.descriptors);
      const guid = extensionGuidOf(c, camera.descriptors);
      const text = `${c.name}: ${label} (unit ${c.unit}${guid ? ` {${guid}}` : ''}, selector ${c.selector}, ${c.size} byte${c.size === 1 ? '' : 's'})`;
      return wrap(text, Math.max(40, (width ?? Infinity) - 4)).map((line, i) => `${i === 0 ? '  ' : '    '}${line}`);
    });
}

/** Re-reads every readable control, so "current" is current (auto modes move some by themselves). */
async function refreshControls(camera: Camera): Promise<ControlEntry[]> {
  for (const control of camera.controls) {
    if (!control.flags.get) continue;
    await camera.getControl(control.name).catch(() => undefined);
  }
  return camera.controls;
}

/** One video function's controls (a device may have several, each with its own VideoControl interface and units). */
interface FunctionControls {
  videoControlInterface: number;
  streamingInterfaces: number[];
  controls: ControlEntry[];
  /** Why its controls could not be read. */
  error?: string;
}

/**
 * Every video function's controls, when the device has more than one: a handle shows its current stream's function,
 * so each function's first capture stream is made current in turn (its default format, as at open), then the one
 * that was current is again. null for a device with one function.
 */
async function controlsByFunction(camera: Camera): Promise<FunctionControls[] | null> {
  const functions = camera.descriptors.functions;
  if (functions.length < 2) return null;
  const home = camera.format?.interfaceNumber;
  const result: FunctionControls[] = [];
  for (const fn of functions) {
    const streams = fn.streamingInterfaces.filter((vs) => vs.direction === 'in').map((vs) => vs.interfaceNumber);
    const entry: FunctionControls = { videoControlInterface: fn.videoControl.interfaceNumber, streamingInterfaces: streams, controls: [] };
    result.push(entry);
    if (streams.length === 0) {
      entry.error = 'it has no video capture interface to open it by';
      continue;
    }
    try {
      await camera.setFormat({ interfaceNumber: streams[0] });
      entry.controls = await refreshControls(camera);
    } catch (error) {
      entry.error = error instanceof Error ? error.message : String(error);
    }
  }
  if (home !== undefined) await camera.setFormat({ interfaceNumber: home }).catch(() => undefined);
  return result;
}

function controlSection(camera: Camera, heading: string, controls: ControlEntry[], width: number | undefined): string[] {
  const extensions = extensionLines(camera, controls, width);
  return [
    `${heading} (${controls.length}):`,
    controls.length === 0
      ? '  none'
      : renderTable(['NAME', 'TYPE', 'RANGE / MENU', 'DEFAULT', 'CURRENT', 'FLAGS'], controlRows(controls), { maxWidth: width, indent: 2, shrink: [2, 5, 4, 3] }),
    ...(extensions.length > 0 ? ['', 'Extension unit controls:', ...extensions] : []),
  ];
}

export async function runInfo(positional: string | undefined, flags: InfoFlags): Promise<ExitCodeValue> {
  const ui = new Ui({ quiet: flags.json === true });
  const { camera, label } = await openSelectedCamera(flags, ui, positional === undefined ? {} : { positional });
  try {
    const controls = await refreshControls(camera);
    const functions = await controlsByFunction(camera);
    const info = camera.info;
    const warnings = camera.descriptors.warnings;
    if (flags.json) {
      // `controls`: the current stream's function; `functions`: each one's, on a device with several.
      ui.json({ camera: info, formats: camera.formats, format: camera.format, controls, ...(functions ? { functions } : {}), descriptorWarnings: warnings });
      return ExitCode.OK;
    }
    const width = outputWidth();
    const lines = [
      `${label}`,
      `  manufacturer: ${info.manufacturer ?? '-'}   product: ${info.product ?? '-'}   serial: ${info.serial ?? '-'}`,
      `  vid:pid ${hex4(info.vendorId)}:${hex4(info.productId)}   ${info.speed} speed   UVC ${info.uvcVersion}   transport: ${info.transport}`,
      '',
      'Formats:',
      renderTable(['IF', 'FORMAT', 'SIZE', 'FPS', 'DEFAULT FPS', 'TRANSFER', 'MAX FRAME BYTES'], formatRows(camera.formats), { maxWidth: width, indent: 2 }),
      '',
      `Current format: ${camera.format ? `${describeMode(camera.format)} (${camera.format.frameSize} bytes per frame at most)` : 'none negotiated'}`,
      '',
      ...(functions === null
        ? controlSection(camera, 'Controls', controls, width)
        : functions.flatMap((f, i) => [
            ...(i > 0 ? [''] : []),
            ...(f.error === undefined
              ? controlSection(camera, `Controls of video function ${i + 1} (VideoControl interface ${f.videoControlInterface}, streams on IF ${f.streamingInterfaces.join(', ')})`, f.controls, width)
              : [`Controls of video function ${i + 1} (VideoControl interface ${f.videoControlInterface}): not read: ${f.error}`]),
          ])),
      '',
      warnings.length === 0 ? 'Descriptors: no problems found.' : `Descriptor problems the parser worked around (${warnings.length}):\n${warnings.map((w) => `  ${w}`).join('\n')}`,
    ];
    ui.result(lines.join('\n'));
    return ExitCode.OK;
  } finally {
    await camera.close();
  }
}
