/**
 * The UsbTransport conformance suite (test/transport/conformance.ts) through the native addon and the real Linux
 * USB stack: each test serves a fresh TestDevice from its own process (guest/serve.ts, plugged straight into the
 * guest kernel's vhci_hcd), waits for usbcore to enumerate it, and opens it with openNativeDevice by bus and
 * address. The suite's `device.missedNext = n`, `device.pushBulk()` and `device.unplug()` reach the served model
 * as commands. Run by rig/guest/checks/80-native-conformance.ts in the kernel rig, never on the host.
 *
 * Why not serve the model in this process: the kernel cancels a URB (libusb_cancel_transfer, usbfs DISCARDURB)
 * synchronously, and vhci_hcd gives a cancelled URB back only when the USB/IP server answers the CMD_UNLINK; a
 * stream stopped on this thread would wait for a server that this very thread runs.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { openNativeDevice } from '../../../src/transport/native/index.js';
import { describeTransportConformance } from '../../../test/transport/conformance.js';
import type { TestDevice } from '../../../test/transport/helpers/test-device.js';
import { ServedDevice } from '../lib/served-device.js';

const SYSFS = '/sys/bus/usb/devices';
const VENDOR = '1209';
const PRODUCT = '0002';
// vitest runs the TypeScript sources; the server runs the compiled guest tree (run.sh compiled it).
const OUT = path.join(process.env.UVC_RIG_PROJECT ?? process.cwd(), 'rig/.out/rig/guest');

async function attr(dir: string, name: string): Promise<string | undefined> {
  try {
    return (await readFile(`${dir}/${name}`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** The TestDevice as usbcore enumerated it (configured), or undefined. */
async function enumerated(): Promise<{ busNumber: number; deviceAddress: number } | undefined> {
  for (const name of await readdir(SYSFS)) {
    if (name.includes(':') || name.startsWith('usb')) continue;
    const dir = `${SYSFS}/${name}`;
    if ((await attr(dir, 'idVendor')) !== VENDOR || (await attr(dir, 'idProduct')) !== PRODUCT) continue;
    if (!(await attr(dir, 'bConfigurationValue'))) continue;
    return { busNumber: Number(await attr(dir, 'busnum')), deviceAddress: Number(await attr(dir, 'devnum')) };
  }
  return undefined;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** What the suite does to its TestDevice, sent to the served one (in order: the server runs commands one by one). */
class RemoteTestDevice {
  readonly failures: string[] = [];
  constructor(private readonly served: ServedDevice) {}

  set missedNext(intervals: number) {
    this.send(this.served.call('setMissedNext', [intervals]));
  }

  pushBulk(data: Uint8Array): void {
    this.send(this.served.call('pushBulkBytes', [Array.from(data)]));
  }

  unplug(): void {
    this.send(this.served.command('unplug'));
  }

  private send(done: Promise<unknown>): void {
    done.catch((error: unknown) => this.failures.push(String(error)));
  }
}

let served: ServedDevice | null = null;
let remote: RemoteTestDevice | null = null;

describeTransportConformance('native addon over USB/IP (Linux vhci_hcd, usbfs)', {
  async open() {
    served = await ServedDevice.start({ model: `${OUT}/lib/test-device-model.js`, serveScript: `${OUT}/serve.js`, vhci: true, label: 'test-device' });
    remote = new RemoteTestDevice(served);
    const target = await until('usbcore to enumerate the TestDevice', enumerated);
    const transport = await openNativeDevice(target);
    return { transport, device: remote as unknown as TestDevice, openAgain: () => openNativeDevice(target) };
  },
  async cleanup() {
    const current = served;
    const failures = remote?.failures ?? [];
    served = null;
    remote = null;
    if (current === null) return;
    await current.stop();
    await until('the TestDevice to leave the bus', async () => ((await enumerated()) === undefined ? true : undefined));
    if (failures.length > 0) throw new Error(`commands to the served TestDevice failed: ${failures.join('; ')}`);
  },
});
