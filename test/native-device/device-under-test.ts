/**
 * The device the native-device tests run against: UVC_TEST_DEVICE=<vid>:<pid> (hex), found in sysfs (Linux).
 * Endpoints are planned from its own descriptors, so any device with an iso IN endpoint on an alt setting
 * works: the virtual camera over USB/IP in the kernel rig, or a real webcam.
 *
 * Other knobs:
 * - UVC_TEST_UNPLUG: a shell command that unplugs the device (default: detach its vhci_hcd port when it sits on
 *   USB/IP, as in the rig);
 * - UVC_TEST_NO_BULK=1: the device has no bulk IN endpoint (the bulk stream test is then skipped, visibly).
 */
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import type { UsbTransport } from '../../src/transport/usb-transport.js';

const SYSFS = '/sys/bus/usb/devices';

export interface TestDevice {
  vendorId: number;
  productId: number;
  busNumber: number;
  deviceAddress: number;
  portPath: string;
  /** The kernel's raw copy of the descriptors (device, then every configuration). */
  sysfsDescriptors: Uint8Array;
  product: string | undefined;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function findTestDevice(): TestDevice {
  const spec = process.env.UVC_TEST_DEVICE ?? '';
  const match = /^([0-9a-f]{4}):([0-9a-f]{4})$/i.exec(spec);
  if (match === null) throw new Error(`UVC_TEST_DEVICE must be <vid>:<pid> in hex, e.g. 1209:0001 (got ${JSON.stringify(spec)})`);
  const [vendorId, productId] = [parseInt(match[1]!, 16), parseInt(match[2]!, 16)];
  for (const name of existsSync(SYSFS) ? readdirSync(SYSFS) : []) {
    const dir = path.join(SYSFS, name);
    if (name.includes(':') || read(path.join(dir, 'idVendor')) === undefined) continue;
    if (parseInt(read(path.join(dir, 'idVendor'))!, 16) !== vendorId) continue;
    if (parseInt(read(path.join(dir, 'idProduct'))!, 16) !== productId) continue;
    return {
      vendorId,
      productId,
      busNumber: Number(read(path.join(dir, 'busnum'))),
      deviceAddress: Number(read(path.join(dir, 'devnum'))),
      portPath: name.startsWith('usb') ? `${name.slice(3)}-0` : name,
      sysfsDescriptors: new Uint8Array(readFileSync(path.join(dir, 'descriptors'))),
      product: read(path.join(dir, 'product')),
    };
  }
  throw new Error(`no USB device ${spec} in ${SYSFS}`);
}

/** The kernel driver bound to an interface of the active configuration ('usbfs' when a program claimed it). */
export function interfaceDriver(device: TestDevice, interfaceNumber: number): string | undefined {
  const config = read(path.join(SYSFS, device.portPath, 'bConfigurationValue'));
  try {
    return path.basename(readlinkSync(path.join(SYSFS, `${device.portPath}:${config}.${interfaceNumber}`, 'driver')));
  } catch {
    return undefined;
  }
}

/** Interface numbers of the active configuration, as sysfs lists them. */
export function interfaceNumbers(device: TestDevice): number[] {
  const prefix = `${device.portPath}:${read(path.join(SYSFS, device.portPath, 'bConfigurationValue'))}.`;
  return readdirSync(SYSFS)
    .filter((n) => n.startsWith(prefix))
    .map((n) => Number(n.slice(prefix.length)))
    .sort((a, b) => a - b);
}

export interface EndpointInfo {
  address: number;
  type: 'iso' | 'bulk' | 'interrupt';
  /** Bytes per service interval: wMaxPacketSize × transactions (high-bandwidth). */
  bytesPerInterval: number;
  bInterval: number;
}

export interface AltSetting {
  interfaceNumber: number;
  altSetting: number;
  interfaceClass: number;
  interfaceSubClass: number;
  endpoints: EndpointInfo[];
  /** Class-specific descriptors that follow the interface descriptor. */
  extra: Uint8Array[];
}

const TYPES = ['control', 'iso', 'bulk', 'interrupt'] as const;

/** The standard descriptors of a configuration, grouped by alt setting. */
export function parseConfig(config: Uint8Array): AltSetting[] {
  const alts: AltSetting[] = [];
  for (let at = 0; at + 2 <= config.length && config[at]! >= 2; at += config[at]!) {
    const d = config.subarray(at, at + config[at]!);
    if (d[1] === 4 && d.length >= 9) {
      alts.push({ interfaceNumber: d[2]!, altSetting: d[3]!, interfaceClass: d[5]!, interfaceSubClass: d[6]!, endpoints: [], extra: [] });
    } else if (d[1] === 5 && d.length >= 7 && alts.length > 0) {
      const w = d[4]! | (d[5]! << 8);
      const type = TYPES[d[3]! & 3]!;
      if (type === 'control') continue;
      alts.at(-1)!.endpoints.push({ address: d[2]!, type, bytesPerInterval: (w & 0x7ff) * (1 + ((w >> 11) & 3)), bInterval: d[6]! });
    } else if (alts.length > 0) {
      alts.at(-1)!.extra.push(d);
    }
  }
  return alts;
}

export interface StreamPlan {
  interfaceNumber: number;
  altSetting: number;
  endpoint: EndpointInfo;
  /** Set when the interface is UVC video streaming: probe/commit first, or a camera sends nothing. */
  uvc: boolean;
}

/** The iso IN endpoint with the most bytes per interval. */
export function isoPlan(config: Uint8Array): StreamPlan {
  let best: StreamPlan | undefined;
  for (const alt of parseConfig(config)) {
    for (const ep of alt.endpoints) {
      if (ep.type !== 'iso' || (ep.address & 0x80) === 0) continue;
      if (best === undefined || ep.bytesPerInterval > best.endpoint.bytesPerInterval) {
        best = { interfaceNumber: alt.interfaceNumber, altSetting: alt.altSetting, endpoint: ep, uvc: isVideoStreaming(alt) };
      }
    }
  }
  if (best === undefined) throw new Error('the test device has no iso IN endpoint');
  return best;
}

export function endpointPlan(config: Uint8Array, type: 'bulk' | 'interrupt'): StreamPlan | undefined {
  for (const alt of parseConfig(config)) {
    const ep = alt.endpoints.find((e) => e.type === type && (e.address & 0x80) !== 0);
    if (ep !== undefined) return { interfaceNumber: alt.interfaceNumber, altSetting: alt.altSetting, endpoint: ep, uvc: isVideoStreaming(alt) };
  }
  return undefined;
}

function isVideoStreaming(alt: AltSetting): boolean {
  return alt.interfaceClass === 0x0e && alt.interfaceSubClass === 0x02;
}

/** UVC version of the video control interface (bcdUVC of its header), or undefined. */
function uvcVersion(config: Uint8Array): number | undefined {
  for (const alt of parseConfig(config)) {
    if (alt.interfaceClass !== 0x0e || alt.interfaceSubClass !== 0x01) continue;
    const header = alt.extra.find((d) => d[1] === 0x24 && d[2] === 0x01);
    if (header !== undefined) return header[3]! | (header[4]! << 8);
  }
  return undefined;
}

/** wLength of the UVC probe/commit controls for the device's UVC version (26, 34 or 48 bytes). */
export function uvcProbeLength(config: Uint8Array): number {
  const version = uvcVersion(config) ?? 0x0100;
  return version >= 0x0150 ? 48 : version >= 0x0110 ? 34 : 26;
}

/**
 * Test scaffolding only (the driver's own UVC code lives in src/uvc): the minimal probe/commit that makes a UVC
 * camera stream on `interfaceNumber` with its default format, so that iso and bulk transfers carry payloads.
 */
export async function commitDefaultUvcFormat(transport: UsbTransport, interfaceNumber: number): Promise<void> {
  const length = uvcProbeLength(transport.configDescriptor());
  const GET_CUR = { bmRequestType: 0xa1, bRequest: 0x81, wIndex: interfaceNumber };
  const SET_CUR = { bmRequestType: 0x21, bRequest: 0x01, wIndex: interfaceNumber };
  const probe = await transport.controlTransferIn({ ...GET_CUR, wValue: 0x0100 }, length);
  await transport.controlTransferOut({ ...SET_CUR, wValue: 0x0100 }, probe);
  const agreed = await transport.controlTransferIn({ ...GET_CUR, wValue: 0x0100 }, length);
  await transport.controlTransferOut({ ...SET_CUR, wValue: 0x0200 }, agreed);
}

/** Unplugs the device: UVC_TEST_UNPLUG, or detaching its USB/IP (vhci_hcd) port. */
export function unplug(device: TestDevice): void {
  const command = process.env.UVC_TEST_UNPLUG;
  if (command !== undefined && command !== '') {
    execSync(command, { stdio: 'inherit' });
    return;
  }
  const platform = '/sys/devices/platform';
  for (const controller of existsSync(platform) ? readdirSync(platform).filter((n) => n.startsWith('vhci_hcd')) : []) {
    const dir = path.join(platform, controller);
    for (const status of readdirSync(dir).filter((n) => n.startsWith('status'))) {
      for (const line of readFileSync(path.join(dir, status), 'utf8').split('\n').slice(1)) {
        const fields = line.trim().split(/\s+/);
        if (fields.at(-1) === device.portPath) {
          writeFileSync(path.join(dir, 'detach'), String(Number(fields[1])));
          return;
        }
      }
    }
  }
  throw new Error(`cannot unplug ${device.portPath}: set UVC_TEST_UNPLUG to a command that does (it is not on vhci_hcd)`);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs` (a hang detector, not a speed check). */
export async function until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}
