#!/usr/bin/env node
/**
 * `uvc-capture`: capture frames from UVC cameras with no kernel driver and no ffmpeg; list, inspect and check
 * cameras; preview them in a browser; export the virtual camera over USB/IP. The package's `bin`.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { captureCommand } from './commands/capture.js';
import { checkCommand } from './commands/check.js';
import { infoCommand } from './commands/info.js';
import { listCommand } from './commands/list.js';
import { planCommand } from './commands/plan.js';
import { previewCommand } from './commands/preview.js';
import { serveUsbipCommand } from './commands/serve-usbip.js';
import { CliError, EXIT_CODE_HELP, ExitCode, errorCodeOf, exitCodeFor, type ExitCodeValue } from './exit-codes.js';
import { jsonReplacer, printError } from './ui.js';
import { VIRTUAL_OPTION_HELP } from './virtual-options.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

const EXAMPLES = `Examples:
  uvc-capture --frames 100 -o frames/              100 frames from the first camera, one file each
  uvc-capture --virtual --frames 100 -o out.mjpeg  the built-in virtual camera, into one MJPEG stream
  uvc-capture --fallback-virtual --seconds 5       a real camera if attached, else the virtual one
  uvc-capture -f YUYV -s 640x480 -r 30 --png -o frames/ --set brightness=10
  uvc-capture list                                 the cameras attached (and how to fix permissions)
  uvc-capture info 046d:0825                       formats and controls of one camera
  uvc-capture check --virtual                      a compliance run (exit 0 only if all passed)
  uvc-capture preview                              live picture and controls in the browser
  uvc-capture serve-usbip                          the virtual camera over USB/IP, for \`usbip attach\`

Run \`uvc-capture <command> --help\` for a command's flags.`;

export function buildProgram(): Command {
  const program = new Command('uvc-capture')
    .description('Capture frames from USB Video Class cameras in userspace: no kernel driver, no ffmpeg.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .option('--help-virtual', 'describe the virtual camera options (--virtual-option key=value)');
  const capture = captureCommand();
  const commands = [capture, listCommand(), infoCommand(), checkCommand(), previewCommand(), serveUsbipCommand(), planCommand()];
  // capture is what `uvc-capture` alone runs: its flags belong in the first help people see.
  program.addHelpText('after', () => {
    const help = capture.helpInformation();
    return `\nCapture options (the default command; also \`uvc-capture capture --help\`):\n${help.slice(help.indexOf('Options:') + 'Options:\n'.length).trimEnd()}\n`;
  });
  program.addHelpText('after', `\n${EXAMPLES}\n\n${EXIT_CODE_HELP}\n`);
  for (const command of commands) {
    command.showHelpAfterError('(add --help for usage)');
    command.addHelpText('after', `\n${EXIT_CODE_HELP}\n`);
    program.addCommand(command, command.name() === 'capture' ? { isDefault: true } : {});
  }
  // One voice for every failure: commander's own messages ("error: unknown option") read like ours.
  const output = { outputError: (text: string, write: (s: string) => void) => write(text.replace(/^error: /, 'uvc-capture: ')) };
  program.exitOverride().configureOutput(output);
  for (const command of commands) command.exitOverride().configureOutput(output);
  return program;
}

/** Waits until what was written to stdout and stderr has been handed to the OS (pipes flush asynchronously). */
function flush(): Promise<void> {
  const drained = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));
  return Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => undefined);
}

/** Edit distance, for "did you mean" on a mistyped command. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/**
 * With --json, a run that fails before it has anything to report still answers in JSON, on stdout (stderr when
 * `-o -` gives stdout to frames): `{ "error": { "code", "message" }, "exitCode" }`. The message goes to stderr too.
 */
function reportJsonFailure(argv: readonly string[], error: unknown, message: string, exitCode: ExitCodeValue): void {
  if (!argv.includes('--json')) return;
  const output = argv.findIndex((a, i) => (a === '-o' || a === '--output') && argv[i + 1] === '-') >= 0 || argv.includes('--output=-');
  const text = `${JSON.stringify({ error: { code: errorCodeOf(error), message }, exitCode }, jsonReplacer, 2)}\n`;
  (output ? process.stderr : process.stdout).write(text);
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help-virtual')) {
    process.stdout.write(`${VIRTUAL_OPTION_HELP}\n`);
    return ExitCode.OK;
  }
  const program = buildProgram();
  // capture is the default command and takes no positional argument: a leading word that names no command is a
  // mistyped command, not something to hand to capture.
  const first = argv[0];
  const names = program.commands.map((c) => c.name());
  if (first !== undefined && !first.startsWith('-') && !names.includes(first) && first !== 'help') {
    const near = names.filter((n) => distance(n, first) <= 2);
    const error = new CliError(`unknown command '${first}'${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}; commands: ${names.join(', ')}`, ExitCode.USAGE);
    printError(error);
    reportJsonFailure(argv, error, error.message, ExitCode.USAGE);
    return ExitCode.USAGE;
  }
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the message already; help and version are not errors.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.OK;
      if (error.code === 'commander.invalidArgument' && !error.message.startsWith('error:')) {
        // Thrown by our own parsers inside an action (not through commander's option parsing): print it.
        printError(new Error(error.message));
      }
      reportJsonFailure(argv, error, error.message.replace(/^error: /, '').split('\n')[0]!, ExitCode.USAGE);
      return ExitCode.USAGE;
    }
    printError(error);
    if (process.env.UVC_CAPTURE_DEBUG && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
    const exitCode = exitCodeFor(error);
    reportJsonFailure(argv, error, error instanceof Error ? error.message : String(error), exitCode);
    return exitCode;
  }
}

// A reader that goes away (`uvc-capture list | head -1`) is not a crash: stop writing, carry on, exit normally.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

const code = await main(process.argv.slice(2));
await flush();
process.exit(code);
