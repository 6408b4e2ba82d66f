/**
 * `uvc-capture check [camera]`: a compliance run for hardware-in-the-loop rigs, in the spirit of v4l2-compliance.
 * Prints a pass/fail table (or JSON) and exits 0 only when no check failed.
 */
import { Command } from 'commander';
import { fraction, positiveInteger, positiveNumber } from '../arguments.js';
import { addCameraFlags, openSelectedCamera, type CameraFlags } from '../camera-selection.js';
import { CheckReport, type CheckResult } from '../check/check-results.js';
import { checkControls } from '../check/control-checks.js';
import { checkDescriptors } from '../check/descriptor-checks.js';
import { checkNegotiation, checkStreaming } from '../check/mode-checks.js';
import { checkStreamCycles } from '../check/stream-cycle-checks.js';
import { checkUnplug } from '../check/unplug-check.js';
import { CliError, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { onInterrupt } from '../interrupts.js';
import { outputWidth, renderTable } from '../table.js';
import { Ui } from '../ui.js';

interface CheckFlags extends CameraFlags {
  framesPerMode: number;
  secondsPerMode: number;
  fpsTolerance: number;
  maxErrored: number;
  cycles: number;
  unplugTest?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function checkCommand(): Command {
  const command = new Command('check')
    .description(
      'compliance run for hardware-in-the-loop rigs: descriptors, every mode negotiates, frames per mode (size, decode, ' +
        'stamps on the virtual camera), frame rate, every control round-trips, stream start/stop, unplug (--unplug-test, ' +
        'virtual camera). Exit 0 only if every check passed',
    )
    .argument('[camera]', 'port path, vid:pid or bus/address (default: the first camera attached)');
  addCameraFlags(command);
  return command
    .option('--frames-per-mode <n>', 'frames to stream in each format and size', positiveInteger, 10)
    .option('--seconds-per-mode <s>', 'time allowed per mode (slow modes get fewer frames; below 3 frames the rate is not measured)', positiveNumber, 3)
    .option('--fps-tolerance <fraction>', 'allowed deviation of the measured frame rate from the nominal (0.1 or 10%)', fraction, 0.1)
    .option('--max-errored <fraction>', 'share of errored frames in a mode above which it fails (fewer only warn)', fraction, 0.25)
    .option('--cycles <n>', 'streamon/streamoff cycles', positiveInteger, 3)
    .option('--unplug-test', 'also unplug the camera mid-stream and check the driver copes (virtual camera only)')
    .option('--json', 'print one JSON object: { passed, counts, results: [...] }')
    .option('-q, --quiet', 'no progress notes on stderr')
    .action(async (camera: string | undefined, flags: CheckFlags) => {
      process.exitCode = await runCheck(camera, flags);
    });
}

const MARK: Record<CheckResult['status'], string> = { pass: 'pass', fail: 'FAIL', warn: 'warn', skip: 'skip' };

export async function runCheck(positional: string | undefined, flags: CheckFlags): Promise<ExitCodeValue> {
  const ui = new Ui({ quiet: flags.quiet === true || flags.json === true });
  if (flags.unplugTest && !flags.virtual) {
    throw new CliError('--unplug-test needs --virtual: a real camera would have to be unplugged by hand', ExitCode.USAGE);
  }
  let interrupted = false;
  const interrupts = onInterrupt(
    () => {
      interrupted = true;
      ui.note('\nStopping after the current check…');
    },
    () => process.exit(ExitCode.INTERRUPTED),
  );
  const report = new CheckReport((r) => ui.note(`  ${MARK[r.status].padEnd(4)}  ${r.name}`));
  const { camera, virtual, label } = await openSelectedCamera(flags, ui, positional === undefined ? {} : { positional });
  const started = Date.now();
  try {
    const steps: Array<[string, () => Promise<void> | void]> = [
      ['descriptors', () => checkDescriptors(camera, report)],
      ['negotiation', () => checkNegotiation(camera, report)],
      [
        'streaming',
        () =>
          checkStreaming(
            camera,
            virtual,
            { framesPerMode: flags.framesPerMode, secondsPerMode: flags.secondsPerMode, fpsTolerance: flags.fpsTolerance, maxErroredShare: flags.maxErrored },
            report,
          ),
      ],
      ['cycles', () => checkStreamCycles(camera, flags.cycles, report)],
      ['controls', () => checkControls(camera, report)],
    ];
    if (flags.unplugTest && virtual) steps.push(['unplug', () => checkUnplug(camera, virtual, report)]);
    for (const [name, step] of steps) {
      if (interrupted) break;
      if (camera.disconnected && name !== 'unplug') {
        report.add(name, name, 'fail', 'the camera went away during the run');
        break;
      }
      ui.note(`${name}…`);
      try {
        await step();
      } catch (error) {
        report.add(name, name, 'fail', `stopped by an error: ${(error as Error).message}`);
      }
    }
  } finally {
    await camera.close().catch(() => undefined);
    interrupts.dispose();
  }

  const counts = { pass: report.count('pass'), fail: report.count('fail'), warn: report.count('warn'), skip: report.count('skip') };
  const passed = report.passed && !interrupted;
  if (flags.json) {
    ui.json({ passed, interrupted, camera: { label, ...camera.info }, seconds: (Date.now() - started) / 1000, counts, results: report.results });
  } else {
    const table = renderTable(
      ['STATUS', 'CHECK', 'DETAIL'],
      report.results.map((r) => [MARK[r.status], r.name, r.detail]),
      { maxWidth: outputWidth() },
    );
    ui.result(
      `Compliance check of ${label}\n\n${table}\n\n` +
        `Result: ${passed ? 'PASS' : 'FAIL'}: ${counts.pass} checks passed, ${counts.fail} failed, ${counts.warn} warnings, ${counts.skip} skipped` +
        `${interrupted ? ' (interrupted)' : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  if (interrupted) return ExitCode.INTERRUPTED;
  return passed ? ExitCode.OK : ExitCode.CHECK_FAILED;
}
