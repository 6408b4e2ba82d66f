/**
 * `uvc-capture serve-usbip`: exports the built-in virtual camera over USB/IP, so `usbip attach -r HOST -b BUSID`
 * plugs it into any Linux machine (vhci_hcd), where uvcvideo, v4l2 tools, browsers — or uvc-capture — use it as a
 * real USB camera. Binds 127.0.0.1 unless told otherwise: exporting a device to the network is a deliberate act.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startUsbipServer, type UsbipServer } from '../../usbip/index.js';
import type { VirtualCameraOptions } from '../../virtual-camera/index.js';
import { collect, looseValue, portNumber, splitAssignment } from '../arguments.js';
import { makeVirtualCamera } from '../camera-selection.js';
import { CliError, ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { onInterrupt } from '../interrupts.js';
import { hex4 } from '../table.js';
import { Ui } from '../ui.js';

interface ServeFlags {
  host: string;
  port: number;
  busid: string;
  speed?: VirtualCameraOptions['speed'];
  transfer?: VirtualCameraOptions['transfer'];
  uvcVersion?: VirtualCameraOptions['uvcVersion'];
  pace?: VirtualCameraOptions['pace'];
  formats?: VirtualCameraOptions['formats'];
  fault?: string[];
  virtualOption?: string[];
  json?: boolean;
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  const v6 = host.replace(/^\[|\]$/g, '').toLowerCase();
  return v6 === '::1' || v6.startsWith('::ffff:127.');
}

/** `--formats` takes JSON, or @file with JSON in it: an array of { format, frames: [{ width, height, fps }] }. */
function formatsArgument(text: string): NonNullable<VirtualCameraOptions['formats']> {
  let json = text;
  if (text.startsWith('@')) {
    try {
      json = readFileSync(text.slice(1), 'utf8');
    } catch (error) {
      throw new InvalidArgumentError(`cannot read ${text.slice(1)}: ${(error as Error).message}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new InvalidArgumentError('expected JSON: [{"format":"mjpeg","frames":[{"width":640,"height":480,"fps":[30]}]}] (or @file.json).');
  }
  if (!Array.isArray(value)) throw new InvalidArgumentError('expected a JSON array of formats.');
  return value as NonNullable<VirtualCameraOptions['formats']>;
}

export function serveUsbipCommand(): Command {
  return new Command('serve-usbip')
    .description('export the virtual camera over USB/IP: on any Linux machine, `usbip attach -r HOST -b BUSID` plugs it in as a real USB camera')
    .option('--host <address>', 'address to listen on (0.0.0.0 exports to the network: only on networks you trust)', '127.0.0.1')
    .option('-p, --port <port>', 'TCP port (0 picks a free one)', portNumber, 3240)
    .option('--busid <id>', 'the bus ID hosts attach it by', '1-1')
    .addOption(new Option('--speed <speed>', 'USB speed of the virtual camera').choices(['full', 'high', 'super']))
    .addOption(new Option('--transfer <type>', 'video endpoint type').choices(['iso', 'bulk']))
    .addOption(new Option('--uvc-version <version>', 'UVC version it declares').choices(['1.0', '1.1', '1.5']))
    .addOption(new Option('--pace <pace>', 'realtime (a camera) or fast (frames as fast as the host reads)').choices(['realtime', 'fast']))
    .option('--formats <json|@file>', 'formats it offers, JSON: [{"format":"yuyv|nv12|mjpeg","frames":[{"width":640,"height":480,"fps":[30,15]}]}]', formatsArgument)
    .option('--fault <name=value>', 'inject a fault, repeatable: packetLossRate=0.01, errorFrames=[5,9], unplugAfterMs=60000, … (see --help-virtual)', collect)
    .option('--virtual-option <key=value>', 'any other virtual camera option, repeatable (see --help-virtual)', collect)
    .option('--json', 'print events as JSON lines (listening, attach, detach, reject)')
    .action(async (flags: ServeFlags) => {
      process.exitCode = await runServeUsbip(flags);
    });
}

export async function runServeUsbip(flags: ServeFlags): Promise<ExitCodeValue> {
  const ui = new Ui();
  const base: VirtualCameraOptions = {
    ...(flags.speed ? { speed: flags.speed } : {}),
    ...(flags.transfer ? { transfer: flags.transfer } : {}),
    ...(flags.uvcVersion ? { uvcVersion: flags.uvcVersion } : {}),
    ...(flags.pace ? { pace: flags.pace } : {}),
    ...(flags.formats ? { formats: flags.formats } : {}),
  };
  const faults = (flags.fault ?? []).map((f) => {
    const [name, value] = splitAssignment(f, '--fault');
    return `faults.${name}=${JSON.stringify(looseValue(value))}`;
  });
  const model = makeVirtualCamera({ virtualOption: [...faults, ...(flags.virtualOption ?? [])] }, base);
  const event = (fields: Record<string, unknown>, text: string): void => {
    if (flags.json) ui.result(JSON.stringify({ time: new Date().toISOString(), ...fields }));
    else ui.result(text);
  };

  let server: UsbipServer;
  try {
    server = await startUsbipServer({ devices: [{ busid: flags.busid, model }], host: flags.host, port: flags.port });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === 'EADDRINUSE' ? `port ${flags.port} is in use (a usbipd running? try --port 0)` : code === 'EACCES' ? `no permission to listen on port ${flags.port}` : (error as Error).message;
    throw new CliError(`cannot listen on ${flags.host}:${flags.port}: ${why}`, code === 'EINVAL' ? ExitCode.USAGE : ExitCode.FAILURE, undefined, { cause: error });
  }

  if (!isLoopback(flags.host)) {
    ui.warn(
      `USB/IP has no authentication: anyone who can reach ${flags.host}:${server.port} can attach the camera and watch it. ` +
        'Export beyond this machine only on a network you trust (the default, 127.0.0.1, keeps it local).',
    );
  }
  server.on('drop', (e) => ui.note(`Dropped a connection from ${e.remote}: ${e.reason} (${e.detail}).`));

  // Listen for Ctrl-C before saying it stops the export: whoever reads that line may press it at once.
  const stopped = new Promise<void>((resolve) => {
    const interrupts = onInterrupt(
      () => {
        interrupts.dispose();
        resolve();
      },
      () => process.exit(ExitCode.INTERRUPTED),
    );
  });
  const descriptor = model.deviceDescriptor();
  const vid = descriptor[8]! | (descriptor[9]! << 8);
  const pid = descriptor[10]! | (descriptor[11]! << 8);
  const host = flags.host === '0.0.0.0' || flags.host === '::' ? '<this machine>' : flags.host;
  event(
    { event: 'listening', host: flags.host, port: server.port, busid: flags.busid, vendorId: vid, productId: pid },
    `Exporting the virtual camera (${hex4(vid)}:${hex4(pid)}, ${model.speed} speed) as bus ID ${flags.busid} on ${flags.host}:${server.port}.\n` +
      `On a Linux machine (root; Debian: apt install usbip):\n` +
      `  modprobe vhci-hcd\n` +
      `  usbip${server.port === 3240 ? '' : ` --tcp-port ${server.port}`} list -r ${host}\n` +
      `  usbip${server.port === 3240 ? '' : ` --tcp-port ${server.port}`} attach -r ${host} -b ${flags.busid}\n` +
      `Then it is a USB camera there (/dev/video*, or \`uvc-capture list\`). Ctrl-C stops the export.`,
  );
  // Who has the camera attached now: what stopping does to them is said from this, not assumed.
  const attachedBy = new Set<string>();
  server.on('attach', (e) => {
    attachedBy.add(e.remote);
    event({ event: 'attach', busid: e.busid, remote: e.remote }, `Attached by ${e.remote}.`);
  });
  server.on('detach', (e) => {
    attachedBy.delete(e.remote);
    event({ event: 'detach', busid: e.busid, remote: e.remote, reason: e.reason }, `Detached from ${e.remote} (${e.reason}${e.error ? `: ${e.error.message}` : ''}).`);
  });
  server.on('reject', (e) =>
    event({ event: 'reject', busid: e.busid, remote: e.remote, status: e.status }, `Refused an import of '${e.busid}' from ${e.remote}${e.error ? `: ${e.error.message}` : ''}.`),
  );

  await stopped;
  ui.note(
    attachedBy.size === 0
      ? 'Stopping: no host had the camera attached.'
      : `Stopping: ${[...attachedBy].join(', ')} ${attachedBy.size === 1 ? 'sees' : 'see'} the camera unplugged.`,
  );
  await server.close();
  if (model.attached) model.unplug();
  return ExitCode.OK;
}
