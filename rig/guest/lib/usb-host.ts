/**
 * The guest kernel's side of USB/IP: Debian's `usbip` tool, vhci_hcd's sysfs files and the USB devices the
 * kernel enumerated (sysfs). What a person would type at a shell, wrapped for checks.
 */
import { readFile, readdir } from 'node:fs/promises';
import { parseVhciStatus, DEFAULT_VHCI_SYSFS, type VhciPort } from '../../../src/usbip/vhci-attach.js';
import { run, sleep, waitFor } from './exec.js';

const SYSFS_USB = '/sys/bus/usb/devices';

export interface EnumeratedDevice {
  /** sysfs name, e.g. '3-1' */
  name: string;
  path: string;
  busnum: number;
  devnum: number;
  /** Mbps as sysfs says: 480 for high speed */
  speed: number;
  product: string;
}

async function readAttr(dir: string, attr: string): Promise<string | undefined> {
  try {
    return (await readFile(`${dir}/${attr}`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** USB devices (not interfaces, not root hubs) the kernel currently has with this VID:PID. */
export async function findUsbDevices(vid: number, pid: number): Promise<EnumeratedDevice[]> {
  const found: EnumeratedDevice[] = [];
  for (const name of await readdir(SYSFS_USB)) {
    if (name.includes(':') || name.startsWith('usb')) continue;
    const path = `${SYSFS_USB}/${name}`;
    if ((await readAttr(path, 'idVendor')) !== hex4(vid) || (await readAttr(path, 'idProduct')) !== hex4(pid)) continue;
    found.push({
      name,
      path,
      busnum: Number(await readAttr(path, 'busnum')),
      devnum: Number(await readAttr(path, 'devnum')),
      speed: Number(await readAttr(path, 'speed')),
      product: (await readAttr(path, 'product')) ?? '',
    });
  }
  return found;
}

/** Waits until the kernel has enumerated the device and bound its configuration. */
export function waitForUsbDevice(vid: number, pid: number, timeoutMs = 120_000): Promise<EnumeratedDevice> {
  return waitFor(`USB device ${hex4(vid)}:${hex4(pid)} to enumerate`, async () => {
    const [d] = await findUsbDevices(vid, pid);
    if (d === undefined) return undefined;
    // bConfigurationValue is empty until the kernel has configured the device.
    return (await readAttr(d.path, 'bConfigurationValue')) ? d : undefined;
  }, timeoutMs);
}

export function waitForUsbDeviceGone(vid: number, pid: number, timeoutMs = 120_000): Promise<true> {
  return waitFor(`USB device ${hex4(vid)}:${hex4(pid)} to disappear`, async () => ((await findUsbDevices(vid, pid)).length === 0 ? true : undefined), timeoutMs);
}

export async function vhciPorts(): Promise<VhciPort[]> {
  return parseVhciStatus(await readFile(`${DEFAULT_VHCI_SYSFS}/status`, 'utf8'));
}

const PORT_FREE = 4;

/** `usbip list -r HOST`: the exported devices as the usbip tool prints them. */
export async function usbipList(host = '127.0.0.1'): Promise<string> {
  return (await run('usbip', ['list', '-r', host], { timeoutMs: 120_000 })).stdout;
}

/** `usbip attach -r HOST -b BUSID`; returns the vhci port it took. */
export async function usbipAttach(busid: string, host = '127.0.0.1'): Promise<number> {
  const before = new Set((await vhciPorts()).filter((p) => p.state !== PORT_FREE).map((p) => p.port));
  // `usbip: error: open vhci_driver`: the tool reads every vhci port's sysfs state and the udev device behind each
  // one in use; right after another attach (two cameras, one after the other) that device may not be registered
  // yet and the tool gives up before attaching anything. Seen once in a stress run on a loaded host: retried,
  // that error only, after a pause; any other failure fails at once.
  for (let attempt = 1; ; attempt++) {
    const result = await run('usbip', ['attach', '-r', host, '-b', busid], { timeoutMs: 120_000, allowFailure: true });
    if (result.code === 0) break;
    const transient = /open vhci_driver/.test(result.stderr);
    if (!transient || attempt === 5) {
      throw new Error(`usbip attach -r ${host} -b ${busid} exited ${result.code ?? result.signal}\n${result.stdout}${result.stderr}`);
    }
    await sleep(1000);
  }
  const taken = (await vhciPorts()).find((p) => p.state !== PORT_FREE && !before.has(p.port));
  if (taken === undefined) throw new Error(`usbip attach -b ${busid} succeeded but no vhci port is in use`);
  return taken.port;
}

/** `usbip detach -p PORT` */
export async function usbipDetach(port: number): Promise<void> {
  await run('usbip', ['detach', '-p', String(port)], { timeoutMs: 120_000 });
}

/** The kernel log's lines now (dmesg). */
export async function kernelLog(): Promise<string[]> {
  return (await run('dmesg', [], { timeoutMs: 10_000 })).stdout.split('\n');
}

/**
 * The kernel log's lines that were not there in `before` (an earlier kernelLog()): what the kernel logged since.
 * A check judges only these: the log holds every line since the guest booted, and with UVC_RIG_REPEAT the checks
 * before this one include another run of the whole list (a deliberate unplug's complaints among them).
 */
export async function kernelLogSince(before: readonly string[]): Promise<string[]> {
  const seen = new Set(before);
  return (await kernelLog()).filter((line) => !seen.has(line));
}

export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
