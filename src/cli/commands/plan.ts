/**
 * `uvc-capture plan --camera A=1280x720@30 --camera B=640x480@30`: can these cameras stream these modes at once
 * on one bus, and if not, what to lower. Each camera is opened and each mode probed (nothing streams); the
 * arithmetic is the host controller's periodic budget (see planBandwidth()). With --virtual the cameras are
 * virtual ones on one VirtualBus.
 *
 * Exit code: 0 when the modes fit together, 5 when they do not (streaming them would fail with ENOSPC); the answer
 * is printed either way.
 */
import { Command } from 'commander';
import { planBandwidth, type BandwidthPlan, type PlannedMode } from '../../camera/index.js';
import { BUDGET_LIMITS } from '../../transport/periodic-budget.js';
import type { FormatRequest } from '../../uvc/index.js';
import { fourcc, frameSize, positiveNumber, type FrameSizeArgument } from '../arguments.js';
import { addCameraFlags, type CameraFlags } from '../camera-selection.js';
import { openCameras, parseCameraSpecs } from '../camera-specs.js';
import { CliError, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { canonicalFourcc, round } from '../format-choice.js';
import { renderTable } from '../table.js';
import { Ui } from '../ui.js';

interface PlanFlags extends CameraFlags {
  format?: string;
  size?: FrameSizeArgument;
  fps?: number;
  json?: boolean;
  quiet?: boolean;
}

export function planCommand(): Command {
  const command = new Command('plan')
    .description('say whether several cameras can stream the modes wished at once on one bus, and what to lower')
    .summary('plan USB bandwidth for several cameras');
  addCameraFlags(command);
  command
    .option('-f, --format <fourcc>', 'format for the cameras whose --camera gives none', fourcc)
    .option('-s, --size <WxH>', 'frame size for the cameras whose --camera gives none', frameSize)
    .option('-r, --fps <fps>', 'frame rate for the cameras whose --camera gives none', positiveNumber)
    .option('--json', 'print the plan as JSON')
    .option('-q, --quiet', 'no notes on stderr')
    .addHelpText(
      'after',
      `
Name each camera with --camera ID[=MODE], repeated: ID as for capture (port path, vid:pid, bus/address; with
--virtual, a name for a virtual camera on one virtual bus), MODE as [FOURCC:]WIDTHxHEIGHT[@FPS] or @FPS:
  uvc-capture plan --camera 1-1=MJPEG:1920x1080@30 --camera 1-2=640x480@30
  uvc-capture plan --virtual --camera left=640x480@30 --camera right=640x480@30
Exit code 0 when the modes fit together, 5 when they do not (the plan says what to lower).`,
    )
    .action(async (flags: PlanFlags) => {
      process.exitCode = await runPlan(flags);
    });
  return command;
}

function describe(mode: PlannedMode): string {
  return `${mode.fourcc ?? `format ${mode.formatIndex}`} ${mode.width}x${mode.height} @ ${round(mode.fps)} fps`;
}

function amount(mode: PlannedMode, unit: string): string {
  return mode.transfer === 'bulk' ? 'none (bulk)' : `${round(mode.amount)} ${unit}`;
}

export function humanPlan(plan: BandwidthPlan): string {
  const lines: string[] = [];
  for (const domain of plan.domains) {
    const limits = BUDGET_LIMITS[domain.speed];
    const per = domain.speed === 'full' ? 'frame' : domain.speed === 'high' ? 'microframe' : '125 µs';
    lines.push(
      `${domain.speed === 'super' ? 'SuperSpeed' : `${domain.speed[0]!.toUpperCase()}${domain.speed.slice(1)} speed`} bus: periodic transfers may take ${domain.limit} ${domain.unit} per ${per} ` +
        `(${Math.round((domain.limit / limits.whole) * 100)} % of ${limits.whole}); ${round(domain.held)} ${domain.unit} held before (status endpoints${domain.held > 0 ? ', other streams' : ''})`,
    );
    const rows = plan.cameras
      .filter((c) => domain.cameras.includes(c.name))
      .map((c) => [
        c.name,
        describe(c.wanted),
        c.wanted.transfer,
        c.wanted.transfer === 'iso' ? String(c.wanted.altSetting) : '-',
        String(c.wanted.bytesPerInterval),
        amount(c.wanted, domain.unit),
        c.streaming ? 'streaming' : c.fitsAlone ? 'yes' : 'no',
      ]);
    lines.push(renderTable(['camera', 'mode', 'transfer', 'alt', 'bytes/interval', 'takes', 'fits alone'], rows));
    lines.push(
      domain.fits
        ? `Together: ${round(domain.used)} of ${domain.limit} ${domain.unit} in the busiest ${per}: they fit (${round(domain.free)} ${domain.unit} left).`
        : `Together: ${round(domain.used)} ${domain.unit} wanted of ${domain.limit}: they do not fit.`,
    );
  }
  if (!plan.fits) {
    if (plan.singleChanges.length > 0) {
      lines.push(`Lower one camera: ${plan.singleChanges.map((s) => `${s.name} to ${describe(s.mode)} (${amount(s.mode, unitOf(plan, s.name))})`).join(', or ')}.`);
    }
    if (plan.lowered === null) lines.push('Nothing fits: no lower modes of these cameras fit together on one bus; use another USB controller for some.');
    else if (plan.lowered.length > 0 && !(plan.lowered.length === 1 && plan.singleChanges.some((s) => s.name === plan.lowered![0]!.name && describe(s.mode) === describe(plan.lowered![0]!.mode)))) {
      lines.push(`Or lower together: ${plan.lowered.map((s) => `${s.name} to ${describe(s.mode)}`).join(', ')}.`);
    }
  }
  return lines.join('\n');
}

function unitOf(plan: BandwidthPlan, name: string): string {
  return plan.domains.find((d) => d.cameras.includes(name))?.unit ?? '';
}

export async function runPlan(flags: PlanFlags): Promise<ExitCodeValue> {
  const ui = new Ui({ quiet: flags.quiet === true });
  const specs = parseCameraSpecs(flags);
  if (specs.length === 0) throw new CliError('name the cameras to plan with --camera ID[=MODE], once per camera', ExitCode.USAGE);
  const defaults: FormatRequest = {};
  if (flags.format !== undefined) defaults.fourcc = canonicalFourcc(flags.format);
  if (flags.size) {
    defaults.width = flags.size.width;
    defaults.height = flags.size.height;
  }
  if (flags.fps !== undefined) defaults.fps = flags.fps;
  const opened = await openCameras(specs, flags);
  try {
    for (const o of opened.cameras) ui.note(`Camera ${o.name}: ${o.camera.info.product ?? 'UVC camera'} (${o.camera.info.speed} speed, ${o.camera.info.transport === 'virtual' ? `virtual bus ${o.camera.info.busNumber}` : `port ${o.camera.info.portPath}`})`);
    const plan = await planBandwidth(
      opened.cameras.map((o) => ({ name: o.name, camera: o.camera, mode: { ...defaults, ...o.spec.mode } })),
      opened.bus !== null ? { bus: opened.bus } : {},
    );
    if (flags.json) ui.json(plan);
    else ui.result(humanPlan(plan));
    return plan.fits ? ExitCode.OK : ExitCode.DEVICE;
  } finally {
    await opened.close();
  }
}
