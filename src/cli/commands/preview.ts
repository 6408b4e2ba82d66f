/**
 * `uvc-capture preview [camera]`: a live view with the camera's controls, in the browser, on 127.0.0.1. Listening
 * elsewhere (--host) needs the token printed in the URL; only the page's own origin may change anything (see
 * preview/request-guard.ts).
 */
import { Command } from 'commander';
import { collect, fourcc, frameSize, portNumber, positiveNumber, type FrameSizeArgument } from '../arguments.js';
import { addCameraFlags, openSelectedCamera, type CameraFlags } from '../camera-selection.js';
import { CliError, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { describeMode, formatRequestOf, negotiate } from '../format-choice.js';
import { onInterrupt } from '../interrupts.js';
import { FrameFeed } from '../preview/frame-feed.js';
import { PreviewServer } from '../preview/preview-server.js';
import { Ui } from '../ui.js';

interface PreviewFlags extends CameraFlags {
  port: number;
  host: string;
  allowHost?: string[];
  format?: string;
  size?: FrameSizeArgument;
  fps?: number;
}

export function previewCommand(): Command {
  const command = new Command('preview')
    .description('live picture and controls in the browser: an HTTP server on 127.0.0.1 (MJPEG over multipart; YUYV and NV12 converted)')
    .argument('[camera]', 'port path, vid:pid or bus/address (default: the first camera attached)');
  addCameraFlags(command);
  return command
    .option('-p, --port <port>', 'TCP port (0 picks a free one)', portNumber, 0)
    .option('--host <address>', 'address to listen on; other than loopback, the URL printed carries a token that every client needs', '127.0.0.1')
    .option('--allow-host <name>', 'also answer to this Host name (a reverse proxy, a name in /etc/hosts), repeatable; others get 421', collect)
    .option('-f, --format <fourcc>', 'pixel format: MJPEG, YUYV, NV12', fourcc)
    .option('-s, --size <WxH>', 'frame size', frameSize)
    .option('-r, --fps <fps>', 'frame rate', positiveNumber)
    .action(async (camera: string | undefined, flags: PreviewFlags) => {
      process.exitCode = await runPreview(camera, flags);
    });
}

export async function runPreview(positional: string | undefined, flags: PreviewFlags): Promise<ExitCodeValue> {
  const ui = new Ui();
  const { camera, label } = await openSelectedCamera(flags, ui, positional === undefined ? {} : { positional });
  let server: PreviewServer | null = null;
  const feed = new FrameFeed(camera);
  try {
    if (flags.format !== undefined || flags.size !== undefined || flags.fps !== undefined) await negotiate(camera, formatRequestOf(flags, camera));
    try {
      await feed.start();
    } catch (error) {
      throw new CliError(`cannot stream: ${(error as Error).message}`, camera.disconnected ? ExitCode.DEVICE : ExitCode.USAGE, undefined, { cause: error });
    }
    server = new PreviewServer(camera, feed, { host: flags.host, port: flags.port, label, allowHosts: flags.allowHost ?? [] });
    let urls: string[];
    try {
      urls = await server.listen();
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new CliError(`cannot listen on ${flags.host}:${flags.port}: ${code === 'EADDRINUSE' ? 'the port is in use (try --port 0)' : (error as Error).message}`, ExitCode.FAILURE, undefined, { cause: error });
    }
    ui.note(`Mode: ${camera.format ? describeMode(camera.format) : '-'}`);
    // The URL is the result: stdout, one line each, for people and for scripts that wait for it.
    for (const url of urls) ui.result(`Preview: ${url}`);
    if (server.guard.token !== null) {
      ui.warn(`listening on ${flags.host}: anyone who can reach this machine and has the token in the URL sees the camera; keep the URL private.`);
    }
    ui.note('Open it in a browser. Ctrl-C stops.');

    const outcome = await new Promise<ExitCodeValue>((resolve) => {
      const interrupts = onInterrupt(
        () => {
          interrupts.dispose();
          resolve(ExitCode.OK);
        },
        () => process.exit(ExitCode.INTERRUPTED),
      );
      feed.once('ended', (error) => {
        interrupts.dispose();
        process.stderr.write(`uvc-capture: ${camera.disconnected ? 'the camera went away (unplugged?)' : `the stream failed: ${error.message}`}; preview stopped.\n`);
        resolve(ExitCode.DEVICE);
      });
    });
    return outcome;
  } finally {
    await server?.close().catch(() => undefined);
    await feed.stop(true).catch(() => undefined);
    await camera.close().catch(() => undefined);
  }
}
