/** `uvc-capture list`: the UVC cameras attached, and what stands in the way of those that cannot be opened. */
import { Command } from 'commander';
import { listCameras, openCamera, type CameraInfo } from '../../camera/index.js';
import { usbVisibilityProblem } from '../../camera/usb-enumeration.js';
import { makeVirtualCamera, type CameraFlags } from '../camera-selection.js';
import { collect } from '../arguments.js';
import { ExitCode, type ExitCodeValue } from '../exit-codes.js';
import { hex4 } from '../table.js';
import { Ui } from '../ui.js';

interface ListFlags extends Pick<CameraFlags, 'virtual' | 'virtualOption'> {
  json?: boolean;
}

export interface ListedCamera {
  id: string;
  transport: 'native' | 'virtual';
  vendorId: number;
  productId: number;
  manufacturer?: string;
  product?: string;
  serial?: string;
  speed: string;
  uvcVersion?: string;
  busNumber?: number;
  deviceAddress?: number;
  portPath?: string;
  kernelDrivers?: string[];
  access: CameraInfo['access'];
  problem?: string;
}

export function listCommand(): Command {
  return new Command('list')
    .description('list the UVC cameras attached: port path, vid:pid, name, serial, speed, UVC version, and any problem opening them')
    .option('--virtual', 'also list the built-in virtual camera')
    .option('--virtual-option <key=value>', 'virtual camera option, repeatable', collect)
    .option('--json', 'print a JSON array')
    .action(async (flags: ListFlags) => {
      process.exitCode = await runList(flags);
    });
}

function fromInfo(info: CameraInfo): ListedCamera {
  const { controlInterface: _c, streamingInterfaces: _s, ...rest } = info;
  return { ...rest, transport: 'native' };
}

async function virtualEntry(flags: ListFlags): Promise<ListedCamera> {
  const camera = await openCamera(makeVirtualCamera(flags));
  try {
    const info = camera.info;
    return {
      id: 'virtual',
      transport: 'virtual',
      vendorId: info.vendorId,
      productId: info.productId,
      ...(info.manufacturer ? { manufacturer: info.manufacturer } : {}),
      ...(info.product ? { product: info.product } : {}),
      ...(info.serial ? { serial: info.serial } : {}),
      speed: info.speed,
      uvcVersion: info.uvcVersion,
      access: 'ok',
    };
  } finally {
    await camera.close();
  }
}

export async function runList(flags: ListFlags): Promise<ExitCodeValue> {
  const ui = new Ui();
  const cameras: ListedCamera[] = (await listCameras()).map(fromInfo);
  if (flags.virtual) cameras.push(await virtualEntry(flags));
  if (flags.json) {
    ui.json(cameras);
    return ExitCode.OK;
  }
  if (cameras.length === 0) {
    // A container without the USB devices passed in sees no camera however many are plugged in: say so.
    const blind = usbVisibilityProblem();
    ui.result(
      `No UVC camera found${blind ? `: ${blind}` : ''}.\n` +
        `${blind ? 'Pass the devices in, or' : 'Plug one in, or'} try the built-in virtual camera: uvc-capture --virtual --frames 100 (or \`uvc-capture list --virtual\`).`,
    );
    return ExitCode.OK;
  }
  const lines = [`${cameras.length} camera${cameras.length === 1 ? '' : 's'}:`];
  for (const c of cameras) {
    const name = [c.manufacturer, c.product].filter(Boolean).join(' ') || 'UVC camera';
    lines.push(`  ${c.id}  ${hex4(c.vendorId)}:${hex4(c.productId)}  ${name}`);
    const facts = [
      c.serial ? `serial ${c.serial}` : 'no serial',
      `${c.speed} speed`,
      c.uvcVersion ? `UVC ${c.uvcVersion}` : 'UVC version unknown',
      c.transport === 'virtual' ? 'virtual (--virtual)' : `bus ${String(c.busNumber).padStart(3, '0')} device ${String(c.deviceAddress).padStart(3, '0')}`,
    ];
    if (c.kernelDrivers?.length) facts.push(`kernel driver: ${c.kernelDrivers.join(', ')}`);
    lines.push(`      ${facts.join(', ')}`);
    if (c.access !== 'ok' && c.access !== 'unknown') lines.push(`      cannot be opened (${c.access})`);
    if (c.problem) lines.push(...c.problem.split('\n').map((l) => `      ${l}`));
  }
  ui.result(lines.join('\n'));
  return ExitCode.OK;
}
